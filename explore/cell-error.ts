import { productTable } from '../generators/multipliers/index.ts';
import type { QConvLayer, QuantModel } from '../nn/qmodel.ts';

/**
 * The error a cell adds to one layer's accumulators, on that layer's own operands.
 *
 * With e(a, b) = cell(a, b) - exact(a, b) on raw codes (docs/conventions.md, Truth table), the
 * accumulator of output channel c at one output position is sum_k e(a_k, b_k): the weights b_k
 * are the channel's fixed codes, the activations a_k vary with the image and position. Drawing
 * every a_k from the layer's activation-code histogram p(a) (independently across k):
 *   mean_c     = sum_k m(b_k),  m(b) = sum_a p(a) e(a, b)
 *   variance_c = sum_k v(b_k),  v(b) = sum_a p(a) e(a, b)^2 - m(b)^2
 * i.e. the channel's weight histogram x the activation histogram, times the fan-in K. The real
 * error at the layer's pre-activation output is `scale[c]` x that (inputScale x weightScale[c]):
 * the zero-point correction terms are exact (nn/gemm.ts), only the code product goes through the LUT.
 */
export interface ChannelErrorStats {
  /** Per output channel, accumulator units. */
  mean: Float64Array;
  variance: Float64Array;
  /**
   * The same split by the activation: the zero-point code (ReLU zeros, padding; cells are usually
   * exact there) and the active codes, as if all K activations were of that kind. An output whose
   * window holds a share f of active codes gets mean f x activeMean + (1 - f) x zeroMean and
   * variance f x activeVariance: the noise estimate puts the error where the inputs are.
   */
  zeroMean: Float64Array;
  activeMean: Float64Array;
  activeVariance: Float64Array;
  /** Per output channel: real value of one accumulator unit. */
  scale: Float64Array;
}

/** m(b) and v(b) for every weight code b under activation histogram `aHist` (any non-negative counts). */
export function weightCodeMoments(cell: string, exact: string, aHist: ArrayLike<number>): { m: Float64Array; v: Float64Array } {
  const t = productTable(cell);
  const x = productTable(exact);
  let total = 0;
  for (let a = 0; a < 256; a++) total += aHist[a]!;
  const m = new Float64Array(256);
  const v = new Float64Array(256);
  if (total <= 0) return { m, v };
  for (let a = 0; a < 256; a++) {
    const p = aHist[a]! / total;
    if (p === 0) continue;
    const row = a << 8;
    for (let b = 0; b < 256; b++) {
      const e = t[row | b]! - x[row | b]!;
      m[b] = m[b]! + p * e;
      v[b] = v[b]! + p * e * e;
    }
  }
  for (let b = 0; b < 256; b++) v[b] = Math.max(0, v[b]! - m[b]! * m[b]!);
  return { m, v };
}

export function layerErrorStats(q: QuantModel, l: QConvLayer, cell: string, exact: string, aHist: ArrayLike<number>): ChannelErrorStats {
  const zp = q.tensors[l.input]!.zeroPoint & 0xff;
  const all = weightCodeMoments(cell, exact, aHist);
  const zero = weightCodeMoments(
    cell,
    exact,
    Array.from({ length: 256 }, (_, a) => (a === zp ? 1 : 0)),
  );
  const active = weightCodeMoments(
    cell,
    exact,
    Array.from({ length: 256 }, (_, a) => (a === zp ? 0 : aHist[a]!)),
  );
  const sums = (t: Float64Array) => {
    const out = new Float64Array(l.oc);
    for (let c = 0; c < l.oc; c++) {
      let x = 0;
      for (let k = 0; k < l.K; k++) x += t[l.weights[c * l.K + k]! & 0xff]!;
      out[c] = x;
    }
    return out;
  };
  const inScale = q.tensors[l.input]!.scale;
  return {
    mean: sums(all.m),
    variance: sums(all.v),
    zeroMean: sums(zero.m),
    activeMean: sums(active.m),
    activeVariance: sums(active.v),
    scale: Float64Array.from(l.weightScale, (w) => inScale * w),
  };
}
