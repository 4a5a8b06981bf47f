import { parentPort, workerData } from 'node:worker_threads';
import { runJob, type WorkerJob } from './parallel.ts';

/** Engine worker thread: runs one contiguous image range and posts the predictions back. */
try {
  parentPort!.postMessage(runJob(workerData as WorkerJob));
} catch (err) {
  parentPort!.postMessage({ pred: new Uint8Array(0), error: (err as Error).message });
}
