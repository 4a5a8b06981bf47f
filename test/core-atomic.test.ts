import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureDir, OUTPUT_MARKER, scratchDir, writeDirAtomic, writeFileAtomic } from '../core/atomic.ts';

const dir = mkdtempSync(join(tmpdir(), 'axtpu-atomic-'));

describe('atomic writes', () => {
  it('writes a file via temp + rename, leaving no temp files', () => {
    const p = join(dir, 'sub', 'out.v');
    writeFileAtomic(p, 'module a; endmodule\n');
    writeFileAtomic(p, 'module b; endmodule\n');
    expect(readFileSync(p, 'utf8')).toBe('module b; endmodule\n');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['out.v']);
  });

  it('a failed write keeps the old content', () => {
    const p = join(dir, 'keep.txt');
    writeFileAtomic(p, 'old');
    // A non-serializable payload makes writeFileSync throw after the temp file is opened.
    expect(() => writeFileAtomic(p, 42 as unknown as string)).toThrow();
    expect(readFileSync(p, 'utf8')).toBe('old');
    expect(readdirSync(dir).filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  it('a directory is replaced whole, or not at all', async () => {
    const d = join(dir, 'design');
    await writeDirAtomic(d, (tmp) => {
      writeFileSync(join(tmp, 'a.v'), '1');
      writeFileSync(join(tmp, 'b.v'), '1');
    });
    await expect(
      writeDirAtomic(d, (tmp) => {
        writeFileSync(join(tmp, 'a.v'), '2');
        throw new Error('generator failed halfway');
      }),
    ).rejects.toThrow('halfway');
    expect(readFileSync(join(d, 'a.v'), 'utf8')).toBe('1');
    expect(existsSync(join(d, 'b.v'))).toBe(true);
    await writeDirAtomic(d, (tmp) => writeFileSync(join(tmp, 'c.v'), '3'));
    expect(readdirSync(d).sort()).toEqual([OUTPUT_MARKER, 'c.v']);
    expect(readdirSync(dir).filter((n) => n.startsWith('.design'))).toEqual([]);
  });

  it('scratch directories are private per run', () => {
    const a = scratchDir('t');
    const b = scratchDir('t');
    expect(a).not.toBe(b);
  });

  it('an existing folder is replaced only if axtpu wrote it; older outputs need force and nothing foreign', async () => {
    const user = join(dir, 'user');
    ensureDir(user);
    writeFileSync(join(user, 'thesis.tex'), 'mine');
    const fill = (tmp: string) => writeFileSync(join(tmp, 'config.json'), '{}');
    await expect(writeDirAtomic(user, fill)).rejects.toThrow(/not written by axtpu/);
    await expect(writeDirAtomic(user, fill, { force: true })).rejects.toThrow(/thesis\.tex.*choose a new folder/);
    expect(readFileSync(join(user, 'thesis.tex'), 'utf8')).toBe('mine');
    // An older unmarked output holding only names this output writes: replaced with force.
    const old = join(dir, 'old');
    ensureDir(old);
    writeFileSync(join(old, 'config.json'), 'old');
    await expect(writeDirAtomic(old, fill)).rejects.toThrow(/--force/);
    await writeDirAtomic(old, fill, { force: true });
    expect(readdirSync(old).sort()).toEqual([OUTPUT_MARKER, 'config.json']);
    // Marked: replaced without force.
    await writeDirAtomic(old, (tmp) => writeFileSync(join(tmp, 'b.json'), '{}'));
    expect(readdirSync(old).sort()).toEqual([OUTPUT_MARKER, 'b.json']);
    // A file, the current folder and a symlink are never replaced.
    writeFileSync(join(dir, 'plain'), 'x');
    await expect(writeDirAtomic(join(dir, 'plain'), fill)).rejects.toThrow(/is a file/);
    await expect(writeDirAtomic(process.cwd(), fill)).rejects.toThrow(/current folder/);
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('ensureDir fails fast where recursive mkdir would loop (procfs) or a file is in the way', () => {
    const t0 = Date.now();
    expect(() => ensureDir('/proc/axtpu-no-such/x/y')).toThrow(/cannot create folder \/proc\/axtpu-no-such/);
    expect(Date.now() - t0).toBeLessThan(1000);
    writeFileSync(join(dir, 'afile'), 'x');
    expect(() => ensureDir(join(dir, 'afile', 'sub'))).toThrow(/a file stands where a folder is expected/);
    expect(() => writeFileAtomic(join(dir, 'user'), 'x')).toThrow(/is a folder where a file is expected/);
  });
});
