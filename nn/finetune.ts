import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { checkOutputDir, scratchDir, writeDirAtomic } from '../core/atomic.ts';
import { UserError } from '../core/errors.ts';
import { repoRoot } from '../core/paths.ts';
import { Progress } from '../core/progress.ts';
import { spawnTool, toolErrorFor } from '../core/runner.ts';
import { pythonPath, torchStatus } from '../core/tools.ts';
import { type Assignment, assignmentCells, checkAssignmentLayers, readAssignment, resolveAssignment, schemeFor, uniformAssignment } from './assign.ts';
import { limitDataset, loadDataset } from './dataset.ts';
import { runQuantBatch } from './engine.ts';
import { type EvalOptions, type EvalReport, evaluate } from './evaluate.ts';
import { finetuneJob, type TrainOptions } from './finetune-plan.ts';
import type { FloatGraph } from './graph.ts';
import { checkShapes, isQuantizedDir, loadQuantModelFor } from './load.ts';
import { graphFromModel, importOnnx, onnx, readOnnxModel } from './onnx.ts';

/**
 * `axtpu finetune`: approximation-aware fine-tuning. PyTorch (scripts/train/finetune.py) trains
 * the float weights with the engine's integer forward pass (quantization + the cells' LUT
 * products, straight-through gradients); the result goes back as ONNX and axtpu's engine, not
 * PyTorch, measures it (`evaluate`, the same path as `axtpu eval`). Before training the script
 * runs its exact forward on CHECK_IMAGES test images and must reproduce the engine's scores.
 */
// The engine's inputs as `axtpu eval` takes them (limit = test images of the before/after accuracy), plus training.
export interface FinetuneOptions
  extends Pick<EvalOptions, 'model' | 'cell' | 'assign' | 'dataset' | 'limit' | 'workers' | 'calibration' | 'percentile' | 'calibImages'> {
  /** First N training images to fine-tune on. */
  trainImages: number;
  train: TrainOptions;
  out: string;
  force?: boolean;
  noFloat?: boolean;
}

export interface FinetuneReport {
  model: string;
  out: string;
  dataset: string;
  images: number;
  scheme: string;
  cells: string[];
  before: { accuracy: number; floatAccuracy: number | null };
  after: { accuracy: number; floatAccuracy: number | null };
  /** Engine accuracy gained, percentage points. */
  gainPp: number;
  training: {
    images: number;
    epochs: { epoch: number; loss: number; trainAccuracy: number; seconds: number; cpuSeconds: number }[];
    seconds: number;
    torch: string;
  };
  /** Images on which PyTorch's forward reproduced the engine's scores exactly. */
  checkedImages: number;
  seconds: { total: number };
}

export const TRAIN_DEFAULTS = { epochs: 1, trainImages: 4000, batch: 64, lr: 1e-4, seed: 1, threads: 1 } as const;
const CHECK_IMAGES = 32;
const SCRIPT = join(repoRoot, 'scripts', 'train', 'finetune.py');

