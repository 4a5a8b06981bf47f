import type { RangeRunner } from '../explore/range.ts';

/**
 * Run `work` with the BullMQ queue's range runner when `url` is given (`explore --queue`,
 * `nas --queue`), else locally. The queue is reached before `work` starts (an unreachable one is
 * one line, exit 2, with nothing written); a lost connection ends the run; the connection is
 * closed either way. The queue module (BullMQ) is loaded only when a queue is named.
 */
export async function withQueue<T>(url: unknown, work: (remote: RangeRunner | undefined) => Promise<T>): Promise<T> {
  if (url === undefined) return work(undefined);
  const remote = await (await import('../sweep/queue.ts')).remoteRanges(String(url));
  const run = work(remote.run);
  run.catch(() => {}); // a lost queue ends the run first; its later rejection is expected
  try {
    return await Promise.race([run, remote.lost]);
  } finally {
    await remote.close();
  }
}
