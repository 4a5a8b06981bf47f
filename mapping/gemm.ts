import { UserError } from '../core/errors.ts';
import type { Design, TileSpec } from '../generators/array/config.ts';
import { REG, type RegWrite } from '../generators/array/regmap.ts';
import { productTable } from '../generators/multipliers/index.ts';
import type { GemmOperands } from '../nn/gemm.ts';
import type { LayerErrors } from '../nn/inject.ts';
import type { QConvLayer } from '../nn/qmodel.ts';
import { wrapUnsigned } from '../synth/vos-model.ts';

/**
 * How one GEMM (A: M x K activations, W: K x N weights) sits on one tile of R rows x C columns.
 * The ONE definition: the bit-exact model, the cycle model, the harness client and the flow all
 * read the fold order, padding, psum decode and output placement from here.
 *
 *   fold       one weight tile: R weight rows (K-slice k0..k0+R-1) x C columns (N-slice
 *              n0..n0+C-1), zero padded past K and N, with the activation rows m0..m0+rows-1
 *              streamed through it (columns k0..k0+R-1 of A, zero past K).
 *   order      M-block outermost, then N-folds, then K-folds (innermost), so the K-folds of one
 *              output tile run back to back into the tile's accumulator.
 *   M-blocks   the accumulator holds `accEntries` rows; a GEMM with several K-folds streams at
 *              most that many rows per fold. A single K-fold needs no accumulator memory (its
 *              result leaves as it arrives). Every M-block's activations (rows x kFolds words
 *              of R bytes) are loaded into one half of the activation buffer while the other
 *              half streams (docs/memory.md), so a block also holds at most half the buffer.
 *   buffer     block b sits in activation-buffer half b mod 2; K-fold j of row m0+i at word
 *              ubHalf x (b mod 2) + j x rows + i (`ubBase` of a fold + its row index).
 */

/** An 8-bit operand matrix of raw codes (two's complement codes for signed cells), row-major. */
export interface Mat8 {
  rows: number;
  cols: number;
  data: Uint8Array;
}

/** GEMM result: raw psum-width words, what the RTL emits (decode with decodePsum). */
export interface GemmOut {
  rows: number;
  cols: number;
  /** psumBits-wide two's complement (signed cells) or unsigned words. */
  raw: Uint32Array;
}

export interface FoldPlan {
  M: number;
  K: number;
  N: number;
  /** Tile rows R and columns C. */
  R: number;
  C: number;
  kFolds: number;
  nFolds: number;
  mBlocks: number;
  /** Activation rows per M-block (the last block may have fewer). */
  blockRows: number;
  /** mBlocks x nFolds x kFolds. */
  folds: number;
  /** K padded with zero codes to whole K-folds. */
  paddedK: number;
  /** Words of one activation-buffer half (block b's words start at ubHalf x (b mod 2)). */
  ubHalf: number;
}

export interface Fold {
  /** Position in the fold order. */
  index: number;
  /** Activation rows m0..m0+rows-1 (one M-block). */
  m0: number;
  rows: number;
  /** K-slice k0..k0+R-1 (zero past K) and N-slice n0..n0+C-1 (zero past N). */
  k0: number;
  n0: number;
  /** Which K-fold of this output tile (0 = first: the accumulator writes; kFolds-1 = last: it emits). */
  kIndex: number;
  kFolds: number;
  /** M-block index, and whether this fold is the block's last (it frees the block's buffer half). */
  block: number;
  blockLast: boolean;
  /** Activation-buffer word of this fold's first row (its rows are consecutive words). */
  ubBase: number;
}

function tileOf(design: Design, tile: number): TileSpec {
  const t = design.tiles[tile];
  if (!t) throw new Error(`tile ${tile} out of range (design ${design.name} has ${design.tiles.length})`);
  return t;
}

/** K padded with zero codes to whole folds of R rows. */
export function paddedK(t: Pick<TileSpec, 'rows'>, K: number): number {
  return Math.ceil(K / t.rows) * t.rows;
}

