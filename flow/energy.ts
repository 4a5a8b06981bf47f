import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { cachedJson } from '../core/cache.ts';
import { UserError } from '../core/errors.ts';
import { defaultLiberty } from '../core/paths.ts';
import { cellInfo } from '../generators/array/cells.ts';
import type { Design } from '../generators/array/config.ts';
import { REG } from '../generators/array/regmap.ts';
import { type DesignViews, designLayout, generateViews } from '../generators/array/rtl.ts';
import type { LayerCycles } from '../mapping/cycles.ts';
import { foldPlan } from '../mapping/gemm.ts';
import type { BufferCounts } from '../mapping/memory.ts';
import { cellGrid, type LayerPlacement } from '../mapping/place.ts';
import {
  type CellStreams,
  DEFAULT_ACC_ROWS,
  DEFAULT_STREAM_PAIRS,
  isolatedStream,
  type PeStream,
  sampleAccumulatorRows,
  sampleLayerStreams,
} from '../mapping/streams.ts';
import { activationSums, type CvConfig, type LayerCv } from '../nn/cv.ts';
import type { GemmOperands } from '../nn/gemm.ts';
import type { QConvLayer } from '../nn/qmodel.ts';
import { cellStreamEnergy } from '../synth/cell-energy.ts';
import { buildGateSim, type GateSimStimulus, runGateSim } from '../synth/gatesim.ts';
import { loadLiberty } from '../synth/liberty.ts';
import {
  dramPjPerByte,
  isExtrapolated,
  leakagePj as leakageEnergyPj,
  libertyNode,
  loadMemoryModel,
  type SramEnergy,
  type SramSpec,
  sramEnergy,
} from '../synth/memory-model.ts';
import { designEnergy } from '../synth/power.ts';
import { defaultVoltageModel, dynamicEnergyScale, voltageScale } from '../synth/voltage.ts';
import { synthesize } from '../synth/yosys.ts';
import { type GatingOpEnergies, gatedLayerPe, gatingOpEnergies } from './gating.ts';

/**
 * Energy per inference from per-operation energies (all pJ):
 *   cell      = sum over cells of useful MACs on that cell x the cell's dynamic energy per op,
 *               from `cellEnergy` driven by THIS layer's recorded PE stream on THAT cell;
 *   pe        = the PE around the multiplier (weight buffers, mux, activation / psum registers,
 *               psum adder, clock): the generated PE (synthesis view, flattened) is synthesized
 *               and simulated gate-level with the same stream (weights loaded once per run,
 *               psum_in = the partial sum of the rows above), and the cell's own energy on that
 *               stream is subtracted ("whole PE minus cell"). Streaming cycles are charged the
 *               active figure for every PE of the tile, other cycles the idle figure (constant
 *               inputs: clock and register clock pins only);
 *   acc       = the tile's accumulators (adders, row and K-fold counters): the generated
 *               accumulator module (synthesis view) simulated gate-level on the layer's own output
 *               rows; every streamed row passes it (active figure), other cycles idle. Its memory
 *               macro (a black box) is NOT counted: per-access SRAM energy needs a memory model;
 *   leakage   = every PE's leakage (cells included) and the accumulators' for every cycle
 *               ("logic leakage");
 *   memories  = activation buffer, weight FIFO and the tile's accumulator memory: reads and writes
 *               (mapping/memory.ts counts) x per-access energy, and leakage power x cycles / clock,
 *               from the memory MODEL (synth/memory-model.ts, docs/memory.md);
 *   DRAM      = the layer's DRAM bytes (mapping/dram.ts) x the model's pJ per byte.
 * Only the layer's tile is charged (PEs, accumulators and their memory): idle tiles are taken as
 * power-gated. The accumulators and the memories sit outside the column voltage domains, at level 0.
 * Voltage: per-op numbers are measured at level 0; each column is then scaled to its domain's
 * level (V^2 for dynamic energy, the synth/voltage.ts model for leakage).
 * Per-op numbers depend only on (cell or PE, stream, V, clock, liberty) and are cached.
 */
