import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../core/errors.ts';
import { defaultLiberty, modelsDir } from '../core/paths.ts';
import { xorshift32 } from '../core/rng.ts';
import { type Design, generateViews, loadDesign, resolveDesign } from '../generators/array/index.ts';
import { getCell } from '../generators/multipliers/index.ts';
import { cellGrid, placeModel } from '../mapping/place.ts';
import { type PeStream, RUN_LENGTH, sampleLayerStreams } from '../mapping/streams.ts';
import { schemeFor } from '../nn/assign.ts';
import { captureOperands } from '../nn/capture.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { DEFAULT_DATASET, loadQuantModelFor } from '../nn/load.ts';
import { convLayers } from '../nn/qmodel.ts';
import { DEFAULT_ELECTRICAL, estimateEnergy } from '../synth/energy.ts';
import { buildGateSim, type GateSimModel, type GateSimStimulus, popcount } from '../synth/gatesim.ts';
import { type Library, loadLiberty } from '../synth/liberty.ts';
import { runOpenStaArrival } from '../synth/opensta.ts';
import { cellStimulus, synthesizeCell } from '../synth/power.ts';
import type { ElectricalOptions } from '../synth/static-timing.ts';
import { runTimedSimFast } from '../synth/timed-native.ts';
import { buildTimedModel, type TimedModel, type TimedResult, timingBound } from '../synth/timed-sim.ts';
import { defaultVoltageModel, fitDelayModel, type VoltageModel, voltageScale } from '../synth/voltage.ts';
import { adderSigns, type ErrorObservation, fitAndChoose, type ModelChoice, NEW_WEIGHT, signsPair } from '../synth/vos-model.ts';
import { type SynthResult, synthesize } from '../synth/yosys.ts';
import { peSources, peStimulus } from './energy.ts';

/**
 * Voltage-overscaling characterization (docs/vos.md): a cell alone or every distinct PE of a
 * design, synthesized, clocked at timing closure (our static bound at nominal voltage,
 * cross-checked with OpenSTA, times 1 + margin), driven by a real LeNet-5 layer stream or a
 * uniform one, simulated with synth/timed-sim.ts at each supply voltage (every delay scaled by
 * the synth/voltage.ts alpha-power factor, the clock kept), and summarized as error models
 * (synth/vos-model.ts) plus energy per operation with glitches.
 */
export const VOS_SCHEMA = 'axtpu-vos-models/1';
export const DEFAULT_VOS_OPS = 20_000;
/** Layer-stream sampling: images of the test set whose operands feed the streams. */
const STREAM_IMAGES = 4;
/**
 * Per-layer fits: operands of a batch of this many images, so a dense layer's PE sees runs of
 * 100 operations with its weight held, as the array does with a batch (with STREAM_IMAGES a dense
 * layer's weight would change every 4 cycles, which toggles more and fails more often).
 */
export const LAYER_FIT_IMAGES = 100;

export interface VosTarget {
  kind: 'cell' | 'pe';
  cell: string;
  /** Verilog top that is synthesized (the cell module or the PE module). */
  top: string;
  sources: Record<string, string>;
  /** Output word whose captured value is modelled, and its width. */
  word: { port: string; bits: number; signed: boolean };
  /** Cycles between an operation's inputs and its captured word (PE: the psum register). */
  latency: number;
  mode: number;
  psumBits: number;
}

export interface VosSubject {
  label: string;
  design?: Design;
  targets: VosTarget[];
}

/** `<cell|design>`: a design directory (every distinct PE module) or a cell id. */
export function vosSubject(spec: string): VosSubject {
  if (existsSync(spec) && statSync(spec).isDirectory()) {
    if (!existsSync(join(spec, 'config.json'))) throw new UserError(`vos: ${spec} is not a design directory (no config.json), so it has no PE netlist`);
    const design = loadDesign(spec);
    return { label: design.name, design, targets: designTargets(design) };
  }
  if (spec.includes('/')) throw new UserError(`vos: no design directory ${spec}`);
  const cell = getCell(spec);
  return {
    label: cell.id,
    targets: [
      {
        kind: 'cell',
        cell: cell.id,
        top: cell.moduleName,
        sources: { [`${cell.moduleName}.v`]: cell.verilog() },
        word: { port: 'p', bits: 2 * cell.bits, signed: cell.signed },
        latency: 0,
        mode: 0,
        psumBits: 32,
      },
    ],
  };
}

