/**
 * Importing external cells into the user catalogue (store.ts):
 *  - Verilog modules (EvoApproxLib style, one file or a whole folder) with a port binding:
 *    checked with Verilator (parses, module present, exactly three ports of the right widths,
 *    no clocked logic or latches, no X/Z constants, no combinational loop), then modelled by
 *    exhaustive simulation into LUTs: ONE Verilator model for all cells of an import (the
 *    `mult verify` bank), two X fills that must agree;
 *  - a TFApprox `.bin` LUT, which becomes the model and a LUT-ROM Verilog module.
 * A cell that behaves signed needs --signed (or --unsigned); an existing name needs --force.
 * Every check of every cell runs before anything is written; each cell folder is then written atomically.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ensureDir, scratchDir, writeDirAtomic } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { stableStringify } from '../../core/hash.ts';
import { mapLimit } from '../../core/pool.ts';
import { runTool } from '../../core/runner.ts';
import { render } from '../../core/templates.ts';
import { forgetCell, getCell, lutBytes } from './index.ts';
import { computeMetrics } from './metrics.ts';
import { decodeProduct, moduleNameFor } from './registry.ts';
import { cellsDir, EXT_NAME, type ExtMeta, extFolder, LUT_WORDS, readLutFile } from './store.ts';
import type { Cell } from './types.ts';
import { buildCellBank } from './verify.ts';

export interface PortBinding {
  a: string;
  b: string;
  p: string;
}

/** `a=A,b=B,p=O` -> binding (default EvoApprox A/B/O). */
export function parsePorts(spec: string | undefined): PortBinding {
  const ports: PortBinding = { a: 'A', b: 'B', p: 'O' };
  if (!spec) return ports;
  for (const part of spec.split(',')) {
    const m = /^\s*([abp])\s*=\s*([A-Za-z_][A-Za-z0-9_$]*)\s*$/.exec(part);
    if (!m) throw new UserError(`--ports: expected a=<port>,b=<port>,p=<port>, got '${spec}'`);
    ports[m[1] as keyof PortBinding] = m[2]!;
  }
  return ports;
}

function checkName(name: string): string {
  if (!EXT_NAME.test(name)) throw new UserError(`cell name '${name}' must match [A-Za-z][A-Za-z0-9_]* (it becomes ext:${name})`);
  return name;
}
function stripExt(as: string): string {
  return as.startsWith('ext:') ? as.slice(4) : as;
}

