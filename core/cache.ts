import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from './atomic.ts';
import { UserError } from './errors.ts';
import { shortHash, stableStringify } from './hash.ts';
import { cacheRoot } from './paths.ts';

/**
 * Content-addressed build cache. A key is (kind, generated sources, tool versions, options);
 * its hash names a directory `<cacheRoot>/<kind>/<hash>/`. The builder fills a private scratch
 * directory which is renamed into place only on success, so a crashed or concurrent build
 * never leaves a half-filled entry and two runs never share scratch space.
 *
 * The root carries a marker file (.axtpu-cache) and so does every kind folder (.axtpu-kind):
 * `clean` deletes only marked folders, so a mistyped AXTPU_CACHE or `--kind ..` deletes nothing.
 */
export interface CacheKey {
  kind: string;
  /** Everything the result depends on: sources text, tool versions, options. */
  inputs: unknown;
}

export interface CacheResult {
  dir: string;
  hash: string;
  hit: boolean;
}

const DONE = '.axtpu-complete';
export const CACHE_MARKER = '.axtpu-cache';
const KIND_MARKER = '.axtpu-kind';
/** Kinds written before kind folders were marked; a cache holding only these is adopted. */
const LEGACY_KINDS = ['array-lut', 'cell-stream-energy', 'flow-pe-energy', 'nn-native', 'nn-qmodel', 'opensta', 'verilator', 'yosys-synth'];
const KIND_NAME = /^[A-Za-z0-9][\w.-]*$/;
/** Scratch build folders of a process that died (kill -9) are swept after this long even without a pid. */
const STALE_MS = 6 * 3600_000;

export function cacheDirFor(key: CacheKey): { dir: string; hash: string } {
  const hash = shortHash({ kind: key.kind, inputs: key.inputs }, 24);
  return { dir: join(cacheRoot(), safeKind(key.kind), hash), hash };
}

