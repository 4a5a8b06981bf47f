import { UserError } from '../core/errors.ts';
import { type BoolExpr, exprVars, wordExprSource } from './boolexpr.ts';
import { type LibCell, type Library, outputPins } from './liberty.ts';
import type { MappedNetlist, NetRef } from './mapped-netlist.ts';

/**
 * Zero-delay, bit-parallel gate-level simulator of a mapped netlist.
 *
 * Cell behaviour comes from the liberty `function` strings, flip-flops from `ff` groups (one
 * simulation step = one clock cycle; the clock is ideal). 32 lanes per 32-bit word: the input
 * stream of N vectors is cut into 32 consecutive segments, lane j simulates segment j in order,
 * so consecutive vectors are consecutive cycles and every counted transition is a real one.
 * Step 0 of each lane has no predecessor and is not counted (31 of N-1 stream transitions, and
 * for sequential logic the lane starts from the all-zero reset state). Streams shorter than
 * 2048 vectors use floor(N/64) lanes (at least one).
 *
 * Zero-delay means no glitches: a net toggles at most once per cycle. Real gates glitch in
 * reconvergent logic (multipliers especially), so dynamic energy is a lower bound of that kind.
 *
 * The whole netlist is compiled once into one JS function (levelized straight-line code).
 */
export interface GateSimModel {
  netlist: MappedNetlist;
  lib: Library;
  /** Dense net index for every Yosys net id that appears. */
  netIndex: Map<number, number>;
  netIds: number[];
  /** Driver of each dense net: primary input, cell output pin, or state (ff). */
  drivers: NetDriver[];
  /** Cells in evaluation order (combinational, levelized). */
  order: number[];
  /** Input arcs whose toggles are counted jointly with the output (per output net). */
  arcs: ArcRef[];
  inputBits: { port: string; bit: number; net: number | NetRef }[];
  outputBits: { port: string; bit: number; net: NetRef }[];
  clockPorts: string[];
  sequentialCells: number;
  run: CompiledRun;
}

export type NetDriver = { kind: 'input'; port: string; bit: number } | { kind: 'cell'; cell: number; pin: string } | { kind: 'none' };

export interface ArcRef {
  /** Output net (dense index) and the cell/pin that drives it. */
  outNet: number;
  cell: number;
  outPin: string;
  /** Related input pin and its net (dense index; -1 for a constant or the ideal clock). */
  inPin: string;
  inNet: number;
  /** True when the related pin is a clock: it "toggles" every cycle. */
  clock: boolean;
}

type CompiledRun = (
  inp: Int32Array,
  steps: number,
  lanesValid: Int32Array,
  cnt: Float64Array,
  arcCnt: Float64Array,
  ones: Float64Array,
  out: Int32Array | null,
) => void;

export interface GateSimStimulus {
  /** Number of vectors (cycles). */
  n: number;
  /**
   * Value per vector for each input port (bit i of the value drives bit i of the port); a port
   * wider than 32 bits gives `words` 32-bit words per vector, least significant word first.
   */
  ports: Record<string, Uint32Array | Uint8Array | Uint16Array | WidePortStimulus>;
}

export interface WidePortStimulus {
  words: number;
  data: Uint32Array;
}

/** Bit `bit` of vector `v` of a port stimulus. */
function stimulusBit(src: GateSimStimulus['ports'][string], v: number, bit: number): number {
  if ('words' in src) return (src.data[v * src.words + (bit >>> 5)]! >>> (bit & 31)) & 1;
  return bit < 32 ? (src[v]! >>> bit) & 1 : 0;
}

function stimulusLength(src: GateSimStimulus['ports'][string]): number {
  return 'words' in src ? Math.floor(src.data.length / src.words) : src.length;
}

