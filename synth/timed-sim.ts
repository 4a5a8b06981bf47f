import { UserError } from '../core/errors.ts';
import { evalBoolExpr } from './boolexpr.ts';
import type { GateSimModel, GateSimResult, GateSimStimulus } from './gatesim.ts';
import { type LibCell, lookupLoadSlew, outputPins, type Table, type TimingArc } from './liberty.ts';
import { type ElectricalOptions, electricalView } from './static-timing.ts';

/**
 * Timed, event-driven gate-level simulation of a mapped netlist as a clocked circuit
 * (docs/vos.md, "Timed simulation"). Built on the zero-delay model (synth/gatesim.ts) for nets,
 * drivers and levelization.
 *
 * - Delay of a transition = the liberty NLDM table of the arc (cell_rise for a rising output,
 *   cell_fall for a falling one) at the load of the output net (static: fan-out pin
 *   capacitances, static-timing.ts) and the slew of the input transition that caused it; the
 *   transition carries its own slew (rise/fall_transition at the same point) to the next gates.
 *   Several timing groups for one pin pair: the largest value.
 * - Inertial delay: an output holds at most one pending transition. A re-evaluation that brings
 *   the output back to its current value cancels the pending one (the pulse is shorter than the
 *   gate delay and is swallowed); one that agrees with it keeps it.
 * - Inputs that change at the same instant are applied together and the gate evaluates once;
 *   the delay is the largest over the arcs of the inputs that changed (the last to arrive).
 * - Clocking: one window of `periodNs` per stream vector. At the window start the primary inputs
 *   change (slew `inputSlewNs`, i.e. OpenSTA's set_input_delay 0) and every flip-flop output
 *   changes to the value it captured, after its clock->Q delay (clock slew `inputSlewNs`). At the
 *   window end every flip-flop samples its D pin and every output port is sampled: whatever has
 *   not arrived by then is not captured. Transitions still in flight carry over into the next
 *   window. Setup and hold times are not modelled (ideal sampling at the edge).
 * - `delayScale` multiplies every delay: the voltage factor of synth/voltage.ts (slews stay at
 *   their nominal values), or 0 for zero-delay mode, which reproduces synth/gatesim.ts.
 *
 * Two implementations with the same semantics: `runTimedSimReference` (one global event queue,
 * plain objects) and `runTimedSim` (levelized: each gate in order merges its inputs' waveforms
 * of the window; typed arrays, no allocation in the loop). test/timed-sim.test.ts proves them
 * equal transition for transition.
 */
export interface TimedModel {
  gs: GateSimModel;
  /** Dense nets of gs plus two constant nets: nNets - 2 is constant 0, nNets - 1 constant 1. */
  nNets: number;
  /** Combinational outputs ("gates": one per cell output pin), in level order. */
  gOut: Int32Array;
  /** CSR: inputs of gate g are gIn[gInOff[g] .. gInOff[g + 1]). */
  gInOff: Int32Array;
  gIn: Int32Array;
  /** Truth table of gate g: bit `idx` = output for the input bits idx (bit j = input j). */
  gTT: Uint32Array;
  gLevel: Int32Array;
  /** Per gate input: delay/slew tables in input slew at the output's load (see Pwl). */
  arcs: Pwl[];
  /** gs.arcs index of each gate input (energy attribution), -1 when none. */
  arcRef: Int32Array;
  /** Timing sense of each gate input: 1 positive unate, -1 negative unate, 0 non-unate. */
  sense: Int8Array;
  /** Flip-flops: D net, Q / QN nets (-1 if unused), clock->Q delay and slew per output edge. */
  fD: Int32Array;
  fQ: Int32Array;
  fQN: Int32Array;
  fClkQ: { rise: number; fall: number; riseSlew: number; fallSlew: number }[];
  /** gs.arcs index of each flip-flop's clock arc on Q / QN (-1 if none). */
  fArcQ: Int32Array;
  fArcQN: Int32Array;
  /** Primary input bits (dense net, -1 unconnected/clock) in gs.inputBits order. */
  inNet: Int32Array;
  /** Output port bits in gs.outputBits order (dense net; constants as the constant nets). */
  outNet: Int32Array;
  /** Flip-flop D pins and output port bits: where data is captured. */
  endpoints: Int32Array;
  inputSlewNs: number;
  loadPf: Float64Array;
}

