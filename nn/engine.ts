import { applyCv, type CvConfig } from './cv.ts';
import { multiplyByQuantizedMultiplier } from './fixedpoint.ts';
import { finishLayer, type GemmOperands, gemmExact, gemmLut, lowerLayerToGemm } from './gemm.ts';
import { type Shape, size, windowBounds } from './graph.ts';
import { type InjectSpec, injectLayer, type ProductSource } from './inject.ts';
import { type QAddLayer, type QConvLayer, type QPoolLayer, type QuantModel, valueRange } from './qmodel.ts';
import type { StatsCollector } from './stats.ts';

/**
 * Bit-exact integer inference over a batch of images. With a LUT bank every multiply of every
 * conv/dense layer is a table lookup (nn/gemm.ts); without one (`exact`) it is a plain integer
 * multiply, which the exact cell's LUT path must reproduce bit for bit.
 */
export interface EngineConfig {
  model: QuantModel;
  /** Transposed product tables of all cells in use (nn/gemm.ts `gemmLut`), or undefined = exact. */
  table?: Int32Array;
  /** Per conv/dense layer name: rowOffset[oc * K + k]. */
  rowOffsets?: Record<string, Int32Array>;
  /** Timing errors of overscaled columns, drawn into the accumulators (nn/inject.ts). */
  inject?: InjectSpec;
  /** Per conv/dense layer: control-variate compensation (nn/cv.ts), applied at the column outputs. */
  cv?: CvConfig;
}

export interface BatchResult {
  pred: Uint8Array;
  /** Real-valued output scores, batch x classes. */
  scores: Float64Array;
}

/** Quantize pixels (pixel / 255 model input) to the input tensor's 8-bit codes. */
export function quantizeInput(m: QuantModel, pixels: Uint8Array): Uint8Array {
  const q = m.tensors[m.input]!;
  const [lo, hi] = valueRange(m.scheme);
  const out = new Uint8Array(pixels.length);
  // One lookup per pixel value keeps this exact and fast.
  const map = new Uint8Array(256);
  for (let p = 0; p < 256; p++) map[p] = Math.max(lo, Math.min(hi, Math.round(p / 255 / q.scale) + q.zeroPoint)) & 0xff;
  for (let i = 0; i < pixels.length; i++) out[i] = map[pixels[i]!]!;
  return out;
}

/** One conv/dense layer's GEMM, as the layer loop asks for it (see `engineSteps`). */
export interface GemmRequest {
  layer: QConvLayer;
  g: GemmOperands;
}

/**
 * The layer loop, written once, as a step machine: it yields every conv/dense layer's GEMM
 * request (im2col operands) and must be resumed with that GEMM's int32 accumulators, laid out
 * acc[oc * P + p] (what `gemmLut` returns; extra padded channels are ignored). Everything else
 * (zero-point correction, requantization, pooling, residual adds, ReLU, the classifier's scores)
 * happens here, so a driver that computes the GEMMs elsewhere (the RTL flow's systolic array)
 * gets exactly the engine's semantics around them. Returns the batch's predictions.
 */
