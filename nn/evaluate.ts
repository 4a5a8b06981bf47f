import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cached } from '../core/cache.ts';
import { UserError } from '../core/errors.ts';
import { writeOperandStream } from '../synth/stream.ts';
import { type Assignment, assignmentCells, readAssignment, resolveAssignment, schemeFor, uniformAssignment } from './assign.ts';
import { checkLabels, type Dataset, limitDataset, loadDataset } from './dataset.ts';
import { type FloatGraph, layerMacs } from './graph.ts';
import { importOnnx } from './onnx.ts';
import { ortPredict } from './ort.ts';
import { runDataset } from './parallel.ts';
import { loadQuantModel, writeQuantModelFiles } from './qio.ts';
import { convLayers, type QuantModel, type Scheme } from './qmodel.ts';
import { type CalibrationOptions, quantizeGraph } from './quantize.ts';
import { summarize } from './stats.ts';

export interface EvalOptions {
  model: string;
  cell?: string;
  assign?: string;
  dataset?: string;
  limit?: number;
  workers?: number;
  batch?: number;
  calibImages?: number;
  calibration?: 'max' | 'percentile';
  percentile?: number;
  /** Write one operand stream per conv/dense layer here (`<layer>.ab`). */
  streamsDir?: string;
  /** Skip the onnxruntime float reference. */
  noFloat?: boolean;
}

export interface LayerReport {
  name: string;
  kind: string;
  macsPerImage: number;
  cells: Record<string, number>;
  aZeroFraction?: number;
  aMean?: number;
  bMean?: number;
  stream?: string;
}

export interface EvalReport {
  model: string;
  dataset: string;
  images: number;
  scheme: Scheme;
  cells: string[];
  accuracy: number;
  floatAccuracy: number | null;
  /** Share of images where the int8 engine and the float reference predict the same class. */
  agreementWithFloat: number | null;
  macsPerImage: number;
  layers: LayerReport[];
  /** confusion[label][predicted] */
  confusion: number[][];
  seconds: { quantize: number; engine: number; float: number | null };
  workers: number;
  quantizedModel: string;
}

/** Images must match the model's input (C, H, W): one line otherwise. */
export function checkShapes(inputShape: { c: number; h: number; w: number }, ds: Dataset, model: string, classes?: number): void {
  if (classes !== undefined) checkLabels(ds, classes, model);
  if (inputShape.c !== ds.channels || inputShape.h !== ds.height || inputShape.w !== ds.width)
    throw new UserError(
      `shape mismatch: model ${model} expects ${inputShape.c}x${inputShape.h}x${inputShape.w} inputs, dataset ${ds.name} has ${ds.channels}x${ds.height}x${ds.width} images`,
    );
}

/** Quantize (or reuse the cached quantization of) an ONNX model for a scheme. */
export async function quantizeCached(
  modelPath: string,
  graph: FloatGraph,
  scheme: Scheme,
  calib: CalibrationOptions & { images: number; dataset?: string },
): Promise<{ model: QuantModel; dir: string; hit: boolean }> {
  const modelHash = createHash('sha256').update(readFileSync(modelPath)).digest('hex');
  const calibSet = calib.dataset ?? 'fmnist';
  const res = await cached(
    { kind: 'nn-qmodel', inputs: { v: 1, modelHash, scheme, method: calib.method, percentile: calib.percentile ?? null, images: calib.images, calibSet } },
    (dir) => {
      const ds = limitDataset(loadDataset(calibSet, 'train'), calib.images);
      checkShapes(graph.inputShape, ds, modelPath);
      writeQuantModelFiles(dir, quantizeGraph(graph, ds, { ...calib, scheme }));
    },
  );
  return { model: loadQuantModel(res.dir), dir: res.dir, hit: res.hit };
}

export function isQuantizedDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, 'model.json'));
}

