import { randomBytes } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join, parse, relative, resolve, sep } from 'node:path';
import { UserError } from './errors.ts';
import { repoRoot, rtlOutDir, synthReportsDir } from './paths.ts';

/**
 * Create a folder and its missing parents, failing fast with one line. Node's recursive mkdir
 * loops forever under procfs (`/proc/x/y`), so parents are made one at a time, top down.
 */
export function ensureDir(path: string): void {
  const abs = resolve(path);
  const missing: string[] = [];
  for (let p = abs; ; p = dirname(p)) {
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a file further up; keep walking, the stat of that file reports it below.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    if (st) {
      if (!st.isDirectory()) throw new UserError(`${p}: a file stands where a folder is expected (for ${abs})`);
      break;
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(p).isDirectory()) continue; // a concurrent run made it
      if (code === 'ENOENT') throw new UserError(`${abs}: cannot create folder ${p} (its parent does not accept new folders)`);
      throw err;
    }
  }
}

/**
 * Write a file so readers see either the old or the complete new content, never a prefix:
 * write a sibling temp file (same filesystem) then rename over the target.
 */
export function writeFileAtomic(path: string, data: string | NodeJS.ArrayBufferView): void {
  const dir = dirname(path);
  ensureDir(dir);
  // Refuse before the temp file exists: a failed write leaves even the folder's mtime alone.
  if (isDirectory(path)) throw new UserError(`${resolve(path)} is a folder where a file is expected`);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Marker file axtpu puts in every output folder it writes; only such folders are ever replaced. */
export const OUTPUT_MARKER = '.axtpu-output';

export interface OutputDirOptions {
  /** Replace an existing unmarked folder that holds nothing but names this output writes (an older axtpu output). */
  force?: boolean;
}

type Existing = { state: 'absent' } | { state: 'marked' | 'unmarked'; entries: string[] };

/** What stands at `path` now, refusing outright what must never be replaced. */
function inspectTarget(path: string): Existing {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'absent' };
    throw err;
  }
  if (st.isSymbolicLink()) throw new UserError(`output folder ${path} is a symlink; give the real folder (axtpu replaces output folders whole)`);
  if (!st.isDirectory()) throw new UserError(`output folder ${path} exists and is a file; refusing to replace it`);
  const cwd = process.cwd();
  const protectedDirs = [homedir(), repoRoot, parse(path).root];
  if (path === cwd || !relative(path, cwd).startsWith('..') || protectedDirs.includes(path))
    throw new UserError(`output folder ${path} is the current folder, one of its parents, home or the repository; give a new folder`);
  const entries = readdirSync(path);
  return { state: entries.includes(OUTPUT_MARKER) ? 'marked' : 'unmarked', entries };
}

/** Folders directly inside axtpu's own output roots (rtl-out/, synth-reports/): older outputs there are axtpu's. */
function inOutputRoot(path: string): boolean {
  return [rtlOutDir(), synthReportsDir()].some((root) => path.startsWith(root + sep));
}

/**
 * Refuse early (before expensive work) an output folder writeDirAtomic would refuse.
 * Returns whether an older unmarked axtpu output may be replaced.
 */
export function checkOutputDir(path: string, opts: OutputDirOptions = {}): boolean {
  const before = inspectTarget(resolve(path));
  const legacyOk = Boolean(opts.force) || inOutputRoot(resolve(path));
  if (before.state === 'unmarked' && before.entries.length > 0 && !legacyOk) throw notOurs(resolve(path), before.entries, true);
  return legacyOk;
}

/**
 * Populate a directory atomically: `fill` writes into a fresh sibling scratch dir, which then
 * replaces `path` in one rename. A failed fill leaves `path` untouched. An existing `path` is
 * replaced only if axtpu wrote it (marker file) or it is empty; an older unmarked axtpu output
 * (nothing in it but names this output writes) needs `force` outside rtl-out/ and synth-reports/.
 * Anything else is refused before any work: never delete what the user put there.
 */
export async function writeDirAtomic(path: string, fill: (dir: string) => Promise<void> | void, opts: OutputDirOptions = {}): Promise<void> {
  path = resolve(path);
  const legacyOk = checkOutputDir(path, opts);
  const before = inspectTarget(path);
  let probe: string | undefined;
  if (before.state === 'unmarked' && before.entries.length > 0) {
    // An older output is replaced only if this output rewrites every name in it: fill in private
    // scratch first and compare names, so a refusal touches nothing next to `path`.
    probe = scratchDir('outdir-probe');
    try {
      await fill(probe);
      const ours = new Set(readdirSync(probe));
      const foreign = before.entries.filter((e) => !ours.has(e));
      if (foreign.length) throw notOurs(path, foreign, false);
    } catch (err) {
      rmSync(probe, { recursive: true, force: true });
      throw err;
    }
  }
  const parent = dirname(path);
  ensureDir(parent);
  const scratch = mkdtempSync(join(parent, `.${basename(path)}.tmp-`));
  try {
    if (probe) {
      // Already filled: copy (tmp may be another file system), the rename below stays atomic.
      cpSync(probe, scratch, { recursive: true });
      rmSync(probe, { recursive: true, force: true });
    } else await fill(scratch);
    writeFileSync(join(scratch, OUTPUT_MARKER), `axtpu output folder: replaced whole when regenerated\n`);
    const now = inspectTarget(path);
    if (now.state === 'absent') renameSync(scratch, path);
    else {
      if (now.state === 'unmarked' && now.entries.length > 0) {
        const ours = new Set(readdirSync(scratch));
        const foreign = now.entries.filter((e) => !ours.has(e));
        if (!legacyOk || foreign.length) throw notOurs(path, foreign.length ? foreign : now.entries, legacyOk);
      }
      // Move the old one aside first: rename() cannot replace a non-empty directory.
      const old = `${scratch}.old`;
      renameSync(path, old);
      renameSync(scratch, path);
      rmSync(old, { recursive: true, force: true });
    }
  } catch (err) {
    rmSync(scratch, { recursive: true, force: true });
    if (probe) rmSync(probe, { recursive: true, force: true });
    throw err;
  }
}

function notOurs(path: string, entries: string[], mayForce: boolean): UserError {
  const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', ...' : '');
  const hint = mayForce ? '; if it is an older axtpu output, pass --force' : '; choose a new folder';
  return new UserError(`output folder ${path} exists and was not written by axtpu (holds ${shown}); refusing to replace it${hint}`);
}

/** A private scratch directory for one run; concurrent runs never share one. */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `axtpu-${prefix}-`));
}
