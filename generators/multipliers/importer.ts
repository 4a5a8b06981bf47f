/**
 * Importing external cells into the user catalogue (store.ts):
 *  - a Verilog module (EvoApproxLib style) with a port binding: checked with Verilator
 *    (parses, module present, exactly three ports of the right widths, no clocked logic or
 *    latches, no X/Z constants, outputs independent of X initialisation), then modelled by
 *    exhaustive simulation into a LUT;
 *  - a TFApprox `.bin` LUT, which becomes the model and a LUT-ROM Verilog module.
 * Every check runs before anything is written; the cell folder is then written atomically.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { scratchDir, writeDirAtomic } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { stableStringify } from '../../core/hash.ts';
import { runTool } from '../../core/runner.ts';
import { render } from '../../core/templates.ts';
import { buildVerilatorModel } from '../../core/verilator.ts';
import { forgetCell, getCell, lutBytes } from './index.ts';
import { moduleNameFor } from './registry.ts';
import { EXT_NAME, type ExtMeta, extFolder, LUT_WORDS, readLutFile } from './store.ts';
import type { Cell } from './types.ts';

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
async function inspectVerilog(file: string, module: string, dir: string): Promise<Map<string, PortInfo>> {
  const text = readFileSync(file, 'utf8');
  const declared = [...text.matchAll(/\bmodule\s+([A-Za-z_][A-Za-z0-9_$]*)/g)].map((m) => m[1]!);
  if (!declared.includes(module)) throw new UserError(`${file}: module '${module}' not found (modules: ${declared.join(', ') || 'none'})`);
  const xmlPath = join(dir, 'design.xml');
  const r = await runTool({
    tool: 'verilator',
    args: ['--xml-only', '-Wno-fatal', '--top-module', module, '--xml-output', xmlPath, file],
    cwd: dir,
    logFile: join(dir, 'xml.log'),
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
    logFile: join(dir, 'lint.log'),
    okExitCodes: [0, 1],
  });
  const latch = lint.all.split('\n').find((l) => /^%Warning-(LATCH|COMBDLY)/.test(l));
  if (latch) throw new UserError(`${file}: module '${module}' infers a latch (${latch.replace(/^%Warning-\w+:\s*/, '')}); a cell must be combinational`);
  const undriven = lint.all.split('\n').find((l) => /^%Warning-UNDRIVEN/.test(l));
  if (undriven) throw new UserError(`${file}: undriven signal, outputs would be X: ${undriven.replace(/^%Warning-\w+:\s*/, '')}`);
  return ports;
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

/** Exhaustive simulation into a LUT; two runs with different random X fills must agree. */
async function simulateLut(moduleName: string, cellText: string, dir: string, file: string): Promise<Buffer> {
  const top = moduleName;
  const built = await buildVerilatorModel({
    top,
    sources: { [`${moduleName}.v`]: cellText },
    cppSources: { 'lut_dump.cpp': render('cells/lut_dump.cpp', { top }) },
    flags: ['--x-assign', 'unique', '--x-initial', 'unique', '-Wno-lint', '-Wno-style'],
    cflags: ['-O1'],
  });
  const outs: Buffer[] = [];
  for (const seed of [1, 2]) {
    const out = join(dir, `lut${seed}.bin`);
    await runTool({ tool: built.exe, args: [out, `+verilator+seed+${seed}`, '+verilator+rand+reset+2'], cwd: dir, logFile: join(dir, `sim${seed}.log`) });
    outs.push(readFileSync(out));
  }
  if (!outs[0]!.equals(outs[1]!))
    throw new UserError(`${file}: outputs depend on X values for some inputs (two X fills disagree); a cell must be 0/1 everywhere`);
  return outs[0]!;
}

async function store(name: string, meta: ExtMeta, verilogText: string, lutBuf: Buffer): Promise<Cell> {
  await writeDirAtomic(extFolder(name), (d) => {
    writeFileSync(join(d, 'cell.v'), verilogText);
    writeFileSync(join(d, 'lut.bin'), lutBuf);
    writeFileSync(join(d, 'meta.json'), `${JSON.stringify(JSON.parse(stableStringify(meta)), null, 2)}\n`);
  });
  forgetCell(meta.id);
  return getCell(meta.id);
}

export async function importVerilog(file: string, opts: { module: string; ports?: string; signed?: boolean; as?: string }): Promise<Cell> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UserError(`Verilog file not found: ${file}`);
  const bind = parsePorts(opts.ports);
  const name = checkName(stripExt(opts.as ?? opts.module));
  const id = `ext:${name}`;
  const moduleName = moduleNameFor(id);
  const dir = scratchDir('mult-import');
  try {
    const ports = await inspectVerilog(path, opts.module, dir);
    checkPorts(file, opts.module, ports, bind);
    const userText = prefixModules(readFileSync(path, 'utf8'), moduleName);
    const cellText = render('cells/ext_wrapper.v', { id, source: basename(path), userModule: opts.module, ports: bind, moduleName, userText });
    const lutBuf = await simulateLut(moduleName, cellText, dir, file);
    const meta: ExtMeta = { id, bits: 8, signed: Boolean(opts.signed), source: 'verilog', module: opts.module, ports: bind, importedFrom: path };
    return await store(name, meta, cellText, lutBuf);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

export async function importLut(file: string, opts: { as: string; signed?: boolean }): Promise<Cell> {
  const path = resolve(file);
  const name = checkName(stripExt(opts.as));
  const words = readLutFile(path);
  if (words.length !== LUT_WORDS) throw new UserError(`${file}: wrong LUT size`);
  const id = `ext:${name}`;
  const text = lutRomVerilog(id, basename(path), Boolean(opts.signed), words);
  const meta: ExtMeta = { id, bits: 8, signed: Boolean(opts.signed), source: 'lut', importedFrom: path };
  return store(name, meta, text, readFileSync(path));
}

/** Export a cell's LUT as a TFApprox `.bin` file (atomic write). */
export { lutBytes };
