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
 *   kernel  (filter x input channel): a design with a cell set (generators/array config `cellSet`):
 *           every PE holds exact plus the candidate cells and each weight carries a tag naming its
 *           cell (mapping/place.ts layerTags), so any (layer, filter, input channel) map is exact.
 *           One tile for all layers. To keep the search tractable a unit groups the kernels of one
 *           layer whose filter sits on one column (like filter units, f mod C) and whose input
 *           channel lies in one of `inputGroups` contiguous ranges: per layer at most
 *           min(oc, C) x min(ic, inputGroups) units. inputGroups = 1 is filter level on the tagged
 *           hardware.
 */
export type Granularity = 'layer' | 'filter' | 'kernel';

export interface LayerInfo {
  name: string;
  index: number;
  oc: number;
  ic: number;
  K: number;
  positions: number;
  macsPerImage: number;
  tile: number;
}

export interface Unit {
  name: string;
  tile: number;
  /** Column within the tile (filter and kernel granularity), else null. */
  column: number | null;
  /** Kernel granularity: the unit's layer and its input channels [from, to). */
  inputs?: { layer: string; from: number; to: number };
  /** Multiplies per image this unit's cell performs, per layer. */
  macs: Record<string, number>;
}

export interface UnitPlan {
  granularity: Granularity;
  rows: number;
  cols: number;
  tiles: number;
  layers: LayerInfo[];
  units: Unit[];
  /** Kernel granularity: the cells every PE holds (exact first: tag 0) and the input-channel groups per layer. */
  cellSet?: string[];
  inputGroups?: number;
}

/** Default input-channel groups per layer at kernel granularity. */
export const DEFAULT_INPUT_GROUPS = 2;

export function checkGranularity(g: string): Granularity {
  if (g === 'layer' || g === 'filter' || g === 'kernel') return g;
  throw new UserError(`--granularity '${g}': expected layer, filter or kernel`);
}