export interface GateSimResult {
  vectors: number;
  /** Counted transitions intervals (vectors minus one per lane). */
  intervals: number;
  /** Per dense net: rise and fall counts. */
  rise: Float64Array;
  fall: Float64Array;
  /** Per dense net: number of (lane, step) samples where the net was 1, over `samples`. */
  ones: Float64Array;
  samples: number;
  /** Per arc (model.arcs order): output rises / falls in cycles where the related input toggled. */
  arcRise: Float64Array;
  arcFall: Float64Array;
  /** Output port values per vector, if requested. */
  outputs?: Record<string, Float64Array>;
}

const LANES = 32;

export function buildGateSim(netlist: MappedNetlist, lib: Library): GateSimModel {
  const netIndex = new Map<number, number>();
  const netIds: number[] = [];
  const dense = (r: NetRef): number => {
    if (typeof r !== 'number') return -1;
    let i = netIndex.get(r);
    if (i === undefined) {
      i = netIds.length;
      netIndex.set(r, i);
      netIds.push(r);
    }
    return i;
  };
  const drivers: NetDriver[] = [];
  const setDriver = (net: number, d: NetDriver, what: string) => {
    if (net < 0) return;
    const prev = drivers[net];
    if (prev && prev.kind !== 'none') throw new UserError(`netlist ${netlist.top}: net ${netName(netlist, netIds[net]!)} has two drivers (${what})`);
    drivers[net] = d;
  };
  const inputBits: GateSimModel['inputBits'] = [];
  const outputBits: GateSimModel['outputBits'] = [];
  for (const p of netlist.ports) {
    if (p.direction === 'inout') throw new UserError(`gatesim: inout port ${p.name} not supported`);
    p.bits.forEach((b, i) => {
      if (p.direction === 'input') {
        const n = dense(b);
        inputBits.push({ port: p.name, bit: i, net: n });
        setDriver(n, { kind: 'input', port: p.name, bit: i }, `input ${p.name}[${i}]`);
      } else outputBits.push({ port: p.name, bit: i, net: b });
    });
  }
  const cells = netlist.cells.map((c) => {
    const lc = lib.cells.get(c.type);
    if (!lc) throw new UserError(`netlist ${netlist.top}: cell type ${c.type} is not in liberty ${lib.file}`);
    return lc;
  });
  const clockPins = (lc: LibCell) => {
    const s = lc.sequential;
    return s ? [...exprVars(s.clock)] : [];
  };
  let sequentialCells = 0;
  const clockNets = new Set<number>();
  netlist.cells.forEach((c, ci) => {
    const lc = cells[ci]!;
    if (lc.sequential?.kind === 'latch') throw new UserError(`gatesim: latch ${c.name} (${lc.name}) is not supported (flip-flops only)`);
    if (lc.sequential) {
      sequentialCells++;
      for (const pin of clockPins(lc)) {
        const r = c.conns[pin];
        if (r !== undefined) clockNets.add(dense(r));
      }
    }
    for (const op of outputPins(lc)) {
      if (op.threeState) throw new UserError(`gatesim: tri-state cell ${c.name} (${lc.name}) is not supported`);
      const r = c.conns[op.name];
      if (r === undefined) continue;
      if (!op.functionExpr) throw new UserError(`gatesim: ${lc.name}.${op.name} has no function in ${lib.file}`);
      setDriver(dense(r), { kind: 'cell', cell: ci, pin: op.name }, `${c.name}.${op.name}`);
    }
    for (const [pin, r] of Object.entries(c.conns)) {
      const lp = lc.pins.get(pin);
      if (lp && lp.direction === 'input') dense(r);
    }
  });
  for (const o of outputBits) dense(o.net);
  for (let i = 0; i < netIds.length; i++) if (!drivers[i]) drivers[i] = { kind: 'none' };
  const clockPorts = [...new Set(inputBits.filter((b) => typeof b.net === 'number' && clockNets.has(b.net)).map((b) => b.port))];
  for (const n of clockNets) {
    const d = drivers[n];
    if (d?.kind !== 'input')
      throw new UserError(`gatesim: flip-flop clock net ${netName(netlist, netIds[n]!)} is not driven by a primary input (gated/derived clocks not supported)`);
  }

  // Levelize the combinational cells: a cell is ready once all its input nets are known.
  // Flip-flop outputs are known at the start of a cycle (they come from state).
  const known = new Uint8Array(netIds.length);
  drivers.forEach((d, i) => {
    if (d.kind === 'input' || d.kind === 'none') known[i] = 1;
    if (d.kind === 'cell' && cells[d.cell]!.sequential) known[i] = 1;
  });
  const comb = netlist.cells.map((_, i) => i).filter((i) => !cells[i]!.sequential);
  const users = new Map<number, number[]>();
  const pending = new Map<number, number>();
  for (const ci of comb) {
    const c = netlist.cells[ci]!;
    const lc = cells[ci]!;
    let need = 0;
    for (const [pin, r] of Object.entries(c.conns)) {
      if (lc.pins.get(pin)?.direction !== 'input' || typeof r !== 'number') continue;
      const n = netIndex.get(r)!;
      if (known[n]) continue;
      need++;
      const u = users.get(n);
      if (u) u.push(ci);
      else users.set(n, [ci]);
    }
    pending.set(ci, need);
  }
  const order: number[] = [];
  const queue = comb.filter((ci) => pending.get(ci) === 0);
  while (queue.length) {
    const ci = queue.shift()!;
    order.push(ci);
    const c = netlist.cells[ci]!;
    for (const op of outputPins(cells[ci]!)) {
      const r = c.conns[op.name];
      if (typeof r !== 'number') continue;
      const n = netIndex.get(r)!;
      for (const u of users.get(n) ?? []) {
        const left = pending.get(u)! - 1;
        pending.set(u, left);
        if (left === 0) queue.push(u);
      }
    }
  }
  if (order.length !== comb.length) throw new UserError(`gatesim: netlist ${netlist.top} has a combinational loop`);

  // Arcs: output net x related input pin, from the internal_power groups (else all inputs).
  const arcs: ArcRef[] = [];
  netlist.cells.forEach((c, ci) => {
    const lc = cells[ci]!;
    for (const op of outputPins(lc)) {
      const r = c.conns[op.name];
      if (typeof r !== 'number') continue;
      const outNet = netIndex.get(r)!;
      const related = new Set(op.internalPower.map((ip) => ip.relatedPin).filter(Boolean));
      if (related.size === 0) for (const ip of lc.pins.values()) if (ip.direction === 'input') related.add(ip.name);
      for (const pin of related) {
        const lp = lc.pins.get(pin);
        const inRef = c.conns[pin];
        const isClock = Boolean(lp?.clock) || clockPins(lc).includes(pin);
        arcs.push({ outNet, cell: ci, outPin: op.name, inPin: pin, inNet: typeof inRef === 'number' && !isClock ? netIndex.get(inRef)! : -1, clock: isClock });
      }
    }
  });

  const run = compile(netlist, cells, netIndex, netIds.length, order, arcs, inputBits, outputBits, clockNets);
  return { netlist, lib, netIndex, netIds, drivers, order, arcs, inputBits, outputBits, clockPorts, sequentialCells, run };
}

