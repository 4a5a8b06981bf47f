import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type Job, Queue, QueueEvents, type RedisOptions, type SandboxedJob, UnrecoverableError, Worker } from 'bullmq';
import { UserError } from '../core/errors.ts';
import { shortHash } from '../core/hash.ts';
import type { RangeRequest } from '../explore/range.ts';
import { codeHash } from './code.ts';
import { checkCode, describeFailure, type JobResult, runJob, runRange } from './jobs.ts';
import { DEFAULT_ATTEMPTS } from './local.ts';
import type { Outcome } from './outcome.ts';
import type { SweepJob } from './spec.ts';

/**
 * The distributed runner on BullMQ/Redis (docs/sweep.md). One queue, `axtpu:jobs`, holds two kinds
 * of job: `sweep` (one sweep job; its id is the job's content hash, so a job already completed in
 * Redis is reused, not run again) and `range` (one candidate-accuracy evaluation of
 * `explore --queue`). Workers (`axtpu worker`) run each job in a sandboxed child process
 * (sweep/processor.mjs). A user error fails the job once with its line (UnrecoverableError); a
 * crash, internal error or dead worker is retried with backoff.
 */
export const QUEUE = 'jobs';
export const PREFIX = 'axtpu';
/** Completed and failed jobs stay in Redis this long (reused by a re-run of the same sweep). */
const KEEP_SECONDS = 7 * 24 * 3600;

export interface QueueTarget {
  url: string;
  /** The URL as messages show it (no password). */
  shown: string;
  connection: RedisOptions;
}

/** `redis://[user:password@]host[:port][/db]` -> ioredis options; anything else is a UserError. */
export function parseQueueUrl(url: string): QueueTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`--queue '${url}': not a URL; expected redis://host:port`);
  }
  if (u.protocol !== 'redis:') throw new UserError(`--queue '${url}': expected a redis://host:port URL (got ${u.protocol.replace(/:$/, '')}://)`);
  if (!u.hostname) throw new UserError(`--queue '${url}': no host; expected redis://host:port`);
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText && !/^\d+$/.test(dbText)) throw new UserError(`--queue '${url}': database '${dbText}' must be a number (redis://host:port/0)`);
  if (u.search || u.hash) throw new UserError(`--queue '${url}': options in the URL are not supported`);
  const connection: RedisOptions = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    db: dbText ? Number(dbText) : 0,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    connectTimeout: 3000,
    // Once connected, ride out short outages, then give up (no endless reconnect loop).
    retryStrategy: (times: number) => (times > 15 ? null : Math.min(200 * times, 2000)),
  };
  const shown = u.password ? url.replace(`:${u.password}@`, ':***@') : url;
  return { url, shown, connection };
}

/**
 * Connect once, fatally: no retries, no offline queue, so a dead or unreachable Redis is one line
 * within seconds. Also refuses a Redis BullMQ cannot rely on (version < 6.2, evicting keys).
 */
export async function checkQueue(url: string): Promise<QueueTarget> {
  const t = parseQueueUrl(url);
  const probe = new Queue(QUEUE, {
    prefix: PREFIX,
    connection: { ...t.connection, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false },
  });
  probe.on('error', () => {}); // reported below, once
  try {
    await probe.waitUntilReady();
    const client = await probe.client;
    const info = await client.info();
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '0';
    const [major = 0, minor = 0] = version.split('.').map(Number);
    if (major < 6 || (major === 6 && minor < 2)) throw new UserError(`--queue ${t.shown}: Redis ${version} is too old (BullMQ needs 6.2 or later)`);
    const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
    if (policy && policy !== 'noeviction')
      throw new UserError(`--queue ${t.shown}: Redis evicts keys (maxmemory-policy ${policy}); queued jobs could vanish: set maxmemory-policy noeviction`);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const why = ((err as Error).message ?? String(err)).split('\n')[0];
    throw new UserError(`--queue ${t.shown}: cannot reach Redis (${why})`);
  } finally {
    await probe.close().catch(() => {});
  }
  return t;
}

/**
 * Rejects with one line when Redis stays unreachable: a blip is ridden out (ioredis reconnects),
 * errors that keep coming for 15 s, or ioredis giving up ("Connection is closed"), are fatal.
 */
function lostConnection(url: string, emitters: { on(ev: 'error', f: (e: Error) => void): unknown }[]): { promise: Promise<never>; stop: () => void } {
  let fail: (e: Error) => void = () => {};
  let stopped = false;
  let first = 0;
  let last = 0;
  const promise = new Promise<never>((_, reject) => {
    fail = reject;
  });
  promise.catch(() => {});
  for (const e of emitters)
    e.on('error', (err: Error) => {
      if (stopped) return;
      const now = Date.now();
      if (now - last > 30_000) first = now; // a new outage
      last = now;
      if (/Connection is closed/.test(err.message) || now - first > 15_000)
        fail(new UserError(`lost the connection to Redis at ${url} (${err.message.split('\n')[0]})`));
    });
  return {
    promise,
    stop: () => {
      stopped = true;
    },
  };
}

