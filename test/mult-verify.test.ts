import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../core/paths.ts';
import { builtinCatalogue } from '../generators/multipliers/index.ts';

const cli = (args: string[], env: Record<string, string>) => execa('node', [join(repoRoot, 'bin/axtpu.js'), ...args], { reject: false, env, cwd: repoRoot });

describe('mult verify --all (real Verilator, all 65,536 pairs per cell)', () => {
  it('every built-in cell: Verilog == TS model', async () => {
    const env = { AXTPU_CELLS_DIR: mkdtempSync(join(tmpdir(), 'axtpu-cells-')) };
    const r = await cli(['--json', 'mult', 'verify', '--all'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { pass: boolean; cells: { id: string; pass: boolean; mismatches: number }[] };
    expect(rep.cells.map((c) => c.id)).toEqual(builtinCatalogue().map((c) => c.id));
    expect(rep.cells.filter((c) => !c.pass)).toEqual([]);
    expect(rep.pass).toBe(true);
  });
  it('human output and ids given on the command line; bad usage exits 2', async () => {
    const env = { AXTPU_CELLS_DIR: mkdtempSync(join(tmpdir(), 'axtpu-cells-')) };
    const r = await cli(['mult', 'verify', 'drum_k6_u8', 'roup_p1_r4_s8'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('PASS drum_k6_u8');
    expect(r.stdout).toContain('PASS roup_p1_r4_s8');
    expect(r.stdout).toMatch(/2\/2 cells pass/);
    const bad = await cli(['mult', 'verify'], env);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