export interface OpEnergies {
  /** Volts of level 0, at which every per-op number below was measured. */
  vdd: number;
  liberty: string;
  clockMHz: number;
  /** Per layer, per cell: dynamic pJ per multiply and leakage pJ per cycle of the cell. */
  cell: Record<string, Record<string, { dynamic: number; leakage: number }>>;
  /** Per layer: PE-minus-cell pJ per PE per streaming cycle / per other cycle, leakage per PE-cycle. */
  pe: Record<string, { active: number; idle: number; leakage: number; cell: string }>;
  /** Per layer: the tile's accumulator logic, pJ per streamed row / per other cycle, leakage per cycle. */
  acc: Record<string, { active: number; idle: number; leakage: number }>;
  /** The memories' per-access energies and leakage at this liberty's node and level 0's supply. */
  memory: MemoryOpEnergies;
  /** Clock-gated designs: per layer, the gated PE and the clock gates (flow/gating.ts). */
  gating?: Record<string, GatingOpEnergies>;
  /**
   * Control-variate designs (docs/cv.md), per layer: the activation-sum column (pJ per streamed
   * row / per other cycle) and the correction stage with its coefficient rows (pJ per output row /
   * per other cycle, with the layer's own coefficients: zero when the layer does not compensate),
   * leakage per cycle of each.
   */
  cv?: Record<string, { column: CvPartEnergy; correction: CvPartEnergy; kFolds: number }>;
}

export interface CvPartEnergy {
  active: number;
  idle: number;
  leakage: number;
}

export interface MemoryOpEnergies {
  /** The memory model file used. */
  model: string;
  nodeNm: number;
  volts: number;
  /** Node scaling beyond the model's table (e.g. 180 nm): an extrapolation. */
  extrapolated: boolean;
  ub: SramSpec & SramEnergy;
  wbuf: SramSpec & SramEnergy;
  /** Per tile: its accumulator memory (accEntries x C x psumBits). */
  acc: (SramSpec & SramEnergy)[];
  /** Control-variate designs, per tile: the coefficient memory (folds rows x C x 16 bits). */
  cvCoef?: (SramSpec & SramEnergy)[];
  dramPjPerByte: number;
}

/** The parts of the accelerator's energy, in report (and stacking) order. */
export const ENERGY_PARTS = [
  { key: 'cellPj', label: 'multiplier cells', scope: 'multiplier' },
  { key: 'pePj', label: 'rest of PE', scope: 'array' },
  { key: 'accPj', label: 'accumulator logic', scope: 'array' },
  { key: 'accMemReadPj', label: 'accumulator memory reads', scope: 'array' },
  { key: 'accMemWritePj', label: 'accumulator memory writes', scope: 'array' },
  { key: 'accMemLeakagePj', label: 'accumulator memory leakage', scope: 'array' },
  { key: 'cvColumnPj', label: 'control-variate column', scope: 'array' },
  { key: 'cvCorrectionPj', label: 'control-variate correction', scope: 'array' },
  { key: 'leakagePj', label: 'logic leakage', scope: 'array' },
  { key: 'ubReadPj', label: 'activation buffer reads', scope: 'accelerator' },
  { key: 'ubWritePj', label: 'activation buffer writes', scope: 'accelerator' },
  { key: 'ubLeakagePj', label: 'activation buffer leakage', scope: 'accelerator' },
  { key: 'wbufReadPj', label: 'weight FIFO reads', scope: 'accelerator' },
  { key: 'wbufWritePj', label: 'weight FIFO writes', scope: 'accelerator' },
  { key: 'wbufLeakagePj', label: 'weight FIFO leakage', scope: 'accelerator' },
  { key: 'dramPj', label: 'DRAM', scope: 'accelerator' },
] as const;

export type EnergyPart = (typeof ENERGY_PARTS)[number]['key'];

/**
 * What an energy figure covers (docs/memory.md, Objectives): multiplier = the cells' dynamic
 * energy; array = + rest of the PE, accumulator logic and memory, logic leakage; accelerator =
 * + activation buffer, weight FIFO and DRAM.
 */
export const OBJECTIVES = ['multiplier', 'array', 'accelerator'] as const;
export type Objective = (typeof OBJECTIVES)[number];

export function partsOf(o: Objective): EnergyPart[] {
  const rank = (x: Objective) => OBJECTIVES.indexOf(x);
  return ENERGY_PARTS.filter((p) => rank(p.scope) <= rank(o)).map((p) => p.key);
}

/** Per layer, every part; clockGatePj (clock-gated designs) is the gates' share inside pePj (flow/gating.ts). */
export type LayerEnergy = { layer: string; totalPj: number; clockGatePj?: number } & Record<EnergyPart, number>;

/** The energy an objective covers. */
export function objectiveEnergy(e: Record<EnergyPart, number>, o: Objective): number {
  return partsOf(o).reduce((s, k) => s + e[k], 0);
}

/** A layer's memory traffic: buffer accesses (mapping/memory.ts) and DRAM bytes (mapping/dram.ts). */
export interface LayerTraffic {
  buffers: BufferCounts;
  dramBytes: number;
}

