/**
 * Systolic-array generator: one validated config -> RTL views, UPF, bit-exact model and cycle
 * model. See docs/array.md.
 */

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type OutputDirOptions, writeDirAtomic } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { render } from '../../core/templates.ts';
import { readJsonFile } from '../../core/validate.ts';
import { arrayConfigSchema, type Design, resolveDesign } from './config.ts';
import { generateViews, TOP } from './rtl.ts';

export { type ArrayConfig, arrayConfigSchema, type Design, resolveDesign, type TileSpec } from './config.ts';
export { decode, type GemmOut, gemmModel, type Mat8 } from './model.ts';
export { type DesignViews, generateViews, type Layout, TOP } from './rtl.ts';
export { type CycleReport, cycleModel, foldPlan, latency } from './schedule.ts';

export interface WrittenDesign {
  dir: string;
  design: Design;
  files: string[];
}

/**
 * Write a design directory atomically:
 *   config.json          the validated config (input of `axtpu sim gemm`)
 *   synth/  synth.f      synthesis view (structural cells, no simulation hooks)
 *   sim/    sim.f        fast simulation view (LUT cells, injection hooks)
 *   <name>.upf           power intent
 */
export async function writeDesign(design: Design, dir: string, opts: OutputDirOptions = {}): Promise<WrittenDesign> {
  const views = generateViews(design);
  const files: string[] = [];
  await writeDirAtomic(
    dir,
    (tmp) => {
      const put = (rel: string, text: string) => {
        const p = join(tmp, rel);
        mkdirSync(join(p, '..'), { recursive: true });
        writeFileSync(p, text);
        files.push(rel);
      };
      put('config.json', `${JSON.stringify(design.config, null, 2)}\n`);
      for (const view of ['synth', 'sim'] as const) {
        const names = Object.keys(views[view]);
        for (const n of names) put(`${view}/${n}`, views[view][n]!);
        put(`${view}.f`, render('array/filelist.f', { files: names.map((n) => `${view}/${n}`) }));
      }
      put(`${design.name}.upf`, views.upf);
    },
    opts,
  );
  return { dir, design, files };
}

/** Load a design directory written by writeDesign (or `axtpu gen`). */
export function loadDesign(dir: string): Design {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new UserError(`not a design directory (no config.json): ${dir}`);
  return resolveDesign(readJsonFile(arrayConfigSchema, path, 'design config'), `design config ${path}`);
}

export const TOP_MODULE = TOP;
