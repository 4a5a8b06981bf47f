import { makeRng, randInt } from '../core/rng.ts';
import { resolveAssignment, uniformAssignment } from '../nn/assign.ts';
import type { Dataset } from '../nn/dataset.ts';
import { pixelsToFloat } from '../nn/float.ts';
import { type GemmOperands, gemmLut } from '../nn/gemm.ts';
import type { FloatGraph } from '../nn/graph.ts';
import { convLayers, type QConvLayer, type QuantModel } from '../nn/qmodel.ts';
import { channelShares } from './criticality.ts';
import { channelDamages, ERROR_ESTIMATORS, type ErrorAwareInputs, layerDamages } from './error-criticality.ts';
import { type GemmOverride, LayerProbe, outputKl, type ProbeOutcome } from './layer-probe.ts';
import { lossGradients } from './loss-gradients.ts';
import { kendall, percentileInterval, spearman } from './stats.ts';
import type { LayerCriticality } from './xai.ts';

/**
 * Does a criticality estimator predict the damage? (issue 20) For each checked cell (the probe
 * and others), every conv/dense layer alone on that cell, measured on validation images through
 * the bit-exact engine: the mean increase of the cross-entropy and the accuracy loss vs exact.
 * Each estimator's ranking of the layers is compared with the measured one (Spearman, Kendall),
 * with percentile bootstrap intervals over the measurement images (the estimates stay fixed: the
 * interval says how stable the measured ranking is). At filter level the same on a seeded sample
 * of single filters. Everything here is bounded: (cells x layers + filters) engine runs on
 * `images` validation images, plus one noise run per (cell, layer) on the estimator's images.
 */
export const ESTIMATORS = [...ERROR_ESTIMATORS, 'conductance', 'gxa'] as const;
export type Estimator = (typeof ESTIMATORS)[number];

export interface Correlation {
  estimator: Estimator;
  spearman: number;
  spearmanCi: [number, number];
  kendall: number;
  kendallCi: [number, number];
}

export interface CellCheck {
  cell: string;
  /** Per layer (model order): measured mean cross-entropy increase and accuracy loss (fraction). */
  measured: { layer: string; lossIncrease: number; accuracyLoss: number; outputKl: number }[];
  /** Per estimator, per layer (model order). */
  estimates: Record<Estimator, number[]>;
  /** Against the measured loss increase, the measured accuracy loss and the measured output KL. */
  vsLoss: Correlation[];
  vsAccuracy: Correlation[];
  vsKl: Correlation[];
}

export interface FilterCheck {
  cell: string;
  filters: { layer: string; channel: number; lossIncrease: number; accuracyLoss: number; outputKl: number; estimates: Record<Estimator, number> }[];
  vsLoss: Correlation[];
  vsKl: Correlation[];
}

export interface CriticalityCheck {
  /** Validation images of the measurement, estimator (calibration) images, bootstrap resamples. */
  images: number;
  estimatorImages: number;
  bootstrap: number;
  level: number;
  cells: CellCheck[];
  filters?: FilterCheck;
  /** Engine runs of the measurement (layer and filter probes) and of the noise estimate. */
  engineRuns: { measured: number; noise: number };
  seconds: { estimators: number; measured: number };
}

export interface CheckOptions {
  q: QuantModel;
  graph: FloatGraph;
  exact: string;
  /** Cells to check, the probe first. */
  cells: string[];
  /** Estimator images (calibration, disjoint from `val`). */
  calib: Dataset;
  /** Measurement images (the first validation images). */
  val: Dataset;
  /** XAI scores of the same model (explore/xai.ts), the baselines. */
  xai: LayerCriticality[];
  /** Filters sampled for the filter-level check (0 = none). */
  filterSample?: number;
  bootstrap?: number;
  level?: number;
  seed?: number;
  /** Images per engine batch (bounds memory: the exact accumulators of one batch are kept). */
  batch?: number;
  /** Precomputed `estimatorInputs` on `calib` (the caller reuses them). */
  inputs?: ErrorAwareInputs;
}

/** Everything the estimators need, computed once on the calibration images. */
export function estimatorInputs(q: QuantModel, graph: FloatGraph, exact: string, calib: Dataset, seed = 1): ErrorAwareInputs {
  const inputs = pixelsToFloat(calib.pixels);
  const grads = new Map(lossGradients(graph, inputs, calib.labels, calib.count).map((g) => [g.layer, g]));
  return { q, exact, grads, probe: new LayerProbe(q, calib.pixels, calib.labels, calib.count), seed };
}