export function foldPlan(design: Design, tile: number, M: number, K: number, N: number): FoldPlan {
  if (!(M >= 1 && K >= 1 && N >= 1)) throw new Error(`GEMM shape must be >= 1 each (got M=${M}, K=${K}, N=${N})`);
  const t = tileOf(design, tile);
  const R = t.rows;
  const C = t.cols;
  const kFolds = Math.ceil(K / R);
  const nFolds = Math.ceil(N / C);
  const ubRows = Math.floor(ubHalfWords(design) / kFolds);
  if (ubRows < 1)
    throw new UserError(
      `a GEMM with K=${K} needs ${kFolds} activation-buffer words per row, but half of the ${design.memory.ubKiB} KiB buffer holds ${ubHalfWords(design)}; use a larger --ub-kib`,
    );
  const blockRows = Math.min(M, ubRows, kFolds > 1 ? design.accEntries : M);
  const mBlocks = Math.ceil(M / blockRows);
  return { M, K, N, R, C, kFolds, nFolds, mBlocks, blockRows, folds: mBlocks * nFolds * kFolds, paddedK: kFolds * R, ubHalf: ubHalfWords(design) };
}

/** Words of one activation-buffer half (the buffer is double-buffered by M-block). */
export function ubHalfWords(design: Pick<Design, 'memory'>): number {
  return Math.floor(design.memory.ubWords / 2);
}

/** Rows of M-block b. */
export function blockRowCount(plan: FoldPlan, b: number): number {
  return Math.min(plan.blockRows, plan.M - b * plan.blockRows);
}

/** Every fold in the order the array runs them. */
export function foldOrder(plan: FoldPlan): Fold[] {
  const out: Fold[] = [];
  const half = plan.ubHalf;
  for (let b = 0; b < plan.mBlocks; b++) {
    const m0 = b * plan.blockRows;
    const rows = blockRowCount(plan, b);
    for (let nf = 0; nf < plan.nFolds; nf++)
      for (let kf = 0; kf < plan.kFolds; kf++)
        out.push({
          index: out.length,
          m0,
          rows,
          k0: kf * plan.R,
          n0: nf * plan.C,
          kIndex: kf,
          kFolds: plan.kFolds,
          block: b,
          blockLast: nf === plan.nFolds - 1 && kf === plan.kFolds - 1,
          ubBase: (b % 2) * half + kf * rows,
        });
  }
  return out;
}

/**
 * What the host writes into the activation buffer, in order: per M-block, per K-fold j, the
 * block's rows of A's columns jR..jR+R-1 (zero past K) as consecutive words, so K-fold j of row
 * m0+i lands at word ubHalf x (b mod 2) + j x rows + i (a fold's `ubBase` + i). `last` marks a
 * block's final slice: its last word marks the buffer half loaded.
 */
export interface BufferLoad {
  m0: number;
  rows: number;
  k0: number;
  last: boolean;
}

export function bufferLoadOrder(plan: FoldPlan): BufferLoad[] {
  const out: BufferLoad[] = [];
  for (let b = 0; b < plan.mBlocks; b++) {
    const rows = blockRowCount(plan, b);
    for (let j = 0; j < plan.kFolds; j++) out.push({ m0: b * plan.blockRows, rows, k0: j * plan.R, last: j === plan.kFolds - 1 });
  }
  return out;
}

/** Largest K-fold count the K-fold register can hold (it stores kFolds - 1). */
export const MAX_K_FOLDS = 2 ** REG.kFoldLast.width;

/**
 * A GEMM's control-variate correction on a design with the hardware (docs/cv.md): the fractional
 * bits q and one two's-complement coefficient per filter n < N (nn/cv.ts computes them).
 */
export interface GemmCv {
  q: number;
  coef: ArrayLike<number>;
}

/** Coefficient rows a GEMM needs (one per N-fold), checked against the design's. */
export function checkCvRows(design: Design, plan: Pick<FoldPlan, 'N' | 'C' | 'nFolds'>): void {
  const rows = design.controlVariate?.folds ?? 0;
  if (plan.nFolds > rows)
    throw new UserError(
      `a GEMM with N=${plan.N} filters on ${plan.C} columns needs ${plan.nFolds} control-variate coefficient rows; the design holds ${rows} (gen --cv-folds)`,
    );
}

