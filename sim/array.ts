import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { scratchDir } from '../core/atomic.ts';
import { cached } from '../core/cache.ts';
import { UserError } from '../core/errors.ts';
import { runTool, spawnTool, toolErrorFor } from '../core/runner.ts';
import { render } from '../core/templates.ts';
import { parseOrThrow, z } from '../core/validate.ts';
import { buildVerilatorModel } from '../core/verilator.ts';
import { cellInfo } from '../generators/array/cells.ts';
import type { Design } from '../generators/array/config.ts';
import { PERF_COUNTERS, type PerfKey } from '../generators/array/perf.ts';
import { type DesignViews, generateViews, TOP } from '../generators/array/rtl.ts';
import { lut } from '../generators/multipliers/index.ts';
import {
  bufferLoadOrder,
  checkTags,
  foldOrder,
  foldPlan,
  type GemmCv,
  type GemmOut,
  gemmRegisterWrites,
  type Mat8,
  outputRowCount,
  placeOutputs,
  psumErrorWords,
  weightStream,
} from '../mapping/gemm.ts';
import type { LayerErrors } from '../nn/inject.ts';
import { FLAG, FOLD_WORDS, LOAD_WORDS, OP, PERF_WORDS, REG_WRITE_WORDS, STATUS, WIRE } from './protocol.ts';

/**
 * The array's Verilator harness: one C++ testbench (templates/array/harness.cpp) built once per
 * design and view (content-cached), driven over a binary stdin/stdout protocol so one process
 * runs many GEMMs. See the protocol description at the top of the template.
 */
export interface HarnessOptions {
  /** 'sim' = cells as shared LUT ROMs (fast, default); 'gate' = structural cells (slow cross-check). */
  view?: 'sim' | 'gate';
  /** Build the VCD-capable variant (separate cache entry). */
  trace?: boolean;
  /** Build the variant with per-PE activity taps (separate cache entry, slower). */
  activity?: boolean;
}

export interface BuiltHarness {
  exe: string;
  args: string[];
  hit: boolean;
  buildMs: number;
  views: DesignViews;
}

export function harnessSource(design: Design, views: DesignViews, activity: boolean): string {
  const colOffsets: number[] = [];
  let cols = 0;
  for (const t of design.tiles) {
    colOffsets.push(cols);
    cols += t.cols;
  }
  const colDomain = design.tiles.flatMap((t) => t.colDomain.map((d) => views.layout.domainOffset[t.index]! + d));
  return render('array/harness.cpp', {
    design: design.name,
    psumBits: design.psumBits,
    tiles: design.tiles.map((t) => ({ rows: t.rows, cols: t.cols, peOffset: views.layout.peOffset[t.index]!, colOffset: colOffsets[t.index]! })),
    nDomains: views.layout.domains.length,
    nLevels: design.levels.length,
    levelBits: views.layout.levelBits,
    op: OP,
    flag: FLAG,
    status: STATUS,
    foldWords: FOLD_WORDS,
    loadWords: LOAD_WORDS,
    perfWords: PERF_WORDS,
    wbufReadsIndex: PERF_COUNTERS.findIndex((c) => c.key === 'wbufReads'),
    regWriteWords: REG_WRITE_WORDS,
    wire: { request: WIRE.request, setInjection: WIRE[OP.setInjection], gemm: WIRE[OP.gemm], reply: WIRE.reply },
    maxCols: views.layout.maxCols,
    maxRows: views.layout.maxRows,
    activity,
    // Verilator's flattened names of every PE (column-major per tile), for the activity taps.
    taps: design.tiles.flatMap((t) =>
      Array.from({ length: t.rows * t.cols }, (_, i) => views.layout.pePath[t.index]![i % t.rows]![Math.floor(i / t.rows)]!.replace(/\./g, '__DOT__')),
    ),
    colDomain,
    tagBits: design.tags?.bits ?? 0,
  });
}

/** One LUT hex file per cell (cached by the LUT's content); returns plusargs for the sim view. */
async function lutArgs(design: Design): Promise<string[]> {
  const args: string[] = [];
  for (const id of design.cellIds) {
    const words = lut(id);
    const mod = cellInfo(id).moduleName;
    const res = await cached({ kind: 'array-lut', inputs: { id, words } }, (dir) => {
      const lines: string[] = new Array(words.length);
      for (let i = 0; i < words.length; i++) lines[i] = words[i]!.toString(16).padStart(4, '0');
      writeFileSync(join(dir, `${mod}.hex`), `${lines.join('\n')}\n`);
    });
    args.push(`+lut_${mod}=${join(res.dir, `${mod}.hex`)}`);
  }
  return args;
}

