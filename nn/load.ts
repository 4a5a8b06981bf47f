import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cached } from '../core/cache.ts';
import { UserError } from '../core/errors.ts';
import { checkLabels, type Dataset, limitDataset, loadDataset } from './dataset.ts';
import type { FloatGraph } from './graph.ts';
import { importOnnx } from './onnx.ts';
import { loadQuantModel, writeQuantModelFiles } from './qio.ts';
import type { QuantModel, Scheme } from './qmodel.ts';
import { CALIBRATION, quantizeGraph } from './quantize.ts';

/**
 * The model every command runs: a float ONNX model quantized for a scheme (cached by content), or
 * a quantized model directory as written by `axtpu quantize`. eval, quantize, run and explore all
 * load through `loadQuantModelFor` with ONE calibration policy, so the same model, scheme and
 * dataset give the same quantized parameters (and the same cache entry) whichever command asks.
 */

/** Dataset of a command that names none (the CLI's --dataset default). */
export const DEFAULT_DATASET = 'fmnist';

export interface Calibration {
  /** Dataset whose training split calibrates (the one the command evaluates on). */
  dataset: string;
  images: number;
  method: 'max' | 'percentile';
  /** Only for method 'percentile' (ignored, and absent from the cache key, for 'max'). */
  percentile?: number;
}

/** The policy with defaults filled in; `percentile` kept only where it changes the result. */
export function calibrationPolicy(o: Partial<Calibration> = {}): Calibration {
  const method = o.method ?? CALIBRATION.method;
  const c: Calibration = { dataset: o.dataset ?? DEFAULT_DATASET, images: o.images ?? CALIBRATION.images, method };
  if (method === 'percentile') c.percentile = o.percentile ?? CALIBRATION.percentile;
  return c;
}

export interface LoadedModel {
  model: QuantModel;
  /** The quantized model directory (the cache entry for an ONNX model). */
  source: string;
  /** The float ONNX file, when the model was quantized from one. */
  onnx?: string;
  /** Served from the cache (false: calibrated by this call). */
  hit: boolean;
}

export function isQuantizedDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, 'model.json'));
}

/** Images must match the model's input (C, H, W): one line otherwise. */
export function checkShapes(inputShape: { c: number; h: number; w: number }, ds: Dataset, model: string, classes?: number): void {
  if (classes !== undefined) checkLabels(ds, classes, model);
  if (inputShape.c !== ds.channels || inputShape.h !== ds.height || inputShape.w !== ds.width)
    throw new UserError(
      `shape mismatch: model ${model} expects ${inputShape.c}x${inputShape.h}x${inputShape.w} inputs, dataset ${ds.name} has ${ds.channels}x${ds.height}x${ds.width} images`,
    );
}

/**
 * The quantized model for `scheme`. A quantized directory is returned as it is (its scheme is
 * checked by the caller against the cells it will run, with the caller's wording). `checkGraph`
 * sees the float graph before the (slower) calibration, so a bad argument fails first.
 */
export async function loadQuantModelFor(
  modelPath: string,
  scheme: Scheme,
  calib: Partial<Calibration> = {},
  checkGraph?: (g: FloatGraph) => void,
): Promise<LoadedModel> {
  if (!existsSync(modelPath)) throw new UserError(`--model: no such file or directory: ${modelPath}`);
  if (isQuantizedDir(modelPath)) return { model: loadQuantModel(modelPath), source: modelPath, hit: true };
  if (statSync(modelPath).isDirectory()) throw new UserError(`--model ${modelPath}: a directory without model.json (not a quantized model)`);
  const graph = importOnnx(modelPath);
  checkGraph?.(graph);
  const c = calibrationPolicy(calib);
  const modelHash = createHash('sha256').update(readFileSync(modelPath)).digest('hex');
  const res = await cached(
    {
      kind: 'nn-qmodel',
      inputs: { v: 1, modelHash, scheme, method: c.method, percentile: c.percentile ?? null, images: c.images, calibSet: c.dataset },
    },
    (dir) => {
      const ds = limitDataset(loadDataset(c.dataset, 'train'), c.images);
      checkShapes(graph.inputShape, ds, modelPath);
      writeQuantModelFiles(dir, quantizeGraph(graph, ds, { method: c.method, percentile: c.percentile, scheme }));
    },
  );
  return { model: loadQuantModel(res.dir), source: res.dir, onnx: modelPath, hit: res.hit };
}
