/**
 * Arithmetic building blocks on the netlist IR: half/full adders, a partial-product matrix,
 * its reduction (ripple array, Dadda, Wallace, approximate 4:2 compressors), the final
 * carry-propagate adder, truth-table logic and one-hot shifters. Families compose these.
 */
import { type CellNetlist, ONE, type Sig, ZERO } from './cell-netlist.ts';

export type Reduction = 'array' | 'dadda' | 'wallace';
export const REDUCTIONS: Reduction[] = ['array', 'dadda', 'wallace'];

export function halfAdder(n: CellNetlist, x: Sig, y: Sig): { s: Sig; c: Sig } {
  return { s: n.xor(x, y), c: n.and(x, y) };
}
export function fullAdder(n: CellNetlist, x: Sig, y: Sig, z: Sig): { s: Sig; c: Sig } {
  const t = n.xor(x, y);
  return { s: n.xor(t, z), c: n.or(n.and(x, y), n.and(z, t)) };
}

/**
 * A partial-product matrix of a W-bit result: rows of (column, bit) plus an integer constant
 * (sign-extension corrections) that is added as constant-1 bits modulo 2^W.
 */
export class PPMatrix {
  readonly rows: { col: number; bit: Sig }[][] = [];
  constant = 0n;
  constructor(readonly width: number) {}

  addRow(bits: { col: number; bit: Sig }[]): void {
    const kept = bits.filter((x) => x.col >= 0 && x.col < this.width && x.bit !== ZERO);
    if (kept.length) this.rows.push(kept);
  }
  /** Add a two's-complement vector `v` (v[last] is the sign bit) at column `shift`:
   *  sign bit inverted and -2^(shift+len-1) folded into the constant (no sign-extension rows). */
  addSignedVector(n: CellNetlist, v: Sig[], shift: number): void {
    const last = v.length - 1;
    this.addRow(v.map((bit, k) => ({ col: shift + k, bit: k === last ? n.not(bit) : bit })));
    this.constant -= 1n << BigInt(shift + last);
  }
  addConstant(c: bigint): void {
    this.constant += c;
  }
  /** The constant as a row of ONE bits (mod 2^W). */
  constantRow(): { col: number; bit: Sig }[] {
    const mod = 1n << BigInt(this.width);
    const c = ((this.constant % mod) + mod) % mod;
    const row: { col: number; bit: Sig }[] = [];
    for (let k = 0; k < this.width; k++) if ((c >> BigInt(k)) & 1n) row.push({ col: k, bit: ONE });
    return row;
  }
  allRows(): { col: number; bit: Sig }[][] {
    const c = this.constantRow();
    return c.length ? [...this.rows, c] : this.rows;
  }
  columns(): Sig[][] {
    const cols: Sig[][] = Array.from({ length: this.width }, () => []);
    for (const row of this.allRows()) for (const { col, bit } of row) cols[col]!.push(bit);
    return cols;
  }
}

/** Ripple-carry addition of two sparse rows (column -> bit), result truncated to `width` bits. */
export function rippleAdd(n: CellNetlist, x: Sig[], y: Sig[], width: number): Sig[] {
  const out: Sig[] = [];
  let carry: Sig = ZERO;
  for (let k = 0; k < width; k++) {
    const fa = fullAdder(n, x[k] ?? ZERO, y[k] ?? ZERO, carry);
    out.push(fa.s);
    carry = fa.c;
  }
  return out;
}

/** Array reduction: rows accumulated one after another with ripple-carry adders. */
export function reduceArray(n: CellNetlist, m: PPMatrix): Sig[] {
  let acc: Sig[] = [];
  for (const row of m.allRows()) {
    const r: Sig[] = [];
    for (const { col, bit } of row) r[col] = r[col] === undefined ? bit : n.xor(r[col]!, bit);
    // Rows never carry two bits in one column except via the XOR above, which would be wrong:
    if (row.length !== new Set(row.map((x) => x.col)).size) throw new Error('row with repeated column');
    acc = rippleAdd(n, acc, r, m.width);
  }
  return Array.from({ length: m.width }, (_, k) => acc[k] ?? ZERO);
}

