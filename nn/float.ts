import { type ConvLayer, type FloatGraph, type PoolLayer, type Shape, size, windowBounds } from './graph.ts';

/**
 * Float reference path (float32 storage, float64 accumulation) over a batch of images.
 * Used for calibration and to check the import against onnxruntime.
 */
export type Observer = (tensor: string, values: Float32Array) => void;

export function runFloat(g: FloatGraph, input: Float32Array, batch: number, observe?: Observer): Float32Array {
  const vals = new Map<string, Float32Array>();
  vals.set(g.input, input);
  observe?.(g.input, input);
  for (const l of g.layers) {
    let out: Float32Array;
    if (l.op === 'conv') out = convFloat(l, vals.get(l.input)!, g.shapes[l.input]!, g.shapes[l.output]!, batch);
    else if (l.op === 'maxpool' || l.op === 'avgpool') out = poolFloat(l, vals.get(l.input)!, g.shapes[l.input]!, g.shapes[l.output]!, batch);
    else if (l.op === 'add') {
      const x = vals.get(l.inputs[0])!;
      const y = vals.get(l.inputs[1])!;
      out = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = x[i]! + y[i]!;
    } else if (l.op === 'relu') out = vals.get(l.input)!.slice();
    else out = vals.get(l.input)!;
    if (l.op === 'relu' || ('relu' in l && l.relu)) for (let i = 0; i < out.length; i++) if (out[i]! < 0) out[i] = 0;
    vals.set(l.output, out);
    if (l.op !== 'reshape') observe?.(l.output, out);
  }
  return vals.get(g.output)!;
}

/** im2col of one image into cols[k * P + p] (k = (ic, ky, kx), p = (oy, ox)); padding = `pad`. */
export function im2colFloat(l: ConvLayer, x: Float32Array, xOff: number, s: Shape, o: Shape, cols: Float32Array, pad: number): void {
  const P = o.h * o.w;
  let k = 0;
  for (let c = 0; c < l.ic; c++)
    for (let ky = 0; ky < l.kh; ky++)
      for (let kx = 0; kx < l.kw; kx++, k++) {
        const row = k * P;
        for (let oy = 0; oy < o.h; oy++) {
          const iy = oy * l.stride[0] - l.pads[0] + ky;
          for (let ox = 0; ox < o.w; ox++) {
            const ix = ox * l.stride[1] - l.pads[1] + kx;
            cols[row + oy * o.w + ox] = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w ? x[xOff + (c * s.h + iy) * s.w + ix]! : pad;
          }
        }
      }
}

function convFloat(l: ConvLayer, x: Float32Array, s: Shape, o: Shape, batch: number): Float32Array {
  const P = o.h * o.w;
  const K = l.ic * l.kh * l.kw;
  const cols = new Float32Array(K * P);
  const acc = new Float64Array(P);
  const out = new Float32Array(batch * size(o));
  for (let b = 0; b < batch; b++) {
    im2colFloat(l, x, b * size(s), s, o, cols, 0);
    for (let oc = 0; oc < l.oc; oc++) {
      acc.fill(l.bias[oc]!);
      for (let k = 0; k < K; k++) {
        const w = l.weight[oc * K + k]!;
        if (w === 0) continue;
        const row = k * P;
        for (let p = 0; p < P; p++) acc[p]! += w * cols[row + p]!;
      }
      const base = b * size(o) + oc * P;
      for (let p = 0; p < P; p++) out[base + p] = acc[p]!;
    }
  }
  return out;
}

function poolFloat(l: PoolLayer, x: Float32Array, s: Shape, o: Shape, batch: number): Float32Array {
  const out = new Float32Array(batch * size(o));
  const isMax = l.op === 'maxpool';
  const w = new Int32Array(4);
  for (let b = 0; b < batch; b++)
    for (let c = 0; c < s.c; c++)
      for (let oy = 0; oy < o.h; oy++)
        for (let ox = 0; ox < o.w; ox++) {
          windowBounds(l, s, oy, ox, w);
          let m = -Infinity;
          let sum = 0;
          let n = 0;
          for (let iy = w[0]!; iy < w[1]!; iy++)
            for (let ix = w[2]!; ix < w[3]!; ix++) {
              const v = x[b * size(s) + (c * s.h + iy) * s.w + ix]!;
              if (v > m) m = v;
              sum += v;
              n++;
            }
          out[b * size(o) + (c * o.h + oy) * o.w + ox] = isMax ? m : sum / n;
        }
  return out;
}

/** Pixels (uint8) -> float model input (pixel / 255). */
export function pixelsToFloat(px: Uint8Array): Float32Array {
  const out = new Float32Array(px.length);
  for (let i = 0; i < px.length; i++) out[i] = px[i]! / 255;
  return out;
}

export function argmaxRows(v: Float32Array | Float64Array, batch: number, n: number): Uint8Array {
  const pred = new Uint8Array(batch);
  for (let b = 0; b < batch; b++) {
    let best = 0;
    for (let i = 1; i < n; i++) if (v[b * n + i]! > v[b * n + best]!) best = i;
    pred[b] = best;
  }
  return pred;
}
