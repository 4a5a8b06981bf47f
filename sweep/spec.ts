import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../core/errors.ts';
import { shortHash } from '../core/hash.ts';
import { parseOrThrow, z } from '../core/validate.ts';
import { expandCells, groupCandidates } from '../explore/candidates.ts';
import { parseBudget } from '../explore/run.ts';
import { OBJECTIVES } from '../flow/energy.ts';
import { getCell } from '../generators/multipliers/index.ts';
import { checkGranularity } from '../mapping/units.ts';
import { DEFAULT_DATASET } from '../nn/load.ts';
import { codeHash } from './code.ts';

/**
 * A sweep file (docs/sweep.md): a list of jobs and/or grids of jobs, each job one `axtpu eval`,
 * `run` or `explore` with its options. Expands to a deterministic job list; a job's id is the
 * content hash of its normalized options (the model by content, not path), so the same job in two
 * sweeps, or on two hosts, is the same job (as long as the code is the same: sweep/code.ts).
 */
const int = (min: number, max: number) => z.number().int().min(min).max(max);

const common = {
  /** ONNX model; relative paths are relative to the sweep file's folder. */
  model: z.string().min(1),
  dataset: z.string().min(1).default(DEFAULT_DATASET),
  /** First N test images. */
  limit: int(1, 10_000_000).optional(),
};

const evalJob = z
  .object({
    kind: z.literal('eval'),
    ...common,
    cell: z.string().min(1).default('exact_s8'),
  })
  .strict();

const runJob = z
  .object({
    kind: z.literal('run'),
    ...common,
    rows: int(2, 64),
    cols: int(2, 64),
    cell: z.string().min(1),
    psumBits: int(16, 32).default(32),
    batch: int(1, 100_000).default(250),
    /** Synthesized per-op energy estimate (as `axtpu run` without --no-energy). */
    energy: z.boolean().default(true),
  })
  .strict();

const exploreJob = z
  .object({
    kind: z.literal('explore'),
    model: common.model,
    dataset: common.dataset,
    cells: z.string().min(1),
    budget: z.union([z.string(), z.number()]).default('1%'),
    granularity: z.enum(['layer', 'filter']).default('layer'),
    search: z.enum(['xai-greedy', 'nsga2', 'exhaustive']).default('xai-greedy'),
    objective: z.enum(OBJECTIVES).default('accelerator'),
    rows: int(2, 64).default(16),
    cols: int(2, 64).default(16),
    valImages: int(10, 10_000_000).default(2000),
    testImages: int(1, 10_000_000).optional(),
    screenImages: int(0, 10_000_000).optional(),
    calibImages: int(1, 10_000).default(64),
    confidence: z.number().min(0.5).max(0.9999).default(0.9),
    seed: int(0, 2 ** 31).default(1),
    population: int(4, 1000).default(16),
    generations: int(1, 1000).default(10),
    frontTest: int(1, 1000).default(3),
  })
  .strict();

const jobSchema = z.discriminatedUnion('kind', [evalJob, runJob, exploreJob]);
export type JobOptions = z.infer<typeof jobSchema>;
export type JobKind = JobOptions['kind'];

const fileSchema = z
  .object({
    /** Merged under every job and grid entry (a job's own fields win). */
    defaults: z.record(z.unknown()).default({}),
    jobs: z.array(z.record(z.unknown())).default([]),
    /** Each entry is a job whose array-valued fields expand: one job per combination. */
    grid: z.array(z.record(z.unknown())).default([]),
  })
  .strict()
  .refine((f) => f.jobs.length + f.grid.length > 0, { message: 'give at least one entry in jobs or grid' });

/** One job of a sweep, ready to run anywhere that has the model file at `options.model`. */
export interface SweepJob {
  id: string;
  options: JobOptions;
  /** sha256 of the model file: a worker refuses a job whose model file differs. */
  modelSha: string;
  /** Fingerprint of the code (sweep/code.ts): a worker running other code refuses the job. */
  code: string;
}

export interface Sweep {
  file: string;
  jobs: SweepJob[];
}

export const MAX_JOBS = 10_000;

