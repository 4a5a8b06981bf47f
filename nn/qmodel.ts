import { type AddLayer, type ConvGeometry, layerMacs, type PoolLayer, type Shape } from './graph.ts';

/**
 * The integer network: what the LUT engine runs and what the RTL flow reads. All arithmetic on
 * it is integer and defined by nn/gemm.ts (conv/dense) and nn/engine.ts (pool, add, relu).
 *
 * Activation tensors hold integer VALUES v with real = scale * (v - zeroPoint); the raw 8-bit
 * code fed to a multiplier is v & 0xff (int8 two's complement in the signed scheme, uint8 in the
 * unsigned one). Weights likewise: value w, code w & 0xff, real = weightScale[oc] * (w - weightZero).
 *
 *   scheme 'signed'   (AdaPT; signed cells): activations int8 symmetric (zp 0), weights int8
 *                      symmetric per output channel in [-127, 127] (zp 0).
 *   scheme 'unsigned' (TFApprox; unsigned cells): activations uint8 with a per-tensor zero
 *                      point, weights uint8 = int8 symmetric + 128 (zp 128) per output channel.
 */
export type Scheme = 'signed' | 'unsigned';

export interface QParams {
  scale: number;
  zeroPoint: number;
}

/** Fixed-point real multiplier: M = multiplier * 2^(shift - 31) (TFLite QuantizeMultiplier). */
export interface FixedMultiplier {
  multiplier: number;
  shift: number;
}

export interface QConvLayer extends ConvGeometry {
  /** Reduction length K = ic * kh * kw. */
  K: number;
  /** oc x K weight values (k = (ic, ky, kx)); code = value & 0xff. */
  weights: Int16Array;
  weightScale: Float64Array;
  weightZero: number;
  /** Per output channel: sum over k of weight values (exact zero-point correction term). */
  weightSum: Int32Array;
  /** int32 bias in units of inputScale * weightScale[oc]. */
  bias: Int32Array;
  /** Per output channel requantization inputScale * weightScale[oc] / outputScale. */
  multiplier: Int32Array;
  shift: Int32Array;
}

/** Pooling is integer-exact on codes; its geometry is the float layer's. */
export type QPoolLayer = PoolLayer;

/** TFLite-style quantized add: both inputs scaled to a common 2^leftShift-times finer grid. */
export interface QAddLayer extends AddLayer {
  leftShift: number;
  in0: FixedMultiplier;
  in1: FixedMultiplier;
  out: FixedMultiplier;
}

export interface QSimpleLayer {
  op: 'relu' | 'reshape';
  name: string;
  input: string;
  output: string;
}

export type QLayer = QConvLayer | QPoolLayer | QAddLayer | QSimpleLayer;

export interface QuantModel {
  format: 'axtpu-qmodel-1';
  name: string;
  scheme: Scheme;
  input: string;
  inputShape: Shape;
  output: string;
  shapes: Record<string, Shape>;
  tensors: Record<string, QParams>;
  layers: QLayer[];
  calibration: { method: 'max' | 'percentile'; percentile?: number; images: number; dataset: string };
}

export const valueRange = (scheme: Scheme): [number, number] => (scheme === 'signed' ? [-128, 127] : [0, 255]);

export function convLayers(m: QuantModel): QConvLayer[] {
  return m.layers.filter((l): l is QConvLayer => l.op === 'conv');
}

/** Multiply-accumulates per image over all conv/dense layers. */
export function macsPerImage(m: QuantModel): number {
  return convLayers(m).reduce((a, l) => a + layerMacs(l, m.shapes[l.output]!), 0);
}
