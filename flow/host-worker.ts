import { parentPort, workerData } from 'node:worker_threads';
import { hostBatch, transferList, type HostSetup } from './host.ts';

/** Host-side work of one batch at a time, off the thread that feeds the harness pipe. */
const setup = workerData as HostSetup;
parentPort!.on('message', (m: { s: number; n: number }) => {
  try {
    const r = hostBatch(setup, m.s, m.n);
    parentPort!.postMessage(r, transferList(r));
  } catch (err) {
    parentPort!.postMessage({ error: (err as Error).message });
  }
});
