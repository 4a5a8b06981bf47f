import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { UserError } from '../core/errors.ts';
import { type Assignment, resolveAssignment } from '../nn/assign.ts';
import { type Dataset, loadDataset, type Split } from '../nn/dataset.ts';
import { DEFAULT_DATASET, loadQuantModelFor } from '../nn/load.ts';
import { runDataset } from '../nn/parallel.ts';
import type { QuantModel, Scheme } from '../nn/qmodel.ts';
import { sliceDataset } from './evaluator.ts';

/**
 * One candidate-accuracy evaluation described by value, so another process or host can compute it
 * (`explore --queue`): the model (path and content hash), the quantization scheme and calibration
 * dataset (nn/load.ts policy, the same cache entry the local run uses), images [start, end) of a
 * split, and the per-layer cell assignment. The answer is the engine's prediction per image.
 */
export interface RangeRequest {
  model: string;
  modelSha: string;
  scheme: Scheme;
  dataset: string;
  split: Split;
  start: number;
  end: number;
  assignment: Assignment;
}

export type RangeRunner = (req: RangeRequest) => Promise<Uint8Array>;

/** Quantized models and datasets a long-lived worker has loaded (one of each per key). */
const models = new Map<string, Promise<QuantModel>>();
const datasets = new Map<string, Dataset>();

function modelFor(req: RangeRequest): Promise<QuantModel> {
  const key = `${req.modelSha}:${req.scheme}:${req.dataset}`;
  let m = models.get(key);
  if (!m) {
    const sha = createHash('sha256').update(readFileSync(req.model)).digest('hex');
    if (sha !== req.modelSha) throw new UserError(`model ${req.model} on host ${hostname()} is not the file the explore run uses (content differs)`);
    m = loadQuantModelFor(req.model, req.scheme, { dataset: req.dataset }).then((r) => r.model);
    models.set(key, m);
    m.catch(() => models.delete(key));
  }
  return m;
}

/** Predictions of images [start, end) of the request's split (engine threads: `workers`). */
export async function predictRange(req: RangeRequest, workers?: number): Promise<Uint8Array> {
  const q = await modelFor(req);
  const key = `${req.dataset}:${req.split}`;
  let ds = datasets.get(key);
  if (!ds) {
    ds = loadDataset(req.dataset ?? DEFAULT_DATASET, req.split);
    datasets.set(key, ds);
  }
  if (!(req.start >= 0 && req.end <= ds.count && req.start < req.end))
    throw new UserError(`images [${req.start}, ${req.end}) are outside ${req.split} (${ds.count} images)`);
  const r = resolveAssignment(q, req.assignment);
  const run = await runDataset({ model: q, table: r.table, rowOffsets: r.rowOffsets }, sliceDataset(ds, req.start, req.end), { workers });
  return run.pred;
}
