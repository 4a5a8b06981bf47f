import { UserError } from '../../core/errors.ts';
import { parseOrThrow, z } from '../../core/validate.ts';
import { productTable } from '../multipliers/index.ts';
import { cellInfo } from './cells.ts';

/**
 * The array configuration: ONE validated record from which the RTL (both views), the UPF,
 * the bit-exact model `gemmModel` and the cycle model `cycleModel` are all derived.
 *
 * User-facing shape (what `axtpu gen` assembles from its flags and what config.json holds):
 *   rows, cols      array size of the default tile (2..256 each; RTL generation up to 128, the
 *                   analytical path up to 256: ANALYTICAL_MAX_DIM / RTL_MAX_DIM)
 *   psumBits        partial-sum / accumulator width (16..32, default 32)
 *   accEntries      accumulator rows per tile (8..65536, default 4096 as TPU v1); an M-block of
 *                   a GEMM with several K-folds holds at most this many output rows
 *   ubKiB           activation ("unified") buffer, KiB (default TPU v1's 24 MiB scaled to the
 *                   array area: 96 KiB at 16x16); double-buffered by M-block (docs/memory.md)
 *   wbufKiB         weight FIFO between DRAM and the array, KiB (default 4 weight tiles, as TPU v1)
 *   dramBytesPerCycle  DRAM interface bandwidth (default TPU v1's 30 GB/s at 700 MHz per column,
 *                   scaled to the columns: 3 B/cycle at 16 columns)
 *   clockGating     gate the PE clocks per column: padding columns and idle columns do not clock
 *                   (default false; docs/array.md, Clock gating)
 *   zeroSkip        zero-skipping PEs: a PE whose stationary weight code is 0 holds its multiplier's
 *                   operands at 0 (operand isolation) and adds nothing (default false; signed cells
 *                   with cell(a, 0) = 0 only; docs/array.md, Zero skipping)
 *   controlVariate  {folds?}: control-variate compensation hardware (docs/cv.md); folds = coefficient
 *                   rows of C filters per tile (default 8)
 *   cell            one cell for the whole array, or
 *   map             {column:[C ids]} | {row:[R ids]} | {pe:[[C ids] x R]} | {modes:[cell-or-map, ...]}
 *   tiles           [{name, rows?, cols?, cell?, map?, domains?}]  heterogeneous sub-arrays
 *   cellSet         [2..4 ids]: every PE holds these cells and each weight carries a select tag
 *                   (clog2(n) bits, loaded and double-buffered with the weight) naming the cell that
 *                   multiplies it: per-weight (hence kernel-level) assignment (docs/array.md, Cell set)
 *   domains         {levels:[{name, volts}], domains:[{name, columns:[...]}]}
 */
export const MIN_DIM = 2;
/** Largest array the analytical path (cycles, buffer counts, energy from per-op figures) accepts. */
export const ANALYTICAL_MAX_DIM = 256;
/** Largest array `axtpu gen` / writeDesign emit as RTL (Verilator builds grow with R x C). */
export const RTL_MAX_DIM = 128;
/** The schema's limit (the analytical one); RTL generation checks RTL_MAX_DIM on top (checkRtlSize). */
export const MAX_DIM = ANALYTICAL_MAX_DIM;
export const MIN_ACC_ENTRIES = 8;
export const MAX_ACC_ENTRIES = 65536;
export const DEFAULT_ACC_ENTRIES = 4096;
export const MAX_BUFFER_KIB = 65536;
export const MAX_DRAM_BYTES_PER_CYCLE = 4096;
/** Control variate: coefficient rows (N-folds of C filters) a tile holds; default covers N <= 8 C. */
export const DEFAULT_CV_FOLDS = 8;
export const MAX_CV_FOLDS = 64;
/**
 * Width at which the correction stage reads the activation sum V (two's complement): its
 * multipliers are COEF x CV_V_BITS (a full psumBits operand would make them a third larger).
 * mapping/place.ts refuses a layer whose worst-case V does not fit.
 */
export const CV_V_BITS = 24;
export const cvVBits = (d: Pick<Design, 'psumBits'>): number => Math.min(CV_V_BITS, d.psumBits);
/** Cells a tagged PE may hold (a 2-bit tag per weight at most). */
export const MAX_CELL_SET = 4;

