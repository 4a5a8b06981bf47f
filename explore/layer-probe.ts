import { engineSteps } from '../nn/engine.ts';
import { type GemmOperands, gemmExact } from '../nn/gemm.ts';
import type { QConvLayer, QuantModel } from '../nn/qmodel.ts';
import { StatsCollector } from '../nn/stats.ts';

/**
 * One batch of images through the bit-exact engine with ONE conv/dense layer's GEMM replaced
 * (a real cell's LUT, or the exact GEMM plus injected noise), everything else exact. The exact
 * run's accumulators are kept, so the layers before the replaced one are not recomputed (their
 * inputs are the same). Returns per-image cross-entropy, correctness and output distribution: what the validation of
 * the criticality estimators (explore/criticality-check.ts) compares.
 */
export interface ProbeOutcome {
  /** Per image: cross-entropy of the output scores vs the label. */
  ce: Float64Array;
  correct: Uint8Array;
  /** Per image: log-softmax of the output scores (images x classes). */
  logp: Float64Array;
}

/** Per image: KL(exact || other) of the output distributions (>= 0, no first-order term). */
export function outputKl(exact: ProbeOutcome, other: ProbeOutcome, image: number): number {
  const classes = exact.logp.length / exact.ce.length;
  let kl = 0;
  for (let i = image * classes; i < (image + 1) * classes; i++) kl += Math.exp(exact.logp[i]!) * (exact.logp[i]! - other.logp[i]!);
  return Math.max(0, kl);
}

export type GemmOverride = (l: QConvLayer, g: GemmOperands, exactAcc: Int32Array) => Int32Array;

export class LayerProbe {
  private readonly exactAcc = new Map<string, Int32Array>();
  readonly exact: ProbeOutcome;
  /** Activation-code histogram per layer (exact run), for the cells' error statistics. */
  readonly stats = new StatsCollector(0, 0);

  constructor(
    readonly q: QuantModel,
    private readonly pixels: Uint8Array,
    private readonly labels: ArrayLike<number>,
    readonly n: number,
  ) {
    this.exact = this.drive(undefined, undefined, true);
  }

  /** The batch with layer `target`'s accumulators from `override`. */
  run(target: string, override: GemmOverride): ProbeOutcome {
    return this.drive(target, override, false);
  }

  private drive(target: string | undefined, override: GemmOverride | undefined, record: boolean): ProbeOutcome {
    const steps = engineSteps(this.q, this.pixels, this.n, record ? this.stats : undefined);
    let reached = false;
    let r = steps.next();
    while (!r.done) {
      const { layer, g } = r.value;
      let acc: Int32Array;
      if (record) {
        acc = gemmExact(layer, g, this.q.scheme);
        this.exactAcc.set(layer.name, acc);
      } else if (layer.name === target) {
        reached = true;
        acc = override!(layer, g, this.exactAcc.get(layer.name)!);
      } else if (!reached) acc = this.exactAcc.get(layer.name)!;
      else acc = gemmExact(layer, g, this.q.scheme);
      r = steps.next(acc);
    }
    const { scores, pred } = r.value;
    return probeOutcome(scores, pred, this.labels, this.n);
  }
}

/** Per image: cross-entropy, correctness and log-softmax of a batch's output scores (n x classes). */
export function probeOutcome(scores: Float64Array, pred: Uint8Array, labels: ArrayLike<number>, n: number): ProbeOutcome {
  const classes = scores.length / n;
  const ce = new Float64Array(n);
  const correct = new Uint8Array(n);
  const logp = new Float64Array(n * classes);
  for (let b = 0; b < n; b++) {
    const y = labels[b]!;
    let mx = -Infinity;
    for (let i = 0; i < classes; i++) mx = Math.max(mx, scores[b * classes + i]!);
    let s = 0;
    for (let i = 0; i < classes; i++) s += Math.exp(scores[b * classes + i]! - mx);
    const lse = mx + Math.log(s);
    for (let i = 0; i < classes; i++) logp[b * classes + i] = scores[b * classes + i]! - lse;
    ce[b] = lse - scores[b * classes + y]!;
    correct[b] = pred[b] === y ? 1 : 0;
  }
  return { ce, correct, logp };
}
