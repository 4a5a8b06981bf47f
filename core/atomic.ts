import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * Write a file so readers see either the old or the complete new content, never a prefix:
 * write a sibling temp file (same filesystem) then rename over the target.
 */
export function writeFileAtomic(path: string, data: string | NodeJS.ArrayBufferView): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Populate a directory atomically: `fill` writes into a fresh sibling scratch dir, which then
 * replaces `path` in one rename. A failed fill leaves `path` untouched.
 */
export async function writeDirAtomic(path: string, fill: (dir: string) => Promise<void> | void): Promise<void> {
  const parent = dirname(path);
  mkdirSync(parent, { recursive: true });
  const scratch = mkdtempSync(join(parent, `.${basename(path)}.tmp-`));
  try {
    await fill(scratch);
    if (existsSync(path)) {
      // Move the old one aside first: rename() cannot replace a non-empty directory.
      const old = `${scratch}.old`;
      renameSync(path, old);
      renameSync(scratch, path);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(scratch, path);
    }
  } catch (err) {
    rmSync(scratch, { recursive: true, force: true });
    throw err;
  }
}

/** A private scratch directory for one run; concurrent runs never share one. */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `axtpu-${prefix}-`));
}