const cellId = z.string().min(1);
/** One runtime mode's cells: one cell for the tile, or per column, per row or per PE. */
const modeCellMap = z.union([
  cellId,
  z.object({ column: z.array(cellId).min(1) }).strict(),
  z.object({ row: z.array(cellId).min(1) }).strict(),
  z.object({ pe: z.array(z.array(cellId).min(1)).min(1) }).strict(),
]);
export type ModeCellMap = z.infer<typeof modeCellMap>;

const mapSchema = z.union([modeCellMap, z.object({ modes: z.array(modeCellMap).min(1).max(8) }).strict()]);
export type CellMap = z.infer<typeof mapSchema>;

const levelSchema = z.object({ name: z.string().regex(/^[A-Za-z]\w*$/, 'level names are identifiers'), volts: z.number().positive().max(5) }).strict();
const domainSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$/, 'domain names are identifiers without double or trailing underscores'),
    columns: z.array(z.number().int().min(0)).min(1),
  })
  .strict();
export const domainsSchema = z
  .object({
    levels: z.array(levelSchema).min(1).max(16).optional(),
    domains: z.array(domainSchema).min(1),
  })
  .strict();
export type DomainsSpec = z.infer<typeof domainsSchema>;

const dim = z.number().int().min(MIN_DIM, `must be >= ${MIN_DIM}`).max(MAX_DIM, `must be <= ${MAX_DIM}`);
const tileSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$/, 'tile names are identifiers without double or trailing underscores')
      .optional(),
    rows: dim.optional(),
    cols: dim.optional(),
    cell: cellId.optional(),
    map: mapSchema.optional(),
    domains: domainsSchema.optional(),
  })
  .strict();
/** Tiles (heterogeneous sub-arrays) a design may have; exploration gives each layer its own up to this. */
export const MAX_TILES = 8;
export const tilesSchema = z.array(tileSchema).min(1).max(MAX_TILES);

const kib = z.number().int().min(1, 'must be >= 1 KiB').max(MAX_BUFFER_KIB, `must be <= ${MAX_BUFFER_KIB} KiB`);

export const arrayConfigSchema = z
  .object({
    name: z
      .string()
      .regex(/^[\w.-]+$/, 'design names use letters, digits, _, . and - only')
      .optional(),
    rows: dim,
    cols: dim,
    psumBits: z.number().int().min(16).max(32).default(32),
    accEntries: z
      .number()
      .int()
      .min(MIN_ACC_ENTRIES, `must be >= ${MIN_ACC_ENTRIES}`)
      .max(MAX_ACC_ENTRIES, `must be <= ${MAX_ACC_ENTRIES}`)
      .default(DEFAULT_ACC_ENTRIES),
    ubKiB: kib.optional(),
    wbufKiB: kib.optional(),
    dramBytesPerCycle: z.number().int().min(1, 'must be >= 1').max(MAX_DRAM_BYTES_PER_CYCLE, `must be <= ${MAX_DRAM_BYTES_PER_CYCLE}`).optional(),
    clockGating: z.boolean().optional(),
    zeroSkip: z.boolean().optional(),
    controlVariate: z
      .object({
        folds: z.number().int().min(1, 'must be >= 1').max(MAX_CV_FOLDS, `must be <= ${MAX_CV_FOLDS}`).default(DEFAULT_CV_FOLDS),
      })
      .strict()
      .optional(),
    cell: cellId.optional(),
    map: mapSchema.optional(),
    cellSet: z
      .array(cellId)
      .min(2, 'a cell set needs at least 2 cells')
      .max(MAX_CELL_SET, `a cell set holds at most ${MAX_CELL_SET} cells (2 tag bits)`)
      .optional(),
    tiles: tilesSchema.optional(),
    domains: domainsSchema.optional(),
  })
  .strict();
export type ArrayConfig = z.input<typeof arrayConfigSchema>;

/** One sub-array after resolution: every PE's cell per runtime mode, every column's domain. */
export interface TileSpec {
  index: number;
  name: string;
  rows: number;
  cols: number;
  /** cells[mode][row][col] = cell id. One mode unless the design has runtime modes. */
  cells: string[][][];
  domains: { name: string; columns: number[] }[];
  /** domain index (into `domains`) of each column. */
  colDomain: number[];
}

/**
 * The memories around the array (docs/memory.md). Shared by all tiles: the activation buffer's
 * word is one activation row of the widest tile (maxRows bytes), the weight FIFO's one weight
 * row of the widest tile (maxCols bytes).
 */
