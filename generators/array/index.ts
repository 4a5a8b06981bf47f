/**
 * Systolic-array generator: one validated config -> RTL views, UPF and layout. The GEMM
 * mapping, the bit-exact model and the cycle model are in mapping/. See docs/array.md.
 */

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type OutputDirOptions, writeDirAtomic } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { render } from '../../core/templates.ts';
import { readJsonFile } from '../../core/validate.ts';
import { arrayConfigSchema, checkRtlSize, type Design, resolveDesign } from './config.ts';
import { generateViews, TOP } from './rtl.ts';

export { type ArrayConfig, arrayConfigSchema, cellSetOption, type Design, resolveDesign, type TileSpec } from './config.ts';
export { type DesignViews, designLayout, generateViews, type Layout, TOP } from './rtl.ts';
export { latency } from './schedule.ts';

export interface WrittenDesign {
  dir: string;
  design: Design;
  files: string[];
}

/** The manifest: sha256 of every other file of the directory (what loadDesign checks against a regeneration). */
export const MANIFEST = 'manifest.json';
/** Sub-directories that hold generated files only (anything else in them is foreign). */
const GENERATED_DIRS = ['synth', 'sim'];

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** Every file of a design directory (relative path -> text), in write order, manifest last. */
function designFiles(design: Design): [string, string][] {
  const views = generateViews(design);
  const files: [string, string][] = [['config.json', `${JSON.stringify(design.config, null, 2)}\n`]];
  for (const view of ['synth', 'sim'] as const) {
    const names = Object.keys(views[view]);
    for (const n of names) files.push([`${view}/${n}`, views[view][n]!]);
    files.push([`${view}.f`, render('array/filelist.f', { files: names.map((n) => `${view}/${n}`) })]);
  }
  files.push([`${design.name}.upf`, views.upf]);
  const manifest = Object.fromEntries(files.map(([rel, text]) => [rel, sha256(text)]));
  files.push([MANIFEST, `${JSON.stringify({ generator: 'axtpu array', sha256: manifest }, null, 2)}\n`]);
  return files;
}

/**
 * Write a design directory atomically:
 *   config.json          the validated config (input of `axtpu sim gemm`)
 *   synth/  synth.f      synthesis view (structural cells, no simulation hooks)
 *   sim/    sim.f        fast simulation view (LUT cells, injection hooks)
 *   <name>.upf           power intent
 *   manifest.json        sha256 of every file above
 */
export async function writeDesign(design: Design, dir: string, opts: OutputDirOptions = {}): Promise<WrittenDesign> {
  checkRtlSize(design, 'write design');
  const files = designFiles(design);
  await writeDirAtomic(
    dir,
    (tmp) => {
      for (const [rel, text] of files) {
        const p = join(tmp, rel);
        mkdirSync(join(p, '..'), { recursive: true });
        writeFileSync(p, text);
      }
    },
    opts,
  );
  return { dir, design, files: files.map(([rel]) => rel) };
}

/**
 * Load a design directory written by writeDesign (or `axtpu gen`). The simulators regenerate
 * the RTL from config.json, so the folder must hold exactly what that config generates: an
 * edited or stale file is refused (naming the first one) instead of silently not simulated.
 */
export function loadDesign(dir: string): Design {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new UserError(`not a design directory (no config.json): ${dir}`);
  const design = resolveDesign(readJsonFile(arrayConfigSchema, path, 'design config'), `design config ${path}`);
  const files = designFiles(design);
  const refuse = (what: string) =>
    new UserError(`design directory ${dir} does not match what its config.json generates: ${what} (regenerate it with axtpu gen)`);
  for (const [rel, text] of files) {
    const p = join(dir, rel);
    if (!existsSync(p)) throw refuse(`${rel} is missing`);
    if (sha256(readFileSync(p)) !== sha256(text)) throw refuse(`${rel} differs`);
  }
  const expected = new Set(files.map(([rel]) => rel));
  for (const sub of GENERATED_DIRS) {
    const extra = readdirSync(join(dir, sub)).find((n) => !expected.has(`${sub}/${n}`));
    if (extra) throw refuse(`${sub}/${extra} is not a generated file`);
  }
  return design;
}

export const TOP_MODULE = TOP;
