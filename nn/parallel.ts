import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parentPort, Worker } from 'node:worker_threads';
import { captureAccumulators, type LayerAccumulators } from './capture.ts';
import type { CvConfig } from './cv.ts';
import type { Dataset } from './dataset.ts';
import { type EngineConfig, runQuantBatch } from './engine.ts';
import type { InjectSpec } from './inject.ts';
import { loadNativeAddon, nativeKernels, nativeStatus } from './native-load.ts';
import { macsPerImage, type QuantModel } from './qmodel.ts';
import { type LayerOperandStats, StatsCollector } from './stats.ts';

/**
 * Run the integer engine over a dataset: contiguous image ranges per worker thread, batches of
 * `batch` images inside each. Results are assembled in image order, so the output does not
 * depend on the worker count; neither does the operand-stream sample (seeded per batch by its first
 * image's index, workers split at batch boundaries, merged in image order).
 *
 * Worker threads live in a process-wide pool and are reused by every call (exploration calls
 * this hundreds of times; a fresh thread costs ~0.3-0.6 CPU-s to start). Each worker keeps the
 * last few models and LUT banks it was sent, keyed by object identity, so a model crosses the
 * thread boundary once, not per call: treat an EngineConfig's arrays as immutable once used.
 * Idle workers are unref'ed (they never keep the process alive); a worker that dies fails the
 * call it was running with an error and is replaced on demand. The same workers also serve the
 * RTL run's software reference (`poolAccumulators`: every layer's accumulators of a batch).
 */
export interface RunOptions {
  workers?: number;
  batch?: number;
  stats?: boolean;
  samplesPerLayer?: number;
}

export interface RunResult {
  pred: Uint8Array;
  stats?: LayerOperandStats[];
  seconds: number;
  workers: number;
}

/** What one engine call needs besides the model and LUT bank. */
interface JobParams {
  pixels: Uint8Array;
  count: number;
  perImage: number;
  batch: number;
  stats: boolean;
  /** Global index of this job's first image (batches are seeded by it). */
  first: number;
  samplesPerBatch: number;
  samplesPerLayer: number;
  seed: number;
  /** Built native kernel addon to load in this thread (nn/native.ts); absent = JS kernels. */
  nativeAddon?: string;
}

export interface WorkerJob extends JobParams {
  cfg: EngineConfig;
}

export interface WorkerReply {
  pred: Uint8Array;
  stats?: LayerOperandStats[];
}

export function runJob(job: WorkerJob): WorkerReply {
  if (job.nativeAddon) loadNativeAddon(job.nativeAddon);
  const pred = new Uint8Array(job.count);
  const collector = job.stats ? new StatsCollector(job.samplesPerBatch, job.samplesPerLayer, job.seed) : undefined;
  for (let s = 0; s < job.count; s += job.batch) {
    const n = Math.min(job.batch, job.count - s);
    collector?.startBatch(job.first + s);
    const r = runQuantBatch(job.cfg, job.pixels.subarray(s * job.perImage, (s + n) * job.perImage), n, collector, job.first + s);
    pred.set(r.pred, s);
  }
  return { pred, stats: collector ? [...collector.layers.values()] : undefined };
}

export function defaultWorkers(): number {
  return Math.max(1, Math.min(availableParallelism(), 8));
}

/**
 * Default worker count: all cores, but one more worker only per MACS_PER_WORKER of work. Starting
 * a worker thread costs ~0.3-0.6 CPU-s (tsx + module load), about what the native kernels need
 * for 2 G MACs, so small runs stay in this thread. Workers already alive in the pool cost only a
 * message per call (~POOLED_MACS_PER_WORKER of work), so they are used for smaller runs too.
 */
const MACS_PER_WORKER = 2e9;
const POOLED_MACS_PER_WORKER = 5e7;
function autoWorkers(cfg: EngineConfig, images: number): number {
  const work = macsPerImage(cfg.model) * images;
  const cold = Math.floor(work / MACS_PER_WORKER);
  const warm = Math.min(liveWorkers(), Math.floor(work / POOLED_MACS_PER_WORKER));
  return Math.max(1, Math.min(defaultWorkers(), Math.max(cold, warm)));
}

// ------------------------------------------------------------------ pool protocol (both threads)

/** Models and banks a worker keeps (FIFO; the main thread mirrors it to know what was sent). */
const MODEL_SLOTS = 4;
const BANK_SLOTS = 8;

/** Predictions (and operand statistics) of an image range, or one batch's layer accumulators. */
type PoolJob = ({ kind: 'predict' } & JobParams) | { kind: 'accumulators'; pixels: Uint8Array; count: number; firstImage: number; nativeAddon?: string };

