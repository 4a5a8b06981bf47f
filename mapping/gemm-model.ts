import { cvVBits, type Design } from '../generators/array/config.ts';
import { productTable } from '../generators/multipliers/index.ts';
import { correctionTerm } from '../nn/cv.ts';
import { checkCvRows, checkTags, foldOrder, foldPlan, type GemmCv, type GemmOut, type Mat8 } from './gemm.ts';

export interface GemmOptions {
  tile?: number;
  mode?: number;
  /** Control-variate correction (designs with the hardware only). */
  cv?: GemmCv;
  /** Cell-select tag of every weight, K x N (designs with a cell set; default all tag 0). */
  tags?: Mat8;
}

/**
 * Bit-exact model of a GEMM on the array, fold by fold in the order of mapping/gemm.ts: every
 * product through the SAME cell's product table at the PE the fold puts it on (row k - k0,
 * column n - n0); rows past K carry zero codes (a padded PE still computes cell(0, 0), exactly
 * like the RTL; with a cell set, each weight's tag picks its cell, padding weights tag 0); the first K-fold of an output writes the accumulator, later ones add; every
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
  checkTags(design, plan.K, plan.N, opts.tags);
  // Tagged designs: the weight's tag picks the cell of the set that multiplies it.
  const setTables = opts.tags ? design.tags!.cells.map((id) => productTable(id)) : undefined;
  const tagData = opts.tags?.data;
  const mod = 2 ** design.psumBits;
  const raw = new Uint32Array(A.rows * N);
  const col = new Array<Int32Array>(R);
  const wCode = new Uint8Array(R);
  for (const f of foldOrder(plan)) {
    const live = Math.min(C, N - f.n0);
    for (let c = 0; c < live; c++) {
      const n = f.n0 + c;
      for (let r = 0; r < R; r++) {
        const k = f.k0 + r;
        wCode[r] = k < K ? W.data[k * N + n]! : 0;
        col[r] = setTables ? setTables[k < K ? tagData![k * N + n]! : 0]! : tables[r]![c]!;
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
  if (opts.cv) addCvCorrection(design, plan, A, raw, opts.cv);
  return { rows: A.rows, cols: N, raw };
}

/**
 * The correction stage after the accumulators (templates/array/cv.sv): V is the activation-sum
 * lane (values; its low cvVBits bits read as two's complement), every word gets
 * correctionTerm(coef[n], V, q) added mod 2^psumBits.
 */
function addCvCorrection(design: Design, plan: ReturnType<typeof foldPlan>, A: Mat8, raw: Uint32Array, cv: GemmCv): void {
  if (!design.controlVariate) throw new Error(`gemm: design ${design.name} has no control-variate hardware`);
  checkCvRows(design, plan);
  const { K, N } = plan;
  const mod = 2 ** design.psumBits;
  for (let m = 0; m < A.rows; m++) {
    let v = 0;
    for (let k = 0; k < K; k++) {
      const c = A.data[m * K + k]!;
      v += design.signed ? (c << 24) >> 24 : c;
    }
    // The lane wraps at psumBits; the stage reads its low cvVBits bits as two's complement.
    const vm = 2 ** cvVBits(design);
    v = ((v % vm) + vm) % vm;
    if (v >= vm / 2) v -= vm;
    for (let n = 0; n < N; n++) raw[m * N + n] = (((raw[m * N + n]! + correctionTerm(cv.coef[n]!, v, cv.q)) % mod) + mod) % mod;
  }
}
