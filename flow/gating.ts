import { createHash } from 'node:crypto';
import { cachedJson } from '../core/cache.ts';
import { render } from '../core/templates.ts';
import { cellInfo } from '../generators/array/cells.ts';
import type { Design } from '../generators/array/config.ts';
import type { DesignViews } from '../generators/array/rtl.ts';
import type { LayerCycles } from '../mapping/cycles.ts';
import { DEFAULT_ELECTRICAL } from '../synth/energy.ts';
import { buildGateSim, runGateSim } from '../synth/gatesim.ts';
import { type Library, loadLiberty, lookupLoadSlew } from '../synth/liberty.ts';
import { designEnergy } from '../synth/power.ts';
import { defaultVoltageModel, voltageScale } from '../synth/voltage.ts';
import { type SynthResult, synthesize } from '../synth/yosys.ts';

/**
 * Energy of clock gating (docs/array.md, Clock gating), kept apart from flow/energy.ts, which
 * calls it for clock-gated designs only. Per layer (all pJ, measured at level 0 like the rest):
 *   gatedPe   PE-minus-cell dynamic energy per cycle with its clock stopped: the gate-level
 *             simulation of the PE with held inputs, minus its clock part (clock pins and clock
 *             net), i.e. what is left when no clock edge arrives. Zero-delay and held inputs give
 *             no transitions, so this is 0; leakage is unchanged (charged as before);
 *   gateOn, gateOff  one column's clock gate (axtpu_clkgate, synthesized: an inverter, a latch,
 *             an AND2) per cycle with the column clocked / gated, from the liberty tables: the
 *             clock pins of the inverter and the AND2 and the latch's enable pin, the inverter's
 *             output, and with the column clocked the AND2's output (gclk) driving the column's
 *             PE clock pins (gclk's own 1/2 C V^2 is already in the PE figure's clock part).
 *             The latch output toggles only when the enable changes (a few times per GEMM): not
 *             counted. Gate-level simulation cannot run it (synth/gatesim.ts maps flip-flops
 *             with an ideal clock, no latches or gated clocks), hence the tables;
 *   gateLeakage  the gate's leakage per cycle.
 * A column's PEs are clocked in `clockedColumnCycles` (mapping/clock-gating.ts): streaming
 * cycles at the active figure, its other clocked cycles at the idle figure, gated cycles at
 * gatedPe; padding columns are gated for the whole GEMM.
 */
export interface GatingOpEnergies {
  gatedPe: number;
  gateOn: number;
  gateOff: number;
  gateLeakage: number;
  /** One clock gate: Yosys `stat -liberty` area (um^2) and cells. */
  gateAreaUm2: number;
  gateCells: Record<string, number>;
}

export const CLOCK_GATE_MODULE = 'axtpu_clkgate';

/** The clock gate on its own, synthesized (cached). */
export function synthesizeClockGate(liberty: string): Promise<SynthResult> {
  return synthesize({ top: CLOCK_GATE_MODULE, sources: { [`${CLOCK_GATE_MODULE}.sv`]: render('array/clkgate.sv', {}) }, liberty });
}

/** Sum of the clock-pin capacitances (pF) of a mapped netlist's flip-flops and latches. */
function clockPinLoad(syn: SynthResult, lib: Library): number {
  let pf = 0;
  for (const c of syn.netlist.cells) {
    const lc = lib.cells.get(c.type);
    if (!lc?.sequential) continue;
    for (const pin of lc.pins.values()) if (pin.direction === 'input' && pin.clock) pf += pin.capacitance;
  }
  return pf;
}

/**
 * Per-cycle energy of the synthesized gate from the liberty tables, at nominal voltage (pJ):
 * nets that follow the clock (clk and inverter outputs of it) toggle twice a cycle, gclk too
 * while enabled. `gclkLoadPf`: the clock pins the gate drives.
 */