interface PoolRequest {
  id: number;
  job: PoolJob;
  modelKey: number;
  /** Present the first time this worker sees modelKey. */
  model?: QuantModel;
  /** 0 = exact engine (no LUT bank). */
  bankKey: number;
  bank?: { table?: Int32Array; rowOffsets: Record<string, Int32Array>; cv?: CvConfig };
  /** Timing-error injection (small: sent with every job that uses it). */
  inject?: InjectSpec;
}

interface PoolReply {
  id: number;
  predict?: WorkerReply;
  accumulators?: LayerAccumulators;
  error?: string;
}

/** Buffers a reply moves (not copies) back to the main thread. */
function replyBuffers(r: PoolReply): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const add = (a: ArrayBufferView) => {
    if (a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  };
  if (r.predict) add(r.predict.pred);
  if (r.accumulators) {
    add(r.accumulators.pred);
    for (const l of r.accumulators.layers) add(l.acc);
  }
  return [...out];
}

/** Insert into a FIFO-bounded map (the same policy on both sides keeps them in step). */
function remember<K, V>(m: Map<K, V>, key: K, value: V, slots: number): void {
  m.set(key, value);
  if (m.size > slots) m.delete(m.keys().next().value as K);
}

/** Worker-thread side: serve jobs until terminated (started by the pool's entry module). */
export function poolWorkerMain(): void {
  const port = parentPort;
  if (!port) throw new Error('poolWorkerMain runs in a worker thread');
  const models = new Map<number, QuantModel>();
  const banks = new Map<number, NonNullable<PoolRequest['bank']>>();
  port.on('message', (req: PoolRequest) => {
    try {
      if (req.model) remember(models, req.modelKey, req.model, MODEL_SLOTS);
      if (req.bank) remember(banks, req.bankKey, req.bank, BANK_SLOTS);
      const model = models.get(req.modelKey);
      const bank = req.bankKey ? banks.get(req.bankKey) : undefined;
      if (!model || (req.bankKey && !bank)) throw new Error(`pool worker lost model ${req.modelKey} / bank ${req.bankKey}`);
      // The main thread decides native vs JS per call (AXTPU_NN_NATIVE may change between calls);
      // process.env is this thread's own copy.
      const job = req.job;
      if (job.nativeAddon) {
        delete process.env.AXTPU_NN_NATIVE;
        loadNativeAddon(job.nativeAddon);
      } else process.env.AXTPU_NN_NATIVE = '0';
      const cfg: EngineConfig = { model, table: bank?.table, rowOffsets: bank?.rowOffsets, cv: bank?.cv, inject: req.inject };
      const reply: PoolReply =
        job.kind === 'predict'
          ? { id: req.id, predict: runJob({ ...job, cfg }) }
          : { id: req.id, accumulators: captureAccumulators(cfg, job.pixels, job.count, job.firstImage) };
      port.postMessage(reply, replyBuffers(reply));
    } catch (err) {
      const reply: PoolReply = { id: req.id, error: (err as Error).message ?? String(err) };
      port.postMessage(reply);
    }
  });
}

// ------------------------------------------------------------------ pool (main thread)

interface PoolWorker {
  worker: Worker;
  /** Keys this worker holds, mirroring its FIFO caches. */
  models: Map<number, true>;
  banks: Map<number, true>;
  job?: { id: number; resolve: (r: PoolReply) => void; reject: (e: Error) => void };
  /** Handed to a caller (from acquire until its reply): not idle even before its job is posted. */
  busy: boolean;
  dead: boolean;
}

const pool: PoolWorker[] = [];
const waiting: ((w: PoolWorker) => void)[] = [];
let nextKey = 1;
let nextJob = 1;
let spawned = 0;
const modelKeys = new WeakMap<QuantModel, number>();
const bankKeys = new WeakMap<object, WeakMap<object, WeakMap<object, number>>>();

function keyOf<T extends object>(m: WeakMap<T, number>, o: T): number {
  let k = m.get(o);
  if (k === undefined) {
    k = nextKey++;
    m.set(o, k);
  }
  return k;
}

/** One key per (table, rowOffsets, cv) identity triple; 0 = exact engine without compensation. */
function bankKeyOf(cfg: EngineConfig): number {
  if (!cfg.table && !cfg.cv) return 0;
  const t = cfg.table ?? bankKeys;
  let byRows = bankKeys.get(t);
  if (!byRows) {
    byRows = new WeakMap();
    bankKeys.set(t, byRows);
  }
  const r = cfg.rowOffsets ?? bankKeys;
  let byCv = byRows.get(r);
  if (!byCv) {
    byCv = new WeakMap();
    byRows.set(r, byCv);
  }
  return keyOf(byCv, cfg.cv ?? bankKeys);
}