export interface QueueRunOptions {
  onOutcome?: (o: Outcome) => void;
  /** Called once the jobs are on the queue: how many were added, how many Redis already held. */
  onQueued?: (added: number, held: number) => void;
  /** Sandboxed processes started in this process too (0: only external workers). */
  workers?: number;
  threads?: number;
  attempts?: number;
}

/** Enqueue a sweep's jobs and wait for every outcome (reusing jobs Redis already completed). */
export async function runOnQueue(url: string, jobs: SweepJob[], o: QueueRunOptions = {}): Promise<Outcome[]> {
  const t = await checkQueue(url);
  const queue = new Queue(QUEUE, { prefix: PREFIX, connection: t.connection });
  const events = new QueueEvents(QUEUE, { prefix: PREFIX, connection: t.connection });
  const lost = lostConnection(t.shown, [queue, events]);
  const worker = o.workers ? startWorker(t, { concurrency: o.workers, threads: o.threads }) : undefined;
  const attempts = o.attempts ?? DEFAULT_ATTEMPTS;
  try {
    return await Promise.race([lost.promise, submitAndWait(queue, events, jobs, attempts, o)]);
  } finally {
    lost.stop();
    await within(Promise.all([worker?.close(), events.close(), queue.close()]), 5000);
  }
}

/** The BullMQ id of a sweep job (BullMQ refuses custom ids that read as integers). */
const queueId = (j: SweepJob) => `sweep-${j.id}`;

async function submitAndWait(queue: Queue, events: QueueEvents, jobs: SweepJob[], attempts: number, o: QueueRunOptions): Promise<Outcome[]> {
  // One completion listener per job in flight is the design, not a leak.
  queue.setMaxListeners(jobs.length + 16);
  events.setMaxListeners(2 * jobs.length + 16);
  await events.waitUntilReady();
  const toAdd: SweepJob[] = [];
  for (const j of jobs) {
    const old = await queue.getJob(queueId(j));
    // A finished failure is re-run; anything else (completed, or queued by another sweep) is awaited.
    if (old && (await old.getState()) === 'failed') await old.remove();
    else if (old) continue;
    toAdd.push(j);
  }
  const enqueuedAt = Date.now();
  await queue.addBulk(
    toAdd.map((j) => ({
      name: 'sweep',
      data: j,
      opts: {
        jobId: queueId(j),
        attempts,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: KEEP_SECONDS },
        removeOnFail: { age: KEEP_SECONDS },
      },
    })),
  );
  o.onQueued?.(toAdd.length, jobs.length - toAdd.length);
  return Promise.all(
    jobs.map(async (j): Promise<Outcome> => {
      const job = (await queue.getJob(queueId(j))) as Job<SweepJob, JobResult> | undefined;
      if (!job) throw new Error(`job ${j.id} vanished from Redis`);
      let oc: Outcome;
      try {
        const result = (await job.waitUntilFinished(events)) as JobResult;
        const doneAt = Date.now();
        const done = await queue.getJob(queueId(j));
        oc = { id: j.id, attempts: done?.attemptsMade ?? 1, enqueuedAt, doneAt, status: 'done', result };
      } catch (err) {
        const done = await queue.getJob(queueId(j));
        const made = done?.attemptsMade ?? attempts;
        const message = (err as Error).message;
        // A failure before the attempts ran out was final on purpose (a user error), unless the
        // job was given up for stalling (its workers kept dying).
        const userError = made < attempts && !/stalled more than allowable limit/.test(message);
        oc = { id: j.id, attempts: made, enqueuedAt, doneAt: Date.now(), status: 'failed', userError, message };
      }
      o.onOutcome?.(oc);
      return oc;
    }),
  );
}

export interface WorkerOptions {
  concurrency?: number;
  threads?: number;
  /** A job whose worker stops renewing its lock (dead process, lost host) goes back to the
   *  queue after about this long. */
  lockMs?: number;
  onEvent?: (line: string) => void;
}

const processorFile = fileURLToPath(new URL('./processor.mjs', import.meta.url));

