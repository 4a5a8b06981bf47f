import { runFloat } from '../nn/float.ts';
import { type ConvLayer, type FloatGraph, type Layer, type PoolLayer, size, windowBounds } from '../nn/graph.ts';

/**
 * Layer criticality for the XAI-guided search (the XAI-Gen idea), on the float model.
 *
 * Backward passes over our own supported op set (conv/dense with fused ReLU, max/avg pool, add,
 * relu, reshape); the forward pass is nn/float.ts's `runFloat`, so forward semantics live in one
 * place. Gradients are of F = the logit of each image's target class.
 *
 * Scores per conv/dense layer L with output tensor a_L (after its fused ReLU, i.e. the layer's
 * output; the multiplier error enters just before it):
 * - gradient x activation: mean over images of sum_i |a_i * dF/da_i|
 * - conductance (Dhamdhere et al.; integrated gradients through a layer): with the path
 *   x(t) = t x from a zero baseline in `steps` right-Riemann steps,
 *   cond_i = sum_k dF/da_i(x(t_k)) * (a_i(x(t_k)) - a_i(x(t_{k-1}))); score = mean over images of
 *   sum_i |cond_i|. (The plain sum over i telescopes to F(x) - F(0) for any layer every path goes
 *   through, so it cannot rank layers; the absolute sum can.)
 */
export type Tensors = Map<string, Float32Array>;

/** Forward pass keeping every tensor (per batch). */
export function forwardAll(g: FloatGraph, input: Float32Array, batch: number): Tensors {
  const acts: Tensors = new Map();
  runFloat(g, input, batch, (name, v) => acts.set(name, v));
  for (const l of g.layers) if (l.op === 'reshape') acts.set(l.output, acts.get(l.input)!);
  return acts;
}

function addInto(grads: Tensors, name: string, len: number): Float32Array {
  let t = grads.get(name);
  if (!t) {
    t = new Float32Array(len);
    grads.set(name, t);
  }
  return t;
}

/** Gradient at a layer output through its fused ReLU (zero where the output was clamped). */
function maskRelu(l: Layer, out: Float32Array, gOut: Float32Array): Float32Array {
  const fused = l.op === 'relu' || (l.op !== 'reshape' && 'relu' in l && l.relu);
  if (!fused) return gOut;
  const g = new Float32Array(gOut.length);
  for (let i = 0; i < g.length; i++) g[i] = out[i]! > 0 ? gOut[i]! : 0;
  return g;
}

/**
 * Reverse-mode pass. `dOut` is dF/d(output tensor) for the whole batch. Returns dF/d(tensor) for
 * every tensor (gradients w.r.t. each layer's output are taken BEFORE its fused ReLU mask is
 * applied going further back, i.e. w.r.t. the post-ReLU output itself).
 */
export function backward(g: FloatGraph, acts: Tensors, batch: number, dOut: Float32Array): Tensors {
  const grads: Tensors = new Map();
  grads.set(g.output, dOut.slice());
  for (let li = g.layers.length - 1; li >= 0; li--) {
    const l = g.layers[li]!;
    const gOut = grads.get(l.output);
    if (!gOut) continue;
    if (l.op === 'reshape') {
      const gi = addInto(grads, l.input, gOut.length);
      for (let i = 0; i < gOut.length; i++) gi[i] = gi[i]! + gOut[i]!;
      continue;
    }
    const gz = maskRelu(l, acts.get(l.output)!, gOut);
    if (l.op === 'relu') {
      const gi = addInto(grads, l.input, gz.length);
      for (let i = 0; i < gz.length; i++) gi[i] = gi[i]! + gz[i]!;
    } else if (l.op === 'add') {
      for (const name of l.inputs) {
        const gi = addInto(grads, name, gz.length);
        for (let i = 0; i < gz.length; i++) gi[i] = gi[i]! + gz[i]!;
      }
    } else if (l.op === 'conv') convBackward(g, l, gz, batch, addInto(grads, l.input, batch * size(g.shapes[l.input]!)));
    else poolBackward(g, l, acts.get(l.input)!, gz, batch, addInto(grads, l.input, batch * size(g.shapes[l.input]!)));
  }
  return grads;
}

function convBackward(g: FloatGraph, l: ConvLayer, gz: Float32Array, batch: number, gx: Float32Array): void {
  const s = g.shapes[l.input]!;
  const o = g.shapes[l.output]!;
  const P = o.h * o.w;
  const K = l.ic * l.kh * l.kw;
  const dcols = new Float64Array(K * P);
  for (let b = 0; b < batch; b++) {
    dcols.fill(0);
    const zb = b * size(o);
    for (let oc = 0; oc < l.oc; oc++)
      for (let k = 0; k < K; k++) {
        const w = l.weight[oc * K + k]!;
        if (w === 0) continue;
        const row = k * P;
        for (let p = 0; p < P; p++) dcols[row + p] = dcols[row + p]! + w * gz[zb + oc * P + p]!;
      }
    // col2im: scatter back to the input pixels each column entry read (padding reads nothing).
    const xb = b * size(s);
    let k = 0;
    for (let c = 0; c < l.ic; c++)
      for (let ky = 0; ky < l.kh; ky++)
        for (let kx = 0; kx < l.kw; kx++, k++)
          for (let oy = 0; oy < o.h; oy++) {
            const iy = oy * l.stride[0] - l.pads[0] + ky;
            if (iy < 0 || iy >= s.h) continue;
            for (let ox = 0; ox < o.w; ox++) {
              const ix = ox * l.stride[1] - l.pads[1] + kx;
              if (ix < 0 || ix >= s.w) continue;
              gx[xb + (c * s.h + iy) * s.w + ix] = gx[xb + (c * s.h + iy) * s.w + ix]! + dcols[k * P + oy * o.w + ox]!;
            }
          }
  }
}

