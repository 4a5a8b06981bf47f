import { UserError } from '../core/errors.ts';
import { MAX_TILES } from '../generators/array/config.ts';
import type { Assignment } from '../nn/assign.ts';
import { layerMacs } from '../nn/graph.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import { layerPositions } from './layer-cost.ts';
import { assignmentOf, filterColumn, filtersOnColumn, layerTile } from './place.ts';

/**
 * Decision units of the search (one gene each) and how a gene vector becomes both the software
 * engine's assignment and the array config that realizes it. The units are exactly what the
 * generated array can hold (mapping/place.ts: conv/dense layer j on tile j mod T, filter f on
 * column f mod C of that tile):
 *   layer   one unit per tile; T = min(layers, MAX_TILES) tiles, each with one uniform cell. Layers that
 *           share a tile (only when the model has more than 8 conv/dense layers) share its cell.
 *   filter  one unit per (tile, column): a per-column cell map in every tile.
 *   kernel  (output x input channel) needs a cell per PE that depends on the input channel, but a
 *           PE row holds reduction indices k = r (mod R) across folds, and k runs over (input
 *           channel, ky, kx): with K > R one PE serves several input channels, so the array cannot
 *           realize it. Only a layer with K <= R and oc <= C alone on a tile could; in the shipped
 *           models at 16x16 that is ResNet-8's stem, whose single input channel makes kernel =
 *           filter. Rejected.
 */
export type Granularity = 'layer' | 'filter' | 'kernel';

export interface LayerInfo {
  name: string;
  index: number;
  oc: number;
  K: number;
  positions: number;
  macsPerImage: number;
  tile: number;
}

export interface Unit {
  name: string;
  tile: number;
  /** Column within the tile (filter granularity), else null. */
  column: number | null;
  /** Multiplies per image this unit's cell performs, per layer. */
  macs: Record<string, number>;
}

export interface UnitPlan {
  granularity: Exclude<Granularity, 'kernel'>;
  rows: number;
  cols: number;
  tiles: number;
  layers: LayerInfo[];
  units: Unit[];
}

export function checkGranularity(g: string): Exclude<Granularity, 'kernel'> {
  if (g === 'layer' || g === 'filter') return g;
  if (g === 'kernel')
    throw new UserError(
      '--granularity kernel: the array cannot realize per-kernel cells: PE row r multiplies reduction indices k = r, r+R, r+2R... (k runs over input channel x kernel window), so in a layer with K > R rows one PE serves several input channels in successive folds; use layer (one tile per layer) or filter (per-column map)',
    );
  throw new UserError(`--granularity '${g}': expected layer, filter or kernel`);
}

export function planUnits(m: QuantModel, granularity: Exclude<Granularity, 'kernel'>, rows: number, cols: number): UnitPlan {
  const convs = convLayers(m);
  const tiles = Math.min(convs.length, MAX_TILES);
  const layers: LayerInfo[] = convs.map((l, j) => {
    const positions = layerPositions(m, l);
    return { name: l.name, index: j, oc: l.oc, K: l.K, positions, macsPerImage: layerMacs(l, m.shapes[l.output]!), tile: layerTile(j, tiles) };
  });
  const units: Unit[] = [];
  for (let t = 0; t < tiles; t++) {
    const mine = layers.filter((l) => l.tile === t);
    const tag = mine.map((l) => l.name).join('+');
    if (granularity === 'layer') {
      units.push({ name: tag, tile: t, column: null, macs: Object.fromEntries(mine.map((l) => [l.name, l.macsPerImage])) });
      continue;
    }
    for (let c = 0; c < cols; c++) {
      const macs: Record<string, number> = {};
      for (const l of mine) {
        const filters = filtersOnColumn(c, l.oc, cols);
        if (filters > 0) macs[l.name] = filters * l.positions * l.K;
      }
      // A column no layer uses holds the exact cell and is not a decision.
      if (Object.keys(macs).length > 0) units.push({ name: `${tag}#c${c}`, tile: t, column: c, macs });
    }
  }
  return { granularity, rows, cols, tiles, layers, units };
}

/** Cell of every filter of every layer under a gene vector (cells[u] = cell id of unit u). */
export function filterCells(plan: UnitPlan, cells: string[], exact: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const l of plan.layers) {
    out[l.name] = Array.from({ length: l.oc }, (_, f) => {
      const u = plan.units.findIndex((x) => x.tile === l.tile && (x.column === null || x.column === filterColumn(f, plan.cols)));
      return u >= 0 ? baseCell(cells[u]!) : exact;
    });
  }
  return out;
}

/**
 * A unit's gene: `<cell>[+cv][@<volts>]`. Exploration's control-variate knob (docs/cv.md): `+cv`
 * means that cell with its layers compensated (layer granularity only, one decision per layer's
 * tile). The voltage knob (docs/vos.md, "Voltage search"): `@<volts>` runs the unit's PEs at that
 * supply, below nominal, at the nominal clock; no suffix = nominal.
 */
export const CV_SUFFIX = '+cv';
export const VOLT_SEP = '@';

export interface Gene {
  cell: string;
  cv: boolean;
  /** Supply of the unit's PEs, or undefined = nominal. */
  volts?: number;
}

export function parseGene(gene: string): Gene {
  const at = gene.indexOf(VOLT_SEP);
  const head = at < 0 ? gene : gene.slice(0, at);
  const cv = head.endsWith(CV_SUFFIX);
  return { cell: cv ? head.slice(0, -CV_SUFFIX.length) : head, cv, ...(at < 0 ? {} : { volts: Number(gene.slice(at + 1)) }) };
}

