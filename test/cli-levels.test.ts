import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';

// Two voltage domains (hi: left half of the columns, lo: right half) and two levels.
const domains = (cols: number) =>
  JSON.stringify({
    levels: [
      { name: 'nominal', volts: 1.8 },
      { name: 'low', volts: 1.2 },
    ],
    domains: [
      { name: 'hi', columns: Array.from({ length: cols / 2 }, (_, c) => c) },
      { name: 'lo', columns: Array.from({ length: cols / 2 }, (_, c) => c + cols / 2) },
    ],
  });

function oneLine(r: { code: number; stderr: string; stdout: string }, re: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(re);
}

describe('--levels on sim gemm (RTL)', () => {
  let dir = '';
  beforeAll(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'axtpu-levels-')), 'd');
    const g = await runCli(['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--psum-bits', '24', '--domains', domains(2), '--out', dir]);
    expect(g.code).toBe(0);
  });

  it('reaches the array: bit flips injected at level low hit only the domain put at low', async () => {
    const gemm = (levels: string) => runCli(['sim', 'gemm', dir, '--M', '8', '--K', '5', '--N', '4', '--levels', levels, '--flip', '{"low":0.5}', '--json']);
    const nominal = await gemm('nominal');
    expect(nominal.code).toBe(0);
    const a = JSON.parse(nominal.stdout);
    expect(a.levels).toEqual({ hi: 'nominal', lo: 'nominal' });
    expect(a.mismatches).toBe(0);
    const lo = await gemm('lo=low');
    expect(lo.code).toBe(0);
    const b = JSON.parse(lo.stdout);
    expect(b.levels).toEqual({ hi: 'nominal', lo: 'low' });
    // Filters 1 and 3 sit on column 1 (domain lo): at most their 8 x 2 outputs can differ.
    expect(b.mismatches).toBeGreaterThan(0);
    expect(b.mismatches).toBeLessThanOrEqual(16);
    expect(b.cyclesEqual).toBe(true);
  });

  it('an unknown level or domain is one line on stderr, exit 2', async () => {
    const base = ['sim', 'gemm', dir, '--M', '4', '--K', '2', '--N', '2', '--levels'];
    oneLine(await runCli([...base, 'lo=mid']), /^axtpu: --levels: no level 'mid' in design ws2x2_exact_u8 \(levels: nominal \(1\.8 V\), low \(1\.2 V\)\)$/m);
    oneLine(await runCli([...base, 'core=low']), /--levels: no voltage domain 'core' in design ws2x2_exact_u8 \(domains: hi, lo\)/);
    oneLine(await runCli([...base, '{"lo":"low"}']), /--levels takes <level> or <domain>=<level>\[,...\] by name, not JSON/);
  });
});

describe('--levels on run (RTL-in-the-loop)', () => {
  const run = (levels?: string) =>
    runCli([
      'run',
      '--model',
      'models/mlp-fmnist.onnx',
      '--rows',
      '8',
      '--cols',
      '8',
      '--cell',
      'exact_u8',
      '--domains',
      domains(8),
      '--limit',
      '2',
      '--activity',
      'off',
      ...(levels ? ['--levels', levels] : []),
      '--json',
    ]);

  it('one level for every domain scales the cell energy by (V/Vnom)^2', async () => {
    const nominal = await run();
    const low = await run('low');
    expect(nominal.code).toBe(0);
    expect(low.code).toBe(0);
    const en = JSON.parse(nominal.stdout).energy.pjPerInference;
    const el = JSON.parse(low.stdout).energy.pjPerInference;
    expect(el.cell / en.cell).toBeCloseTo((1.2 / 1.8) ** 2, 9);
  }, 300_000);

  it('an unknown level or domain is one line on stderr, exit 2, before any work', async () => {
    oneLine(await run('lo=mid'), /--levels: no level 'mid' in design ws8x8_exact_u8 \(levels: nominal \(1\.8 V\), low \(1\.2 V\)\)/);
    oneLine(await run('tile0_lo=low'), /--levels: no voltage domain 'tile0_lo' in design ws8x8_exact_u8 \(domains: hi, lo\)/);
    oneLine(await run('0,1'), /--levels: '0,1' is a list without '='/);
  });
});