/** A BullMQ worker running jobs in sandboxed child processes (sweep/processor.mjs). */
export function startWorker(t: QueueTarget, o: WorkerOptions = {}): Worker {
  const lockMs = o.lockMs ?? 30_000;
  const w = new Worker(QUEUE, processorFile, {
    prefix: PREFIX,
    connection: t.connection,
    concurrency: o.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    // A job on a worker that died twice is still retried; a third stall fails it.
    maxStalledCount: 2,
    useWorkerThreads: false,
    workerForkOptions: { env: { ...process.env, AXTPU_QUIET: '1', AXTPU_SWEEP_THREADS: String(o.threads ?? 1) } },
  });
  w.on('error', () => {}); // surfaced by the caller's connection watch
  if (o.onEvent) {
    const say = o.onEvent;
    w.on('active', (job) => say(`start ${job.name} ${job.id}`));
    w.on('completed', (job) => say(`done  ${job.name} ${job.id}`));
    w.on('failed', (job, err) => say(`fail  ${job?.name} ${job?.id}: ${err.message.split('\n')[0]}`));
  }
  return w;
}

/** `axtpu worker`: serve until a signal, or until Redis is lost for good (rejects with one line). */
export async function serveWorker(url: string, o: WorkerOptions = {}): Promise<void> {
  const t = await checkQueue(url);
  const w = startWorker(t, o);
  const lost = lostConnection(t.shown, [w]);
  await w.waitUntilReady();
  const stop = new Promise<void>((resolve) => {
    const quit = () => resolve();
    process.once('SIGINT', quit);
    process.once('SIGTERM', quit);
  });
  try {
    await Promise.race([stop, lost.promise]);
  } finally {
    lost.stop();
    // Finish the jobs in hand; with Redis gone, closing could wait forever: bounded, then forced.
    if (!(await within(w.close(), 10_000))) await within(w.close(true), 2000);
  }
}

/** Wait for `p`, at most `ms` (closing clients that can no longer reach Redis); whether it settled. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}

/** A range job's data: the request and the code fingerprint of the explore run that sent it. */
interface QueuedRange {
  req: RangeRequest;
  code: string;
}

function queuedRange(d: QueuedRange, threads: number) {
  checkCode(d.code, 'explore --queue evaluation');
  return runRange(d.req, { threads });
}

/** The sandboxed processor's body: runs one queued job in this (child) process. */
export async function processQueued(job: SandboxedJob): Promise<unknown> {
  const threads = Number(process.env.AXTPU_SWEEP_THREADS ?? 1);
  const where = `${hostname()} pid ${process.pid}`;
  // Logs and progress go back to Redis with the job (BullMQ job logs: Queue.getJobLogs).
  await job.log(`started on ${where}, attempt ${job.attemptsMade + 1}`);
  try {
    const result = job.name === 'range' ? await queuedRange(job.data as QueuedRange, threads) : await runJob(job.data as SweepJob, { threads });
    await job.updateProgress(100);
    await job.log(`done on ${where} in ${((result.endedAt - result.startedAt) / 1000).toFixed(2)} s`);
    return result;
  } catch (err) {
    const f = describeFailure(err);
    await job.log(`failed on ${where}: ${f.message}`);
    // A bad input fails the same way on every retry: fail once, with its line.
    if (f.userError) throw new UnrecoverableError(f.message);
    throw err;
  }
}

/** `explore --queue`: candidate-accuracy ranges as queue jobs (deduplicated by content). */
export async function remoteRanges(
  url: string,
): Promise<{ run: (req: RangeRequest) => Promise<Uint8Array>; close: () => Promise<void>; lost: Promise<never> }> {
  const t = await checkQueue(url);
  const queue = new Queue(QUEUE, { prefix: PREFIX, connection: t.connection });
  const events = new QueueEvents(QUEUE, { prefix: PREFIX, connection: t.connection });
  const lost = lostConnection(t.shown, [queue, events]);
  // Ranges in flight each listen for their completion (the sensitivity probes go side by side).
  queue.setMaxListeners(0);
  events.setMaxListeners(0);
  await events.waitUntilReady();
  return {
    lost: lost.promise,
    run: async (req) => {
      const data: QueuedRange = { req, code: codeHash() };
      const jobId = `range-${shortHash(data, 24)}`;
      let job = await queue.getJob(jobId);
      // A failed evaluation is re-run; a queued, running or completed one is awaited (deduplicated).
      if (job && (await job.getState()) === 'failed') {
        await job.remove();
        job = undefined;
      }
      job ??= await queue.add('range', data, {
        jobId,
        attempts: DEFAULT_ATTEMPTS,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: 3600 },
        removeOnFail: { age: 3600 },
      });
      let r: { pred: string };
      try {
        r = (await job.waitUntilFinished(events)) as { pred: string };
      } catch (err) {
        throw new UserError(`explore --queue: an evaluation failed on a worker: ${(err as Error).message.split('\n')[0]}`);
      }
      return new Uint8Array(Buffer.from(r.pred, 'base64'));
    },
    close: async () => {
      lost.stop();
      await within(Promise.all([events.close(), queue.close()]), 5000);
    },
  };
}
