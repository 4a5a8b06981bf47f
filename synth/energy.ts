import { type BoolExpr, exprVars } from './boolexpr.ts';
import type { GateSimModel, GateSimResult } from './gatesim.ts';
import { type InternalPower, lookupLoadSlew, type Table } from './liberty.ts';
import { type ElectricalOptions, electricalView } from './static-timing.ts';
import { defaultVoltageModel, type VoltageModel, voltageScale } from './voltage.ts';

/**
 * Energy per operation from liberty data and counted transitions (one op = one cycle):
 *
 *   internal  = sum over cell outputs of rises x E_rise + falls x E_fall, each table interpolated
 *               at (C_net, slew of the related input); an output transition is attributed to the
 *               arcs whose input toggled in the same cycle, in proportion to how often each did;
 *               plus input-pin (passive) tables per input transition, and the clock pin twice a cycle.
 *   switching = sum over cell-driven nets of transitions x 1/2 C_net V^2.
 *   inputSwitching = the same for nets driven by primary inputs (the cost of the cell's input
 *               capacitance, paid by whatever drives it; OpenSTA does not report it).
 *   leakage   = sum of cell_leakage_power (or of leakage_power value x P(when), P from simulated
 *               duties assuming independent pins) x clock period.
 * Dynamic parts scale with (V/Vnom)^2, leakage and delay with the model in voltage.ts.
 */
export interface EnergyOptions extends ElectricalOptions {
  /** Supply voltage (default: the library's nom_voltage). */
  vdd?: number;
  clockMHz: number;
  voltageModel?: Partial<VoltageModel>;
}

export const DEFAULT_ELECTRICAL: ElectricalOptions = { outputLoadPf: 0, inputSlewNs: 0.1 };
export const DEFAULT_CLOCK_MHZ = 100;

export interface EnergyBreakdown {
  internal: number;
  switching: number;
  inputSwitching: number;
  clock: number;
  leakage: number;
  /** internal + switching + inputSwitching + clock */
  dynamic: number;
  total: number;
}

export interface EnergyEstimate {
  vdd: number;
  vnom: number;
  clockMHz: number;
  vectors: number;
  intervals: number;
  /** pJ per operation, split. */
  perOpPj: EnergyBreakdown;
  /** At clockMHz, one op per cycle (mW). */
  powerMw: { internal: number; switching: number; inputSwitching: number; clock: number; leakage: number; total: number };
  leakageNw: number;
  criticalPathNs: number;
  maxClockMHz: number;
  togglesPerOp: number;
  assumptions: {
    outputLoadPf: number;
    inputSlewNs: number;
    voltageModel: VoltageModel;
    scale: { dynamic: number; leakagePower: number; delay: number };
    zeroDelay: true;
  };
}

/** P(expr = 1) for independent inputs with the given probabilities. */
export function probability(e: BoolExpr, p: (name: string) => number): number {
  switch (e.op) {
    case 'var':
      return p(e.name);
    case 'const':
      return e.value;
    case 'not':
      return 1 - probability(e.a, p);
    case 'and':
      return probability(e.a, p) * probability(e.b, p);
    case 'or':
      return 1 - (1 - probability(e.a, p)) * (1 - probability(e.b, p));
    case 'xor': {
      const a = probability(e.a, p);
      const b = probability(e.b, p);
      return a * (1 - b) + b * (1 - a);
    }
  }
}

function meanTable(ps: InternalPower[], pick: (p: InternalPower) => Table | undefined, load: number, slew: number): number {
  const ts = ps.map(pick).filter((t): t is Table => t !== undefined);
  if (!ts.length) return 0;
  return ts.reduce((s, t) => s + lookupLoadSlew(t, load, slew), 0) / ts.length;
}

