import { UserError } from '../core/errors.ts';
import type { Design } from '../generators/array/config.ts';
import type { Mat8 } from '../generators/array/model.ts';
import { ArraySim, type PeActivity } from '../sim/array.ts';
import { finishLayer } from '../nn/gemm.ts';
import { size } from '../nn/graph.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import type { Dataset } from '../nn/dataset.ts';
import type { Placement } from './placement.ts';
import { activationMatrix, weightMatrix, padBias, toAccumulator } from './operands.ts';
import { HostPipeline, hostBatch, type HostBatch } from './host.ts';
import { gemmTiming, emptyTiming, addTiming, type LayerTiming } from './timing.ts';
import { sampleLayerStreams, DEFAULT_STREAM_PAIRS, type CellStreams } from './streams.ts';

/**
 * RTL-in-the-loop inference. The software engine (nn/engine.ts `runQuantBatch`, unchanged) runs
 * each batch; a collector hooked into it hands over every conv/dense layer's im2col operands,
 * which go through the generated array in the Verilator harness. For every layer and batch the
 * array's accumulators (after exact pad removal) must equal the engine's GEMM on the SAME
 * operands, bit for bit; the host then finishes the output layer from the ARRAY's accumulators
 * with the engine's own `finishLayer`, so the reported predictions are the hardware's. Because
 * every earlier layer's array result is checked equal, the activations each layer receives are
 * what an array-fed pipeline produces; any mismatch is counted per layer and fails the run.
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
  /** Voltage level index per global domain (harness input; matters to injection runs). */
  levels?: number[];
  /** Host work in a worker thread one batch ahead (default: when there is more than one batch). */
  threaded?: boolean;
  /** Called after each batch (progress). */
  onBatch?: (done: number, total: number) => void;
}

export interface LayerActivity {
  /** Cycles over which the counters ran (the activity GEMMs). */
  cycles: number;
  /** Transitions per cycle, summed over a column's PEs: a, b (weight at the multiplier), p. */
  perColumn: { a: number; b: number; p: number }[];
  /** Transitions per cycle per PE, averaged over the PEs holding each cell. */
  perCell: Record<string, { pes: number; a: number; b: number; p: number }>;
}

export interface LayerTrace extends LayerTiming {
  layer: string;
  kind: string;
  tile: number;
  mode: number;
  K: number;
  N: number;
  /** RTL cycles (harness) and the cycle model's count for the same GEMMs. */
  modelCycles: number;
  /** Useful MACs per cell (all images). */
  macsByCell: Record<string, number>;
  mismatches: number;
  activity?: LayerActivity;
}

export interface RtlRunResult {
  images: number;
  batch: number;
  pred: Uint8Array;
  enginePred: Uint8Array;
  /** Images whose array prediction differs from the engine's. */
  predMismatches: number;
  layers: LayerTrace[];
  streams: Record<string, CellStreams>;
  /** loopNs / cycles over all GEMMs; plain* over the GEMMs run on the plain (no activity taps) build. */
  harness: { exe: string; built: boolean; buildMs: number; loopNs: number; cycles: number; plainNs: number; plainCycles: number; plainExe?: string };
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
  const weights = new Map<string, Mat8>(convs.map((l) => [l.name, weightMatrix(l)]));
  const pads = new Map(convs.map((l) => {
    const p = place.get(l.name)!;
    return [l.name, padBias(design, p.tile, p.mode, l.K, l.oc)] as const;
  }));
  const traces = new Map<string, LayerTrace>(
    convs.map((l) => {
      const p = place.get(l.name)!;
      return [l.name, { layer: l.name, kind: l.kind, tile: p.tile, mode: p.mode, K: l.K, N: l.oc, modelCycles: 0, macsByCell: {}, mismatches: 0, ...emptyTiming() }];
    }),
  );
  const perImage = ds.channels * ds.height * ds.width;
  const outShape = model.shapes[model.output]!;
  const classes = size(outShape);
  const pred = new Uint8Array(ds.count);
  const enginePred = new Uint8Array(ds.count);
  const streams: Record<string, CellStreams> = {};

