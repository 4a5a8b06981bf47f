import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../core/atomic.ts';
import { type CacheResult, cached } from '../core/cache.ts';
import { runTool } from '../core/runner.ts';
import { toolVersions } from '../core/tools.ts';

/**
 * Verilator builds, cached by content: (sources, harness, flags, tool versions) -> a directory
 * holding the compiled binary `obj_dir/V<top>` and `build.log`. A second build of the same
 * design is a cache hit and costs nothing.
 */
export interface VerilatorBuild {
  /** Top module name. */
  top: string;
  /** File name -> Verilog text. */
  sources: Record<string, string>;
  /** File name -> C++ text (the harness, from templates/). */
  cppSources: Record<string, string>;
  /** Extra verilator flags (e.g. --trace-fst). */
  flags?: string[];
  /** Extra C++ compiler flags. */
  cflags?: string[];
  /** Timeout for the whole build (ms). */
  timeoutMs?: number;
}

export interface BuiltModel extends CacheResult {
  /** Absolute path of the simulation executable. */
  exe: string;
  logFile: string;
}

/** Flags that make Verilator models fast here (docs/conventions.md, Tool behaviour). Single-threaded on purpose. */
export const FAST_FLAGS = ['-O3', '--x-assign', 'fast', '--x-initial', 'fast', '--noassert'];

export async function buildVerilatorModel(b: VerilatorBuild): Promise<BuiltModel> {
  const flags = [...FAST_FLAGS, ...(b.flags ?? [])];
  const cflags = ['-O2', ...(b.cflags ?? [])];
  const key = {
    kind: 'verilator',
    inputs: { top: b.top, sources: b.sources, cpp: b.cppSources, flags, cflags, tools: toolVersions(['verilator', 'c++']) },
  };
  const res = await cached(key, async (dir) => {
    const src = join(dir, 'src');
    mkdirSync(src, { recursive: true });
    for (const [name, text] of Object.entries({ ...b.sources, ...b.cppSources })) writeFileSync(join(src, name), text);
    const vfiles = Object.keys(b.sources).map((n) => join(src, n));
    const cfiles = Object.keys(b.cppSources).map((n) => join(src, n));
    await runTool({
      tool: 'verilator',
      args: [
        '--cc',
        '--exe',
        '--build',
        '-j',
        '2',
        '--top-module',
        b.top,
        '-Wno-fatal',
        '--Mdir',
        join(dir, 'obj_dir'),
        '-CFLAGS',
        cflags.join(' '),
        ...flags,
        ...vfiles,
        ...cfiles,
      ],
      cwd: dir,
      logFile: join(dir, 'build.log'),
      timeoutMs: b.timeoutMs ?? 900_000,
    });
  });
  const exe = join(res.dir, 'obj_dir', `V${b.top}`);
  if (!existsSync(exe)) throw new Error(`verilator build finished but ${exe} is missing`);
  return { ...res, exe, logFile: join(res.dir, 'build.log') };
}

export interface LintResult {
  ok: boolean;
  warnings: string[];
  log: string;
}

/**
 * `verilator --lint-only -Wall` on in-memory sources. Returns the warnings instead of throwing,
 * so callers decide whether a warning is a user error (imported Verilog) or a bug (generated).
 */
export async function lintVerilog(sources: Record<string, string>, top: string, extraFlags: string[] = [], timeoutMs = 300_000): Promise<LintResult> {
  const dir = scratchDir('lint');
  for (const [name, text] of Object.entries(sources)) writeFileSync(join(dir, name), text);
  const r = await runTool({
    tool: 'verilator',
    args: ['--lint-only', '-Wall', '--top-module', top, ...extraFlags, ...Object.keys(sources).map((n) => join(dir, n))],
    cwd: dir,
    logFile: join(dir, 'lint.log'),
    okExitCodes: [0, 1],
    timeoutMs,
  });
  rmSync(dir, { recursive: true, force: true });
  const warnings = r.all.split('\n').filter((l) => /^%(Warning|Error)/.test(l));
  return { ok: r.exitCode === 0 && warnings.length === 0, warnings, log: r.all };
}