function streamHash(s: PeStream): string {
  const h = createHash('sha256');
  h.update(s.a);
  h.update(s.b);
  h.update(new Uint8Array(s.psumIn.buffer, s.psumIn.byteOffset, s.psumIn.byteLength));
  return h.digest('hex');
}

/**
 * The cell's own energy on a PE stream, as its ports see it: in a zero-skipping design the PE
 * isolates the multiplier while its weight is zero (mapping/streams.ts isolatedStream).
 */
async function cellOpEnergy(design: Design, id: string, s: PeStream, vdd: number, clockMHz: number, liberty: string) {
  const { dynamic, leakage } = await cellStreamEnergy(id, design.zeroSkip ? isolatedStream(s) : s, { vdd, clockMHz, liberty });
  return { dynamic, leakage };
}

/**
 * Only the files a module needs: Yosys/ABC map the same module slightly differently depending
 * on which unrelated files were read (a 16x16 exact_s8 PE: 587 or 594 cells), so reading just
 * the module's own files keeps its energy independent of the rest of the design.
 */
function ownSources(views: DesignViews, files: string[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f, views.synth[f]!]));
}

/**
 * The PE module holding `id` on a tile in runtime mode `mode`, and its own sources (the PE and
 * its cells only): what the energy flow and the timing characterization (flow/vos.ts) synthesize.
 */
export function peSources(
  design: Design,
  views: DesignViews,
  tile: number,
  mode: number,
  id: string,
): { module: string; sources: Record<string, string> } | undefined {
  const t = design.tiles[tile]!;
  for (let r = 0; r < t.rows; r++)
    for (let c = 0; c < t.cols; c++)
      if (t.cells[mode]![r]![c] === id || design.tags?.cells.includes(id)) {
        const module = views.layout.peModule[tile]![r]![c]!;
        // A tagged PE holds the whole cell set (its select logic and idle cells are part of the PE).
        const peCells = design.tags ? design.tags.cells : [...new Set(t.cells.map((m) => m[r]![c]!))];
        return { module, sources: ownSources(views, [`${module}.sv`, ...peCells.map((x) => `${cellInfo(x).moduleName}.v`)]) };
      }
  return undefined;
}

/**
 * PE port stimulus for a stream: the activation on a_in, the weight written into buffer 0 on the
 * cycle a new run's weight arrives (stationary otherwise), psum_in = the partial sum from above
 * (wrapped to the port), the mode held. `active: false` holds every input at 0 (idle cycles).
 */
export function peStimulus(ports: Set<string>, s: PeStream, mode: number, active: boolean, tag = 0): GateSimStimulus {
  const n = s.a.length;
  const p: Record<string, Uint32Array | Uint8Array> = {};
  const z8 = () => new Uint8Array(n);
  const aIn = z8(),
    we = z8(),
    buf = z8(),
    sel = z8(),
    wd = z8();
  const psum = new Uint32Array(n);
  if (active)
    for (let i = 0; i < n; i++) {
      aIn[i] = s.a[i]!;
      if (i === 0 || s.b[i] !== s.b[i - 1]) {
        we[i] = 1;
        wd[i] = s.b[i]!;
      } else wd[i] = wd[i - 1]!;
      psum[i] = s.psumIn[i]! >>> 0;
    }
  const set = (name: string, v: Uint8Array | Uint32Array) => {
    if (ports.has(name)) p[name] = v;
  };
  set('a_in', aIn);
  set('w_we', we);
  set('w_buf', buf);
  set('sel_in', sel);
  set('w_data', wd);
  set('psum_in', psum);
  if (ports.has('mode')) p.mode = new Uint8Array(n).fill(mode);
  // Tagged PEs: every weight written with the tag of the cell the stream is for.
  if (ports.has('w_tag')) p.w_tag = new Uint8Array(n).fill(tag);
  return { n, ports: p };
}

