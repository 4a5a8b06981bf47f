/**
 * Dadda multiplier whose low columns use approximate 4:2 compressors given by explicit truth
 * tables. A table maps the 16 input patterns (x1 = bit 0 .. x4 = bit 3) to 2-bit outputs
 * carry*2 + sum; it is written as 8 hex digits, entry e in bits 2e+1..2e. In every column below
 * `l`, groups of four bits go through the compressor (sum to column, carry to column+1) until
 * those columns are lower than 4; an exact Dadda tree and ripple adder finish the sum.
 */

import { UserError } from '../../../core/errors.ts';
import { reduceDadda, truthTable } from '../arith.ts';
import { CellNetlist, type Sig } from '../cell-netlist.ts';
import { ppBits } from './exact.ts';
import { check, checkBits, type Family, num, p } from './family.ts';

const pop = (e: number) => (e & 1) + ((e >> 1) & 1) + ((e >> 2) & 1) + ((e >> 3) & 1);
function tableHex(f: (e: number, x: number[]) => number): string {
  let v = 0n;
  for (let e = 0; e < 16; e++) v |= BigInt(f(e, [e & 1, (e >> 1) & 1, (e >> 2) & 1, (e >> 3) & 1]) & 3) << BigInt(2 * e);
  return v.toString(16).padStart(8, '0');
}

/** Named compressors (documented in docs/cells.md). */
export const COMPRESSORS: Record<string, string> = {
  /** Saturating count: min(popcount, 3); only 1111 is wrong (-1). */
  sat: tableHex((e) => Math.min(pop(e), 3)),
  /** AND-OR: carry = x1 x2 | x3 x4, sum = (x1 ^ x2) | (x3 ^ x4). */
  ao: tableHex((_, [x1, x2, x3, x4]) => (((x1! & x2!) | (x3! & x4!)) << 1) | ((x1! ^ x2!) | (x3! ^ x4!))),
  /** Majority/parity: carry = popcount >= 2, sum = parity; only 1111 is wrong (gives 2). */
  par: tableHex((e) => ((pop(e) >= 2 ? 1 : 0) << 1) | (pop(e) & 1)),
};

export const c42Family: Family = {
  name: 'c42',
  pattern: /^c42_([a-z]+|x[0-9a-f]{8})_l(\d+)_u(\d+)$/,
  fromMatch(m, id) {
    const bits = checkBits(id, num(m[3]));
    const name = m[1]!;
    let table: string;
    if (name.startsWith('x') && name.length === 9) table = name.slice(1);
    else {
      const t = COMPRESSORS[name];
      if (!t) throw new UserError(`cell id '${id}': unknown compressor '${name}' (known: ${Object.keys(COMPRESSORS).join(', ')}, or x<8 hex digits>)`);
      table = t!;
    }
    return { id, family: 'c42', bits, signed: false, params: { table, l: check(id, 'l', num(m[2]), 1, 2 * bits) } };
  },
  format(r) {
    const named = Object.entries(COMPRESSORS).find(([, t]) => t === r.params.table)?.[0];
    return `c42_${named ?? `x${r.params.table}`}_l${p(r, 'l')}_u${r.bits}`;
  },
  build(r) {
    const n = new CellNetlist(r.bits);
    const W = 2 * r.bits;
    const l = p(r, 'l');
    const table = BigInt(`0x${r.params.table}`);
    const out = (e: number) => Number((table >> BigInt(2 * e)) & 3n);
    let cols: Sig[][] = ppBits(n, false).columns();
    while (cols.some((c, k) => k < l && c.length >= 4)) {
      const next: Sig[][] = Array.from({ length: W }, () => []);
      for (let k = 0; k < W; k++) {
        const col = [...cols[k]!];
        while (k < l && col.length >= 4) {
          const x = col.splice(0, 4);
          next[k]!.push(truthTable(n, x, (e) => (out(e) & 1) === 1));
          if (k + 1 < W) next[k + 1]!.push(truthTable(n, x, (e) => (out(e) & 2) === 2));
        }
        next[k]!.push(...col);
      }
      cols = next;
    }
    n.outputs = reduceDadda(n, cols, W);
    return n;
  },
  describe: (r) => `Dadda tree with approximate 4:2 compressors (table ${r.params.table}) in columns 0..${p(r, 'l') - 1}`,
};
