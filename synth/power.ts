import { resolve } from 'node:path';
import { UserError } from '../core/errors.ts';
import { defaultLiberty } from '../core/paths.ts';
import { mapLimit } from '../core/pool.ts';
import { xorshift32 } from '../core/rng.ts';
import { render } from '../core/templates.ts';
import { type Cell, getCell } from '../generators/multipliers/index.ts';
import { DEFAULT_CLOCK_MHZ, DEFAULT_ELECTRICAL, type EnergyEstimate, estimateEnergy } from './energy.ts';
import { buildGateSim, type GateSimModel, type GateSimResult, type GateSimStimulus, runGateSim } from './gatesim.ts';
import { loadLiberty } from './liberty.ts';
import { cellCounts, readNetlistJson } from './mapped-netlist.ts';
import { type OpenStaResult, runOpenSta } from './opensta.ts';
import { type OperandStream, readOperandStream, streamBits, uniformStream } from './operand-stream.ts';
import { runTimedSimFast } from './timed-native.ts';
import { buildTimedModel, type TimedModel, timingBound } from './timed-sim.ts';
import { defaultVoltageModel, type VoltageModel, voltageScale } from './voltage.ts';
import { type SynthResult, synthesize } from './yosys.ts';

/**
 * The public API of synth/ (see docs/synth.md): synthesize a cell, check its netlist against
 * the model, and estimate its energy per multiplication from a stream of operand pairs.
 */
export const DEFAULT_UNIFORM = 65_536;
export const DEFAULT_SEED = 1;

export interface CellEnergyOptions {
  /** Operand pairs; default `uniformStream(uniform ?? 65,536, seed ?? 1)`. */
  stream?: OperandStream;
  /** Path of an `.ab` stream file (read if `stream` is not given). */
  streamFile?: string;
  uniform?: number;
  seed?: number;
  vdd?: number;
  clockMHz?: number;
  liberty?: string;
  outputLoadPf?: number;
  inputSlewNs?: number;
  voltageModel?: Partial<VoltageModel>;
  /** Also run OpenSTA on the same netlist with the measured per-input-bit activities. */
  opensta?: boolean;
}

export interface StreamInfo {
  kind: 'uniform' | 'file' | 'given';
  pairs: number;
  seed?: number;
  path?: string;
}

export interface OpenStaComparison {
  opensta: OpenStaResult;
  /** OpenSTA per-op energies (pJ) at the same clock, its internal both raw and halved (see docs). */
  perOpPj: { internalRaw: number; internal: number; switching: number; leakage: number; total: number };
  /** Ours minus OpenSTA, relative (fractions), on internal (halved), switching, leakage. */
  relDiff: { internal: number; switching: number; leakage: number };
}

export interface CellEnergyReport {
  cell: { id: string; family: string; bits: number; signed: boolean; moduleName: string };
  liberty: string;
  libraryName: string;
  areaUm2: number;
  cellCount: number;
  cellsByType: Record<string, number>;
  synthDir: string;
  designHash: string;
  stream: StreamInfo;
  energy: EnergyEstimate;
  opensta?: OpenStaComparison;
  simMs: number;
}

export async function synthesizeCell(cell: Cell, liberty?: string): Promise<SynthResult> {
  return synthesize({ top: cell.moduleName, sources: { [`${cell.moduleName}.v`]: cell.verilog() }, liberty });
}

/** Bank runs at a time (2 cores). */
const BANK_CHUNKS = 2;

/**
 * Synthesize many cells in few Yosys runs (banks, 2 at a time) and read each cell module back on
 * its own: what `power` does for a library of cells instead of one run per cell. Single-module
 * cells go in a bank with the hierarchy kept (the same numbers as one run per cell); cells with
 * submodules (imported Verilog) in a bank flattened except at the cells (keep_hierarchy), so
 * their submodules fold into them as when synthesized alone; the mapping may still differ a little
 * from a run of the cell alone (bench/mult-import.ts measures it: within 0.22 % energy/op). `netlistVerilog` is the whole bank: OpenSTA needs the cell as top (`--opensta`
 * synthesizes per cell).
 */
