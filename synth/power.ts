import { resolve } from 'node:path';
import { UserError } from '../core/errors.ts';
import { defaultLiberty } from '../core/paths.ts';
import { type Cell, getCell } from '../generators/multipliers/index.ts';
import { DEFAULT_CLOCK_MHZ, DEFAULT_ELECTRICAL, type EnergyEstimate, estimateEnergy } from './energy.ts';
import { buildGateSim, type GateSimModel, type GateSimResult, runGateSim } from './gatesim.ts';
import { loadLiberty } from './liberty.ts';
import { type OpenStaResult, runOpenSta } from './opensta.ts';
import { type OperandStream, readOperandStream, uniformStream } from './operand-stream.ts';
import type { VoltageModel } from './voltage.ts';
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

/** Gate-sim stimulus for a cell: the stream's codes masked to the cell width. */
export function cellStimulus(cell: Cell, s: OperandStream) {
  const mask = (1 << cell.bits) - 1;
  if (mask === 0xff) return { n: s.a.length, ports: { a: s.a, b: s.b } };
  const a = new Uint8Array(s.a.length);
  const b = new Uint8Array(s.b.length);
  for (let i = 0; i < a.length; i++) {
    a[i] = s.a[i]! & mask;
    b[i] = s.b[i]! & mask;
  }
  return { n: a.length, ports: { a, b } };
}

export interface NetlistCheck {
  pairs: number;
  mismatches: number;
  first?: { a: number; b: number; model: number; netlist: number };
}

/** Simulate the mapped netlist on all 2^(2N) operand pairs and compare with the cell model. */
export function checkCellNetlist(cell: Cell, model: GateSimModel): NetlistCheck {
  const n = 1 << (2 * cell.bits);
  const a = new Uint8Array(n);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = i >>> cell.bits;
    b[i] = i & ((1 << cell.bits) - 1);
  }
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
  return { pairs: n, mismatches, first };
}

export function resolveStream(opts: CellEnergyOptions): { stream: OperandStream; info: StreamInfo } {
  if (opts.stream) return { stream: opts.stream, info: { kind: 'given', pairs: opts.stream.a.length } };
  if (opts.streamFile) {
    const stream = readOperandStream(opts.streamFile);
    return { stream, info: { kind: 'file', pairs: stream.a.length, path: resolve(opts.streamFile) } };
  }
  const n = opts.uniform ?? DEFAULT_UNIFORM;
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(n) || n < 2) throw new UserError(`--uniform must be an integer >= 2, got ${n}`);
  return { stream: uniformStream(n, seed), info: { kind: 'uniform', pairs: n, seed } };
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

/** Synthesize (cached), simulate the stream through the netlist and estimate energy per op. */
export async function cellEnergy(cellOrId: string | Cell, opts: CellEnergyOptions = {}): Promise<CellEnergyReport> {
  const cell = typeof cellOrId === 'string' ? getCell(cellOrId) : cellOrId;
  const liberty = resolve(opts.liberty ?? defaultLiberty());
  const lib = loadLiberty(liberty);
  const synth = await synthesizeCell(cell, liberty);
  const { stream, info } = resolveStream(opts);
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
