import { resolveAssignment, type Assignment } from '../nn/assign.ts';
import { runDataset } from '../nn/parallel.ts';
import type { Dataset } from '../nn/dataset.ts';
import type { QuantModel } from '../nn/qmodel.ts';
import { stableStringify } from '../core/hash.ts';
import type { Journal } from './journal.ts';

/**
 * Accuracy of an assignment on a split, through the bit-exact LUT engine, memoized in the run's
 * journal: the key is the problem id, the split and the per-layer cell map, so a resumed run (or
 * another search on the same problem) never evaluates the same point twice.
 */
export interface AccuracyRecord {
  accuracy: number;
  images: number;
}

export class Evaluator {
  fresh = 0;
  hits = 0;

  constructor(
    private readonly model: QuantModel,
    private readonly journal: Journal<AccuracyRecord>,
    private readonly problem: string,
    private readonly workers?: number,
  ) {}

  key(split: string, a: Assignment): string {
    return `${this.problem}:${split}:${stableStringify(a)}`;
  }

  async accuracy(split: string, ds: Dataset, a: Assignment): Promise<number> {
    const k = this.key(split, a);
    const hit = this.journal.get(k);
    if (hit) {
      this.hits++;
      return hit.accuracy;
    }
    const r = resolveAssignment(this.model, a);
    const run = await runDataset({ model: this.model, table: r.table, rowOffsets: r.rowOffsets }, ds, { workers: this.workers });
    let correct = 0;
    for (let i = 0; i < ds.count; i++) if (run.pred[i] === ds.labels[i]) correct++;
    const rec = { accuracy: correct / ds.count, images: ds.count };
    this.journal.record(k, rec);
    this.fresh++;
    return rec.accuracy;
  }
}

/** The last `count` images of a split (the validation hold-out of the train split). */
export function tailDataset(ds: Dataset, count: number): Dataset {
  const n = Math.min(count, ds.count);
  const per = ds.channels * ds.height * ds.width;
  const start = ds.count - n;
  return { ...ds, count: n, pixels: ds.pixels.subarray(start * per), labels: ds.labels.subarray(start) };
}
