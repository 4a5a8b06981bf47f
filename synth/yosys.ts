import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cached } from '../core/cache.ts';
import { ToolError, UserError } from '../core/errors.ts';
import { defaultLiberty } from '../core/paths.ts';
import { runTool } from '../core/runner.ts';
import { render } from '../core/templates.ts';
import { toolVersions } from '../core/tools.ts';
import { type Library, loadLiberty } from './liberty.ts';
import { cellCounts, checkNetlistAgainstLibrary, type MappedNetlist, netlistArea, readNetlistJson } from './mapped-netlist.ts';

/**
 * Yosys flow: Verilog sources -> liberty cells (templates/synth/synth.ys.hbs). Cached by content:
 * sources, top, options, the liberty file's hash and the Yosys version.
 */
export interface SynthesizeOptions {
  top: string;
  /** file name -> Verilog text (all modules the top needs). */
  sources: Record<string, string>;
  /** Liberty path (default: AXTPU_LIBERTY or osu018). */
  liberty?: string;
  /** Flatten the hierarchy before mapping (default true). */
  flatten?: boolean;
  /** Modules flattening stops at: each is mapped on its own, its submodules flattened into it (cell banks). */
  keepModules?: string[];
}

export interface SynthResult {
  top: string;
  /** Cache directory holding netlist.json, netlist.v, stat.txt, stat.json, yosys.log. */
  dir: string;
  hash: string;
  hit: boolean;
  liberty: string;
  libraryName: string;
  /** Area from Yosys `stat -liberty` (um^2 for the OSU libraries); the whole design under top. */
  areaUm2: number;
  /** Area of each module's own cells (with flatten: false, e.g. the multiplier inside a PE). */
  moduleAreas: Record<string, number>;
  cellCount: number;
  cellsByType: Record<string, number>;
  netlistJson: string;
  netlistVerilog: string;
  netlist: MappedNetlist;
  /**
   * Modules without a body that are not liberty cells (e.g. a memory macro marked
   * `(* blackbox *)`): kept as instances, counted in cellCount, absent from the area.
   */
  blackBoxes: string[];
  durationMs: number;
}

const SYNTH_FLOW_VERSION = 1;

export async function synthesize(opts: SynthesizeOptions): Promise<SynthResult> {
  const liberty = resolve(opts.liberty ?? defaultLiberty());
  const lib = loadLiberty(liberty);
  if (!/^[A-Za-z_][\w$]*$/.test(opts.top)) throw new UserError(`synth: bad top module name '${opts.top}'`);
  const names = Object.keys(opts.sources).sort();
  if (names.length === 0) throw new UserError('synth: no Verilog sources');
  for (const n of names) if (!/^[\w.-]+$/.test(n)) throw new UserError(`synth: bad source file name '${n}'`);
  const declared = Object.values(opts.sources).flatMap((t) => [...t.matchAll(/\bmodule\s+\\?([A-Za-z_][\w$]*)/g)].map((m) => m[1]!));
  if (!declared.includes(opts.top))
    throw new UserError(
      `synth: top module '${opts.top}' is not declared in the sources (modules: ${declared.slice(0, 8).join(', ') || 'none'}${declared.length > 8 ? ', ...' : ''})`,
    );
  const flatten = opts.flatten ?? true;
  // Only designs with latches get the latch map, so every other script (and its cache key) is unchanged.
  const latchMap = Object.values(opts.sources).some((t) => /\balways_latch\b/.test(t)) ? latchMapText(lib) : undefined;
  const script = render('synth/synth.ys', {
    top: opts.top,
    liberty,
    sources: names.map((n) => `src/${n}`),
    flatten,
    keepModules: opts.keepModules ?? [],
    latchMap: latchMap ? 'latch_map.v' : undefined,
  });
  const t0 = Date.now();
  const res = await cached(
    {
      kind: 'yosys-synth',
      inputs: {
        v: SYNTH_FLOW_VERSION,
        top: opts.top,
        sources: opts.sources,
        script,
        latchMap,
        libertyHash: lib.hash,
        tools: toolVersions(['yosys']),
      },
    },
    async (dir) => {
      mkdirSync(join(dir, 'src'), { recursive: true });
      for (const n of names) writeFileSync(join(dir, 'src', n), opts.sources[n]!);
      writeFileSync(join(dir, 'synth.ys'), script);
      if (latchMap) writeFileSync(join(dir, 'latch_map.v'), latchMap);
      try {
        await runTool({ tool: 'yosys', args: ['-q', '-s', 'synth.ys'], cwd: dir, logFile: join(dir, 'yosys.log'), timeoutMs: 900_000 });
      } catch (err) {
        throw userErrorFromYosys(err, opts.top, lib);
      }
    },
  );
  const netlistJson = join(res.dir, 'netlist.json');
  const netlist = readNetlistJson(netlistJson, opts.top);
  const { all, blackBoxes } = moduleNames(netlistJson, lib);
  // Flattened: only body-less macros stay instances; kept hierarchy: every module may.
  checkNetlistAgainstLibrary(netlist, lib, flatten && !opts.keepModules?.length ? blackBoxes : all);
  const statText = readFileSync(join(res.dir, 'stat.txt'), 'utf8');
  const areaUm2 = parseStatArea(statText) ?? netlistArea(netlist, lib);
  const moduleAreas = parseModuleAreas(statText);
  return {
    top: opts.top,
    dir: res.dir,
    hash: res.hash,
    hit: res.hit,
    liberty,
    libraryName: lib.name,
    areaUm2,
    moduleAreas,
    cellCount: netlist.cells.length,
    cellsByType: cellCounts(netlist),
    netlistJson,
    netlistVerilog: join(res.dir, 'netlist.v'),
    netlist,
    blackBoxes,
    durationMs: Date.now() - t0,
  };
}