function poolBackward(g: FloatGraph, l: PoolLayer, x: Float32Array, gz: Float32Array, batch: number, gx: Float32Array): void {
  const s = g.shapes[l.input]!;
  const o = g.shapes[l.output]!;
  const isMax = l.op === 'maxpool';
  const w = new Int32Array(4);
  for (let b = 0; b < batch; b++)
    for (let c = 0; c < s.c; c++)
      for (let oy = 0; oy < o.h; oy++)
        for (let ox = 0; ox < o.w; ox++) {
          const go = gz[b * size(o) + (c * o.h + oy) * o.w + ox]!;
          if (go === 0) continue;
          windowBounds(l, s, oy, ox, w);
          const plane = b * size(s) + c * s.h * s.w;
          if (isMax) {
            // Same tie rule as the forward pass: the first maximum wins.
            let best = -1;
            let m = -Infinity;
            for (let iy = w[0]!; iy < w[1]!; iy++)
              for (let ix = w[2]!; ix < w[3]!; ix++) {
                const i = plane + iy * s.w + ix;
                if (x[i]! > m) {
                  m = x[i]!;
                  best = i;
                }
              }
            if (best >= 0) gx[best] = gx[best]! + go;
          } else {
            const share = go / ((w[1]! - w[0]!) * (w[3]! - w[2]!));
            for (let iy = w[0]!; iy < w[1]!; iy++) for (let ix = w[2]!; ix < w[3]!; ix++) gx[plane + iy * s.w + ix] = gx[plane + iy * s.w + ix]! + share;
          }
        }
}

/** dF/dy seed: 1 at each image's target logit. */
export function targetSeed(batch: number, classes: number, targets: ArrayLike<number>): Float32Array {
  const d = new Float32Array(batch * classes);
  for (let b = 0; b < batch; b++) d[b * classes + targets[b]!] = 1;
  return d;
}

export interface LayerCriticality {
  layer: string;
  gradTimesActivation: number;
  conductance: number;
}

export interface CriticalityOptions {
  /** Integration steps for conductance (default 16). */
  steps?: number;
  /** Images processed per forward/backward batch (default 32). */
  chunk?: number;
}

/**
 * Criticality scores of every conv/dense layer, averaged over the given images.
 * `inputs` holds `count` images in the model's CHW float layout; `targets` their classes.
 */
export function layerCriticality(
  g: FloatGraph,
  inputs: Float32Array,
  targets: ArrayLike<number>,
  count: number,
  opts: CriticalityOptions = {},
): LayerCriticality[] {
  const steps = opts.steps ?? 16;
  const chunk = opts.chunk ?? 32;
  const convs = g.layers.filter((l): l is ConvLayer => l.op === 'conv');
  const gxa = new Float64Array(convs.length);
  const cond = new Float64Array(convs.length);
  const inSize = size(g.inputShape);
  const classes = size(g.shapes[g.output]!);
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    const x = inputs.subarray(start * inSize, (start + n) * inSize);
    const tg = Array.from({ length: n }, (_, i) => targets[start + i]!);
    // Gradient x activation at the input itself.
    const acts = forwardAll(g, x, n);
    const grads = backward(g, acts, n, targetSeed(n, classes, tg));
    convs.forEach((l, j) => {
      const a = acts.get(l.output)!;
      const d = grads.get(l.output)!;
      let s = 0;
      for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! * d[i]!);
      gxa[j] = gxa[j]! + s;
    });
    const c = layerConductance(g, x, n, tg, steps);
    convs.forEach((l, j) => {
      for (const v of c.get(l.name)!) cond[j] = cond[j]! + Math.abs(v);
    });
  }
  return convs.map((l, j) => ({ layer: l.name, gradTimesActivation: gxa[j]! / count, conductance: cond[j]! / count }));
}

/**
 * Signed conductance of every neuron of every conv/dense layer output for `n` images:
 * result.get(layer)[b * size + i]. Summed over a layer that all paths cross, it approaches
 * F(x) - F(0) as steps grow (completeness), which the tests check.
 */
export function layerConductance(g: FloatGraph, x: Float32Array, n: number, targets: ArrayLike<number>, steps: number): Map<string, Float64Array> {
  const inSize = size(g.inputShape);
  const classes = size(g.shapes[g.output]!);
  const path = new Float32Array(steps * n * inSize);
  for (let k = 0; k < steps; k++) {
    const t = (k + 1) / steps;
    for (let i = 0; i < n * inSize; i++) path[k * n * inSize + i] = t * x[i]!;
  }
  const acts = forwardAll(g, path, steps * n);
  const grads = backward(
    g,
    acts,
    steps * n,
    targetSeed(
      steps * n,
      classes,
      Array.from({ length: steps * n }, (_, i) => targets[i % n]!),
    ),
  );
  const zeroActs = forwardAll(g, new Float32Array(inSize), 1);
  const out = new Map<string, Float64Array>();
  for (const l of g.layers) {
    if (l.op !== 'conv') continue;
    const a = acts.get(l.output)!;
    const d = grads.get(l.output) ?? new Float32Array(a.length);
    const a0 = zeroActs.get(l.output)!;
    const per = size(g.shapes[l.output]!);
    const c = new Float64Array(n * per);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < per; i++) {
        let sum = 0;
        let prev = a0[i]!;
        for (let k = 0; k < steps; k++) {
          const at = (k * n + b) * per + i;
          // Riemann sum of dF/da along the path, weighted by how much a moved in this step.
          sum += d[at]! * (a[at]! - prev);
          prev = a[at]!;
        }
        c[b * per + i] = sum;
      }
    out.set(l.name, c);
  }
  return out;
}
