import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { cachedJson } from '../core/cache.ts';
import { defaultLiberty } from '../core/paths.ts';
import { cellInfo } from '../generators/array/cells.ts';
import type { Design } from '../generators/array/config.ts';
import { type DesignViews, designLayout, generateViews } from '../generators/array/rtl.ts';
import type { LayerCycles } from '../mapping/cycles.ts';
import { foldPlan } from '../mapping/gemm.ts';
import type { LayerPlacement } from '../mapping/place.ts';
import { type CellStreams, DEFAULT_ACC_ROWS, DEFAULT_STREAM_PAIRS, type PeStream, sampleAccumulatorRows, sampleLayerStreams } from '../mapping/streams.ts';
import type { GemmOperands } from '../nn/gemm.ts';
import type { QConvLayer } from '../nn/qmodel.ts';
import { cellStreamEnergy } from '../synth/cell-energy.ts';
import { buildGateSim, runGateSim } from '../synth/gatesim.ts';
import { loadLiberty } from '../synth/liberty.ts';
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
 *   leakage   = every PE's leakage (cells included) and the accumulators' for every cycle.
 * The accumulators sit outside the column voltage domains, at level 0.
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
  /** Clock-gated designs: per layer, the gated PE and the clock gates (flow/gating.ts). */
  gating?: Record<string, GatingOpEnergies>;
}

export interface LayerEnergy {
  layer: string;
  cellPj: number;
  pePj: number;
  /** Accumulator adders and counters (not the accumulator memory macro). */
  accPj: number;
  leakagePj: number;
  totalPj: number;
  /** Clock-gated designs: the clock gates' dynamic energy (part of pePj; flow/gating.ts). */
  clockGatePj?: number;
}

function streamHash(s: PeStream): string {
  const h = createHash('sha256');
  h.update(s.a);
  h.update(s.b);
  h.update(new Uint8Array(s.psumIn.buffer, s.psumIn.byteOffset, s.psumIn.byteLength));
  return h.digest('hex');
}

async function cellOpEnergy(id: string, s: PeStream, vdd: number, clockMHz: number, liberty: string) {
  const { dynamic, leakage } = await cellStreamEnergy(id, s, { vdd, clockMHz, liberty });
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
  const t = design.tiles[tile]!;
  let module = '';
  let peCells: string[] = [];
  for (let r = 0; r < t.rows && !module; r++)
    for (let c = 0; c < t.cols && !module; c++)
      if (t.cells[mode]![r]![c] === id) {
        module = views.layout.peModule[tile]![r]![c]!;
        peCells = [...new Set(t.cells.map((m) => m[r]![c]!))];
      }
  const sources = ownSources(views, [`${module}.sv`, ...peCells.map((c) => `${cellInfo(c).moduleName}.v`)]);
  const key = { v: 1, module, src: createHash('sha256').update(JSON.stringify(sources)).digest('hex'), stream: streamHash(s), vdd, clockMHz, liberty, mode };
  return cachedJson('flow-pe-energy', key, async () => {
    const syn = await synthesize({ top: module, sources, liberty });
    const lib = loadLiberty(liberty);
    const model = buildGateSim(syn.netlist, lib);
    const n = s.a.length;
    const ports = new Set(syn.netlist.ports.map((p) => p.name));
    const stim = (active: boolean) => {
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
          // Weight write on the cycle a new run's weight arrives (stationary otherwise).
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
      return { n, ports: p };
    };
    const opts = { vdd, clockMHz, liberty };
    const act = designEnergy(syn, { model, result: runGateSim(model, stim(true)) }, opts);
    const idle = designEnergy(syn, { model, result: runGateSim(model, stim(false)) }, opts);
    const c = await cellOpEnergy(id, s, vdd, clockMHz, liberty);
    return { active: act.perOpPj.dynamic - c.dynamic, idle: idle.perOpPj.dynamic, leakage: act.perOpPj.leakage - c.leakage, cell: id };
  });
}

/**
 * Accumulator-logic energies of a tile for one layer: its output rows (C psum words each) arrive
 * one per cycle, in runs of `blockRows` (a fold's rows), with `kFolds` K-folds per output tile.
 */