export interface MemorySpec {
  ubKiB: number;
  ubWordBytes: number;
  ubWords: number;
  wbufKiB: number;
  wbufWordBytes: number;
  wbufRows: number;
  dramBytesPerCycle: number;
}

export interface Level {
  name: string;
  volts: number;
}

export interface Design {
  name: string;
  psumBits: number;
  /** Accumulator rows per tile (output rows one M-block of a multi-K-fold GEMM may hold). */
  accEntries: number;
  memory: MemorySpec;
  /** Per-column clock gates on the PEs (padding columns, idle columns); docs/array.md, Clock gating. */
  clockGating: boolean;
  /**
   * Zero-skipping PEs (docs/array.md, Zero skipping): a zero stationary weight isolates the
   * multiplier (its activation operand is ANDed to 0), so the product is cell(0, 0) = 0 and the
   * PE passes its psum through. Products are unchanged because every cell of such a design
   * returns 0 for weight code 0 (checked by resolveDesign): models and engine need no change.
   */
  zeroSkip: boolean;
  /**
   * Control-variate compensation hardware (docs/cv.md): per tile an activation-sum column, its
   * accumulator lane, `folds` x C coefficient registers and the correction stage after the
   * accumulators (one more cycle of latency). Undefined = none.
   */
  controlVariate?: { folds: number };
  signed: boolean;
  /** Number of runtime modes (1 = no mode register). */
  modes: number;
  /**
   * Per-weight cell select (config `cellSet`): every PE holds `cells`, each weight-buffer entry a
   * `bits`-wide tag naming the one that multiplies it (tag i = cells[i]; padding weights carry
   * tag 0, so tiles[].cells is cells[0] everywhere). Undefined = no tags (the RTL is unchanged).
   */
  tags?: { cells: string[]; bits: number };
  tiles: TileSpec[];
  levels: Level[];
  /** All cell ids used anywhere, sorted. */
  cellIds: string[];
  /** The validated user config this design came from (written as config.json). */
  config: z.infer<typeof arrayConfigSchema>;
}

const DEFAULT_LEVELS: Level[] = [{ name: 'nominal', volts: 1.8 }];

function expand(a: ModeCellMap, rows: number, cols: number, where: string): string[][] {
  if (typeof a === 'string') return grid(rows, cols, () => a);
  if ('column' in a) {
    if (a.column.length !== cols) throw new UserError(`${where}: column map has ${a.column.length} entries but the array has ${cols} columns`);
    return grid(rows, cols, (_r, c) => a.column[c]!);
  }
  if ('row' in a) {
    if (a.row.length !== rows) throw new UserError(`${where}: row map has ${a.row.length} entries but the array has ${rows} rows`);
    return grid(rows, cols, (r) => a.row[r]!);
  }
  if (a.pe.length !== rows) throw new UserError(`${where}: pe map has ${a.pe.length} rows but the array has ${rows} rows`);
  a.pe.forEach((row, r) => {
    if (row.length !== cols) throw new UserError(`${where}: pe map row ${r} has ${row.length} entries but the array has ${cols} columns`);
  });
  return grid(rows, cols, (r, c) => a.pe[r]![c]!);
}

function grid<T>(rows: number, cols: number, f: (r: number, c: number) => T): T[][] {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => f(r, c)));
}

function resolveDomains(d: DomainsSpec | undefined, cols: number, where: string): { domains: { name: string; columns: number[] }[]; colDomain: number[] } {
  if (!d) return { domains: [{ name: 'core', columns: Array.from({ length: cols }, (_, c) => c) }], colDomain: Array(cols).fill(0) };
  const colDomain: number[] = Array(cols).fill(-1);
  const names = new Set<string>();
  d.domains.forEach((dom, i) => {
    if (names.has(dom.name)) throw new UserError(`${where}: domain '${dom.name}' is defined twice`);
    names.add(dom.name);
    for (const c of dom.columns) {
      if (c >= cols) throw new UserError(`${where}: domain '${dom.name}' names column ${c} but the array has ${cols} columns (0..${cols - 1})`);
      if (colDomain[c] !== -1) throw new UserError(`${where}: column ${c} is in two domains`);
      colDomain[c] = i;
    }
  });
  const missing = colDomain.indexOf(-1);
  if (missing >= 0) throw new UserError(`${where}: column ${missing} belongs to no domain (every column needs one)`);
  return { domains: d.domains.map((x) => ({ name: x.name, columns: [...x.columns].sort((a, b) => a - b) })), colDomain };
}

