/**
 * The approximate multiplier cell library: canonical id -> Cell (model, structural Verilog),
 * LUTs, EvoApprox metrics and the built-in catalogue. See docs/cells.md.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { rtlOutDir } from '../../core/paths.ts';
import { CATALOGUE_IDS } from './catalogue.ts';
import { type CellMetrics, computeMetrics } from './metrics.ts';
import { type BuiltinCell, decodeProduct, parseBuiltin } from './registry.ts';
import { loadExternal } from './store.ts';
import type { Cell } from './types.ts';

export type { CellMetrics } from './metrics.ts';
export { FAMILIES } from './registry.ts';
export { cellsDir, listExternalIds } from './store.ts';
export type { Cell, CellRecord } from './types.ts';

const cellCache = new Map<string, Cell>();

/** Any canonical id (built-in family with any valid parameters, or `ext:<name>`). */
export function getCell(id: string): Cell {
  const hit = cellCache.get(id);
  if (hit) return hit;
  let cell: Cell | undefined;
  if (id.startsWith('ext:')) cell = loadExternal(id);
  else cell = parseBuiltin(id);
  if (!cell) throw new UserError(`unknown cell id '${id}' (see 'axtpu mult list'; ids look like drum_k6_u8, roup_p1_r4_s8, ext:<name>)`);
  if (!id.startsWith('ext:')) {
    // The fast model reads the exhaustive LUT for N <= 8 (the LUT is the netlist evaluated once).
    const nc = cell as BuiltinCell;
    if (nc.bits <= 8) {
      const bits = nc.bits;
      const mask = (1 << bits) - 1;
      // Raw codes; masking also accepts negative numbers for signed cells (-1 -> 0xff).
      nc.model = (a, b) => productTable(nc)[((a & mask) << bits) | (b & mask)]!;
    }
  }
  cellCache.set(id, cell);
  return cell;
}

export function builtinCatalogue(): Cell[] {
  return CATALOGUE_IDS.map(getCell);
}

/**
 * A cell's truth table, memoized once per id: `words` is the LUT (raw 2N-bit output words, the
 * TFApprox `.bin` layout), `products` the same table decoded to numbers. Both are views of one
 * table, so they share one cache entry and are forgotten together.
 */
interface TruthTable {
  words: Uint16Array;
  products?: Int32Array;
}
const truthTables = new Map<string, TruthTable>();
const metricsCache = new Map<string, CellMetrics>();

function requireExhaustive(cell: Cell): void {
  if (cell.bits > 8) throw new UserError(`cell '${cell.id}': LUTs and exhaustive metrics exist only for widths <= 8`);
}

/**
 * Raw output words for all pairs, index `(a << N) | b`: for 8x8 cells 65,536 16-bit words in
 * the TFApprox `.bin` layout. Memoized per id.
 */
export function lut(cell: Cell | string): Uint16Array {
  return truthTable(typeof cell === 'string' ? getCell(cell) : cell).words;
}

/**
 * The product table: the LUT decoded to numbers (negative for signed cells), index `(a << N) | b`.
 * Takes a cell or its id (unknown ids are a UserError). Memoized per id.
 */
export function productTable(cell: Cell | string): Int32Array {
  const c = typeof cell === 'string' ? getCell(cell) : cell;
  const t = truthTable(c);
  if (!t.products) {
    const products = new Int32Array(t.words.length);
    for (let i = 0; i < t.words.length; i++) products[i] = decodeProduct(t.words[i]!, c.bits, c.signed);
    t.products = products;
  }
  return t.products;
}

function truthTable(cell: Cell): TruthTable {
  requireExhaustive(cell);
  let t = truthTables.get(cell.id);
  if (t) return t;
  let words = (cell as { lutWords?: Uint16Array }).lutWords;
  if (!words) {
    const nc = getCell(cell.id) as BuiltinCell;
    const raw = nc.netlist().evaluateAll();
    words = new Uint16Array(raw.length);
    for (let i = 0; i < raw.length; i++) words[i] = raw[i]!;
  }
  t = { words };
  truthTables.set(cell.id, t);
  return t;
}

export function cellMetrics(cell: Cell): CellMetrics {
  let m = metricsCache.get(cell.id);
  if (!m) {
    m = computeMetrics(productTable(cell), cell.bits, cell.signed);
    metricsCache.set(cell.id, m);
  }
  return m;
}

/** LUT as the bytes of a TFApprox `.bin` file (little-endian uint16). */
export function lutBytes(cell: Cell): Buffer {
  const words = lut(cell);
  const buf = Buffer.alloc(words.length * 2);
  for (let i = 0; i < words.length; i++) buf.writeUInt16LE(words[i]!, 2 * i);
  return buf;
}

export function cellVerilogPath(cell: Cell): string {
  return join(rtlOutDir(), 'cells', `${cell.moduleName}.v`);
}

/** Write `rtl-out/cells/<moduleName>.v` atomically; returns the path. */
export function writeCellVerilog(cell: Cell): string {
  const path = cellVerilogPath(cell);
  writeFileAtomic(path, cell.verilog());
  return path;
}

/** Forget memoized data of an id (after re-importing an external cell). */
export function forgetCell(id: string): void {
  cellCache.delete(id);
  truthTables.delete(id);
  metricsCache.delete(id);
}