export const geneName = (g: Gene): string => `${g.cell}${g.cv ? CV_SUFFIX : ''}${g.volts === undefined ? '' : `${VOLT_SEP}${g.volts}`}`;
export const baseCell = (gene: string): string => parseGene(gene).cell;

/** Layers a gene vector compensates. */
export function cvLayers(plan: UnitPlan, cells: string[]): string[] {
  const on = new Set(plan.units.filter((_, u) => parseGene(cells[u]!).cv).map((u) => u.tile));
  return plan.layers.filter((l) => on.has(l.tile)).map((l) => l.name);
}

/**
 * Supply per filter of every layer with a unit below nominal (the engine's `volts`, nn/assign.ts):
 * a filter's voltage is its column's unit's (filter granularity) or its tile's (layer).
 */
export function voltsMap(plan: UnitPlan, genes: string[], nominal: number): Record<string, number | number[]> {
  const out: Record<string, number | number[]> = {};
  for (const l of plan.layers) {
    const perFilter = Array.from({ length: l.oc }, (_, f) => {
      const u = plan.units.findIndex((x) => x.tile === l.tile && (x.column === null || x.column === filterColumn(f, plan.cols)));
      return u >= 0 ? (parseGene(genes[u]!).volts ?? nominal) : nominal;
    });
    if (perFilter.every((v) => v >= nominal)) continue;
    out[l.name] = perFilter.every((v) => v === perFilter[0]) ? perFilter[0]! : perFilter;
  }
  return out;
}

/** Supply of every unit under a gene vector (nominal where the gene names none). */
export const unitVolts = (genes: string[], nominal: number): number[] => genes.map((g) => parseGene(g).volts ?? nominal);

export function toAssignment(plan: UnitPlan, cells: string[], exact: string, nominal?: number): Assignment {
  const a = assignmentOf(filterCells(plan, cells, exact));
  const cv = cvLayers(plan, cells);
  const volts = nominal === undefined ? {} : voltsMap(plan, cells, nominal);
  return { ...a, ...(cv.length ? { cv } : {}), ...(Object.keys(volts).length ? { volts } : {}) };
}

/** A supply level's name in a generated design: `nom`, or the volts spelled out (`v1p55`). */
export const levelName = (volts: number, nominal: number): string => (volts >= nominal ? 'nom' : `v${String(volts).replace('.', 'p')}`);

/**
 * The array config (generators/array schema) that realizes the gene vector. With supplies below
 * `nominal` (the voltage knob) every tile gets voltage domains: the columns at one supply form a
 * domain named after its level (levelName), and the design's levels are nominal plus every level
 * a unit uses; `domainLevels` gives the level registers' settings.
 */
export function toArrayConfig(plan: UnitPlan, genes: string[], exact: string, name: string, nominal?: number): Record<string, unknown> {
  const cells = genes.map(baseCell);
  // Control variate: the hardware, with a coefficient row per N-fold of the widest layer.
  const cv = cvLayers(plan, genes).length ? { controlVariate: { folds: Math.max(...plan.layers.map((l) => Math.ceil(l.oc / plan.cols))) } } : {};
  const volts = unitVolts(genes, nominal ?? Number.POSITIVE_INFINITY);
  const lowered = nominal !== undefined && volts.some((v) => v < nominal);
  const levels = lowered ? [nominal, ...[...new Set(volts.filter((v) => v < nominal))].sort((a, b) => b - a)] : [];
  const unitAt = (t: number, c: number) => plan.units.findIndex((x) => x.tile === t && (x.column === null || x.column === c));
  const tiles = Array.from({ length: plan.tiles }, (_, t) => {
    let tile: Record<string, unknown>;
    if (plan.granularity === 'layer') tile = { name: `t${t}`, cell: cells[plan.units.findIndex((u) => u.tile === t)]! };
    else {
      const column = Array.from({ length: plan.cols }, (_, c) => {
        const u = unitAt(t, c);
        return u >= 0 ? cells[u]! : exact;
      });
      tile = column.every((x) => x === column[0]) ? { name: `t${t}`, cell: column[0]! } : { name: `t${t}`, map: { column } };
    }
    if (!lowered) return tile;
    const colVolts = Array.from({ length: plan.cols }, (_, c) => {
      const u = unitAt(t, c);
      return u >= 0 ? volts[u]! : nominal!;
    });
    const domains = levels
      .filter((v) => colVolts.includes(v))
      .map((v) => ({ name: levelName(v, nominal!), columns: colVolts.flatMap((x, c) => (x === v ? [c] : [])) }));
    return { ...tile, domains: { levels: levels.map((v) => ({ name: levelName(v, nominal!), volts: v })), domains } };
  });
  return { name, rows: plan.rows, cols: plan.cols, tiles, ...cv };
}

/** Level register setting of every voltage domain (tiles' domains in order) of a toArrayConfig design. */
export function domainLevels(design: { tiles: { domains: { name: string }[] }[]; levels: { name: string }[] }): number[] {
  return design.tiles.flatMap((t) =>
    t.domains.map((d) =>
      Math.max(
        0,
        design.levels.findIndex((l) => l.name === d.name),
      ),
    ),
  );
}

/** Layer-level assignment with one layer on `cell` and everything else exact (sensitivity probe). */
export function singleLayerAssignment(plan: UnitPlan, layer: string, cell: string, exact: string): Assignment {
  return { layers: Object.fromEntries(plan.layers.map((l) => [l.name, l.name === layer ? cell : exact])) };
}