/** Techmap of Yosys's internal latches to the liberty's positive-enable latch and an inverter. */
function latchMapText(lib: Library): string {
  const cells = [...lib.cells.values()].filter((c) => !c.dontUse && !c.isPad);
  const latch = cells.find((c) => c.sequential?.kind === 'latch' && c.sequential.clock.op === 'var' && c.sequential.next.op === 'var');
  const inv = cells.find((c) => {
    const ins = [...c.pins.values()].filter((p) => p.direction === 'input');
    const outs = [...c.pins.values()].filter((p) => p.direction === 'output');
    return (
      !c.sequential &&
      ins.length === 1 &&
      outs.length === 1 &&
      outs[0]!.function?.replace(/[\s()]/g, '').match(new RegExp(`^(!${ins[0]!.name}|${ins[0]!.name}')$`))
    );
  });
  if (!latch || !inv) throw new UserError(`synth: liberty ${lib.name} has no plain latch and inverter for the design's latches (clock gates)`);
  const seq = latch.sequential!;
  const out = [...latch.pins.values()].find((p) => p.direction === 'output' && p.function?.trim() === seq.iq);
  if (!out) throw new UserError(`synth: liberty ${lib.name}: latch ${latch.name} has no output pin driven by ${seq.iq}`);
  const invIn = [...inv.pins.values()].find((p) => p.direction === 'input')!.name;
  const invOut = [...inv.pins.values()].find((p) => p.direction === 'output')!.name;
  const name = (e: typeof seq.clock) => (e.op === 'var' ? e.name : '');
  return render('synth/latch_map.v', {
    library: lib.name,
    latch: latch.name,
    enablePin: name(seq.clock),
    dataPin: name(seq.next),
    outPin: out.name,
    inv: inv.name,
    invIn,
    invOut,
  });
}

/**
 * `Chip area for module '\top': 11069.000000` / `Chip area for top module '\top': ...` (Yosys
 * 0.23 text stat; its JSON has no area). The top-module line (hierarchical total) wins.
 */
export function parseStatArea(text: string): number | undefined {
  const top = /Chip area for top module '[^']*':\s*([\d.eE+-]+)/.exec(text);
  if (top) return Number(top[1]);
  const all = [...text.matchAll(/Chip area for module '[^']*':\s*([\d.eE+-]+)/g)];
  const last = all[all.length - 1];
  return last ? Number(last[1]) : undefined;
}

export function parseModuleAreas(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/Chip area for module '\\?([^']*)':\s*([\d.eE+-]+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Every module of the written netlist, and those that are black boxes but not liberty cells. */
function moduleNames(netlistJson: string, lib: Library): { all: string[]; blackBoxes: string[] } {
  const data = JSON.parse(readFileSync(netlistJson, 'utf8')) as { modules?: Record<string, { attributes?: Record<string, unknown> }> };
  const mods = Object.entries(data.modules ?? {});
  // Yosys marks liberty cells read with -lib as black boxes too; only the others are the design's.
  const blackBoxes = mods.filter(([name, m]) => m.attributes?.blackbox !== undefined && !lib.cells.has(name)).map(([name]) => name);
  return { all: mods.map(([name]) => name), blackBoxes: blackBoxes.sort() };
}

export function libraryFor(path?: string): Library {
  return loadLiberty(resolve(path ?? defaultLiberty()));
}

/** Yosys failures caused by the design itself (unknown module/cell, syntax) become one-line UserErrors. */
function userErrorFromYosys(err: unknown, top: string, lib: Library): unknown {
  if (!(err instanceof ToolError)) return err;
  const missing = /Module `\\?([^']+)' referenced in module `\\?([^']+)'[^\n]*is not part of the design/.exec(err.logTail);
  if (missing)
    return new UserError(
      `design ${top}: module ${missing[2]} instantiates ${missing[1]}, which is neither a module in the sources nor a cell of liberty ${lib.file}`,
    );
  const ff = /ERROR: FF \S+ \(type (\S+)\) cannot be legalized: (.*)/.exec(err.logTail);
  if (ff) return new UserError(`design ${top} needs a ${ff[1]} flip-flop but liberty ${lib.file} has no such cell (${ff[2]!.trim()})`);
  const syntax = /ERROR: (.*(?:syntax error|Parser error|Can't open).*)/.exec(err.logTail);
  if (syntax) return new UserError(`design ${top}: ${syntax[1]!.replace(/\s+$/, '')}`);
  return err;
}
