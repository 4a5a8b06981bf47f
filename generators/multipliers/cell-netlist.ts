/**
 * The bit-level IR every built-in cell is made of: single-bit AND/OR/XOR/NOT gates over the operand
 * bits. A family builds ONE netlist from its parameter record; the same netlist is evaluated
 * (bit-sliced, all 2^(2N) operand pairs at once) to give the model, and printed as gate-level
 * Verilog. Model and RTL therefore cannot diverge by construction.
 *
 * The builder folds constants and hashes structure (equal gates are built once), so families can
 * write plain textbook structure (full adders fed with constant 1s, Booth muxes with constant
 * selects) and still print lean Verilog.
 */
export type Op = 'and' | 'or' | 'xor' | 'not';

/** A signal is an index; 0 and 1 are the constants. */
export type Sig = number;
export const ZERO: Sig = 0;
export const ONE: Sig = 1;

interface Gate {
  op: Op;
  x: Sig;
  y: Sig; // unused (-1) for NOT
}

const sliceCache = new Map<number, Uint32Array[]>();
/** Bit k of every pair index, packed 32 pairs per word (shared, read-only). */
function inputSlices(N: number): Uint32Array[] {
  let s = sliceCache.get(N);
  if (s) return s;
  const pairs = 1 << (2 * N);
  const words = Math.max(1, pairs >>> 5);
  s = [];
  for (let k = 0; k < 2 * N; k++) {
    const v = new Uint32Array(words);
    for (let idx = 0; idx < pairs; idx++) if ((idx >>> k) & 1) v[idx >>> 5]! |= 1 << (idx & 31);
    s.push(v);
  }
  sliceCache.set(N, s);
  return s;
}

/**
 * One cell's gate-level IR (before synthesis; Yosys's liberty-mapped result is `MappedNetlist`
 * in synth/mapped-netlist.ts). Node kinds in id order: 0 const0, 1 const1, then 2N inputs (a[0..N-1], b[0..N-1]), then gates. */
export class CellNetlist {
  readonly bits: number;
  readonly gates: Gate[] = [];
  private readonly hash = new Map<string, Sig>();
  /** Output bits p[0..2N-1]; set by the family. */
  outputs: Sig[] = [];

  constructor(bits: number) {
    this.bits = bits;
  }

  get firstGate(): number {
    return 2 + 2 * this.bits;
  }
  a(i: number): Sig {
    if (i < 0 || i >= this.bits) throw new Error(`a[${i}] out of range`);
    return 2 + i;
  }
  b(j: number): Sig {
    if (j < 0 || j >= this.bits) throw new Error(`b[${j}] out of range`);
    return 2 + this.bits + j;
  }
  /** Operand bit with two's-complement/zero extension above the MSB and 0 below bit 0. */
  aExt(i: number, signed: boolean): Sig {
    if (i < 0) return ZERO;
    if (i >= this.bits) return signed ? this.a(this.bits - 1) : ZERO;
    return this.a(i);
  }
  bExt(j: number, signed: boolean): Sig {
    if (j < 0) return ZERO;
    if (j >= this.bits) return signed ? this.b(this.bits - 1) : ZERO;
    return this.b(j);
  }

  private make(op: Op, x: Sig, y: Sig): Sig {
    if (op !== 'not' && x > y) [x, y] = [y, x];
    const key = `${op}${x},${y}`;
    const hit = this.hash.get(key);
    if (hit !== undefined) return hit;
    const id = this.firstGate + this.gates.length;
    this.gates.push({ op, x, y });
    this.hash.set(key, id);
    return id;
  }
  private gateOf(s: Sig): Gate | undefined {
    return s >= this.firstGate ? this.gates[s - this.firstGate] : undefined;
  }

  not(x: Sig): Sig {
    if (x === ZERO) return ONE;
    if (x === ONE) return ZERO;
    const g = this.gateOf(x);
    if (g && g.op === 'not') return g.x;
    return this.make('not', x, -1);
  }
  and(x: Sig, y: Sig): Sig {
    if (x === ZERO || y === ZERO) return ZERO;
    if (x === ONE) return y;
    if (y === ONE) return x;
    if (x === y) return x;
    return this.make('and', x, y);
  }
  or(x: Sig, y: Sig): Sig {
    if (x === ONE || y === ONE) return ONE;
    if (x === ZERO) return y;
    if (y === ZERO) return x;
    if (x === y) return x;
    return this.make('or', x, y);
  }
  xor(x: Sig, y: Sig): Sig {
    if (x === ZERO) return y;
    if (y === ZERO) return x;
    if (x === ONE) return this.not(y);
    if (y === ONE) return this.not(x);
    if (x === y) return ZERO;
    return this.make('xor', x, y);
  }
  /** sel ? x : y */
  mux(sel: Sig, x: Sig, y: Sig): Sig {
    if (x === y) return x;
    if (sel === ONE) return x;
    if (sel === ZERO) return y;
    if (x === ONE && y === ZERO) return sel;
    if (x === ZERO && y === ONE) return this.not(sel);
    return this.or(this.and(sel, x), this.and(this.not(sel), y));
  }
  andAll(xs: Sig[]): Sig {
    return xs.reduce((acc, x) => this.and(acc, x), ONE);
  }
  orAll(xs: Sig[]): Sig {
    return xs.reduce((acc, x) => this.or(acc, x), ZERO);
  }