function resolveCells(cell: string | undefined, map: CellMap | undefined, rows: number, cols: number, where: string): string[][][] {
  if (map && cell) throw new UserError(`${where}: give either a cell or a map, not both`);
  if (!map) {
    if (!cell) throw new UserError(`${where}: no cell given (use --cell <id> or --map <json>)`);
    return [expand(cell, rows, cols, where)];
  }
  if (typeof map === 'object' && 'modes' in map) return map.modes.map((m, i) => expand(m, rows, cols, `${where} mode ${i}`));
  return [expand(map, rows, cols, where)];
}

/** `--cell-set a,b,c` -> the ids (the schema checks the count and the cells). */
export function cellSetOption(v: string): string[] {
  return v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}

/** Validate a config and resolve it into the design every generator and model uses. */
export function resolveDesign(input: unknown, source = 'array config'): Design {
  const config = parseOrThrow(arrayConfigSchema, input, source);
  const tilesIn = config.tiles ?? [{}];
  if (config.tiles && (config.cell || config.map)) throw new UserError(`${source}: with tiles, give each tile its own cell or map`);
  if (config.tiles && config.domains) throw new UserError(`${source}: with tiles, give domains per tile`);
  const set = config.cellSet;
  if (set) {
    if (config.cell || config.map || config.tiles) throw new UserError(`${source}: a cellSet is the whole array's cells; give no cell, map or tiles with it`);
    const dup = set.find((id, i) => set.indexOf(id) !== i);
    if (dup) throw new UserError(`${source}: cellSet names ${dup} twice`);
  }
  const tiles: TileSpec[] = tilesIn.map((t, i) => {
    const rows = t.rows ?? config.rows;
    const cols = t.cols ?? config.cols;
    const where = config.tiles ? `${source} tile ${i}` : source;
    // Tagged designs: tag 0 (padding weights, untagged GEMMs) is the first cell of the set.
    const cells = set
      ? [grid(rows, cols, () => set[0]!)]
      : resolveCells(config.tiles ? t.cell : config.cell, config.tiles ? t.map : config.map, rows, cols, where);
    const { domains, colDomain } = resolveDomains(config.tiles ? t.domains : config.domains, cols, where);
    return { index: i, name: t.name ?? `tile${i}`, rows, cols, cells, domains, colDomain };
  });
  const tileNames = new Set(tiles.map((t) => t.name));
  if (tileNames.size !== tiles.length) throw new UserError(`${source}: tile names must be unique`);
  const modes = tiles[0]!.cells.length;
  if (tiles.some((t) => t.cells.length !== modes)) throw new UserError(`${source}: every tile must have the same number of runtime modes`);
  const ids = new Set<string>();
  for (const t of tiles) for (const m of t.cells) for (const row of m) for (const id of row) ids.add(id);
  for (const id of set ?? []) ids.add(id);
  const cellIds = [...ids].sort();
  const infos = cellIds.map((id) => cellInfo(id));
  const signed = infos[0]!.signed;
  const odd = infos.find((c) => c.signed !== signed);
  if (odd)
    throw new UserError(
      `${source}: cells disagree on signedness (${infos[0]!.id} is ${signed ? 'signed' : 'unsigned'}, ${odd.id} is not); all cells in one design must agree`,
    );
  const bad = infos.find((c) => c.bits !== 8);
  if (bad) throw new UserError(`${source}: cell ${bad.id} is ${bad.bits}-bit; the array needs 8-bit cells`);
  if (config.zeroSkip) checkZeroSkip(infos, signed, source);
  const levels = config.domains?.levels ?? config.tiles?.find((t) => t.domains?.levels)?.domains?.levels ?? DEFAULT_LEVELS;
  const nDomains = tiles.reduce((s, t) => s + t.domains.length, 0);
  if (nDomains > 200) throw new UserError(`${source}: at most 200 voltage domains, got ${nDomains}`);
  return {
    // Zero-skipping designs get their own default name (and rtl-out/ folder) beside the plain one.
    name: config.name ?? `${defaultName(tiles, cellIds)}${config.zeroSkip ? '_zs' : ''}`,
    psumBits: config.psumBits,
    accEntries: config.accEntries,
    memory: resolveMemory(config, tiles, source),
    clockGating: config.clockGating ?? false,
    zeroSkip: config.zeroSkip ?? false,
    ...(config.controlVariate ? { controlVariate: { folds: config.controlVariate.folds } } : {}),
    signed,
    modes,
    ...(set ? { tags: { cells: [...set], bits: Math.max(1, Math.ceil(Math.log2(set.length))) } } : {}),
    tiles,
    levels,
    cellIds,
    config,
  };
}