function correlations(estimates: Record<Estimator, number[]>, measured: number[], boot: number[][], level: number): Correlation[] {
  return ESTIMATORS.map((estimator) => {
    const e = estimates[estimator];
    // One unit has no ranking.
    if (e.length < 2)
      return { estimator, spearman: Number.NaN, spearmanCi: [Number.NaN, Number.NaN], kendall: Number.NaN, kendallCi: [Number.NaN, Number.NaN] };
    const rs = boot.map((m) => spearman(e, m));
    const ks = boot.map((m) => kendall(e, m));
    return {
      estimator,
      spearman: spearman(e, measured),
      spearmanCi: percentileInterval(rs, level),
      kendall: kendall(e, measured),
      kendallCi: percentileInterval(ks, level),
    };
  });
}

/** Per-image differences vs exact -> per-unit means, for the images in `idx`. */
function means(diffs: Float64Array[], idx: ArrayLike<number>): number[] {
  return diffs.map((d) => {
    let s = 0;
    for (let i = 0; i < idx.length; i++) s += d[idx[i]!]!;
    return s / idx.length;
  });
}

function bootstrapMeans(diffs: Float64Array[], n: number, resamples: number, seed: number): number[][] {
  const rng = makeRng(seed);
  const idx = new Int32Array(n);
  const out: number[][] = [];
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) idx[i] = randInt(rng, n);
    out.push(means(diffs, idx));
  }
  return out;
}

/**
 * Measure variants batch by batch: for each batch a fresh exact probe, then every variant
 * (layer + GEMM override); per variant per-image (loss increase, accuracy loss) vs exact.
 */
function measure(
  q: QuantModel,
  val: Dataset,
  batch: number,
  variants: { layer: string; override: GemmOverride }[],
): { ce: Float64Array[]; acc: Float64Array[]; kl: Float64Array[] } {
  const per = val.channels * val.height * val.width;
  const ce = variants.map(() => new Float64Array(val.count));
  const acc = variants.map(() => new Float64Array(val.count));
  const kl = variants.map(() => new Float64Array(val.count));
  for (let s = 0; s < val.count; s += batch) {
    const n = Math.min(batch, val.count - s);
    const probe = new LayerProbe(q, val.pixels.subarray(s * per, (s + n) * per), val.labels.subarray(s, s + n), n);
    variants.forEach((v, j) => {
      const o: ProbeOutcome = probe.run(v.layer, v.override);
      for (let b = 0; b < n; b++) {
        ce[j]![s + b] = o.ce[b]! - probe.exact.ce[b]!;
        acc[j]![s + b] = probe.exact.correct[b]! - o.correct[b]!;
        kl[j]![s + b] = outputKl(probe.exact, o, b);
      }
    });
  }
  return { ce, acc, kl };
}

