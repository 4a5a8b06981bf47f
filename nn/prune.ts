import { UserError } from '../core/errors.ts';
import { jsonArg, parseOrThrow, z } from '../core/validate.ts';
import { convLayers, type QConvLayer, type QuantModel } from './qmodel.ts';

/**
 * Magnitude pruning of the integer model (docs/prune.md), no retraining: per conv/dense layer a
 * sparsity s in [0, 1) zeroes round(s x oc x K) of its weights, the smallest real magnitudes
 * |w - weightZero| x weightScale[oc] first (one threshold per layer across its filters, not per
 * filter), ties broken by the weight's position (filter, then k) in the layer, lowest first.
 *
 * "Zero" is the weight whose REAL value is 0, i.e. the code equal to the weight zero point:
 * signed scheme code 0 (int8 symmetric, zp 0); unsigned scheme code 128 (int8 + 128, zp 128).
 * Weights that already are zero count toward the target (they have the smallest magnitude), so
 * a layer ends with max(target, zeros it already had) zeros. The exact zero-point correction
 * term (weightSum) is recomputed; scales, biases and requantization stay as they were.
 */

/** Largest sparsity accepted: a layer needs at least one weight left. */
const sparsity = z.number().min(0, 'sparsity must be >= 0').lt(1, 'sparsity must be < 1 (a layer keeps at least one weight)');

/** `{"<layer>": s, ...}` or one s for every conv/dense layer. */
export const pruneSpecSchema = z.union([sparsity, z.record(z.string(), sparsity)]);
export type PruneSpec = z.infer<typeof pruneSpecSchema>;

/** `--prune <number | json | file>` -> a validated spec (layer names are checked against the model by `pruneModel`). */
export function parsePruneSpec(value: string, flag = '--prune'): PruneSpec {
  const text = value.trim();
  const data = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text) ? Number(text) : jsonArg(text, flag);
  return parseOrThrow(pruneSpecSchema, data, flag);
}

/** One line for a spec naming a layer that is not a conv/dense layer of the model. */
export function checkPruneLayers(spec: PruneSpec, layers: string[], model: string): void {
  if (typeof spec === 'number') return;
  for (const n of Object.keys(spec))
    if (!layers.includes(n)) throw new UserError(`--prune names layer '${n}' which is not a conv/dense layer of ${model} (layers: ${layers.join(', ')})`);
}

/** Sparsity per conv/dense layer name (0 = untouched). */
export function layerSparsity(model: QuantModel, spec: PruneSpec): Record<string, number> {
  const layers = convLayers(model).map((l) => l.name);
  checkPruneLayers(spec, layers, model.name);
  return Object.fromEntries(layers.map((n) => [n, typeof spec === 'number' ? spec : (spec[n] ?? 0)]));
}

/** The layer with its `count` smallest-magnitude weights set to the zero point (a new layer; the input is not changed). */
export function pruneLayer(l: QConvLayer, count: number): QConvLayer {
  const K = l.K;
  const n = l.oc * K;
  const mag = new Float64Array(n);
  for (let i = 0; i < n; i++) mag[i] = Math.abs(l.weights[i]! - l.weightZero) * l.weightScale[Math.floor(i / K)]!;
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => mag[x]! - mag[y]! || x - y);
  const weights = Int16Array.from(l.weights);
  for (let j = 0; j < count; j++) weights[order[j]!] = l.weightZero;
  const weightSum = new Int32Array(l.oc);
  for (let o = 0; o < l.oc; o++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += weights[o * K + k]!;
    weightSum[o] = s;
  }
  return { ...l, weights, weightSum };
}

/** The layer pruned to sparsity s (round(s x oc x K) weights zeroed). */
export const pruneLayerTo = (l: QConvLayer, s: number): QConvLayer => pruneLayer(l, Math.round(s * l.oc * l.K));

/** Share of a layer's weights that are zero (code = weight zero point). */
export function zeroFraction(l: QConvLayer): number {
  let z0 = 0;
  for (const w of l.weights) if (w === l.weightZero) z0++;
  return z0 / l.weights.length;
}

export interface PruneResult {
  model: QuantModel;
  /** Per conv/dense layer: the asked sparsity and the zero fraction the layer ends with. */
  layers: { layer: string; target: number; sparsity: number }[];
}

/** The pruned model (a new QuantModel; layers with sparsity 0 are the same objects). */
export function pruneModel(model: QuantModel, spec: PruneSpec): PruneResult {
  const s = layerSparsity(model, spec);
  const report: PruneResult['layers'] = [];
  const layers = model.layers.map((l) => {
    if (l.op !== 'conv') return l;
    const target = s[l.name]!;
    const out = target > 0 ? pruneLayerTo(l, target) : l;
    report.push({ layer: l.name, target, sparsity: zeroFraction(out) });
    return out;
  });
  return { model: { ...model, layers }, layers: report };
}

/** The zero-weight share each pruned layer reached, e.g. `/c2/Conv 50.0 % (asked 50.0 %)` (layers left at 0 omitted). */
export function pruneSummary(layers: PruneResult['layers']): string {
  const pruned = layers.filter((l) => l.target > 0);
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  return pruned.length ? pruned.map((l) => `${l.layer} ${pct(l.sparsity)} (asked ${pct(l.target)})`).join(', ') : 'no layer';
}

/** One report line for eval and run. */
export const pruneLine = (layers: PruneResult['layers']): string => `pruned (zero weights): ${pruneSummary(layers)}`;