export function estimateEnergy(m: GateSimModel, sim: GateSimResult, opts: EnergyOptions): EnergyEstimate {
  const lib = m.lib;
  const vnom = lib.nomVoltage;
  const vdd = opts.vdd ?? vnom;
  const vm = defaultVoltageModel(vnom, opts.voltageModel);
  const scale = voltageScale(vdd, vm);
  const ev = electricalView(m, opts);
  const cells = m.netlist.cells.map((c) => lib.cells.get(c.type)!);
  const intervals = sim.intervals;

  // Internal energy of outputs, arc by arc (energies at nominal voltage, scaled at the end).
  let internal = 0;
  const byOutput = new Map<number, number[]>();
  m.arcs.forEach((a, k) => {
    const list = byOutput.get(a.outNet);
    if (list) list.push(k);
    else byOutput.set(a.outNet, [k]);
  });
  for (const [outNet, ks] of byOutput) {
    const first = m.arcs[ks[0]!]!;
    const lc = cells[first.cell]!;
    const op = lc.pins.get(first.outPin)!;
    const load = ev.loadPf[outNet]!;
    const er: number[] = [];
    const ef: number[] = [];
    for (const k of ks) {
      const a = m.arcs[k]!;
      const slew = a.inNet >= 0 ? ev.slewNs[a.inNet]! : opts.inputSlewNs;
      const ps = op.internalPower.filter((p) => p.relatedPin === a.inPin);
      er.push(meanTable(ps, (p) => p.rise, load, slew));
      ef.push(meanTable(ps, (p) => p.fall, load, slew));
    }
    const attribute = (total: number, counts: Float64Array, e: number[]) => {
      if (total === 0) return 0;
      let w = 0;
      let we = 0;
      ks.forEach((k, j) => {
        w += counts[k]!;
        we += counts[k]! * e[j]!;
      });
      if (w > 0) return (total * we) / w;
      return (total * e.reduce((s, x) => s + x, 0)) / Math.max(1, e.length);
    };
    internal += attribute(sim.rise[outNet]!, sim.arcRise, er);
    internal += attribute(sim.fall[outNet]!, sim.arcFall, ef);
  }
  // Input-pin (passive) internal power, and the ideal clock (one rise and one fall per cycle).
  let clock = 0;
  const clockNets = new Set<number>();
  m.netlist.cells.forEach((c, ci) => {
    const lc = cells[ci]!;
    for (const [pin, r] of Object.entries(c.conns)) {
      const lp = lc.pins.get(pin);
      if (lp?.direction !== 'input' || typeof r !== 'number') continue;
      const net = m.netIndex.get(r)!;
      const passive = lp.internalPower.filter((p) => p.relatedPin === '');
      const isClock = lp.clock || (lc.sequential !== undefined && exprVars(lc.sequential.clock).has(pin));
      if (isClock) {
        clockNets.add(net);
        clock += intervals * (meanTable(passive, (p) => p.rise, 0, opts.inputSlewNs) + meanTable(passive, (p) => p.fall, 0, opts.inputSlewNs));
        continue;
      }
      if (!passive.length) continue;
      const slew = ev.slewNs[net]!;
      internal += sim.rise[net]! * meanTable(passive, (p) => p.rise, 0, slew) + sim.fall[net]! * meanTable(passive, (p) => p.fall, 0, slew);
    }
  });
  // Switching: 1/2 C V^2 per transition (V at nominal here; scaled below).
  const halfCV2 = 0.5 * vnom * vnom;
  let switching = 0;
  let inputSwitching = 0;
  let toggles = 0;
  for (let i = 0; i < m.netIds.length; i++) {
    if (clockNets.has(i)) {
      clock += 2 * intervals * halfCV2 * ev.loadPf[i]!;
      continue;
    }
    const tr = sim.rise[i]! + sim.fall[i]!;
    toggles += tr;
    const e = tr * halfCV2 * ev.loadPf[i]!;
    if (m.drivers[i]?.kind === 'input') inputSwitching += e;
    else switching += e;
  }
  // State-dependent leakage: sum of value x P(when), P from the simulated duty of each pin's
  // net assuming independent inputs (OpenSTA assumes 1/2 per input instead).
  let leakNomNw = 0;
  m.netlist.cells.forEach((c, ci) => {
    const lc = cells[ci]!;
    const conds = lc.leakageWhen.filter((l) => l.whenExpr);
    if (!conds.length) {
      leakNomNw += lc.leakage;
      return;
    }
    const duty = (pin: string) => {
      const r = c.conns[pin];
      if (r === '1') return 1;
      if (r === '0') return 0;
      if (r === undefined) return 0.5; // internal state (IQ/IQN) or unconnected
      return sim.ones[m.netIndex.get(r)!]! / sim.samples;
    };
    leakNomNw += conds.reduce((sum, l) => sum + l.value * probability(l.whenExpr!, duty), 0);
  });
  const leakageNw = leakNomNw * scale.leakagePower;
  const periodNs = 1000 / opts.clockMHz;
  const per = (x: number) => (intervals > 0 ? (x / intervals) * scale.dynamic : 0);
  const perOp = {
    internal: per(internal),
    switching: per(switching),
    inputSwitching: per(inputSwitching),
    clock: per(clock),
    leakage: leakageNw * periodNs * 1e-6,
  };
  const dynamic = perOp.internal + perOp.switching + perOp.inputSwitching + perOp.clock;
  const mw = (pj: number) => pj * opts.clockMHz * 1e-3;
  const criticalPathNs = ev.criticalPathNs * scale.delay;
  return {
    vdd,
    vnom,
    clockMHz: opts.clockMHz,
    vectors: sim.vectors,
    intervals,
    perOpPj: { ...perOp, dynamic, total: dynamic + perOp.leakage },
    powerMw: {
      internal: mw(perOp.internal),
      switching: mw(perOp.switching),
      inputSwitching: mw(perOp.inputSwitching),
      clock: mw(perOp.clock),
      leakage: leakageNw * 1e-6,
      total: mw(dynamic) + leakageNw * 1e-6,
    },
    leakageNw,
    criticalPathNs,
    maxClockMHz: criticalPathNs > 0 ? 1000 / criticalPathNs : Infinity,
    togglesPerOp: intervals > 0 ? toggles / intervals : 0,
    assumptions: {
      outputLoadPf: opts.outputLoadPf,
      inputSlewNs: opts.inputSlewNs,
      voltageModel: vm,
      scale: { dynamic: scale.dynamic, leakagePower: scale.leakagePower, delay: scale.delay },
      zeroDelay: true,
    },
  };
}