export async function synthesizeCellBank(cells: Cell[], liberty?: string): Promise<SynthResult[]> {
  const nested = (c: Cell) => (c.verilog().match(/^\s*module\s/gm) ?? []).length > 1;
  const groups = [cells.filter((c) => !nested(c)), cells.filter(nested)].filter((g) => g.length > 0);
  const chunks = groups.flatMap((g) => {
    const per = Math.ceil(g.length / BANK_CHUNKS);
    return Array.from({ length: Math.ceil(g.length / per) }, (_, k) => g.slice(k * per, (k + 1) * per));
  });
  const results = await mapLimit(chunks, BANK_CHUNKS, async (chunk) => {
    const top = 'axtpu_cell_bank';
    const sources: Record<string, string> = {
      [`${top}.v`]: render('synth/cell_bank.v', { top, cells: chunk.map((c, index) => ({ index, bits: c.bits, moduleName: c.moduleName })) }),
    };
    for (const c of chunk) sources[`${c.moduleName}.v`] = c.verilog();
    const bank = nested(chunk[0]!)
      ? await synthesize({ top, sources, liberty, keepModules: chunk.map((c) => c.moduleName) })
      : await synthesize({ top, sources, liberty, flatten: false });
    return chunk.map((c): SynthResult => {
      const netlist = readNetlistJson(bank.netlistJson, c.moduleName);
      const area = bank.moduleAreas[c.moduleName];
      if (area === undefined) throw new Error(`cell bank: no area for module ${c.moduleName}`);
      return {
        ...bank,
        top: c.moduleName,
        netlist,
        areaUm2: area,
        moduleAreas: { [c.moduleName]: area },
        cellCount: netlist.cells.length,
        cellsByType: cellCounts(netlist),
      };
    });
  });
  const flat = chunks.flat();
  const byId = new Map(results.flat().map((r, i) => [flat[i]!.id, r]));
  return cells.map((c) => byId.get(c.id)!);
}

/**
 * Gate-sim stimulus for a cell: the stream's codes masked to the cell width. A stream narrower
 * than the cell is refused: the cell's upper operand bits would never toggle.
 */
export function cellStimulus(cell: Cell, s: OperandStream) {
  const sb = streamBits(s);
  if (cell.bits > sb)
    throw new UserError(
      `cell ${cell.id} is ${cell.bits}-bit but the operand stream holds ${sb}-bit codes (its upper operand bits would never toggle); use the uniform stream, generated at the cell width`,
    );
  if (cell.bits === sb) return { n: s.a.length, ports: { a: s.a, b: s.b } };
  const mask = (1 << cell.bits) - 1;
  const a = new Uint8Array(s.a.length);
  const b = new Uint8Array(s.b.length);
  for (let i = 0; i < a.length; i++) {
    a[i] = s.a[i]! & mask;
    b[i] = s.b[i]! & mask;
  }
  return { n: a.length, ports: { a, b } };
}

export interface NetlistCheck {
  /** Operand pairs applied. */
  pairs: number;
  /** All 2^(2N) pairs (true) or a seeded random sample plus corner cases (false). */
  exhaustive: boolean;
  /** Size of the operand space, 2^(2N). */
  space: number;
  mismatches: number;
  first?: { a: number; b: number; model: number; netlist: number };
}

/** Widths checked exhaustively; wider cells get SAMPLED_PAIRS seeded random pairs plus corners. */
export const EXHAUSTIVE_MAX_BITS = 8;
export const SAMPLED_PAIRS = 1 << 18;

