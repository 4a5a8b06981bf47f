import type { JobResult } from './jobs.ts';

/**
 * How one sweep job ended, whichever runner ran it. `enqueuedAt` is when the sweep handed the job
 * to its runner and `doneAt` when the sweep learned the result (ms, Date.now on the sweep's host);
 * the result carries when the job started and ended where it ran.
 */
export type Outcome = { id: string; attempts: number; enqueuedAt: number; doneAt: number } & (
  | { status: 'done'; result: JobResult }
  | { status: 'failed'; userError: boolean; message: string }
);
