import { UserError } from '../core/errors.ts';
import type { Design } from '../generators/array/config.ts';
import { addCycles, emptyCycles, gemmCycles, type LayerCycles } from '../mapping/cycles.ts';
import { activationMatrix, foldPlan, type Mat8, padBias, toAccumulator, weightMatrix } from '../mapping/gemm.ts';
import { addMacsByCell, batches } from '../mapping/layer-cost.ts';
import { addBufferCounts, type BufferCounts, dramWeightBytes, emptyBufferCounts, gemmBufferCounts } from '../mapping/memory.ts';
import { cellGrid, type Placement } from '../mapping/place.ts';
import type { CellStreams } from '../mapping/streams.ts';
import { addOffset, type CvConfig } from '../nn/cv.ts';
import type { Dataset } from '../nn/dataset.ts';
import { productSource, runQuantBatchAsync } from '../nn/engine.ts';
import { drawLayerErrors, type InjectSpec } from '../nn/inject.ts';
import { prepareNativeKernels } from '../nn/native.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import { ArraySim, type PeActivity } from '../sim/array.ts';
import { type AccRows, layerEnergySample } from './energy.ts';
import { batchOperands, type HostSetup, ReferencePipeline } from './host.ts';

/**
 * RTL-in-the-loop inference. The engine's layer loop (nn/engine.ts `engineSteps`, driven by
 * `runQuantBatchAsync`) runs each batch on the host; every conv/dense GEMM it asks for goes
 * through the generated array in the Verilator harness, and the array's accumulators (sign-decoded,
 * pad-corrected) are what the engine finishes and feeds to the next layer. Predictions are the
 * array's. Independently, the software reference (the same engine with its own GEMMs through the
 * same LUT bank, in a worker thread) runs the same batch; every layer's accumulators are compared
 * word for word and differences counted per layer.
 *
 * Within a batch the layers are serial (each needs the previous one's array result), so several
 * batches are kept in flight: while the harness computes one batch's layer, this thread lowers or
 * finishes another's (the harness queues GEMMs in order).
 */
export interface RtlRunOptions {
  batch?: number;
  /**
   * Per-PE activity counters: 'sample' (default) runs the first batch on the activity build and
   * the rest on the plain, ~3x faster build (two cached builds); 'all' runs every batch on the
   * activity build (one build, counters on the first batch only); 'off' uses the plain build.
   */
  activity?: 'sample' | 'all' | 'off';
  /** VCD window on one layer's first GEMM (needs a second, tracing harness build). */
  vcd?: { layer: string; from: number; to: number; path: string };
  /** Operand-stream pairs sampled per (layer, cell) for the energy estimate. */
  streamPairs?: number;
  /** Voltage level index per global domain (harness input; selects the injection row). */
  levels?: number[];
  /**
   * Error injection at the domain outputs: flip probability per level and psum bit
   * (`ArraySim.setInjection`). Each GEMM gets its own seed (batch, layer), so runs reproduce.
   */
  flip?: number[][];
  /**
   * Timing errors from the fitted per-voltage models (nn/inject.ts), drawn per GEMM on the host
   * with the engine's own draws (keyed by seed, layer and the batch's first image) and added to
   * the column results as the accumulators take them; the software reference draws the same, so
   * the run still compares word for word. Not with `flip`.
   */
  inject?: InjectSpec;
  /** Reference engine in a worker thread (default: when there is more than one batch). */
  threaded?: boolean;
  /**
   * Plain-build harness processes (default 2: on a loaded 2-core machine one process gets one
   * scheduler share, and even unloaded the host's work overlaps a second harness).
   */
  harnesses?: number;
  /** Batches in flight (default 2 per harness); batch loop i uses harness i mod harnesses. */
  inFlight?: number;
  /** Control-variate compensation per layer (nn/cv.ts): coefficients into the array, offsets on the host. */
  cv?: CvConfig;
  /**
   * Approximate weight memory (docs/wmem.md): `model` is then the faulty model (nn/wmem.ts
   * `applyWeightFaults`), which the host and the software reference run; DRAM holds `stored`'s
   * TRUE weights and the harness XORs each weight's faulty bits onto the weight FIFO's read data
   * (the difference of the two models' codes), so the word-for-word comparison covers the faults.
   */
  weightMemory?: { stored: QuantModel };
  /** Called after each batch (progress). */
  onBatch?: (done: number, total: number) => void;
  /** Every array result as the next layer receives it (first image s of its batch). */
  onGemm?: (s: number, layer: string, acc: Int32Array) => void;
}

