import { UserError } from '../../core/errors.ts';
import { getCell, lut, productTable } from '../multipliers/index.ts';
import type { Cell } from '../multipliers/types.ts';

/** The array's view of the cell library: lookup with a one-line error for unknown ids. */
export function cellInfo(id: string): Cell {
  try {
    return getCell(id);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`unknown cell '${id}': ${(err as Error).message.split('\n')[0]}`);
  }
}

const tables = new Map<string, Int32Array>();
/** Decoded product table (index (a<<8)|b), cached per process. */
export function cellTable(id: string): Int32Array {
  let t = tables.get(id);
  if (!t) {
    t = productTable(cellInfo(id));
    tables.set(id, t);
  }
  return t;
}

/** Raw 16-bit LUT words for the simulation ROM. */
export function cellLut(id: string): Uint16Array {
  return lut(cellInfo(id));
}