/** Dadda reduction to height 2, then a ripple-carry final adder. */
export function reduceDadda(n: CellNetlist, cols: Sig[][], width: number): Sig[] {
  cols = cols.map((c) => c.filter((b) => b !== ZERO));
  const maxH = () => Math.max(0, ...cols.map((c) => c.length));
  const targets = [2];
  while (targets[targets.length - 1]! < maxH()) targets.push(Math.floor(targets[targets.length - 1]! * 1.5));
  targets.pop();
  for (let t = targets.length - 1; t >= 0; t--) {
    const d = targets[t]!;
    const next: Sig[][] = Array.from({ length: width }, () => []);
    for (let k = 0; k < width; k++) {
      const col = [...cols[k]!];
      // Bits already produced into next[k] by carries from column k-1 count toward the height.
      let height = col.length + next[k]!.length;
      while (height > d) {
        if (height - d >= 2 && col.length >= 3) {
          const fa = fullAdder(n, col.shift()!, col.shift()!, col.shift()!);
          next[k]!.push(fa.s);
          if (k + 1 < width) next[k + 1]!.push(fa.c);
          height -= 2;
        } else if (col.length >= 2) {
          const ha = halfAdder(n, col.shift()!, col.shift()!);
          next[k]!.push(ha.s);
          if (k + 1 < width) next[k + 1]!.push(ha.c);
          height -= 1;
        } else break;
      }
      next[k]!.push(...col);
    }
    cols = next;
  }
  // Dadda's schedule always reaches height 2; Wallace stages are a no-op safety net.
  return reduceWallace(n, cols, width);
}

/** Wallace reduction: every stage compresses each column greedily (3 -> FA, 2 -> HA). */
export function reduceWallace(n: CellNetlist, cols: Sig[][], width: number): Sig[] {
  cols = cols.map((c) => c.filter((b) => b !== ZERO));
  while (Math.max(0, ...cols.map((c) => c.length)) > 2) {
    const next: Sig[][] = Array.from({ length: width }, () => []);
    for (let k = 0; k < width; k++) {
      const col = [...cols[k]!];
      while (col.length >= 3) {
        const fa = fullAdder(n, col.shift()!, col.shift()!, col.shift()!);
        next[k]!.push(fa.s);
        if (k + 1 < width) next[k + 1]!.push(fa.c);
      }
      if (col.length === 2 && cols[k]!.length > 2) {
        const ha = halfAdder(n, col.shift()!, col.shift()!);
        next[k]!.push(ha.s);
        if (k + 1 < width) next[k + 1]!.push(ha.c);
      }
      next[k]!.push(...col);
    }
    cols = next;
  }
  return finalAdd(n, cols, width);
}

/** Carry-propagate adder over columns of height <= 2. */
export function finalAdd(n: CellNetlist, cols: Sig[][], width: number): Sig[] {
  const x = cols.map((c) => c[0] ?? ZERO);
  const y = cols.map((c) => c[1] ?? ZERO);
  if (cols.some((c) => c.length > 2)) throw new Error('final adder: column taller than 2');
  return rippleAdd(n, x, y, width);
}

export function reduce(n: CellNetlist, m: PPMatrix, how: Reduction): Sig[] {
  if (how === 'array') return reduceArray(n, m);
  if (how === 'dadda') return reduceDadda(n, m.columns(), m.width);
  return reduceWallace(n, m.columns(), m.width);
}

/**
 * Logic for a truth table over `inputs` (LSB first: entry index bit i is inputs[i]) by Shannon
 * expansion on the most significant input; structural hashing shares equal sub-functions.
 */
export function truthTable(n: CellNetlist, inputs: Sig[], table: (idx: number) => boolean): Sig {
  const rec = (level: number, base: number): Sig => {
    if (level < 0) return table(base) ? ONE : ZERO;
    const hi = rec(level - 1, base | (1 << level));
    const lo = rec(level - 1, base);
    return n.mux(inputs[level]!, hi, lo);
  };
  return rec(inputs.length - 1, 0);
}

/** Two's-complement negate-if: returns (neg ? -x : x) over the same width (x LSB first). */
export function conditionalNegate(n: CellNetlist, x: Sig[], neg: Sig): Sig[] {
  const out: Sig[] = [];
  let carry = neg;
  for (const bit of x) {
    const t = n.xor(bit, neg);
    out.push(n.xor(t, carry));
    carry = n.and(t, carry);
  }
  return out;
}

/** Left shift of `x` by the one-hot amount: sel[s] true means shift by s; result `width` bits. */
export function oneHotShiftLeft(n: CellNetlist, x: Sig[], sel: Sig[], width: number): Sig[] {
  const out: Sig[] = [];
  for (let k = 0; k < width; k++) {
    const terms: Sig[] = [];
    sel.forEach((s, sh) => {
      const src = k - sh;
      if (src >= 0 && src < x.length) terms.push(n.and(s, x[src]!));
    });
    out.push(n.orAll(terms));
  }
  return out;
}

/**
 * Leading-one detector: onehot[t] is true when x's most significant 1 is at bit t (x LSB first).
 * Built as a priority chain from the MSB.
 */
export function leadingOne(n: CellNetlist, x: Sig[]): Sig[] {
  const onehot: Sig[] = new Array(x.length).fill(ZERO);
  let higherZero: Sig = ONE;
  for (let t = x.length - 1; t >= 0; t--) {
    onehot[t] = n.and(x[t]!, higherZero);
    higherZero = n.and(higherZero, n.not(x[t]!));
  }
  return onehot;
}
