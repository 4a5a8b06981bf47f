import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../core/paths.ts';

/**
 * The folder order of docs/conventions.md (Layering): a file may import its own folder and the
 * folders before it. bench/ and test/ sit outside the order and may import anything.
 */
const ORDER = ['core', 'generators/multipliers', 'synth', 'generators/array', 'nn', 'mapping', 'sim', 'flow', 'explore', 'sweep', 'nas', 'cli'];

function layerOf(file: string): string | undefined {
  const parts = file.split('/');
  const top = parts[0] === 'generators' ? `generators/${parts[1]}` : parts[0]!;
  return ORDER.includes(top) ? top : undefined;
}

/** Source files (.ts, .mjs) of the repository, without tests, benchmarks and generated output. */
function sourceFiles(): string[] {
  const skip = new Set(['node_modules', '.git', 'test', 'bench', 'rtl-out', 'synth-reports']);
  return readdirSync(repoRoot, { withFileTypes: true })
    .filter((e) => !skip.has(e.name))
    .flatMap((e) => (e.isDirectory() ? readdirSync(join(repoRoot, e.name), { recursive: true, encoding: 'utf8' }).map((f) => `${e.name}/${f}`) : [e.name]))
    .filter((f) => /\.(ts|mjs)$/.test(f) && !f.endsWith('.d.ts'))
    .sort();
}

const local = (file: string, specs: string[]) => specs.filter((s) => s.startsWith('./') || s.startsWith('../')).map((s) => normalize(join(dirname(file), s)));

/**
 * What a file depends on. `imports`: static and type imports, re-exports, dynamic import().
 * `spawns`: worker entry files (`new URL('./x.mjs', import.meta.url)`): they obey the layering
 * but are not module-graph edges (a worker is its own thread with its own module graph, so a
 * worker that imports its spawner's helpers is not a cycle).
 */
function depsOf(file: string): { imports: string[]; spawns: string[] } {
  const text = readFileSync(join(repoRoot, file), 'utf8');
  const imports = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  const spawns = [...text.matchAll(/new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g)].map((m) => m[1]!);
  return { imports: local(file, imports), spawns: local(file, spawns) };
}

describe('layering: imports follow the data flow', () => {
  const files = sourceFiles();
  const deps = new Map(files.map((f) => [f, depsOf(f)]));
  const graph = new Map([...deps].map(([f, d]) => [f, d.imports]));
  const uses = new Map([...deps].map(([f, d]) => [f, [...d.imports, ...d.spawns]]));

  it('finds the source tree', () => {
    for (const layer of ['core', 'generators/multipliers', 'synth', 'generators/array', 'nn', 'sim', 'flow', 'explore', 'cli'])
      expect(files.some((f) => layerOf(f) === layer)).toBe(true);
    expect(files.filter((f) => !layerOf(f))).toEqual(['vitest.config.ts']);
  });

  it('no file imports a folder later in the order', () => {
    const upward: string[] = [];
    for (const [file, deps] of uses) {
      const from = ORDER.indexOf(layerOf(file)!);
      for (const dep of deps) {
        const to = layerOf(dep);
        if (to === undefined) upward.push(`${file} -> ${dep} (outside the layered folders)`);
        else if (ORDER.indexOf(to) > from) upward.push(`${file} -> ${dep} (${layerOf(file)} may not import ${to})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('every relative import resolves to a source file', () => {
    const missing = [...uses].flatMap(([file, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${file} -> ${d}`));
    expect(missing).toEqual([]);
  });

  it('no import cycle between files', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const d of graph.get(f) ?? []) {
        if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].join(' -> '));
        else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of [...graph.keys()].sort()) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});
