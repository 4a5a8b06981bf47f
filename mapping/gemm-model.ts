import type { Design } from '../generators/array/config.ts';
import { productTable } from '../generators/multipliers/index.ts';
import { foldOrder, foldPlan, type GemmOut, type Mat8 } from './gemm.ts';

export interface GemmOptions {
  tile?: number;
  mode?: number;
}

/**
 * Bit-exact model of a GEMM on the array, fold by fold in the order of mapping/gemm.ts: every
 * product through the SAME cell's product table at the PE the fold puts it on (row k - k0,
 * column n - n0); rows past K carry zero codes (a padded PE still computes cell(0, 0), exactly
 * like the RTL); the first K-fold of an output writes the accumulator, later ones add; every
 * sum wraps at psumBits like the column adders and the accumulator.
 */
export function gemmModel(design: Design, A: Mat8, W: Mat8, opts: GemmOptions = {}): GemmOut {
  if (A.cols !== W.rows) throw new Error(`gemm: A is ${A.rows}x${A.cols} but W is ${W.rows}x${W.cols}`);
  const tile = opts.tile ?? 0;
  const mode = opts.mode ?? 0;
  const plan = foldPlan(design, tile, A.rows, A.cols, W.cols);
  const cells = design.tiles[tile]!.cells[mode];
  if (!cells) throw new Error(`gemm: no mode ${mode}`);
  const { R, C, K, N } = plan;
  const tables = cells.map((row) => row.map((id) => productTable(id)));
  const mod = 2 ** design.psumBits;
  const raw = new Uint32Array(A.rows * N);
  const col = new Array<Int32Array>(R);
  const wCode = new Uint8Array(R);
  for (const f of foldOrder(plan)) {
    const live = Math.min(C, N - f.n0);
    for (let c = 0; c < live; c++) {
      const n = f.n0 + c;
      for (let r = 0; r < R; r++) {
        col[r] = tables[r]![c]!;
        const k = f.k0 + r;
        wCode[r] = k < K ? W.data[k * N + n]! : 0;
      }
      for (let m = f.m0; m < f.m0 + f.rows; m++) {
        let acc = f.kIndex === 0 ? 0 : raw[m * N + n]!;
        const aBase = m * K + f.k0;
        for (let r = 0; r < R; r++) {
          const a = f.k0 + r < K ? A.data[aBase + r]! : 0;
          acc += col[r]![(a << 8) | wCode[r]!]!;
        }
        raw[m * N + n] = ((acc % mod) + mod) % mod;
      }
    }
  }
  return { rows: A.rows, cols: N, raw };
}
