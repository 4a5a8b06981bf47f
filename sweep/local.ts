import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describeFailure, type JobFailure, type JobResult, runJob } from './jobs.ts';
import type { Outcome } from './outcome.ts';
import type { SweepJob } from './spec.ts';

/**
 * The embedded runner: no server, N worker processes on this host (default: one per core), one
 * job at a time each. Same failure rules as the queue (sweep/queue.ts): a user error fails the job
 * once with its line; a crashed process (or an internal error) is retried on a fresh process, up
 * to `attempts` tries in all.
 */
export interface LocalOptions {
  processes?: number;
  /** Engine threads per job. */
  threads?: number;
  attempts?: number;
  onOutcome?: (o: Outcome) => void;
}

export const DEFAULT_ATTEMPTS = 3;

const childEntry = fileURLToPath(new URL('./child.mjs', import.meta.url));

type Reply = { ok: true; result: JobResult } | { ok: false; failure: JobFailure };
/** A reply, or the process exited before replying. */
type Answer = Reply | { ok: false; crashed: true; failure: JobFailure };

export async function runLocal(jobs: SweepJob[], o: LocalOptions = {}): Promise<Outcome[]> {
  const attempts = o.attempts ?? DEFAULT_ATTEMPTS;
  const enqueuedAt = Date.now();
  const pending = jobs.map((job) => ({ job, tries: 0 }));
  const outcomes = new Map<string, Outcome>();
  const finish = (oc: Outcome) => {
    outcomes.set(oc.id, oc);
    o.onOutcome?.(oc);
  };
  const slot = async () => {
    let child: ChildProcess | undefined;
    try {
      for (let task = pending.shift(); task; task = pending.shift()) {
        task.tries++;
        child ??= spawnChild(o.threads ?? 1);
        const reply = await ask(child, task.job);
        const base = { id: task.job.id, attempts: task.tries, enqueuedAt, doneAt: Date.now() };
        if (reply.ok) {
          finish({ ...base, status: 'done', result: reply.result });
          continue;
        }
        if ('crashed' in reply) child = undefined; // a fresh process for the next job
        if (reply.failure.userError || task.tries >= attempts)
          finish({ ...base, status: 'failed', userError: reply.failure.userError, message: reply.failure.message });
        else pending.push(task);
      }
    } finally {
      child?.disconnect();
    }
  };
  const n = Math.max(1, Math.min(o.processes ?? availableParallelism(), jobs.length));
  await Promise.all(Array.from({ length: n }, slot));
  return jobs.map((j) => outcomes.get(j.id)!);
}

function spawnChild(threads: number): ChildProcess {
  return fork(childEntry, [], {
    env: { ...process.env, AXTPU_QUIET: '1', AXTPU_SWEEP_THREADS: String(threads) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Send one job; the reply, or a crash when the process exits first. */
function ask(child: ChildProcess, job: SweepJob): Promise<Answer> {
  return new Promise<Answer>((resolve) => {
    const onMessage = (m: Reply) => {
      child.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code: number | null, signal: string | null) => {
      child.off('message', onMessage);
      resolve({ ok: false, crashed: true, failure: { userError: false, message: `worker process exited (${signal ?? `code ${code}`}) during the job` } });
    };
    child.once('message', onMessage);
    child.once('exit', onExit);
    child.send({ job });
  });
}

/** The child side (sweep/child.mjs): one job per message, the result or the failure back. */
export function childMain(): void {
  const threads = Number(process.env.AXTPU_SWEEP_THREADS ?? 1);
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (m: { job: SweepJob }) => {
    let reply: Reply;
    try {
      reply = { ok: true, result: await runJob(m.job, { threads }) };
    } catch (err) {
      reply = { ok: false, failure: describeFailure(err) };
    }
    process.send?.(reply);
  });
}