export async function buildHarness(design: Design, opts: HarnessOptions = {}): Promise<BuiltHarness> {
  const activity = Boolean(opts.activity);
  const views = generateViews(design, { activity });
  const view = opts.view ?? 'sim';
  const t0 = Date.now();
  const built = await buildVerilatorModel({
    top: TOP,
    sources: views[view],
    cppSources: { 'harness.cpp': harnessSource(design, views, activity) },
    // Verilator's generated Makefile compiles the model with -Os unless told otherwise. The fast
    // view gets -O2; the slow debug variants (gate-level, trace) compile quicker at -O1.
    flags: ['-MAKEFLAGS', view === 'gate' || opts.trace ? 'OPT_FAST=-O1 OPT_SLOW=-O0' : 'OPT_FAST=-O2 OPT_SLOW=-O1', ...(opts.trace ? ['--trace'] : [])],
    // Hardware popcount for the activity counters (libgcc's software fallback was 37 % of the run).
    // The model's eval is one huge straight-line function; capping GCC's alias-query budget halves
    // its compile time (16x16: 6.8 -> 3.8 CPU-s) at no measurable simulation cost (2.17 vs 2.16 M
    // cycles per CPU-second, bare loop).
    cflags: [...(process.arch === 'x64' ? ['-O2', '-mpopcnt'] : ['-O2']), '--param=sccvn-max-alias-queries-per-access=100'],
  });
  const args = view === 'sim' ? await lutArgs(design) : [];
  return { exe: built.exe, args, hit: built.hit, buildMs: Date.now() - t0, views };
}

export interface GemmRunOptions {
  tile?: number;
  mode?: number;
  seed?: number;
  /** Count transitions at every PE's a, b and p. */
  activity?: boolean;
  /** Apply the injection model (set with setInjection) at the domain outputs. */
  inject?: boolean;
  /** Level index per global domain (default all 0 = first level). */
  levels?: number[];
  /** Dump a VCD of cycles [from, to) to path (needs a trace build). */
  trace?: { from: number; to: number; path: string };
  /** Control-variate coefficients and q (designs with the hardware; default: all zero). */
  cv?: GemmCv;
  /** Cell-select tag of every weight, K x N (designs with a cell set; default all tag 0). */
  tags?: Mat8;
  /**
   * Drawn timing errors (nn/inject.ts `drawLayerErrors`) to add to the column results as the
   * accumulators take them (the sim-only inj_add port; docs/vos.md "Injection in the RTL").
   */
  psumErrors?: LayerErrors;
  /**
   * Weight-memory faults (docs/wmem.md): an XOR mask per weight, K x N like W, applied on the
   * weight FIFO's read data (the sim-only wfault port); padding weights are never faulty.
   */
  weightFaults?: Mat8;
}

export interface PeActivity {
  /** Transitions per PE, indexed [tileRow][tileCol]. */
  a: number[][];
  b: number[][];
  p: number[][];
}

export interface GemmRun {
  out: GemmOut;
  cycles: number;
  /** Harness-internal wall time for the cycle loop (ns). */
  ns: number;
  /** Harness CPU time for the cycle loop (ns): unaffected by other processes on the machine. */
  cpuNs: number;
  activity?: PeActivity;
  /** The RTL's access counters for this GEMM (generators/array/perf.ts). */
  counters: Record<PerfKey, number>;
}

/** A running harness process. */
export class ArraySim {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private dead: Error | undefined;
  private busy: Promise<unknown> = Promise.resolve();
  private closing = false;