/**
 * Delay and output slew of one gate input's arcs as piecewise-linear functions of the input slew
 * at the output's fixed load: at a fixed load the bilinear NLDM lookup is linear between slew
 * axis points, so sampling every table at the union of their slew axes reproduces it.
 */
export interface Pwl {
  x: Float64Array;
  riseD: Float64Array;
  fallD: Float64Array;
  riseS: Float64Array;
  fallS: Float64Array;
}

const DATA_ARC = new Set(['combinational', 'combinational_rise', 'combinational_fall']);
const CLOCK_ARC = new Set(['rising_edge', 'falling_edge']);

function slewAxis(t: Table): number[] {
  const k = t.variables.findIndex((v) => /transition|time/.test(v));
  return k >= 0 ? t.index[k]! : [];
}

function buildPwl(arcs: TimingArc[], loadPf: number): Pwl {
  const tables = arcs.flatMap((a) => [a.cellRise, a.cellFall, a.riseTransition, a.fallTransition]).filter((t): t is Table => t !== undefined);
  const xs = [...new Set(tables.flatMap(slewAxis))].sort((a, b) => a - b);
  if (xs.length === 0) xs.push(0);
  if (xs.length === 1) xs.push(xs[0]! + 1);
  const at = (pick: (a: TimingArc) => Table | undefined, s: number) => {
    let v = 0;
    for (const a of arcs) {
      const t = pick(a);
      if (t) v = Math.max(v, lookupLoadSlew(t, loadPf, s));
    }
    return v;
  };
  const f = (pick: (a: TimingArc) => Table | undefined) => Float64Array.from(xs, (s) => at(pick, s));
  return {
    x: Float64Array.from(xs),
    riseD: f((a) => a.cellRise),
    fallD: f((a) => a.cellFall),
    riseS: f((a) => a.riseTransition),
    fallS: f((a) => a.fallTransition),
  };
}

/** Linear interpolation on (x, y), extrapolating the end segments (as the liberty lookup does). */
export function pwlAt(x: Float64Array, y: Float64Array, s: number): number {
  const n = x.length;
  let i = 0;
  while (i < n - 2 && s > x[i + 1]!) i++;
  const x0 = x[i]!;
  const x1 = x[i + 1]!;
  return y[i]! + ((s - x0) / (x1 - x0)) * (y[i + 1]! - y[i]!);
}

/**
 * The least non-decreasing function above the table for slews >= 0: max of its value at 0, at
 * every axis point up to `s`, and at `s`. Liberty tables are not always monotone in slew
 * (osu018's AND2X1 cell_rise falls at the largest slews), so the static bound uses this envelope.
 */
export function pwlEnvelopeAt(x: Float64Array, y: Float64Array, s: number): number {
  let v = Math.max(pwlAt(x, y, 0), pwlAt(x, y, s));
  for (let i = 0; i < x.length && x[i]! <= s; i++) if (x[i]! >= 0) v = Math.max(v, y[i]!);
  return v;
}

