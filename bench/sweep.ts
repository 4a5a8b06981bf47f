/**
 * Sweep runners side by side (issue 21 acceptance): one 24-job eval sweep (LeNet-5, 6 cells x 4
 * image counts) run locally in 2 worker processes and on the BullMQ queue with 2 `axtpu worker`
 * processes (redis-server of our own on 127.0.0.1), alternated `--rounds` times in one run (the
 * queue's Redis is emptied between rounds, or completed jobs would be reused). Reports wall times,
 * queue/local ratios and per-job overheads:
 *   enqueue -> start: when a job started in its process, minus the later of when the sweep handed
 *     it over and when that process finished its previous job (waiting for a busy process is not
 *     overhead); includes the first job's process start;
 *   result -> done: when the sweep learned the result, minus when the job ended in its process.
 *   node --import tsx bench/sweep.ts [--rounds 2]  -> bench/results/sweep.json
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { runLocal } from '../sweep/local.ts';
import type { Outcome } from '../sweep/outcome.ts';
import { checkQueue, runOnQueue } from '../sweep/queue.ts';
import { expandSweep } from '../sweep/spec.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const rounds = Number(arg('rounds', '2'));
const CELLS = ['exact_u8', 'drum_k6_u8', 'drum_k4_u8', 'bam_h0_v8_u8', 'trunc_a2_b2_u8', 'mitchell_u8'];
const LIMITS = [2000, 4000, 6000, 8000];
const sweep = expandSweep(
  { grid: [{ kind: 'eval', model: join(repoRoot, 'models/lenet5-fmnist.onnx'), cell: CELLS, limit: LIMITS }] },
  join(repoRoot, 'bench/sweep.json'),
);
if (sweep.jobs.length !== 24) throw new Error(`expected 24 jobs, got ${sweep.jobs.length}`);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : 0;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

function overheads(outcomes: Outcome[]) {
  const done = outcomes.filter((o) => o.status === 'done');
  if (done.length !== outcomes.length) throw new Error(`failed jobs: ${outcomes.filter((o) => o.status === 'failed').map((o) => o.id)}`);
  const byProc = new Map<string, typeof done>();
  for (const o of done) {
    const k = `${o.result.host}:${o.result.pid}`;
    byProc.set(k, [...(byProc.get(k) ?? []), o]);
  }
  const start: number[] = [];
  for (const list of byProc.values()) {
    list.sort((a, b) => a.result.startedAt - b.result.startedAt);
    list.forEach((o, i) => {
      const ready = Math.max(o.enqueuedAt, i > 0 ? list[i - 1]!.result.endedAt : 0);
      start.push(o.result.startedAt - ready);
    });
  }
  const finish = done.map((o) => o.doneAt - o.result.endedAt);
  const compute = done.map((o) => o.result.endedAt - o.result.startedAt);
  return {
    processes: byProc.size,
    enqueueToStartMs: { mean: mean(start), median: median(start), max: Math.max(...start) },
    resultToDoneMs: { mean: mean(finish), median: median(finish), max: Math.max(...finish) },
    jobComputeMs: { mean: mean(compute), median: median(compute) },
  };
}

const records = (outcomes: Outcome[]) => JSON.stringify(outcomes.map((o) => (o.status === 'done' ? o.result.record : o.message)));

const tmp = mkdtempSync(join(tmpdir(), 'axtpu-bench-sweep-'));
const port = await freePort();
const url = `redis://127.0.0.1:${port}`;
const redis = spawn(
  'redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--dir', tmp],
  {
    stdio: 'ignore',
  },
);
const workers: ChildProcess[] = [];
const cleanUp = () => {
  for (const w of workers) w.kill('SIGTERM');
  redis.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
};
// Interrupted: stop what this bench started (the finally below does not run on a signal).
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    cleanUp();
    process.exit(130);
  });
try {
  for (let i = 0; i < 50; i++) {
    try {
      await checkQueue(url);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  for (let i = 0; i < 2; i++)
    workers.push(
      spawn(process.execPath, [join(repoRoot, 'bin/axtpu.js'), 'worker', '--queue', url], { stdio: 'ignore', env: { ...process.env, AXTPU_QUIET: '1' } }),
    );
  // Warm-up: the quantized model and every cell's tables in the cache, off the clock.
  const warm = await runLocal(sweep.jobs.slice(0, CELLS.length), { processes: 2 });
  const load0 = loadavg()[0];
  const runs: { runner: string; round: number; seconds: number; overhead: ReturnType<typeof overheads> }[] = [];
  let reference: string | undefined;
  for (let round = 0; round < rounds; round++) {
    for (const runner of round % 2 === 0 ? ['local', 'queue'] : ['queue', 'local']) {
      if (runner === 'queue') spawnSync('redis-cli', ['-p', String(port), 'FLUSHALL']);
      const t0 = performance.now();
      const oc = runner === 'local' ? await runLocal(sweep.jobs, { processes: 2 }) : await runOnQueue(url, sweep.jobs);
      const seconds = (performance.now() - t0) / 1000;
      reference ??= records(oc);
      if (records(oc) !== reference) throw new Error(`${runner} round ${round}: results differ from the first run`);
      runs.push({ runner, round, seconds, overhead: overheads(oc) });
      process.stderr.write(`${runner} round ${round}: ${seconds.toFixed(1)} s\n`);
    }
  }
  const wall = (r: string) => runs.filter((x) => x.runner === r).map((x) => x.seconds);
  const out = {
    what: '24-job eval sweep (LeNet-5, Fashion-MNIST, 6 cells x 4 image counts): local (2 processes) vs BullMQ queue (2 axtpu worker processes, redis-server on loopback)',
    command: 'node --import tsx bench/sweep.ts',
    cpus: cpus().length,
    loadAverage1mStart: load0,
    loadAverage1mEnd: loadavg()[0],
    jobs: sweep.jobs.length,
    cells: CELLS,
    limits: LIMITS,
    warmupJobs: warm.length,
    resultsEqual: true,
    runs,
    medianSeconds: { local: median(wall('local')), queue: median(wall('queue')) },
    queueOverLocal: median(wall('queue')) / median(wall('local')),
    perRoundRatio: Array.from({ length: rounds }, (_, r) => {
      const q = runs.find((x) => x.round === r && x.runner === 'queue')!.seconds;
      const l = runs.find((x) => x.round === r && x.runner === 'local')!.seconds;
      return q / l;
    }),
  };
  writeFileAtomic(join(repoRoot, 'bench/results/sweep.json'), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(
    `${JSON.stringify({ medianSeconds: out.medianSeconds, queueOverLocal: out.queueOverLocal, perRoundRatio: out.perRoundRatio }, null, 2)}\n`,
  );
} finally {
  cleanUp();
}
