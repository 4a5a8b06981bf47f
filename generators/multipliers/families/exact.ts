/**
 * Exact multipliers: unsigned AND-array and signed Baugh-Wooley partial products with array
 * (ripple rows), Dadda or Wallace reduction. `ppBits` is shared with the array-style
 * approximate families (BAM, truncation, perforation), which only change which bits exist.
 */

import { PPMatrix, REDUCTIONS, type Reduction, reduce } from '../arith.ts';
import { CellNetlist, type Sig } from '../cell-netlist.ts';
import { checkBits, type Family, num, sfx } from './family.ts';

/**
 * Radix-2 partial products a_i b_j at column i+j. Signed cells use (modified) Baugh-Wooley:
 * bits with exactly one sign operand are inverted, plus constants 2^N and -2^(2N-1) (mod 2^2N).
 * `keep(i, j)` false omits the bit entirely (BAM); `zeroA/zeroB` force operand bits to 0
 * before the partial products are formed (truncation, perforation).
 */
export function ppBits(
  n: CellNetlist,
  signed: boolean,
  opts: { keep?: (i: number, j: number) => boolean; zeroA?: (i: number) => boolean; zeroB?: (j: number) => boolean } = {},
): PPMatrix {
  const N = n.bits;
  const m = new PPMatrix(2 * N);
  const a = (i: number): Sig => (opts.zeroA?.(i) ? 0 : n.a(i));
  const b = (j: number): Sig => (opts.zeroB?.(j) ? 0 : n.b(j));
  for (let j = 0; j < N; j++) {
    const row: { col: number; bit: Sig }[] = [];
    for (let i = 0; i < N; i++) {
      if (opts.keep && !opts.keep(i, j)) continue;
      let bit = n.and(a(i), b(j));
      if (signed && (i === N - 1) !== (j === N - 1)) bit = n.not(bit);
      row.push({ col: i + j, bit });
    }
    m.addRow(row);
  }
  if (signed) m.addConstant((1n << BigInt(N)) - (1n << BigInt(2 * N - 1)));
  return m;
}

export const exactFamily: Family = {
  name: 'exact',
  pattern: /^exact(?:_(array|dadda|wallace))?_([us])(\d+)$/,
  fromMatch(m, id) {
    return {
      id,
      family: 'exact',
      bits: checkBits(id, num(m[3])),
      signed: m[2] === 's',
      params: { reduction: m[1] ?? 'array' },
    };
  },
  format: (r) => `exact${r.params.reduction === 'array' ? '' : `_${r.params.reduction}`}_${sfx(r)}`,
  build(r) {
    const n = new CellNetlist(r.bits);
    n.outputs = reduce(n, ppBits(n, r.signed), r.params.reduction as Reduction);
    return n;
  },
  describe: (r) => `exact ${r.bits}x${r.bits} ${r.signed ? 'signed Baugh-Wooley' : 'unsigned AND-array'} multiplier, ${r.params.reduction} reduction`,
};

export { REDUCTIONS };
