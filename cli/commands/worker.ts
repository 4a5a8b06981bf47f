import type { Command } from 'commander';
import { intOption } from '../../core/validate.ts';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('serve sweep and explore jobs from a BullMQ/Redis queue (any number per host, on many hosts); stops on Ctrl-C')
    .requiredOption('--queue <url>', 'the queue at redis://host:port')
    .option('--concurrency <n>', 'jobs at once, each in its own process', '1')
    .option('--threads <n>', 'engine threads per job', '1')
    .option('--lock-seconds <s>', 'a job whose worker stops renewing its lock (dead process or host) is retried after about this long', '30')
    .action(async (o: { queue: string; concurrency: string; threads: string; lockSeconds: string }) => {
      const say = (line: string) => {
        if (!process.env.AXTPU_QUIET) process.stderr.write(`worker: ${line}\n`);
      };
      const { serveWorker } = await import('../../sweep/queue.ts');
      const opts = {
        concurrency: intOption(o.concurrency, '--concurrency', 1, 256),
        threads: intOption(o.threads, '--threads', 1, 64),
        lockMs: 1000 * intOption(o.lockSeconds, '--lock-seconds', 1, 3600),
        onEvent: say,
      };
      try {
        await serveWorker(o.queue, opts);
      } finally {
        // Reconnect timers or a stuck child must not keep a stopped worker alive.
        setTimeout(() => process.exit(), 2000).unref();
      }
    });
}
