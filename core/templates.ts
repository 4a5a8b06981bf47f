import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { templatesDir } from './paths.ts';

/**
 * Every emitted text (Verilog, C++ harness, Yosys scripts, TCL, UPF) is a handlebars template
 * under templates/. Templates are compiled once per process. `noEscape`: we emit code, not HTML.
 */
const hb = Handlebars.create();
const compiled = new Map<string, Handlebars.TemplateDelegate>();

hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
hb.registerHelper('add', (a: number, b: number) => a + b);
hb.registerHelper('sub', (a: number, b: number) => a - b);
hb.registerHelper('mul', (a: number, b: number) => a * b);
hb.registerHelper('join', (xs: unknown[], sep: unknown) => (Array.isArray(xs) ? xs.join(typeof sep === 'string' ? sep : ', ') : ''));
hb.registerHelper('last', (i: number, xs: unknown[]) => Array.isArray(xs) && i === xs.length - 1);

/** Render `templates/<name>.hbs` (name may contain subfolders, e.g. "cells/array_mult.v"). */
export function render(name: string, context: object): string {
  let tpl = compiled.get(name);
  if (!tpl) {
    const path = join(templatesDir, `${name}.hbs`);
    if (!existsSync(path)) throw new Error(`template not found: templates/${name}.hbs`);
    tpl = hb.compile(readFileSync(path, 'utf8'), { noEscape: true, strict: true });
    compiled.set(name, tpl);
  }
  return tpl(context);
}

/** Register a partial from templates/<name>.hbs for use as {{> name}}. */
export function registerPartial(name: string): void {
  hb.registerPartial(name, readFileSync(join(templatesDir, `${name}.hbs`), 'utf8'));
}

export { hb as handlebars };