/** Read, validate and expand a sweep file (JSON, or YAML for .yaml/.yml: the same structure). */
export function loadSweep(path: string): Sweep {
  const file = resolve(path);
  if (!existsSync(file) || !statSync(file).isFile()) throw new UserError(`sweep file not found: ${path}`);
  const ext = extname(file).toLowerCase();
  const yaml = ext === '.yaml' || ext === '.yml';
  let data: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    data = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new UserError(`sweep file ${path}: not valid ${yaml ? 'YAML' : 'JSON'} (${(err as Error).message.split('\n')[0]})`);
  }
  return expandSweep(data, file);
}

/** Validate and expand parsed sweep data; model paths resolve against `file`'s folder. */
export function expandSweep(data: unknown, file: string): Sweep {
  const f = parseOrThrow(fileSchema, data, `sweep file ${file}`);
  const raw: { where: string; job: Record<string, unknown> }[] = [];
  for (const [i, j] of f.jobs.entries()) raw.push({ where: `jobs.${i}`, job: { ...f.defaults, ...j } });
  f.grid.forEach((g, i) => {
    for (const [k, combo] of expandGrid({ ...f.defaults, ...g }).entries()) raw.push({ where: `grid.${i} combination ${k}`, job: combo });
    if (raw.length > MAX_JOBS) throw new UserError(`sweep file ${file}: more than ${MAX_JOBS} jobs`);
  });
  const shaOf = new Map<string, string>();
  const jobs: SweepJob[] = [];
  const seen = new Set<string>();
  for (const { where, job } of raw) {
    const options = parseOrThrow(jobSchema, job, `sweep file ${file}: ${where}`);
    options.model = resolve(dirname(file), options.model);
    checkJob(options, `sweep file ${file}: ${where}`);
    let sha = shaOf.get(options.model);
    if (!sha) {
      sha = createHash('sha256').update(readFileSync(options.model)).digest('hex');
      shaOf.set(options.model, sha);
    }
    const code = codeHash();
    const id = jobId(options, sha, code);
    if (seen.has(id)) continue; // the same job twice runs once
    seen.add(id);
    jobs.push({ id, options, modelSha: sha, code });
  }
  return { file, jobs };
}

/** Cartesian product over the array-valued fields, in the order written (last varies fastest). */
function expandGrid(entry: Record<string, unknown>): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [k, v] of Object.entries(entry)) {
    const values = Array.isArray(v) ? v : [v];
    if (values.length === 0) return [];
    out = out.flatMap((o) => values.map((x) => ({ ...o, [k]: x })));
  }
  return out;
}

/** Cheap semantic checks (files, cell ids, budget) so a bad sweep fails before any job runs. */
function checkJob(o: JobOptions, where: string): void {
  if (!existsSync(o.model) || !statSync(o.model).isFile()) throw new UserError(`${where}: model not found: ${o.model}`);
  try {
    if (o.kind === 'explore') {
      groupCandidates(expandCells(o.cells));
      parseBudget(String(o.budget));
      checkGranularity(o.granularity);
    } else getCell(o.cell);
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${where}: ${err.message}`);
    throw err;
  }
}

/** Content hash of a job: its normalized options with the model named by content, and the code. */
export function jobId(o: JobOptions, modelSha: string, code: string): string {
  const norm: Record<string, unknown> = { ...o, model: modelSha, code };
  if (o.kind === 'explore') norm.budget = parseBudget(String(o.budget));
  return shortHash({ v: 1, ...norm });
}

/** One short line naming a job (tables, progress). */
export function jobLabel(j: SweepJob): string {
  const o = j.options;
  const m = o.model
    .split('/')
    .pop()!
    .replace(/\.onnx$/, '');
  const on = o.dataset === DEFAULT_DATASET ? '' : ` on ${o.dataset}`;
  if (o.kind === 'eval') return `eval ${m} ${o.cell}${o.limit ? ` n=${o.limit}` : ''}${on}`;
  if (o.kind === 'run') return `run ${m} ${o.rows}x${o.cols} ${o.cell}${o.limit ? ` n=${o.limit}` : ''}${on}`;
  return `explore ${m} ${o.cells} budget ${o.budget} ${o.search} ${o.objective} seed ${o.seed}${on}`;
}
