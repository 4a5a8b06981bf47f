import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shortHash, stableStringify } from './hash.ts';
import { cacheRoot } from './paths.ts';

/**
 * Content-addressed build cache. A key is (kind, generated sources, tool versions, options);
 * its hash names a directory `<cacheRoot>/<kind>/<hash>/`. The builder fills a private scratch
 * directory which is renamed into place only on success, so a crashed or concurrent build
 * never leaves a half-filled entry and two runs never share scratch space.
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

export function cacheDirFor(key: CacheKey): { dir: string; hash: string } {
  const hash = shortHash({ kind: key.kind, inputs: key.inputs }, 24);
  return { dir: join(cacheRoot(), safeKind(key.kind), hash), hash };
}

function safeKind(kind: string): string {
  return kind.replace(/[^\w.-]/g, '_');
}

export async function cached(key: CacheKey, build: (dir: string) => Promise<void> | void): Promise<CacheResult> {
  const { dir, hash } = cacheDirFor(key);
  if (existsSync(join(dir, DONE))) return { dir, hash, hit: true };
  const parent = join(cacheRoot(), safeKind(key.kind));
  mkdirSync(parent, { recursive: true });
  const scratch = mkdtempSync(join(parent, `.${hash}.build-`));
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

export function cacheStats(): CacheStats {
  const root = cacheRoot();
  if (!existsSync(root)) return { root, entries: 0, bytes: 0 };
  let entries = 0;
  for (const kind of readdirSync(root)) {
    const kdir = join(root, kind);
    if (!statSync(kdir).isDirectory()) continue;
    entries += readdirSync(kdir).filter((n) => !n.startsWith('.')).length;
  }
  return { root, entries, bytes: dirBytes(root) };
}

/** Remove the whole cache (or one kind). Returns what was removed. */
export function clearCache(kind?: string): CacheStats {
  const before = cacheStats();
  const target = kind ? join(cacheRoot(), safeKind(kind)) : cacheRoot();
  rmSync(target, { recursive: true, force: true });
  return before;
}
