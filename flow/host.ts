import { Worker } from 'node:worker_threads';
import type { Mat8 } from '../generators/array/model.ts';
import { runQuantBatch } from '../nn/engine.ts';
import { gemmLut, type GemmOperands } from '../nn/gemm.ts';
import { StatsCollector } from '../nn/stats.ts';
import type { QConvLayer, QuantModel } from '../nn/qmodel.ts';
import { activationMatrix } from './operands.ts';

/**
 * The host side of one batch: the software engine (unchanged) with a collector that captures
 * every conv/dense layer's im2col operands, the array-layout activation matrix of each, and the
 * engine's GEMM on the same operands (the reference the array must equal). Runs in a worker
 * thread so the main thread stays free to stream the previous batch through the harness pipe.
 */
export interface HostSetup {
  model: QuantModel;
  table: Int32Array;
  rowOffsets: Record<string, Int32Array>;
  pixels: Uint8Array;
  perImage: number;
}

export interface HostLayer {
  name: string;
  g: GemmOperands;
  A: Mat8;
  ref: Int32Array;
}

export interface HostBatch {
  s: number;
  n: number;
  pred: Uint8Array;
  layers: HostLayer[];
  error?: string;
}

class OperandCapture extends StatsCollector {
  captured: { l: QConvLayer; g: GemmOperands }[] = [];
  override observe(l: QConvLayer, g: GemmOperands): void {
    this.captured.push({ l, g });
  }
}

export function hostBatch(x: HostSetup, s: number, n: number): HostBatch {
  const cap = new OperandCapture();
  const sw = runQuantBatch({ model: x.model, table: x.table, rowOffsets: x.rowOffsets }, x.pixels.subarray(s * x.perImage, (s + n) * x.perImage), n, cap);
  const layers = cap.captured.map(({ l, g }) => ({ name: l.name, g, A: activationMatrix(g), ref: gemmLut(x.rowOffsets[l.name]!, x.table, g, l.oc) }));
  return { s, n, pred: sw.pred, layers };
}

export function transferList(r: HostBatch): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const l of r.layers) for (const b of [l.g.a, l.g.sumA, l.A.data, l.ref]) if (b && b.buffer instanceof ArrayBuffer) out.add(b.buffer);
  return [...out];
}

/** One batch ahead: request(s, n) starts the work, the promise resolves with it. */
export class HostPipeline {
  private worker: Worker | undefined;
  private waiting: ((r: HostBatch) => void)[] = [];
  private failed: ((e: Error) => void)[] = [];

  constructor(private readonly setup: HostSetup, threaded: boolean) {
    if (!threaded) return;
    this.worker = new Worker(new URL('./host-worker.mjs', import.meta.url), { workerData: setup });
    this.worker.on('message', (r: HostBatch) => {
      const ok = this.waiting.shift();
      const bad = this.failed.shift();
      if (r.error) bad?.(new Error(`flow host worker: ${r.error}`));
      else ok?.(r);
    });
    this.worker.on('error', (e) => {
      for (const f of this.failed) f(e);
      this.waiting = [];
      this.failed = [];
    });
  }

  request(s: number, n: number): Promise<HostBatch> {
    if (!this.worker) return Promise.resolve(hostBatch(this.setup, s, n));
    // Replies come back in request order (the worker handles one message at a time).
    return new Promise((resolve, reject) => {
      this.waiting.push(resolve);
      this.failed.push(reject);
      this.worker!.postMessage({ s, n });
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}
