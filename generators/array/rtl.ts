import { render } from '../../core/templates.ts';
import { cellInfo } from './cells.ts';
import { cvVBits, type Design, type TileSpec } from './config.ts';
import { PERF_COUNTERS } from './perf.ts';
import { hex2, REG } from './regmap.ts';
import { arrayLatency, latency, weightRowCycles } from './schedule.ts';

/**
 * RTL generation: one Design -> the synthesis view (structural cells), the fast simulation view
 * (cells as shared LUT ROMs, sim-only injection hooks and activity taps), the gate-level
 * simulation view (structural cells + sim hooks) and the UPF. Pure: returns file texts.
 */
export type ViewName = 'synth' | 'sim' | 'gate';

export interface DesignViews {
  /** File name -> text, in compile order. */
  synth: Record<string, string>;
  sim: Record<string, string>;
  gate: Record<string, string>;
  upf: string;
  /** Instance hierarchy facts the checks and the harness use. */
  layout: Layout;
}

export interface Layout {
  maxRows: number;
  maxCols: number;
  totalPe: number;
  modeBits: number;
  tileBits: number;
  levelBits: number;
  cfgBits: number;
  /** Per tile: first PE index in the harness activity tables (PEs are column-major inside a tile). */
  peOffset: number[];
  /** Global domain index of each tile's first domain. */
  domainOffset: number[];
  /** Instance path of every PE's cell per tile: pePath[t][r][c]. */
  pePath: string[][][];
  /** Module name instantiated for every PE per tile. */
  peModule: string[][][];
  /** Every domain in global order. */
  domains: { tile: number; name: string; supply: string; columns: number[]; members: string[] }[];
  /** Per tile: the accumulator module (adders, counters; synthesized) and its memory macro (black box in synthesis). */
  accModule: string[];
  accMemModule: string[];
  /** Address bits of the accumulator memory (clog2 accEntries). */
  accRowBits: number;
  /** Width of the K-fold register. */
  kfBits: number;
  /** Activation buffer and weight FIFO macros (black boxes in synthesis) and their address bits. */
  ubModule: string;
  wbufModule: string;
  ubAddrBits: number;
  wbufAddrBits: number;
  /** Width of the clock-gating register (first gated column); 0 = design without clock gating. */
  colGateBits: number;
  /**
   * Control-variate hardware (docs/cv.md), per tile: the activation-sum column and the correction
   * stage with its coefficient rows; register widths. Undefined = design without it.
   */
  cv?: { vcolModule: string[]; module: string[]; memModule: string[]; rowBits: number; qBits: number; coefBits: number };
}

export const TOP = 'axtpu_top';

function clog2(n: number): number {
  let b = 0;
  while (1 << b < n) b++;
  return b;
}

/** Module name of a tile and of its parts (one place, used by RTL, UPF and checks). */
export const names = {
  tile: (t: TileSpec) => `axtpu_tile_${t.name}`,
  tileInst: (t: TileSpec) => `u_${t.name}`,
  column: (t: TileSpec, c: number) => `axtpu_${t.name}_col${c}`,
  domain: (t: TileSpec, d: string) => `axtpu_${t.name}_dom_${d}`,
  supply: (t: TileSpec, d: string, multiTile: boolean) => (multiTile ? `${t.name}_${d}` : d),
  acc: (t: TileSpec) => `axtpu_${t.name}_acc`,
  accMem: (t: TileSpec) => `axtpu_${t.name}_accmem`,
  vcol: (t: TileSpec) => `axtpu_${t.name}_vcol`,
  cv: (t: TileSpec) => `axtpu_${t.name}_cv`,
  cvMem: (t: TileSpec) => `axtpu_${t.name}_cvmem`,
  ubMem: 'axtpu_ubmem',
  wbufMem: 'axtpu_wbufmem',
  wtagMem: 'axtpu_wtagmem',
};

interface PeKind {
  module: string;
  /** cell id per mode. */
  cellsByMode: string[];
  multi: boolean;
}

/** PEs of a tagged design: one kind, every cell of the set present, the weight's tag selects. */
function taggedKinds(design: Design): { kinds: PeKind[]; peKind: number[][][] } {
  return {
    kinds: [{ module: 'axtpu_pe0', cellsByMode: [design.tags!.cells[0]!], multi: false }],
    peKind: design.tiles.map((t) => Array.from({ length: t.rows }, () => new Array<number>(t.cols).fill(0))),
  };
}

