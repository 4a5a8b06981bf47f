import { UserError } from '../core/errors.ts';
import { cvVBits, type Design } from '../generators/array/config.ts';
import { productTable } from '../generators/multipliers/index.ts';
import { type Assignment, inputChannelOf, layerCellOf, type ResolvedAssignment, resolveAssignment } from '../nn/assign.ts';
import { convLayers, type QConvLayer, type QuantModel } from '../nn/qmodel.ts';
import { type Mat8, paddedK } from './gemm.ts';

/**
 * Where a network's layers sit on a design: the ONE definition the RTL flow, the analytical path,
 * the software engine's assignment and exploration's decision units all use.
 *  - conv/dense layer j (model order) runs on tile j mod T, in runtime mode `mode` (default 0);
 *  - its GEMM is A (M = images x output positions, K = ic*kh*kw) times W (K x N = oc); the array
 *    puts reduction index k on PE row k mod R and filter f on column f mod C, so a per-column cell
 *    map is a filter-level assignment: filter f uses the cell of column f mod C.
 * Row and per-PE maps would make the cell depend on k mod R, which the engine's assignment
 * (layer / filter / kernel = output x input channel) cannot express: rejected with one line.
 * A design with a cell set (per-weight tags) holds ANY assignment over its set: every weight's
 * tag names the cell of its (filter, input channel), so kernel level is exact (layerTags).
 */

/** Tile of conv/dense layer `j` (model order) on a design with `tiles` tiles. */
export function layerTile(j: number, tiles: number): number {
  return j % tiles;
}

/** Column of filter (output channel) `f` on a tile with `cols` columns. */
export function filterColumn(f: number, cols: number): number {
  return f % cols;
}

/** How many of a layer's `oc` filters land on column `c` of a `cols`-wide tile. */
export function filtersOnColumn(c: number, oc: number, cols: number): number {
  return c < oc ? Math.floor((oc - 1 - c) / cols) + 1 : 0;
}

export interface LayerPlacement {
  layer: string;
  tile: number;
  mode: number;
  /**
   * Cell id of every filter (output channel). With a cell set and a kernel-level assignment, the
   * filter's most used cell (ties: first in the set); `kernelCells` has the exact map.
   */
  filterCells: string[];
  /** Tagged designs: cell of every (filter, input channel), oc x ic, and the K x N tags W streams with. */
  kernelCells?: string[][];
  tags?: Mat8;
}

/**
 * Cells of a layer's weights as a grid: row f = filter f, its K reduction indices split evenly over
 * the row's entries (one entry: the filter's cell; ic entries: one per input channel, k = (ic, ky, kx)).
 * What MAC counts, operand streams and cell energies are summed over.
 */
export function cellGrid(p: Pick<LayerPlacement, 'filterCells' | 'kernelCells'>): string[][] {
  // A filter whose input channels share one cell is one entry, as at filter level (same samples).
  return p.kernelCells?.map((row) => (row.every((c) => c === row[0]) ? [row[0]!] : row)) ?? p.filterCells.map((c) => [c]);
}

/**
 * Per-weight cell-select tags of a layer on a tagged design: tag of W[k][n] = index in the
 * design's cell set of the cell of (filter n, input channel of k). A cell outside the set cannot
 * be held: one line.
 */
export function layerTags(design: Design, l: QConvLayer, kernelCells: string[][]): Mat8 {
  const set = design.tags?.cells;
  if (!set) throw new UserError(`design ${design.name} has no cell-select tag bits (gen --cell-set); a per-weight cell assignment needs them`);
  const index = new Map(set.map((id, i) => [id, i]));
  const data = new Uint8Array(l.K * l.oc);
  for (let o = 0; o < l.oc; o++)
    for (let k = 0; k < l.K; k++) {
      const id = kernelCells[o]![inputChannelOf(l, k)]!;
      const t = index.get(id);
      if (t === undefined)
        throw new UserError(
          `design ${design.name} cannot hold the assignment: layer '${l.name}' filter ${o} names cell ${id}, which is not in the PE's cell set [${set.join(', ')}]`,
        );
      data[k * l.oc + o] = t;
    }
  return { rows: l.K, cols: l.oc, data };
}

