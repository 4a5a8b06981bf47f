import type { Design } from '../generators/array/config.ts';
import type { Mat8 } from '../generators/array/model.ts';
import { foldPlan } from '../generators/array/schedule.ts';
import { productTable } from '../generators/multipliers/index.ts';
import type { GemmOperands } from '../nn/gemm.ts';
import type { QConvLayer } from '../nn/qmodel.ts';

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

/**
 * Per column: what the zero-code padding rows of the last K fold add (cell(0,0) of the padded
 * PE rows). Zero for exact cells; an approximate cell with cell(0,0) != 0 would otherwise bias
 * every output. The host removes it, exactly, like the zero-point terms.
 */
export function padBias(design: Design, tile: number, mode: number, K: number, N: number): Int32Array {
  const t = design.tiles[tile]!;
  const Kp = foldPlan(t, K, N).kFolds * t.rows;
  const out = new Int32Array(t.cols);
  for (let c = 0; c < t.cols; c++) for (let k = K; k < Kp; k++) out[c]! += productTable(t.cells[mode]![k % t.rows]![c]!)[0]!;
  return out;
}

/** Array psum words -> the engine's accumulator layout, sign-decoded and pad-corrected. */
export function toAccumulator(design: Design, raw: Uint32Array, P: number, N: number, pad: Int32Array): Int32Array {
  const acc = new Int32Array(N * P);
  const w = design.psumBits;
  const half = 2 ** (w - 1);
  const full = 2 ** w;
  const C = pad.length;
  for (let p = 0; p < P; p++) {
    const src = p * N;
    for (let o = 0; o < N; o++) {
      let v = raw[src + o]!;
      if (design.signed && v >= half) v -= full;
      acc[o * P + p] = v - pad[o % C]!;
    }
  }
  return acc;
}