export async function evaluate(o: EvalOptions): Promise<EvalReport> {
  if (o.cell && o.assign) throw new UserError('give either --cell or --assign, not both');
  const assignment: Assignment = o.assign ? readAssignment(o.assign) : uniformAssignment(o.cell ?? 'exact_s8');
  const { ids, signed } = assignmentCells(assignment);
  const scheme = schemeFor(signed);
  const ds = limitDataset(loadDataset(o.dataset, 'test'), o.limit);

  const t0 = performance.now();
  let q: QuantModel;
  let qdir: string;
  let onnxPath: string | undefined;
  if (isQuantizedDir(o.model)) {
    q = loadQuantModel(o.model);
    qdir = o.model;
    if (q.scheme !== scheme) throw new UserError(`quantized model ${o.model} uses the ${q.scheme} scheme but the cells are ${signed ? 'signed' : 'unsigned'}`);
  } else {
    const graph = importOnnx(o.model);
    checkShapes(graph.inputShape, ds, o.model);
    // Validate layer names before the (slower) calibration.
    const names = new Set(graph.layers.filter((l) => l.op === 'conv').map((l) => l.name));
    for (const n of Object.keys(assignment.layers))
      if (!names.has(n)) throw new UserError(`assignment names layer '${n}' which is not a conv/dense layer of ${o.model} (layers: ${[...names].join(', ')})`);
    const calibSet = o.dataset === 'mnist' ? 'mnist' : (o.dataset ?? 'fmnist');
    const r = await quantizeCached(o.model, graph, scheme, {
      method: o.calibration ?? 'max',
      percentile: o.percentile,
      scheme,
      images: o.calibImages ?? 256,
      dataset: calibSet,
    });
    q = r.model;
    qdir = r.dir;
    onnxPath = o.model;
  }
  checkShapes(q.inputShape, ds, o.model, q.shapes[q.output]?.c);
  const resolved = resolveAssignment(q, assignment);
  const tq = (performance.now() - t0) / 1000;

  const run = await runDataset({ model: q, table: resolved.table, rowOffsets: resolved.rowOffsets }, ds, { workers: o.workers, batch: o.batch, stats: true });

  let floatPred: Uint8Array | undefined;
  let floatSeconds: number | null = null;
  if (onnxPath && !o.noFloat) {
    const f = await ortPredict(onnxPath, ds);
    floatPred = f.pred;
    floatSeconds = f.seconds;
  }
  const classes = q.shapes[q.output]!.c;
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let correct = 0;
  let floatCorrect = 0;
  let agree = 0;
  for (let i = 0; i < ds.count; i++) {
    const y = ds.labels[i]!;
    const p = run.pred[i]!;
    if (y < classes) confusion[y]![p]! += 1;
    if (p === y) correct++;
    if (floatPred) {
      if (floatPred[i] === y) floatCorrect++;
      if (floatPred[i] === p) agree++;
    }
  }
  const statsByName = new Map((run.stats ?? []).map((s) => [s.name, s]));
  const layers: LayerReport[] = convLayers(q).map((l) => {
    const out = q.shapes[l.output]!;
    const s = statsByName.get(l.name);
    const rep: LayerReport = { name: l.name, kind: l.kind, macsPerImage: layerMacs(l, out), cells: resolved.usage[l.name]! };
    if (s) {
      const sum = summarize(s, q.scheme === 'signed');
      rep.aZeroFraction = sum.aZeroFraction;
      rep.aMean = sum.aMean;
      rep.bMean = sum.bMean;
      if (o.streamsDir) {
        const path = join(o.streamsDir, `${l.name.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^_+/, '')}.ab`);
        writeOperandStream(path, { a: Uint8Array.from(s.sampleA), b: Uint8Array.from(s.sampleB) });
        rep.stream = path;
      }
    }
    return rep;
  });
  return {
    model: o.model,
    dataset: ds.name,
    images: ds.count,
    scheme: q.scheme,
    cells: ids,
    accuracy: correct / ds.count,
    floatAccuracy: floatPred ? floatCorrect / ds.count : null,
    agreementWithFloat: floatPred ? agree / ds.count : null,
    macsPerImage: layers.reduce((a, l) => a + l.macsPerImage, 0),
    layers,
    confusion,
    seconds: { quantize: tq, engine: run.seconds, float: floatSeconds },
    workers: run.workers,
    quantizedModel: qdir,
  };
}
