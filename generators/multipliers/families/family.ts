/**
 * A family turns a canonical id into a parameter record and the record into one netlist.
 * `format` is the inverse of `parse`: the id alone regenerates the cell.
 */
import { UserError } from '../../../core/errors.ts';
import type { CellNetlist } from '../cell-netlist.ts';
import type { CellRecord } from '../types.ts';

export interface Family {
  name: string;
  /** Regex over the whole id; the family's `fromMatch` validates ranges. */
  pattern: RegExp;
  fromMatch(m: RegExpExecArray, id: string): CellRecord;
  format(r: CellRecord): string;
  build(r: CellRecord): CellNetlist;
  describe(r: CellRecord): string;
}

export const MIN_BITS = 4;
export const MAX_BITS = 16;

export function num(s: string | undefined): number {
  return Number(s ?? NaN);
}

/** Range check with a one-line UserError naming the id and the bad parameter. */
export function check(id: string, name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new UserError(`cell id '${id}': ${name} must be in ${lo}..${hi}, got ${v}`);
  return v;
}

export function checkBits(id: string, bits: number, even = false): number {
  check(id, 'width', bits, MIN_BITS, MAX_BITS);
  if (even && bits % 2) throw new UserError(`cell id '${id}': this family needs an even width, got ${bits}`);
  return bits;
}

export const sfx = (r: CellRecord) => `${r.signed ? 's' : 'u'}${r.bits}`;
export const p = (r: CellRecord, k: string) => r.params[k] as number;
