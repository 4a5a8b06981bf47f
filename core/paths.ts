import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (the folder holding package.json). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const templatesDir = join(repoRoot, 'templates');
export const modelsDir = join(repoRoot, 'models');

/** Output roots; overridable so tests and concurrent runs can write elsewhere. */
export function rtlOutDir(): string {
  return process.env.AXTPU_RTL_OUT ? resolve(process.env.AXTPU_RTL_OUT) : join(repoRoot, 'rtl-out');
}
export function synthReportsDir(): string {
  return process.env.AXTPU_SYNTH_REPORTS ? resolve(process.env.AXTPU_SYNTH_REPORTS) : join(repoRoot, 'synth-reports');
}

/** Content-addressed build cache (Verilator models, Yosys results). XDG convention. */
export function cacheRoot(): string {
  if (process.env.AXTPU_CACHE) return resolve(process.env.AXTPU_CACHE);
  const xdg = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'axtpu');
}

/** Liberty libraries shipped by Debian's qflow-tech-* packages. */
export const LIBERTY = {
  osu018: '/usr/share/qflow/tech/osu018/osu018_stdcells.lib',
  osu035: '/usr/share/qflow/tech/osu035/osu035_stdcells.lib',
} as const;

/** The liberty file in use unless a command gets --liberty: AXTPU_LIBERTY or osu018. */
export function defaultLiberty(): string {
  return process.env.AXTPU_LIBERTY ? resolve(process.env.AXTPU_LIBERTY) : LIBERTY.osu018;
}

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