  /** Signals reachable from the outputs (what gets printed). */
  live(): Uint8Array {
    const n = this.firstGate + this.gates.length;
    const mark = new Uint8Array(n);
    const stack = [...this.outputs];
    while (stack.length) {
      const s = stack.pop()!;
      if (mark[s]) continue;
      mark[s] = 1;
      const g = this.gateOf(s);
      if (g) {
        stack.push(g.x);
        if (g.op !== 'not') stack.push(g.y);
      }
    }
    return mark;
  }

  /** Number of live gates (a rough size measure shown by `mult show`). */
  gateCount(): number {
    const live = this.live();
    let n = 0;
    for (let i = this.firstGate; i < live.length; i++) n += live[i]!;
    return n;
  }

  /**
   * Evaluate all 2^(2N) operand pairs at once (N <= 8): each signal is a bit vector over the pair
   * index `(a << N) | b`. Returns the raw output word for every index.
   */
  evaluateAll(): Uint32Array {
    const N = this.bits;
    if (N > 8) throw new Error('exhaustive evaluation only for N <= 8');
    const pairs = 1 << (2 * N);
    const words = Math.max(1, pairs >>> 5);
    const live = this.live();
    const vals: (Uint32Array | undefined)[] = new Array(this.firstGate + this.gates.length);
    vals[ZERO] = new Uint32Array(words);
    vals[ONE] = new Uint32Array(words).fill(0xffffffff);
    // Input bit k of the index: b[j] is index bit j, a[i] is index bit N+i.
    const slices = inputSlices(N);
    for (let k = 0; k < 2 * N; k++) vals[k < N ? this.b(k) : this.a(k - N)] = slices[k]!;
    for (let gi = 0; gi < this.gates.length; gi++) {
      const id = this.firstGate + gi;
      if (!live[id]) continue;
      const g = this.gates[gi]!;
      const x = vals[g.x]!;
      const out = new Uint32Array(words);
      if (g.op === 'not') for (let w = 0; w < words; w++) out[w] = ~x[w]!;
      else {
        const y = vals[g.y]!;
        if (g.op === 'and') for (let w = 0; w < words; w++) out[w] = x[w]! & y[w]!;
        else if (g.op === 'or') for (let w = 0; w < words; w++) out[w] = x[w]! | y[w]!;
        else for (let w = 0; w < words; w++) out[w] = x[w]! ^ y[w]!;
      }
      vals[id] = out;
    }
    const result = new Uint32Array(pairs);
    this.outputs.forEach((s, k) => {
      const v = vals[s]!;
      for (let idx = 0; idx < pairs; idx++) if ((v[idx >>> 5]! >>> (idx & 31)) & 1) result[idx]! |= 1 << k;
    });
    return result;
  }

  /** Evaluate one operand pair (any N); returns the raw 2N-bit output word as a bigint-free number. */
  evaluateOne(a: number, b: number): number {
    const N = this.bits;
    const vals = new Uint8Array(this.firstGate + this.gates.length);
    vals[ONE] = 1;
    for (let i = 0; i < N; i++) {
      vals[this.a(i)] = (a >>> i) & 1;
      vals[this.b(i)] = (b >>> i) & 1;
    }
    for (let gi = 0; gi < this.gates.length; gi++) {
      const g = this.gates[gi]!;
      const x = vals[g.x]!;
      vals[this.firstGate + gi] = g.op === 'not' ? x ^ 1 : g.op === 'and' ? x & vals[g.y]! : g.op === 'or' ? x | vals[g.y]! : x ^ vals[g.y]!;
    }
    let r = 0;
    this.outputs.forEach((s, k) => {
      if (vals[s]) r += 2 ** k;
    });
    return r;
  }

  /**
   * Gate-level Verilog body: wire declarations and one continuous assignment per live gate.
   * Input bits no output depends on are gathered into a signal named `unused_*`, the Verilator
   * idiom for "deliberately unused" (the approximation drops them), so -Wall stays clean.
   */
  verilogBody(): { wires: string[]; assigns: string[]; unusedInputs: string[] } {
    const live = this.live();
    const name = (s: Sig): string => {
      if (s === ZERO) return "1'b0";
      if (s === ONE) return "1'b1";
      if (s < 2 + this.bits) return `a[${s - 2}]`;
      if (s < this.firstGate) return `b[${s - 2 - this.bits}]`;
      return `w${s - this.firstGate}`;
    };
    const wires: string[] = [];
    const assigns: string[] = [];
    for (let gi = 0; gi < this.gates.length; gi++) {
      const id = this.firstGate + gi;
      if (!live[id]) continue;
      const g = this.gates[gi]!;
      const n = name(id);
      wires.push(n);
      const rhs = g.op === 'not' ? `~${name(g.x)}` : `${name(g.x)} ${g.op === 'and' ? '&' : g.op === 'or' ? '|' : '^'} ${name(g.y)}`;
      assigns.push(`assign ${n} = ${rhs};`);
    }
    for (const [k, s] of this.outputs.entries()) assigns.push(`assign p[${k}] = ${name(s)};`);
    const unusedInputs: string[] = [];
    for (let s = 2; s < this.firstGate; s++) if (!live[s]) unusedInputs.push(name(s));
    return { wires, assigns, unusedInputs };
  }
}
