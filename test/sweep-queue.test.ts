/**
 * Sweeps on a real BullMQ queue (issue 21): a redis-server of our own on 127.0.0.1 (free port,
 * no persistence, noeviction), three `axtpu worker` processes, one killed with SIGKILL in the
 * middle of a job. Every job's result must equal the local (no server) run's; a job with a bad
 * input fails once with its line; `explore --queue` keeps the same journal as a local explore;
 * `nas --queue` runs a candidate's cell search on the workers with the engine's results.
 * (A dead Redis and bad queue URLs are cases of test/bad-inputs.test.ts.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelsDir, repoRoot } from '../core/paths.ts';
import type { NasResult } from '../nas/run.ts';
import { evaluate } from '../nn/evaluate.ts';
import { runCli } from './helpers/cli.ts';

const LENET = join(modelsDir, 'lenet5-fmnist.onnx');
const EXPLORE = { kind: 'explore', cells: 'drum_k6_u8,bam_h0_v8_u8', budget: '5%', valImages: 200, testImages: 200, calibImages: 16 };
const SWEEP = {
  defaults: { model: LENET },
  jobs: [
    { kind: 'run', rows: 4, cols: 4, cell: 'exact_u8', limit: 10, energy: false },
    EXPLORE,
    // Passes validation, fails when it runs: a user error, failed once with its line.
    { kind: 'eval', cell: 'exact_u8', limit: 200, dataset: '/nonexistent/axtpu-dataset' },
  ],
  grid: [{ kind: 'eval', cell: ['exact_u8', 'drum_k6_u8', 'drum_k4_u8', 'bam_h0_v8_u8', 'trunc_a2_b2_u8'], limit: [100, 200] }],
};

const tmp = mkdtempSync(join(tmpdir(), 'axtpu-sweep-q-'));
const sweepFile = join(tmp, 'sweep.json');
const env = { AXTPU_QUIET: '1' };
let port = 0;
let redis: ChildProcess | undefined;
const workers: { proc: ChildProcess; log: string }[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** PING until Redis answers PONG. */
async function waitForRedis(p: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = new Socket();
      c.once('error', () => resolve(false));
      c.connect(p, '127.0.0.1', () => c.write('PING\r\n'));
      c.once('data', (d) => {
        c.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server on port ${p} did not answer`);
}

function startWorker(): { proc: ChildProcess; log: string } {
  const proc = spawn(process.execPath, [join(repoRoot, 'bin/axtpu.js'), 'worker', '--queue', `redis://127.0.0.1:${port}`, '--lock-seconds', '2'], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const w = { proc, log: '' };
  proc.stderr!.on('data', (d) => {
    w.log += d.toString();
  });
  workers.push(w);
  return w;
}

type Row = { id: string; status: string; attempts: number; message: string };
const rowsOf = (out: string) => (JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { jobs: Row[] }).jobs;
const recordOf = (out: string, id: string) => (JSON.parse(readFileSync(join(out, id, 'result.json'), 'utf8')) as { record: unknown }).record;
const journalOf = (path: string) =>
  Object.fromEntries(
    readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const r = JSON.parse(l) as { key: string; value: unknown };
        return [r.key, r.value];
      }),
  );

beforeAll(async () => {
  writeFileSync(sweepFile, JSON.stringify(SWEEP, null, 2));
  port = await freePort();
  redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--dir', tmp],
    {
      stdio: 'ignore',
    },
  );
  await waitForRedis(port);
  // Idle until the queue run: they boot while the local run works.
  for (let i = 0; i < 3; i++) startWorker();
});

