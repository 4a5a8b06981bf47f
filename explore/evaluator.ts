import { stableStringify } from '../core/hash.ts';
import type { VosReport } from '../flow/vos.ts';
import { injectionSpecFor } from '../flow/vos-inject.ts';
import { type Assignment, layerFilterCells, resolveAssignment } from '../nn/assign.ts';
import { type CvConfig, DEFAULT_Q } from '../nn/cv.ts';
import { compensation } from '../nn/cv-calib.ts';
import type { Dataset } from '../nn/dataset.ts';
import type { InjectSpec } from '../nn/inject.ts';
import { runDataset } from '../nn/parallel.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import type { Journal } from './journal.ts';

/**
 * Per-image correctness of an assignment on an image range of a split, through the bit-exact LUT
 * engine, memoized in the run's journal. The key is the problem id, the split, the image range and
 * the per-layer cell map, so a resumed run (or another search on the same problem) never evaluates
 * the same images twice. Correctness is kept per image (a bitset) because the decision rule pairs
 * a candidate with the exact design image by image (explore/stats.ts pairedLoss).
 */
export interface AccuracyRecord {
  accuracy: number;
  images: number;
  /** Per-image correctness, 1 bit per image (LSB first), base64. */
  correct: string;
}

export function packBits(bits: Uint8Array): string {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  for (let i = 0; i < bits.length; i++) if (bits[i]) out[i >> 3]! |= 1 << (i & 7);
  return Buffer.from(out).toString('base64');
}

export function unpackBits(b64: string, n: number): Uint8Array {
  const raw = Buffer.from(b64, 'base64');
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (raw[i >> 3]! >> (i & 7)) & 1;
  return out;
}

export class Evaluator {
  /** Range evaluations computed / replayed, and images pushed through the engine. */
  fresh = 0;
  hits = 0;
  images = 0;

  constructor(
    private readonly journal: Journal<AccuracyRecord>,
    private readonly problem: string,
    /** Predictions for the images of `ds`, which are images [start, end) of `split`. */
    private readonly runner: (a: Assignment, ds: Dataset, range: { split: string; start: number; end: number }) => Promise<Uint8Array>,
    /**
     * What else an assignment's result depends on, if anything (the voltage knob: the error models
     * and the seed its timing errors are drawn with), so a journal never replays a point drawn
     * from other models.
     */
    private readonly context: (a: Assignment) => string = () => '',
  ) {}

  key(split: string, start: number, end: number, a: Assignment): string {
    const c = this.context(a);
    return `${this.problem}:${split}[${start},${end}):${stableStringify(a)}${c ? `:${c}` : ''}`;
  }

  /** Correctness of images [start, end) of `ds`. */
  async range(split: string, ds: Dataset, start: number, end: number, a: Assignment): Promise<Uint8Array> {
    const k = this.key(split, start, end, a);
    const hit = this.journal.get(k);
    if (hit && typeof hit.correct === 'string') {
      this.hits++;
      return unpackBits(hit.correct, end - start);
    }
    const pred = await this.runner(a, sliceDataset(ds, start, end), { split, start, end });
    const bits = new Uint8Array(end - start);
    let correct = 0;
    for (let i = 0; i < bits.length; i++) {
      bits[i] = pred[i] === ds.labels[start + i] ? 1 : 0;
      correct += bits[i]!;
    }
    this.journal.record(k, { accuracy: correct / bits.length, images: bits.length, correct: packBits(bits) });
    this.fresh++;
    this.images += bits.length;
    return bits;
  }

  /** Correctness of the first `count` images, assembled from fixed stage ranges (`stages` are the
   *  range boundaries, ascending, ending at or beyond `count`) so prefixes share work. */
  async prefix(split: string, ds: Dataset, count: number, a: Assignment, stages: number[] = [count]): Promise<Uint8Array> {
    const out = new Uint8Array(count);
    let start = 0;
    for (const end of stages) {
      if (start >= count) break;
      if (end > count) throw new Error(`Evaluator.prefix: ${count} is not a stage boundary (${stages.join(', ')})`);
      out.set(await this.range(split, ds, start, end, a), start);
      start = end;
    }
    if (start !== count) throw new Error(`Evaluator.prefix: ${count} is not a stage boundary (${stages.join(', ')})`);
    return out;
  }
}

export function accuracyOf(bits: Uint8Array): number {
  let s = 0;
  for (const b of bits) s += b;
  return bits.length ? s / bits.length : 0;
}

/** What the engine needs to draw timing errors for an assignment's `volts` (the voltage knob). */
export interface VoltageContext {
  /** Per-voltage error models of the array's PEs (flow/vos-array.ts); set once characterized. */
  report?: VosReport;
  rows: number;
  psumBits: number;
  seed: number;
}

/**
 * Engine runner: predictions of an assignment on a dataset (all worker threads). Layers the
 * assignment compensates (`cv`) get the control variate fitted on `cvCalib` (docs/cv.md); layers
 * it runs below nominal (`volts`) get timing errors drawn from `volt`'s models (nn/inject.ts).
 */
export function engineRunner(
  base: QuantModel,
  workers?: number,
  cvCalib?: Dataset,
  volt?: VoltageContext,
  /** The cross-layer knobs (explore/cross-layer.ts): the model the assignment's pruning and weight-memory faults leave. */
  weightsOf?: (a: Assignment) => QuantModel,
) {
  return async (a: Assignment, ds: Dataset): Promise<Uint8Array> => {
    if ((a.prune || a.wmem) && !weightsOf) throw new Error('engineRunner: an assignment with prune or wmem needs the weight transform');
    const model = weightsOf ? weightsOf(a) : base;
    const r = resolveAssignment(model, a);
    let cv: CvConfig | undefined;
    if (a.cv?.length) {
      if (!cvCalib) throw new Error('engineRunner: an assignment with cv needs calibration images');
      cv = compensation(model, r, Object.fromEntries(a.cv.map((l) => [l, DEFAULT_Q])), { pixels: cvCalib.pixels, count: cvCalib.count }).cv;
    }
    let inject: InjectSpec | undefined;
    if (a.volts && Object.keys(a.volts).length) {
      if (!volt?.report) throw new Error('engineRunner: an assignment with volts needs error models');
      const layers = convLayers(model).map((l) => ({ name: l.name, rows: volt.rows, filterCells: layerFilterCells(a, l.name, l.oc) }));
      inject = injectionSpecFor(volt.report, layers, volt.psumBits, a.volts, { seed: volt.seed, modelName: model.name });
    }
    const run = await runDataset({ model, table: r.table, rowOffsets: r.rowOffsets, cv, inject }, ds, { workers });
    return run.pred;
  };
}

/** Images [start, end) of a dataset (views, no copy). */
export function sliceDataset(ds: Dataset, start: number, end: number): Dataset {
  const per = ds.channels * ds.height * ds.width;
  return { ...ds, count: end - start, pixels: ds.pixels.subarray(start * per, end * per), labels: ds.labels.subarray(start, end) };
}

/** The last `count` images of a split (the validation hold-out of the train split). */
export function tailDataset(ds: Dataset, count: number): Dataset {
  const n = Math.min(count, ds.count);
  return sliceDataset(ds, ds.count - n, ds.count);
}
