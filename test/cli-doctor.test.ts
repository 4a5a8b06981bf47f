import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';

describe('axtpu CLI basics', () => {
  it('doctor exits 0 and lists every tool with version and path after setup', async () => {
    const r = await runCli(['doctor', '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.ok).toBe(true);
    const names = rep.tools.map((t: { name: string }) => t.name);
    expect(names).toEqual(expect.arrayContaining(['verilator', 'yosys', 'opensta']));
    for (const t of rep.tools) {
      expect(t.path).toMatch(/^\//);
      expect(t.version).toMatch(/\d/);
    }
    expect(rep.tools.find((t: { name: string }) => t.name === 'verilator').version).toBe('5.006');
    expect(rep.liberty[0].path).toMatch(/osu018_stdcells\.lib$/);
    expect(rep.datasets[0].ok).toBe(true);
    expect(rep.pytorch.ok).toBe(true);
    expect(rep.pytorch.version).toMatch(/^1\.13/);
  });

  it('doctor with tools missing exits non-zero with install hints', async () => {
    // A PATH holding only node itself: verilator, yosys, sta and g++ are not found.
    const bin = mkdtempSync(join(tmpdir(), 'axtpu-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const r = await runCli(['doctor'], { PATH: bin });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/verilator\s+MISSING/);
    expect(r.stdout).toMatch(/yosys\s+MISSING/);
    expect(r.stdout).toMatch(/apt-get install -y .*verilator.*yosys.*opensta/);
    const j = await runCli(['doctor', '--json'], { PATH: bin, AXTPU_LIBERTY: '/nonexistent.lib', AXTPU_PYTHON: '/nonexistent/python3' });
    expect(j.code).toBe(1);
    const rep = JSON.parse(j.stdout);
    expect(rep.ok).toBe(false);
    expect(rep.missingPackages).toEqual(expect.arrayContaining(['verilator', 'yosys', 'opensta', 'qflow-tech-osu018', 'python3-torch']));
    expect(rep.pytorch).toMatchObject({ ok: false, path: '/nonexistent/python3', detail: 'python not found' });
  });

  it('doctor parses the liberty file in use: a garbage one is BROKEN, exit 1', async () => {
    const lib = join(mkdtempSync(join(tmpdir(), 'axtpu-lib-')), 'garbage.lib');
    writeFileSync(lib, 'garbage here {{{\n');
    const r = await runCli(['doctor', '--json'], { AXTPU_LIBERTY: lib });
    expect(r.code).toBe(1);
    const rep = JSON.parse(r.stdout);
    expect(rep.ok).toBe(false);
    expect(rep.broken).toEqual([lib]);
    expect(rep.liberty[0].detail).toMatch(/does not parse: .*garbage\.lib:1/);
    const h = await runCli(['doctor'], { AXTPU_LIBERTY: lib });
    expect(h.stdout).toMatch(/liberty \(in use\)\s+BROKEN/);
  });

  it('an unknown command prints one usage line and exits 2', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('a bad flag prints one usage line and exits 2', async () => {
    const r = await runCli(['doctor', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown option '--no-such-flag'/);
  });

  it('--version and --help work', async () => {
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = await runCli(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('doctor');
    expect(h.stdout).toContain('--json');
  });
});
