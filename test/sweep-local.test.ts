/**
 * The embedded sweep runner (sweep/local.ts): a worker process killed with SIGKILL while it holds
 * a job is replaced and the job retried; the result equals the job run in this process.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelsDir } from '../core/paths.ts';
import { runJob } from '../sweep/jobs.ts';
import { runLocal } from '../sweep/local.ts';
import { expandSweep } from '../sweep/spec.ts';

const sweep = expandSweep(
  { jobs: [{ kind: 'eval', model: join(modelsDir, 'lenet5-fmnist.onnx'), cell: 'drum_k6_u8', limit: 50 }] },
  join(modelsDir, 'sweep.json'),
);

/** Pids of this process's children running sweep/child.mjs. */
function children(): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), '-f', 'sweep/child.mjs'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('local sweep runner', () => {
  it('retries a job whose worker process was killed while holding it; the result is unchanged', async () => {
    const run = runLocal(sweep.jobs, { processes: 1 });
    let killed = 0;
    for (let i = 0; i < 400 && !killed; i++) {
      const [pid] = children();
      if (pid) {
        process.kill(pid, 'SIGKILL');
        killed = pid;
      } else await new Promise((r) => setTimeout(r, 25));
    }
    expect(killed).toBeGreaterThan(0);
    const oc = (await run)[0]!;
    if (oc.status !== 'done') throw new Error(`the job failed: ${oc.message}`);
    expect(oc.attempts).toBe(2);
    expect(oc.result.pid).not.toBe(killed);
    const here = await runJob(sweep.jobs[0]!);
    expect(oc.result.record).toEqual(here.record);
  }, 60_000);
});
