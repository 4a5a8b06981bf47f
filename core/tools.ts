import { existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execaSync } from 'execa';
import { defaultLiberty, FASHION_MNIST_DIR, LIBERTY } from './paths.ts';

/** External tools axtpu drives, the Debian package that ships each, and how to ask its version. */
export interface ToolSpec {
  name: string;
  exe: string;
  pkg: string;
  versionArgs: string[];
  /** Extract a version string from the tool's output. */
  parse: (out: string) => string;
  purpose: string;
}

const firstLine = (s: string) => s.trim().split('\n')[0]?.trim() ?? '';

export const TOOLS: ToolSpec[] = [
  {
    name: 'verilator',
    exe: 'verilator',
    pkg: 'verilator',
    versionArgs: ['--version'],
    parse: (s) => /Verilator\s+([\d.]+)/.exec(s)?.[1] ?? firstLine(s),
    purpose: 'lint, cycle-accurate simulation',
  },
  {
    name: 'yosys',
    exe: 'yosys',
    pkg: 'yosys',
    versionArgs: ['-V'],
    parse: (s) => /Yosys\s+([\d.+]+)/.exec(s)?.[1] ?? firstLine(s),
    purpose: 'synthesis to liberty cells',
  },
  {
    name: 'opensta',
    exe: 'sta',
    pkg: 'opensta',
    versionArgs: ['-version'],
    parse: (s) => firstLine(s),
    purpose: 'timing and power cross-check',
  },
  {
    name: 'c++',
    exe: 'g++',
    pkg: 'g++',
    versionArgs: ['--version'],
    parse: (s) => /(\d+\.\d+\.\d+)/.exec(firstLine(s))?.[1] ?? firstLine(s),
    purpose: 'compiles Verilator models',
  },
  {
    name: 'make',
    exe: 'make',
    pkg: 'make',
    versionArgs: ['--version'],
    parse: (s) => /(\d+\.\d+(\.\d+)?)/.exec(firstLine(s))?.[1] ?? firstLine(s),
    purpose: 'builds Verilator models',
  },
];

/** Find an executable on PATH (no shell). */
export function which(exe: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  if (exe.includes('/')) return existsSync(exe) ? exe : undefined;
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, exe);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export interface ToolStatus {
  name: string;
  exe: string;
  pkg: string;
  purpose: string;
  path?: string;
  version?: string;
  ok: boolean;
}

const versionCache = new Map<string, string>();

export function toolStatus(spec: ToolSpec): ToolStatus {
  const path = which(spec.exe);
  if (!path) return { name: spec.name, exe: spec.exe, pkg: spec.pkg, purpose: spec.purpose, ok: false };
  let version = versionCache.get(path);
  if (version === undefined) {
    try {
      const r = execaSync(path, spec.versionArgs, { reject: false, all: true, timeout: 20_000, input: '' });
      version = spec.parse(String(r.all ?? ''));
    } catch {
      version = 'unknown';
    }
    versionCache.set(path, version);
  }
  return { name: spec.name, exe: spec.exe, pkg: spec.pkg, purpose: spec.purpose, path, version, ok: true };
}

/** Versions of the tools that affect a build, for cache keys. */
export function toolVersions(names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const spec = TOOLS.find((t) => t.name === n);
    if (!spec) throw new Error(`unknown tool ${n}`);
    out[n] = toolStatus(spec).version ?? 'missing';
  }
  return out;
}

export interface DataStatus {
  name: string;
  path: string;
  pkg: string;
  ok: boolean;
  detail?: string;
}

export function libertyStatus(): DataStatus[] {
  const inUse = defaultLiberty();
  const out: DataStatus[] = [{ name: 'liberty (in use)', path: inUse, pkg: 'qflow-tech-osu018', ok: existsSync(inUse) }];
  if (inUse !== LIBERTY.osu035) out.push({ name: 'liberty osu035', path: LIBERTY.osu035, pkg: 'qflow-tech-osu035', ok: existsSync(LIBERTY.osu035) });
  return out;
}

export function datasetStatus(): DataStatus[] {
  const files = existsSync(FASHION_MNIST_DIR) ? readdirSync(FASHION_MNIST_DIR).filter((f) => f.endsWith('.gz')) : [];
  return [
    {
      name: 'fashion-mnist',
      path: FASHION_MNIST_DIR,
      pkg: 'dataset-fashion-mnist',
      ok: files.length >= 4,
      detail: files.length ? `${files.length} IDX files` : undefined,
    },
  ];
}

/**
 * The Python that has Debian's python3-torch (`axtpu finetune` drives it): $AXTPU_PYTHON, else
 * /usr/bin/python3 (the Debian interpreter the package installs into; a `python3` earlier on PATH,
 * e.g. a pyenv shim, does not see Debian's dist-packages).
 */
export function pythonPath(): string {
  return process.env.AXTPU_PYTHON || '/usr/bin/python3';
}

/** Whether that Python imports torch, and its version (asked once per process). */
let torchCache: { python: string; status: DataStatus & { version?: string } } | undefined;
export function torchStatus(): DataStatus & { version?: string } {
  const python = pythonPath();
  if (torchCache?.python === python) return torchCache.status;
  let status: DataStatus & { version?: string } = { name: 'pytorch', path: python, pkg: 'python3-torch', ok: false };
  if (which(python)) {
    try {
      const r = execaSync(python, ['-c', 'import torch; print(torch.__version__)'], { reject: false, all: true, timeout: 60_000, input: '' });
      const out = String(r.stdout ?? '').trim();
      if (r.exitCode === 0 && out) status = { ...status, ok: true, version: out, detail: `torch ${out}` };
      else status = { ...status, detail: 'python found, `import torch` fails' };
    } catch {
      status = { ...status, detail: 'python does not run' };
    }
  } else status = { ...status, detail: 'python not found' };
  torchCache = { python, status };
  return status;
}
