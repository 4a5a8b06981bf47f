import { makeRng } from '../core/rng.ts';
import type { QConvLayer, QuantModel } from '../nn/qmodel.ts';
import { convLayers } from '../nn/qmodel.ts';
import { type ChannelErrorStats, layerErrorStats } from './cell-error.ts';
import { type LayerProbe, outputKl } from './layer-probe.ts';
import type { LayerGradients } from './loss-gradients.ts';

/**
 * Error-aware criticality (issue 20): the damage a cell will do on a layer (or on some of its
 * filters) = how much the loss cares about that layer's outputs x how much error the cell adds
 * on that layer's own operands (explore/cell-error.ts). Three estimators, all per output channel
 * so a unit of any granularity sums its channels:
 *
 *   fisher           second-order Taylor with the Fisher approximation of the Hessian, diagonal:
 *                    dL ~ 1/2 sum_i E[(dL/dz_i)^2] E[delta_i^2],  E[delta^2] = s^2 (var + mean^2)
 *   fisher-coherent  the same with the cell's BIAS kept coherent: a systematic error shifts every
 *                    output of a channel the same way, so its term is 1/2 E_img[(sum_i dL/dz_i mu_i)^2]
 *                    (the full Fisher on the mean shift) + the diagonal term of the variance only
 *   noise            measured: Gaussian noise with the cell's per-channel error mean and variance
 *                    (split by active vs zero-point activations, explore/cell-error.ts) added to
 *                    the layer's exact accumulators in the int8 engine, mean increase of
 *                    the cross-entropy on a small batch (explore/layer-probe.ts)
 *   noise-kl         the same noisy run, scored by the mean KL divergence of the output
 *                    distribution from the exact one (no first-order term, so less sampling noise)
 * The XAI scores (conductance, gradient x activation; explore/xai.ts) are cell-blind baselines.
 */
export const ERROR_ESTIMATORS = ['fisher', 'fisher-coherent', 'noise', 'noise-kl'] as const;
export type ErrorEstimator = (typeof ERROR_ESTIMATORS)[number];

/** Per conv/dense layer, per output channel: estimated loss increase with `cell` on that channel. */
export type ChannelDamage = Record<string, Float64Array>;

export interface ErrorAwareInputs {
  q: QuantModel;
  exact: string;
  /** Loss gradients on the float graph (explore/loss-gradients.ts), by layer name. */
  grads: Map<string, LayerGradients>;
  /** Exact engine run on the estimator's images: activation histograms and the noise runs. */
  probe: LayerProbe;
  seed?: number;
}

export function errorStatsOf(x: ErrorAwareInputs, l: QConvLayer, cell: string): ChannelErrorStats {
  const s = x.probe.stats.layers.get(l.name);
  if (!s) throw new Error(`errorStatsOf: no activation histogram for layer ${l.name}`);
  return layerErrorStats(x.q, l, cell, x.exact, s.aHist);
}

/** Both Fisher estimates per channel. The coherent one's bias term is not separable by channel
 *  (cross terms); per channel it keeps the channel's own coherent sum, and `layerCoherent` the whole layer's. */
export function fisherDamage(grad: LayerGradients, err: ChannelErrorStats): { diag: Float64Array; coherent: Float64Array; layerCoherent: number } {
  const { oc, images, sum, square } = grad;
  const diag = new Float64Array(oc);
  const coherent = new Float64Array(oc);
  let varPart = 0;
  for (let c = 0; c < oc; c++) {
    const s2 = err.scale[c]! * err.scale[c]!;
    diag[c] = 0.5 * square[c]! * s2 * (err.variance[c]! + err.mean[c]! * err.mean[c]!);
    const v = 0.5 * square[c]! * s2 * err.variance[c]!;
    varPart += v;
    let b2 = 0;
    for (let b = 0; b < images; b++) {
      const t = sum[b * oc + c]! * err.scale[c]! * err.mean[c]!;
      b2 += t * t;
    }
    coherent[c] = v + (0.5 * b2) / images;
  }
  let bias = 0;
  for (let b = 0; b < images; b++) {
    let t = 0;
    for (let c = 0; c < oc; c++) t += sum[b * oc + c]! * err.scale[c]! * err.mean[c]!;
    bias += t * t;
  }
  return { diag, coherent, layerCoherent: varPart + (0.5 * bias) / images };
}

