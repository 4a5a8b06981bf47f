import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { emit, table } from '../../core/output.ts';
import { defaultLiberty } from '../../core/paths.ts';
import { mapLimit } from '../../core/pool.ts';
import { TOP } from '../../generators/array/index.ts';
import type { Cell } from '../../generators/multipliers/index.ts';
import { selectCells } from '../../generators/multipliers/select.ts';
import { buildGateSim } from '../../synth/gatesim.ts';
import { loadLiberty } from '../../synth/liberty.ts';
import { checkCellNetlist, checkClaim, type NetlistCheck } from '../../synth/power.ts';
import { fmt, writeSynthReport } from '../../synth/report.ts';
import { type SynthResult, synthesize } from '../../synth/yosys.ts';
import { globals } from '../context.ts';

interface SynthRow {
  name: string;
  top: string;
  areaUm2: number;
  cellCount: number;
  cached: boolean;
  /** Body-less modules kept as instances (not in the area). */
  blackBoxes: string[];
  check?: NetlistCheck;
  report: string;
  netlist: string;
}

/** The synthesis view's file list an `axtpu gen` directory holds (paths relative to the directory). */
const SYNTH_FILELIST = 'synth.f';

/**
 * A directory written by `axtpu gen`: the files its synthesis view list `synth.f` names (one path
 * per line, relative to the directory) and the generator's top module. Files are read as they are
 * on disk, so hand edits to the view are synthesized too. Modules without a body (black-box macros)
 * are fine: Yosys keeps them as instances.
 */
export function readGeneratedDesign(dir: string, top = TOP): { top: string; sources: Record<string, string> } {
  const list = join(dir, SYNTH_FILELIST);
  const sources: Record<string, string> = {};
  const paths = readFileSync(list, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('//'));
  if (!paths.length) throw new UserError(`design dir ${dir}: ${SYNTH_FILELIST} lists no files`);
  for (const rel of paths) {
    const p = resolve(dir, rel);
    if (!/\.s?v$/.test(p)) throw new UserError(`design dir ${dir}: ${SYNTH_FILELIST} names '${rel}', not a .v/.sv file`);
    if (!existsSync(p) || !statSync(p).isFile()) throw new UserError(`design dir ${dir}: ${SYNTH_FILELIST} names '${rel}', which does not exist`);
    const name = basename(p);
    if (name in sources) throw new UserError(`design dir ${dir}: ${SYNTH_FILELIST} names two files called ${name}`);
    sources[name] = readFileSync(p, 'utf8');
  }
  return { top, sources };
}

/**
 * Verilog files of a design directory and its top module (given, or the one module nobody
 * instantiates). A directory written by `axtpu gen` is read through its synthesis view list.
 */
export function readDesignDir(dir: string, top?: string): { top: string; sources: Record<string, string> } {
  if (existsSync(join(dir, SYNTH_FILELIST))) return readGeneratedDesign(dir, top);
  const files = readdirSync(dir)
    .filter((f) => /\.s?v$/.test(f))
    .sort();
  if (!files.length) throw new UserError(`design dir ${dir}: no .v/.sv files (and no ${SYNTH_FILELIST} of a generated design)`);
  const sources: Record<string, string> = {};
  for (const f of files) sources[f] = readFileSync(join(dir, f), 'utf8');
  if (top) return { top, sources };
  const all = Object.values(sources)
    .join('\n')
    .replace(/\/\/.*$/gm, '')
    .replace(/\/\*[\s\S]*?\*\//g, '');
  const mods = [...all.matchAll(/\bmodule\s+([A-Za-z_]\w*)/g)].map((m) => m[1]!);
  const tops = mods.filter((m) => (all.match(new RegExp(`\\b${m}\\b`, 'g')) ?? []).length === 1);
  if (tops.length !== 1) throw new UserError(`design dir ${dir}: cannot tell the top module (candidates: ${tops.join(', ') || 'none'}); pass --top`);
  return { top: tops[0]!, sources };
}

export function registerSynth(program: Command): void {
  program
    .command('synth')
    .description('synthesize cells (by id) or a design directory to liberty cells with Yosys; area, cell counts, netlist == model check')
    .argument('<targets...>', 'cell ids (e.g. exact_u8 drum_k6_u8), a design directory written by `axtpu gen`, or a directory of Verilog files')
    .option('--liberty <file>', 'liberty library (default osu018 or $AXTPU_LIBERTY)')
    .option('--top <module>', `top module of a design directory (generated designs: ${TOP})`)
    .option('--no-check', 'skip the gate-level check of cell netlists against the model')
    .action(async (targets: string[], o: { liberty?: string; top?: string; check: boolean }, cmd: Command) => {
      const liberty = resolve(o.liberty ?? defaultLiberty());
      const lib = loadLiberty(liberty);
      const jobs = targets.flatMap((t): { name: string; cell?: Cell; top: string; sources: Record<string, string> }[] => {
        if (existsSync(t) && statSync(t).isDirectory()) {
          const d = readDesignDir(t, o.top);
          return [{ name: basename(resolve(t)), cell: undefined, ...d }];
        }
        if (/[/\\]/.test(t) || t.startsWith('.') || existsSync(t))
          throw new UserError(existsSync(t) ? `synth: ${t} is a file; give a cell id or a folder of Verilog files` : `synth: no such design folder: ${t}`);
        return selectCells([t], 'synth').map((cell) => ({
          name: cell.id,
          cell,
          top: cell.moduleName,
          sources: { [`${cell.moduleName}.v`]: cell.verilog() },
        }));
      });
      const results = await mapLimit(jobs, 2, async (j): Promise<SynthRow> => {
        const s: SynthResult = await synthesize({ top: j.top, sources: j.sources, liberty });
        const check = j.cell && o.check ? checkCellNetlist(j.cell, buildGateSim(s.netlist, lib)) : undefined;
        const rep = writeSynthReport(s, check);
        return {
          name: j.name,
          top: j.top,
          areaUm2: s.areaUm2,
          cellCount: s.cellCount,
          cached: s.hit,
          blackBoxes: s.blackBoxes,
          check,
          report: rep.md,
          netlist: s.netlistJson,
        };
      });
      emit(globals(cmd), { liberty, results }, (r) =>
        [
          `liberty ${r.liberty}`,
          table(
            ['design', 'area um^2', 'cells', 'netlist == model', 'cached', 'report'],
            r.results.map((x) => [x.name, Number(fmt(x.areaUm2)), x.cellCount, x.check ? checkClaim(x.check) : '-', x.cached ? 'yes' : 'no', x.report]),
          ),
          ...r.results
            .filter((x) => x.blackBoxes.length)
            .map((x) => `${x.name}: black-box modules kept as instances, not in the area: ${x.blackBoxes.join(', ')}`),
        ].join('\n'),
      );
      if (results.some((x) => x.check && x.check.mismatches > 0)) process.exitCode = 1;
    });
}