/** PE-minus-cell energies of the PE module holding `cell` on a tile, for one stream. */
async function peOpEnergy(
  design: Design,
  views: DesignViews,
  tile: number,
  mode: number,
  id: string,
  s: PeStream,
  vdd: number,
  clockMHz: number,
  liberty: string,
) {
  const { module, sources } = peSources(design, views, tile, mode, id)!;
  const tag = design.tags ? design.tags.cells.indexOf(id) : 0;
  const key = {
    v: 1,
    module,
    src: createHash('sha256').update(JSON.stringify(sources)).digest('hex'),
    stream: streamHash(s),
    vdd,
    clockMHz,
    liberty,
    mode,
    ...(design.tags ? { tag } : {}),
  };
  return cachedJson('flow-pe-energy', key, async () => {
    const syn = await synthesize({ top: module, sources, liberty });
    const lib = loadLiberty(liberty);
    const model = buildGateSim(syn.netlist, lib);
    const ports = new Set(syn.netlist.ports.map((p) => p.name));
    const opts = { vdd, clockMHz, liberty };
    const act = designEnergy(syn, { model, result: runGateSim(model, peStimulus(ports, s, mode, true, tag)) }, opts);
    const idle = designEnergy(syn, { model, result: runGateSim(model, peStimulus(ports, s, mode, false, tag)) }, opts);
    const c = await cellOpEnergy(design, id, s, vdd, clockMHz, liberty);
    return { active: act.perOpPj.dynamic - c.dynamic, idle: idle.perOpPj.dynamic, leakage: act.perOpPj.leakage - c.leakage, cell: id };
  });
}

/**
 * Accumulator-logic energies of a tile for one layer: its output rows (C psum words each) arrive
 * one per cycle, in runs of `blockRows` (a fold's rows), with `kFolds` K-folds per output tile.
 */
/**
 * Rows packed as a tile's row ports see them: word c of row i at bits c*psumBits, then (control
 * variate) the activation sum V of the row in the extra lane.
 */
function packRows(design: Design, cols: number, rows: Uint32Array, v?: Int32Array): { words: number; data: Uint32Array; n: number } {
  const lanes = cols + (v ? 1 : 0);
  const n = rows.length / cols;
  const words = Math.ceil((lanes * design.psumBits) / 32);
  const mask = 2 ** design.psumBits - 1;
  const data = new Uint32Array(n * words);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < lanes; c++) {
      const x = c < cols ? rows[i * cols + c]! : (v![i]! & mask) >>> 0;
      for (let b = 0; b < design.psumBits; b++)
        if ((x >>> b) & 1) {
          const bit = c * design.psumBits + b;
          data[i * words + (bit >>> 5)]! |= 1 << (bit & 31);
        }
    }
  return { words, data, n };
}