/** Gaussian noise of the cell's per-channel error (only `channels`, default all) in one layer's
 *  exact accumulators; mean cross-entropy increase and mean output KL over the probe's images. */
export function noiseDamage(x: ErrorAwareInputs, l: QConvLayer, err: ChannelErrorStats, channels?: number[], seed = x.seed ?? 1): { ce: number; kl: number } {
  const rng = makeRng(seed);
  const gauss = () => {
    // Box-Muller; 1 - u keeps the log finite.
    const u = 1 - rng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  };
  const on = channels ?? Array.from({ length: l.oc }, (_, c) => c);
  const zp = x.q.tensors[l.input]!.zeroPoint & 0xff;
  const out = x.probe.run(l.name, (_layer, g, exactAcc) => {
    // Share of active (non-zero-point) activation codes in each output's window.
    const active = new Float64Array(g.P);
    for (let k = 0; k < g.K; k++) for (let p = 0; p < g.P; p++) if (g.a[k * g.P + p] !== zp) active[p] = active[p]! + 1;
    for (let p = 0; p < g.P; p++) active[p] = active[p]! / g.K;
    const acc = exactAcc.slice();
    for (const c of on) {
      const sd = Math.sqrt(err.activeVariance[c]!);
      for (let p = 0; p < g.P; p++) {
        const f = active[p]!;
        const mu = f * err.activeMean[c]! + (1 - f) * err.zeroMean[c]!;
        acc[c * g.P + p] = acc[c * g.P + p]! + Math.round(mu + Math.sqrt(f) * sd * gauss());
      }
    }
    return acc;
  });
  let d = 0;
  let kl = 0;
  for (let b = 0; b < x.probe.n; b++) {
    d += out.ce[b]! - x.probe.exact.ce[b]!;
    kl += outputKl(x.probe.exact, out, b);
  }
  return { ce: d / x.probe.n, kl: kl / x.probe.n };
}

/** Every estimator's per-layer damage for one cell (layer name -> value). */
export function layerDamages(x: ErrorAwareInputs, cell: string): Record<ErrorEstimator, Record<string, number>> {
  const out: Record<ErrorEstimator, Record<string, number>> = { fisher: {}, 'fisher-coherent': {}, noise: {}, 'noise-kl': {} };
  for (const l of convLayers(x.q)) {
    const err = errorStatsOf(x, l, cell);
    const f = fisherDamage(x.grads.get(l.name)!, err);
    out.fisher[l.name] = f.diag.reduce((a, b) => a + b, 0);
    out['fisher-coherent'][l.name] = f.layerCoherent;
    const n = noiseDamage(x, l, err);
    out.noise[l.name] = n.ce;
    out['noise-kl'][l.name] = n.kl;
  }
  return out;
}

/** Per-channel damages of one cell (the filter level): Fisher estimates per channel; the noise
 *  estimate only for the listed (layer, channel) pairs, one engine run each. */
export function channelDamages(
  x: ErrorAwareInputs,
  cell: string,
  noiseFor: { layer: string; channel: number }[] = [],
): { fisher: ChannelDamage; 'fisher-coherent': ChannelDamage; noise: Map<string, { ce: number; kl: number }> } {
  const fisher: ChannelDamage = {};
  const coherent: ChannelDamage = {};
  const noise = new Map<string, { ce: number; kl: number }>();
  for (const l of convLayers(x.q)) {
    const err = errorStatsOf(x, l, cell);
    const f = fisherDamage(x.grads.get(l.name)!, err);
    fisher[l.name] = f.diag;
    coherent[l.name] = f.coherent;
    for (const s of noiseFor.filter((y) => y.layer === l.name)) noise.set(`${s.layer}#${s.channel}`, noiseDamage(x, l, err, [s.channel]));
  }
  return { fisher, 'fisher-coherent': coherent, noise };
}