export function buildTimedModel(gs: GateSimModel, opts: ElectricalOptions): TimedModel {
  const { netlist, lib, netIndex } = gs;
  const ev = electricalView(gs, opts);
  const nn = gs.netIds.length;
  const C0 = nn;
  const C1 = nn + 1;
  const cells = netlist.cells.map((c) => lib.cells.get(c.type)!);
  const netOf = (ci: number, pin: string): number => {
    const r = netlist.cells[ci]!.conns[pin];
    if (r === undefined || r === '0') return C0;
    if (r === '1') return C1;
    return netIndex.get(r)!;
  };
  const arcIndex = new Map<string, number>();
  gs.arcs.forEach((a, k) => {
    arcIndex.set(`${a.cell}/${a.outPin}/${a.inPin}`, k);
  });

  // Levels: inputs, constants and flip-flop outputs 0; a gate one above its latest input.
  const level = new Int32Array(nn + 2);
  const gOut: number[] = [];
  const gInOff: number[] = [0];
  const gIn: number[] = [];
  const gTT: number[] = [];
  const gLevel: number[] = [];
  const arcs: Pwl[] = [];
  const arcRef: number[] = [];
  const sense: number[] = [];
  for (const ci of gs.order) {
    const lc = cells[ci]!;
    for (const op of outputPins(lc)) {
      const out = netlist.cells[ci]!.conns[op.name];
      if (typeof out !== 'number') continue;
      const o = netIndex.get(out)!;
      const pins = [...lc.pins.values()].filter((p) => p.direction === 'input').map((p) => p.name);
      if (pins.length > 5) throw new UserError(`timed-sim: ${lc.name} has ${pins.length} inputs (at most 5 supported)`);
      let tt = 0;
      for (let idx = 0; idx < 1 << pins.length; idx++) {
        const val = evalBoolExpr(op.functionExpr!, (name) => {
          const j = pins.indexOf(name);
          if (j < 0) throw new UserError(`timed-sim: ${lc.name}.${op.name} function uses unknown name ${name}`);
          return (idx >>> j) & 1;
        });
        if (val) tt |= 1 << idx;
      }
      let lv = 0;
      pins.forEach((pin) => {
        const n = netOf(ci, pin);
        gIn.push(n);
        lv = Math.max(lv, level[n]!);
        const timing = op.timing.filter((a) => a.relatedPin === pin && DATA_ARC.has(a.timingType));
        arcs.push(buildPwl(timing, ev.loadPf[o]!));
        arcRef.push(arcIndex.get(`${ci}/${op.name}/${pin}`) ?? -1);
        const senses = new Set(timing.map((a) => a.timingSense));
        sense.push(senses.size === 1 && senses.has('positive_unate') ? 1 : senses.size === 1 && senses.has('negative_unate') ? -1 : 0);
      });
      level[o] = lv + 1;
      gOut.push(o);
      gInOff.push(gIn.length);
      gTT.push(tt >>> 0);
      gLevel.push(lv + 1);
    }
  }
  const fD: number[] = [];
  const fQ: number[] = [];
  const fQN: number[] = [];
  const fClkQ: TimedModel['fClkQ'] = [];
  const fArcQ: number[] = [];
  const fArcQN: number[] = [];
  netlist.cells.forEach((c, ci) => {
    const lc: LibCell = cells[ci]!;
    const s = lc.sequential;
    if (!s) return;
    const vars = [...lc.pins.values()].filter((p) => p.direction === 'input' && !p.clock).map((p) => p.name);
    if (s.next.op !== 'var' || !vars.includes(s.next.name))
      throw new UserError(`timed-sim: flip-flop ${lc.name} next_state must be one data pin (got a function); not supported`);
    fD.push(netOf(ci, s.next.name));
    let q = -1;
    let qn = -1;
    let clkq = { rise: 0, fall: 0, riseSlew: opts.inputSlewNs, fallSlew: opts.inputSlewNs };
    for (const op of outputPins(lc)) {
      const r = c.conns[op.name];
      if (typeof r !== 'number') continue;
      const e = op.functionExpr;
      const n = netIndex.get(r)!;
      const isQ = e?.op === 'var' && e.name === s.iq;
      const isQN = (e?.op === 'var' && e.name === s.iqn) || (e?.op === 'not' && e.a.op === 'var' && e.a.name === s.iq);
      if (!isQ && !isQN) throw new UserError(`timed-sim: ${lc.name}.${op.name} is not the state or its inverse`);
      const timing = op.timing.filter((a) => CLOCK_ARC.has(a.timingType));
      const p = buildPwl(timing, ev.loadPf[n]!);
      const d = {
        rise: pwlAt(p.x, p.riseD, opts.inputSlewNs),
        fall: pwlAt(p.x, p.fallD, opts.inputSlewNs),
        riseSlew: pwlAt(p.x, p.riseS, opts.inputSlewNs),
        fallSlew: pwlAt(p.x, p.fallS, opts.inputSlewNs),
      };
      // Q and QN of one flip-flop: the worse of the two arcs for both (one delay per flop).
      clkq = { rise: Math.max(clkq.rise, d.rise), fall: Math.max(clkq.fall, d.fall), riseSlew: d.riseSlew, fallSlew: d.fallSlew };
      const clockPin = timing[0]?.relatedPin ?? '';
      const k = arcIndex.get(`${ci}/${op.name}/${clockPin}`) ?? -1;
      if (isQ) {
        q = n;
        fArcQ.push(k);
      } else {
        qn = n;
        fArcQN.push(k);
      }
    }
    if (q < 0) fArcQ.push(-1);
    if (qn < 0) fArcQN.push(-1);
    fQ.push(q);
    fQN.push(qn);
    fClkQ.push(clkq);
  });
  const inNet = Int32Array.from(gs.inputBits, (b) => (typeof b.net === 'number' && b.net >= 0 && !gs.clockPorts.includes(b.port) ? b.net : -1));
  const outNet = Int32Array.from(gs.outputBits, (o) => (typeof o.net === 'number' ? netIndex.get(o.net)! : o.net === '1' ? C1 : C0));
  const endpoints = Int32Array.from(new Set([...fD, ...outNet].filter((n) => n < nn)));
  const loadPf = new Float64Array(nn + 2);
  loadPf.set(ev.loadPf);
  return {
    gs,
    nNets: nn + 2,
    gOut: Int32Array.from(gOut),
    gInOff: Int32Array.from(gInOff),
    gIn: Int32Array.from(gIn),
    gTT: Uint32Array.from(gTT),
    gLevel: Int32Array.from(gLevel),
    arcs,
    arcRef: Int32Array.from(arcRef),
    sense: Int8Array.from(sense),
    fD: Int32Array.from(fD),
    fQ: Int32Array.from(fQ),
    fQN: Int32Array.from(fQN),
    fClkQ,
    fArcQ: Int32Array.from(fArcQ),
    fArcQN: Int32Array.from(fArcQN),
    inNet,
    outNet,
    endpoints,
    inputSlewNs: opts.inputSlewNs,
    loadPf,
  };
}