/**
 * Absolute URL of tsx's ESM API (a data: URL module cannot resolve bare specifiers). Read from
 * tsx's package.json exports: import.meta.resolve is not available under vitest's transform.
 */
function tsxApiUrl(): string {
  const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import?: { default?: string } }> };
  const rel = pkg.exports['./esm/api']?.import?.default;
  if (!rel) throw new Error(`cannot find tsx/esm/api in ${pkgPath}`);
  return pathToFileURL(join(dirname(pkgPath), rel)).href;
}

let entryUrl: URL | undefined;
/** Worker entry: registers tsx in the new thread (threads do not inherit the loader), then serves. */
function poolEntry(): URL {
  if (!entryUrl) {
    const tsx = tsxApiUrl();
    const self = import.meta.url;
    const src = `import { register } from ${JSON.stringify(tsx)};\nregister();\nconst m = await import(${JSON.stringify(self)});\nm.poolWorkerMain();\n`;
    entryUrl = new URL(`data:text/javascript,${encodeURIComponent(src)}`);
  }
  return entryUrl;
}

function retire(w: PoolWorker, err: Error): void {
  if (w.dead) return;
  w.dead = true;
  const i = pool.indexOf(w);
  if (i >= 0) pool.splice(i, 1);
  const job = w.job;
  w.job = undefined;
  job?.reject(err);
  void w.worker.terminate();
  // A caller waiting for a free worker gets a fresh one instead of this one.
  const next = waiting.shift();
  if (next) next(spawn());
}

function spawn(): PoolWorker {
  const w: PoolWorker = { worker: new Worker(poolEntry()), models: new Map(), banks: new Map(), busy: true, dead: false };
  spawned++;
  pool.push(w);
  w.worker.on('message', (r: PoolReply) => {
    const job = w.job;
    if (!job || job.id !== r.id) return;
    w.job = undefined;
    if (r.error) job.reject(new Error(`engine worker: ${r.error}`));
    else job.resolve(r);
    release(w);
  });
  w.worker.on('error', (err) => retire(w, new Error(`engine worker failed: ${err.message}`)));
  w.worker.on('messageerror', (err) => retire(w, new Error(`engine worker message error: ${err.message}`)));
  w.worker.on('exit', (code) => retire(w, new Error(`engine worker exited with code ${code}`)));
  return w;
}

function release(w: PoolWorker): void {
  if (w.dead) return;
  const next = waiting.shift();
  if (next)
    next(w); // stays busy: handed straight to the next caller
  else {
    w.busy = false;
    w.worker.unref();
  }
}

/** An idle worker, a new one (below `limit`), or the next one released. Returned busy. */
function acquire(limit: number): Promise<PoolWorker> {
  const idle = pool.find((w) => !w.busy && !w.dead);
  if (idle) {
    idle.busy = true;
    return Promise.resolve(idle);
  }
  if (pool.length < limit) return Promise.resolve(spawn());
  return new Promise((resolve) => waiting.push(resolve));
}

/** Post a job to an acquired worker. `job.pixels` must be the job's own copy: it is transferred. */
function runPooled(w: PoolWorker, cfg: EngineConfig, job: PoolJob): Promise<PoolReply> {
  return new Promise<PoolReply>((resolve, reject) => {
    if (w.dead) return reject(new Error('engine worker exited before its job started'));
    const modelKey = keyOf(modelKeys, cfg.model);
    const bankKey = bankKeyOf(cfg);
    const req: PoolRequest = { job, id: nextJob++, modelKey, bankKey, inject: cfg.inject };
    if (!w.models.has(modelKey)) {
      req.model = cfg.model;
      remember(w.models, modelKey, true, MODEL_SLOTS);
    }
    if (bankKey && !w.banks.has(bankKey)) {
      req.bank = { table: cfg.table, rowOffsets: cfg.rowOffsets ?? {}, cv: cfg.cv };
      remember(w.banks, bankKey, true, BANK_SLOTS);
    }
    w.job = { id: req.id, resolve, reject };
    w.worker.ref();
    try {
      // The pixel slice is this job's own copy: transfer it instead of cloning.
      w.worker.postMessage(req, [job.pixels.buffer as ArrayBuffer]);
    } catch (err) {
      // Not sent (e.g. an uncloneable config): the cache mirror is now wrong, so drop the worker.
      retire(w, new Error(`engine worker: cannot send the job: ${(err as Error).message}`));
    }
  });
}