export function designTargets(design: Design): VosTarget[] {
  const views = generateViews(design);
  const out: VosTarget[] = [];
  const seen = new Set<string>();
  design.tiles.forEach((t, tile) => {
    t.cells.forEach((grid, mode) => {
      for (const id of new Set(grid.flat())) {
        const pe = peSources(design, views, tile, mode, id);
        if (!pe || seen.has(pe.module)) continue;
        seen.add(pe.module);
        out.push({
          kind: 'pe',
          cell: id,
          top: pe.module,
          sources: pe.sources,
          word: { port: 'psum_out', bits: design.psumBits, signed: design.signed },
          latency: 1,
          mode,
          psumBits: design.psumBits,
        });
      }
    });
  });
  if (!out.length) throw new UserError(`vos: design ${design.name} has no PE netlist`);
  return out;
}

export interface TimedNetlist {
  syn: SynthResult;
  gs: GateSimModel;
  tm: TimedModel;
  /** Our static bound at nominal voltage (ns). */
  staticNs: number;
  clockPort?: string;
}

export async function timedNetlist(t: VosTarget, liberty: string, elec: ElectricalOptions = DEFAULT_ELECTRICAL): Promise<TimedNetlist> {
  const syn = t.kind === 'cell' ? await synthesizeCell(getCell(t.cell), liberty) : await synthesize({ top: t.top, sources: t.sources, liberty });
  const gs = buildGateSim(syn.netlist, loadLiberty(liberty));
  const tm = buildTimedModel(gs, elec);
  if (!syn.netlist.ports.some((p) => p.name === t.word.port)) throw new UserError(`vos: ${t.top} has no output port ${t.word.port}`);
  return { syn, gs, tm, staticNs: timingBound(tm).criticalPathNs, clockPort: gs.clockPorts[0] };
}

/** OpenSTA's latest data arrival on the same netlist and liberty, and ours relative to it. */
export async function staCrossCheck(n: TimedNetlist, liberty: string): Promise<{ openStaNs: number; oursNs: number; relDiff: number }> {
  const r = await runOpenStaArrival({
    liberty,
    netlistVerilog: n.syn.netlistVerilog,
    top: n.syn.top,
    clockPort: n.clockPort,
    inputSlewNs: DEFAULT_ELECTRICAL.inputSlewNs,
    outputLoadPf: DEFAULT_ELECTRICAL.outputLoadPf,
    endpoints: n.tm.endpoints.length,
  });
  return { openStaNs: r.arrivalNs, oursNs: n.staticNs, relDiff: (n.staticNs - r.arrivalNs) / r.arrivalNs };
}

/** Clock period at timing closure: the static critical path at nominal voltage times 1 + margin. */
export function closurePeriod(staticNs: number, margin: number): number {
  if (!(margin >= 0)) throw new UserError(`--clock-margin must be >= 0, got ${margin}`);
  return staticNs * (1 + margin);
}

export type StreamKind = 'layer' | 'uniform';

/** A uniform PE stream: random codes, weights held for RUN_LENGTH cycles, random psum words. */
export function uniformPeStream(n: number, psumBits: number, seed = 1): PeStream {
  const next = xorshift32(seed);
  const a = new Uint8Array(n);
  const b = new Uint8Array(n);
  const psumIn = new Float64Array(n);
  let w = 0;
  for (let i = 0; i < n; i++) {
    if (i % RUN_LENGTH === 0) w = next() & 0xff;
    a[i] = next() & 0xff;
    b[i] = w;
    psumIn[i] = psumBits >= 32 ? next() : next() % 2 ** psumBits;
  }
  return { a, b, psumIn };
}

/** One conv/dense layer's PE stream of a cell (see `layerStreams`). */
export interface LayerPeStream {
  layer: string;
  stream: PeStream;
}

/**
 * Per conv/dense layer that runs on `cell`: `n` operations (or an equal share of `n.total` over
 * all conv/dense layers) of what its PEs see over a batch of `images` (mapping/streams.ts,
 * the sampler the energy flow uses), from the exact engine's operands of the first test images
 * of the model (default LeNet-5, models/lenet5-fmnist.onnx) placed on `design` (a cell alone: a
 * 16 x 16 array of it).
 */