/** The operand pairs a netlist check applies: all of them up to 8 bits, else corners + random. */
export function checkOperands(bits: number): { a: Uint16Array; b: Uint16Array; exhaustive: boolean } {
  const max = 2 ** bits - 1;
  if (bits <= EXHAUSTIVE_MAX_BITS) {
    const n = 2 ** (2 * bits);
    const a = new Uint16Array(n);
    const b = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = i >>> bits;
      b[i] = i & max;
    }
    return { a, b, exhaustive: true };
  }
  // Corners: 0, 1, all ones, the MSB alone and all-but-MSB, each against each.
  const corners = [0, 1, max, 2 ** (bits - 1), 2 ** (bits - 1) - 1, 2, max - 1];
  const a = new Uint16Array(SAMPLED_PAIRS);
  const b = new Uint16Array(SAMPLED_PAIRS);
  let i = 0;
  for (const x of corners) for (const y of corners) [a[i], b[i++]] = [x, y];
  const next = xorshift32(0x9e3779b9);
  for (; i < SAMPLED_PAIRS; i++) {
    const r = next();
    a[i] = r & max;
    b[i] = (r >>> 16) & max;
  }
  return { a, b, exhaustive: false };
}

/** The claim a check supports, in words: never more than what was applied. */
export function checkClaim(c: NetlistCheck): string {
  const what = c.exhaustive ? `all ${c.pairs} pairs` : `${c.pairs} sampled of 2^${Math.log2(c.space)} pairs`;
  return c.mismatches === 0 ? `yes (${what})` : `NO: ${c.mismatches} mismatches on ${what}`;
}

/** Simulate the mapped netlist on all 2^(2N) operand pairs (N <= 8; else a sample) and compare with the cell model. */
export function checkCellNetlist(cell: Cell, model: GateSimModel): NetlistCheck {
  const { a, b, exhaustive } = checkOperands(cell.bits);
  const n = a.length;
  const r = runGateSim(model, { n, ports: { a, b } }, { outputs: true });
  const p = r.outputs?.p;
  if (!p) throw new UserError(`cell ${cell.id}: netlist has no output port p`);
  const outMask = 2 ** (2 * cell.bits) - 1;
  let mismatches = 0;
  let first: NetlistCheck['first'];
  for (let i = 0; i < n; i++) {
    const want = ((cell.model(a[i]!, b[i]!) % (outMask + 1)) + (outMask + 1)) % (outMask + 1);
    if (p[i] !== want) {
      mismatches++;
      first ??= { a: a[i]!, b: b[i]!, model: want, netlist: p[i]! };
    }
  }
  return { pairs: n, exhaustive, space: 2 ** (2 * cell.bits), mismatches, first };
}

/** The stimulus: given, a `.ab` file (8-bit codes) or uniform random at `bits` (the cell width; bytes up to 8). */
export function resolveStream(opts: CellEnergyOptions, bits = 8): { stream: OperandStream; info: StreamInfo } {
  if (opts.stream) return { stream: opts.stream, info: { kind: 'given', pairs: opts.stream.a.length } };
  if (opts.streamFile) {
    const stream = readOperandStream(opts.streamFile);
    return { stream, info: { kind: 'file', pairs: stream.a.length, path: resolve(opts.streamFile) } };
  }
  const n = opts.uniform ?? DEFAULT_UNIFORM;
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(n) || n < 2) throw new UserError(`--uniform must be an integer >= 2, got ${n}`);
  return { stream: uniformStream(n, seed, bits), info: { kind: 'uniform', pairs: n, seed } };
}

/** Energy of an already synthesized design for a given stimulus (any netlist with gatesim ports). */
export function designEnergy(_synth: SynthResult, sim: { model: GateSimModel; result: GateSimResult }, opts: CellEnergyOptions): EnergyEstimate {
  return estimateEnergy(sim.model, sim.result, {
    clockMHz: opts.clockMHz ?? DEFAULT_CLOCK_MHZ,
    vdd: opts.vdd,
    outputLoadPf: opts.outputLoadPf ?? DEFAULT_ELECTRICAL.outputLoadPf,
    inputSlewNs: opts.inputSlewNs ?? DEFAULT_ELECTRICAL.inputSlewNs,
    voltageModel: opts.voltageModel,
  });
}