export interface LayerActivity {
  /** Cycles over which the counters ran (the activity GEMMs). */
  cycles: number;
  /** Transitions per cycle, summed over a column's PEs: a, b (weight at the multiplier), p. */
  perColumn: { a: number; b: number; p: number }[];
  /** Transitions per cycle per PE, averaged over the PEs holding each cell. */
  perCell: Record<string, { pes: number; a: number; b: number; p: number }>;
}

export interface LayerTrace extends LayerCycles {
  layer: string;
  kind: string;
  tile: number;
  mode: number;
  K: number;
  N: number;
  /** RTL cycles (harness) and the cycle model's count for the same GEMMs. */
  modelCycles: number;
  /** Buffer accesses: the RTL's counters (DRAM bytes = weight-FIFO writes x C) and mapping/memory.ts's count. */
  buffers: BufferCounts;
  modelBuffers: BufferCounts;
  /** Useful MACs per cell (all images). */
  macsByCell: Record<string, number>;
  /** Accumulator words where the array-fed run differs from the software reference. */
  mismatches: number;
  /** With `inject`: PE operations drawn wrong, and column results changed, over all batches. */
  injected?: { wrongOps: number; wrongResults: number };
  activity?: LayerActivity;
}

export interface RtlRunResult {
  images: number;
  batch: number;
  /** The array-fed pipeline's predictions. */
  pred: Uint8Array;
  /** The software reference's (same engine, same LUT bank, its own GEMMs). */
  enginePred: Uint8Array;
  /** Images whose array prediction differs from the engine's. */
  predMismatches: number;
  /** First layer (model order) with differing accumulator words, if any. */
  firstMismatchLayer: string | null;
  injection: boolean;
  layers: LayerTrace[];
  streams: Record<string, CellStreams>;
  /** First batch's output rows per layer, for the accumulators' energy. */
  accRows: Record<string, AccRows>;
  /** loopNs / cycles over all GEMMs; plain* over the GEMMs run on the plain (no activity taps) build. */
  harness: {
    exe: string;
    built: boolean;
    buildMs: number;
    loopNs: number;
    loopCpuNs: number;
    cycles: number;
    plainNs: number;
    plainCycles: number;
    plainExe?: string;
  };
  seconds: number;
}