/**
 * Static bound on every transition time of the timed simulation (the critical path it can see),
 * STA-style per edge: per net the latest rise and fall arrival and the largest rise and fall slew,
 * an output edge fed by the input edges its timing sense allows (both for non-unate arcs), with
 * the same tables and the same arithmetic as the simulator, each table replaced by its
 * non-decreasing envelope in slew (pwlEnvelopeAt). The simulator times an output edge by an input
 * edge its sense allows, at a slew no larger than the bound's, so no simulated transition of a
 * window that starts settled is later than this: a period >= the bound at a voltage captures
 * every value correctly (the soundness test).
 */
export function timingBound(m: TimedModel, delayScale = 1): { criticalPathNs: number; end: number; arrivalNs: Float64Array; slewNs: Float64Array } {
  const N = m.nNets;
  const aR = new Float64Array(N);
  const aF = new Float64Array(N);
  const sR = new Float64Array(N).fill(m.inputSlewNs);
  const sF = new Float64Array(N).fill(m.inputSlewNs);
  for (let f = 0; f < m.fD.length; f++) {
    const d = m.fClkQ[f]!;
    for (const q of [m.fQ[f]!, m.fQN[f]!]) {
      if (q < 0) continue;
      aR[q] = d.rise * delayScale;
      aF[q] = d.fall * delayScale;
      sR[q] = d.riseSlew;
      sF[q] = d.fallSlew;
    }
  }
  for (let g = 0; g < m.gOut.length; g++) {
    const o = m.gOut[g]!;
    let ar = 0;
    let af = 0;
    let sr = 0;
    let sf = 0;
    for (let k = m.gInOff[g]!; k < m.gInOff[g + 1]!; k++) {
      const i = m.gIn[k]!;
      const p = m.arcs[k]!;
      const sense = m.sense[k]!;
      // Input edges that can cause an output rise: its own rise (positive), fall (negative), both.
      const edges: [number, number, boolean][] = [
        [aR[i]!, sR[i]!, sense >= 0],
        [aF[i]!, sF[i]!, sense <= 0],
      ];
      for (const [a, sl, toRise] of edges) {
        if (toRise) {
          ar = Math.max(ar, a + pwlEnvelopeAt(p.x, p.riseD, sl) * delayScale);
          sr = Math.max(sr, pwlEnvelopeAt(p.x, p.riseS, sl));
        }
      }
      const edgesF: [number, number, boolean][] = [
        [aR[i]!, sR[i]!, sense <= 0],
        [aF[i]!, sF[i]!, sense >= 0],
      ];
      for (const [a, sl, toFall] of edgesF) {
        if (toFall) {
          af = Math.max(af, a + pwlEnvelopeAt(p.x, p.fallD, sl) * delayScale);
          sf = Math.max(sf, pwlEnvelopeAt(p.x, p.fallS, sl));
        }
      }
    }
    aR[o] = ar;
    aF[o] = af;
    sR[o] = sr || m.inputSlewNs;
    sF[o] = sf || m.inputSlewNs;
  }
  const arr = new Float64Array(N);
  const slewNs = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    arr[i] = Math.max(aR[i]!, aF[i]!);
    slewNs[i] = Math.max(sR[i]!, sF[i]!);
  }
  let criticalPathNs = 0;
  let end = -1;
  for (const e of m.endpoints)
    if (arr[e]! > criticalPathNs) {
      criticalPathNs = arr[e]!;
      end = e;
    }
  return { criticalPathNs, end, arrivalNs: arr, slewNs };
}

