import { productTable } from '../multipliers/index.ts';
import type { Design } from './config.ts';
import { foldPlan } from './schedule.ts';

/** An 8-bit operand matrix of raw codes (two's complement codes for signed cells), row-major. */
export interface Mat8 {
  rows: number;
  cols: number;
  data: Uint8Array;
}

/** GEMM result: raw psum-width words (what the RTL emits) and their decoded values. */
export interface GemmOut {
  rows: number;
  cols: number;
  /** psumBits-wide two's complement (signed cells) or unsigned words. */
  raw: Uint32Array;
}

export interface GemmOptions {
  tile?: number;
  mode?: number;
}

/**
 * Bit-exact model of the array: every product through the SAME cell's product table at the PE
 * the schedule puts it on (row k mod R, column n mod C), K padded with zero codes to whole folds
 * (a padded PE still computes cell(0, 0), exactly like the RTL), sums wrapped at psumBits.
 */
export function gemmModel(design: Design, A: Mat8, W: Mat8, opts: GemmOptions = {}): GemmOut {
  if (A.cols !== W.rows) throw new Error(`gemm: A is ${A.rows}x${A.cols} but W is ${W.rows}x${W.cols}`);
  const t = design.tiles[opts.tile ?? 0];
  if (!t) throw new Error(`gemm: no tile ${opts.tile}`);
  const mode = opts.mode ?? 0;
  const cells = t.cells[mode];
  if (!cells) throw new Error(`gemm: no mode ${mode}`);
  const M = A.rows;
  const K = A.cols;
  const N = W.cols;
  const R = t.rows;
  const C = t.cols;
  const Kp = foldPlan(t, K, N).kFolds * R;
  const tables = cells.map((row) => row.map((id) => productTable(id)));
  const mod = 2 ** design.psumBits;
  const raw = new Uint32Array(M * N);
  for (let n = 0; n < N; n++) {
    const c = n % C;
    const colTables = tables.map((row) => row[c]!);
    // Padding rows contribute cell(0,0) per PE row.
    let pad = 0;
    for (let k = K; k < Kp; k++) pad += colTables[k % R]![0]!;
    for (let m = 0; m < M; m++) {
      let acc = pad;
      const aBase = m * K;
      for (let k = 0; k < K; k++) acc += colTables[k % R]![(A.data[aBase + k]! << 8) | W.data[k * N + n]!]!;
      raw[m * N + n] = ((acc % mod) + mod) % mod;
    }
  }
  return { rows: M, cols: N, raw };
}

/** Decode raw psum words to numbers (sign-extended for signed designs). */
export function decode(design: Design, raw: Uint32Array): Float64Array {
  const w = design.psumBits;
  const out = new Float64Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i]!;
    out[i] = design.signed && v >= 2 ** (w - 1) ? v - 2 ** w : v;
  }
  return out;
}
