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
 * Exploration's control-variate knob (docs/cv.md): a unit's gene `<cell>+cv` means that cell with
 * its layers compensated. Layer granularity only (one decision per layer's tile).
 */
export const CV_SUFFIX = '+cv';
export const baseCell = (gene: string): string => (gene.endsWith(CV_SUFFIX) ? gene.slice(0, -CV_SUFFIX.length) : gene);

/** Layers a gene vector compensates. */
export function cvLayers(plan: UnitPlan, cells: string[]): string[] {
  const on = new Set(plan.units.filter((_, u) => cells[u]!.endsWith(CV_SUFFIX)).map((u) => u.tile));
  return plan.layers.filter((l) => on.has(l.tile)).map((l) => l.name);
}

export function toAssignment(plan: UnitPlan, cells: string[], exact: string): Assignment {
  const a = assignmentOf(filterCells(plan, cells, exact));
  const cv = cvLayers(plan, cells);
  return cv.length ? { ...a, cv } : a;
}

/** The array config (generators/array schema) that realizes the gene vector. */
export function toArrayConfig(plan: UnitPlan, genes: string[], exact: string, name: string): Record<string, unknown> {
  const cells = genes.map(baseCell);
  // Control variate: the hardware, with a coefficient row per N-fold of the widest layer.
  const cv = cvLayers(plan, genes).length ? { controlVariate: { folds: Math.max(...plan.layers.map((l) => Math.ceil(l.oc / plan.cols))) } } : {};
  const tiles = Array.from({ length: plan.tiles }, (_, t) => {
    if (plan.granularity === 'layer') return { name: `t${t}`, cell: cells[plan.units.findIndex((u) => u.tile === t)]! };
    const column = Array.from({ length: plan.cols }, (_, c) => {
      const u = plan.units.findIndex((x) => x.tile === t && x.column === c);
      return u >= 0 ? cells[u]! : exact;
    });
    return column.every((x) => x === column[0]) ? { name: `t${t}`, cell: column[0]! } : { name: `t${t}`, map: { column } };
  });
  return { name, rows: plan.rows, cols: plan.cols, tiles, ...cv };
}

/** Layer-level assignment with one layer on `cell` and everything else exact (sensitivity probe). */
export function singleLayerAssignment(plan: UnitPlan, layer: string, cell: string, exact: string): Assignment {
  return { layers: Object.fromEntries(plan.layers.map((l) => [l.name, l.name === layer ? cell : exact])) };
}
