import { type ConvLayer, type FloatGraph, size } from '../nn/graph.ts';
import { backward, forwardAll, targetSeed } from './xai.ts';

/**
 * Kernel-level split of the XAI scores (explore/criticality.ts splits a layer's score over its
 * filters by |gradient x activation|): within filter f, input channel ic's share is
 *   v[f][ic] = sum over images and output positions of |dF/dz_f(p) * y_{f,ic}(p)|,
 * where y_{f,ic} is the part of the pre-activation z_f that kernel (f, ic) computes (the filter's
 * weights on input channel ic over its window) and dF/dz_f the gradient through the fused ReLU.
 * A kernel whose partial sum moves the target logit more is where a multiplier error costs more.
 * Returns, per layer, share[f][ic] (each filter's row sums to 1).
 */
export function kernelSplits(g: FloatGraph, inputs: Float32Array, targets: ArrayLike<number>, count: number, chunk = 32): Record<string, number[][]> {
  const convs = g.layers.filter((l): l is ConvLayer => l.op === 'conv');
  const inSize = size(g.inputShape);
  const classes = size(g.shapes[g.output]!);
  const sums = new Map(convs.map((l) => [l.name, new Float64Array(l.oc * l.ic)]));
  for (let s = 0; s < count; s += chunk) {
    const n = Math.min(chunk, count - s);
    const acts = forwardAll(g, inputs.subarray(s * inSize, (s + n) * inSize), n);
    const seed = targetSeed(
      n,
      classes,
      Array.from({ length: n }, (_, i) => targets[s + i]!),
    );
    const grads = backward(g, acts, n, seed);
    for (const l of convs) addKernelTerms(g, l, acts.get(l.input)!, acts.get(l.output)!, grads.get(l.output)!, n, sums.get(l.name)!);
  }
  const out: Record<string, number[][]> = {};
  for (const l of convs) {
    const v = sums.get(l.name)!;
    out[l.name] = Array.from({ length: l.oc }, (_, f) => {
      const row = Array.from(v.subarray(f * l.ic, (f + 1) * l.ic));
      const tot = row.reduce((a, b) => a + b, 0);
      return row.map((x) => (tot > 0 ? x / tot : 1 / l.ic));
    });
  }
  return out;
}

function addKernelTerms(g: FloatGraph, l: ConvLayer, x: Float32Array, out: Float32Array, gOut: Float32Array, n: number, acc: Float64Array): void {
  const s = g.shapes[l.input]!;
  const o = g.shapes[l.output]!;
  const P = o.h * o.w;
  const khw = l.kh * l.kw;
  const K = l.ic * khw;
  const y = new Float64Array(P);
  for (let b = 0; b < n; b++) {
    const xb = b * size(s);
    const ob = b * size(o);
    for (let f = 0; f < l.oc; f++) {
      for (let ic = 0; ic < l.ic; ic++) {
        y.fill(0);
        for (let ky = 0; ky < l.kh; ky++)
          for (let kx = 0; kx < l.kw; kx++) {
            const w = l.weight[f * K + ic * khw + ky * l.kw + kx]!;
            if (w === 0) continue;
            for (let oy = 0; oy < o.h; oy++) {
              const iy = oy * l.stride[0] - l.pads[0] + ky;
              if (iy < 0 || iy >= s.h) continue;
              for (let ox = 0; ox < o.w; ox++) {
                const ix = ox * l.stride[1] - l.pads[1] + kx;
                if (ix < 0 || ix >= s.w) continue;
                y[oy * o.w + ox] = y[oy * o.w + ox]! + w * x[xb + (ic * s.h + iy) * s.w + ix]!;
              }
            }
          }
        let v = 0;
        for (let p = 0; p < P; p++) {
          const i = ob + f * P + p;
          // Gradient at the pre-activation: zero where the fused ReLU clamped the output.
          const d = l.relu && !(out[i]! > 0) ? 0 : gOut[i]!;
          v += Math.abs(d * y[p]!);
        }
        acc[f * l.ic + ic] = acc[f * l.ic + ic]! + v;
      }
    }
  }
}