export function* engineSteps(model: QuantModel, pixels: Uint8Array, batch: number, stats?: StatsCollector): Generator<GemmRequest, BatchResult, Int32Array> {
  const m = model;
  const vals = new Map<string, Uint8Array>();
  const signed = m.scheme === 'signed';
  vals.set(m.input, quantizeInput(m, pixels));
  const outShape = m.shapes[m.output]!;
  const classes = size(outShape);
  let scores: Float64Array | undefined;
  for (const l of m.layers) {
    if (l.op === 'conv') {
      const inQ = m.tensors[l.input]!;
      const outQ = m.tensors[l.output]!;
      const g = lowerLayerToGemm(l, vals.get(l.input)!, m.shapes[l.input]!, m.shapes[l.output]!, batch, inQ.zeroPoint);
      stats?.observe(l, g);
      const acc = yield { layer: l, g };
      if (!acc || acc.length < l.oc * g.P) throw new Error(`engine: layer ${l.name} needs ${l.oc * g.P} accumulators, got ${acc?.length ?? 'none'}`);
      const isOut = l.output === m.output;
      if (isOut) scores = new Float64Array(batch * classes);
      vals.set(l.output, finishLayer(l, acc, g, inQ.zeroPoint, outQ.zeroPoint, m.scheme, isOut ? { out: scores!, inputScale: inQ.scale } : undefined));
    } else if (l.op === 'maxpool' || l.op === 'avgpool') {
      vals.set(l.output, pool(l, vals.get(l.input)!, m.shapes[l.input]!, m.shapes[l.output]!, batch, m.tensors[l.input]!.zeroPoint, signed));
    } else if (l.op === 'add') {
      vals.set(l.output, add(l, vals.get(l.inputs[0])!, vals.get(l.inputs[1])!, m));
    } else if (l.op === 'relu') {
      const z = m.tensors[l.input]!.zeroPoint;
      vals.set(
        l.output,
        vals.get(l.input)!.map((c) => (codeValue(c, signed) < z ? z & 0xff : c)),
      );
    } else vals.set(l.output, vals.get(l.input)!);
  }
  if (!scores) {
    // Output not produced by a conv/dense: dequantize its values.
    const q = m.tensors[m.output]!;
    scores = Float64Array.from(vals.get(m.output)!, (c) => (codeValue(c, signed) - q.zeroPoint) * q.scale);
  }
  const pred = new Uint8Array(batch);
  for (let b = 0; b < batch; b++) {
    let best = 0;
    for (let i = 1; i < classes; i++) if (scores[b * classes + i]! > scores[b * classes + best]!) best = i;
    pred[b] = best;
  }
  return { pred, scores };
}

/**
 * The engine's own GEMM for a layer: LUT bank if configured, else plain integer multiplies;
 * then the PEs' timing errors if configured (they happen before the accumulators); then the
 * control-variate correction if configured (after the accumulators, at the column outputs).
 * `firstImage` (the batch's first image in the dataset) keys the injection's random stream.
 */
export function engineGemm(cfg: EngineConfig, l: QConvLayer, g: GemmOperands, firstImage = 0): Int32Array {
  const acc = cfg.table ? gemmLut(cfg.rowOffsets![l.name]!, cfg.table, g, l.oc) : gemmExact(l, g, cfg.model.scheme);
  if (cfg.inject) injectLayer(cfg.inject, l, g, acc, productSource(cfg, l), firstImage);
  const cv = cfg.cv?.[l.name];
  if (cv) applyCv(cv, acc, g, l.oc, cfg.model.scheme === 'signed');
  return acc;
}

/** How a layer of `cfg` multiplies, as timing-error draws need it (nn/inject.ts). */
export function productSource(cfg: Pick<EngineConfig, 'model' | 'table' | 'rowOffsets'>, l: QConvLayer): ProductSource {
  return { table: cfg.table, rowOffset: cfg.rowOffsets?.[l.name], signed: cfg.model.scheme === 'signed' };
}

/** Synchronous driver: every GEMM in software (LUT bank or exact). */
export function runQuantBatch(cfg: EngineConfig, pixels: Uint8Array, batch: number, stats?: StatsCollector, firstImage = 0): BatchResult {
  const steps = engineSteps(cfg.model, pixels, batch, stats);
  let r = steps.next();
  while (!r.done) r = steps.next(engineGemm(cfg, r.value.layer, r.value.g, firstImage));
  return r.value;
}

/**
 * Asynchronous driver: `gemm` computes each conv/dense layer's accumulators (e.g. on the RTL
 * array) and its result is what the rest of the network receives.
 */
export async function runQuantBatchAsync(
  model: QuantModel,
  pixels: Uint8Array,
  batch: number,
  gemm: (layer: QConvLayer, g: GemmOperands) => Promise<Int32Array>,
  stats?: StatsCollector,
): Promise<BatchResult> {
  const steps = engineSteps(model, pixels, batch, stats);
  let r = steps.next();
  while (!r.done) r = steps.next(await gemm(r.value.layer, r.value.g));
  return r.value;
}