async function accOpEnergy(
  design: Design,
  views: DesignViews,
  tile: number,
  kFolds: number,
  rows: Uint32Array,
  vdd: number,
  clockMHz: number,
  liberty: string,
) {
  const module = views.layout.accModule[tile]!;
  const t = design.tiles[tile]!;
  const sources = ownSources(views, [`${module}.sv`]);
  const stream = createHash('sha256')
    .update(new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength))
    .digest('hex');
  const key = { v: 1, module, src: createHash('sha256').update(JSON.stringify(sources)).digest('hex'), stream, kFolds, vdd, clockMHz, liberty };
  return cachedJson('flow-acc-energy', key, async () => {
    const syn = await synthesize({ top: module, sources, liberty });
    const model = buildGateSim(syn.netlist, loadLiberty(liberty));
    const n = rows.length / t.cols;
    const words = Math.ceil((t.cols * design.psumBits) / 32);
    // Rows packed as the port sees them: column c at bits c*psumBits.
    const packed = new Uint32Array(n * words);
    for (let i = 0; i < n; i++)
      for (let c = 0; c < t.cols; c++) {
        const v = rows[i * t.cols + c]!;
        for (let b = 0; b < design.psumBits; b++)
          if ((v >>> b) & 1) {
            const bit = c * design.psumBits + b;
            packed[i * words + (bit >>> 5)]! |= 1 << (bit & 31);
          }
      }
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
    streams: sampleLayerStreams(l, g, p.filterCells, t.rows, streamPairs),
    accRows: {
      rows: sampleAccumulatorRows(acc, g.P, l.oc, t.cols, design.psumBits, DEFAULT_ACC_ROWS),
      kFolds: foldPlan(design, p.tile, g.P, l.K, l.oc).kFolds,
    },
  };
}

export interface EnergyInputs {
  design: Design;
  layers: { layer: string; tile: number; mode: number; filterCells: string[] }[];
  streams: Record<string, CellStreams>;
  /** Per layer: sampled output rows for the accumulators (mapping/streams.ts sampleAccumulatorRows) and the layer's K-folds per output tile. */
  accRows: Record<string, { rows: Uint32Array; kFolds: number }>;
  clockMHz?: number;
  liberty?: string;
}

/** Per-op energies for every (layer, cell) and every layer's PE (cached). */
export async function opEnergies(x: EnergyInputs): Promise<OpEnergies> {
  const clockMHz = x.clockMHz ?? 100;
  const liberty = resolve(x.liberty ?? defaultLiberty());
  const vdd = x.design.levels[0]!.volts;
  const out: OpEnergies = { vdd, liberty, clockMHz, cell: {}, pe: {}, acc: {} };
  const views = generateViews(x.design);
  for (const p of x.layers) {
    const st = x.streams[p.layer];
    if (!st) continue;
    out.cell[p.layer] = {};
    for (const [id, s] of Object.entries(st)) out.cell[p.layer]![id] = await cellOpEnergy(id, s, vdd, clockMHz, liberty);
    // The PE figure comes from the layer's most used cell's PE.
    const counts = new Map<string, number>();
    for (const c of p.filterCells) counts.set(c, (counts.get(c) ?? 0) + 1);
    const main = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
    out.pe[p.layer] = await peOpEnergy(x.design, views, p.tile, p.mode, main, st[main]!, vdd, clockMHz, liberty);
    const a = x.accRows[p.layer];
    if (a) out.acc[p.layer] = await accOpEnergy(x.design, views, p.tile, a.kFolds, a.rows, vdd, clockMHz, liberty);
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
 * Energy of one layer from its timing, MAC counts and the per-op energies (measured at level 0,
 * volts e.vdd). A column in a domain at another level scales its dynamic energy by (V / vdd)^2
 * and its leakage by the synth/voltage.ts leakage-power ratio.
 */
export function layerEnergy(
  design: Design,
  layer: { layer: string; tile: number; mode: number; filterCells: string[] },
  t: LayerCycles,
  macsByCell: Record<string, number>,
  e: OpEnergies,
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
  layer.filterCells.forEach((id, f) => {
    cellPj += (total / oc) * (cells[id]?.dynamic ?? 0) * dyn[f % tile.cols]!;
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
      leakagePj += ((cells[tile.cells[layer.mode]![r]![c]!] ?? anyCell)?.leakage ?? 0) * t.cycles * leak[c]! + (pe?.leakage ?? 0) * t.cycles * leak[c]!;
  }
  const acc = e.acc[layer.layer];
  const accPj = acc ? t.streamCycles * acc.active + (t.cycles - t.streamCycles) * acc.idle : 0;
  if (acc) leakagePj += acc.leakage * t.cycles;
  return {
    layer: layer.layer,
    cellPj,
    pePj,
    accPj,
    leakagePj,
    totalPj: cellPj + pePj + accPj + leakagePj,
    ...(clockGatePj === undefined ? {} : { clockGatePj }),
  };
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
