import { type EngineConfig, engineGemm, engineSteps, type GemmRequest } from './engine.ts';
import type { GemmOperands } from './gemm.ts';
import type { QConvLayer } from './qmodel.ts';

/**
 * Taps on the engine's layer loop (nn/engine.ts `engineSteps`) with its own GEMMs (the LUT bank
 * of `cfg`, or exact multiplies): what a layer's GEMM sees (im2col operands, for operand streams
 * and energy) and what it produces (int32 accumulators, the RTL run's software reference).
 * Later layers' operands depend on earlier layers' products, so both follow the bank in `cfg`.
 */
export interface LayerAccumulators {
  pred: Uint8Array;
  /** Per conv/dense layer, model order: acc[oc * P + p] (may carry padded channels beyond oc * P). */
  layers: { name: string; acc: Int32Array }[];
}

/**
 * Run a batch of `n` images; `onLayer` sees every conv/dense layer's operands and accumulators.
 * `firstImage` (the batch's first image in the dataset) keys timing-error injection's draws.
 */
export function tapLayers(
  cfg: EngineConfig,
  pixels: Uint8Array,
  n: number,
  onLayer: (layer: QConvLayer, g: GemmOperands, acc: Int32Array) => void,
  firstImage = 0,
): Uint8Array {
  const steps = engineSteps(cfg.model, pixels, n);
  let r = steps.next();
  while (!r.done) {
    const { layer, g } = r.value;
    const acc = engineGemm(cfg, layer, g, firstImage);
    onLayer(layer, g, acc);
    r = steps.next(acc);
  }
  return r.value.pred;
}

/** The im2col operands of every conv/dense layer for a batch of `n` images (model order). */
export function captureOperands(cfg: EngineConfig, pixels: Uint8Array, n: number): GemmRequest[] {
  const out: GemmRequest[] = [];
  tapLayers(cfg, pixels, n, (layer, g) => out.push({ layer, g }));
  return out;
}

/** Predictions and every conv/dense layer's accumulators for a batch of `n` images. */
export function captureAccumulators(cfg: EngineConfig, pixels: Uint8Array, n: number, firstImage = 0): LayerAccumulators {
  const layers: LayerAccumulators['layers'] = [];
  const pred = tapLayers(cfg, pixels, n, (l, _g, acc) => layers.push({ name: l.name, acc }), firstImage);
  return { pred, layers };
}