/** Max pool on values; average pool rounds half away from zero (TFLite reference kernels). */
/** 8-bit code -> integer value (int8 two's complement in the signed scheme). */
export const codeValue = (c: number, signed: boolean): number => (signed ? (c << 24) >> 24 : c);

function pool(l: QPoolLayer, x: Uint8Array, s: Shape, o: Shape, batch: number, zero: number, signed: boolean): Uint8Array {
  const inSize = size(s);
  const outSize = size(o);
  const out = new Uint8Array(batch * outSize);
  const isMax = l.op === 'maxpool';
  const w = new Int32Array(4);
  for (let b = 0; b < batch; b++)
    for (let c = 0; c < s.c; c++)
      for (let oy = 0; oy < o.h; oy++)
        for (let ox = 0; ox < o.w; ox++) {
          windowBounds(l, s, oy, ox, w);
          let m = -32768;
          let sum = 0;
          let n = 0;
          for (let iy = w[0]!; iy < w[1]!; iy++)
            for (let ix = w[2]!; ix < w[3]!; ix++) {
              const v = codeValue(x[b * inSize + (c * s.h + iy) * s.w + ix]!, signed);
              if (v > m) m = v;
              sum += v;
              n++;
            }
          // Average in the zero-point-free domain so rounding is symmetric about real zero.
          let y = isMax ? m : zero + roundDiv(sum - n * zero, n);
          if (l.relu && y < zero) y = zero;
          out[b * outSize + (c * o.h + oy) * o.w + ox] = y & 0xff;
        }
  return out;
}

function roundDiv(num: number, den: number): number {
  return num >= 0 ? Math.trunc((num + (den >> 1)) / den) : Math.trunc((num - (den >> 1)) / den);
}

/** TFLite quantized Add: inputs to a 2^leftShift-finer common scale, sum, rescale to the output. */
function add(l: QAddLayer, x: Uint8Array, y: Uint8Array, m: QuantModel): Uint8Array {
  const t = addTable(l, m);
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = t[(x[i]! << 8) | y[i]!]!;
  return out;
}

/**
 * The add's output code for every pair of input codes (65,536 entries, computed once per layer
 * with the integer formula below), so the per-element work is one lookup.
 */
const addTables = new WeakMap<QAddLayer, Uint8Array>();
function addTable(l: QAddLayer, m: QuantModel): Uint8Array {
  const hit = addTables.get(l);
  if (hit) return hit;
  const signed = m.scheme === 'signed';
  const z0 = m.tensors[l.inputs[0]]!.zeroPoint;
  const z1 = m.tensors[l.inputs[1]]!.zeroPoint;
  const zo = m.tensors[l.output]!.zeroPoint;
  const [qmin0, qmax] = valueRange(m.scheme);
  const qmin = l.relu ? Math.max(qmin0, zo) : qmin0;
  const f = 2 ** l.leftShift;
  const t0 = new Int32Array(256);
  const t1 = new Int32Array(256);
  for (let c = 0; c < 256; c++) {
    t0[c] = multiplyByQuantizedMultiplier((codeValue(c, signed) - z0) * f, l.in0.multiplier, l.in0.shift);
    t1[c] = multiplyByQuantizedMultiplier((codeValue(c, signed) - z1) * f, l.in1.multiplier, l.in1.shift);
  }
  const table = new Uint8Array(65536);
  for (let a = 0; a < 256; a++)
    for (let b = 0; b < 256; b++) {
      let v = zo + multiplyByQuantizedMultiplier(t0[a]! + t1[b]!, l.out.multiplier, l.out.shift);
      v = v < qmin ? qmin : Math.min(v, qmax);
      table[(a << 8) | b] = v & 0xff;
    }
  addTables.set(l, table);
  return table;
}