function netName(n: MappedNetlist, id: number): string {
  return n.netNames.get(id) ?? `#${id}`;
}

function compile(
  netlist: MappedNetlist,
  cells: LibCell[],
  netIndex: Map<number, number>,
  nNets: number,
  order: number[],
  arcs: ArcRef[],
  inputBits: GateSimModel['inputBits'],
  outputBits: GateSimModel['outputBits'],
  clockNets: Set<number>,
): CompiledRun {
  // Generated code evaluates ONE cycle (straight-line, levelized); the counting loops below are
  // ordinary code. Small hot functions are what V8 optimizes well.
  const L: string[] = [];
  const v = (r: NetRef | undefined): string => {
    if (r === undefined || r === '0') return '0';
    if (r === '1') return '-1';
    return `c[${netIndex.get(r)!}]`;
  };
  const seq = netlist.cells.map((_, i) => i).filter((i) => cells[i]!.sequential);
  inputBits.forEach((b, k) => {
    if (typeof b.net !== 'number' || b.net < 0) return;
    // Clock inputs stay 0 in the data view; the ideal clock is accounted for by the energy model.
    if (clockNets.has(b.net)) return;
    L.push(`c[${b.net}] = inp[${k} * steps + t];`);
  });
  const pinRef = (ci: number) => {
    const c = netlist.cells[ci]!;
    const lc = cells[ci]!;
    const s = lc.sequential;
    return (name: string): string => {
      if (s && name === s.iq) return `st[${seq.indexOf(ci)}]`;
      if (s && name === s.iqn) return `(~st[${seq.indexOf(ci)}])`;
      if (!lc.pins.has(name)) throw new UserError(`gatesim: ${lc.name} function uses unknown name ${name}`);
      return v(c.conns[name]);
    };
  };
  // Flip-flop outputs from state, then combinational cells in level order.
  for (const ci of [...seq, ...order]) {
    const c = netlist.cells[ci]!;
    const lc = cells[ci]!;
    for (const op of outputPins(lc)) {
      const r = c.conns[op.name];
      if (typeof r !== 'number') continue;
      L.push(`c[${netIndex.get(r)!}] = ${wordExprSource(op.functionExpr as BoolExpr, pinRef(ci))};`);
    }
  }
  const evalCycle = new Function('c', 'st', 'inp', 'steps', 't', L.join('\n')) as (
    c: Int32Array,
    st: Int32Array,
    inp: Int32Array,
    steps: number,
    t: number,
  ) => void;
  // Next state of every flip-flop (clear dominates preset; both treated as synchronous to the
  // cycle, which is what matters for toggle counting).
  const N: string[] = [];
  seq.forEach((ci, k) => {
    const s = cells[ci]!.sequential!;
    const ref = pinRef(ci);
    let next = wordExprSource(s.next, ref);
    if (s.preset) next = `((${next}) | (${wordExprSource(s.preset, ref)}))`;
    if (s.clear) next = `((${next}) & ~(${wordExprSource(s.clear, ref)}))`;
    N.push(`const n${k} = ${next};`);
  });
  for (let k = 0; k < seq.length; k++) N.push(`st[${k}] = n${k};`);
  const nextState = new Function('c', 'st', N.join('\n')) as (c: Int32Array, st: Int32Array) => void;

  const arcOut = Int32Array.from(arcs.map((a) => a.outNet));
  const arcIn = Int32Array.from(arcs.map((a) => (a.clock ? -2 : a.inNet)));
  const outNet = Int32Array.from(outputBits.map((o) => (typeof o.net === 'number' ? netIndex.get(o.net)! : o.net === '1' ? -2 : -1)));
  const nArcs = arcs.length;
  const nOut = outputBits.length;
  return (inp, steps, lanesValid, cnt, arcCnt, ones, out) => {
    const c = new Int32Array(nNets);
    const p = new Int32Array(nNets);
    const g = new Int32Array(nNets);
    const st = new Int32Array(Math.max(1, seq.length));
    for (let t = 0; t < steps; t++) {
      const valid = lanesValid[t]!;
      evalCycle(c, st, inp, steps, t);
      if (t > 0) {
        for (let i = 0; i < nNets; i++) {
          const x = c[i]!;
          const tg = (x ^ p[i]!) & valid;
          g[i] = tg;
          if (tg) {
            cnt[2 * i] = cnt[2 * i]! + popcount(tg & x);
            cnt[2 * i + 1] = cnt[2 * i + 1]! + popcount(tg & ~x);
          }
        }
        for (let k = 0; k < nArcs; k++) {
          const o = arcOut[k]!;
          const go = g[o]!;
          if (!go) continue;
          const i = arcIn[k]!;
          // Clock arcs: every flip-flop output transition is caused by the clock edge.
          const tg = i === -2 ? go : i >= 0 ? go & g[i]! : 0;
          if (tg) {
            const x = c[o]!;
            arcCnt[2 * k] = arcCnt[2 * k]! + popcount(tg & x);
            arcCnt[2 * k + 1] = arcCnt[2 * k + 1]! + popcount(tg & ~x);
          }
        }
      }
      for (let i = 0; i < nNets; i++) {
        const x = c[i]!;
        ones[i] = ones[i]! + popcount(x & valid);
        p[i] = x;
      }
      if (seq.length) nextState(c, st);
      if (out) for (let k = 0; k < nOut; k++) out[k * steps + t] = outNet[k]! >= 0 ? c[outNet[k]!]! : outNet[k] === -2 ? -1 : 0;
    }
  };
}