/** Measured activity (transitions per cycle) and duty of every input port bit, for OpenSTA. */
export function inputActivities(model: GateSimModel, r: GateSimResult): { port: string; activity: number; duty: number }[] {
  return model.inputBits
    .filter((b) => typeof b.net === 'number' && b.net >= 0)
    .map((b) => {
      const net = b.net as number;
      const width = model.netlist.ports.find((p) => p.name === b.port)?.bits.length ?? 1;
      return {
        port: width > 1 ? `${b.port}[${b.bit}]` : b.port,
        activity: (r.rise[net]! + r.fall[net]!) / r.intervals,
        duty: r.ones[net]! / r.samples,
      };
    });
}

export async function openStaComparison(
  synth: SynthResult,
  model: GateSimModel,
  r: GateSimResult,
  energy: EnergyEstimate,
  opts: CellEnergyOptions,
): Promise<OpenStaComparison> {
  const clockMHz = opts.clockMHz ?? DEFAULT_CLOCK_MHZ;
  const sta = await runOpenSta({
    liberty: synth.liberty,
    netlistVerilog: synth.netlistVerilog,
    top: synth.top,
    clockMHz,
    inputSlewNs: opts.inputSlewNs ?? DEFAULT_ELECTRICAL.inputSlewNs,
    outputLoadPf: opts.outputLoadPf ?? DEFAULT_ELECTRICAL.outputLoadPf,
    activity: 0.5,
    duty: 0.5,
    portActivity: inputActivities(model, r),
  });
  // mW at f MHz -> pJ per cycle: P / f.
  const pj = (mw: number) => (mw / clockMHz) * 1e3;
  const perOpPj = {
    internalRaw: pj(sta.internalMw),
    // OpenSTA 2.0.17 charges rise + fall table energy per output transition (later releases
    // average them); halve it to compare per-transition energies.
    internal: pj(sta.internalMw) / 2,
    switching: pj(sta.switchingMw),
    leakage: pj(sta.leakageMw),
    total: pj(sta.internalMw) / 2 + pj(sta.switchingMw) + pj(sta.leakageMw),
  };
  const rel = (ours: number, theirs: number) => (theirs === 0 ? (ours === 0 ? 0 : Infinity) : ours / theirs - 1);
  return {
    opensta: sta,
    perOpPj,
    relDiff: {
      internal: rel(energy.perOpPj.internal, perOpPj.internal),
      switching: rel(energy.perOpPj.switching, perOpPj.switching),
      leakage: rel(energy.perOpPj.leakage, perOpPj.leakage),
    },
  };
}

/** Synthesize (cached; or take the cell's result from a bank), simulate the stream through the netlist and estimate energy per op. */
export async function cellEnergy(cellOrId: string | Cell, opts: CellEnergyOptions = {}, synthesized?: SynthResult): Promise<CellEnergyReport> {
  const cell = typeof cellOrId === 'string' ? getCell(cellOrId) : cellOrId;
  const liberty = resolve(opts.liberty ?? defaultLiberty());
  const lib = loadLiberty(liberty);
  const { stream, info } = resolveStream(opts, cell.bits);
  cellStimulus(cell, stream); // a stream narrower than the cell is refused before synthesis
  if (synthesized && opts.opensta) throw new Error('cellEnergy: OpenSTA needs the cell synthesized as top');
  const synth = synthesized ?? (await synthesizeCell(cell, liberty));
  const t0 = performance.now();
  const model = buildGateSim(synth.netlist, lib);
  const result = runGateSim(model, cellStimulus(cell, stream));
  const energy = designEnergy(synth, { model, result }, opts);
  const simMs = performance.now() - t0;
  const report: CellEnergyReport = {
    cell: { id: cell.id, family: cell.family, bits: cell.bits, signed: cell.signed, moduleName: cell.moduleName },
    liberty,
    libraryName: synth.libraryName,
    areaUm2: synth.areaUm2,
    cellCount: synth.cellCount,
    cellsByType: synth.cellsByType,
    synthDir: synth.dir,
    designHash: synth.hash,
    stream: info,
    energy,
    simMs,
  };
  if (opts.opensta) report.opensta = await openStaComparison(synth, model, result, energy, opts);
  return report;
}

