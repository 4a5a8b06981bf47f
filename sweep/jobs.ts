import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { scratchDir } from '../core/atomic.ts';
import { fsUserError, UserError } from '../core/errors.ts';
import { predictRange, type RangeRequest } from '../explore/range.ts';
import { writeOutputs } from '../explore/report.ts';
import { explore, parseBudget } from '../explore/run.ts';
import { runFlow } from '../flow/run.ts';
import { evaluate } from '../nn/evaluate.ts';
import { codeHash } from './code.ts';
import type { SweepJob } from './spec.ts';

/**
 * Runs ONE sweep job through the same API functions the CLI commands call (`evaluate` for eval,
 * `runFlow` for run, `explore` for explore), wherever it is: a local sweep process or a queue
 * worker. The result's `record` holds only what the job's options determine (no timings, no
 * host), so a queue run and a local run of a sweep must give equal records.
 */
export interface JobResult {
  id: string;
  kind: SweepJob['options']['kind'];
  record: Record<string, unknown>;
  /** The command's full report (timings included). */
  report: unknown;
  /** Further output files of the job (name -> text), written into its folder. */
  files: Record<string, string>;
  host: string;
  pid: number;
  /** Wall-clock ms (Date.now) when the job started and ended in the process that ran it. */
  startedAt: number;
  endedAt: number;
}

export interface JobContext {
  /** Engine threads per job (the sweep's parallelism is its processes). */
  threads?: number;
}

/** Every host must run the code the sweep was made with, or results could differ silently. */
export function checkCode(code: string, what: string): void {
  if (code !== codeHash())
    throw new UserError(
      `${what}: host ${hostname()} runs other axtpu code (fingerprint ${codeHash()}, the job's ${code}); check out the same commit on every host`,
    );
}

function checkModel(job: SweepJob): void {
  const sha = createHash('sha256').update(readFileSync(job.options.model)).digest('hex');
  if (sha !== job.modelSha) throw new UserError(`job ${job.id}: model ${job.options.model} on host ${hostname()} is not the file the sweep was made with`);
}

export async function runJob(job: SweepJob, ctx: JobContext = {}): Promise<JobResult> {
  const startedAt = Date.now();
  const threads = ctx.threads ?? 1;
  checkCode(job.code, `job ${job.id}`);
  try {
    checkModel(job);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`job ${job.id}: model not found on host ${hostname()}: ${job.options.model}`);
    throw err;
  }
  const o = job.options;
  let out: Pick<JobResult, 'record' | 'report' | 'files'>;
  if (o.kind === 'eval') {
    const r = await evaluate({ model: o.model, cell: o.cell, dataset: o.dataset, limit: o.limit, workers: threads, noFloat: true });
    out = {
      record: { images: r.images, scheme: r.scheme, cells: r.cells, accuracy: r.accuracy, macsPerImage: r.macsPerImage, confusion: r.confusion },
      report: r,
      files: {},
    };
  } else if (o.kind === 'run') {
    const r = await runFlow({
      model: o.model,
      design: { rows: o.rows, cols: o.cols, psumBits: o.psumBits, cell: o.cell },
      dataset: o.dataset,
      limit: o.limit,
      batch: o.batch,
      harnesses: 1,
      noEnergy: !o.energy,
      write: false,
    });
    out = {
      record: {
        design: r.design,
        images: r.images,
        accuracy: r.accuracy,
        engineAccuracy: r.engineAccuracy,
        predMismatches: r.predMismatches,
        layerMismatches: r.layerMismatches,
        cyclesPerInference: r.cyclesPerInference,
        cyclesMatchModel: r.cyclesMatchModel,
        energyPjPerInference: r.energy?.pjPerInference ?? null,
      },
      report: r,
      files: {},
    };
  } else out = await exploreJob(job, threads);
  return { id: job.id, kind: o.kind, ...out, host: hostname(), pid: process.pid, startedAt, endedAt: Date.now() };
}

async function exploreJob(job: SweepJob, threads: number): Promise<Pick<JobResult, 'record' | 'report' | 'files'>> {
  const o = job.options;
  if (o.kind !== 'explore') throw new Error('exploreJob: not an explore job');
  // explore keeps its journal in its output folder: a private scratch folder, read back whole.
  const dir = scratchDir('sweep-explore');
  try {
    const r = await explore({
      model: o.model,
      dataset: o.dataset,
      cells: o.cells,
      budget: parseBudget(String(o.budget)),
      granularity: o.granularity,
      search: o.search,
      objective: o.objective,
      rows: o.rows,
      cols: o.cols,
      out: dir,
      valImages: o.valImages,
      testImages: o.testImages,
      screenImages: o.screenImages,
      calibImages: o.calibImages,
      confidence: o.confidence,
      seed: o.seed,
      nsgaPopulation: o.population,
      nsgaGenerations: o.generations,
      frontTestMax: o.frontTest,
      workers: threads,
      quiet: true,
    });
    writeOutputs(dir, r, null, 'not part of a sweep job (add a run job for the winner design)');
    const files: Record<string, string> = {};
    for (const name of readdirSync(dir).sort()) files[name] = readFileSync(join(dir, name), 'utf8');
    const point = (p: (typeof r.groups)[number]['winner']) => ({
      cells: p.cells,
      energyPj: p.energyPj,
      saving: p.saving,
      valAccuracy: p.valAccuracy,
      valLoss: p.valLoss,
      valLossUpper: p.valLossUpper,
      testAccuracy: p.testAccuracy ?? null,
      feasible: p.feasible,
    });
    const record = {
      // The objective every energy and saving below is measured in (docs/memory.md, Objectives).
      objective: o.objective,
      winnerGroup: r.winnerGroup,
      groups: r.groups.map((g) => ({
        scheme: g.scheme,
        exact: g.exact,
        baseline: g.baseline,
        units: g.units.map((u) => u.name),
        winner: point(g.winner),
        front: g.front.map(point),
        points: g.points.length,
      })),
    };
    // The summary's paths name the scratch folder: not part of the result.
    const { journal: _j, ...report } = r;
    return { record, report, files };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A candidate-accuracy range of `explore --queue`: predictions, base64 (one byte per image). */
export async function runRange(req: RangeRequest, ctx: JobContext = {}): Promise<{ pred: string; startedAt: number; endedAt: number }> {
  const startedAt = Date.now();
  const pred = await predictRange(req, ctx.threads ?? 1);
  return { pred: Buffer.from(pred).toString('base64'), startedAt, endedAt: Date.now() };
}

/** What crosses a process boundary for a failed job: a user error is final, anything else may be retried. */
export interface JobFailure {
  userError: boolean;
  message: string;
}

export function describeFailure(err: unknown): JobFailure {
  err = fsUserError(err) ?? err;
  if (err instanceof UserError) return { userError: true, message: (err.message.split('\n')[0] ?? '').replace(/^(axtpu:?\s*)+/, '') };
  const e = err as Error;
  return { userError: false, message: (e?.message ?? String(err)).split('\n')[0] ?? '' };
}
