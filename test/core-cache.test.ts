import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CACHE_MARKER, cached, cacheStats, clearCache, kindDir, sweepStaleScratch } from '../core/cache.ts';
import { runTool } from '../core/runner.ts';
import { buildVerilatorModel } from '../core/verilator.ts';

beforeAll(() => {
  process.env.AXTPU_CACHE = mkdtempSync(join(tmpdir(), 'axtpu-cache-test-'));
});

describe('content-addressed cache', () => {
  it('second run is a hit, a changed input is a miss', async () => {
    let builds = 0;
    const build = (text: string) => async (dir: string) => {
      builds++;
      writeFileSync(join(dir, 'out.txt'), text.toUpperCase());
    };
    const a1 = await cached({ kind: 'unit', inputs: { src: 'abc', opt: 1 } }, build('abc'));
    const a2 = await cached({ kind: 'unit', inputs: { opt: 1, src: 'abc' } }, build('abc'));
    const b = await cached({ kind: 'unit', inputs: { src: 'abd', opt: 1 } }, build('abd'));
    expect(a1.hit).toBe(false);
    expect(a2.hit).toBe(true);
    expect(a2.dir).toBe(a1.dir);
    expect(b.hit).toBe(false);
    expect(b.dir).not.toBe(a1.dir);
    expect(builds).toBe(2);
    expect(readFileSync(join(a1.dir, 'out.txt'), 'utf8')).toBe('ABC');
  });

  it('a failed build leaves no entry and no scratch directory behind', async () => {
    const key = { kind: 'unit-fail', inputs: 1 };
    await expect(
      cached(key, async (dir) => {
        writeFileSync(join(dir, 'partial'), 'x');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const kdir = join(process.env.AXTPU_CACHE!, 'unit-fail');
    expect(readdirSync(kdir).filter((n) => n !== '.axtpu-kind')).toEqual([]);
    const ok = await cached(key, async (dir) => writeFileSync(join(dir, 'full'), 'y'));
    expect(ok.hit).toBe(false);
    expect(existsSync(join(ok.dir, 'full'))).toBe(true);
  });

  it('concurrent builds of one key never share scratch space and yield one complete entry', async () => {
    const key = { kind: 'unit-race', inputs: 'same' };
    const scratches: string[] = [];
    const rs = await Promise.all(
      [0, 1, 2].map(() =>
        cached(key, async (dir) => {
          scratches.push(dir);
          await new Promise((r) => setTimeout(r, 20));
          writeFileSync(join(dir, 'v'), 'done');
        }),
      ),
    );
    expect(new Set(scratches).size).toBe(3);
    expect(new Set(rs.map((r) => r.dir)).size).toBe(1);
    expect(readFileSync(join(rs[0]!.dir, 'v'), 'utf8')).toBe('done');
  });

  it('caches a real Verilator build: second build is a hit, an edited source is a miss', async () => {
    const v = (w: number) => `module adder(input [${w - 1}:0] a, input [${w - 1}:0] b, output [${w}:0] s);\n  assign s = a + b;\nendmodule\n`;
    const cpp = `#include "Vadder.h"\n#include <cstdio>\nint main() { Vadder m; m.a = 200; m.b = 100; m.eval(); std::printf("%d\\n", (int)m.s); m.final(); return 0; }\n`;
    const t0 = Date.now();
    const first = await buildVerilatorModel({ top: 'adder', sources: { 'adder.v': v(8) }, cppSources: { 'main.cpp': cpp } });
    const coldMs = Date.now() - t0;
    const t1 = Date.now();
    const second = await buildVerilatorModel({ top: 'adder', sources: { 'adder.v': v(8) }, cppSources: { 'main.cpp': cpp } });
    const hitMs = Date.now() - t1;
    expect(first.hit).toBe(false);
    expect(second.hit).toBe(true);
    expect(hitMs).toBeLessThan(Math.max(1000, coldMs / 5));
    const out = await runTool({ tool: second.exe, args: [] });
    expect(out.stdout.trim()).toBe('300');
    const edited = await buildVerilatorModel({ top: 'adder', sources: { 'adder.v': v(9) }, cppSources: { 'main.cpp': cpp } });
    expect(edited.hit).toBe(false);
    expect(edited.dir).not.toBe(first.dir);
  });

  it('clean removes everything', () => {
    expect(cacheStats().entries).toBeGreaterThan(0);
    clearCache();
    expect(cacheStats().entries).toBe(0);
  });
});

describe('cache markers and clean', () => {
  it('clean deletes only marked kind folders of a marked cache; unknown kinds and foreign folders are refused', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'axtpu-cache-parent-'));
    process.env.AXTPU_CACHE = join(parent, 'axtpu');
    writeFileSync(join(parent, 'precious.txt'), 'keep');
    await cached({ kind: 'unit', inputs: 1 }, (d) => writeFileSync(join(d, 'x'), '1'));
    expect(() => clearCache('..')).toThrow(/unknown cache kind '\.\.'/);
    expect(() => clearCache('nosuchkind')).toThrow(/unknown cache kind/);
    expect(clearCache('unit').entries).toBe(1);
    expect(readFileSync(join(parent, 'precious.txt'), 'utf8')).toBe('keep');
    expect(existsSync(join(parent, 'axtpu', CACHE_MARKER))).toBe(true);
    // A folder of the user's is no cache: neither used nor cleaned.
    process.env.AXTPU_CACHE = parent;
    expect(() => clearCache()).toThrow(/not an axtpu cache/);
    await expect(cached({ kind: 'unit', inputs: 2 }, () => {})).rejects.toThrow(/not an axtpu cache/);
    expect(readdirSync(parent).sort()).toEqual(['axtpu', 'precious.txt']);
  });

  it('scratch of a killed build is swept on the next use of its kind', () => {
    const root = mkdtempSync(join(tmpdir(), 'axtpu-cache-sweep-'));
    process.env.AXTPU_CACHE = root;
    const kdir = kindDir('unit-sweep');
    // pid 2^22 + 1 is above Linux's pid_max default: no such process.
    const dead = join(kdir, `.0123abcd.build-${2 ** 22 + 1}-xyz`);
    const live = join(kdir, `.0123abcd.build-${process.pid}-xyz`);
    mkdirSync(dead);
    mkdirSync(live);
    expect(sweepStaleScratch(kdir)).toBe(1);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });
});
