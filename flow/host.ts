import { captureAccumulators, captureOperands, type LayerAccumulators } from '../nn/capture.ts';
import type { CvConfig } from '../nn/cv.ts';
import type { EngineConfig, GemmRequest } from '../nn/engine.ts';
import type { InjectSpec } from '../nn/inject.ts';
import { poolAccumulators } from '../nn/parallel.ts';
import type { QuantModel } from '../nn/qmodel.ts';

/**
 * The software reference of the RTL run: the engine's own layer loop with its own GEMMs through
 * the SAME LUT bank the design's cells define (nn/capture.ts), keeping every conv/dense layer's
 * accumulators so the array's can be compared word for word. Runs on the engine's worker pool
 * (nn/parallel.ts), so it costs the thread that drives the harnesses nothing.
 */
export interface HostSetup {
  model: QuantModel;
  table: Int32Array;
  rowOffsets: Record<string, Int32Array>;
  /** Control-variate compensation, as the array applies it (nn/cv.ts). */
  cv?: CvConfig;
  pixels: Uint8Array;
  perImage: number;
  /** Built native kernel addon for the worker to load (nn/native.ts), if available. */
  nativeAddon?: string;
  /** Timing errors drawn into the reference's accumulators (nn/inject.ts), as the RTL run adds them. */
  inject?: InjectSpec;
}

export interface ReferenceBatch extends LayerAccumulators {
  s: number;
  n: number;
}

const engineOf = (x: HostSetup): EngineConfig => ({ model: x.model, table: x.table, rowOffsets: x.rowOffsets, cv: x.cv, inject: x.inject });
const imagesOf = (x: HostSetup, s: number, n: number) => x.pixels.subarray(s * x.perImage, (s + n) * x.perImage);

/** Images [s, s + n) in this thread. */
export function referenceBatch(x: HostSetup, s: number, n: number): ReferenceBatch {
  return { s, n, ...captureAccumulators(engineOf(x), imagesOf(x, s, n), n, s) };
}

/** The engine's im2col operands of every conv/dense layer for images [s, s + n). */
export function batchOperands(x: HostSetup, s: number, n: number): GemmRequest[] {
  return captureOperands(engineOf(x), imagesOf(x, s, n), n);
}

/** request(s, n) computes a reference batch beside the caller; close() waits for the ones in flight. */
export class ReferencePipeline {
  private readonly engine: EngineConfig;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly setup: HostSetup,
    private readonly threaded: boolean,
  ) {
    // One object for every request: the pool sends the model and bank to a worker once.
    this.engine = engineOf(setup);
  }

  request(s: number, n: number): Promise<ReferenceBatch> {
    if (!this.threaded) {
      try {
        return Promise.resolve(referenceBatch(this.setup, s, n));
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    // At most one pool thread is started for the reference (the previous dedicated worker's
    // share of the cores, beside the harness processes); idle ones already alive are used too.
    const p = poolAccumulators(this.engine, imagesOf(this.setup, s, n), n, { nativeAddon: this.setup.nativeAddon, maxWorkers: 1, firstImage: s }).then((r) => ({
      s,
      n,
      ...r,
    }));
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Pool workers are shared and outlive the run: settle what this pipeline started. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}
