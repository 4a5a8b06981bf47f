import { createHash } from 'node:crypto';
import { buildCv, type CvConfig, type CvPlan } from './cv.ts';
import { runQuantBatch } from './engine.ts';
import type { QuantModel } from './qmodel.ts';
import { StatsCollector } from './stats.ts';

/**
 * Activation-code histogram per conv/dense layer of the exact int8 network over calibration
 * images: the weights of the control variate's error fit (nn/cv.ts). Exact, so the fit depends on
 * the model and the images only, not on which cells a candidate uses (exploration fits hundreds).
 */
const cache = new WeakMap<QuantModel, Map<string, Record<string, Float64Array>>>();

export function activationHistograms(model: QuantModel, pixels: Uint8Array, count: number, batch = 64): Record<string, Float64Array> {
  let byImages = cache.get(model);
  if (!byImages) {
    byImages = new Map();
    cache.set(model, byImages);
  }
  // Keyed by the images' content (the same calibration set hits; ~1 ms for 256 images).
  const key = `${count}:${createHash('sha256').update(pixels).digest('hex')}`;
  const hit = byImages.get(key);
  if (hit) return hit;
  const per = pixels.length / count;
  const stats = new StatsCollector(0, 0);
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    runQuantBatch({ model }, pixels.subarray(s * per, (s + n) * per), n, stats);
  }
  const out: Record<string, Float64Array> = {};
  for (const [name, st] of stats.layers) out[name] = Float64Array.from(st.aHist);
  byImages.set(key, out);
  return out;
}

/** Compensation for `plan`'s layers of a LUT bank, fitted on calibration images. */
export function compensation(
  model: QuantModel,
  bank: { table: Int32Array; rowOffsets: Record<string, Int32Array> },
  plan: CvPlan,
  calib: { pixels: Uint8Array; count: number },
): { cv: CvConfig; saturated: Record<string, number> } {
  return buildCv(model, bank, plan, activationHistograms(model, calib.pixels, calib.count));
}
