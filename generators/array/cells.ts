import { UserError } from '../../core/errors.ts';
import { getCell } from '../multipliers/index.ts';
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