function attrs(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/(\w+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

interface PortInfo {
  dir: string;
  width: number;
}

/** Static checks via `verilator --xml-only` and `--lint-only -Wall`; returns the top's ports. */
async function inspectVerilog(file: string, module: string, dir: string): Promise<{ ports: Map<string, PortInfo>; lintLog: string }> {
  const text = readFileSync(file, 'utf8');
  const xmlPath = join(dir, `${module}.xml`);
  const r = await runTool({
    tool: 'verilator',
    args: ['--xml-only', '-Wno-fatal', '--top-module', module, '--xml-output', xmlPath, file],
    cwd: dir,
    logFile: join(dir, `${module}.xml.log`),
    okExitCodes: [0, 1],
  });
  const firstError = r.all.split('\n').find((l) => l.startsWith('%Error'));
  if (r.exitCode !== 0 || firstError || !existsSync(xmlPath))
    throw new UserError(`${file} does not parse: ${(firstError ?? r.all.trim().split('\n')[0] ?? 'verilator failed').replace(/^%Error:\s*/, '')}`);
  const xml = readFileSync(xmlPath, 'utf8');
  const dtypes = new Map<string, number>();
  for (const m of xml.matchAll(/<basicdtype [^>]*>/g)) {
    const a = attrs(m[0]);
    if (a.id) dtypes.set(a.id, a.left !== undefined && a.right !== undefined ? Math.abs(Number(a.left) - Number(a.right)) + 1 : 1);
  }
  const topStart = xml.search(new RegExp(`<module [^>]*name="${module}"[^>]*topModule="1"`));
  const topEnd = xml.indexOf('</module>', topStart);
  const ports = new Map<string, PortInfo>();
  for (const m of xml.slice(topStart, topEnd).matchAll(/<var [^>]*>/g)) {
    const a = attrs(m[0]);
    if (a.dir && a.name) ports.set(a.name, { dir: a.dir, width: dtypes.get(a.dtype_id ?? '') ?? -1 });
  }
  if (/<senitem [^>]*edgeType="(POS|NEG|BOTH|CHANGED)"/.test(xml) || /always_ff|always_latch/.test(text))
    throw new UserError(`${file}: module '${module}' contains clocked logic; a cell must be combinational`);
  const xz = [...xml.matchAll(/<const [^>]*>/g)]
    .map((m) => (attrs(m[0]).name ?? '').replace(/&apos;/g, "'"))
    .find((v) => /'[sS]?[bBoOhH][0-9a-fA-F_]*[xXzZ?]/.test(v));
  if (xz) throw new UserError(`${file}: module '${module}' uses X/Z constants (${xz}); outputs must be 0/1 for every input`);
  const lint = await runTool({
    tool: 'verilator',
    args: ['--lint-only', '-Wall', '-Wno-fatal', '--top-module', module, file],
    cwd: dir,
    logFile: join(dir, `${module}.lint.log`),
    okExitCodes: [0, 1],
  });
  const latch = lint.all.split('\n').find((l) => /^%Warning-(LATCH|COMBDLY)/.test(l));
  if (latch) throw new UserError(`${file}: module '${module}' infers a latch (${latch.replace(/^%Warning-\w+:\s*/, '')}); a cell must be combinational`);
  const undriven = lint.all.split('\n').find((l) => /^%Warning-UNDRIVEN/.test(l));
  if (undriven) throw new UserError(`${file}: undriven signal, outputs would be X: ${undriven.replace(/^%Warning-\w+:\s*/, '')}`);
  return { ports, lintLog: lint.all };
}

function checkPorts(file: string, module: string, ports: Map<string, PortInfo>, bind: PortBinding): void {
  const want: [keyof PortBinding, string, number][] = [
    ['a', 'input', 8],
    ['b', 'input', 8],
    ['p', 'output', 16],
  ];
  for (const [ours, dir, width] of want) {
    const theirs = bind[ours];
    const info = ports.get(theirs);
    if (!info) throw new UserError(`${file}: module '${module}' has no port '${theirs}' (bound to ${ours}; ports: ${[...ports.keys()].join(', ')})`);
    if (info.dir !== dir) throw new UserError(`${file}: port '${theirs}' (bound to ${ours}) must be an ${dir}, is ${info.dir}`);
    if (info.width !== width) throw new UserError(`${file}: port '${theirs}' (bound to ${ours}) must be ${width} bits wide, is ${info.width}`);
  }
  const extra = [...ports.keys()].filter((n) => ![bind.a, bind.b, bind.p].includes(n));
  if (extra.length) throw new UserError(`${file}: module '${module}' has extra ports (${extra.join(', ')}); a cell has exactly a, b and p`);
}

/** Rename every module declared in the user's text with the cell's prefix (unique per cell). */
function prefixModules(text: string, prefix: string): string {
  const names = [...new Set([...text.matchAll(/\bmodule\s+([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!))];
  let out = text;
  for (const n of names) out = out.replace(new RegExp(`\\b${n}\\b`, 'g'), `${prefix}__${n}`);
  return out;
}

/**
 * One Verilator build for every cell of an import: the cells side by side (the verify bank top),
 * all 65,536 pairs each, run twice with different random X fills that must agree per cell.
 */
async function simulateLuts(cells: { id: string; moduleName: string; text: string; file: string }[], dir: string): Promise<Buffer[]> {
  const built = await buildCellBank(cells.map((c) => ({ id: c.id, bits: 8, moduleName: c.moduleName, verilog: () => c.text })));
  const runs: Buffer[] = [];
  for (const seed of [1, 2]) {
    const out = join(dir, `lut${seed}.bin`);
    await runTool({
      tool: built.exe,
      args: ['--dump', out, `+verilator+seed+${seed}`, '+verilator+rand+reset+2'],
      cwd: dir,
      logFile: join(dir, `sim${seed}.log`),
    });
    runs.push(readFileSync(out));
  }
  const bytes = LUT_WORDS * 2;
  return cells.map((c, i) => {
    const [one, two] = runs.map((r) => r.subarray(i * bytes, (i + 1) * bytes));
    if (!one!.equals(two!)) throw new UserError(`${c.file}: outputs depend on X values for some inputs (two X fills disagree); a cell must be 0/1 everywhere`);
    return Buffer.from(one!);
  });
}

/** MAE of a LUT read as unsigned and as two's complement: which reading is a multiplier? */
export function signednessEvidence(lutBuf: Buffer): { unsignedMae: number; signedMae: number } {
  const words = new Uint16Array(LUT_WORDS);
  for (let i = 0; i < LUT_WORDS; i++) words[i] = lutBuf.readUInt16LE(2 * i);
  const asTable = (signed: boolean) => Int32Array.from(words, (w) => decodeProduct(w, 8, signed));
  return { unsignedMae: computeMetrics(asTable(false), 8, false).mae, signedMae: computeMetrics(asTable(true), 8, true).mae };
}

/**
 * Without --signed/--unsigned, a cell that behaves like a two's complement multiplier (its signed
 * reading is far more accurate than its unsigned one) is refused: imported as unsigned it would
 * show huge errors (MAE ~32,000 for an exact signed cell) and quantize the wrong way.
 */
function checkSignedness(source: string, lutBuf: Buffer, signed: boolean | undefined): boolean {
  if (signed !== undefined) return signed;
  const e = signednessEvidence(lutBuf);
  if (e.signedMae * 8 < e.unsignedMae)
    throw new UserError(
      `${source}: behaves as a signed (two's complement) multiplier (MAE ${e.signedMae.toFixed(1)} read as signed, ${e.unsignedMae.toFixed(1)} as unsigned); pass --signed, or --unsigned to import it as unsigned anyway`,
    );
  return false;
}

/** A bit-level combinational loop makes simulation abort ("did not converge"): refuse it up front. */
async function checkNoLoop(path: string, module: string, lintLog: string, dir: string): Promise<void> {
  // Verilator flags every variable-level cycle (UNOPTFLAT), including harmless vector self-use;
  // only then ask Yosys, at bit level, whether a real loop exists.
  if (!/^%Warning-UNOPTFLAT/m.test(lintLog)) return;
  const sub = join(dir, `loop-${module}`);
  ensureDir(sub);
  writeFileSync(join(sub, 'cell.v'), readFileSync(path));
  writeFileSync(join(sub, 'loop_check.ys'), render('cells/loop_check.ys', { file: 'cell.v', module }));
  const r = await runTool({ tool: 'yosys', args: ['-q', '-s', 'loop_check.ys'], cwd: sub, logFile: join(sub, 'yosys.log'), okExitCodes: [0, 1] });
  if (r.exitCode !== 0 && /found logic loop/.test(r.all)) {
    const wire = /wire\s+\\?(\S+)/.exec(r.all.slice(r.all.indexOf('found logic loop')))?.[1];
    throw new UserError(`${path}: module '${module}' has a combinational loop${wire ? ` (through ${wire})` : ''}; a cell must be loop-free logic`);
  }
}

async function store(name: string, meta: ExtMeta, verilogText: string, lutBuf: Buffer, force: boolean): Promise<Cell> {
  await writeDirAtomic(
    extFolder(name),
    (d) => {
      writeFileSync(join(d, 'cell.v'), verilogText);
      writeFileSync(join(d, 'lut.bin'), lutBuf);
      writeFileSync(join(d, 'meta.json'), `${JSON.stringify(JSON.parse(stableStringify(meta)), null, 2)}\n`);
    },
    { force },
  );
  forgetCell(meta.id);
  return getCell(meta.id);
}

/** Re-importing under an existing name replaces that cell only when asked. */
function checkNewName(id: string, force: boolean | undefined): void {
  const name = id.slice(4);
  if (!force && existsSync(join(extFolder(name), 'meta.json')))
    throw new UserError(`cell ${id} already exists in ${cellsDir()}; pass --force to replace it or --as <name> for another name`);
}

export interface ImportOptions {
  ports?: string;
  /** true/false: the user said so; undefined: detect, refusing a likely signed cell. */
  signed?: boolean;
  force?: boolean;
}

export interface VerilogSource {
  file: string;
  /** Module to import; default the module named like the file, else the one top module. */
  module?: string;
  /** Cell name (ext:<name>); default the module name. */
  as?: string;
}

/** The module a file offers: given, named like the file, or the single one no other module instantiates. */
function pickModule(path: string, text: string, wanted?: string): string {
  const clean = text.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const declared = [...clean.matchAll(/\bmodule\s+([A-Za-z_][A-Za-z0-9_$]*)/g)].map((m) => m[1]!);
  if (wanted) {
    if (!declared.includes(wanted)) throw new UserError(`${path}: module '${wanted}' not found (modules: ${declared.join(', ') || 'none'})`);
    return wanted;
  }
  const stem = basename(path).replace(/\.s?v$/, '');
  if (declared.includes(stem)) return stem;
  const tops = declared.filter((m) => (clean.match(new RegExp(`\\b${m.replace(/\$/g, '\\$')}\\b`, 'g')) ?? []).length === 1);
  if (tops.length !== 1)
    throw new UserError(`${path}: cannot tell which module is the cell (candidates: ${tops.join(', ') || 'none'}); import it alone with --module`);
  return tops[0]!;
}

/**
 * Import Verilog cells: every check for every cell first (static checks 2 at a time), then ONE
 * Verilator build that extracts all LUTs, then each cell folder written atomically.
 */
export async function importVerilogCells(sources: VerilogSource[], opts: ImportOptions = {}): Promise<Cell[]> {
  if (sources.length === 0) throw new UserError('mult import: no Verilog files given');
  const bind = parsePorts(opts.ports);
  const jobs = sources.map((s) => {
    const path = resolve(s.file);
    if (!existsSync(path)) throw new UserError(`Verilog file not found: ${s.file}`);
    const module = pickModule(s.file, readFileSync(path, 'utf8'), s.module);
    const name = checkName(stripExt(s.as ?? module));
    const id = `ext:${name}`;
    checkNewName(id, opts.force);
    return { file: s.file, path, module, name, id, moduleName: moduleNameFor(id) };
  });
  // Bank order = id order, as `mult verify 'ext:*'` selects them: verifying after import reuses the build.
  jobs.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const seen = new Map<string, string>();
  for (const j of jobs) {
    const other = seen.get(j.id);
    if (other) throw new UserError(`mult import: ${j.file} and ${other} would both become ${j.id}`);
    seen.set(j.id, j.file);
  }
  const dir = scratchDir('mult-import');
  try {
    const texts = await mapLimit(jobs, 2, async (j) => {
      const { ports, lintLog } = await inspectVerilog(j.path, j.module, dir);
      checkPorts(j.file, j.module, ports, bind);
      await checkNoLoop(j.path, j.module, lintLog, dir);
      const userText = prefixModules(readFileSync(j.path, 'utf8'), j.moduleName);
      return render('cells/ext_wrapper.v', { id: j.id, source: basename(j.path), userModule: j.module, ports: bind, moduleName: j.moduleName, userText });
    });
    const luts = await simulateLuts(
      jobs.map((j, i) => ({ id: j.id, moduleName: j.moduleName, text: texts[i]!, file: j.file })),
      dir,
    );
    const signed = jobs.map((j, i) => checkSignedness(j.file, luts[i]!, opts.signed));
    const cells: Cell[] = [];
    for (const [i, j] of jobs.entries()) {
      const meta: ExtMeta = { id: j.id, bits: 8, signed: signed[i]!, source: 'verilog', module: j.module, ports: bind, importedFrom: j.path };
      cells.push(await store(j.name, meta, texts[i]!, luts[i]!, Boolean(opts.force)));
    }
    return cells;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function importVerilog(file: string, opts: ImportOptions & { module: string; as?: string }): Promise<Cell> {
  const [cell] = await importVerilogCells([{ file, module: opts.module, as: opts.as }], opts);
  return cell!;
}

/** Verilog files of a folder (sorted), or the files given. */
export function expandImportPaths(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new UserError(`mult import: no such file or folder: ${p}`);
    if (statSync(p).isDirectory()) {
      const files = readdirSync(p)
        .filter((f) => /\.s?v$/.test(f))
        .sort()
        .map((f) => join(p, f));
      if (!files.length) throw new UserError(`mult import: folder ${p} holds no .v/.sv files`);
      out.push(...files);
    } else out.push(p);
  }
  return out;
}

export function lutRomVerilog(id: string, source: string, signed: boolean, words: Uint16Array): string {
  const rows: string[] = [];
  for (let a = 0; a < 256; a++) {
    let hex = '';
    // Row bit 16*b holds entry b: most significant (b = 255) first in the literal.
    for (let b = 255; b >= 0; b--) hex += words[(a << 8) | b]!.toString(16).padStart(4, '0');
    rows.push(hex);
  }
  return render('cells/lut_rom.v', { id, source, signed, moduleName: moduleNameFor(id), rows });
}

export async function importLut(file: string, opts: { as: string; signed?: boolean; force?: boolean }): Promise<Cell> {
  const path = resolve(file);
  const name = checkName(stripExt(opts.as));
  const words = readLutFile(path);
  if (words.length !== LUT_WORDS) throw new UserError(`${file}: wrong LUT size`);
  const id = `ext:${name}`;
  checkNewName(id, opts.force);
  const bytes = readFileSync(path);
  const signed = checkSignedness(file, bytes, opts.signed);
  const text = lutRomVerilog(id, basename(path), signed, words);
  const meta: ExtMeta = { id, bits: 8, signed, source: 'lut', importedFrom: path };
  return store(name, meta, text, bytes, Boolean(opts.force));
}

/** Export a cell's LUT as a TFApprox `.bin` file (atomic write). */
export { lutBytes };