/**
 * The arc that times an output transition to `x` among the inputs that changed together: the
 * slowest among those whose edge the arc's timing sense allows (an output of a unate gate only
 * moves that way when such an input moved), else the slowest of all.
 */
function compatible(sense: number, inBit: number, x: number): boolean {
  return sense === 0 || (sense > 0 ? inBit === x : inBit !== x);
}

export interface TimedOptions {
  /** Clock period (ns): the window per vector. */
  periodNs: number;
  /** Multiplies every delay (voltage factor; 0 = zero-delay). Default 1. */
  delayScale?: number;
}

export interface TimedResult extends GateSimResult {
  /** Output port values per vector, sampled at each window's end. */
  outputs: Record<string, Float64Array>;
  /** Transitions (all nets, glitches included) in counted windows. */
  transitions: number;
  /** Windows that ended with transitions still in flight (the circuit had not settled). */
  unsettled: number;
}

/** 0/1 per (input bit, vector): bits[k * n + v]. */
export function stimulusBits(m: TimedModel, stim: GateSimStimulus): Uint8Array {
  const n = stim.n;
  const bits = new Uint8Array(m.inNet.length * n);
  m.gs.inputBits.forEach((b, k) => {
    if (m.inNet[k]! < 0) return;
    const src = stim.ports[b.port];
    if (!src) throw new UserError(`timed-sim: no stimulus for input port ${b.port}`);
    const len = 'words' in src ? Math.floor(src.data.length / src.words) : src.length;
    if (len < n) throw new UserError(`timed-sim: stimulus for ${b.port} has ${len} values, need ${n}`);
    const row = bits.subarray(k * n, (k + 1) * n);
    if ('words' in src) {
      const { data, words } = src;
      const w = b.bit >>> 5;
      const sh = b.bit & 31;
      for (let v = 0; v < n; v++) row[v] = (data[v * words + w]! >>> sh) & 1;
    } else if (b.bit < 32) for (let v = 0; v < n; v++) row[v] = (src[v]! >>> b.bit) & 1;
  });
  return bits;
}

function gateValue(m: TimedModel, g: number, val: Uint8Array): number {
  let idx = 0;
  const base = m.gInOff[g]!;
  for (let k = base; k < m.gInOff[g + 1]!; k++) idx |= val[m.gIn[k]!]! << (k - base);
  return (m.gTT[g]! >>> idx) & 1;
}

/** Vector 0: every net settled from the inputs and the all-zero flip-flop state (as gatesim starts). */
export function settle(m: TimedModel, bits: Uint8Array, n: number, val: Uint8Array): void {
  val.fill(0);
  val[m.nNets - 1] = 1;
  m.inNet.forEach((net, k) => {
    if (net >= 0) val[net] = bits[k * n]!;
  });
  for (let f = 0; f < m.fD.length; f++) if (m.fQN[f]! >= 0) val[m.fQN[f]!] = 1;
  for (let g = 0; g < m.gOut.length; g++) val[m.gOut[g]!] = gateValue(m, g, val);
}

export function newResult(m: TimedModel, n: number): TimedResult {
  const nn = m.gs.netIds.length;
  const outputs: Record<string, Float64Array> = {};
  for (const o of m.gs.outputBits) outputs[o.port] ??= new Float64Array(n);
  return {
    vectors: n,
    intervals: n - 1,
    rise: new Float64Array(nn),
    fall: new Float64Array(nn),
    ones: new Float64Array(nn),
    samples: n,
    arcRise: new Float64Array(m.gs.arcs.length),
    arcFall: new Float64Array(m.gs.arcs.length),
    outputs,
    transitions: 0,
    unsettled: 0,
  };
}

function sample(m: TimedModel, r: TimedResult, val: Uint8Array, v: number): void {
  const nn = m.gs.netIds.length;
  for (let i = 0; i < nn; i++) r.ones[i] = r.ones[i]! + val[i]!;
  m.gs.outputBits.forEach((o, k) => {
    if (val[m.outNet[k]!]) r.outputs[o.port]![v] = r.outputs[o.port]![v]! + 2 ** o.bit;
  });
}