/** Most used cell of each filter (ties: earlier in `order`). */
function mainCells(kernelCells: string[][], order: string[]): string[] {
  return kernelCells.map((row) => {
    const n = new Map<string, number>();
    for (const c of row) n.set(c, (n.get(c) ?? 0) + 1);
    return [...n.entries()].sort((a, b) => b[1] - a[1] || order.indexOf(a[0]) - order.indexOf(b[0]))[0]![0];
  });
}

/** Placement on a tagged design: the wanted assignment (default: tag 0 everywhere) realized by tags. */
function placeTagged(model: QuantModel, design: Design, want: Assignment | undefined): LayerPlacement[] {
  const set = design.tags!.cells;
  const a: Assignment = want ?? { default: set[0]!, layers: {} };
  const convs = convLayers(model);
  for (const name of Object.keys(a.layers))
    if (!convs.some((l) => l.name === name)) throw new UserError(`assignment names layer '${name}' which is not a conv/dense layer of ${model.name}`);
  return convs.map((l, j) => {
    const spec = a.layers[l.name] ?? a.default;
    if (spec === undefined) throw new UserError(`assignment has no cell for layer '${l.name}' and no "default"`);
    const cellOf = layerCellOf(l, spec);
    const kernelCells = Array.from({ length: l.oc }, (_, o) => Array.from({ length: l.ic }, (_, ic) => cellOf(o, ic)));
    const tags = layerTags(design, l, kernelCells);
    return { layer: l.name, tile: layerTile(j, design.tiles.length), mode: 0, filterCells: mainCells(kernelCells, set), kernelCells, tags };
  });
}

export interface Placement {
  layers: LayerPlacement[];
  /** The software engine's assignment derived from the design. */
  assignment: Assignment;
  resolved: ResolvedAssignment;
}

export interface PlacementOptions {
  mode?: number;
  /** An assignment the user wants; the design must hold it exactly (per multiply). */
  want?: Assignment;
}

/** Column-uniform cell of a tile/mode column, or undefined if rows differ (row / pe maps). */
function columnCell(design: Design, tile: number, mode: number, col: number): string | undefined {
  const cells = design.tiles[tile]!.cells[mode]!;
  const id = cells[0]![col]!;
  return cells.every((row) => row[col] === id) ? id : undefined;
}

/** Layer-level where possible, else per-filter: the engine's assignment for per-filter cells. */
export function assignmentOf(filterCells: Record<string, string[]>): Assignment {
  const a: Assignment = { layers: {} };
  for (const [name, fc] of Object.entries(filterCells)) a.layers[name] = fc.every((x) => x === fc[0]) ? fc[0]! : { filters: fc };
  return a;
}

export function placeModel(model: QuantModel, design: Design, opts: PlacementOptions = {}): Placement {
  const scheme = design.signed ? 'signed' : 'unsigned';
  if (model.scheme !== scheme) throw new UserError(`model ${model.name} is quantized for ${model.scheme} cells but design ${design.name} has ${scheme} cells`);
  const mode = opts.mode ?? 0;
  if (!Number.isInteger(mode) || mode < 0 || mode >= design.modes)
    throw new UserError(`--mode ${mode}: design ${design.name} has ${design.modes} runtime mode(s) (0..${design.modes - 1})`);
  const convs = convLayers(model);
  if (design.tags) {
    const layers = placeTagged(model, design, opts.want);
    for (const [j, l] of convs.entries()) checkPsum(l, design, layers[j]!);
    const assignment: Assignment = {
      layers: Object.fromEntries(
        layers.map((p) => {
          const flat = p.kernelCells!.flat();
          return [p.layer, flat.every((c) => c === flat[0]) ? flat[0]! : { kernels: p.kernelCells! }];
        }),
      ),
    };
    return { layers, assignment, resolved: resolveAssignment(model, assignment) };
  }
  const layers: LayerPlacement[] = convs.map((l, j) => {
    const tile = layerTile(j, design.tiles.length);
    const t = design.tiles[tile]!;
    const colCells = Array.from({ length: t.cols }, (_, c) => columnCell(design, tile, mode, c));
    const bad = colCells.indexOf(undefined);
    if (bad >= 0)
      throw new UserError(
        `design ${design.name} tile ${t.name}: column ${bad} mixes cells across rows (row / per-PE map); the flow maps filters to columns and needs one cell per column`,
      );
    return { layer: l.name, tile, mode, filterCells: Array.from({ length: l.oc }, (_, f) => colCells[filterColumn(f, t.cols)]!) };
  });
  const assignment = assignmentOf(Object.fromEntries(layers.map((p) => [p.layer, p.filterCells])));
  if (opts.want) checkHolds(model, design, layers, opts.want);
  for (const [j, l] of convs.entries()) checkPsum(l, design, layers[j]!);
  return { layers, assignment, resolved: resolveAssignment(model, assignment) };
}

