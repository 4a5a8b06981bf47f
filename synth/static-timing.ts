import type { GateSimModel } from './gatesim.ts';
import { type LibCell, lookupLoadSlew, outputPins, type TimingArc } from './liberty.ts';

/**
 * Static timing (STA-style, from liberty tables; not the array's cycle counting, which lives
 * with the mapping layer). Static electrical view of a mapped netlist from liberty data alone: the load on every net,
 * a slew estimate per net and a critical path delay (no wires: pre-layout, ideal interconnect).
 *
 * - C_net = sum of the fan-out input pin capacitances (+ `outputLoadPf` on each output port bit).
 * - Primary-input slew = `inputSlewNs`; a cell output's slew = the worst (max) over its arcs of
 *   the mean of rise_transition and fall_transition at (C_net, slew of the related input).
 * - Delay: arrival(out) = max over arcs of arrival(in) + max(cell_rise, cell_fall) at
 *   (C_net, slew in); flip-flop outputs start at their clock->Q delay; the critical path is
 *   the latest arrival at any output port or flip-flop data pin (setup time not added).
 */
export interface ElectricalOptions {
  /** Load on each primary output bit (pF). Default 0: the cell alone, as OpenSTA assumes without set_load. */
  outputLoadPf: number;
  /** Transition time at primary inputs (ns). */
  inputSlewNs: number;
}

export interface ElectricalView {
  loadPf: Float64Array;
  slewNs: Float64Array;
  arrivalNs: Float64Array;
  criticalPathNs: number;
  /** Dense net index where the critical path ends. */
  criticalEnd: number;
  /** True for nets that feed an output port. */
  isOutput: Uint8Array;
}

const DATA_ARC = new Set(['combinational', 'rising_edge', 'falling_edge', 'combinational_rise', 'combinational_fall']);

export function electricalView(m: GateSimModel, opts: ElectricalOptions): ElectricalView {
  const nn = m.netIds.length;
  const loadPf = new Float64Array(nn);
  const isOutput = new Uint8Array(nn);
  const cells = m.netlist.cells.map((c) => m.lib.cells.get(c.type)!);
  m.netlist.cells.forEach((c, ci) => {
    const lc = cells[ci]!;
    for (const [pin, r] of Object.entries(c.conns)) {
      const lp = lc.pins.get(pin);
      if (lp?.direction !== 'input' || typeof r !== 'number') continue;
      loadPf[m.netIndex.get(r)!]! += lp.capacitance;
    }
  });
  for (const o of m.outputBits) {
    if (typeof o.net !== 'number') continue;
    const i = m.netIndex.get(o.net)!;
    loadPf[i]! += opts.outputLoadPf;
    isOutput[i] = 1;
  }
  const slewNs = new Float64Array(nn).fill(opts.inputSlewNs);
  const arrivalNs = new Float64Array(nn);
  const netOf = (ci: number, pin: string): number => {
    const r = m.netlist.cells[ci]!.conns[pin];
    return typeof r === 'number' ? m.netIndex.get(r)! : -1;
  };
  const evalCell = (ci: number, lc: LibCell) => {
    for (const op of outputPins(lc)) {
      const out = netOf(ci, op.name);
      if (out < 0) continue;
      let slew = 0;
      let arr = 0;
      let any = false;
      for (const arc of op.timing) {
        if (!DATA_ARC.has(arc.timingType)) continue;
        const inNet = netOf(ci, arc.relatedPin);
        const isClock = lc.pins.get(arc.relatedPin)?.clock ?? false;
        const sIn = inNet >= 0 && !isClock ? slewNs[inNet]! : opts.inputSlewNs;
        const aIn = inNet >= 0 && !isClock ? arrivalNs[inNet]! : 0;
        const d = arcDelay(arc, loadPf[out]!, sIn);
        const s = arcSlew(arc, loadPf[out]!, sIn);
        slew = Math.max(slew, s);
        arr = Math.max(arr, aIn + d);
        any = true;
      }
      if (any) {
        slewNs[out] = slew;
        arrivalNs[out] = arr;
      }
    }
  };
  // Flip-flops first (their outputs launch at the clock edge), then levelized logic.
  m.netlist.cells.forEach((_, ci) => {
    if (cells[ci]!.sequential) evalCell(ci, cells[ci]!);
  });
  for (const ci of m.order) evalCell(ci, cells[ci]!);
  let criticalPathNs = 0;
  let criticalEnd = -1;
  const consider = (n: number) => {
    if (n >= 0 && arrivalNs[n]! > criticalPathNs) {
      criticalPathNs = arrivalNs[n]!;
      criticalEnd = n;
    }
  };
  for (let i = 0; i < nn; i++) if (isOutput[i]) consider(i);
  m.netlist.cells.forEach((_, ci) => {
    const lc = cells[ci]!;
    if (!lc.sequential) return;
    for (const p of lc.pins.values()) if (p.direction === 'input' && !p.clock) consider(netOf(ci, p.name));
  });
  return { loadPf, slewNs, arrivalNs, criticalPathNs, criticalEnd, isOutput };
}

function arcDelay(arc: TimingArc, load: number, slew: number): number {
  const r = arc.cellRise ? lookupLoadSlew(arc.cellRise, load, slew) : 0;
  const f = arc.cellFall ? lookupLoadSlew(arc.cellFall, load, slew) : 0;
  return Math.max(r, f);
}

function arcSlew(arc: TimingArc, load: number, slew: number): number {
  const xs = [arc.riseTransition, arc.fallTransition].filter((t) => t !== undefined).map((t) => lookupLoadSlew(t, load, slew));
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : slew;
}