  private constructor(
    readonly design: Design,
    readonly built: BuiltHarness,
    private readonly proc: ReturnType<typeof spawnTool>,
    private readonly run: { tool: string; args: string[]; logFile: string },
  ) {
    const out = proc.stdout as Readable;
    out.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.have += b.length;
      this.pump();
    });
    void proc.then((r) => {
      if (this.closing && r.exitCode === 0) return; // a clean close, not a crash
      this.dead = toolErrorFor(this.run, `harness exited (code ${r.exitCode ?? r.signal ?? '?'})`);
      if (this.waiter) this.waiter.reject(this.dead);
      this.waiter = undefined;
    });
  }

  static async open(design: Design, opts: HarnessOptions = {}): Promise<ArraySim> {
    const built = await buildHarness(design, opts);
    const logFile = join(scratchDir('array-sim'), 'harness.log');
    const run = { tool: built.exe, args: built.args, logFile };
    const proc = spawnTool(run);
    return new ArraySim(design, built, proc, run);
  }

  private pump(): void {
    const w = this.waiter;
    if (!w || this.have < w.n) return;
    const all = Buffer.concat(this.chunks);
    this.chunks = [all.subarray(w.n)];
    this.have = all.length - w.n;
    this.waiter = undefined;
    w.resolve(all.subarray(0, w.n));
  }

  private read(n: number): Promise<Buffer> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.pump();
    });
  }

  private write(b: Buffer): void {
    (this.proc.stdin as Writable).write(b);
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.busy.then(f, f);
    this.busy = p.catch(() => undefined);
    return p;
  }

  private async status(): Promise<void> {
    const s = (await this.read(4)).readUInt32LE(0);
    if (s !== STATUS.ok) {
      const len = (await this.read(4)).readUInt32LE(0);
      const msg = (await this.read(len)).toString('utf8');
      throw new Error(`array harness: ${msg}`);
    }
  }

  /** Per-level, per-bit flip probabilities at the domain outputs: prob[level][bit]. */
  setInjection(prob: number[][]): Promise<void> {
    return this.serial(async () => {
      const pw = this.design.psumBits;
      const b = Buffer.alloc(8 + prob.length * pw * 8);
      b.writeUInt32LE(OP.setInjection, 0);
      b.writeUInt32LE(prob.length, 4);
      prob.forEach((row, l) => {
        for (let i = 0; i < pw; i++) b.writeDoubleLE(row[i] ?? 0, 8 + (l * pw + i) * 8);
      });
      this.write(b);
      await this.status();
    });
  }

  gemm(A: Mat8, W: Mat8, o: GemmRunOptions = {}): Promise<GemmRun> {
    if (A.cols !== W.rows) throw new Error(`gemm: A is ${A.rows}x${A.cols} but W is ${W.rows}x${W.cols}`);
    if (A.rows < 1 || A.cols < 1 || W.cols < 1) throw new Error(`gemm: empty operand (M=${A.rows}, K=${A.cols}, N=${W.cols})`);
    if (A.data.length !== A.rows * A.cols || W.data.length !== W.rows * W.cols) throw new Error('gemm: operand data length does not match its shape');
    const tile = o.tile ?? 0;
    const t = this.design.tiles[tile];
    if (!t) throw new Error(`gemm: no tile ${tile}`);
    const mode = o.mode ?? 0;
    if (!(mode >= 0 && mode < this.design.modes)) throw new Error(`gemm: no mode ${mode}`);
    const nd = this.built.views.layout.domains.length;
    const bad = o.levels?.findIndex((l) => !(l >= 0 && l < this.design.levels.length)) ?? -1;
    if (bad >= 0) throw new Error(`gemm: domain ${bad} level ${o.levels![bad]} out of range (${this.design.levels.length} levels)`);
    // Everything about the GEMM's mapping comes from mapping/gemm.ts; the harness only moves it.
    const plan = foldPlan(this.design, tile, A.rows, A.cols, W.cols);
    const folds = foldOrder(plan);
    const loads = bufferLoadOrder(plan);
    const writes = gemmRegisterWrites(this.design, plan, { tile, mode, levels: o.levels, nDomains: nd, cv: o.cv });
    const wRows = weightStream(plan, folds, W);
    checkTags(this.design, plan.K, plan.N, o.tags);
    // Tagged designs: every weight's tag streams beside it (padding weights tag 0).
    const tRows = this.design.tags ? (o.tags ? weightStream(plan, folds, o.tags) : new Uint8Array(wRows.length)) : undefined;
    const outRows = outputRowCount(folds);
    if (o.weightFaults && (o.weightFaults.rows !== W.rows || o.weightFaults.cols !== W.cols))
      throw new Error(`gemm: weight faults are ${o.weightFaults.rows}x${o.weightFaults.cols}, W is ${W.rows}x${W.cols}`);
    const fRows = o.weightFaults ? weightStream(plan, folds, o.weightFaults) : new Uint8Array(0);
    const errWords = o.psumErrors ? psumErrorWords(this.design, plan, folds, o.psumErrors) : new Uint32Array(0);
    return this.serial(async () => {
      const path = Buffer.from(o.trace?.path ?? '', 'utf8');
      const flags = (o.activity ? FLAG.activity : 0) | (o.trace ? FLAG.trace : 0) | (o.inject ? FLAG.inject : 0);
      const u32 = (values: number[]) => Buffer.from(Uint32Array.from(values).buffer);
      const bytes = (a: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length);
      this.write(
        Buffer.concat([
          u32([OP.gemm, tile, flags, (o.seed ?? 1) >>> 0, o.trace?.from ?? 0, o.trace?.to ?? 0, path.length]),
          path,
          u32([writes.length, ...writes.flatMap((w) => [w.addr, w.data])]),
          u32([A.rows, A.cols]),
          bytes(A.data),
          u32([loads.length, ...loads.flatMap((l) => [l.m0, l.rows, l.k0, l.last ? 1 : 0])]),
          u32([folds.length, ...folds.flatMap((f) => [f.ubBase, f.rows, f.blockLast ? 1 : 0])]),
          u32([wRows.length]),
          bytes(wRows),
          ...(tRows ? [bytes(tRows)] : []),
          u32([fRows.length]),
          bytes(fRows),
          u32([errWords.length / 3]),
          Buffer.from(errWords.buffer, errWords.byteOffset, errWords.byteLength),
          u32([outRows]),
        ]),
      );
      await this.status();
      const cn = await this.read(24);
      const cycles = Number(cn.readBigUInt64LE(0));
      const ns = Number(cn.readBigUInt64LE(8));
      const cpuNs = Number(cn.readBigUInt64LE(16));
      const ob = await this.read(outRows * t.cols * 4);
      // The wire's little-endian words are host order (the harness only builds on little-endian
      // hosts: static_assert), so one copy into an aligned buffer decodes them.
      const rowsOut = new Uint32Array(outRows * t.cols);
      new Uint8Array(rowsOut.buffer).set(ob);
      const out = placeOutputs(plan, folds, rowsOut);
      const pb = await this.read(PERF_WORDS * 4);
      const counters = Object.fromEntries(PERF_COUNTERS.map((c, i) => [c.key, pb.readUInt32LE(i * 4)])) as Record<PerfKey, number>;
      let activity: PeActivity | undefined;
      if (o.activity) {
        const npe = t.rows * t.cols;
        const ab = await this.read(npe * 24);
        const mk = () => Array.from({ length: t.rows }, () => new Array<number>(t.cols).fill(0));
        activity = { a: mk(), b: mk(), p: mk() };
        for (let i = 0; i < npe; i++) {
          // PEs are column-major in the debug buses.
          const c = Math.floor(i / t.rows);
          const r = i % t.rows;
          activity.a[r]![c] = Number(ab.readBigUInt64LE(i * 24));
          activity.b[r]![c] = Number(ab.readBigUInt64LE(i * 24 + 8));
          activity.p[r]![c] = Number(ab.readBigUInt64LE(i * 24 + 16));
        }
      }
      return { out, cycles, ns, cpuNs, activity, counters };
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const b = Buffer.alloc(4);
    b.writeUInt32LE(OP.quit, 0);
    (this.proc.stdin as Writable).end(b);
    await this.proc;
    // The log's scratch folder goes with the harness (a crash's log is kept by toolErrorFor).
    rmSync(dirname(this.run.logFile), { recursive: true, force: true });
  }
}

/** Run one GEMM in RTL (opens and closes a harness; use ArraySim.open for many). */
export async function runGemm(design: Design, A: Mat8, W: Mat8, o: GemmRunOptions & HarnessOptions = {}): Promise<GemmRun> {
  const sim = await ArraySim.open(design, { view: o.view, trace: Boolean(o.trace), activity: Boolean(o.activity) });
  try {
    return await sim.gemm(A, W, o);
  } finally {
    await sim.close();
  }
}

/** Bare reference loop in the same binary: cycles/s of the model with nothing else around it. */
export async function bareSpeed(built: BuiltHarness, cycles: number): Promise<{ cycles: number; ns: number; cpuNs: number }> {
  const r = await runTool({ tool: built.exe, args: [...built.args, '--bare', String(cycles)], timeoutMs: 600_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { cycles: number; ns: number; cpuNs: number };
}

/** {"<level>": p | [p per psum bit]} -> flip probability table [level][bit] for the harness. */
export function flipTable(design: Design, spec: unknown, what = '--flip'): number[][] {
  const prob = z.number().min(0).max(1);
  const obj = parseOrThrow(z.record(z.union([prob, z.array(prob)])), spec, what);
  const table = design.levels.map(() => new Array<number>(design.psumBits).fill(0));
  for (const [level, v] of Object.entries(obj)) {
    const l = design.levels.findIndex((x) => x.name === level);
    if (l < 0) throw new UserError(`${what}: no level '${level}' (levels: ${design.levels.map((x) => x.name).join(', ')})`);
    if (Array.isArray(v) && v.length !== design.psumBits)
      throw new UserError(`${what}: level '${level}' needs ${design.psumBits} per-bit probabilities, got ${v.length}`);
    table[l] = Array.isArray(v) ? v : new Array<number>(design.psumBits).fill(v);
  }
  return table;
}