/** Configuration-register writes that set the tile up for this GEMM (see generators/array/regmap.ts). */
export function gemmRegisterWrites(
  design: Design,
  plan: FoldPlan,
  o: { tile: number; mode: number; levels?: number[]; nDomains: number; cv?: GemmCv },
): RegWrite[] {
  if (plan.kFolds > MAX_K_FOLDS) throw new Error(`GEMM needs ${plan.kFolds} K-folds; the K-fold register holds at most ${MAX_K_FOLDS}`);
  const w: RegWrite[] = [];
  if (design.modes > 1) w.push({ addr: REG.mode.addr, data: o.mode });
  if (design.tiles.length > 1) w.push({ addr: REG.tile.addr, data: o.tile });
  w.push({ addr: REG.kFoldLast.addr, data: plan.kFolds - 1 });
  // Clock gating: with N < C every fold's columns N..C-1 hold padding weights (placeOutputs drops them).
  if (design.clockGating && plan.N < plan.C) w.push({ addr: REG.colGateFrom.addr, data: plan.N });
  for (let d = 0; d < o.nDomains; d++) w.push({ addr: REG.domainLevel.addr + d, data: o.levels?.[d] ?? 0 });
  if (design.controlVariate) {
    // Every coefficient row the GEMM uses is written (zeros without compensation): the
    // coefficient registers have no reset, and a zero coefficient adds exactly 0.
    checkCvRows(design, plan);
    const mask = 2 ** REG.cvCoefData.width - 1;
    w.push({ addr: REG.cvQ.addr, data: o.cv?.q ?? 0 });
    w.push({ addr: REG.cvNFoldLast.addr, data: plan.nFolds - 1 });
    w.push({ addr: REG.cvCoefAddr.addr, data: 0 });
    for (let n = 0; n < plan.nFolds * plan.C; n++) w.push({ addr: REG.cvCoefData.addr, data: o.cv && n < plan.N ? o.cv.coef[n]! & mask : 0 });
  } else if (o.cv) throw new Error(`gemm: design ${design.name} has no control-variate hardware`);
  return w;
}

/** Every fold's R weight rows of C codes (row k0+r, columns n0..n0+C-1, zero past K and N), in fold order. */
export function weightStream(plan: FoldPlan, folds: Fold[], W: Mat8): Uint8Array {
  const { R, C, K, N } = plan;
  const out = new Uint8Array(folds.length * R * C);
  folds.forEach((f, i) => {
    const live = Math.min(C, N - f.n0);
    for (let r = 0; r < R; r++) {
      const k = f.k0 + r;
      if (k >= K) break;
      out.set(W.data.subarray(k * N + f.n0, k * N + f.n0 + live), (i * R + r) * C);
    }
  });
  return out;
}

/**
 * Per-weight cell-select tags (designs with a cell set, docs/array.md "Cell set"): a K x N matrix
 * of tag codes beside W (tag i = design.tags.cells[i]). They stream exactly like the weights
 * (`weightStream(plan, folds, tags)`): padding weights carry tag 0. Checked here, once, for the
 * model and the harness client alike.
 */
export function checkTags(design: Design, K: number, N: number, tags: Mat8 | undefined): void {
  if (!tags) return;
  if (!design.tags) throw new UserError(`design ${design.name} has no cell-select tag bits (gen --cell-set); a per-weight cell assignment needs them`);
  if (tags.rows !== K || tags.cols !== N || tags.data.length !== K * N) throw new Error(`gemm: tags are ${tags.rows}x${tags.cols}, W is ${K}x${N}`);
  const n = design.tags.cells.length;
  for (let i = 0; i < tags.data.length; i++) if (tags.data[i]! >= n) throw new Error(`gemm: tag ${tags.data[i]} at weight ${i}; the cell set has ${n} cells`);
}

/** Output rows the tile emits: one per activation row of every last K-fold. */
export function outputRowCount(folds: Fold[]): number {
  let n = 0;
  for (const f of folds) if (f.kIndex === f.kFolds - 1) n += f.rows;
  return n;
}

/**
 * Drawn timing errors (nn/inject.ts `drawLayerErrors`: per wrong PE operation its GEMM row m,
 * column n, K-fold and error) as the harness adds them: one (result row, tile column, psum word)
 * triple per column result that is wrong, where result rows are numbered in the order the tile's
 * accumulators take them (every fold's rows in fold order) and the word is the K-fold's error sum
 * wrapped at psumBits. Sorted by (row, column).
 */
export function psumErrorWords(design: Pick<Design, 'psumBits'>, plan: FoldPlan, folds: Fold[], errs: LayerErrors): Uint32Array {
  const first: number[] = [];
  let rows = 0;
  for (const f of folds) {
    first.push(rows);
    rows += f.rows;
  }
  const sums = new Map<number, number>();
  for (let i = 0; i < errs.e.length; i++) {
    const m = errs.m[i]!;
    const n = errs.n[i]!;
    const kf = errs.kFold[i]!;
    if (!(m >= 0 && m < plan.M && n >= 0 && n < plan.N && kf >= 0 && kf < plan.kFolds))
      throw new Error(`psum error at (m=${m}, n=${n}, K-fold ${kf}) outside the GEMM`);
    const b = Math.floor(m / plan.blockRows);
    const nf = Math.floor(n / plan.C);
    const f = folds[(b * plan.nFolds + nf) * plan.kFolds + kf]!;
    const key = (first[f.index]! + m - f.m0) * plan.C + (n - f.n0);
    sums.set(key, (sums.get(key) ?? 0) + errs.e[i]!);
  }
  const keys = [...sums.keys()].sort((x, y) => x - y);
  const out = new Uint32Array(keys.length * 3);
  keys.forEach((key, i) => {
    out[i * 3] = Math.floor(key / plan.C);
    out[i * 3 + 1] = key % plan.C;
    out[i * 3 + 2] = wrapUnsigned(sums.get(key)!, design.psumBits);
  });
  return out;
}

