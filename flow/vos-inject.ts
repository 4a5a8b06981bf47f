import { UserError } from '../core/errors.ts';
import { readJsonFile, z } from '../core/validate.ts';
import { type Design, designLayout } from '../generators/array/index.ts';
import type { Placement } from '../mapping/place.ts';
import type { InjectSpec } from '../nn/inject.ts';
import type { ErrorModel } from '../synth/vos-model.ts';
import { VOS_SCHEMA, type VosReport } from './vos.ts';

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

/**
 * Supply of every filter as the hardware sets it: filter n of a layer on tile t sits on column
 * n mod C of that tile, whose voltage domain runs at `levels[domain]` (level index per global
 * domain, as the harness and the energy model take them). What an RTL run injects at.
 */
export function hardwareVolts(design: Design, placement: Placement, levels: number[]): VoltageMap {
  const colVolts = design.tiles.map((t) => new Array<number>(t.cols).fill(design.levels[0]!.volts));
  designLayout(design).domains.forEach((d, i) => {
    for (const c of d.columns) colVolts[d.tile]![c] = design.levels[levels[i] ?? 0]!.volts;
  });
  return Object.fromEntries(placement.layers.map((p) => [p.layer, p.filterCells.map((_, n) => colVolts[p.tile]![n % design.tiles[p.tile]!.cols]!)]));
}

// What injection reads of a vos-models.json report (docs/vos.md, schema section); the rest passes.
const prob = z.number().min(0).max(1);
const bitProbs = z.array(prob).min(1);
const errorModels = z
  .object({
    'bit-flip': z.object({ kind: z.literal('bit-flip'), p: bitProbs }).passthrough(),
    'rate-histogram': z
      .object({
        kind: z.literal('rate-histogram'),
        pWrong: prob,
        histogram: z.array(z.object({ error: z.number().int(), count: z.number().int().positive() }).passthrough()),
      })
      .passthrough(),
    conditional: z
      .object({
        kind: z.literal('conditional'),
        bucketBits: z.number().int().positive(),
        buckets: z.array(z.object({ ops: z.number().int().nonnegative(), p: bitProbs }).passthrough()),
        fallback: bitProbs,
      })
      .passthrough(),
    'adder-signs': z
      .object({
        kind: z.literal('adder-signs'),
        classes: z
          .array(
            z
              .object({
                ops: z.number().int().nonnegative(),
                wrong: z.number().int().nonnegative(),
                masks: z.array(z.object({ mask: z.number().int().nonnegative(), count: z.number().int().positive() }).passthrough()),
              })
              .passthrough(),
          )
          .length(8),
        pairs: z.array(z.object({ ops: z.number().int().nonnegative(), wrong: z.number().int().nonnegative() }).passthrough()).length(72),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();
const fitSchema = z
  .object({ best: z.enum(['bit-flip', 'rate-histogram', 'conditional', 'adder-signs']), models: errorModels })
  .passthrough()
  .refine((f) => (f.models as Record<string, unknown>)[f.best] !== undefined, { message: 'fit.best names a model the fit does not have' });
const vosReportSchema = z
  .object({
    schema: z.literal(VOS_SCHEMA),
    subject: z.string(),
    nominalVolts: z.number().positive(),
    stream: z.object({ model: z.string().optional() }).passthrough(),
    targets: z
      .array(
        z
          .object({
            kind: z.enum(['pe', 'cell']),
            cell: z.string(),
            levels: z.array(
              z
                .object({
                  volts: z.number().positive(),
                  fit: fitSchema,
                  layers: z.array(z.object({ layer: z.string(), fit: fitSchema }).passthrough()).optional(),
                })
                .passthrough(),
            ),
          })
          .passthrough(),
      )
      .min(1),
  })
  .passthrough();

/** A vos-models.json file (`axtpu vos characterize`, or explore's vos-models-<scheme>.json), validated. */
export function readVosModels(path: string): VosReport {
  return readJsonFile(vosReportSchema, path, '--vos-models') as unknown as VosReport;
}
