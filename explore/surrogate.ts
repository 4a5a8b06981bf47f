import { stableStringify } from '../core/hash.ts';
import { type Assignment, resolveAssignment } from '../nn/assign.ts';
import type { Dataset } from '../nn/dataset.ts';
import { runQuantBatch } from '../nn/engine.ts';
import { prepareNativeKernels } from '../nn/native.ts';
import type { QuantModel } from '../nn/qmodel.ts';
import type { Journal } from './journal.ts';
import { outputKl, type ProbeOutcome, probeOutcome } from './layer-probe.ts';

/** A surrogate measurement as the journal keeps it. */
export interface SurrogateRecord {
  kl: number;
  images: number;
}

/**
 * The whole-design surrogate of `--greedy-order surrogate` (explore/path.ts `surrogateGreedy`):
 * a design's mean output KL vs the exact design on the estimator images (the head of the train
 * split, never the validation tail), from the bit-exact engine with the design's real cells. It
 * sees what a sum of per-unit predictions cannot: how the units' errors combine (on ResNet-8 with
 * ROUP cells they partly cancel; docs/explore.md). One engine run on 64 images costs 1/25 of a
 * judgement on 1,600 validation images; results are journaled, so a second budget's run on the
 * same output folder reuses them.
 */
export class DesignKl {
  /** Fresh engine runs and journal replays. */
  runs = 0;
  hits = 0;
  private readonly memo = new Map<string, number>();

  private constructor(
    private readonly q: QuantModel,
    private readonly ds: Dataset,
    private readonly exact: ProbeOutcome,
    private readonly problem: string,
    private readonly journal?: Journal<SurrogateRecord>,
  ) {}

  /** `exact`: the all-exact design's assignment (the reference distribution); without a journal nothing is written. */
  static async create(q: QuantModel, ds: Dataset, exact: Assignment, problem: string, journal?: Journal<SurrogateRecord>): Promise<DesignKl> {
    await prepareNativeKernels();
    return new DesignKl(q, ds, outcome(q, ds, exact), problem, journal);
  }

  get images(): number {
    return this.ds.count;
  }

  /** Mean KL(exact || design) of the output distributions over the estimator images. */
  score(a: Assignment): number {
    const key = `${this.problem}:est[0,${this.ds.count}):${stableStringify(a)}`;
    const m = this.memo.get(key);
    if (m !== undefined) return m;
    const hit = this.journal?.get(key);
    let kl: number;
    if (hit && typeof hit.kl === 'number') {
      this.hits++;
      kl = hit.kl;
    } else {
      const o = outcome(this.q, this.ds, a);
      kl = 0;
      for (let b = 0; b < this.ds.count; b++) kl += outputKl(this.exact, o, b);
      kl /= this.ds.count;
      this.journal?.record(key, { kl, images: this.ds.count });
      this.runs++;
    }
    this.memo.set(key, kl);
    return kl;
  }
}

function outcome(q: QuantModel, ds: Dataset, a: Assignment): ProbeOutcome {
  const r = resolveAssignment(q, a);
  const { scores, pred } = runQuantBatch({ model: q, table: r.table, rowOffsets: r.rowOffsets }, ds.pixels, ds.count);
  return probeOutcome(scores, pred, ds.labels, ds.count);
}
