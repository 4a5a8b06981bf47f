import { UserError } from '../core/errors.ts';
import type { Dataset } from './dataset.ts';
import { quantizeMultiplier } from './fixedpoint.ts';
import { pixelsToFloat, runFloat } from './float.ts';
import type { FloatGraph } from './graph.ts';
import type { QLayer, QParams, QuantModel, Scheme } from './qmodel.ts';

/**
 * Post-training quantization. Weights: int8 symmetric per output channel, scale = max|w| / 127.
 * Activations: per tensor, range from a calibration run of the float graph on training images
 * (`max` = observed min/max, `percentile` = clip at the p-th percentile). Bias: int32 in units of
 * inputScale * weightScale. Requantization: per output channel fixed-point multiplier + shift.
 */
export interface CalibrationOptions {
  method: 'max' | 'percentile';
  /** For `percentile`, e.g. 99.99. */
  percentile?: number;
  scheme: Scheme;
}

/**
 * Calibration defaults of every command (nn/load.ts `calibrationPolicy`, the CLI's option
 * defaults): the first `images` training images, observed min/max (`percentile` only for method
 * 'percentile').
 */
export const CALIBRATION = { images: 256, method: 'max', percentile: 99.99 } as const;

const SAMPLE_CAP = 1 << 20;

class RangeObserver {
  min = Infinity;
  max = -Infinity;
  sample: number[] = [];
  seen = 0;
  constructor(readonly keepSample: boolean) {}
  add(v: Float32Array): void {
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (x < this.min) this.min = x;
      if (x > this.max) this.max = x;
    }
    if (this.keepSample) {
      // Deterministic strided sample, bounded in size.
      const step = Math.max(1, Math.ceil(v.length / 65536));
      for (let i = 0; i < v.length && this.sample.length < SAMPLE_CAP; i += step) this.sample.push(v[i]!);
    }
  }
  range(opts: CalibrationOptions): [number, number] {
    if (opts.method === 'max' || this.sample.length === 0) return [this.min, this.max];
    const s = Float64Array.from(this.sample).sort();
    const p = opts.percentile ?? CALIBRATION.percentile;
    const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round((q / 100) * (s.length - 1))))]!;
    if (opts.scheme === 'signed') {
      const abs = Float64Array.from(this.sample, Math.abs).sort();
      const m = abs[Math.min(abs.length - 1, Math.round((p / 100) * (abs.length - 1)))]!;
      return [-m, m];
    }
    return [Math.min(0, at(100 - p)), Math.max(0, at(p))];
  }
}

export function activationParams(lo: number, hi: number, scheme: Scheme): QParams {
  if (scheme === 'signed') {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    return { scale: m > 0 ? m / 127 : 1, zeroPoint: 0 };
  }
  const a = Math.min(0, lo);
  const b = Math.max(0, hi);
  const scale = b > a ? (b - a) / 255 : 1;
  return { scale, zeroPoint: Math.max(0, Math.min(255, Math.round(-a / scale))) };
}

/** Run the float graph on calibration images and record every tensor's value range. */
export function calibrate(g: FloatGraph, ds: Dataset, opts: CalibrationOptions, batch = 64): Map<string, RangeObserver> {
  const obs = new Map<string, RangeObserver>();
  const per = ds.channels * ds.height * ds.width;
  for (let start = 0; start < ds.count; start += batch) {
    const n = Math.min(batch, ds.count - start);
    const x = pixelsToFloat(ds.pixels.subarray(start * per, (start + n) * per));
    runFloat(g, x, n, (t, v) => {
      let o = obs.get(t);
      if (!o) {
        o = new RangeObserver(opts.method === 'percentile');
        obs.set(t, o);
      }
      o.add(v);
    });
  }
  return obs;
}

