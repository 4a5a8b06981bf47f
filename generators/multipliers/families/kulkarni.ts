/**
 * Kulkarni et al.: the multiplier is tiled from 2x2 blocks whose only error is 3 x 3 = 7
 * (3-bit output: p2 = a1 b1, p1 = a1 b0 | a0 b1, p0 = a0 b0); block outputs are summed exactly
 * (Dadda tree), which equals the recursive 4x4/8x8 composition.
 */

import { PPMatrix, reduce } from '../arith.ts';
import { CellNetlist } from '../cell-netlist.ts';
import { checkBits, type Family, num } from './family.ts';

export const kulkarniFamily: Family = {
  name: 'kulkarni',
  pattern: /^kulkarni_u(\d+)$/,
  fromMatch: (m, id) => ({ id, family: 'kulkarni', bits: checkBits(id, num(m[1]), true), signed: false, params: {} }),
  format: (r) => `kulkarni_u${r.bits}`,
  build(r) {
    const N = r.bits;
    const n = new CellNetlist(N);
    const m = new PPMatrix(2 * N);
    for (let i = 0; i < N; i += 2)
      for (let j = 0; j < N; j += 2) {
        const [a0, a1, b0, b1] = [n.a(i), n.a(i + 1), n.b(j), n.b(j + 1)];
        const c = i + j;
        m.addRow([
          { col: c, bit: n.and(a0, b0) },
          { col: c + 1, bit: n.or(n.and(a1, b0), n.and(a0, b1)) },
          { col: c + 2, bit: n.and(a1, b1) },
        ]);
      }
    n.outputs = reduce(n, m, 'dadda');
    return n;
  },
  describe: (r) => `Kulkarni: ${(r.bits / 2) ** 2} approximate 2x2 blocks (3x3=7), exact accumulation`,
};
