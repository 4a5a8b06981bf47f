/**
 * Mitchell's logarithmic multiplier: x = 2^k (1 + f) with k the leading-one position and f the
 * N-1 bits below it; log2(a b) ~ ka + kb + fa + fb is one fixed-point addition and the antilog
 * is a shift of 1.m. Results below 1 are truncated; a zero operand gives 0.
 * Mitch-w (w < N-1) keeps only the w most significant fraction bits of each operand.
 */

import { leadingOne, oneHotShiftLeft, rippleAdd } from '../arith.ts';
import { CellNetlist, type Sig } from '../cell-netlist.ts';
import { check, checkBits, type Family, num, p } from './family.ts';

function logOf(n: CellNetlist, x: Sig[], w: number): Sig[] {
  const N = x.length;
  const lead = leadingOne(n, x);
  // Normalize: shift left by N-1-t so the leading one sits at bit N-1.
  const sel = Array.from({ length: N }, (_, s) => lead[N - 1 - s]!);
  const norm = oneHotShiftLeft(n, x, sel, N);
  const frac = norm.slice(0, N - 1).map((bit, j) => (j >= N - 1 - w ? bit : 0));
  const kbits = Math.ceil(Math.log2(N));
  const k: Sig[] = [];
  for (let bit = 0; bit < kbits; bit++) k.push(n.orAll(lead.filter((_, t) => (t >> bit) & 1)));
  return [...frac, ...k];
}

export const mitchellFamily: Family = {
  name: 'mitchell',
  pattern: /^mitchell(?:_w(\d+))?_u(\d+)$/,
  fromMatch(m, id) {
    const bits = checkBits(id, num(m[2]));
    const w = m[1] === undefined ? bits - 1 : check(id, 'w', num(m[1]), 1, bits - 2);
    return { id, family: 'mitchell', bits, signed: false, params: { w } };
  },
  format: (r) => (p(r, 'w') === r.bits - 1 ? `mitchell_u${r.bits}` : `mitchell_w${p(r, 'w')}_u${r.bits}`),
  build(r) {
    const N = r.bits;
    const n = new CellNetlist(N);
    const a = Array.from({ length: N }, (_, i) => n.a(i));
    const b = Array.from({ length: N }, (_, i) => n.b(i));
    const F = N - 1;
    const la = logOf(n, a, p(r, 'w'));
    const lb = logOf(n, b, p(r, 'w'));
    const sum = rippleAdd(n, la, lb, la.length + 1);
    const mant = [...sum.slice(0, F), 1]; // 1.m, N bits
    const c = sum.slice(F);
    // Decode the characteristic to a one-hot shift 0..2^|c|-1.
    const shifts: Sig[] = [];
    for (let v = 0; v < 2 ** c.length; v++) shifts.push(n.andAll(c.map((bit, i) => ((v >> i) & 1 ? bit : n.not(bit)))));
    const wide = oneHotShiftLeft(n, mant, shifts, 2 * N + F);
    const nonzero = n.and(n.orAll(a), n.orAll(b));
    n.outputs = wide.slice(F, F + 2 * N).map((bit) => n.and(bit, nonzero));
    return n;
  },
  describe: (r) =>
    p(r, 'w') === r.bits - 1
      ? `Mitchell logarithmic multiplier (${r.bits - 1}-bit fractions)`
      : `Mitch-w: Mitchell with fractions truncated to ${p(r, 'w')} bits`,
};