export function quantizeGraph(g: FloatGraph, calib: Dataset, opts: CalibrationOptions): QuantModel {
  const { scheme } = opts;
  if (opts.method === 'percentile' && !(opts.percentile! > 50 && opts.percentile! <= 100))
    throw new UserError(`percentile must be in (50, 100], got ${opts.percentile}`);
  const obs = calibrate(g, calib, opts);
  const tensors: Record<string, QParams> = {};
  const fromObs = (t: string) => {
    const o = obs.get(t);
    if (!o) throw new Error(`calibration saw no values for tensor ${t}`);
    const [lo, hi] = o.range(opts);
    return activationParams(lo, hi, scheme);
  };
  tensors[g.input] = fromObs(g.input);
  const layers: QLayer[] = [];
  for (const l of g.layers) {
    if (l.op === 'conv') {
      const inQ = tensors[l.input]!;
      const outQ = fromObs(l.output);
      tensors[l.output] = outQ;
      const K = l.ic * l.kh * l.kw;
      const weights = new Int16Array(l.oc * K);
      const weightScale = new Float64Array(l.oc);
      const weightSum = new Int32Array(l.oc);
      const bias = new Int32Array(l.oc);
      const multiplier = new Int32Array(l.oc);
      const shift = new Int32Array(l.oc);
      const weightZero = scheme === 'signed' ? 0 : 128;
      for (let o = 0; o < l.oc; o++) {
        let m = 0;
        for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(l.weight[o * K + k]!));
        const sw = m > 0 ? m / 127 : 1;
        weightScale[o] = sw;
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const q = Math.max(-127, Math.min(127, Math.round(l.weight[o * K + k]! / sw)));
          weights[o * K + k] = q + weightZero;
          sum += q + weightZero;
        }
        weightSum[o] = sum;
        const b = Math.round(l.bias[o]! / (inQ.scale * sw));
        bias[o] = Math.max(-2147483648, Math.min(2147483647, b));
        const qm = quantizeMultiplier((inQ.scale * sw) / outQ.scale);
        multiplier[o] = qm.multiplier;
        shift[o] = qm.shift;
      }
      layers.push({
        op: 'conv',
        name: l.name,
        kind: l.kind,
        input: l.input,
        output: l.output,
        ic: l.ic,
        oc: l.oc,
        kh: l.kh,
        kw: l.kw,
        stride: l.stride,
        pads: l.pads,
        relu: l.relu,
        K,
        weights,
        weightScale,
        weightZero,
        weightSum,
        bias,
        multiplier,
        shift,
      });
    } else if (l.op === 'add') {
      const s0 = tensors[l.inputs[0]]!.scale;
      const s1 = tensors[l.inputs[1]]!.scale;
      const outQ = fromObs(l.output);
      tensors[l.output] = outQ;
      const leftShift = 20;
      const twiceMax = 2 * Math.max(s0, s1);
      layers.push({
        op: 'add',
        name: l.name,
        inputs: l.inputs,
        output: l.output,
        relu: l.relu,
        leftShift,
        in0: quantizeMultiplier(s0 / twiceMax),
        in1: quantizeMultiplier(s1 / twiceMax),
        out: quantizeMultiplier(twiceMax / (2 ** leftShift * outQ.scale)),
      });
    } else {
      // Pooling, ReLU and reshape keep the input's quantization (TFLite does the same).
      tensors[l.output] = tensors[l.input]!;
      if (l.op === 'maxpool' || l.op === 'avgpool')
        layers.push({ op: l.op, name: l.name, input: l.input, output: l.output, kh: l.kh, kw: l.kw, stride: l.stride, pads: l.pads, relu: l.relu });
      else layers.push({ op: l.op, name: l.name, input: l.input, output: l.output });
    }
  }
  return {
    format: 'axtpu-qmodel-1',
    name: g.name,
    scheme,
    input: g.input,
    inputShape: g.inputShape,
    output: g.output,
    shapes: g.shapes,
    tensors,
    layers,
    calibration: {
      method: opts.method,
      ...(opts.method === 'percentile' ? { percentile: opts.percentile ?? CALIBRATION.percentile } : {}),
      images: calib.count,
      dataset: calib.name,
    },
  };
}