export function checkCriticality(o: CheckOptions): CriticalityCheck {
  const t0 = performance.now();
  const { q, exact } = o;
  const B = o.bootstrap ?? 1000;
  const level = o.level ?? 0.9;
  const seed = o.seed ?? 1;
  const batch = o.batch ?? 100;
  const layers = convLayers(q);
  const x = o.inputs ?? estimatorInputs(q, o.graph, exact, o.calib, seed);
  const xaiOf = (k: 'conductance' | 'gradTimesActivation') => layers.map((l) => o.xai.find((c) => c.layer === l.name)?.[k] ?? 0);
  let noiseRuns = 0;
  const est = o.cells.map((cell) => {
    const d = layerDamages(x, cell);
    noiseRuns += layers.length;
    const estimates = {} as Record<Estimator, number[]>;
    for (const k of ERROR_ESTIMATORS) estimates[k] = layers.map((l) => d[k][l.name]!);
    estimates.conductance = xaiOf('conductance');
    estimates.gxa = xaiOf('gradTimesActivation');
    return estimates;
  });
  // Filter sample: round-robin over layers, a seeded random channel of each.
  const rng = makeRng(seed + 7);
  const sample: { layer: string; channel: number }[] = [];
  const wanted = o.filterSample ?? 0;
  const taken = new Set<string>();
  const room = layers.reduce((a, l) => a + l.oc, 0);
  for (let i = 0; sample.length < Math.min(wanted, room); i++) {
    const l = layers[i % layers.length]!;
    const c = randInt(rng, l.oc);
    if (taken.has(`${l.name}#${c}`)) continue;
    taken.add(`${l.name}#${c}`);
    sample.push({ layer: l.name, channel: c });
  }
  const probeCell = o.cells[0]!;
  const filterEst = sample.length ? channelDamages(x, probeCell, sample) : undefined;
  noiseRuns += sample.length;
  const tEst = performance.now();

  const banks = new Map(o.cells.map((cell) => [cell, resolveAssignment(q, uniformAssignment(cell))]));
  const lut = (cell: string) => {
    const r = banks.get(cell)!;
    return (l: QConvLayer, g: GemmOperands) => gemmLut(r.rowOffsets[l.name]!, r.table, g, l.oc);
  };
  const variants: { layer: string; override: GemmOverride }[] = o.cells.flatMap((cell) => layers.map((l) => ({ layer: l.name, override: lut(cell) })));
  for (const s of sample) {
    const full = lut(probeCell);
    variants.push({
      layer: s.layer,
      override: (l, g, exactAcc) => {
        // One filter on the cell: its channel's row from the LUT GEMM, the others exact.
        const a = exactAcc.slice();
        const f = full(l, g);
        a.set(f.subarray(s.channel * g.P, (s.channel + 1) * g.P), s.channel * g.P);
        return a;
      },
    });
  }
  const m = measure(q, o.val, batch, variants);
  const n = o.val.count;
  const all = Array.from({ length: n }, (_, i) => i);
  const cells: CellCheck[] = o.cells.map((cell, ci) => {
    const ce = m.ce.slice(ci * layers.length, (ci + 1) * layers.length);
    const ac = m.acc.slice(ci * layers.length, (ci + 1) * layers.length);
    const kl = m.kl.slice(ci * layers.length, (ci + 1) * layers.length);
    const mce = means(ce, all);
    const mac = means(ac, all);
    const mkl = means(kl, all);
    // The same resamples (seed) for the three measures.
    return {
      cell,
      measured: layers.map((l, j) => ({ layer: l.name, lossIncrease: mce[j]!, accuracyLoss: mac[j]!, outputKl: mkl[j]! })),
      estimates: est[ci]!,
      vsLoss: correlations(est[ci]!, mce, bootstrapMeans(ce, n, B, seed + ci), level),
      vsAccuracy: correlations(est[ci]!, mac, bootstrapMeans(ac, n, B, seed + ci), level),
      vsKl: correlations(est[ci]!, mkl, bootstrapMeans(kl, n, B, seed + ci), level),
    };
  });
  let filters: FilterCheck | undefined;
  if (filterEst) {
    const off = o.cells.length * layers.length;
    const ce = m.ce.slice(off);
    const ac = m.acc.slice(off);
    const kl = m.kl.slice(off);
    const mce = means(ce, all);
    const mac = means(ac, all);
    const mkl = means(kl, all);
    const crit = new Map(o.xai.map((c) => [c.layer, c]));
    const share = channelShares(o.graph, pixelsToFloat(o.calib.pixels), o.calib.labels, o.calib.count);
    const rows = sample.map((s, i) => {
      const c = crit.get(s.layer)!;
      const sh = share[s.layer]![s.channel]!;
      return {
        ...s,
        lossIncrease: mce[i]!,
        accuracyLoss: mac[i]!,
        outputKl: mkl[i]!,
        estimates: {
          fisher: filterEst.fisher[s.layer]![s.channel]!,
          'fisher-coherent': filterEst['fisher-coherent'][s.layer]![s.channel]!,
          noise: filterEst.noise.get(`${s.layer}#${s.channel}`)!.ce,
          'noise-kl': filterEst.noise.get(`${s.layer}#${s.channel}`)!.kl,
          conductance: c.conductance * sh,
          gxa: c.gradTimesActivation * sh,
        } as Record<Estimator, number>,
      };
    });
    const estimates = Object.fromEntries(ESTIMATORS.map((k) => [k, rows.map((r) => r.estimates[k])])) as Record<Estimator, number[]>;
    filters = {
      cell: probeCell,
      filters: rows,
      vsLoss: correlations(estimates, mce, bootstrapMeans(ce, n, B, seed + 99), level),
      vsKl: correlations(estimates, mkl, bootstrapMeans(kl, n, B, seed + 99), level),
    };
  }
  return {
    images: n,
    estimatorImages: o.calib.count,
    bootstrap: B,
    level,
    cells,
    filters,
    engineRuns: { measured: variants.length, noise: noiseRuns },
    seconds: { estimators: (tEst - t0) / 1000, measured: (performance.now() - tEst) / 1000 },
  };
}

/**
 * The estimator the search ranks units with: the best Spearman vs the measured output KL on the
 * probe cell (the calibration budget is the probe's one-layer runs; KL is the measure with the
 * least sampling noise), ties to the earlier one in ESTIMATORS (error-aware first).
 */
export function chooseEstimator(c: CriticalityCheck): Estimator {
  const probe = c.cells[0]!;
  let best = probe.vsKl[0]!;
  for (const r of probe.vsKl) if (r.spearman > best.spearman + 1e-12) best = r;
  return best.estimator;
}