export async function runRtl(model: QuantModel, design: Design, placement: Placement, ds: Dataset, o: RtlRunOptions = {}): Promise<RtlRunResult> {
  const t0 = performance.now();
  const batch = o.batch ?? 250;
  const activityMode = o.activity ?? 'sample';
  const convs = convLayers(model);
  const { table, rowOffsets } = placement.resolved;
  const place = new Map(placement.layers.map((p) => [p.layer, p]));
  if (o.vcd && !place.has(o.vcd.layer)) throw new UserError(`--vcd: no conv/dense layer '${o.vcd.layer}' (layers: ${convs.map((l) => l.name).join(', ')})`);
  const stored = o.weightMemory ? new Map(convLayers(o.weightMemory.stored).map((l) => [l.name, l])) : undefined;
  const weights = new Map<string, Mat8>(convs.map((l) => [l.name, weightMatrix(stored?.get(l.name) ?? l)]));
  const weightFaults = new Map<string, Mat8>();
  for (const l of convs) {
    const t = weights.get(l.name)!;
    const mask = weightFaultMatrix(t, weightMatrix(l));
    if (mask) weightFaults.set(l.name, mask);
  }
  const layerIndex = new Map(convs.map((l, i) => [l.name, i]));
  const pads = new Map(
    convs.map((l) => {
      const p = place.get(l.name)!;
      return [l.name, padBias(design, p.tile, p.mode, l.K, l.oc)] as const;
    }),
  );
  const traces = new Map<string, LayerTrace>(
    convs.map((l) => {
      const p = place.get(l.name)!;
      return [
        l.name,
        {
          layer: l.name,
          kind: l.kind,
          tile: p.tile,
          mode: p.mode,
          K: l.K,
          N: l.oc,
          modelCycles: 0,
          buffers: emptyBufferCounts(),
          modelBuffers: emptyBufferCounts(),
          macsByCell: {},
          mismatches: 0,
          ...emptyCycles(),
        },
      ];
    }),
  );
  const perImage = ds.channels * ds.height * ds.width;
  const pred = new Uint8Array(ds.count);
  const enginePred = new Uint8Array(ds.count);
  const streams: Record<string, CellStreams> = {};
  const accRows: Record<string, AccRows> = {};
  // Host-side im2col / requant and the reference GEMMs run on the engine's native kernels (JS
  // fallback with one warning); the reference worker loads the same built addon.
  const native = await prepareNativeKernels();
  if (o.inject && o.flip) throw new Error('runRtl: inject (fitted timing errors) and flip (bit flips) are exclusive');
  const setup: HostSetup = {
    model,
    table,
    rowOffsets,
    cv: o.cv,
    pixels: ds.pixels,
    perImage,
    nativeAddon: native.ok ? native.path : undefined,
    inject: o.inject,
  };

  const plan = batches(ds.count, batch);
  const total = plan.length;
  // Open the plain build first, so a cold cache builds both before any batch runs; further plain
  // processes reuse the cached build.
  const plains: ArraySim[] = [];
  let probe: ArraySim | undefined;
  const nPlain = activityMode === 'all' ? 0 : Math.max(1, Math.min(o.harnesses ?? 2, total - (activityMode === 'sample' ? 1 : 0)));
  try {
    for (let i = 0; i < nPlain; i++) plains.push(await ArraySim.open(design, { activity: false }));
    if (activityMode !== 'off') probe = await ArraySim.open(design, { activity: true });
  } catch (e) {
    for (const s of plains) await s.close();
    throw e;
  }
  const plain = plains[0];
  const sims = [...plains, probe].filter((x): x is ArraySim => x !== undefined);
  let reference: ReferencePipeline | undefined;
  let loopNs = 0;
  let loopCpuNs = 0;
  let cycles = 0;
  let plainNs = 0;
  let plainCycles = 0;
  let done = 0;
  let failed = false;

  /** One batch through the engine's layer loop with every GEMM on the array. */
  const runBatch = async (bi: number, lane: number): Promise<void> => {
    const [s, n] = plan[bi]!;
    const ref = reference!.request(s, n);
    ref.catch(() => undefined); // awaited below; a failure elsewhere must not leave it unhandled
    const activity = bi === 0 && probe !== undefined;
    const sim = activity || !plain ? probe! : plains[lane % plains.length]!;
    const got = new Map<string, Int32Array>();
    const r = await runQuantBatchAsync(model, ds.pixels.subarray(s * perImage, (s + n) * perImage), n, async (l, g) => {
      if (failed) throw new Error('stopped: another batch failed');
      const p = place.get(l.name)!;
      const tr = traces.get(l.name)!;
      const lcv = o.cv?.[l.name];
      const psumErrors = o.inject ? drawLayerErrors(o.inject, l, g, productSource(setup, l), s) : undefined;
      if (psumErrors) {
        tr.injected ??= { wrongOps: 0, wrongResults: 0 };
        tr.injected.wrongOps += psumErrors.e.length;
        tr.injected.wrongResults += new Set(psumErrors.n.map((n, i) => n * g.P + psumErrors.m[i]!)).size;
      }
      const run = await sim.gemm(activationMatrix(g), weights.get(l.name)!, {
        tile: p.tile,
        mode: p.mode,
        activity,
        levels: o.levels,
        inject: o.flip !== undefined,
        seed: bi * 4096 + layerIndex.get(l.name)! + 1,
        cv: lcv,
        tags: p.tags,
        psumErrors,
        weightFaults: weightFaults.get(l.name),
      });
      loopNs += run.ns;
      loopCpuNs += run.cpuNs;
      cycles += run.cycles;
      if (sim !== probe) {
        plainNs += run.ns;
        plainCycles += run.cycles;
      }
      addCycles(tr, gemmCycles(design, p.tile, g.P, l.K, l.oc, run.cycles));
      tr.modelCycles += gemmCycles(design, p.tile, g.P, l.K, l.oc).cycles;
      addBufferCounts(tr.buffers, { ...run.counters, dramWeightBytes: dramWeightBytes(run.counters.wbufWrites, design.tiles[p.tile]!.cols) });
      addBufferCounts(tr.modelBuffers, gemmBufferCounts(foldPlan(design, p.tile, g.P, l.K, l.oc)));
      addMacsByCell(tr.macsByCell, cellGrid(p), g.P, l.K);
      if (run.activity) addActivity(tr, design, p.tile, p.mode, run.activity, run.cycles);
      // What the next layer receives: the array's psum words in the engine's layout.
      const acc = toAccumulator(design, run.out.raw, g.P, l.oc, pads.get(l.name)!);
      // The compensation's constant part is a bias change, applied on the host (docs/cv.md).
      if (lcv) addOffset(lcv, acc, g.P, l.oc);
      if (bi === 0) {
        const e = layerEnergySample(design, p, l, g, acc, o.streamPairs);
        streams[l.name] = e.streams;
        accRows[l.name] = e.accRows;
      }
      got.set(l.name, acc);
      o.onGemm?.(s, l.name, acc);
      return acc;
    });
    pred.set(r.pred, s);
    const sw = await ref;
    enginePred.set(sw.pred, s);
    for (const { name, acc } of sw.layers) {
      const hw = got.get(name)!;
      let bad = 0;
      for (let i = 0; i < hw.length; i++) if (hw[i] !== acc[i]) bad++;
      traces.get(name)!.mismatches += bad;
    }
    o.onBatch?.(++done, total);
  };

  try {
    if (o.vcd) await dumpVcd(design, placement, setup, o.vcd, Math.min(batch, ds.count));
    if (o.flip) for (const sim of sims) await sim.setInjection(o.flip);
    reference = new ReferencePipeline(setup, o.threaded ?? total > 1);
    // Batch loops share the harnesses (loop i on harness i mod H); each takes the next batch.
    let next = 0;
    const lane = async (_: unknown, i: number): Promise<void> => {
      while (next < total && !failed) {
        const bi = next++;
        try {
          await runBatch(bi, i);
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    };
    const lanes = Array.from({ length: Math.max(1, Math.min(o.inFlight ?? 2 * Math.max(1, plains.length), total)) }, lane);
    const settled = await Promise.allSettled(lanes);
    const err = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected' && !String((x.reason as Error)?.message).startsWith('stopped:'));
    if (err) throw err.reason;
    const any = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (any) throw any.reason;
  } finally {
    await reference?.close();
    for (const s of sims) await s.close();
  }
  let predMismatches = 0;
  for (let i = 0; i < ds.count; i++) if (pred[i] !== enginePred[i]) predMismatches++;
  const layers = convs.map((l) => traces.get(l.name)!);
  for (const t of layers) finishActivity(t);
  return {
    images: ds.count,
    batch,
    pred,
    enginePred,
    predMismatches,
    firstMismatchLayer: layers.find((l) => l.mismatches > 0)?.layer ?? null,
    injection: o.flip !== undefined || o.inject !== undefined,
    layers,
    streams,
    accRows,
    harness: {
      exe: sims[0]!.built.exe,
      built: sims.some((s) => !s.built.hit),
      buildMs: sims.reduce((t, s) => t + s.built.buildMs, 0),
      loopNs,
      loopCpuNs,
      cycles,
      plainNs,
      plainCycles,
      plainExe: plain?.built.exe,
    },
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Per-weight XOR of the stored and the read codes (K x N), or undefined when they are equal. */
function weightFaultMatrix(stored: Mat8, read: Mat8): Mat8 | undefined {
  if (stored.rows !== read.rows || stored.cols !== read.cols) throw new Error('runRtl: the stored model has another layer shape than the faulty one');
  const data = new Uint8Array(stored.data.length);
  let any = false;
  for (let i = 0; i < data.length; i++) {
    data[i] = stored.data[i]! ^ read.data[i]!;
    if (data[i]) any = true;
  }
  return any ? { rows: stored.rows, cols: stored.cols, data } : undefined;
}

function addActivity(tr: LayerTrace, design: Design, tile: number, mode: number, act: PeActivity, cycles: number): void {
  const t = design.tiles[tile]!;
  tr.activity ??= { cycles: 0, perColumn: Array.from({ length: t.cols }, () => ({ a: 0, b: 0, p: 0 })), perCell: {} };
  const A = tr.activity;
  A.cycles += cycles;
  for (let r = 0; r < t.rows; r++)
    for (let c = 0; c < t.cols; c++) {
      const col = A.perColumn[c]!;
      col.a += act.a[r]![c]!;
      col.b += act.b[r]![c]!;
      col.p += act.p[r]![c]!;
      const id = t.cells[mode]![r]![c]!;
      A.perCell[id] ??= { pes: 0, a: 0, b: 0, p: 0 };
      const e = A.perCell[id]!;
      e.a += act.a[r]![c]!;
      e.b += act.b[r]![c]!;
      e.p += act.p[r]![c]!;
    }
  // PE count per cell (set once; counters above are sums until finishActivity).
  for (const id of Object.keys(A.perCell)) {
    let pes = 0;
    for (let r = 0; r < t.rows; r++) for (let c = 0; c < t.cols; c++) if (t.cells[mode]![r]![c] === id) pes++;
    A.perCell[id]!.pes = pes;
  }
}

/** Counter sums -> transitions per cycle. */
function finishActivity(tr: LayerTrace): void {
  const A = tr.activity;
  if (!A || A.cycles === 0) return;
  for (const col of A.perColumn) {
    col.a /= A.cycles;
    col.b /= A.cycles;
    col.p /= A.cycles;
  }
  for (const e of Object.values(A.perCell)) {
    const d = A.cycles * e.pes;
    e.a /= d;
    e.b /= d;
    e.p /= d;
  }
}

/** One layer's first-batch GEMM in a tracing build, dumping cycles [from, to) as VCD. */
async function dumpVcd(design: Design, placement: Placement, setup: HostSetup, vcd: NonNullable<RtlRunOptions['vcd']>, n: number): Promise<void> {
  const p = placement.layers.find((x) => x.layer === vcd.layer)!;
  const { layer, g } = batchOperands(setup, 0, n).find((c) => c.layer.name === vcd.layer)!;
  const sim = await ArraySim.open(design, { trace: true });
  try {
    await sim.gemm(activationMatrix(g), weightMatrix(layer), { tile: p.tile, mode: p.mode, trace: vcd, tags: p.tags });
  } finally {
    await sim.close();
  }
}