/**
 * Place the tile's output rows (C words each, in the order it emitted them: the rows of every
 * last K-fold) into the M x N result.
 */
export function placeOutputs(plan: FoldPlan, folds: Fold[], rowsOut: Uint32Array): GemmOut {
  const { M, N, C } = plan;
  if (rowsOut.length !== outputRowCount(folds) * C) throw new Error(`placeOutputs: ${rowsOut.length} words, expected ${outputRowCount(folds) * C}`);
  const raw = new Uint32Array(M * N);
  let src = 0;
  for (const f of folds) {
    if (f.kIndex !== f.kFolds - 1) continue;
    const live = Math.min(C, N - f.n0);
    for (let m = f.m0; m < f.m0 + f.rows; m++, src += C) raw.set(rowsOut.subarray(src, src + live), m * N + f.n0);
  }
  return { rows: M, cols: N, raw };
}

/**
 * Per column: what the zero-code padding rows of the last K-fold add (cell(0,0) of every padded
 * PE row). Zero for exact cells; an approximate cell with cell(0,0) != 0 would otherwise bias
 * every output. The host removes it, exactly, like the zero-point terms.
 */
export function padBias(design: Design, tile: number, mode: number, K: number, N: number): Int32Array {
  const t = tileOf(design, tile);
  const Kp = foldPlan(design, tile, 1, K, N).paddedK;
  const out = new Int32Array(t.cols);
  for (let c = 0; c < t.cols; c++) for (let k = K; k < Kp; k++) out[c]! += productTable(t.cells[mode]![k % t.rows]![c]!)[0]!;
  return out;
}

/** One psum word -> its value (two's complement for signed designs). */
export function decodePsum(design: Pick<Design, 'psumBits' | 'signed'>, word: number): number {
  return design.signed && word >= 2 ** (design.psumBits - 1) ? word - 2 ** design.psumBits : word;
}

export function decodePsums(design: Pick<Design, 'psumBits' | 'signed'>, raw: Uint32Array): Float64Array {
  const out = new Float64Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = decodePsum(design, raw[i]!);
  return out;
}

/**
 * Between the engine's im2col layout and the array's GEMM ports:
 *   engine  a[k * P + p]   (K x P codes),  weights[o * K + k] (values; code = value & 0xff)
 *   array   A[m * K + k]   (M = P rows),   W[k * N + n] (N = oc), out[m * N + n] psum words
 *   engine  acc[o * P + p] (int32, what gemmLut returns and finishLayer consumes)
 */
export function activationMatrix(g: GemmOperands): Mat8 {
  const { K, P, a } = g;
  const data = new Uint8Array(P * K);
  // Blocked transpose: 64 columns at a time keep both sides in cache.
  for (let p0 = 0; p0 < P; p0 += 64) {
    const p1 = Math.min(P, p0 + 64);
    for (let k = 0; k < K; k++) {
      const row = k * P;
      for (let p = p0; p < p1; p++) data[p * K + k] = a[row + p]!;
    }
  }
  return { rows: P, cols: K, data };
}

export function weightMatrix(l: QConvLayer): Mat8 {
  const { K, oc } = l;
  const data = new Uint8Array(K * oc);
  for (let o = 0; o < oc; o++) for (let k = 0; k < K; k++) data[k * oc + o] = l.weights[o * K + k]! & 0xff;
  return { rows: K, cols: oc, data };
}

/** Array psum words -> the engine's accumulator layout, decoded and pad-corrected. */
export function toAccumulator(design: Design, raw: Uint32Array, P: number, N: number, pad: Int32Array): Int32Array {
  const acc = new Int32Array(N * P);
  const C = pad.length;
  for (let p = 0; p < P; p++) {
    const src = p * N;
    for (let o = 0; o < N; o++) acc[o * P + p] = decodePsum(design, raw[src + o]!) - pad[o % C]!;
  }
  return acc;
}