export async function layerStreams(
  cell: string,
  design: Design | undefined,
  n: number | { total: number },
  modelPath?: string,
  images = STREAM_IMAGES,
): Promise<{ model: string; layers: string[]; streams: LayerPeStream[] }> {
  const d = design ?? resolveDesign({ rows: 16, cols: 16, cell }, `vos layer stream for ${cell}`);
  const path = resolve(modelPath ?? join(modelsDir, 'lenet5-fmnist.onnx'));
  const { model } = await loadQuantModelFor(path, schemeFor(d.signed), { dataset: DEFAULT_DATASET });
  const placement = placeModel(model, d);
  const ds = limitDataset(loadDataset(DEFAULT_DATASET, 'test'), images);
  const ops = new Map(captureOperands({ model }, ds.pixels, ds.count).map((c) => [c.layer.name, c]));
  const layers = convLayers(model);
  const per = typeof n === 'number' ? n : Math.ceil(n.total / layers.length);
  const streams: LayerPeStream[] = [];
  for (const l of layers) {
    const p = placement.layers.find((x) => x.layer === l.name)!;
    if (!p.filterCells.includes(cell)) continue;
    streams.push({ layer: l.name, stream: sampleLayerStreams(l, ops.get(l.name)!.g, cellGrid(p), d.tiles[p.tile]!.rows, per)[cell]! });
  }
  if (!streams.length) throw new UserError(`vos: no layer of ${model.name} runs on cell ${cell}`);
  return { model: model.name, layers: layers.map((l) => l.name), streams };
}

/** The layer streams of `cell` back to back: every conv/dense layer's equal share in turn. */
export async function layerStream(cell: string, design: Design | undefined, n: number, modelPath?: string): Promise<PeStream> {
  const { streams } = await layerStreams(cell, design, { total: n }, modelPath);
  const a = new Uint8Array(n);
  const b = new Uint8Array(n);
  const psumIn = new Float64Array(n);
  let i = 0;
  for (const { stream: s } of streams)
    for (let j = 0; j < s.a.length && i < n; j++, i++) {
      a[i] = s.a[j]!;
      b[i] = s.b[j]!;
      psumIn[i] = s.psumIn[j]!;
    }
  // Fewer layers than expected on this cell: repeat from the start.
  for (let j = 0; i < n; i++, j++) {
    a[i] = a[j]!;
    b[i] = b[j]!;
    psumIn[i] = psumIn[j]!;
  }
  return { a, b, psumIn };
}

export function targetStimulus(t: VosTarget, n: TimedNetlist, s: PeStream): GateSimStimulus {
  if (t.kind === 'cell') return cellStimulus(getCell(t.cell), { a: s.a, b: s.b });
  const ports = new Set(n.syn.netlist.ports.map((p) => p.name));
  const stim = peStimulus(ports, s, t.mode, true);
  // psum_in as the port sees it: wrapped to psumBits (negative sums in two's complement).
  const ps = stim.ports.psum_in as Uint32Array | undefined;
  if (ps && t.psumBits < 32) for (let i = 0; i < ps.length; i++) ps[i] = ps[i]! % 2 ** t.psumBits;
  return stim;
}

/** Input bits that toggled between consecutive vectors (entry v: vector v-1 -> v; entry 0 is 0). */
export function inputToggles(stim: GateSimStimulus): Int32Array {
  const out = new Int32Array(stim.n);
  for (const src of Object.values(stim.ports)) {
    if ('words' in src) continue;
    for (let v = 1; v < stim.n; v++) out[v]! += popcount(src[v]! ^ src[v - 1]!);
  }
  return out;
}

export interface VosLevel {
  volts: number;
  /** Every delay is multiplied by this (alpha-power law relative to nominal). */
  delayScale: number;
  /** Our static critical path at this voltage, and whether it fits the clock. */
  staticNs: number;
  staticFits: boolean;
  ops: number;
  wrongOps: number;
  errorRate: number;
  /** P(flip) of every bit of the word, LSB first (all operations). */
  bitFlip: number[];
  /** Dynamic energy per operation with the timed (glitching) activity, and the zero-delay one (pJ). */
  energyPj: number;
  zeroDelayEnergyPj: number;
  glitchShare: number;
  fit: ModelChoice;
  /**
   * With layer streams: the same fit on each conv/dense layer's own stream (timing errors depend
   * on the operands, and layers differ), which injection into that layer of the stream's model
   * uses (flow/vos-inject.ts).
   */
  layers?: VosLayerFit[];
}

export interface VosLayerFit {
  layer: string;
  ops: number;
  wrongOps: number;
  errorRate: number;
  fit: ModelChoice;
}

export interface VosTargetReport {
  kind: VosTarget['kind'];
  cell: string;
  module: string;
  word: VosTarget['word'];
  latency: number;
  gates: number;
  clock: { periodNs: number; staticNs: number; openStaNs: number | null; relDiffOpenSta: number | null; margin: number };
  levels: VosLevel[];
}

export interface VosReport {
  schema: typeof VOS_SCHEMA;
  subject: string;
  liberty: string;
  library: string;
  nominalVolts: number;
  voltageModel: VoltageModel;
  /** Alpha-power parameters: textbook defaults unless fitted to a second liberty corner. */
  calibration: 'default' | 'fitted';
  /** `model`: the name of the layer streams' model (its layers are the keys of `levels[].layers`). */
  stream: { kind: StreamKind; ops: number; source: string; model?: string };
  targets: VosTargetReport[];
}

