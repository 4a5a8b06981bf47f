/**
 * Id -> built-in cell. Every family parses its own id grammar; the record it returns must
 * format back to the same id (canonical ids), so an id alone regenerates the cell.
 */
import { UserError } from '../../core/errors.ts';
import { render } from '../../core/templates.ts';
import type { CellNetlist } from './cell-netlist.ts';
import { bamFamily, perfFamily, truncFamily } from './families/arrayfam.ts';
import { boothFamily, radFamily, roupFamily } from './families/booth.ts';
import { c42Family } from './families/c42.ts';
import { drumFamily } from './families/drum.ts';
import { exactFamily } from './families/exact.ts';
import type { Family } from './families/family.ts';
import { kulkarniFamily } from './families/kulkarni.ts';
import { mitchellFamily } from './families/mitchell.ts';
import type { Cell, CellRecord } from './types.ts';

export const FAMILIES: Family[] = [
  exactFamily,
  boothFamily,
  bamFamily,
  truncFamily,
  perfFamily,
  roupFamily,
  radFamily,
  drumFamily,
  mitchellFamily,
  kulkarniFamily,
  c42Family,
];

/** A legal, unique Verilog identifier for an id (ids are [a-z0-9_:]; ':' only after 'ext'). */
export function moduleNameFor(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, '_');
}

/** A built-in (family) cell: backed by its gate netlist, exposed for evaluation. */
export interface BuiltinCell extends Cell {
  netlist(): CellNetlist;
}

export function parseBuiltin(id: string): BuiltinCell | undefined {
  for (const fam of FAMILIES) {
    const m = fam.pattern.exec(id);
    if (!m) continue;
    const rec = fam.fromMatch(m, id);
    const canonical = fam.format(rec);
    if (canonical !== id) throw new UserError(`cell id '${id}' is not canonical; use '${canonical}'`);
    return builtinCell(rec, fam);
  }
  return undefined;
}

function builtinCell(rec: CellRecord, fam: Family): BuiltinCell {
  let net: CellNetlist | undefined;
  const netlist = () => (net ??= fam.build(rec));
  const moduleName = moduleNameFor(rec.id);
  const cell: BuiltinCell = {
    ...rec,
    moduleName,
    netlist,
    model: (a, b) => decodeProduct(netlist().evaluateOne(a, b), rec.bits, rec.signed),
    describe: () => fam.describe(rec),
    verilog() {
      const body = netlist().verilogBody();
      return render('cells/cell.v', { id: rec.id, description: fam.describe(rec), moduleName, bits: rec.bits, signed: rec.signed, ...body });
    },
  };
  return cell;
}

/** Raw 2N-bit output word -> number (two's complement for signed cells). */
export function decodeProduct(raw: number, bits: number, signed: boolean): number {
  const W = 2 * bits;
  return signed && raw >= 2 ** (W - 1) ? raw - 2 ** W : raw;
}