/** PyTorch present, or one line naming `make setup` (`command`: the axtpu command that needs it). */
export function requireTorch(command = 'finetune'): void {
  const t = torchStatus();
  if (!t.ok) throw new UserError(`${command} needs PyTorch (Debian python3-torch) in ${t.path}: ${t.detail}; run \`make setup\` or set AXTPU_PYTHON`);
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneReport> {
  const t0 = performance.now();
  if (o.cell && o.assign) throw new UserError('give either --cell or --assign, not both');
  const assignment: Assignment = o.assign ? readAssignment(o.assign) : uniformAssignment(o.cell ?? 'exact_s8');
  const { signed } = assignmentCells(assignment);
  const scheme = schemeFor(signed);
  const out = resolve(o.out);
  checkOutputDir(out, { force: o.force });
  if (isQuantizedDir(o.model)) throw new UserError(`--model ${o.model}: a quantized model directory; finetune trains the float weights, give the ONNX model`);
  if (!existsSync(o.model)) throw new UserError(`--model: no such file or directory: ${o.model}`);
  const graph: FloatGraph = importOnnx(o.model);
  const test = limitDataset(loadDataset(o.dataset, 'test'), o.limit);
  checkShapes(graph.inputShape, test, o.model);
  const calib = { dataset: o.dataset, images: o.calibImages, method: o.calibration, percentile: o.percentile };
  const convNames = graph.layers.filter((l) => l.op === 'conv').map((l) => l.name);
  checkAssignmentLayers(assignment, convNames, o.model); // before the calibration
  requireTorch();
  const { model: q } = await loadQuantModelFor(o.model, scheme, calib);
  checkShapes(q.inputShape, test, o.model, q.shapes[q.output]?.c);
  const resolved = resolveAssignment(q, assignment); // layer names, granularity, signedness: one line each

  const evalOpts = {
    cell: o.cell,
    assign: o.assign,
    dataset: o.dataset,
    limit: o.limit,
    workers: o.workers,
    calibration: o.calibration,
    percentile: o.percentile,
    calibImages: o.calibImages,
    noFloat: o.noFloat,
  };
  // The job first: anything the PyTorch side cannot model is refused before the engine runs.
  const train = limitDataset(loadDataset(o.dataset, 'train'), o.trainImages);
  const check = limitDataset(test, CHECK_IMAGES);
  const { plan, files } = finetuneJob(graph, q, resolved, train, check, o.train);
  const before: EvalReport = await evaluate({ model: o.model, ...evalOpts });

  const job = scratchDir('finetune');
  try {
    writeFileSync(join(job, 'plan.json'), JSON.stringify(plan));
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(job, name), bytes);
    // The script's exact forward must be the engine's, score for score, or its training would
    // not be; it writes the check before training, and a mismatch stops it there.
    await runTrainer(job, () => {
      const got = new Float64Array(new Uint8Array(readFileSync(join(job, 'check-scores.bin'))).buffer);
      const want = runQuantBatch({ model: q, table: resolved.table, rowOffsets: resolved.rowOffsets }, check.pixels, check.count).scores;
      if (got.length !== want.length) throw new Error(`finetune: PyTorch returned ${got.length} check scores, the engine ${want.length}`);
      for (let i = 0; i < want.length; i++)
        if (got[i] !== want[i]) throw new Error(`finetune: PyTorch's integer forward differs from the engine at check score ${i} (${got[i]} vs ${want[i]})`);
    });

    const onnxPath = join(job, 'model.onnx');
    keepLayerNames(onnxPath, graph);
    const after = await evaluate({ model: onnxPath, ...evalOpts });
    const result = JSON.parse(readFileSync(join(job, 'result.json'), 'utf8')) as {
      epochs: FinetuneReport['training']['epochs'];
      trainImages: number;
      seconds: number;
      torch: string;
    };
    const report: FinetuneReport = {
      model: o.model,
      out,
      dataset: before.dataset,
      images: before.images,
      scheme: before.scheme,
      cells: before.cells,
      before: { accuracy: before.accuracy, floatAccuracy: before.floatAccuracy },
      after: { accuracy: after.accuracy, floatAccuracy: after.floatAccuracy },
      gainPp: 100 * (after.accuracy - before.accuracy),
      training: { images: result.trainImages, epochs: result.epochs, seconds: result.seconds, torch: result.torch },
      checkedImages: check.count,
      seconds: { total: (performance.now() - t0) / 1000 },
    };
    await writeDirAtomic(
      out,
      (d) => {
        copyFileSync(onnxPath, join(d, 'model.onnx'));
        writeFileSync(join(d, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
      },
      { force: o.force },
    );
    return report;
  } finally {
    rmSync(job, { recursive: true, force: true });
  }
}

/**
 * Run the script on a job folder: its `progress <done> <total> ...` lines drive a progress bar,
 * its `check` line (check scores written) runs `onCheck`, whose error stops the script.
 */
async function runTrainer(job: string, onCheck: () => void): Promise<void> {
  let checked = false;
  await runTorchScript(SCRIPT, job, 'finetune', (line) => {
    if (line !== 'check') return;
    onCheck();
    checked = true;
  });
  if (!checked) throw new Error('finetune: the script ended without its exactness check');
}

/**
 * Run a PyTorch script (scripts/train/) on a job folder through core/runner.ts, its log in the
 * folder: `progress <done> <total> <note>` lines on its stdout drive a progress bar labelled
 * `label`; every other line goes to `onLine`, whose error kills the script and is thrown.
 */
export async function runTorchScript(script: string, job: string, label: string, onLine?: (line: string) => void): Promise<void> {
  const run = { tool: pythonPath(), args: [script, job], logFile: join(job, `${basename(script, '.py')}.log`) };
  const proc = spawnTool(run);
  (proc.stdin as Writable).end();
  let progress: Progress | undefined;
  let pending = '';
  let failure: unknown;
  (proc.stdout as Readable).on('data', (b: Buffer) => {
    pending += b.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^progress (\d+) (\d+) (.*)$/.exec(line);
      if (m) {
        progress ??= new Progress(label, Number(m[2]));
        progress.tick(1, m[3]);
        continue;
      }
      try {
        onLine?.(line);
      } catch (err) {
        failure ??= err;
        proc.kill();
      }
    }
  });
  const r = await proc;
  if (failure) throw failure;
  if (r.exitCode !== 0) throw toolErrorFor(run, r.exitCode === undefined ? `killed by ${r.signal ?? '?'}` : `exit code ${r.exitCode}`);
}

/**
 * PyTorch names the exported nodes after its own module scopes; give each conv/dense node the
 * original model's layer name, so an --assign (or --cv, explore journals) written for the
 * original applies to the fine-tuned model unchanged. The two graphs must have the same layers.
 */
function keepLayerNames(path: string, original: FloatGraph): void {
  const model = readOnnxModel(path);
  const exported = graphFromModel(model, 'model', path);
  const convs = (g: FloatGraph) => g.layers.filter((l) => l.op === 'conv');
  const a = convs(exported);
  const b = convs(original);
  const same =
    a.length === b.length && a.every((l, i) => l.kind === b[i]!.kind && l.ic === b[i]!.ic && l.oc === b[i]!.oc && l.kh === b[i]!.kh && l.kw === b[i]!.kw);
  if (!same) throw new Error(`finetune: the exported model's conv/dense layers differ from ${original.name}'s`);
  const rename = new Map(a.map((l, i) => [l.name, b[i]!.name]));
  for (const node of model.graph!.node ?? []) {
    const to = rename.get(node.name ?? '');
    if (to !== undefined) node.name = to;
  }
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
}
