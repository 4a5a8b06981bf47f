import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Dataset } from './dataset.ts';
import { runQuantBatch, type EngineConfig } from './engine.ts';
import { StatsCollector, type LayerOperandStats } from './stats.ts';
import { loadNativeAddon, nativeKernels, nativeStatus } from './native-load.ts';
import { convLayers } from './qmodel.ts';

/**
 * Run the integer engine over a dataset: contiguous image ranges per worker thread, batches of
 * `batch` images inside each. Results are assembled in image order, so the output does not
 * depend on the worker count (the operand-stream sample does: it is seeded per worker).
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

export interface WorkerJob {
  cfg: EngineConfig;
  pixels: Uint8Array;
  count: number;
  perImage: number;
  batch: number;
  stats: boolean;
  samplesPerLayer: number;
  seed: number;
  /** Built native kernel addon to load in this thread (nn/native.ts); absent = JS kernels. */
  nativeAddon?: string;
}

export interface WorkerReply {
  pred: Uint8Array;
  stats?: LayerOperandStats[];
  error?: string;
}

export function runJob(job: WorkerJob): WorkerReply {
  if (job.nativeAddon) loadNativeAddon(job.nativeAddon);
  const pred = new Uint8Array(job.count);
  const batches = Math.max(1, Math.ceil(job.count / job.batch));
  const collector = job.stats ? new StatsCollector(Math.ceil(job.samplesPerLayer / batches), job.samplesPerLayer, job.seed) : undefined;
  for (let s = 0; s < job.count; s += job.batch) {
    const n = Math.min(job.batch, job.count - s);
    const r = runQuantBatch(job.cfg, job.pixels.subarray(s * job.perImage, (s + n) * job.perImage), n, collector);
    pred.set(r.pred, s);
  }
  return { pred, stats: collector ? [...collector.layers.values()] : undefined };
}

export function defaultWorkers(): number {
  return Math.max(1, Math.min(availableParallelism(), 8));
}

/**
 * Default worker count: all cores, but one more worker only per MACS_PER_WORKER of work. A worker
 * thread costs ~0.3-0.6 CPU-s to start (tsx + module load), about what the native kernels need
 * for 2 G MACs, so small runs (tests, --limit 1000 on LeNet-5) stay in this thread.
 */
const MACS_PER_WORKER = 2e9;
function autoWorkers(cfg: EngineConfig, images: number): number {
  const m = cfg.model;
  const perImage = convLayers(m).reduce((a, l) => a + l.oc * l.K * m.shapes[l.output]!.h * m.shapes[l.output]!.w, 0);
  return Math.max(1, Math.min(defaultWorkers(), Math.floor((perImage * images) / MACS_PER_WORKER)));
}

export async function runDataset(cfg: EngineConfig, ds: Dataset, opts: RunOptions = {}): Promise<RunResult> {
  const perImage = ds.channels * ds.height * ds.width;
  const batch = opts.batch ?? 128;
  const samplesPerLayer = opts.samplesPerLayer ?? 65536;
  const workers = Math.max(1, Math.min(opts.workers ?? autoWorkers(cfg, ds.count), Math.ceil(ds.count / batch)));
  // Build/load the native kernels here, before any worker starts (workers only load the file).
  // Imported lazily: the builder pulls in the tool runner, which worker threads do not need.
  await (await import('./native.ts')).prepareNativeKernels();
  const nativeAddon = nativeKernels() ? nativeStatus()?.path : undefined;
  const t0 = performance.now();
  const jobs: WorkerJob[] = [];
  const per = Math.ceil(ds.count / workers);
  for (let w = 0; w < workers; w++) {
    const start = w * per;
    const count = Math.max(0, Math.min(per, ds.count - start));
    if (count === 0) continue;
    jobs.push({
      cfg, pixels: ds.pixels.subarray(start * perImage, (start + count) * perImage), count, perImage, batch,
      stats: Boolean(opts.stats), samplesPerLayer: Math.ceil(samplesPerLayer / workers), seed: 1 + w, nativeAddon,
    });
  }
  let replies: WorkerReply[];
  if (jobs.length <= 1) replies = jobs.map(runJob);
  else {
    replies = await Promise.all(
      jobs.map(
        (job) =>
          new Promise<WorkerReply>((resolve, reject) => {
            const worker = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: job });
            worker.once('message', (r: WorkerReply) => {
              void worker.terminate();
              if (r.error) reject(new Error(`engine worker: ${r.error}`));
              else resolve(r);
            });
            worker.once('error', reject);
            worker.once('exit', (code) => {
              if (code !== 0) reject(new Error(`engine worker exited with code ${code}`));
            });
          }),
      ),
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
