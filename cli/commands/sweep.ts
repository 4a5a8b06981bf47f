import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { checkOutputDir } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { emit, table } from '../../core/output.ts';
import { Progress } from '../../core/progress.ts';
import { intOption } from '../../core/validate.ts';
import { runLocal } from '../../sweep/local.ts';
import type { Outcome } from '../../sweep/outcome.ts';
import { loadSweep } from '../../sweep/spec.ts';
import { type SummaryRow, writeSweepOutputs } from '../../sweep/summary.ts';
import { globals } from '../context.ts';

interface SweepOpts {
  out?: string;
  queue?: string;
  workers?: string;
  threads: string;
  force?: boolean;
}

function human(rows: SummaryRow[], out: string, runner: string, seconds: number): string {
  const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}`);
  const failed = rows.filter((r) => r.status === 'failed').length;
  return [
    table(
      ['id', 'job', 'status', 'tries', 'accuracy %', 'energy pJ/inf', 'saving %', 's'],
      rows.map((r) => [
        r.id.slice(0, 12),
        r.job,
        r.status,
        r.attempts,
        pct(r.accuracy),
        r.energyPj === null ? '-' : r.energyPj.toFixed(0),
        pct(r.saving),
        r.seconds === null ? '-' : r.seconds.toFixed(1),
      ]),
    ),
    `${rows.length} jobs, ${rows.length - failed} done, ${failed} failed on ${runner} in ${seconds.toFixed(1)} s`,
    `summary: ${out}/summary.html`,
  ].join('\n');
}

export function registerSweep(program: Command): void {
  program
    .command('sweep <file>')
    .description('run a sweep of eval/run/explore jobs (JSON sweep file): locally in worker processes, or on a BullMQ/Redis queue with --queue')
    .option('--out <dir>', 'output folder (summary.csv/json/html, one folder per job id)')
    .option('--queue <url>', 'run on the queue at redis://host:port (workers: `axtpu worker --queue ...`)')
    .option('--workers <n>', 'local worker processes (default: one per core); with --queue: also serve the queue from here with n processes (default 0)')
    .option('--threads <n>', 'engine threads per job', '1')
    .option('--force', 'replace an older unmarked output folder')
    .action(async (file: string, o: SweepOpts, cmd: Command) => {
      if (!o.out) throw new UserError("required option '--out <dir>' not specified");
      const out = resolve(o.out);
      // Every cheap check before any job runs: the file, the output folder, the queue.
      const sweep = loadSweep(file);
      checkOutputDir(out, { force: o.force });
      const workers = o.workers === undefined ? undefined : intOption(o.workers, '--workers', o.queue ? 0 : 1, 256);
      const threads = intOption(o.threads, '--threads', 1, 64);
      // BullMQ loads only when a queue is used (it slows every command's start otherwise).
      const queue = o.queue ? await import('../../sweep/queue.ts') : undefined;
      if (o.queue) await queue!.checkQueue(o.queue);
      const shown = o.queue ? queue!.parseQueueUrl(o.queue).shown : ''; // no password in outputs
      const quiet = globals(cmd).json;
      const progress = new Progress('sweep', sweep.jobs.length, !quiet && !process.env.AXTPU_QUIET);
      const onOutcome = (oc: Outcome) => {
        progress.tick(1, oc.status === 'failed' ? `${oc.id.slice(0, 12)} FAILED: ${oc.message}` : oc.id.slice(0, 12));
      };
      const t0 = performance.now();
      const processes = workers ?? availableParallelism();
      const outcomes = o.queue
        ? await queue!.runOnQueue(o.queue, sweep.jobs, {
            workers: workers ?? 0,
            threads,
            onOutcome,
            onQueued: (added, held) => {
              if (!quiet && !process.env.AXTPU_QUIET)
                process.stderr.write(
                  `sweep: ${added} job(s) queued on ${shown}, ${held} already there (completed ones are reused); waiting for workers (axtpu worker --queue ${shown})\n`,
                );
            },
          })
        : await runLocal(sweep.jobs, { processes, threads, onOutcome });
      const seconds = (performance.now() - t0) / 1000;
      const runner = o.queue ? `queue ${shown}` : `${processes} local process(es)`;
      const rows = await writeSweepOutputs(out, sweep, outcomes, { runner, seconds }, Boolean(o.force));
      emit(globals(cmd), { out, runner, seconds, jobs: rows }, () => human(rows, out, runner, seconds));
      const failed = rows.filter((r) => r.status === 'failed');
      for (const r of failed) process.stderr.write(`axtpu: job ${r.id} (${r.job}) failed: ${r.message}\n`);
      if (failed.length) process.exitCode = 1;
    });
}