function gateCycleEnergy(syn: SynthResult, lib: Library, gclkLoadPf: number): { on: number; off: number; leakageNw: number } {
  const nl = syn.netlist;
  const portNet = (name: string) => nl.ports.find((p) => p.name === name)!.bits[0]!;
  const clk = portNet('clk');
  const gclk = portNet('gclk');
  const load = new Map<unknown, number>([[gclk, gclkLoadPf]]);
  for (const c of nl.cells) {
    const lc = lib.cells.get(c.type)!;
    for (const [pin, net] of Object.entries(c.conns)) {
      const lp = lc.pins.get(pin);
      if (lp?.direction === 'input') load.set(net, (load.get(net) ?? 0) + lp.capacitance);
    }
  }
  // Nets that follow the clock: clk, and single-input cells' outputs driven by one of them.
  const follows = new Set<unknown>([clk]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const c of nl.cells) {
      const lc = lib.cells.get(c.type)!;
      const ins = [...lc.pins.values()].filter((p) => p.direction === 'input');
      const out = [...lc.pins.values()].find((p) => p.direction === 'output');
      if (lc.sequential || ins.length !== 1 || !out) continue;
      const o = c.conns[out.name];
      if (follows.has(c.conns[ins[0]!.name]) && !follows.has(o)) {
        follows.add(o);
        grew = true;
      }
    }
  }
  const slew = DEFAULT_ELECTRICAL.inputSlewNs;
  const halfV2 = 0.5 * lib.nomVoltage * lib.nomVoltage;
  let always = 0;
  let gclkDriver = 0;
  let leakageNw = 0;
  for (const c of nl.cells) {
    const lc = lib.cells.get(c.type)!;
    leakageNw += lc.leakage;
    for (const [pin, net] of Object.entries(c.conns)) {
      const lp = lc.pins.get(pin)!;
      if (lp.direction === 'input' && follows.has(net))
        for (const p of lp.internalPower.filter((x) => x.relatedPin === ''))
          always += (p.rise ? lookupLoadSlew(p.rise, 0, slew) : 0) + (p.fall ? lookupLoadSlew(p.fall, 0, slew) : 0);
      if (lp.direction !== 'output' || !(follows.has(net) || net === gclk)) continue;
      // Output arcs related to the input that follows the clock.
      const rel = Object.entries(c.conns)
        .filter(([ip, n]) => lc.pins.get(ip)?.direction === 'input' && follows.has(n))
        .map(([ip]) => ip);
      const e = lp.internalPower
        .filter((p) => rel.includes(p.relatedPin))
        .reduce(
          (s, p) => s + (p.rise ? lookupLoadSlew(p.rise, load.get(net) ?? 0, slew) : 0) + (p.fall ? lookupLoadSlew(p.fall, load.get(net) ?? 0, slew) : 0),
          0,
        );
      if (net === gclk) gclkDriver += e;
      else always += e;
    }
  }
  // Switching of the clock-following nets inside the gate and of the load it adds to clk.
  for (const net of follows) always += 2 * halfV2 * (load.get(net) ?? 0);
  return { on: always + gclkDriver, off: always, leakageNw };
}

/** Gating energies for one tile (cached): the PE at (0, 0) of the mode, the clock gate, the column's clock load. */
export async function gatingOpEnergies(
  design: Design,
  views: DesignViews,
  tile: number,
  mode: number,
  vdd: number,
  clockMHz: number,
  liberty: string,
): Promise<GatingOpEnergies> {
  const t = design.tiles[tile]!;
  const module = views.layout.peModule[tile]![0]![0]!;
  const peCells = [...new Set(t.cells.map((m) => m[0]![0]!))];
  const sources = Object.fromEntries([`${module}.sv`, ...peCells.map((c) => `${cellInfo(c).moduleName}.v`)].map((f) => [f, views.synth[f]!]));
  const gateText = render('array/clkgate.sv', {});
  const key = {
    v: 1,
    module,
    rows: t.rows,
    src: createHash('sha256')
      .update(JSON.stringify([sources, gateText]))
      .digest('hex'),
    vdd,
    clockMHz,
    liberty,
    mode,
  };
  return cachedJson('flow-gating-energy', key, async () => {
    const lib = loadLiberty(liberty);
    const pe = await synthesize({ top: module, sources, liberty });
    const model = buildGateSim(pe.netlist, lib);
    // Held inputs: every port constant (the PE's neighbours are gated or idle too).
    const n = 2048;
    const ports: Record<string, Uint8Array | Uint32Array> = {};
    for (const p of pe.netlist.ports)
      if (p.direction === 'input' && p.name !== 'clk') ports[p.name] = p.name === 'mode' ? new Uint8Array(n).fill(mode) : new Uint32Array(n);
    const held = designEnergy(pe, { model, result: runGateSim(model, { n, ports }) }, { vdd, clockMHz, liberty });
    const gate = await synthesizeClockGate(liberty);
    const g = gateCycleEnergy(gate, lib, t.rows * clockPinLoad(pe, lib));
    const vm = defaultVoltageModel(lib.nomVoltage);
    const s = voltageScale(vdd, vm);
    const periodNs = 1000 / clockMHz;
    return {
      gatedPe: held.perOpPj.dynamic - held.perOpPj.clock,
      gateOn: g.on * s.dynamic,
      gateOff: g.off * s.dynamic,
      gateLeakage: g.leakageNw * s.leakagePower * periodNs * 1e-6,
      gateAreaUm2: gate.areaUm2,
      gateCells: gate.cellsByType,
    };
  });
}

/**
 * PE and clock-gate energy of one layer on a clock-gated tile (replaces flow/energy.ts's
 * ungated PE term): `dyn[c]` is column c's dynamic-energy scale (its domain's level), `active`
 * the columns holding real filters (min(C, N); the rest are padding columns, gated throughout).
 */
export function gatedLayerPe(
  rows: number,
  cols: number,
  active: number,
  t: Pick<LayerCycles, 'cycles' | 'streamCycles' | 'clockedColumnCycles'>,
  pe: { active: number; idle: number },
  g: GatingOpEnergies,
  dyn: number[],
): { pePj: number; gatePj: number; gateLeakagePj: number } {
  const clocked = t.clockedColumnCycles / active;
  let pePj = 0;
  let gatePj = 0;
  for (let c = 0; c < cols; c++) {
    const on = c < active ? clocked : 0;
    const stream = c < active ? t.streamCycles : 0;
    pePj += rows * (stream * pe.active + (on - stream) * pe.idle + (t.cycles - on) * g.gatedPe) * dyn[c]!;
    gatePj += (on * g.gateOn + (t.cycles - on) * g.gateOff) * dyn[c]!;
  }
  return { pePj, gatePj, gateLeakagePj: cols * g.gateLeakage * t.cycles };
}