/** A netlist's dynamic energy with timed (glitching) activity vs zero-delay activity, one stream. */
export interface GlitchEnergy {
  /** Clock period of the timed run (ns) and our static critical path at its voltage (ns). */
  periodNs: number;
  criticalPathNs: number;
  /** Dynamic pJ/op with timed activity (glitches included) and with zero-delay activity. */
  timedPj: number;
  zeroDelayPj: number;
  /** (timed - zero-delay) / timed: the share of dynamic energy spent in glitches. */
  glitchShare: number;
  transitionsPerOp: number;
  zeroDelayTransitionsPerOp: number;
  /** Operations whose captured word differs from the settled one (period below the path). */
  wrongOps: number;
}

export interface GlitchReport extends GlitchEnergy {
  id: string;
}

/** Delay factor of `opts.vdd` (alpha-power law of synth/voltage.ts; 1 at the library nominal). */
export function delayScaleAt(liberty: string, opts: CellEnergyOptions): number {
  return opts.vdd !== undefined ? voltageScale(opts.vdd, defaultVoltageModel(loadLiberty(liberty).nomVoltage, opts.voltageModel)).delay : 1;
}

/**
 * The same stimulus through the timed simulator (synth/timed-sim.ts) twice, with liberty delays
 * times `delayScale` and with every delay zero, at `periodNs` per vector; both runs priced by the
 * same estimator (synth/energy.ts) at `opts` (vdd, electrical options). `port` is the captured
 * word compared for wrong operations. Used by `power --timed` for cells and for a design's PEs.
 */
export async function glitchEnergy(
  synth: SynthResult,
  model: GateSimModel,
  tm: TimedModel,
  stim: GateSimStimulus,
  o: { periodNs: number; delayScale: number; port: string },
  opts: CellEnergyOptions,
): Promise<GlitchEnergy> {
  const timed = await runTimedSimFast(tm, stim, { periodNs: o.periodNs, delayScale: o.delayScale });
  const zero = await runTimedSimFast(tm, stim, { periodNs: o.periodNs, delayScale: 0 });
  const timedPj = designEnergy(synth, { model, result: timed }, opts).perOpPj.dynamic;
  const zeroDelayPj = designEnergy(synth, { model, result: zero }, opts).perOpPj.dynamic;
  const got = timed.outputs[o.port]!;
  const want = zero.outputs[o.port]!;
  let wrongOps = 0;
  for (let v = 1; v < stim.n; v++) if (got[v] !== want[v]) wrongOps++;
  return {
    periodNs: o.periodNs,
    criticalPathNs: timingBound(tm, o.delayScale).criticalPathNs,
    timedPj,
    zeroDelayPj,
    glitchShare: timedPj > 0 ? (timedPj - zeroDelayPj) / timedPj : 0,
    transitionsPerOp: timed.transitions / (stim.n - 1),
    zeroDelayTransitionsPerOp: zero.transitions / (stim.n - 1),
    wrongOps,
  };
}

/**
 * Glitch share of a cell's dynamic energy (`power --timed`): the cell's stream through
 * glitchEnergy at the clock period of `opts.clockMHz`.
 */
export async function cellGlitchEnergy(cellOrId: string | Cell, opts: CellEnergyOptions = {}): Promise<GlitchReport> {
  const cell = typeof cellOrId === 'string' ? getCell(cellOrId) : cellOrId;
  const liberty = resolve(opts.liberty ?? defaultLiberty());
  const { stream } = resolveStream(opts, cell.bits);
  const stim = cellStimulus(cell, stream);
  const synth = await synthesizeCell(cell, liberty);
  const model = buildGateSim(synth.netlist, loadLiberty(liberty));
  const elec = { outputLoadPf: opts.outputLoadPf ?? DEFAULT_ELECTRICAL.outputLoadPf, inputSlewNs: opts.inputSlewNs ?? DEFAULT_ELECTRICAL.inputSlewNs };
  const tm = buildTimedModel(model, elec);
  const periodNs = 1000 / (opts.clockMHz ?? DEFAULT_CLOCK_MHZ);
  const g = await glitchEnergy(synth, model, tm, stim, { periodNs, delayScale: delayScaleAt(liberty, opts), port: 'p' }, opts);
  return { id: cell.id, ...g };
}
