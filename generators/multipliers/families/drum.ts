/**
 * DRUM(k) (Hashemi et al.): each operand keeps the k bits starting at its leading one, with the
 * lowest kept bit forced to 1 (unbiasing); operands below 2^k stay exact. A k x k array
 * multiplier and two one-hot shifters restore the scale. The signed variant wraps the unsigned
 * core in sign-magnitude conversion (|a|, |b|, then the product negated if signs differ).
 */

import { conditionalNegate, leadingOne, oneHotShiftLeft, PPMatrix, reduce } from '../arith.ts';
import { CellNetlist, type Sig, ZERO } from '../cell-netlist.ts';
import { check, checkBits, type Family, num, p, sfx } from './family.ts';

/** Steer the k significant bits of x; returns them and the one-hot shift (0..N-k). */
function drumOperand(n: CellNetlist, x: Sig[], k: number): { bits: Sig[]; shift: Sig[] } {
  const N = x.length;
  const lead = leadingOne(n, x);
  const shift: Sig[] = [n.not(n.orAll(lead.slice(k)))];
  for (let s = 1; s <= N - k; s++) shift.push(lead[s + k - 1]!);
  const bits: Sig[] = [];
  for (let j = 0; j < k; j++) {
    const terms = shift.map((sel, s) => (j === 0 && s > 0 ? sel : n.and(sel, x[j + s]!)));
    bits.push(n.orAll(terms));
  }
  return { bits, shift };
}

export function drumCore(n: CellNetlist, x: Sig[], y: Sig[], k: number): Sig[] {
  const N = x.length;
  const a = drumOperand(n, x, k);
  const b = drumOperand(n, y, k);
  const m = new PPMatrix(2 * k);
  for (let j = 0; j < k; j++) m.addRow(a.bits.map((ai, i) => ({ col: i + j, bit: n.and(ai, b.bits[j]!) })));
  const prod = reduce(n, m, 'array');
  return oneHotShiftLeft(n, oneHotShiftLeft(n, prod, a.shift, 2 * N), b.shift, 2 * N);
}

export const drumFamily: Family = {
  name: 'drum',
  pattern: /^drum_k(\d+)_([us])(\d+)$/,
  fromMatch(m, id) {
    const bits = checkBits(id, num(m[3]));
    return { id, family: 'drum', bits, signed: m[2] === 's', params: { k: check(id, 'k', num(m[1]), 2, bits - 1) } };
  },
  format: (r) => `drum_k${p(r, 'k')}_${sfx(r)}`,
  build(r) {
    const N = r.bits;
    const k = p(r, 'k');
    const n = new CellNetlist(N);
    const a = Array.from({ length: N }, (_, i) => n.a(i));
    const b = Array.from({ length: N }, (_, i) => n.b(i));
    if (!r.signed) {
      n.outputs = drumCore(n, a, b, k);
      return n;
    }
    const sa = a[N - 1]!;
    const sb = b[N - 1]!;
    // |x| of an N-bit two's-complement value fits N unsigned bits (|-2^(N-1)| = 2^(N-1)).
    const mag = drumCore(n, conditionalNegate(n, a, sa), conditionalNegate(n, b, sb), k);
    n.outputs = conditionalNegate(n, mag, n.xor(sa, sb));
    void ZERO;
    return n;
  },
  describe: (r) => `DRUM${p(r, 'k')}: ${p(r, 'k')} bits from each operand's leading one (LSB forced to 1)${r.signed ? ', sign-magnitude' : ''}`,
};