export function checkRun(n: number, o: TimedOptions): number {
  if (n < 2) throw new UserError('timed-sim: need at least 2 vectors');
  if (!(o.periodNs > 0)) throw new UserError(`timed-sim: clock period must be > 0 ns, got ${o.periodNs}`);
  const k = o.delayScale ?? 1;
  if (!(k >= 0)) throw new UserError(`timed-sim: delay scale must be >= 0, got ${k}`);
  return k;
}

/** What both simulators start from: checked options, the stimulus bits and the settled first vector (sampled). */
function startRun(m: TimedModel, stim: GateSimStimulus, o: TimedOptions) {
  const n = stim.n;
  const k = checkRun(n, o);
  const bits = stimulusBits(m, stim);
  const N = m.nNets;
  const r = newResult(m, n);
  const val = new Uint8Array(N);
  settle(m, bits, n, val);
  sample(m, r, val, 0);
  return { n, k, T: o.periodNs, bits, N, nn: m.gs.netIds.length, r, val };
}

/**
 * The fast simulator: per window, gates in level order; each merges the transitions its inputs
 * made in the window (already final: inputs come from lower levels) and emits its own.
 */
export function runTimedSim(m: TimedModel, stim: GateSimStimulus, o: TimedOptions): TimedResult {
  const { n, k, T, bits, N, nn, r, val } = startRun(m, stim, o);
  const startV = new Uint8Array(N);
  const lastS = new Float64Array(N).fill(m.inputSlewNs);
  let cap = 16;
  let wT = new Float64Array(N * cap);
  let wV = new Uint8Array(N * cap);
  let wS = new Float64Array(N * cap);
  const wN = new Int32Array(N);
  const pH = new Uint8Array(N);
  const pT = new Float64Array(N);
  const pV = new Uint8Array(N);
  const pS = new Float64Array(N);
  const pA = new Int32Array(N).fill(-1);
  const qNext = new Uint8Array(m.fD.length);
  const { gOut, gInOff, gIn, gTT, arcs, arcRef, sense, fD, fQ, fQN, fClkQ, fArcQ, fArcQN, inNet } = m;
  const rise = r.rise;
  const fall = r.fall;
  const arcRise = r.arcRise;
  const arcFall = r.arcFall;
  let transitions = 0;
  const grow = () => {
    const c2 = cap * 2;
    const t2 = new Float64Array(N * c2);
    const v2 = new Uint8Array(N * c2);
    const s2 = new Float64Array(N * c2);
    for (let i = 0; i < N; i++) {
      t2.set(wT.subarray(i * cap, i * cap + wN[i]!), i * c2);
      v2.set(wV.subarray(i * cap, i * cap + wN[i]!), i * c2);
      s2.set(wS.subarray(i * cap, i * cap + wN[i]!), i * c2);
    }
    wT = t2;
    wV = v2;
    wS = s2;
    cap = c2;
  };
  const emit = (net: number, t: number, v: number, s: number, arc: number) => {
    if (wN[net]! >= cap) grow();
    const p = net * cap + wN[net]!;
    wT[p] = t;
    wV[p] = v;
    wS[p] = s;
    wN[net]!++;
    val[net] = v;
    lastS[net] = s;
    if (net < nn) {
      transitions++;
      if (v) {
        rise[net]!++;
        if (arc >= 0) arcRise[arc]!++;
      } else {
        fall[net]!++;
        if (arc >= 0) arcFall[arc]!++;
      }
    }
  };
  const fire = (o2: number) => {
    pH[o2] = 0;
    emit(o2, pT[o2]!, pV[o2]!, pS[o2]!, pA[o2]!);
  };
  const ptr = new Int32Array(8);
  const sj = new Float64Array(8);
  for (let f = 0; f < fD.length; f++) qNext[f] = val[fD[f]!]!;
  for (let v = 1; v < n; v++) {
    startV.set(val);
    wN.fill(0);
    for (let i = 0; i < inNet.length; i++) {
      const net = inNet[i]!;
      if (net < 0) continue;
      const x = bits[i * n + v]!;
      if (x !== val[net]) emit(net, 0, x, m.inputSlewNs, -1);
    }
    for (let f = 0; f < fD.length; f++) {
      const q = qNext[f]!;
      const d = fClkQ[f]!;
      if (fQ[f]! >= 0 && val[fQ[f]!] !== q) emit(fQ[f]!, (q ? d.rise : d.fall) * k, q, q ? d.riseSlew : d.fallSlew, fArcQ[f]!);
      const qn = q ^ 1;
      if (fQN[f]! >= 0 && val[fQN[f]!] !== qn) emit(fQN[f]!, (qn ? d.rise : d.fall) * k, qn, qn ? d.riseSlew : d.fallSlew, fArcQN[f]!);
    }
    for (let g = 0; g < gOut.length; g++) {
      const out = gOut[g]!;
      const b0 = gInOff[g]!;
      const nIn = gInOff[g + 1]! - b0;
      let tot = 0;
      for (let j = 0; j < nIn; j++) tot += wN[gIn[b0 + j]!]!;
      if (tot === 0) {
        if (pH[out] && pT[out]! <= T) fire(out);
        continue;
      }
      let idx = 0;
      for (let j = 0; j < nIn; j++) {
        idx |= startV[gIn[b0 + j]!]! << j;
        ptr[j] = 0;
      }
      const tt = gTT[g]!;
      for (;;) {
        let tau = Number.POSITIVE_INFINITY;
        for (let j = 0; j < nIn; j++) {
          const i = gIn[b0 + j]!;
          if (ptr[j]! < wN[i]!) {
            const t = wT[i * cap + ptr[j]!]!;
            if (t < tau) tau = t;
          }
        }
        if (tau === Number.POSITIVE_INFINITY) break;
        if (pH[out] && pT[out]! <= tau) fire(out);
        let changed = 0;
        for (let j = 0; j < nIn; j++) {
          const i = gIn[b0 + j]!;
          while (ptr[j]! < wN[i]! && wT[i * cap + ptr[j]!] === tau) {
            const p = i * cap + ptr[j]!;
            idx = (idx & ~(1 << j)) | (wV[p]! << j);
            sj[j] = wS[p]!;
            changed |= 1 << j;
            ptr[j]!++;
          }
        }
        const x = (tt >>> idx) & 1;
        if (pH[out]) {
          if (x !== pV[out]) pH[out] = 0;
        } else if (x !== val[out]) {
          let d = -1;
          let s = 0;
          let arc = -1;
          for (let pass = 0; pass < 2 && d < 0; pass++)
            for (let j = 0; j < nIn; j++) {
              if (!((changed >>> j) & 1)) continue;
              if (pass === 0 && !compatible(sense[b0 + j]!, (idx >>> j) & 1, x)) continue;
              const p = arcs[b0 + j]!;
              const dj = pwlAt(p.x, x ? p.riseD : p.fallD, sj[j]!);
              if (dj > d) {
                d = dj;
                s = pwlAt(p.x, x ? p.riseS : p.fallS, sj[j]!);
                arc = arcRef[b0 + j]!;
              }
            }
          pH[out] = 1;
          pT[out] = tau + d * k;
          pV[out] = x;
          pS[out] = s;
          pA[out] = arc;
        }
      }
      if (pH[out] && pT[out]! <= T) fire(out);
    }
    for (let f = 0; f < fD.length; f++) qNext[f] = val[fD[f]!]!;
    let pending = false;
    for (let i = 0; i < N; i++)
      if (pH[i]) {
        pT[i] = pT[i]! - T;
        pending = true;
      }
    if (pending) r.unsettled++;
    sample(m, r, val, v);
  }
  r.transitions = transitions;
  return r;
}

