import { UserError } from '../core/errors.ts';
import type { Design } from '../generators/array/index.ts';
import type { Placement } from '../mapping/place.ts';
import type { InjectSpec } from '../nn/inject.ts';
import type { ErrorModel } from '../synth/vos-model.ts';
import type { VosReport } from './vos.ts';

/** Supply voltage per (layer, filter): a layer name -> one voltage or one per filter. */
export type VoltageMap = Record<string, number | number[]>;

/** A conv/dense layer as injection sees it: its tile's PE rows and each filter's cell. */
export interface InjectLayer {
  name: string;
  rows: number;
  filterCells: string[];
}

export interface InjectOptions {
  seed?: number;
  /** The model name of the layer streams to use (the report's `stream.model`). */
  modelName?: string;
  /** Draw from this model kind instead of each fit's `best` (comparisons; a fit without it is refused). */
  kind?: ErrorModel['kind'];
}

/** The engine's injection spec for a placed model (`injectionSpecFor` on the placement's layers). */
export function injectionSpec(report: VosReport, design: Design, placement: Placement, volts: VoltageMap, o: InjectOptions = {}): InjectSpec {
  const layers = placement.layers.map((p) => ({ name: p.layer, rows: design.tiles[p.tile]!.rows, filterCells: p.filterCells }));
  return injectionSpecFor(report, layers, design.psumBits, volts, o);
}

/**
 * The engine's injection spec at the given voltages: every filter of a listed layer draws from
 * the fitted model (`fit.best`) of its column's PE (the report target whose cell is the filter's
 * cell) at that voltage: the fit on that layer's own stream when the report has one for this
 * model (`modelName` equal to the streams' model), else the fit on the mixed stream. Layers not
 * listed, and voltages at or above the report's nominal, inject nothing. A voltage the report did
 * not characterize is refused.
 */
export function injectionSpecFor(report: VosReport, layerList: InjectLayer[], psumBits: number, volts: VoltageMap, o: InjectOptions = {}): InjectSpec {
  const seed = o.seed ?? 1;
  const ownLayers = o.modelName !== undefined && report.stream.model === o.modelName;
  const models: ErrorModel[] = [];
  const index = new Map<string, number>();
  const layers: InjectSpec['layers'] = {};
  for (const [name, v] of Object.entries(volts)) {
    const p = layerList.find((x) => x.name === name);
    if (!p) throw new UserError(`voltage map names layer '${name}', which is not a conv/dense layer of the model`);
    const perFilter = typeof v === 'number' ? p.filterCells.map(() => v) : v;
    if (perFilter.length !== p.filterCells.length)
      throw new UserError(`voltage map: layer ${name} has ${p.filterCells.length} filters, got ${perFilter.length} voltages`);
    const filterModel = perFilter.map((volts, f) => {
      if (volts >= report.nominalVolts) return -1;
      const cell = p.filterCells[f]!;
      const target = report.targets.find((t) => t.kind === 'pe' && t.cell === cell);
      if (!target) throw new UserError(`vos models of ${report.subject} have no PE with cell ${cell} (layer ${name}, filter ${f})`);
      const level = target.levels.find((l) => Math.abs(l.volts - volts) < 1e-9);
      if (!level)
        throw new UserError(
          `vos models of ${report.subject}: ${cell} was not characterized at ${volts} V (have ${target.levels.map((l) => l.volts).join(', ')})`,
        );
      const own = ownLayers ? level.layers?.find((x) => x.layer === name) : undefined;
      const fit = own?.fit ?? level.fit;
      const key = `${cell}@${volts}@${own ? name : ''}`;
      let i = index.get(key);
      if (i === undefined) {
        const m = fit.models[o.kind ?? fit.best];
        if (!m) throw new UserError(`vos models of ${report.subject}: ${cell} at ${volts} V has no ${o.kind} model`);
        i = models.push(m) - 1;
        index.set(key, i);
      }
      return i;
    });
    layers[name] = { rows: p.rows, filterModel };
  }
  return { seed, bits: psumBits, models, layers };
}