export interface VosOptions {
  levels: number[];
  stream: StreamKind;
  margin: number;
  ops?: number;
  liberty?: string;
  model?: string;
  /** Run OpenSTA for the cross-check (default true). */
  opensta?: boolean;
  /**
   * The clock of every target (ns), instead of each PE's own closure: an array has one clock, set
   * by its slowest PE, so a faster PE runs with slack (flow/vos-array.ts).
   */
  periodNs?: number;
  voltageModel?: Partial<VoltageModel>;
  /** Liberty files of the same library at other supplies: fit the delay model to them (calibration). */
  corners?: string[];
  onTarget?: (t: VosTarget) => void;
}

/**
 * The delay model for a netlist: fitted to its static bound at every given corner (the library
 * itself plus `corners`, each at its own nom_voltage), or the textbook defaults with none.
 */
export function calibratedModel(n: TimedNetlist, lib: Library, corners: string[], base: VoltageModel): { model: VoltageModel; fitted: boolean } {
  if (!corners.length) return { model: base, fitted: false };
  const points = [{ vdd: lib.nomVoltage, delayNs: n.staticNs }];
  for (const path of corners) {
    const c = loadLiberty(resolve(path));
    if (points.some((p) => p.vdd === c.nomVoltage)) throw new UserError(`--corner ${path}: a corner at ${c.nomVoltage} V is already given`);
    const gs = buildGateSim(n.syn.netlist, c);
    points.push({ vdd: c.nomVoltage, delayNs: timingBound(buildTimedModel(gs, DEFAULT_ELECTRICAL)).criticalPathNs });
  }
  return { model: fitDelayModel(points, base), fitted: true };
}

/** Check voltages against the delay model before anything runs. */
export function checkLevels(levels: number[], vm: VoltageModel): void {
  if (!levels.length) throw new UserError('--levels: give at least one voltage');
  for (const v of levels) {
    if (!(v > vm.vth)) throw new UserError(`--levels: ${v} V is at or below the threshold voltage ${vm.vth} V of the delay model (no timing below it)`);
    if (v > 2 * vm.vnom) throw new UserError(`--levels: ${v} V is more than twice the library's nominal ${vm.vnom} V`);
  }
}

/**
 * Compare a timed run's captured words with the zero-delay ones: one observation per operation.
 * A PE's observations also carry the adder sign classes (synth/vos-model.ts `adderSigns`) of the
 * operation and the previous one, from its psum_in word and the fault-free sum; the previous one
 * is NEW_WEIGHT for the first operation after a weight write (`w_we` at vector u - 1: the weight
 * register takes it at that edge).
 */
export function observations(t: VosTarget, timed: TimedResult, golden: TimedResult, stim: GateSimStimulus, toggles: Int32Array): ErrorObservation[] {
  const got = timed.outputs[t.word.port]!;
  const want = golden.outputs[t.word.port]!;
  const psumIn = t.kind === 'pe' ? (stim.ports.psum_in as Uint32Array | undefined) : undefined;
  const weightWrite = stim.ports.w_we as Uint8Array | undefined;
  const signs = (v: number) => adderSigns(psumIn![v - t.latency]!, want[v]!, t.word.bits);
  const out: ErrorObservation[] = [];
  // The first operation's inputs have no predecessor (settled from reset): skip it.
  for (let v = 1 + t.latency; v < got.length; v++) {
    const o: ErrorObservation = { correct: want[v]!, captured: got[v]!, toggles: toggles[v - t.latency]! };
    if (psumIn) o.signs = signsPair(signs(v), weightWrite?.[v - t.latency - 1] ? NEW_WEIGHT : signs(v - 1));
    out.push(o);
  }
  return out;
}

async function layerFits(
  t: VosTarget,
  n: TimedNetlist,
  perLayer: { layer: string; stim: GateSimStimulus; toggles: Int32Array; golden: TimedResult }[],
  periodNs: number,
  delayScale: number,
): Promise<VosLayerFit[]> {
  const out: VosLayerFit[] = [];
  for (const p of perLayer) {
    const obs = observations(t, await runTimedSimFast(n.tm, p.stim, { periodNs, delayScale }), p.golden, p.stim, p.toggles);
    const wrongOps = obs.filter((x) => x.captured !== x.correct).length;
    out.push({ layer: p.layer, ops: obs.length, wrongOps, errorRate: wrongOps / obs.length, fit: fitAndChoose(obs, t.word.bits) });
  }
  return out;
}