async function accOpEnergy(design: Design, views: DesignViews, tile: number, a: AccRows, vdd: number, clockMHz: number, liberty: string) {
  const { kFolds, rows } = a;
  const module = views.layout.accModule[tile]!;
  const t = design.tiles[tile]!;
  const sources = ownSources(views, [`${module}.sv`]);
  // Control-variate designs carry V in one more lane: its words are part of the stream.
  const v = design.controlVariate ? a.v : undefined;
  const h = createHash('sha256').update(new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
  if (v) h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  const stream = h.digest('hex');
  const key = { v: 1, module, src: createHash('sha256').update(JSON.stringify(sources)).digest('hex'), stream, kFolds, vdd, clockMHz, liberty };
  return cachedJson('flow-acc-energy', key, async () => {
    const syn = await synthesize({ top: module, sources, liberty });
    const model = buildGateSim(syn.netlist, loadLiberty(liberty));
    const { words, data: packed, n } = packRows(design, t.cols, rows, v);
    const stim = (active: boolean) => {
      const fill = (v: number) => new Uint8Array(n).fill(active ? v : 0);
      const last = new Uint8Array(n);
      // A fold's last row every 64 rows, so the row and K-fold counters wrap as they do in a run.
      if (active) for (let i = 63; i < n; i += 64) last[i] = 1;
      const data = { words, data: active ? packed : new Uint32Array(n * words) };
      return {
        n,
        ports: {
          rst: new Uint8Array(n),
          kfold_last: new Uint8Array(n).fill(active ? kFolds - 1 : 0),
          in_next: fill(1),
          in_valid: fill(1),
          in_last: last,
          in_data: data,
          mem_rd_data: data,
        },
      };
    };
    const opts = { vdd, clockMHz, liberty };
    const act = designEnergy(syn, { model, result: runGateSim(model, stim(true)) }, opts);
    const idle = designEnergy(syn, { model, result: runGateSim(model, stim(false)) }, opts);
    return { active: act.perOpPj.dynamic, idle: idle.perOpPj.dynamic, leakage: act.perOpPj.leakage };
  });
}

/**
 * The activation-sum column of a tile (docs/cv.md) on the layer's activations: row r's lane reads
 * the PE stream's activations shifted by r (the rows of one wavefront are different k of the same
 * output position). Active = a row streaming; idle = all zero.
 */
async function cvColumnOpEnergy(
  design: Design,
  views: DesignViews,
  tile: number,
  s: PeStream,
  vdd: number,
  clockMHz: number,
  liberty: string,
): Promise<CvPartEnergy> {
  const module = views.layout.cv!.vcolModule[tile]!;
  const t = design.tiles[tile]!;
  const sources = ownSources(views, [`${module}.sv`]);
  const key = { v: 1, module, src: createHash('sha256').update(JSON.stringify(sources)).digest('hex'), stream: streamHash(s), vdd, clockMHz, liberty };
  return cachedJson('flow-cv-energy', key, async () => {
    const syn = await synthesize({ top: module, sources, liberty });
    const model = buildGateSim(syn.netlist, loadLiberty(liberty));
    const n = s.a.length;
    const stim = (active: boolean): GateSimStimulus => ({
      n,
      ports: Object.fromEntries(
        Array.from({ length: t.rows }, (_, r) => [`a_${r}`, active ? Uint8Array.from({ length: n }, (_, i) => s.a[(i + r) % n]!) : new Uint8Array(n)]),
      ),
    });
    const opts = { vdd, clockMHz, liberty };
    const act = designEnergy(syn, { model, result: runGateSim(model, stim(true)) }, opts);
    const idle = designEnergy(syn, { model, result: runGateSim(model, stim(false)) }, opts);
    return { active: act.perOpPj.dynamic, idle: idle.perOpPj.dynamic, leakage: act.perOpPj.leakage };
  });
}

/**
 * The correction stage of a tile (docs/cv.md) on the layer's sampled output rows and their V, with
 * the layer's coefficients loaded first (row 0: the first C filters; zeros without compensation).
 */
async function cvCorrectionOpEnergy(
  design: Design,
  views: DesignViews,
  tile: number,
  a: AccRows,
  lcv: LayerCv | undefined,
  vdd: number,
  clockMHz: number,
  liberty: string,
): Promise<CvPartEnergy> {
  const module = views.layout.cv!.module[tile]!;
  const t = design.tiles[tile]!;
  const sources = ownSources(views, [`${module}.sv`]);
  const coef = Array.from({ length: t.cols }, (_, c) => (lcv?.coef[c] ?? 0) & 0xffff);
  const h = createHash('sha256').update(new Uint8Array(a.rows.buffer, a.rows.byteOffset, a.rows.byteLength));
  h.update(new Uint8Array(a.v.buffer, a.v.byteOffset, a.v.byteLength));
  const key = {
    v: 1,
    module,
    src: createHash('sha256').update(JSON.stringify(sources)).digest('hex'),
    stream: h.digest('hex'),
    coef,
    q: lcv?.q ?? 0,
    vdd,
    clockMHz,
    liberty,
  };
  return cachedJson('flow-cv-energy', key, async () => {
    const syn = await synthesize({ top: module, sources, liberty });
    const model = buildGateSim(syn.netlist, loadLiberty(liberty));
    const rows = packRows(design, t.cols, a.rows, a.v);
    const n = rows.n;
    // The coefficient memory (a macro beside the module, priced by the memory model) returns the
    // layer's first coefficient row on every read.
    const coefWords = Math.ceil((t.cols * 16) / 32);
    const coefRow = new Uint32Array(coefWords);
    coef.forEach((c, i) => {
      coefRow[(i * 16) >>> 5]! |= c << ((i * 16) & 31);
    });
    const stim = (active: boolean): GateSimStimulus => {
      const last = new Uint8Array(n);
      if (active) for (let i = 63; i < n; i += 64) last[i] = 1;
      const mem = new Uint32Array(n * coefWords);
      for (let i = 0; i < n; i++) mem.set(coefRow, i * coefWords);
      const fill = (v: number) => new Uint8Array(n).fill(active ? v : 0);
      return {
        n,
        ports: {
          rst: new Uint8Array(n),
          q: new Uint8Array(n).fill(lcv?.q ?? 0),
          nfold_last: new Uint8Array(n),
          ptr_we: new Uint8Array(n),
          coef_we: new Uint8Array(n),
          wdata: new Uint32Array(n),
          in_next: fill(1),
          in_valid: fill(1),
          in_last: last,
          in_data: { words: rows.words, data: active ? rows.data : new Uint32Array(n * rows.words) },
          mem_rd_data: { words: coefWords, data: mem },
        },
      };
    };
    const opts = { vdd, clockMHz, liberty };
    const act = designEnergy(syn, { model, result: runGateSim(model, stim(true)) }, opts);
    const idle = designEnergy(syn, { model, result: runGateSim(model, stim(false)) }, opts);
    return { active: act.perOpPj.dynamic, idle: idle.perOpPj.dynamic, leakage: act.perOpPj.leakage };
  });
}

export type AccRows = EnergyInputs['accRows'][string];

/**
 * What the energy estimate samples from one layer's first batch, in both the RTL run and the
 * analytical path: the PE streams per cell and the accumulators' output rows (`acc` in the
 * engine's layout acc[o * P + p]).
 */
export function layerEnergySample(
  design: Design,
  p: LayerPlacement,
  l: QConvLayer,
  g: GemmOperands,
  acc: Int32Array,
  streamPairs = DEFAULT_STREAM_PAIRS,
): { streams: CellStreams; accRows: AccRows } {
  const t = design.tiles[p.tile]!;
  return {
    streams: sampleLayerStreams(l, g, cellGrid(p), t.rows, streamPairs),
    accRows: {
      ...sampleAccumulatorRows(acc, g.P, l.oc, t.cols, design.psumBits, DEFAULT_ACC_ROWS, activationSums(g, design.signed)),
      kFolds: foldPlan(design, p.tile, g.P, l.K, l.oc).kFolds,
    },
  };
}

export interface EnergyInputs {
  design: Design;
  layers: { layer: string; tile: number; mode: number; filterCells: string[]; kernelCells?: string[][] }[];
  streams: Record<string, CellStreams>;
  /**
   * Per layer: sampled output rows for the accumulators (mapping/streams.ts sampleAccumulatorRows),
   * each row's activation sum V (the control-variate lane) and the layer's K-folds per output tile.
   */
  accRows: Record<string, { rows: Uint32Array; v: Int32Array; kFolds: number }>;
  /** Control-variate coefficients per layer (designs with the hardware; absent layer = zeros). */
  cv?: CvConfig;
  clockMHz?: number;
  liberty?: string;
  /** A --memory-model file (default models/memory-model.json). */
  memoryModel?: string;
}

/**
 * The memories of a design priced by the memory model at the liberty's node and level 0's supply:
 * activation buffer (words of R bytes), weight FIFO (rows of C bytes), and per tile its
 * accumulator memory (accEntries rows of C x psumBits bits).
 */
export function memoryOpEnergies(design: Design, liberty: string, memoryModel?: string): MemoryOpEnergies {
  const m = loadMemoryModel(memoryModel);
  const lib = loadLiberty(liberty);
  const volts = design.levels[0]!.volts;
  const nodeNm = libertyNode(m, liberty);
  const l = m.sram.leakage;
  let cellLeakageNw = 0;
  if ('cell' in l) {
    const c = lib.cells.get(l.cell);
    if (!c) throw new UserError(`memory model: liberty ${liberty} has no cell '${l.cell}' (sram.leakage.cell)`);
    cellLeakageNw = c.leakage;
  }
  const vm = defaultVoltageModel(lib.nomVoltage);
  const leakageScale = voltageScale(volts, vm).leakagePower;
  const tech = { nodeNm, volts, cellLeakageNw, leakageScale };
  const price = (s: SramSpec) => ({ ...s, ...sramEnergy(m, s, tech) });
  const mem = design.memory;
  return {
    model: memoryModel ? resolve(memoryModel) : 'models/memory-model.json',
    nodeNm,
    volts,
    extrapolated: isExtrapolated(m, nodeNm),
    ub: price({ bytes: mem.ubKiB * 1024, wordBits: mem.ubWordBytes * 8 }),
    // Tagged designs: the tag FIFO beside the weight FIFO (same rows) is priced as part of its word.
    wbuf: price(
      design.tags
        ? { bytes: (mem.wbufKiB * 1024 * (8 + design.tags.bits)) / 8, wordBits: mem.wbufWordBytes * (8 + design.tags.bits) }
        : { bytes: mem.wbufKiB * 1024, wordBits: mem.wbufWordBytes * 8 },
    ),
    // Control-variate designs store V beside the C partial sums.
    acc: design.tiles.map((t) => {
      const lanes = t.cols + (design.controlVariate ? 1 : 0);
      return price({ bytes: (design.accEntries * lanes * design.psumBits) / 8, wordBits: lanes * design.psumBits });
    }),
    ...(design.controlVariate
      ? {
          cvCoef: design.tiles.map((t) =>
            price({ bytes: (design.controlVariate!.folds * t.cols * REG.cvCoefData.width) / 8, wordBits: t.cols * REG.cvCoefData.width }),
          ),
        }
      : {}),
    dramPjPerByte: dramPjPerByte(m),
  };
}

/** Per-op energies for every (layer, cell) and every layer's PE (cached). */
export async function opEnergies(x: EnergyInputs): Promise<OpEnergies> {
  const clockMHz = x.clockMHz ?? 100;
  const liberty = resolve(x.liberty ?? defaultLiberty());
  const vdd = x.design.levels[0]!.volts;
  const memory = memoryOpEnergies(x.design, liberty, x.memoryModel);
  const out: OpEnergies = { vdd, liberty, clockMHz, cell: {}, pe: {}, acc: {}, memory };
  const views = generateViews(x.design);
  for (const p of x.layers) {
    const st = x.streams[p.layer];
    if (!st) continue;
    out.cell[p.layer] = {};
    for (const [id, s] of Object.entries(st)) out.cell[p.layer]![id] = await cellOpEnergy(x.design, id, s, vdd, clockMHz, liberty);
    // The PE figure comes from the layer's most used cell's PE.
    const counts = new Map<string, number>();
    for (const row of cellGrid(p)) for (const c of row) counts.set(c, (counts.get(c) ?? 0) + 1 / row.length);
    const main = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
    out.pe[p.layer] = await peOpEnergy(x.design, views, p.tile, p.mode, main, st[main]!, vdd, clockMHz, liberty);
    const a = x.accRows[p.layer];
    if (a) out.acc[p.layer] = await accOpEnergy(x.design, views, p.tile, a, vdd, clockMHz, liberty);
    if (x.design.controlVariate && a) {
      out.cv ??= {};
      out.cv[p.layer] = {
        column: await cvColumnOpEnergy(x.design, views, p.tile, st[main]!, vdd, clockMHz, liberty),
        correction: await cvCorrectionOpEnergy(x.design, views, p.tile, a, x.cv?.[p.layer], vdd, clockMHz, liberty),
        kFolds: a.kFolds,
      };
    }
    if (x.design.clockGating) {
      out.gating ??= {};
      out.gating[p.layer] = await gatingOpEnergies(x.design, views, p.tile, p.mode, vdd, clockMHz, liberty);
    }
  }
  return out;
}

/** Level index of every column of a tile (levels: per global domain, tiles' domains in order). */
export function columnVolts(design: Design, tile: number, levels: number[] = []): number[] {
  const offset = designLayout(design).domainOffset[tile]!;
  const t = design.tiles[tile]!;
  return t.colDomain.map((d) => design.levels[levels[offset + d] ?? 0]!.volts);
}

/**
 * Energy of one layer from its timing, MAC counts, memory traffic and the per-op energies
 * (measured at level 0, volts e.vdd). A column in a domain at another level scales its dynamic
 * energy by (V / vdd)^2 and its leakage by the synth/voltage.ts leakage-power ratio.
 */
export function layerEnergy(
  design: Design,
  layer: { layer: string; tile: number; mode: number; filterCells: string[]; kernelCells?: string[][] },
  t: LayerCycles,
  macsByCell: Record<string, number>,
  e: OpEnergies,
  traffic: LayerTraffic,
  levels: number[] = [],
): LayerEnergy {
  const cells = e.cell[layer.layer] ?? {};
  const pe = e.pe[layer.layer];
  const tile = design.tiles[layer.tile]!;
  const volts = columnVolts(design, layer.tile, levels);
  const vm = defaultVoltageModel(loadLibertyCached(e.liberty).nomVoltage);
  const ref = voltageScale(e.vdd, vm);
  const dyn = volts.map((v) => dynamicEnergyScale(v, e.vdd));
  const leak = volts.map((v) => voltageScale(v, vm).leakagePower / ref.leakagePower);
  // Every filter does the same number of MACs; filter f sits on column f mod C.
  const oc = layer.filterCells.length;
  const total = Object.values(macsByCell).reduce((a, b) => a + b, 0);
  let cellPj = 0;
  cellGrid(layer).forEach((row, f) => {
    for (const id of row) cellPj += (total / oc / row.length) * (cells[id]?.dynamic ?? 0) * dyn[f % tile.cols]!;
  });
  const activePerPe = t.streamCycles;
  const otherPerPe = t.cycles - t.streamCycles;
  let pePj = 0;
  let leakagePj = 0;
  const anyCell = cells[Object.keys(cells)[0] ?? ''];
  const gating = design.clockGating ? e.gating?.[layer.layer] : undefined;
  let clockGatePj: number | undefined;
  if (pe && gating) {
    const g = gatedLayerPe(tile.rows, tile.cols, Math.min(tile.cols, oc), t, pe, gating, dyn);
    pePj = g.pePj + g.gatePj;
    clockGatePj = g.gatePj;
    leakagePj += g.gateLeakagePj;
  }
  for (let c = 0; c < tile.cols; c++) {
    if (pe && !gating) pePj += tile.rows * (activePerPe * pe.active + otherPerPe * pe.idle) * dyn[c]!;
    // Leakage: every PE (its own cell's leakage plus the PE overhead) every cycle.
    for (let r = 0; r < tile.rows; r++)
      // A tagged PE's figure is the whole PE (every cell of its set) minus the cell it was measured with.
      leakagePj +=
        ((cells[design.tags && pe ? pe.cell : tile.cells[layer.mode]![r]![c]!] ?? anyCell)?.leakage ?? 0) * t.cycles * leak[c]! +
        (pe?.leakage ?? 0) * t.cycles * leak[c]!;
  }
  const acc = e.acc[layer.layer];
  const accPj = acc ? t.streamCycles * acc.active + (t.cycles - t.streamCycles) * acc.idle : 0;
  if (acc) leakagePj += acc.leakage * t.cycles;
  // Control variate: the column sums every streamed row; the correction stage works on the rows of
  // last K-folds (streamed rows / K-folds) and idles otherwise. Both sit at level 0.
  const cv = design.controlVariate ? e.cv?.[layer.layer] : undefined;
  let cvColumnPj = 0;
  let cvCorrectionPj = 0;
  if (cv) {
    const outRows = t.streamCycles / cv.kFolds;
    cvColumnPj = t.streamCycles * cv.column.active + (t.cycles - t.streamCycles) * cv.column.idle;
    cvCorrectionPj = outRows * cv.correction.active + (t.cycles - outRows) * cv.correction.idle;
    leakagePj += (cv.column.leakage + cv.correction.leakage) * t.cycles;
    // Its coefficient memory: one row read per output row, every coefficient written per GEMM.
    const mem = e.memory.cvCoef?.[layer.tile];
    if (mem)
      cvCorrectionPj +=
        outRows * mem.readPj + t.gemms * Math.ceil(oc / tile.cols) * tile.cols * mem.writePj + leakageEnergyPj(mem.leakageNw, t.cycles, e.clockMHz);
  }
  const m = e.memory;
  const b = traffic.buffers;
  const accMem = m.acc[layer.tile]!;
  const memLeak = (nw: number) => leakageEnergyPj(nw, t.cycles, e.clockMHz);
  const parts: Record<EnergyPart, number> = {
    cellPj,
    pePj,
    accPj,
    cvColumnPj,
    cvCorrectionPj,
    accMemReadPj: b.accReads * accMem.readPj,
    accMemWritePj: b.accWrites * accMem.writePj,
    accMemLeakagePj: memLeak(accMem.leakageNw),
    leakagePj,
    ubReadPj: b.ubReads * m.ub.readPj,
    ubWritePj: b.ubWrites * m.ub.writePj,
    ubLeakagePj: memLeak(m.ub.leakageNw),
    wbufReadPj: b.wbufReads * m.wbuf.readPj,
    wbufWritePj: b.wbufWrites * m.wbuf.writePj,
    wbufLeakagePj: memLeak(m.wbuf.leakageNw),
    // Tagged designs fetch each weight row's tags with it (C x tag bits per row, docs/array.md).
    dramPj: (traffic.dramBytes + (design.tags ? (b.wbufWrites * tile.cols * design.tags.bits) / 8 : 0)) * m.dramPjPerByte,
  };
  return { layer: layer.layer, ...parts, totalPj: objectiveEnergy(parts, 'accelerator'), ...(clockGatePj === undefined ? {} : { clockGatePj }) };
}

/**
 * A layer's energy with its weight-FIFO reads and writes scaled by `scale` (the approximate weight
 * memory's supply, nn/wmem.ts `wmemEnergyScale`; docs/wmem.md): leakage and DRAM stay as they are.
 */
export function scaleWeightMemory(e: LayerEnergy, scale: number): LayerEnergy {
  const parts = Object.fromEntries(ENERGY_PARTS.map((p) => [p.key, e[p.key]])) as Record<EnergyPart, number>;
  parts.wbufReadPj *= scale;
  parts.wbufWritePj *= scale;
  return { ...e, ...parts, totalPj: objectiveEnergy(parts, 'accelerator') };
}

const libs = new Map<string, number>();
function loadLibertyCached(path: string): { nomVoltage: number } {
  let v = libs.get(path);
  if (v === undefined) {
    v = loadLiberty(path).nomVoltage;
    libs.set(path, v);
  }
  return { nomVoltage: v };
}