/** The design must compute exactly the multiply-to-cell map the user asked for. */
function checkHolds(model: QuantModel, design: Design, layers: LayerPlacement[], want: Assignment): void {
  const convs = convLayers(model);
  for (const name of Object.keys(want.layers))
    if (!convs.some((l) => l.name === name)) throw new UserError(`assignment names layer '${name}' which is not a conv/dense layer of ${model.name}`);
  for (const [j, l] of convs.entries()) {
    const spec = want.layers[l.name] ?? want.default;
    if (spec === undefined) throw new UserError(`assignment has no cell for layer '${l.name}' and no "default"`);
    const p = layers[j]!;
    const cols = design.tiles[p.tile]!.cols;
    for (let f = 0; f < l.oc; f++) {
      const have = p.filterCells[f]!;
      let need: string[];
      if (typeof spec === 'string') need = [spec];
      else if ('filters' in spec) {
        if (spec.filters.length !== l.oc)
          throw new UserError(`assignment layer '${l.name}': filters has ${spec.filters.length} entries, layer has ${l.oc} output channels`);
        need = [spec.filters[f]!];
      } else need = [...new Set(spec.kernels[f] ?? [])];
      if (need.length > 1)
        throw new UserError(
          `design ${design.name} cannot hold the assignment: layer '${l.name}' filter ${f} uses ${need.length} cells across its input channels (kernel level), which needs per-weight cell-select tags (gen --cell-set)`,
        );
      const miss = need.find((x) => x !== have);
      if (miss !== undefined)
        throw new UserError(
          `design ${design.name} cannot hold the assignment: layer '${l.name}' filter ${f} needs cell ${miss} but it runs on tile ${design.tiles[p.tile]!.name} column ${filterColumn(f, cols)} (mode ${p.mode}), which has ${have}`,
        );
    }
  }
}

/** Worst-case partial sum of the layer on its columns must fit the design's psum width. */
function checkPsum(l: QConvLayer, design: Design, p: LayerPlacement): void {
  const t = design.tiles[p.tile]!;
  const Kp = paddedK(t, l.K);
  let worst = 0;
  for (const id of new Set(cellGrid(p).flat())) {
    const tab = productTable(id);
    let m = 0;
    for (let i = 0; i < tab.length; i++) m = Math.max(m, Math.abs(tab[i]!));
    worst = Math.max(worst, m * Kp);
  }
  const limit = design.signed ? 2 ** (design.psumBits - 1) - 1 : 2 ** design.psumBits - 1;
  if (worst > limit)
    throw new UserError(
      `design ${design.name} cannot hold layer '${l.name}': worst-case partial sum ${worst} (K=${l.K}) exceeds the ${design.psumBits}-bit psum`,
    );
  // Control variate: the correction stage reads the activation sum V as a two's-complement word.
  const vWorst = l.K * (design.signed ? 128 : 255);
  if (design.controlVariate && vWorst > 2 ** (cvVBits(design) - 1) - 1)
    throw new UserError(
      `design ${design.name} cannot hold layer '${l.name}': its worst-case activation sum ${vWorst} (K=${l.K}) exceeds the correction stage's signed ${cvVBits(design)}-bit V`,
    );
}
