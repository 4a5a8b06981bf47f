/**
 * Array-multiplier approximations that remove partial-product bits (ripple-row array reduction,
 * as in the papers): broken-array BAM(h, v), operand truncation, radix-2 row perforation.
 * Rows are indexed by the weight operand b (row j = a * b_j), columns by i + j.
 */

import { UserError } from '../../../core/errors.ts';
import { reduce } from '../arith.ts';
import { CellNetlist } from '../cell-netlist.ts';
import { ppBits } from './exact.ts';
import { check, checkBits, type Family, num, p, sfx } from './family.ts';

/** BAM (Mahdiani et al.): omit the carry-save cells of the h lowest rows (b_j, j < h) and of
 *  every column below v (i + j < v). Unsigned. */
export const bamFamily: Family = {
  name: 'bam',
  pattern: /^bam_h(\d+)_v(\d+)_u(\d+)$/,
  fromMatch(m, id) {
    const bits = checkBits(id, num(m[3]));
    return {
      id,
      family: 'bam',
      bits,
      signed: false,
      params: { h: check(id, 'h', num(m[1]), 0, bits - 1), v: check(id, 'v', num(m[2]), 0, 2 * bits - 2) },
    };
  },
  format: (r) => `bam_h${p(r, 'h')}_v${p(r, 'v')}_${sfx(r)}`,
  build(r) {
    const n = new CellNetlist(r.bits);
    const h = p(r, 'h');
    const v = p(r, 'v');
    n.outputs = reduce(n, ppBits(n, false, { keep: (i, j) => j >= h && i + j >= v }), 'array');
    return n;
  },
  describe: (r) => `broken-array multiplier: rows b[j<${p(r, 'h')}] and columns i+j<${p(r, 'v')} omitted`,
};

/** Operand truncation: the ta LSBs of a and tb LSBs of b are forced to 0 (floor for signed). */
export const truncFamily: Family = {
  name: 'trunc',
  pattern: /^trunc_a(\d+)_b(\d+)_([us])(\d+)$/,
  fromMatch(m, id) {
    const bits = checkBits(id, num(m[4]));
    return {
      id,
      family: 'trunc',
      bits,
      signed: m[3] === 's',
      params: { ta: check(id, 'ta', num(m[1]), 0, bits - 1), tb: check(id, 'tb', num(m[2]), 0, bits - 1) },
    };
  },
  format: (r) => `trunc_a${p(r, 'ta')}_b${p(r, 'tb')}_${sfx(r)}`,
  build(r) {
    const n = new CellNetlist(r.bits);
    const ta = p(r, 'ta');
    const tb = p(r, 'tb');
    n.outputs = reduce(n, ppBits(n, r.signed, { zeroA: (i) => i < ta, zeroB: (j) => j < tb }), 'array');
    return n;
  },
  describe: (r) => `operand truncation: ${p(r, 'ta')} LSBs of a and ${p(r, 'tb')} LSBs of b dropped`,
};

/** Radix-2 partial-product perforation: rows j..j+k-1 (weight bits) are not generated. */
export const perfFamily: Family = {
  name: 'perf',
  pattern: /^perf_j(\d+)_k(\d+)_([us])(\d+)$/,
  fromMatch(m, id) {
    const bits = checkBits(id, num(m[4]));
    const signed = m[3] === 's';
    const j = check(id, 'j', num(m[1]), 0, bits - 1);
    const k = check(id, 'k', num(m[2]), 1, bits);
    // The sign row of a signed cell is never perforated: it would flip the weight's sign.
    const top = signed ? bits - 1 : bits;
    if (j + k > top) throw new UserError(`cell id '${id}': j+k must be <= ${top}, got ${j + k}`);
    return { id, family: 'perf', bits, signed, params: { j, k } };
  },
  format: (r) => `perf_j${p(r, 'j')}_k${p(r, 'k')}_${sfx(r)}`,
  build(r) {
    const n = new CellNetlist(r.bits);
    const j0 = p(r, 'j');
    const k = p(r, 'k');
    n.outputs = reduce(n, ppBits(n, r.signed, { zeroB: (j) => j >= j0 && j < j0 + k }), 'array');
    return n;
  },
  describe: (r) => `radix-2 perforation: partial-product rows b[${p(r, 'j')}..${p(r, 'j') + p(r, 'k') - 1}] not generated`,
};
