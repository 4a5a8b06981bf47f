import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { cachedJson } from '../core/cache.ts';
import { defaultLiberty } from '../core/paths.ts';
import type { Design } from '../generators/array/config.ts';
import { generateViews } from '../generators/array/rtl.ts';
import type { LayerCycles } from '../mapping/cycles.ts';
import type { CellStreams, PeStream } from '../mapping/streams.ts';
import { cellStreamEnergy } from '../synth/cell-energy.ts';
import { buildGateSim, runGateSim } from '../synth/gatesim.ts';
import { loadLiberty } from '../synth/liberty.ts';
import { designEnergy } from '../synth/power.ts';
import { defaultVoltageModel, dynamicEnergyScale, voltageScale } from '../synth/voltage.ts';
import { synthesize } from '../synth/yosys.ts';

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
 *   leakage   = every PE's leakage (cells included) for every cycle of the layer.
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
}

export interface LayerEnergy {
  layer: string;
  cellPj: number;
  pePj: number;
  leakagePj: number;
  totalPj: number;
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

/** PE-minus-cell energies of the PE module holding `cell` on a tile, for one stream. */
async function peOpEnergy(design: Design, tile: number, mode: number, id: string, s: PeStream, vdd: number, clockMHz: number, liberty: string) {
  const views = generateViews(design);
  const t = design.tiles[tile]!;
  let module = '';
  for (let r = 0; r < t.rows && !module; r++)
    for (let c = 0; c < t.cols && !module; c++) if (t.cells[mode]![r]![c] === id) module = views.layout.peModule[tile]![r]![c]!;
  const sources = views.synth;
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

export interface EnergyInputs {
  design: Design;
  layers: { layer: string; tile: number; mode: number; filterCells: string[] }[];
  streams: Record<string, CellStreams>;
  clockMHz?: number;
  liberty?: string;
}

/** Per-op energies for every (layer, cell) and every layer's PE (cached). */
export async function opEnergies(x: EnergyInputs): Promise<OpEnergies> {
  const clockMHz = x.clockMHz ?? 100;
  const liberty = resolve(x.liberty ?? defaultLiberty());
  const vdd = x.design.levels[0]!.volts;
  const out: OpEnergies = { vdd, liberty, clockMHz, cell: {}, pe: {} };
  for (const p of x.layers) {
    const st = x.streams[p.layer];
    if (!st) continue;
    out.cell[p.layer] = {};
    for (const [id, s] of Object.entries(st)) out.cell[p.layer]![id] = await cellOpEnergy(id, s, vdd, clockMHz, liberty);
    // The PE figure comes from the layer's most used cell's PE.
    const counts = new Map<string, number>();
    for (const c of p.filterCells) counts.set(c, (counts.get(c) ?? 0) + 1);
    const main = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
    out.pe[p.layer] = await peOpEnergy(x.design, p.tile, p.mode, main, st[main]!, vdd, clockMHz, liberty);
  }
  return out;
}

/** Level index of every column of a tile (levels: per global domain, tiles' domains in order). */
export function columnVolts(design: Design, tile: number, levels: number[] = []): number[] {
  let offset = 0;
  for (let i = 0; i < tile; i++) offset += design.tiles[i]!.domains.length;
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
  for (let c = 0; c < tile.cols; c++) {
    if (pe) pePj += tile.rows * (activePerPe * pe.active + otherPerPe * pe.idle) * dyn[c]!;
    // Leakage: every PE (its own cell's leakage plus the PE overhead) every cycle.
    for (let r = 0; r < tile.rows; r++)
      leakagePj += ((cells[tile.cells[layer.mode]![r]![c]!] ?? anyCell)?.leakage ?? 0) * t.cycles * leak[c]! + (pe?.leakage ?? 0) * t.cycles * leak[c]!;
  }
  return { layer: layer.layer, cellPj, pePj, leakagePj, totalPj: cellPj + pePj + leakagePj };
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
