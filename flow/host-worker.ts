import { parentPort, workerData } from 'node:worker_threads';
import { loadNativeAddon } from '../nn/native-load.ts';
import { type HostSetup, referenceBatch, transferList } from './host.ts';

/** The software reference, one batch at a time, off the thread that drives the harness. */
const setup = workerData as HostSetup;
if (setup.nativeAddon) loadNativeAddon(setup.nativeAddon);
parentPort!.on('message', (m: { s: number; n: number }) => {
  try {
    const r = referenceBatch(setup, m.s, m.n);
    parentPort!.postMessage(r, transferList(r));
  } catch (err) {
    parentPort!.postMessage({ error: (err as Error).message });
  }
});