function peKinds(design: Design): { kinds: PeKind[]; peKind: number[][][] } {
  if (design.tags) return taggedKinds(design);
  const byKey = new Map<string, number>();
  const kinds: PeKind[] = [];
  const peKind = design.tiles.map((t) =>
    Array.from({ length: t.rows }, (_, r) =>
      Array.from({ length: t.cols }, (_, c) => {
        const cellsByMode = t.cells.map((m) => m[r]![c]!);
        const key = cellsByMode.join('|');
        let k = byKey.get(key);
        if (k === undefined) {
          k = kinds.length;
          byKey.set(key, k);
          kinds.push({ module: `axtpu_pe${k}`, cellsByMode, multi: new Set(cellsByMode).size > 1 });
        }
        return k;
      }),
    ),
  );
  return { kinds, peKind };
}

/**
 * `sim`: the PE for the simulation views (weight mux in Verilator's fast form, optional activity
 * taps); otherwise the synthesis PE. Both come from one template and are proven equivalent.
 */
function peText(kind: PeKind, design: Design, modeBits: number, dbg: boolean, sim: boolean, lut = false): string {
  const pw = design.psumBits;
  const tags = design.tags;
  // The multiplier's activation operand: the isolated one in zero-skipping PEs (pe.sv.hbs).
  const aOp = design.zeroSkip ? 'a_mul' : 'a_in';
  const unique = tags ? tags.cells : [...new Set(kind.cellsByMode)];
  const cells = unique.map((id, i) => {
    const modes = kind.cellsByMode.map((c, m) => (c === id ? m : -1)).filter((m) => m >= 0);
    const active = tags ? `(tag == ${tags.bits}'d${i})` : modes.map((m) => `(mode == ${modeBits}'d${m})`).join(' || ');
    return {
      module: cellInfo(id).moduleName,
      active,
      aExpr: `${aOp} & {8{act${i}}}`,
      bExpr: `b & {8{act${i}}}`,
    };
  });
  // A size cast keeps p single-use, so Verilator folds the LUT read into the psum add (the
  // replication form {{n{p[15]}}, p} made p a separate per-cycle variable: 2.5x slower).
  const pext = pw === 16 ? 'p' : design.signed ? `${pw}'($signed(p))` : `{${pw - 16}'d0, p}`;
  const orExpr = unique.map((_, i) => `(p${i} & {16{act${i}}})`).join(' | ');
  // LUT view of a tagged PE: one read of the tagged cell's ROM (a conditional, so the C++ model
  // reads one table, and p stays single-use); tag codes past the set give 0 like the masked OR.
  const lutSelect =
    lut && tags
      ? `${tags.cells.map((id, i) => `tag == ${tags.bits}'d${i} ? axtpu_lut_pkg::LUT_${cellInfo(id).moduleName}[{${aOp}, b}] : `).join('')}16'd0`
      : undefined;
  return render('array/pe.sv', {
    module: kind.module,
    cellsComment: tags
      ? unique.map((c, i) => `tag ${i}: ${c}`).join(', ')
      : kind.multi
        ? kind.cellsByMode.map((c, m) => `mode ${m}: ${c}`).join(', ')
        : unique[0]!,
    modeBits: kind.multi ? modeBits : 0,
    tagBits: tags?.bits ?? 0,
    // Tagged PEs hold every cell of the set, like a multi-mode PE (no mode port).
    multi: kind.multi || Boolean(tags),
    cells,
    orExpr,
    pext,
    pwm1: pw - 1,
    dbg,
    fastMux: sim,
    lutSelect,
    zeroSkip: design.zeroSkip,
    aOp,
  });
}

export interface ViewOptions {
  /** Add per-PE activity taps (tap_a/b/p, Verilator public) to the simulation views. */
  activity?: boolean;
}

interface Reg {
  name: string;
  width: number;
  from: string;
}

/** A delay chain of separate stage registers; returns the last stage's name (or the input). */
function chain(regs: Reg[], prefix: string, width: number, stages: number, input: string): string {
  let prev = input;
  for (let i = 0; i < stages; i++) {
    const name = `${prefix}_${i}`;
    regs.push({ name, width, from: prev });
    prev = name;
  }
  return prev;
}

/**
 * Delay signals by different amounts (a skew or de-skew) with one register vector per stage:
 * stage i holds every signal that still needs more than i cycles, longest delays in the low
 * lanes, so each stage is a truncating copy of the one before. The flops are exactly those of
 * one chain per signal; Verilator copies a stage as contiguous words, which the C++ compiler
 * vectorizes, instead of one load and store per signal and stage. Returns each signal's
 * delayed expression (delay 0: the input itself).
 */
function staircase(regs: Reg[], prefix: string, laneWidth: number, signals: { expr: string; delay: number }[]): string[] {
  const order = signals.map((s, k) => ({ ...s, k })).sort((x, y) => y.delay - x.delay || x.k - y.k);
  const stages = order[0]?.delay ?? 0;
  for (let i = 0; i < stages; i++) {
    const lanes = order.filter((s) => s.delay > i).length;
    const from =
      i === 0
        ? `{${order
            .slice(0, lanes)
            .reverse()
            .map((s) => s.expr)
            .join(', ')}}`
        : `${prefix}_${i - 1}[${lanes * laneWidth - 1}:0]`;
    regs.push({ name: `${prefix}_${i}`, width: lanes * laneWidth, from });
  }
  const out = signals.map((s) => s.expr);
  order.forEach((s, lane) => {
    if (s.delay > 0) out[s.k] = `${prefix}_${s.delay - 1}[${lane * laneWidth} +: ${laneWidth}]`;
  });
  return out;
}

function tileTiming(t: TileSpec, pw: number, cv: boolean, tagBits: number) {
  const R = t.rows;
  const C = t.cols;
  const regs: Reg[] = [];
  // One shared control chain; column c taps stage c-1.
  chain(regs, 'wctl', R + 1, C - 1, '{w_we, w_buf}');
  // Weight data of column c: c cycles late. Activation row r (+ buffer select): r cycles late.
  // Result of column c: C-1-c cycles late, so a whole output row leaves at once.
  const wd = staircase(
    regs,
    'wd',
    8,
    Array.from({ length: C }, (_, c) => ({ expr: `w_data[${c * 8} +: 8]`, delay: c })),
  );
  // Cell-select tags (tagged designs): skewed exactly like the weight data they belong to.
  const wt = tagBits
    ? staircase(
        regs,
        'wt',
        tagBits,
        Array.from({ length: C }, (_, c) => ({ expr: `w_tag[${c * tagBits} +: ${tagBits}]`, delay: c })),
      )
    : [];
  const ask = staircase(
    regs,
    'ask',
    9,
    Array.from({ length: R }, (_, r) => ({ expr: `{a_sel, a_gated[${r * 8} +: 8]}`, delay: r })),
  );
  // Control variate: the activation-sum column arrives with column 0 and takes its de-skew.
  const dsk = staircase(regs, 'dsk', pw, [
    ...Array.from({ length: C }, (_, c) => ({ expr: `col_out${c}`, delay: C - 1 - c })),
    ...(cv ? [{ expr: 'vcol_out', delay: C - 1 }] : []),
  ]);
  const colList = Array.from({ length: C }, (_, c) => ({
    col: c,
    wctlSrc: c === 0 ? '{w_we, w_buf}' : `wctl_${c - 1}`,
    wdSrc: wd[c]!,
    wtSrc: wt[c],
    outSrc: dsk[c]!,
  }));
  const rowList = Array.from({ length: R }, (_, r) => ({ row: r, src: ask[r]! }));
  const hNets: { c: number; r: number }[] = [];
  for (let c = 0; c <= C; c++) for (let r = 0; r < R; r++) hNets.push({ c, r });
  const spillExpr = Array.from({ length: R }, (_, r) => `s_h_${C}_${r}, a_h_${C}_${r}`).join(', ');
  const L = arrayLatency(t);
  return {
    vSrc: cv ? dsk[C]! : undefined,
    regs,
    colList,
    rowList,
    hNets,
    spillExpr,
    validNext: `{valid_pipe[${L - 2}:0], a_fire}`,
    lastNext: `{last_pipe[${L - 2}:0], a_fire && a_last}`,
  };
}

/** Tile context of the per-column clock enables (clock-gated designs; templates/array/tile.sv). */
function gatingContext(t: TileSpec, layout: Layout) {
  if (!layout.colGateBits) return undefined;
  // busy_pipe[c-1] = column 0's busy flag c cycles ago (the wavefront's trip to column c).
  return { colBits: layout.colGateBits, busyNext: t.cols === 2 ? 'col_busy[0]' : `{busy_pipe[${t.cols - 3}:0], col_busy[0]}` };
}

/** Layout plus the PE kinds the renderer needs (no text rendered). */
function plan(design: Design) {
  const multiTile = design.tiles.length > 1;
  const { kinds, peKind } = peKinds(design);
  const anyMulti = kinds.some((k) => k.multi);
  const modeBits = anyMulti ? Math.max(1, clog2(design.modes)) : 0;
  const tileBits = multiTile ? Math.max(1, clog2(design.tiles.length)) : 0;
  const levelBits = Math.max(1, clog2(design.levels.length));
  const cfgBits = Math.max(modeBits, tileBits, levelBits, REG.kFoldLast.width);
  const maxRows = Math.max(...design.tiles.map((t) => t.rows));
  const maxCols = Math.max(...design.tiles.map((t) => t.cols));
  const peOffset: number[] = [];
  const domainOffset: number[] = [];
  let pes = 0;
  let doms = 0;
  for (const t of design.tiles) {
    peOffset.push(pes);
    domainOffset.push(doms);
    pes += t.rows * t.cols;
    doms += t.domains.length;
  }
  const tileNeedsMode = design.tiles.map((t) => peKind[t.index]!.some((row) => row.some((k) => kinds[k]!.multi)));
  const colNeedsMode = (t: TileSpec, c: number) => peKind[t.index]!.some((row) => kinds[row[c]!]!.multi);

  const domains: Layout['domains'] = [];
  for (const t of design.tiles)
    for (const d of t.domains)
      domains.push({
        tile: t.index,
        name: d.name,
        supply: names.supply(t, d.name, multiTile),
        columns: d.columns,
        members: d.columns.map((c) => `${names.tileInst(t)}/u_dom_${d.name}/u_col${c}`),
      });

  const layout: Layout = {
    maxRows,
    maxCols,
    totalPe: pes,
    modeBits,
    tileBits,
    levelBits,
    cfgBits,
    peOffset,
    domainOffset,
    pePath: design.tiles.map((t) =>
      Array.from({ length: t.rows }, (_, r) =>
        Array.from({ length: t.cols }, (_, c) => {
          const d = t.domains[t.colDomain[c]!]!.name;
          return `${TOP}.${names.tileInst(t)}.u_dom_${d}.u_col${c}.u_pe${r}`;
        }),
      ),
    ),
    peModule: design.tiles.map((t) => peKind[t.index]!.map((row) => row.map((k) => kinds[k]!.module))),
    domains,
    accModule: design.tiles.map((t) => names.acc(t)),
    accMemModule: design.tiles.map((t) => names.accMem(t)),
    accRowBits: Math.max(1, clog2(design.accEntries)),
    kfBits: REG.kFoldLast.width,
    ubModule: names.ubMem,
    wbufModule: names.wbufMem,
    ubAddrBits: Math.max(1, clog2(design.memory.ubWords)),
    wbufAddrBits: Math.max(1, clog2(design.memory.wbufRows)),
    // Values 0..C: one bit more than a column index, so `c < col_gate_from` is never constant.
    colGateBits: design.clockGating ? clog2(maxCols + 1) : 0,
    ...(design.controlVariate
      ? {
          cv: {
            vcolModule: design.tiles.map((t) => names.vcol(t)),
            module: design.tiles.map((t) => names.cv(t)),
            memModule: design.tiles.map((t) => names.cvMem(t)),
            rowBits: Math.max(1, clog2(design.controlVariate.folds)),
            qBits: REG.cvQ.width,
            coefBits: REG.cvCoefData.width,
          },
        }
      : {}),
  };
  return { layout, kinds, peKind, tileNeedsMode, colNeedsMode };
}

/** Instance hierarchy and module names of a design: pure and cheap (renders no text). */
export function designLayout(design: Design): Layout {
  return plan(design).layout;
}

/** Configuration registers this design decodes (see regmap.ts): address, target, width. */
function registers(layout: Layout) {
  const regs: { addrHex: string; target: string; width: number }[] = [];
  if (layout.modeBits) regs.push({ addrHex: hex2(REG.mode.addr), target: 'mode', width: layout.modeBits });
  if (layout.tileBits) regs.push({ addrHex: hex2(REG.tile.addr), target: 'tile_sel', width: layout.tileBits });
  regs.push({ addrHex: hex2(REG.kFoldLast.addr), target: 'kfold_last', width: layout.kfBits });
  if (layout.colGateBits) regs.push({ addrHex: hex2(REG.colGateFrom.addr), target: 'col_gate_from', width: layout.colGateBits });
  if (layout.cv) {
    regs.push({ addrHex: hex2(REG.cvQ.addr), target: 'cv_q', width: layout.cv.qBits });
    regs.push({ addrHex: hex2(REG.cvNFoldLast.addr), target: 'cv_nfold_last', width: layout.cv.rowBits });
  }
  const lb = layout.levelBits;
  for (let d = 0; d < layout.domains.length; d++) regs.push({ addrHex: hex2(REG.domainLevel.addr + d), target: `dom_level[${d * lb} +: ${lb}]`, width: lb });
  return regs;
}

export function generateViews(design: Design, opts: ViewOptions = {}): DesignViews {
  const pw = design.psumBits;
  const tagBits = design.tags?.bits ?? 0;
  const multiTile = design.tiles.length > 1;
  const { layout, kinds, peKind, tileNeedsMode, colNeedsMode } = plan(design);
  const { modeBits, tileBits, levelBits, cfgBits, maxRows, maxCols, peOffset, domains } = layout;
  const pes = layout.totalPe;

  const arrayFiles = (sim: boolean) => {
    const parts: Record<string, string> = {};
    for (const t of design.tiles) {
      for (let c = 0; c < t.cols; c++) {
        parts[`${names.column(t, c)}.sv`] = render('array/column.sv', {
          module: names.column(t, c),
          col: c,
          tile: t.name,
          rows: t.rows,
          modeBits: colNeedsMode(t, c) ? modeBits : 0,
          pwm1: pw - 1,
          gated: design.clockGating,
          tagBits,
          pes: Array.from({ length: t.rows }, (_, r) => ({
            row: r,
            module: kinds[peKind[t.index]![r]![c]!]!.module,
            multi: kinds[peKind[t.index]![r]![c]!]!.multi,
            psumIn: r === 0 ? "'0" : `psum_${r - 1}`,
          })),
        });
      }
      for (const d of t.domains) {
        parts[`${names.domain(t, d.name)}.sv`] = render('array/domain.sv', {
          module: names.domain(t, d.name),
          name: d.name,
          tile: t.name,
          supply: names.supply(t, d.name, multiTile),
          columnList: d.columns,
          rows: t.rows,
          modeBits: d.columns.some((c) => colNeedsMode(t, c)) ? modeBits : 0,
          pwm1: pw - 1,
          sim,
          gated: design.clockGating,
          tagBits,
          rowList: Array.from({ length: t.rows }, (_, r) => ({ row: r })),
          cols: d.columns.map((c) => ({ col: c, module: names.column(t, c), modeBits: colNeedsMode(t, c) ? modeBits : 0 })),
        });
      }
      // Control variate: one more accumulator lane (the activation sum V).
      const accLanes = t.cols + (layout.cv ? 1 : 0);
      const accCtx = { tile: t.name, entries: design.accEntries, cols: accLanes, psumBits: pw, width: accLanes * pw, rowBits: layout.accRowBits };
      if (layout.cv) {
        const ext = (a: string) => (design.signed ? `${pw}'($signed(${a}))` : `{${pw - 8}'d0, ${a}}`);
        parts[`${names.vcol(t)}.sv`] = render('array/vcol.sv', {
          module: names.vcol(t),
          tile: t.name,
          rows: t.rows,
          pwm1: pw - 1,
          lastRow: t.rows - 1,
          rowList: Array.from({ length: t.rows }, (_, r) => ({ row: r, src: r === 0 ? ext('a_0') : `v_${r - 1} + ${ext(`a_${r}`)}` })),
        });
        parts[`${names.cv(t)}.sv`] = render('array/cv.sv', {
          module: names.cv(t),
          tile: t.name,
          cols: t.cols,
          colBits: Math.max(1, clog2(t.cols)),
          folds: design.controlVariate!.folds,
          rowBits: layout.cv.rowBits,
          qBits: layout.cv.qBits,
          coefBits: layout.cv.coefBits,
          psumBits: pw,
          vBits: cvVBits(design),
          vSpare: pw - cvVBits(design),
          prodBits: cvVBits(design) + layout.cv.coefBits,
          inWidth: accLanes * pw,
          outWidth: t.cols * pw,
          memModule: names.cvMem(t),
        });
        parts[`${names.cvMem(t)}.sv`] = render('array/cvmem.sv', {
          module: names.cvMem(t),
          tile: t.name,
          folds: design.controlVariate!.folds,
          cols: t.cols,
          coefBits: layout.cv.coefBits,
          rowBits: layout.cv.rowBits,
          width: t.cols * layout.cv.coefBits,
          blackbox: !sim,
        });
      }
      parts[`${names.acc(t)}.sv`] = render('array/acc.sv', { ...accCtx, module: names.acc(t), memModule: names.accMem(t), kfBits: layout.kfBits });
      parts[`${names.accMem(t)}.sv`] = render('array/accmem.sv', { ...accCtx, module: names.accMem(t), blackbox: !sim });
      const cellSummary = [...new Set(t.cells.flat(2))].join(', ');
      const timing = tileTiming(t, pw, Boolean(layout.cv), tagBits);
      parts[`${names.tile(t)}.sv`] = render('array/tile.sv', {
        module: names.tile(t),
        name: t.name,
        rows: t.rows,
        cols: t.cols,
        rowBits: Math.max(1, clog2(t.rows)),
        psumBits: pw,
        npe: t.rows * t.cols,
        latency: latency(t, design),
        arrayLatency: arrayLatency(t),
        accModule: names.acc(t),
        accMemModule: names.accMem(t),
        accRowBits: layout.accRowBits,
        kfBits: layout.kfBits,
        cellSummary,
        modeBits: tileNeedsMode[t.index] ? modeBits : 0,
        sim,
        gating: gatingContext(t, layout),
        tagBits,
        accLanes,
        cv: layout.cv
          ? {
              ...layout.cv,
              vcolModule: layout.cv.vcolModule[t.index],
              module: layout.cv.module[t.index],
              memModule: layout.cv.memModule[t.index],
              vSrc: timing.vSrc,
            }
          : undefined,
        ...timing,
        domains: t.domains.map((d) => ({
          name: d.name,
          module: names.domain(t, d.name),
          modeBits: d.columns.some((c) => colNeedsMode(t, c)) ? modeBits : 0,
          cols: d.columns.map((c) => ({ col: c })),
        })),
      });
    }
    return parts;
  };

  const lutCells = design.cellIds.map((id) => ({ id, module: cellInfo(id).moduleName }));
  const mem = design.memory;
  const beatsM1 = design.tiles.map((t) => weightRowCycles(t, mem.dramBytesPerCycle) - 1);
  const beatBits = Math.max(1, clog2(Math.max(...beatsM1) + 1));
  const tileIndices = design.tiles.map((t) => t.index);
  const memFiles = (sim: boolean) => ({
    [`${names.ubMem}.sv`]: render('array/bufmem.sv', {
      doc: 'Activation buffer (unified buffer)',
      module: names.ubMem,
      words: mem.ubWords,
      width: maxRows * 8,
      addrBits: layout.ubAddrBits,
      blackbox: !sim,
    }),
    [`${names.wbufMem}.sv`]: render('array/bufmem.sv', {
      doc: 'Weight FIFO storage',
      module: names.wbufMem,
      words: mem.wbufRows,
      width: maxCols * 8,
      addrBits: layout.wbufAddrBits,
      blackbox: !sim,
    }),
    ...(design.tags
      ? {
          [`${names.wtagMem}.sv`]: render('array/bufmem.sv', {
            doc: 'Cell-select tags beside the weight FIFO',
            module: names.wtagMem,
            words: mem.wbufRows,
            width: maxCols * design.tags.bits,
            addrBits: layout.wbufAddrBits,
            blackbox: !sim,
          }),
        }
      : {}),
  });
  const topText = (view: ViewName) =>
    render('array/top.sv', {
      design: design.name,
      viewName: view === 'synth' ? 'synthesis' : view === 'sim' ? 'simulation (LUT cells)' : 'gate-level simulation',
      tiles: design.tiles.map((t) => ({
        index: t.index,
        name: t.name,
        module: names.tile(t),
        rows: t.rows,
        cols: t.cols,
        npe: t.rows * t.cols,
        peOffset: peOffset[t.index]!,
        enExpr: multiTile ? `tile_sel == ${tileBits}'d${t.index}` : `1'b1`,
        modeBits: tileNeedsMode[t.index] ? modeBits : 0,
        beatsM1: beatsM1[t.index]!,
      })),
      ub: { words: mem.ubWords, half: Math.floor(mem.ubWords / 2), addrBits: layout.ubAddrBits, module: names.ubMem },
      wbuf: { depth: mem.wbufRows, addrBits: layout.wbufAddrBits, module: names.wbufMem },
      dramBytesPerCycle: mem.dramBytesPerCycle,
      beatBits,
      perf: PERF_COUNTERS,
      perfConcat: PERF_COUNTERS.map((c) => `perf_${c.key}`)
        .reverse()
        .join(', '),
      accRdAny: tileIndices.map((i) => `acc_rd_${i}`).join(' || '),
      accWrAny: tileIndices.map((i) => `acc_wr_${i}`).join(' || '),
      psumBits: pw,
      signed: design.signed,
      cfgBits,
      kfBits: layout.kfBits,
      colGateBits: layout.colGateBits,
      cv: layout.cv ? { ...layout.cv, ptrAddrHex: hex2(REG.cvCoefAddr.addr), dataAddrHex: hex2(REG.cvCoefData.addr) } : undefined,
      regs: registers(layout),
      regDocs: Object.values(REG).map((r) => ({ addrHex: hex2(r.addr), doc: r.doc })),
      maxRows,
      maxCols,
      totalPe: pes,
      nDomains: domains.length,
      levelBits,
      modeBits,
      tileBits,
      sim: view !== 'synth',
      tags: design.tags ? { bits: design.tags.bits, list: design.tags.cells.map((c, i) => `${i}=${c}`).join(' '), module: names.wtagMem } : undefined,
      lutCells: view === 'sim' ? lutCells : [],
    });

  // One module per file (file name = module name), as -Wall's DECLFILENAME asks.
  const common: Record<string, string> = { 'axtpu_ctrl.sv': render('array/ctrl.sv', {}), 'axtpu_memctl.sv': render('array/memctl.sv', {}) };
  if (design.clockGating) common['axtpu_clkgate.sv'] = render('array/clkgate.sv', {});
  const structural = Object.fromEntries(design.cellIds.map((id) => [`${cellInfo(id).moduleName}.v`, cellInfo(id).verilog()]));
  const lutFiles = Object.fromEntries(lutCells.map((c) => [`${c.module}.sv`, render('array/cell_lut.sv', c)]));
  const peFiles = (dbg: boolean, sim: boolean, lut = false) =>
    Object.fromEntries(kinds.map((k) => [`${k.module}.sv`, peText(k, design, modeBits, dbg, sim, lut)]));

  const synth: Record<string, string> = {
    ...structural,
    ...common,
    ...peFiles(false, false),
    ...arrayFiles(false),
    ...memFiles(false),
    'axtpu_top.sv': topText('synth'),
  };
  const dbg = Boolean(opts.activity);
  const simArray = arrayFiles(true);
  const simPe = peFiles(dbg, true);
  // Tagged designs: the LUT view's PE reads one LUT, chosen by the tag (see peText); the gate view keeps the cells.
  const lutPe = design.tags ? peFiles(dbg, true, true) : simPe;
  const sim: Record<string, string> = {
    'axtpu_lut_pkg.sv': render('array/lut_pkg.sv', { lutCells }),
    ...lutFiles,
    ...common,
    ...lutPe,
    ...simArray,
    ...memFiles(true),
    'axtpu_top.sv': topText('sim'),
  };
  const gate: Record<string, string> = {
    ...structural,
    ...common,
    ...simPe,
    ...simArray,
    ...memFiles(true),
    'axtpu_top.sv': topText('gate'),
  };
  const nominal = design.levels[0]!.volts;
  const upf = render('array/design.upf', {
    design: design.name,
    nominalVolts: nominal,
    levelBaseHex: hex2(REG.domainLevel.addr),
    levels: design.levels,
    domains: domains.map((d, i) => ({ ...d, tile: design.tiles[d.tile]!.name, columnList: d.columns, levelAddrHex: hex2(REG.domainLevel.addr + i) })),
    pstRows: design.levels.map((l) => ({ name: `all_${l.name}`, states: domains.map(() => l.name) })),
  });
  return { synth, sim, gate, upf, layout };
}
