import { type ConvLayer, type FloatGraph, size } from '../nn/graph.ts';
import { backward, forwardAll } from './xai.ts';

/**
 * Output sensitivity of every conv/dense layer for the error-aware estimators
 * (explore/error-criticality.ts): gradients of the cross-entropy loss L (not a logit, as the XAI
 * scores use) with respect to each layer's PRE-activation output z, where the multiplier error
 * enters. Per layer, per output channel c (P output positions), over N images:
 *   sum[b][c]   = sum_p dL/dz_{b,c,p}           (per image: the bias term's coherent sum)
 *   square[c]   = mean_b sum_p (dL/dz_{b,c,p})^2 (the Fisher diagonal, summed over positions)
 */
export interface LayerGradients {
  layer: string;
  oc: number;
  images: number;
  /** images x oc, row-major. */
  sum: Float64Array;
  square: Float64Array;
}

/** softmax(logits) - onehot(target): dL/dlogits of the cross-entropy, per image. */
export function crossEntropySeed(logits: Float32Array, batch: number, classes: number, targets: ArrayLike<number>): Float32Array {
  const d = new Float32Array(batch * classes);
  for (let b = 0; b < batch; b++) {
    let mx = -Infinity;
    for (let i = 0; i < classes; i++) mx = Math.max(mx, logits[b * classes + i]!);
    let s = 0;
    for (let i = 0; i < classes; i++) s += Math.exp(logits[b * classes + i]! - mx);
    for (let i = 0; i < classes; i++) d[b * classes + i] = Math.exp(logits[b * classes + i]! - mx) / s - (i === targets[b] ? 1 : 0);
  }
  return d;
}

export function lossGradients(g: FloatGraph, inputs: Float32Array, targets: ArrayLike<number>, count: number, chunk = 32): LayerGradients[] {
  const convs = g.layers.filter((l): l is ConvLayer => l.op === 'conv');
  const inSize = size(g.inputShape);
  const classes = size(g.shapes[g.output]!);
  const out = convs.map((l) => ({ layer: l.name, oc: l.oc, images: count, sum: new Float64Array(count * l.oc), square: new Float64Array(l.oc) }));
  for (let s = 0; s < count; s += chunk) {
    const n = Math.min(chunk, count - s);
    const acts = forwardAll(g, inputs.subarray(s * inSize, (s + n) * inSize), n);
    const tg = Array.from({ length: n }, (_, i) => targets[s + i]!);
    const grads = backward(g, acts, n, crossEntropySeed(acts.get(g.output)!, n, classes, tg));
    convs.forEach((l, j) => {
      const y = acts.get(l.output)!;
      const d = grads.get(l.output) ?? new Float32Array(y.length);
      const per = size(g.shapes[l.output]!);
      const P = per / l.oc;
      const o = out[j]!;
      for (let b = 0; b < n; b++)
        for (let c = 0; c < l.oc; c++) {
          let sum = 0;
          let sq = 0;
          for (let p = 0; p < P; p++) {
            const i = b * per + c * P + p;
            // Through the fused ReLU: no gradient where the output was clamped.
            const gz = l.relu && !(y[i]! > 0) ? 0 : d[i]!;
            sum += gz;
            sq += gz * gz;
          }
          o.sum[(s + b) * l.oc + c] = sum;
          o.square[c] = o.square[c]! + sq / count;
        }
    });
  }
  return out;
}