export function planUnits(m: QuantModel, granularity: Granularity, rows: number, cols: number, kernel?: { cellSet: string[]; inputGroups?: number }): UnitPlan {
  if (granularity === 'kernel') {
    if (!kernel) throw new Error('planUnits: kernel granularity needs the cell set');
    return planKernelUnits(m, rows, cols, kernel.cellSet, kernel.inputGroups ?? DEFAULT_INPUT_GROUPS);
  }
  const convs = convLayers(m);
  const tiles = Math.min(convs.length, MAX_TILES);
  const layers: LayerInfo[] = convs.map((l, j) => {
    const positions = layerPositions(m, l);
    return { name: l.name, index: j, oc: l.oc, ic: l.ic, K: l.K, positions, macsPerImage: layerMacs(l, m.shapes[l.output]!), tile: layerTile(j, tiles) };
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

/** Input channels [from, to) of group g of G over ic channels (contiguous, sizes differ by at most 1). */
export function inputGroupRange(g: number, G: number, ic: number): [number, number] {
  return [Math.floor((g * ic) / G), Math.floor(((g + 1) * ic) / G)];
}

function planKernelUnits(m: QuantModel, rows: number, cols: number, cellSet: string[], inputGroups: number): UnitPlan {
  const convs = convLayers(m);
  const layers: LayerInfo[] = convs.map((l, j) => ({
    name: l.name,
    index: j,
    oc: l.oc,
    ic: l.ic,
    K: l.K,
    positions: layerPositions(m, l),
    macsPerImage: layerMacs(l, m.shapes[l.output]!),
    tile: 0,
  }));
  const units: Unit[] = [];
  for (const [j, l] of convs.entries()) {
    const G = Math.min(inputGroups, l.ic);
    const khw = l.kh * l.kw;
    for (let c = 0; c < Math.min(cols, l.oc); c++)
      for (let g = 0; g < G; g++) {
        const [from, to] = inputGroupRange(g, G, l.ic);
        const macs = filtersOnColumn(c, l.oc, cols) * layers[j]!.positions * (to - from) * khw;
        units.push({ name: `${l.name}#c${c}#i${from}-${to - 1}`, tile: 0, column: c, inputs: { layer: l.name, from, to }, macs: { [l.name]: macs } });
      }
  }
  return { granularity: 'kernel', rows, cols, tiles: 1, layers, units, cellSet, inputGroups };
}

/**
 * Cells of every layer's weights as a grid under a gene vector: row f = filter f, one entry per
 * input channel at kernel granularity, one per filter otherwise (mapping/place.ts cellGrid).
 */
export function cellGrids(plan: UnitPlan, cells: string[], exact: string): Record<string, string[][]> {
  if (plan.granularity !== 'kernel') return Object.fromEntries(Object.entries(filterCells(plan, cells, exact)).map(([k, v]) => [k, v.map((c) => [c])]));
  const out: Record<string, string[][]> = {};
  for (const l of plan.layers) out[l.name] = Array.from({ length: l.oc }, () => new Array<string>(l.ic).fill(exact));
  plan.units.forEach((u, i) => {
    const grid = out[u.inputs!.layer]!;
    for (let f = u.column!; f < grid.length; f += plan.cols) for (let ic = u.inputs!.from; ic < u.inputs!.to; ic++) grid[f]![ic] = baseCell(cells[i]!);
  });
  return out;
}

/** Index of the unit holding column c of tile t (at layer granularity the tile's unit), or -1 (a column no layer uses). */
export function unitAt(plan: UnitPlan, t: number, c: number): number {
  return plan.units.findIndex((x) => x.tile === t && (x.column === null || x.column === c));
}

/** Cell of every filter of every layer under a gene vector (cells[u] = cell id of unit u). */
export function filterCells(plan: UnitPlan, cells: string[], exact: string): Record<string, string[]> {
  if (plan.granularity === 'kernel')
    return Object.fromEntries(Object.entries(cellGrids(plan, cells, exact)).map(([k, g]) => [k, g.map((row) => mostUsed(row))]));
  const out: Record<string, string[]> = {};
  for (const l of plan.layers) {
    out[l.name] = Array.from({ length: l.oc }, (_, f) => {
      const u = unitAt(plan, l.tile, filterColumn(f, plan.cols));
      return u >= 0 ? baseCell(cells[u]!) : exact;
    });
  }
  return out;
}

function mostUsed(row: string[]): string {
  const n = new Map<string, number>();
  for (const c of row) n.set(c, (n.get(c) ?? 0) + 1);
  return [...n.entries()].sort((a, b) => b[1] - a[1])[0]![0];
}

/**
 * A unit's gene: `<cell>[+cv][@<volts>]`. Exploration's control-variate knob (docs/cv.md): `+cv`
 * means that cell with its layers compensated (layer granularity only, one decision per layer's
 * tile). The voltage knob (docs/vos.md, "Voltage search"): `@<volts>` runs the unit's PEs at that
 * supply, below nominal, at the nominal clock; no suffix = nominal.
 */
export const CV_SUFFIX = '+cv';
export const VOLT_SEP = '@';
/** Cross-layer knobs (docs/explore.md, "Cross-layer knobs"): `/p<s>` prunes the unit's layer to
 *  sparsity s, `/m<V>` stores its weights in weight memory at supply V (nn/prune.ts, nn/wmem.ts). */
export const PRUNE_TAG = '/p';
export const WMEM_TAG = '/m';

export interface Gene {
  cell: string;
  cv: boolean;
  /** Supply of the unit's PEs, or undefined = nominal. */
  volts?: number;
  /** Magnitude-pruning sparsity of the unit's layer, or undefined = dense. */
  sparsity?: number;
  /** Supply of the weight memory holding the unit's weights, or undefined = nominal. */
  wmem?: number;
}

export function parseGene(gene: string): Gene {
  const [main, ...tags] = gene.split('/');
  const at = main!.indexOf(VOLT_SEP);
  const head = at < 0 ? main! : main!.slice(0, at);
  const cv = head.endsWith(CV_SUFFIX);
  const g: Gene = { cell: cv ? head.slice(0, -CV_SUFFIX.length) : head, cv, ...(at < 0 ? {} : { volts: Number(main!.slice(at + 1)) }) };
  for (const t of tags) {
    if (t.startsWith('p')) g.sparsity = Number(t.slice(1));
    else if (t.startsWith('m')) g.wmem = Number(t.slice(1));
    else throw new Error(`parseGene: unknown tag '/${t}' in '${gene}'`);
  }
  return g;
}

export const geneName = (g: Gene): string =>
  `${g.cell}${g.cv ? CV_SUFFIX : ''}${g.volts === undefined ? '' : `${VOLT_SEP}${g.volts}`}${g.sparsity === undefined ? '' : `${PRUNE_TAG}${g.sparsity}`}${
    g.wmem === undefined ? '' : `${WMEM_TAG}${g.wmem}`
  }`;
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
      const u = unitAt(plan, l.tile, filterColumn(f, plan.cols));
      return u >= 0 ? (parseGene(genes[u]!).volts ?? nominal) : nominal;
    });
    if (perFilter.every((v) => v >= nominal)) continue;
    out[l.name] = perFilter.every((v) => v === perFilter[0]) ? perFilter[0]! : perFilter;
  }
  return out;
}

export function toAssignment(plan: UnitPlan, cells: string[], exact: string, nominal?: number): Assignment {
  const a = plan.granularity === 'kernel' ? kernelAssignment(cellGrids(plan, cells, exact)) : assignmentOf(filterCells(plan, cells, exact));
  const cv = cvLayers(plan, cells);
  const volts = nominal === undefined ? {} : voltsMap(plan, cells, nominal);
  const prune = layerKnob(plan, cells, 'sparsity');
  const wmem = layerKnob(plan, cells, 'wmem');
  return {
    ...a,
    ...(cv.length ? { cv } : {}),
    ...(Object.keys(volts).length ? { volts } : {}),
    ...(Object.keys(prune).length ? { prune } : {}),
    ...(Object.keys(wmem).length ? { wmem } : {}),
  };
}