/** Set bits of a 32-bit word. */
export function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** Simulate a stimulus; transitions are counted between consecutive vectors. */
export function runGateSim(m: GateSimModel, stim: GateSimStimulus, opts: { outputs?: boolean } = {}): GateSimResult {
  const n = stim.n;
  if (n < 2) throw new UserError('gatesim: need at least 2 vectors');
  // Short streams use fewer lanes so each lane still has a run of consecutive vectors.
  const lanes = Math.max(1, Math.min(LANES, Math.floor(n / 64)));
  const steps = Math.ceil(n / lanes);
  const inp = new Int32Array(m.inputBits.length * steps);
  m.inputBits.forEach((b, k) => {
    if (m.clockPorts.includes(b.port)) return;
    const src = stim.ports[b.port];
    if (!src) throw new UserError(`gatesim: no stimulus for input port ${b.port}`);
    if (stimulusLength(src) < n) throw new UserError(`gatesim: stimulus for ${b.port} has ${stimulusLength(src)} values, need ${n}`);
    const base = k * steps;
    for (let lane = 0; lane < lanes; lane++) {
      const bitMask = 1 << lane;
      for (let t = 0; t < steps; t++) {
        const vi = Math.min(lane * steps + t, n - 1);
        if (stimulusBit(src, vi, b.bit)) inp[base + t]! |= bitMask;
      }
    }
  });
  // Lane j is valid at step t if vector j*steps+t exists (padding repeats the last vector).
  const lanesValid = new Int32Array(steps);
  let intervals = 0;
  for (let lane = 0; lane < lanes; lane++) {
    const len = Math.max(0, Math.min(steps, n - lane * steps));
    if (len > 1) intervals += len - 1;
    for (let t = 0; t < len; t++) lanesValid[t]! |= 1 << lane;
  }
  const nn = m.netIds.length;
  const cnt = new Float64Array(2 * nn);
  const arcCnt = new Float64Array(2 * m.arcs.length);
  const ones = new Float64Array(nn);
  const out = opts.outputs ? new Int32Array(m.outputBits.length * steps) : null;
  m.run(inp, steps, lanesValid, cnt, arcCnt, ones, out);
  const rise = new Float64Array(nn);
  const fall = new Float64Array(nn);
  for (let i = 0; i < nn; i++) {
    rise[i] = cnt[2 * i]!;
    fall[i] = cnt[2 * i + 1]!;
  }
  const arcRise = new Float64Array(m.arcs.length);
  const arcFall = new Float64Array(m.arcs.length);
  for (let k = 0; k < m.arcs.length; k++) {
    arcRise[k] = arcCnt[2 * k]!;
    arcFall[k] = arcCnt[2 * k + 1]!;
  }
  const res: GateSimResult = { vectors: n, intervals, rise, fall, ones, samples: n, arcRise, arcFall };
  if (out) {
    const outputs: Record<string, Float64Array> = {};
    m.outputBits.forEach((o, k) => {
      outputs[o.port] ??= new Float64Array(n);
      const arr = outputs[o.port]!;
      for (let lane = 0; lane < lanes; lane++)
        for (let t = 0; t < steps; t++) {
          const vi = lane * steps + t;
          if (vi >= n) break;
          if ((out[k * steps + t]! >>> lane) & 1) arr[vi] = arr[vi]! + 2 ** o.bit;
        }
    });
    res.outputs = outputs;
  }
  return res;
}
