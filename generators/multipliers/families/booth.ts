/**
 * Signed radix-4 modified Booth (weight b recoded, activation a the multiplicand) and its
 * approximations ROUP(P, R) and RAD(k). Conventions (docs/cells.md):
 *  - Booth digit i from (b[2i+1], b[2i], b[2i-1]), b[-1] = 0; partial product vector
 *    v = (|d| * a) XOR neg (N+1 bits, one's complement) plus the negation bit neg at column 2i.
 *  - ROUP: the P least-significant digits are perforated (not generated). Every remaining
 *    partial product is rounded at column R: vector bits below R are dropped and vector bit R-1
 *    is added at column R (round half up on the one's-complement vector); the negation bit is
 *    kept only when its column 2i >= R.
 *  - RAD(k): b[k-1:0] is one signed radix-2^k digit D, replaced by the nearest power of two
 *    (sign kept, 0 stays 0, ties go to the larger power); the rest is exact radix-4 Booth.
 */

import { UserError } from '../../../core/errors.ts';
import { PPMatrix, type Reduction, reduce, truthTable } from '../arith.ts';
import { CellNetlist, type Sig, ZERO } from '../cell-netlist.ts';
import { check, checkBits, type Family, num, p, sfx } from './family.ts';

/** One Booth partial product: selection vector over `width` bits for |d| = 2^m options. */
function addBoothPP(n: CellNetlist, m: PPMatrix, shift: number, width: number, selects: { mag: number; sel: Sig }[], neg: Sig, roundAt: number): void {
  const vec: Sig[] = [];
  for (let c = 0; c < width; c++) {
    const terms = selects.map(({ mag, sel }) => n.and(sel, n.aExt(c - Math.log2(mag), true)));
    vec.push(n.xor(n.orAll(terms), neg));
  }
  const R = roundAt - shift; // rounding position inside the vector
  if (R <= 0) {
    m.addSignedVector(n, vec, shift);
    m.addRow([{ col: shift, bit: neg }]);
    return;
  }
  // Bits below R dropped (zeros keep the signed-vector bookkeeping intact), bit R-1 rounds.
  const kept = vec.map((bit, k) => (k < R && k !== width - 1 ? ZERO : bit));
  m.addSignedVector(n, kept, shift);
  m.addRow([{ col: shift + R, bit: vec[R - 1]! }]);
}

function boothDigit(n: CellNetlist, i: number, lowBit: number): { one: Sig; two: Sig; neg: Sig } {
  const b2 = n.bExt(lowBit + 1, true);
  const b1 = n.bExt(lowBit, true);
  const b0 = lowBit - 1 >= 0 ? n.b(lowBit - 1) : ZERO;
  void i;
  const one = n.xor(b1, b0);
  const two = n.or(n.and(b2, n.and(n.not(b1), n.not(b0))), n.and(n.not(b2), n.and(b1, b0)));
  return { one, two, neg: b2 };
}

/** Radix-4 digits from bit `from` upward (digit t covers bits from+2t, from+2t+1). */
function addRadix4(n: CellNetlist, m: PPMatrix, from: number, skip: number, roundAt: number): void {
  const N = n.bits;
  for (let t = 0, low = from; low < N; t++, low += 2) {
    if (t < skip) continue;
    const d = boothDigit(n, t, low);
    addBoothPP(
      n,
      m,
      low,
      N + 1,
      [
        { mag: 1, sel: d.one },
        { mag: 2, sel: d.two },
      ],
      d.neg,
      roundAt,
    );
  }
}

function boothNetlist(bits: number, perforate: number, roundAt: number, reduction: Reduction): CellNetlist {
  const n = new CellNetlist(bits);
  const m = new PPMatrix(2 * bits);
  addRadix4(n, m, 0, perforate, roundAt);
  n.outputs = reduce(n, m, reduction);
  return n;
}

export const boothFamily: Family = {
  name: 'booth',
  pattern: /^booth(?:_(array|dadda|wallace))?_s(\d+)$/,
  fromMatch: (m, id) => ({ id, family: 'booth', bits: checkBits(id, num(m[2]), true), signed: true, params: { reduction: m[1] ?? 'dadda' } }),
  format: (r) => `booth${r.params.reduction === 'dadda' ? '' : `_${r.params.reduction}`}_${sfx(r)}`,
  build: (r) => boothNetlist(r.bits, 0, 0, r.params.reduction as Reduction),
  describe: (r) => `exact signed radix-4 modified Booth, ${r.params.reduction} reduction`,
};

export const roupFamily: Family = {
  name: 'roup',
  pattern: /^roup_p(\d+)_r(\d+)_s(\d+)$/,
  fromMatch(m, id) {
    const bits = checkBits(id, num(m[3]), true);
    return {
      id,
      family: 'roup',
      bits,
      signed: true,
      params: { P: check(id, 'P', num(m[1]), 0, bits / 2 - 1), R: check(id, 'R', num(m[2]), 0, bits) },
    };
  },
  format: (r) => `roup_p${p(r, 'P')}_r${p(r, 'R')}_${sfx(r)}`,
  build: (r) => boothNetlist(r.bits, p(r, 'P'), p(r, 'R'), 'dadda'),
  describe: (r) => `ROUP: radix-4 Booth, ${p(r, 'P')} LS partial products perforated, rest rounded at bit ${p(r, 'R')}`,
};

/** Nearest power of two to |D| (0 -> 0, ties to the larger power). */
export function radRound(D: number): number {
  const mag = Math.abs(D);
  if (mag === 0) return 0;
  let lo = 1;
  while (lo * 2 <= mag) lo *= 2;
  const hi = lo * 2;
  const r = mag === lo ? lo : mag - lo < hi - mag ? lo : hi;
  return D < 0 ? -r : r;
}

export const radFamily: Family = {
  name: 'rad',
  pattern: /^rad_k(\d+)_s(\d+)$/,
  fromMatch(m, id) {
    const bits = checkBits(id, num(m[2]), true);
    const k = check(id, 'k', num(m[1]), 4, bits);
    if (k % 2) throw new UserError(`cell id '${id}': k must be even (the rest is radix-4), got ${k}`);
    return { id, family: 'rad', bits, signed: true, params: { k } };
  },
  format: (r) => `rad_k${p(r, 'k')}_${sfx(r)}`,
  build(r) {
    const N = r.bits;
    const k = p(r, 'k');
    const n = new CellNetlist(N);
    const m = new PPMatrix(2 * N);
    const low = Array.from({ length: k }, (_, j) => n.b(j));
    const approx = (idx: number) => radRound(idx >= 1 << (k - 1) ? idx - (1 << k) : idx);
    const selects: { mag: number; sel: Sig }[] = [];
    for (let e = 0; e < k; e++) selects.push({ mag: 2 ** e, sel: truthTable(n, low, (idx) => Math.abs(approx(idx)) === 2 ** e) });
    const neg = truthTable(n, low, (idx) => approx(idx) < 0);
    // |D'| * a needs N + k bits as a signed vector (|D'| <= 2^(k-1)).
    addBoothPP(n, m, 0, N + k, selects, neg, 0);
    addRadix4(n, m, k, 0, 0);
    n.outputs = reduce(n, m, 'dadda');
    return n;
  },
  describe: (r) => `RAD${2 ** p(r, 'k')}: b[${p(r, 'k') - 1}:0] as one digit rounded to a power of two, rest exact radix-4 Booth`,
};