afterAll(async () => {
  for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
  redis?.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

describe('axtpu sweep on a BullMQ queue (redis-server on loopback, 3 workers)', () => {
  const local = join(tmp, 'out-local');
  const queued = join(tmp, 'out-queue');

  it('local run: 13 jobs in 2 processes, the bad-input job fails once with its line', async () => {
    const r = await runCli(['sweep', sweepFile, '--out', local, '--workers', '2', '--json'], env);
    expect(r.code, r.stderr).toBe(1);
    const rows = rowsOf(local);
    expect(rows.length).toBe(13);
    const failed = rows.filter((x) => x.status === 'failed');
    expect(failed.map((x) => [x.attempts, x.message])).toEqual([[1, 'dataset directory not found: /nonexistent/axtpu-dataset']]);
    expect(r.stderr.trim().split('\n')).toEqual([
      `axtpu: job ${failed[0]!.id} (eval lenet5-fmnist exact_u8 n=200 on /nonexistent/axtpu-dataset) failed: dataset directory not found: /nonexistent/axtpu-dataset`,
    ]);
  }, 120_000);

  it('queue run with a worker killed mid-job: every result equals the local run', async () => {
    const sweep = runCli(['sweep', sweepFile, '--out', queued, '--queue', `redis://127.0.0.1:${port}`, '--json'], env);
    // Kill the worker that starts the RTL run job (the longest) shortly after it started it.
    const runId = rowsOf(local).find((x) => x.status === 'done' && recordOf(local, x.id) && (recordOf(local, x.id) as { design?: string }).design)!.id;
    let victim: (typeof workers)[number] | undefined;
    for (let i = 0; i < 600 && !victim; i++) {
      victim = workers.find((w) => w.log.includes(`start sweep sweep-${runId}`));
      if (!victim) await new Promise((r) => setTimeout(r, 50));
    }
    expect(victim, 'no worker started the run job').toBeDefined();
    await new Promise((r) => setTimeout(r, 300));
    victim!.proc.kill('SIGKILL');
    const r = await sweep;
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length, r.stderr).toBe(1);
    expect(lines[0]).toMatch(/^axtpu: job \w+ \(eval lenet5-fmnist exact_u8 n=200 on \/nonexistent\/axtpu-dataset\) failed: dataset directory not found/);
    // Another worker took the job over after the dead one's lock expired.
    expect(workers.filter((w) => w !== victim && w.log.includes(`done  sweep sweep-${runId}`)).length).toBeGreaterThanOrEqual(1);
    const lrows = rowsOf(local);
    const qrows = rowsOf(queued);
    expect(qrows.map((x) => [x.id, x.status])).toEqual(lrows.map((x) => [x.id, x.status]));
    const failed = qrows.find((x) => x.status === 'failed')!;
    expect([failed.attempts, failed.message]).toEqual([1, 'dataset directory not found: /nonexistent/axtpu-dataset']);
    // The bad-input job failed once, on one worker: no retry storm.
    expect(workers.map((w) => w.log.split(`fail  sweep sweep-${failed.id}`).length - 1).reduce((a, b) => a + b, 0)).toBe(1);
    for (const x of lrows.filter((y) => y.status === 'done')) expect(recordOf(queued, x.id), x.id).toEqual(recordOf(local, x.id));
    const html = readFileSync(join(queued, 'summary.html'), 'utf8');
    expect(html).toContain('<polyline');
  }, 120_000);

  it('explore --queue keeps the same journal and results as the local explore run', async () => {
    const exploreId = readdirSync(local).find((d) => {
      try {
        return 'groups' in (recordOf(local, d) as object);
      } catch {
        return false;
      }
    })!;
    const out = join(tmp, 'explore-queue');
    const args = ['explore', '--model', LENET, '--cells', EXPLORE.cells, '--budget', EXPLORE.budget, '--val-images', '200', '--test-images', '200'];
    const r = await runCli([...args, '--calib-images', '16', '--no-rtl', '--out', out, '--queue', `redis://127.0.0.1:${port}`, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(journalOf(join(out, 'journal.jsonl'))).toEqual(journalOf(join(local, exploreId, 'journal.jsonl')));
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { groups: { winner: unknown; front: unknown; points: unknown }[] };
    const l = JSON.parse(readFileSync(join(local, exploreId, 'summary.json'), 'utf8')) as typeof s;
    expect(s.groups.map((g) => [g.winner, g.front, g.points])).toEqual(l.groups.map((g) => [g.winner, g.front, g.points]));
    // The ranges ran on the workers, not in this process.
    expect(workers.some((w) => w.log.includes('done  range range-'))).toBe(true);
  }, 120_000);

  it("nas --queue: the candidate's cell search runs on the workers and its accuracy is the engine's", async () => {
    const space = join(tmp, 'space.json');
    writeFileSync(space, JSON.stringify({ stages: [{ depth: [1], width: [4], kernel: [3], stride: [2], residual: [false] }], hidden: [0] }));
    const args = ['--json', 'nas', '--space', space, '--cells', EXPLORE.cells, '--population', '2', '--generations', '0'];
    args.push('--train-images', '1000', '--val-images', '200', '--test-images', '200');
    const ranges = () => workers.map((w) => w.log.split('done  range range-').length - 1).reduce((a, b) => a + b, 0);
    const before = ranges();
    const q = await runCli([...args, '--out', join(tmp, 'nas-queue'), '--queue', `redis://127.0.0.1:${port}`], env);
    expect(q.code, q.stderr).toBe(0);
    const c = (JSON.parse(q.stdout) as NasResult).candidates;
    expect(c.length).toBe(1);
    // The cell search's accuracies came from the workers; the test accuracy with the chosen cells
    // is what the local engine computes for that assignment on the same images.
    expect(ranges()).toBeGreaterThan(before);
    const { approx, exact, onnx } = c[0]!;
    const assign = JSON.stringify({ default: exact.cell, layers: Object.fromEntries(approx.layers.map((l, i) => [l, approx.cells[i]])) });
    expect((await evaluate({ model: onnx, assign, limit: 200, noFloat: true })).accuracy).toBe(approx.testAccuracy);
  }, 120_000);
});