/** Workers alive in the pool. */
export function liveWorkers(): number {
  return pool.length;
}

/** Pool counters (tests, benches): workers alive, running a job, threads started since the process began. */
export function poolInfo(): { alive: number; busy: number; spawned: number; threadIds: number[] } {
  return { alive: pool.length, busy: pool.filter((w) => w.job).length, spawned, threadIds: pool.map((w) => w.worker.threadId) };
}

/** Terminate every pooled worker (not needed before exit: idle workers never keep the process alive). */
export async function closePool(): Promise<void> {
  const all = [...pool];
  for (const w of all) retire(w, new Error('engine worker pool closed'));
  await Promise.all(all.map((w) => w.worker.terminate()));
}

/** Test hook: kill one pooled worker the hard way (what a crash in native code looks like). */
export function killPoolWorkerForTest(i = 0): Promise<number> | undefined {
  return pool[i]?.worker.terminate();
}

/**
 * One batch's predictions and every conv/dense layer's accumulators (nn/capture.ts
 * `captureAccumulators`) on a pooled worker, so the calling thread stays free (the RTL run drives
 * its harnesses meanwhile). At most `maxWorkers` threads are started for it (idle ones are used
 * whatever their number); `nativeAddon` as in `runDataset`; `firstImage` keys injection's draws.
 */
export async function poolAccumulators(
  cfg: EngineConfig,
  pixels: Uint8Array,
  count: number,
  o: { nativeAddon?: string; maxWorkers?: number; firstImage?: number } = {},
): Promise<LayerAccumulators> {
  const w = await acquire(o.maxWorkers ?? defaultWorkers());
  const r = await runPooled(w, cfg, { kind: 'accumulators', pixels: pixels.slice(), count, firstImage: o.firstImage ?? 0, nativeAddon: o.nativeAddon });
  return r.accumulators!;
}

/** The engine's batch (runDataset's default): timing-error draws are keyed by each batch's first image. */
export const ENGINE_BATCH = 128;

export async function runDataset(cfg: EngineConfig, ds: Dataset, opts: RunOptions = {}): Promise<RunResult> {
  const perImage = ds.channels * ds.height * ds.width;
  const batch = opts.batch ?? ENGINE_BATCH;
  const samplesPerLayer = opts.samplesPerLayer ?? 65536;
  const workers = Math.max(1, Math.min(opts.workers ?? autoWorkers(cfg, ds.count), Math.ceil(ds.count / batch)));
  // Build/load the native kernels here, before any worker starts (workers only load the file).
  // Imported lazily: the builder pulls in the tool runner, which worker threads do not need.
  await (await import('./native.ts')).prepareNativeKernels();
  const nativeAddon = nativeKernels() ? nativeStatus()?.path : undefined;
  const t0 = performance.now();
  const jobs: WorkerJob[] = [];
  // Workers split at batch boundaries, so every batch (and its stream sample) is the same
  // whatever the worker count.
  const batches = Math.ceil(ds.count / batch);
  const per = Math.ceil(batches / workers) * batch;
  const samplesPerBatch = Math.ceil(samplesPerLayer / Math.max(1, batches));
  for (let w = 0; w < workers; w++) {
    const start = w * per;
    const count = Math.max(0, Math.min(per, ds.count - start));
    if (count === 0) continue;
    jobs.push({
      cfg,
      pixels: ds.pixels.subarray(start * perImage, (start + count) * perImage),
      count,
      perImage,
      batch,
      stats: Boolean(opts.stats),
      first: start,
      samplesPerBatch,
      samplesPerLayer,
      seed: 1,
      nativeAddon,
    });
  }
  let replies: WorkerReply[];
  if (jobs.length <= 1) replies = jobs.map(runJob);
  else {
    const limit = Math.max(defaultWorkers(), jobs.length);
    replies = await Promise.all(
      jobs.map(async ({ cfg: c, pixels, ...rest }) => {
        const w = await acquire(limit);
        // slice(): a copy of just this range (a subarray would clone the whole dataset buffer).
        return (await runPooled(w, c, { kind: 'predict', ...rest, pixels: pixels.slice() })).predict!;
      }),
    );
  }
  const pred = new Uint8Array(ds.count);
  let at = 0;
  for (const r of replies) {
    pred.set(r.pred, at);
    at += r.pred.length;
  }
  let stats: LayerOperandStats[] | undefined;
  if (opts.stats) {
    const c = new StatsCollector(0, samplesPerLayer);
    for (const r of replies) c.merge(r.stats ?? []);
    stats = [...c.layers.values()];
  }
  return { pred, stats, seconds: (performance.now() - t0) / 1000, workers: jobs.length };
}