/** A per-layer knob of the genes (layer granularity: one unit per layer), layers without it omitted. */
function layerKnob(plan: UnitPlan, genes: string[], k: 'sparsity' | 'wmem'): Record<string, number> {
  const out: Record<string, number> = {};
  plan.units.forEach((u, i) => {
    const v = parseGene(genes[i]!)[k];
    if (v === undefined) return;
    for (const l of plan.layers) if (l.tile === u.tile) out[l.name] = v;
  });
  return out;
}

/** Per layer the coarsest spelling of a kernel grid: one cell, per filter, or per (filter, input channel). */
function kernelAssignment(grids: Record<string, string[][]>): Assignment {
  const a: Assignment = { layers: {} };
  for (const [name, g] of Object.entries(grids)) {
    const flat = g.flat();
    if (flat.every((x) => x === flat[0])) a.layers[name] = flat[0]!;
    else if (g.every((row) => row.every((x) => x === row[0]))) a.layers[name] = { filters: g.map((row) => row[0]!) };
    else a.layers[name] = { kernels: g };
  }
  return a;
}

/** A supply level's name in a generated design: `nom`, or the volts spelled out (`v1p55`). */
export const levelName = (volts: number, nominal: number): string => (volts >= nominal ? 'nom' : `v${String(volts).replace('.', 'p')}`);

/** The all-exact design of a plan: every unit on the exact cell (the baseline every search prices against). */
export const exactArrayConfig = (plan: UnitPlan, exact: string, name: string): Record<string, unknown> =>
  toArrayConfig(
    plan,
    plan.units.map(() => exact),
    exact,
    name,
  );

/**
 * The array config (generators/array schema) that realizes the gene vector. Kernel granularity:
 * the tagged design with the plan's cell set (the same hardware for every gene vector; the
 * assignment, through the weights' tags, is what differs). With supplies below `nominal` (the
 * voltage knob) every tile gets voltage domains: the columns at one supply form a domain named
 * after its level (levelName), and the design's levels are nominal plus every level a unit uses;
 * `domainLevels` gives the level registers' settings.
 */
export function toArrayConfig(plan: UnitPlan, genes: string[], exact: string, name: string, nominal?: number): Record<string, unknown> {
  if (plan.granularity === 'kernel') return { name, rows: plan.rows, cols: plan.cols, cellSet: plan.cellSet! };
  const cells = genes.map(baseCell);
  // Control variate: the hardware, with a coefficient row per N-fold of the widest layer.
  const cv = cvLayers(plan, genes).length ? { controlVariate: { folds: Math.max(...plan.layers.map((l) => Math.ceil(l.oc / plan.cols))) } } : {};
  // Supply of every unit: nominal where the gene names none.
  const volts = nominal === undefined ? [] : genes.map((g) => parseGene(g).volts ?? nominal);
  const lowered = volts.some((v) => v < nominal!);
  const levels = lowered ? [nominal!, ...[...new Set(volts.filter((v) => v < nominal!))].sort((a, b) => b - a)] : [];
  const tiles = Array.from({ length: plan.tiles }, (_, t) => {
    let tile: Record<string, unknown>;
    if (plan.granularity === 'layer') tile = { name: `t${t}`, cell: cells[plan.units.findIndex((u) => u.tile === t)]! };
    else {
      const column = Array.from({ length: plan.cols }, (_, c) => {
        const u = unitAt(plan, t, c);
        return u >= 0 ? cells[u]! : exact;
      });
      tile = column.every((x) => x === column[0]) ? { name: `t${t}`, cell: column[0]! } : { name: `t${t}`, map: { column } };
    }
    if (!lowered) return tile;
    const colVolts = Array.from({ length: plan.cols }, (_, c) => {
      const u = unitAt(plan, t, c);
      return u >= 0 ? volts[u]! : nominal!;
    });
    const domains = levels
      .filter((v) => colVolts.includes(v))
      .map((v) => ({ name: levelName(v, nominal!), columns: colVolts.flatMap((x, c) => (x === v ? [c] : [])) }));
    return { ...tile, domains: { levels: levels.map((v) => ({ name: levelName(v, nominal!), volts: v })), domains } };
  });
  return { name, rows: plan.rows, cols: plan.cols, tiles, ...cv };
}

/**
 * Level register setting of every voltage domain (tiles' domains in order): the level of the
 * domain's own name, -1 where no level has it (a toArrayConfig design names every domain after
 * its level, so it has none). `--levels @named` is this lookup.
 */
export function domainLevels(design: { tiles: { domains: { name: string }[] }[]; levels: { name: string }[] }): number[] {
  return design.tiles.flatMap((t) => t.domains.map((d) => design.levels.findIndex((l) => l.name === d.name)));
}

/** Layer-level assignment with one layer on `cell` and everything else exact (sensitivity probe). */
export function singleLayerAssignment(plan: UnitPlan, layer: string, cell: string, exact: string): Assignment {
  return { layers: Object.fromEntries(plan.layers.map((l) => [l.name, l.name === layer ? cell : exact])) };
}