/**
 * Zero skipping is exact only where a skipped product was 0 anyway: the design is signed (weight
 * code 0 is the real zero; in the unsigned scheme a zero weight is code 128, whose products the
 * zero-point correction needs) and every cell gives cell(a, 0) = 0 for all 256 activations.
 */
function checkZeroSkip(cells: { id: string }[], signed: boolean, source: string): void {
  if (!signed)
    throw new UserError(
      `${source}: zeroSkip needs signed cells (in the unsigned scheme a zero weight is code 128, whose products a x 128 the zero-point correction relies on)`,
    );
  for (const c of cells) {
    const t = productTable(c.id);
    for (let a = 0; a < 256; a++)
      if (t[a << 8] !== 0) throw new UserError(`${source}: zeroSkip needs cells with cell(a, 0) = 0, but ${c.id} gives ${t[a << 8]} for activation code ${a}`);
  }
}

/**
 * RTL generation stops at RTL_MAX_DIM per side (the analytical path goes to ANALYTICAL_MAX_DIM):
 * one clear line for a design that only the analytical path can take.
 */
export function checkRtlSize(design: Design, source = 'gen'): void {
  const big = design.tiles.find((t) => t.rows > RTL_MAX_DIM || t.cols > RTL_MAX_DIM);
  if (big)
    throw new UserError(
      `${source}: a ${big.rows}x${big.cols} array is beyond RTL generation (at most ${RTL_MAX_DIM}x${RTL_MAX_DIM}); the analytical path accepts up to ${ANALYTICAL_MAX_DIM}x${ANALYTICAL_MAX_DIM}`,
    );
}

/** TPU v1 (Jouppi et al., ISCA'17): 256x256 MACs, 24 MiB unified buffer, 4-tile weight FIFO, 30 GB/s DRAM at 700 MHz. */
const TPU_V1 = { macs: 256 * 256, ubKiB: 24 * 1024, wbufTiles: 4, dramBytesPerCyclePerCol: 30e9 / 700e6 / 256 };

function resolveMemory(config: z.infer<typeof arrayConfigSchema>, tiles: TileSpec[], source: string): MemorySpec {
  const maxRows = Math.max(...tiles.map((t) => t.rows));
  const maxCols = Math.max(...tiles.map((t) => t.cols));
  const ubKiB = config.ubKiB ?? Math.max(1, Math.round((TPU_V1.ubKiB * maxRows * maxCols) / TPU_V1.macs));
  const wbufKiB = config.wbufKiB ?? Math.max(1, Math.ceil((TPU_V1.wbufTiles * maxRows * maxCols) / 1024));
  const dramBytesPerCycle = config.dramBytesPerCycle ?? Math.max(1, Math.round(TPU_V1.dramBytesPerCyclePerCol * maxCols));
  const ubWords = Math.floor((ubKiB * 1024) / maxRows);
  const wbufRows = Math.floor((wbufKiB * 1024) / maxCols);
  // Double-buffered by M-block: each half must hold at least one activation row per K-fold of a small GEMM.
  if (ubWords < 4) throw new UserError(`${source}: a ${ubKiB} KiB activation buffer holds ${ubWords} rows of ${maxRows} bytes; it needs at least 4`);
  return { ubKiB, ubWordBytes: maxRows, ubWords, wbufKiB, wbufWordBytes: maxCols, wbufRows, dramBytesPerCycle };
}

function defaultName(tiles: TileSpec[], cellIds: string[]): string {
  const t = tiles[0]!;
  const cells = cellIds.length === 1 ? cellIds[0]!.replace(/[^\w]/g, '_') : `mixed${cellIds.length}`;
  return `ws${t.rows}x${t.cols}_${cells}${tiles.length > 1 ? `_t${tiles.length}` : ''}`;
}
