import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir, writeDirAtomic, writeFileAtomic } from '../core/atomic.ts';

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
    expect(readdirSync(d)).toEqual(['c.v']);
    expect(readdirSync(dir).filter((n) => n.startsWith('.design'))).toEqual([]);
  });

  it('scratch directories are private per run', () => {
    const a = scratchDir('t');
    const b = scratchDir('t');
    expect(a).not.toBe(b);
  });
});