function safeKind(kind: string): string {
  const s = kind.replace(/[^\w.-]/g, '_');
  return KIND_NAME.test(s) ? s : `_${s}`;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Is `root` an axtpu cache: marked, or (older caches) empty or holding only known kind folders? */
function cacheState(root: string): 'absent' | 'marked' | 'adoptable' | 'foreign' {
  if (!existsSync(root)) return 'absent';
  if (!isDir(root)) throw new UserError(`build cache ${root} (AXTPU_CACHE) is a file, not a folder; point AXTPU_CACHE at a folder`);
  const names = readdirSync(root);
  if (names.includes(CACHE_MARKER)) return 'marked';
  return names.every((n) => LEGACY_KINDS.includes(n) && isDir(join(root, n))) ? 'adoptable' : 'foreign';
}

function foreignCache(root: string): UserError {
  return new UserError(`build cache ${root} is not an axtpu cache (no ${CACHE_MARKER} marker, holds other files); point AXTPU_CACHE at a new or empty folder`);
}

/** The cache root, created and marked on first use; a foreign folder is refused, never written into. */
export function openCacheRoot(): string {
  const root = cacheRoot();
  if (existsSync(join(root, CACHE_MARKER))) return root;
  const state = cacheState(root);
  if (state === 'foreign') throw foreignCache(root);
  if (state !== 'marked') {
    ensureDir(root);
    writeFileSync(join(root, CACHE_MARKER), 'axtpu build cache: every folder here can be rebuilt; `axtpu clean` empties it\n');
  }
  return root;
}

const swept = new Set<string>();

/** A kind folder, created and marked; the first use in a process sweeps scratch left by killed builds. */
export function kindDir(kind: string): string {
  const dir = join(openCacheRoot(), safeKind(kind));
  if (!existsSync(join(dir, KIND_MARKER))) {
    ensureDir(dir);
    writeFileSync(join(dir, KIND_MARKER), `${kind}\n`);
  }
  if (!swept.has(dir)) {
    swept.add(dir);
    sweepStaleScratch(dir);
  }
  return dir;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove `.<hash>.build-<pid>-*` folders whose process is gone (or, without a pid, that are old). */
export function sweepStaleScratch(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const m = /^\.[0-9a-f]+\.build-(?:(\d+)-)?/.exec(name);
    if (!m) continue;
    const p = join(dir, name);
    let stale: boolean;
    if (m[1]) stale = Number(m[1]) !== process.pid && !processAlive(Number(m[1]));
    else {
      try {
        stale = Date.now() - statSync(p).mtimeMs > STALE_MS;
      } catch {
        continue;
      }
    }
    if (stale) {
      rmSync(p, { recursive: true, force: true });
      n++;
    }
  }
  return n;
}

export async function cached(key: CacheKey, build: (dir: string) => Promise<void> | void): Promise<CacheResult> {
  const { dir, hash } = cacheDirFor(key);
  if (existsSync(join(dir, DONE))) return { dir, hash, hit: true };
  const parent = kindDir(key.kind);
  const scratch = mkdtempSync(join(parent, `.${hash}.build-${process.pid}-`));
  try {
    await build(scratch);
    writeFileSync(join(scratch, 'key.json'), `${stableStringify({ kind: key.kind, hash })}\n`);
    writeFileSync(join(scratch, DONE), `${new Date().toISOString()}\n`);
    if (existsSync(dir)) {
      // Another run finished the same key first (or a stale incomplete dir): keep a complete one.
      if (existsSync(join(dir, DONE))) {
        rmSync(scratch, { recursive: true, force: true });
        return { dir, hash, hit: true };
      }
      rmSync(dir, { recursive: true, force: true });
    }
    try {
      renameSync(scratch, dir);
    } catch (err) {
      if (existsSync(join(dir, DONE))) {
        rmSync(scratch, { recursive: true, force: true });
        return { dir, hash, hit: true };
      }
      throw err;
    }
    return { dir, hash, hit: false };
  } catch (err) {
    rmSync(scratch, { recursive: true, force: true });
    throw err;
  }
}

/** A cached JSON value: computed by `f` on a miss, read back from `result.json` on a hit. */
export async function cachedJson<T>(kind: string, inputs: unknown, f: () => Promise<T>): Promise<T> {
  let value: T | undefined;
  const res = await cached({ kind, inputs }, async (dir) => {
    value = await f();
    writeFileSync(join(dir, 'result.json'), JSON.stringify(value));
  });
  return value ?? (JSON.parse(readFileSync(join(res.dir, 'result.json'), 'utf8')) as T);
}

export interface CacheStats {
  root: string;
  entries: number;
  bytes: number;
}

function dirBytes(path: string): number {
  let total = 0;
  for (const name of readdirSync(path)) {
    const p = join(path, name);
    const st = statSync(p);
    total += st.isDirectory() ? dirBytes(p) : st.size;
  }
  return total;
}

/** Kind folders of a cache root that axtpu owns (marked, or known kinds in an adoptable cache). */
function kindFolders(root: string): string[] {
  return readdirSync(root).filter((n) => isDir(join(root, n)) && (existsSync(join(root, n, KIND_MARKER)) || LEGACY_KINDS.includes(n)));
}

function statsOf(root: string, kinds: string[]): CacheStats {
  let entries = 0;
  let bytes = 0;
  for (const kind of kinds) {
    const kdir = join(root, kind);
    entries += readdirSync(kdir).filter((n) => !n.startsWith('.')).length;
    bytes += dirBytes(kdir);
  }
  return { root, entries, bytes };
}

export function cacheStats(): CacheStats {
  const root = cacheRoot();
  const state = cacheState(root);
  if (state === 'absent') return { root, entries: 0, bytes: 0 };
  if (state === 'foreign') throw foreignCache(root);
  return statsOf(root, kindFolders(root));
}

/**
 * Remove the whole cache (or one kind): only marked kind folders of a marked cache, never the
 * root itself or anything axtpu did not write. An unknown kind is a user error.
 */
export function clearCache(kind?: string): CacheStats {
  const root = cacheRoot();
  const state = cacheState(root);
  if (state === 'foreign') throw foreignCache(root);
  const kinds = state === 'absent' ? [] : kindFolders(root);
  let targets = kinds;
  if (kind !== undefined) {
    const known = [...new Set([...LEGACY_KINDS, ...kinds])].sort();
    if (!KIND_NAME.test(kind) || !known.includes(kind)) throw new UserError(`--kind: unknown cache kind '${kind}' (kinds: ${known.join(', ')})`);
    targets = kinds.filter((k) => k === kind);
  }
  const before = state === 'absent' ? { root, entries: 0, bytes: 0 } : statsOf(root, targets);
  for (const k of targets) rmSync(join(root, k), { recursive: true, force: true });
  return before;
}
