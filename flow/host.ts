import { Worker } from 'node:worker_threads';
import { type BatchResult, engineGemm, engineSteps } from '../nn/engine.ts';
import type { GemmOperands } from '../nn/gemm.ts';
import type { QConvLayer, QuantModel } from '../nn/qmodel.ts';

/**
 * The software reference of the RTL run: the engine's own layer loop (nn/engine.ts
 * `engineSteps`) with its own GEMMs through the SAME LUT bank the design's cells define, keeping
 * every conv/dense layer's accumulators so the array's can be compared word for word. Runs in a
 * worker thread so it costs the thread that drives the harness nothing.
 */
export interface HostSetup {
  model: QuantModel;
  table: Int32Array;
  rowOffsets: Record<string, Int32Array>;
  pixels: Uint8Array;
  perImage: number;
  /** Built native kernel addon for the worker to load (nn/native.ts), if available. */
  nativeAddon?: string;
}

export interface ReferenceLayer {
  name: string;
  /** acc[oc * P + p] from the engine's GEMM (may carry padded channels beyond oc * P). */
  acc: Int32Array;
}

export interface ReferenceBatch {
  s: number;
  n: number;
  pred: Uint8Array;
  layers: ReferenceLayer[];
  error?: string;
}

/** Drive the engine over images [s, s + n) with its own GEMMs; `onLayer` sees every layer. */
export function engineBatch(x: HostSetup, s: number, n: number, onLayer: (l: QConvLayer, g: GemmOperands, acc: Int32Array) => void): BatchResult {
  const cfg = { model: x.model, table: x.table, rowOffsets: x.rowOffsets };
  const steps = engineSteps(x.model, x.pixels.subarray(s * x.perImage, (s + n) * x.perImage), n);
  let r = steps.next();
  while (!r.done) {
    const { layer, g } = r.value;
    const acc = engineGemm(cfg, layer, g);
    onLayer(layer, g, acc);
    r = steps.next(acc);
  }
  return r.value;
}

export function referenceBatch(x: HostSetup, s: number, n: number): ReferenceBatch {
  const layers: ReferenceLayer[] = [];
  const r = engineBatch(x, s, n, (l, _g, acc) => layers.push({ name: l.name, acc }));
  return { s, n, pred: r.pred, layers };
}

/** The engine's im2col operands of every conv/dense layer for images [s, s + n). */
export function batchOperands(x: HostSetup, s: number, n: number): { layer: QConvLayer; g: GemmOperands }[] {
  const out: { layer: QConvLayer; g: GemmOperands }[] = [];
  engineBatch(x, s, n, (layer, g) => out.push({ layer, g }));
  return out;
}

export function transferList(r: ReferenceBatch): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const l of r.layers) if (l.acc.buffer instanceof ArrayBuffer) out.add(l.acc.buffer);
  out.add(r.pred.buffer as ArrayBuffer);
  return [...out];
}

/** request(s, n) queues a reference batch; replies come back in request order. */
export class ReferencePipeline {
  private worker: Worker | undefined;
  private waiting: ((r: ReferenceBatch) => void)[] = [];
  private failed: ((e: Error) => void)[] = [];

  constructor(
    private readonly setup: HostSetup,
    threaded: boolean,
  ) {
    if (!threaded) return;
    this.worker = new Worker(new URL('./host-worker.mjs', import.meta.url), { workerData: setup });
    this.worker.on('message', (r: ReferenceBatch) => {
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

  request(s: number, n: number): Promise<ReferenceBatch> {
    if (!this.worker) {
      try {
        return Promise.resolve(referenceBatch(this.setup, s, n));
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    // The worker handles one message at a time, so replies arrive in request order.
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
