import { join } from 'node:path';
import { UserError } from '../core/errors.ts';
import { writeOperandStream } from '../synth/operand-stream.ts';
import { type Assignment, assignmentCells, checkAssignmentLayers, readAssignment, resolveAssignment, schemeFor, uniformAssignment } from './assign.ts';
import { type CvConfig, parseCvSpec } from './cv.ts';
import { compensation } from './cv-calib.ts';
import { limitDataset, loadDataset } from './dataset.ts';
import { type FloatGraph, layerMacs } from './graph.ts';
import { checkShapes, loadQuantModelFor } from './load.ts';
import { ortPredict } from './ort.ts';
import { runDataset } from './parallel.ts';
import { checkPruneLayers, type PruneResult, type PruneSpec, pruneModel } from './prune.ts';
import { convLayers, type Scheme } from './qmodel.ts';
import { CALIBRATION } from './quantize.ts';
import { summarize } from './stats.ts';
import { applyWeightFaults, checkWmemOptions, loadWmemModel, type WeightFaultResult, type WmemOptions, wmemVoltsFor } from './wmem.ts';

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
  /** Control-variate compensation: `all`, layer list or JSON (nn/cv.ts `parseCvSpec`), and its default q. */
  cv?: string;
  cvQ?: number;
  /** Magnitude pruning of the quantized model before evaluation (nn/prune.ts). */
  prune?: PruneSpec;
  /** Approximate weight memory (nn/wmem.ts): faulty weight bits at a reduced supply, nominal = the model file's nominalVolts. */
  wmem?: WmemOptions;
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
  /** Compensated layers: q, coefficients saturated at COEF_BITS (nn/cv.ts). */
  cv?: Record<string, { q: number; saturated: number }>;
  workers: number;
  quantizedModel: string;
  /** With --prune: per conv/dense layer the asked sparsity and the zero-weight fraction reached. */
  prune?: PruneResult['layers'];
  /** With --wmem-volts: the fault model, its nominal, protection, seed and the faulty bits per layer. */
  wmem?: { model: string; nominal: number; protectMsbs: number; seed: number; layers: WeightFaultResult['layers'] };
}

export async function evaluate(o: EvalOptions): Promise<EvalReport> {
  if (o.cell && o.assign) throw new UserError('give either --cell or --assign, not both');
  const assignment: Assignment = o.assign ? readAssignment(o.assign) : uniformAssignment(o.cell ?? 'exact_s8');
  const { ids, signed } = assignmentCells(assignment);
  const scheme = schemeFor(signed);
  const ds = limitDataset(loadDataset(o.dataset, 'test'), o.limit);

  const wm = o.wmem ? loadWmemModel(o.wmem.modelFile) : undefined;
  if (o.wmem && wm) checkWmemOptions(o.wmem, wm, wm.nominalVolts);
  const t0 = performance.now();
  // Validate layer names against the float graph before the (slower) calibration.
  const checkNames = (graph: FloatGraph) => {
    checkShapes(graph.inputShape, ds, o.model);
    checkAssignmentLayers(
      assignment,
      graph.layers.filter((l) => l.op === 'conv').map((l) => l.name),
      o.model,
    );
    if (o.cv !== undefined) parseCvSpec(o.cv, graph, o.cvQ);
    if (o.wmem && wm) checkWmemOptions(o.wmem, wm, wm.nominalVolts, { names: graph.layers.filter((l) => l.op === 'conv').map((l) => l.name), model: o.model });
    if (o.prune !== undefined)
      checkPruneLayers(
        o.prune,
        graph.layers.filter((l) => l.op === 'conv').map((l) => l.name),
        o.model,
      );
  };
  const calib = { dataset: o.dataset, images: o.calibImages, method: o.calibration, percentile: o.percentile };
  const loaded = await loadQuantModelFor(o.model, scheme, calib, checkNames);
  const { source: qdir, onnx: onnxPath } = loaded;
  const pruned = o.prune === undefined ? undefined : pruneModel(loaded.model, o.prune);
  const kept = pruned ? pruned.model : loaded.model;
  const faulted =
    o.wmem && wm
      ? applyWeightFaults(kept, wmemVoltsFor(kept, o.wmem.volts), { seed: o.wmem.seed, protectMsbs: o.wmem.protectMsbs, model: wm, nominal: wm.nominalVolts })
      : undefined;
  const q = faulted ? faulted.model : kept;
  if (q.scheme !== scheme) throw new UserError(`quantized model ${o.model} uses the ${q.scheme} scheme but the cells are ${signed ? 'signed' : 'unsigned'}`);
  checkShapes(q.inputShape, ds, o.model, q.shapes[q.output]?.c);
  const resolved = resolveAssignment(q, assignment);
  let cv: CvConfig | undefined;
  let cvReport: EvalReport['cv'];
  if (o.cv !== undefined) {
    const plan = parseCvSpec(o.cv, q, o.cvQ);
    // The error fit is weighted by activation histograms of calibration (training) images.
    const calib = limitDataset(loadDataset(o.dataset, 'train'), o.calibImages ?? CALIBRATION.images);
    const built = compensation(q, resolved, plan, { pixels: calib.pixels, count: calib.count });
    cv = built.cv;
    cvReport = Object.fromEntries(Object.entries(plan).map(([name, lq]) => [name, { q: lq, saturated: built.saturated[name] ?? 0 }]));
  }
  const tq = (performance.now() - t0) / 1000;

  const run = await runDataset({ model: q, table: resolved.table, rowOffsets: resolved.rowOffsets, cv }, ds, {
    workers: o.workers,
    batch: o.batch,
    stats: true,
  });

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
    ...(cvReport ? { cv: cvReport } : {}),
    workers: run.workers,
    quantizedModel: qdir,
    ...(pruned ? { prune: pruned.layers } : {}),
    ...(faulted && o.wmem && wm
      ? { wmem: { model: wm.name, nominal: wm.nominalVolts, protectMsbs: o.wmem.protectMsbs, seed: o.wmem.seed, layers: faulted.layers } }
      : {}),
  };
}