  // Open the plain build first, so a cold cache builds both before any batch runs.
  const plain = activityMode === 'all' ? undefined : await ArraySim.open(design, { activity: false });
  const probe = activityMode === 'off' ? undefined : await ArraySim.open(design, { activity: true });
  const sims = [plain, probe].filter((x): x is ArraySim => x !== undefined);
  let hostRef: HostPipeline | undefined;
  let next: Promise<HostBatch> | undefined;
  const byName = new Map(convs.map((l) => [l.name, l]));
  let loopNs = 0;
  let cycles = 0;
  let plainNs = 0;
  let plainCycles = 0;
  try {
    if (o.vcd) await dumpVcd(model, design, placement, ds, o.vcd, Math.min(batch, ds.count));
    const total = Math.ceil(ds.count / batch);
    // The host works one batch ahead in a worker thread while this thread feeds the harness.
    const host = new HostPipeline({ model, table, rowOffsets, pixels: ds.pixels, perImage }, o.threaded ?? total > 1);
    hostRef = host;
    next = host.request(0, Math.min(batch, ds.count));
    for (let bi = 0, s = 0; s < ds.count; bi++, s += batch) {
      const n = Math.min(batch, ds.count - s);
      const cur: HostBatch = await next!;
      next = s + batch < ds.count ? host.request(s + batch, Math.min(batch, ds.count - s - batch)) : undefined;
      enginePred.set(cur.pred, s);
      let outLogits: Float64Array | undefined;
      for (const { name, g, A, ref } of cur.layers) {
        const l = byName.get(name)!;
        const p = place.get(l.name)!;
        const tr = traces.get(l.name)!;
        const activity = bi === 0 && probe !== undefined;
        const sim = activity || !plain ? probe! : plain;
        const run = await sim.gemm(A, weights.get(l.name)!, { tile: p.tile, mode: p.mode, activity, levels: o.levels });
        loopNs += run.ns;
        cycles += run.cycles;
        if (sim === plain) {
          plainNs += run.ns;
          plainCycles += run.cycles;
        }
        const acc = toAccumulator(design, run.out.raw, g.P, l.oc, pads.get(l.name)!);
        let bad = 0;
        for (let i = 0; i < acc.length; i++) if (acc[i] !== ref[i]) bad++;
        tr.mismatches += bad;
        addTiming(tr, gemmTiming(design, p.tile, g.P, l.K, l.oc, run.cycles));
        tr.modelCycles += gemmTiming(design, p.tile, g.P, l.K, l.oc).cycles;
        for (let f = 0; f < l.oc; f++) {
          const id = p.filterCells[f]!;
          tr.macsByCell[id] = (tr.macsByCell[id] ?? 0) + g.P * l.K;
        }
        if (run.activity) addActivity(tr, design, p.tile, p.mode, run.activity, run.cycles);
        if (bi === 0) streams[l.name] = sampleLayerStreams(l, g, p.filterCells, design.tiles[p.tile]!.rows, o.streamPairs ?? DEFAULT_STREAM_PAIRS);
        if (l.output === model.output) {
          // The classifier reads the ARRAY's accumulators through the engine's finishing code.
          const inQ = model.tensors[l.input]!;
          outLogits = new Float64Array(n * classes);
          finishLayer(l, acc, g, inQ.zeroPoint, model.tensors[l.output]!.zeroPoint, model.scheme, { out: outLogits, inputScale: inQ.scale });
        }
      }
      for (let b = 0; b < n; b++) {
        if (!outLogits) {
          pred[s + b] = cur.pred[b]!;
          continue;
        }
        let best = 0;
        for (let i = 1; i < classes; i++) if (outLogits[b * classes + i]! > outLogits[b * classes + best]!) best = i;
        pred[s + b] = best;
      }
      o.onBatch?.(bi + 1, total);
    }
  } finally {
    // A batch still in flight when something failed: its result is not needed.
    next?.catch(() => undefined);
    await hostRef?.close();
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
    layers,
    streams,
    harness: { exe: sims[0]!.built.exe, built: sims.some((s) => !s.built.hit), buildMs: sims.reduce((t, s) => t + s.built.buildMs, 0), loopNs, cycles, plainNs, plainCycles, plainExe: plain?.built.exe },
    seconds: (performance.now() - t0) / 1000,
  };
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
      const e = (A.perCell[id] ??= { pes: 0, a: 0, b: 0, p: 0 });
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
async function dumpVcd(model: QuantModel, design: Design, placement: Placement, ds: Dataset, vcd: NonNullable<RtlRunOptions['vcd']>, n: number): Promise<void> {
  const l = convLayers(model).find((x) => x.name === vcd.layer)!;
  const p = placement.layers.find((x) => x.layer === vcd.layer)!;
  const perImage = ds.channels * ds.height * ds.width;
  const hb = hostBatch({ model, table: placement.resolved.table, rowOffsets: placement.resolved.rowOffsets, pixels: ds.pixels, perImage }, 0, n);
  const g = hb.layers.find((c) => c.name === l.name)!.g;
  const sim = await ArraySim.open(design, { trace: true });
  try {
    await sim.gemm(activationMatrix(g), weightMatrix(l), { tile: p.tile, mode: p.mode, trace: vcd });
  } finally {
    await sim.close();
  }
}