/** The reference: one event queue ordered by (time, level, net change before evaluation). */
export function runTimedSimReference(m: TimedModel, stim: GateSimStimulus, o: TimedOptions): TimedResult {
  const { n, k, T, bits, N, nn, r, val } = startRun(m, stim, o);
  // Fan-out: (gate, input position) per net; driver gate per net.
  const fanout: [number, number][][] = Array.from({ length: N }, () => []);
  const gateOf = new Int32Array(N).fill(-1);
  for (let g = 0; g < m.gOut.length; g++) {
    gateOf[m.gOut[g]!] = g;
    for (let q = m.gInOff[g]!; q < m.gInOff[g + 1]!; q++) fanout[m.gIn[q]!]!.push([g, q - m.gInOff[g]!]);
  }
  type Ev = { t: number; level: number; kind: 0 | 1; net: number; gate: number; v: number; s: number; arc: number; live: boolean };
  const heap: Ev[] = [];
  const less = (a: Ev, b: Ev) => a.t < b.t || (a.t === b.t && (a.level < b.level || (a.level === b.level && a.kind < b.kind)));
  const push = (e: Ev) => {
    heap.push(e);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const pop = (): Ev => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const rr = l + 1;
        let s = i;
        if (l < heap.length && less(heap[l]!, heap[s]!)) s = l;
        if (rr < heap.length && less(heap[rr]!, heap[s]!)) s = rr;
        if (s === i) break;
        [heap[i], heap[s]] = [heap[s]!, heap[i]!];
        i = s;
      }
    }
    return top;
  };
  const pending: (Ev | null)[] = new Array(N).fill(null);
  const lastT = new Float64Array(N).fill(Number.NaN);
  const lastS = new Float64Array(N).fill(m.inputSlewNs);
  const evalAt = new Float64Array(m.gOut.length).fill(Number.NaN);
  let transitions = 0;
  const change = (net: number, t: number, v: number, s: number, arc: number) => {
    val[net] = v;
    lastT[net] = t;
    lastS[net] = s;
    if (net < nn) {
      transitions++;
      if (v) {
        r.rise[net]!++;
        if (arc >= 0) r.arcRise[arc]!++;
      } else {
        r.fall[net]!++;
        if (arc >= 0) r.arcFall[arc]!++;
      }
    }
    for (const [g] of fanout[net]!) {
      if (evalAt[g] === t) continue;
      evalAt[g] = t;
      push({ t, level: m.gLevel[g]!, kind: 1, net: -1, gate: g, v: 0, s: 0, arc: -1, live: true });
    }
  };
  const evaluate = (g: number, t: number) => {
    const out = m.gOut[g]!;
    const x = gateValue(m, g, val);
    const p = pending[out];
    if (p) {
      if (x !== p.v) {
        p.live = false;
        pending[out] = null;
      }
      return;
    }
    if (x === val[out]) return;
    let d = -1;
    let s = 0;
    let arc = -1;
    const b0 = m.gInOff[g]!;
    for (let pass = 0; pass < 2 && d < 0; pass++)
      for (let q = b0; q < m.gInOff[g + 1]!; q++) {
        const i = m.gIn[q]!;
        if (lastT[i] !== t) continue;
        if (pass === 0 && !compatible(m.sense[q]!, val[i]!, x)) continue;
        const pw = m.arcs[q]!;
        const dj = pwlAt(pw.x, x ? pw.riseD : pw.fallD, lastS[i]!);
        if (dj > d) {
          d = dj;
          s = pwlAt(pw.x, x ? pw.riseS : pw.fallS, lastS[i]!);
          arc = m.arcRef[q]!;
        }
      }
    const e: Ev = { t: t + d * k, level: m.gLevel[g]!, kind: 0, net: out, gate: g, v: x, s, arc, live: true };
    pending[out] = e;
    push(e);
  };
  let qNext = Array.from(m.fD, (d) => val[d]!);
  for (let v = 1; v < n; v++) {
    lastT.fill(Number.NaN);
    evalAt.fill(Number.NaN);
    m.inNet.forEach((net, i) => {
      if (net >= 0 && bits[i * n + v] !== val[net])
        push({ t: 0, level: 0, kind: 0, net, gate: -1, v: bits[i * n + v]!, s: m.inputSlewNs, arc: -1, live: true });
    });
    qNext.forEach((q, f) => {
      const d = m.fClkQ[f]!;
      const launch = (net: number, x: number, arc: number) => {
        if (net >= 0 && val[net] !== x)
          push({ t: (x ? d.rise : d.fall) * k, level: 0, kind: 0, net, gate: -1, v: x, s: x ? d.riseSlew : d.fallSlew, arc, live: true });
      };
      launch(m.fQ[f]!, q, m.fArcQ[f]!);
      launch(m.fQN[f]!, q ^ 1, m.fArcQN[f]!);
    });
    while (heap.length && heap[0]!.t <= T) {
      const e = pop();
      if (!e.live) continue;
      if (e.kind === 1) evaluate(e.gate, e.t);
      else {
        if (e.gate >= 0) pending[e.net] = null;
        change(e.net, e.t, e.v, e.s, e.arc);
      }
    }
    qNext = Array.from(m.fD, (d) => val[d]!);
    // What is still in flight moves into the next window.
    const carry = heap.splice(0).filter((e) => e.live);
    if (carry.length) r.unsettled++;
    for (const e of carry) {
      e.t -= T;
      push(e);
    }
    sample(m, r, val, v);
  }
  r.transitions = transitions;
  return r;
}
