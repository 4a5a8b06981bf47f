import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDesignDir } from '../cli/commands/synth.ts';
import { LIBERTY, repoRoot } from '../core/paths.ts';
import { parseStatArea, synthesize } from '../synth/yosys.ts';

const tmp = mkdtempSync(join(tmpdir(), 'axtpu-synth-test-'));
const env = { AXTPU_SYNTH_REPORTS: join(tmp, 'reports') };
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (...args: string[]) => execa('node', [join(repoRoot, 'bin/axtpu.js'), ...args], { reject: false, env, cwd: tmp });

const expectOneLineExit2 = (r: { exitCode?: number; stderr: string }, pattern: RegExp) => {
  expect(r.exitCode).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
};

describe('yosys flow', () => {
  it('synthesizes with -noalumacc, caches by content, reports area from stat -liberty', async () => {
    const src = 'module mac8(input [7:0] a, b, input [15:0] c, output [15:0] y); assign y = a * b + c; endmodule';
    const s = await synthesize({ top: 'mac8', sources: { 'mac8.v': src }, liberty: LIBERTY.osu018 });
    expect(s.areaUm2).toBeGreaterThan(10_000);
    expect(parseStatArea(readFileSync(join(s.dir, 'stat.txt'), 'utf8'))).toBe(s.areaUm2);
    expect(readFileSync(join(s.dir, 'synth.ys'), 'utf8')).toMatch(/synth -top mac8 -flatten -noalumacc/);
    expect(existsSync(s.netlistVerilog)).toBe(true);
    const again = await synthesize({ top: 'mac8', sources: { 'mac8.v': src }, liberty: LIBERTY.osu018 });
    expect(again.hit).toBe(true);
    expect(again.dir).toBe(s.dir);
    const other = await synthesize({ top: 'mac8', sources: { 'mac8.v': src }, liberty: LIBERTY.osu035 });
    expect(other.dir).not.toBe(s.dir);
    expect(other.areaUm2).toBeGreaterThan(3 * s.areaUm2);
  });

  it('keeps the hierarchy on request: area per module (multiplier inside a PE)', async () => {
    const src = `module mul(input [7:0] a, b, output [15:0] p); assign p = a * b; endmodule
      module pe(input clk, input [7:0] a, b, output reg [19:0] acc);
        wire [15:0] p; mul m(.a(a), .b(b), .p(p)); always @(posedge clk) acc <= acc + p; endmodule
      module top(input clk, input [7:0] a0, b0, a1, b1, output [19:0] y0, y1);
        pe p0(.clk(clk), .a(a0), .b(b0), .acc(y0)); pe p1(.clk(clk), .a(a1), .b(b1), .acc(y1)); endmodule`;
    const h = await synthesize({ top: 'top', sources: { 'd.v': src }, liberty: LIBERTY.osu018, flatten: false });
    const mul = h.moduleAreas.mul!;
    const pe = h.moduleAreas.pe!;
    expect(mul).toBeGreaterThan(10_000);
    expect(pe).toBeGreaterThan(1_000); // adder + 20 flip-flops, outside the multiplier
    expect(h.areaUm2).toBeCloseTo(2 * (mul + pe), 6);
    const flat = await synthesize({ top: 'top', sources: { 'd.v': src }, liberty: LIBERTY.osu018 });
    expect(flat.cellsByType.DFFPOSX1).toBe(40);
    expect(Math.abs(flat.areaUm2 / h.areaUm2 - 1)).toBeLessThan(0.1);
  });

  it('finds the top module of a design directory', () => {
    const d = join(tmp, 'design');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'leaf.v'), 'module leaf(input a, output y); assign y = ~a; endmodule\n');
    writeFileSync(join(d, 'top.v'), 'module top(input a, output y); leaf u0(.a(a), .y(y)); endmodule\n');
    expect(readDesignDir(d).top).toBe('top');
  });
});

describe('axtpu synth / power CLI', () => {
  let truncated = '';
  let noFlops = '';
  beforeAll(() => {
    const full = readFileSync(LIBERTY.osu018, 'utf8');
    truncated = join(tmp, 'truncated.lib');
    writeFileSync(truncated, full.slice(0, Math.floor(full.length * 0.6)));
    // osu018 without its flip-flops and latch: a sequential design cannot be mapped.
    noFlops = join(tmp, 'noflops.lib');
    writeFileSync(noFlops, full.replace(/cell \((DFFNEGX1|DFFPOSX1|DFFSR|LATCH)\) \{[\s\S]*?(?=\/\*\s*-+\s*\*\s*\n\s*\*\s*Design)/g, ''));
  });

  it('synth and power on a cell, human and --json', async () => {
    const s = await cli('synth', 'exact_u8', '--json');
    expect(s.exitCode).toBe(0);
    const sj = JSON.parse(s.stdout) as { results: { areaUm2: number; check: { mismatches: number; pairs: number } }[] };
    expect(sj.results[0]!.areaUm2).toBeGreaterThan(10_000);
    expect(sj.results[0]!.check).toMatchObject({ mismatches: 0, pairs: 65536 });
    const p = await cli('power', 'exact_u8', '--uniform', '4096', '--clock', '200', '--json');
    expect(p.exitCode).toBe(0);
    const pj = JSON.parse(p.stdout) as { energy: { clockMHz: number; perOpPj: { total: number } }; stream: { pairs: number } };
    expect(pj.energy.clockMHz).toBe(200);
    expect(pj.stream.pairs).toBe(4096);
    expect(pj.energy.perOpPj.total).toBeGreaterThan(10);
    const h = await cli('power', 'exact_u8', '--uniform', '4096', '--opensta');
    expect(h.exitCode).toBe(0);
    expect(h.stdout).toMatch(/OpenSTA pJ\/op/);
    expect(h.stdout).toMatch(/report: .*power-\w+\.md/);
  });

  it('bad inputs: one line, exit 2', async () => {
    expectOneLineExit2(await cli('power', 'exact_u8', '--liberty', truncated), /truncated\.lib:\d+: .*truncated/);
    expectOneLineExit2(await cli('synth', 'exact_u8', '--liberty', join(tmp, 'missing.lib')), /liberty file not found/);
    expectOneLineExit2(await cli('power', 'no_such_cell_u8'), /unknown cell id/);
    const odd = join(tmp, 'odd.ab');
    writeFileSync(odd, new Uint8Array([1, 2, 3]));
    expectOneLineExit2(await cli('power', 'exact_u8', '--stream', odd), /odd length/);
    expectOneLineExit2(await cli('power', 'exact_u8', '--stream', odd, '--uniform', '10'), /either --uniform/);
    expectOneLineExit2(await cli('power', 'exact_u8', '--vdd', '0.3'), /threshold/);
    // A netlist instantiating a cell that is neither a module nor in the library.
    const bad = join(tmp, 'unknown-cell');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'top.v'), 'module top(input a, output y); FOO123 u0(.A(a), .Y(y)); endmodule\n');
    expectOneLineExit2(await cli('synth', bad), /instantiates FOO123, which is neither a module/);
    // A library missing a cell the design needs (flip-flops).
    const seq = join(tmp, 'seq');
    mkdirSync(seq, { recursive: true });
    writeFileSync(join(seq, 'r.v'), 'module r(input clk, input [3:0] d, output reg [3:0] q); always @(posedge clk) q <= d; endmodule\n');
    expectOneLineExit2(await cli('synth', seq, '--liberty', noFlops), /has no such cell|not in liberty/);
  });
});