export async function characterize(spec: string | VosSubject, o: VosOptions): Promise<VosReport> {
  const liberty = resolve(o.liberty ?? defaultLiberty());
  const lib = loadLiberty(liberty);
  const vm0 = defaultVoltageModel(lib.nomVoltage, o.voltageModel);
  checkLevels(o.levels, vm0);
  let vm = vm0;
  let fitted = false;
  closurePeriod(1, o.margin);
  const subject = typeof spec === 'string' ? vosSubject(spec) : spec;
  const ops = o.ops ?? DEFAULT_VOS_OPS;
  const targets: VosTargetReport[] = [];
  let streamModel: string | undefined;
  for (const t of subject.targets) {
    o.onTarget?.(t);
    const n = await timedNetlist(t, liberty);
    // One delay model for the whole report: fitted on the first target's netlist.
    if (o.corners?.length && !fitted) {
      ({ model: vm, fitted } = calibratedModel(n, lib, o.corners, vm0));
      checkLevels(o.levels, vm);
    }
    const sta = o.opensta === false ? null : await staCrossCheck(n, liberty);
    const periodNs = o.periodNs ?? closurePeriod(n.staticNs, o.margin);
    const stream = o.stream === 'layer' ? await layerStream(t.cell, subject.design, ops + 2, o.model) : uniformPeStream(ops + 2, t.psumBits);
    const stim = targetStimulus(t, n, stream);
    const toggles = inputToggles(stim);
    const golden = await runTimedSimFast(n.tm, stim, { periodNs, delayScale: 0 });
    // Each layer's own stream, as many operations as the mixed one.
    const perLayer: { layer: string; stim: GateSimStimulus; toggles: Int32Array; golden: TimedResult }[] = [];
    if (o.stream === 'layer') {
      const ls = await layerStreams(t.cell, subject.design, ops + 2, o.model, LAYER_FIT_IMAGES);
      streamModel = ls.model;
      for (const { layer, stream: s } of ls.streams) {
        const st = targetStimulus(t, n, s);
        perLayer.push({ layer, stim: st, toggles: inputToggles(st), golden: await runTimedSimFast(n.tm, st, { periodNs, delayScale: 0 }) });
      }
    }
    const energyOpts = { ...DEFAULT_ELECTRICAL, clockMHz: 1000 / periodNs };
    const levels: VosLevel[] = [];
    for (const volts of o.levels) {
      const delayScale = voltageScale(volts, vm).delay;
      const timed = await runTimedSimFast(n.tm, stim, { periodNs, delayScale });
      const obs = observations(t, timed, golden, stim, toggles);
      const fit = fitAndChoose(obs, t.word.bits);
      const wrongOps = obs.filter((x) => x.captured !== x.correct).length;
      const e = estimateEnergy(n.gs, timed, { ...energyOpts, vdd: volts, voltageModel: vm }).perOpPj.dynamic;
      const z = estimateEnergy(n.gs, golden, { ...energyOpts, vdd: volts, voltageModel: vm }).perOpPj.dynamic;
      const staticNs = timingBound(n.tm, delayScale).criticalPathNs;
      levels.push({
        volts,
        delayScale,
        staticNs,
        staticFits: staticNs <= periodNs,
        ops: obs.length,
        wrongOps,
        errorRate: wrongOps / obs.length,
        bitFlip: fit.models['bit-flip'].p,
        energyPj: e,
        zeroDelayEnergyPj: z,
        glitchShare: e > 0 ? (e - z) / e : 0,
        fit,
        layers: o.stream === 'layer' ? await layerFits(t, n, perLayer, periodNs, delayScale) : undefined,
      });
    }
    targets.push({
      kind: t.kind,
      cell: t.cell,
      module: t.top,
      word: t.word,
      latency: t.latency,
      gates: n.syn.netlist.cells.length,
      clock: { periodNs, staticNs: n.staticNs, openStaNs: sta?.openStaNs ?? null, relDiffOpenSta: sta?.relDiff ?? null, margin: o.margin },
      levels,
    });
  }
  return {
    schema: VOS_SCHEMA,
    subject: subject.label,
    liberty,
    library: lib.name,
    nominalVolts: lib.nomVoltage,
    voltageModel: vm,
    calibration: fitted ? 'fitted' : 'default',
    stream: {
      kind: o.stream,
      ops,
      source: o.stream === 'layer' ? `LeNet-5 (${o.model ?? 'models/lenet5-fmnist.onnx'}) layer streams, ${STREAM_IMAGES} test images` : 'uniform, seed 1',
      model: streamModel,
    },
    targets,
  };
}
