import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIBERTY } from '../core/paths.ts';
import { loadLiberty } from '../synth/liberty.ts';
import { runCli } from './helpers/cli.ts';

/** Area of the liberty cells Yosys counted, summed from the library (independent of its stat text). */
function libraryArea(byType: Record<string, number>): number {
  const lib = loadLiberty(LIBERTY.osu018);
  return Object.entries(byType).reduce((s, [t, n]) => s + n * (lib.cells.get(t)?.area ?? 0), 0);
}

interface YosysStat {
  design: { num_cells: number; num_cells_by_type: Record<string, number> };
}

describe('axtpu synth <design dir>', () => {
  it('synthesizes a directory that axtpu gen has just written (synth.f, top axtpu_top)', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'axtpu-synth-gen-')), 'ws2');
    const g = await runCli(['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--psum-bits', '16', '--out', dir]);
    expect(g.code).toBe(0);
    const r = await runCli(['synth', dir, '--liberty', LIBERTY.osu018, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [row] = JSON.parse(r.stdout).results;
    expect(row.top).toBe('axtpu_top');
    expect(row.areaUm2).toBeGreaterThan(0);
    // The memories are the design's black-box macros (outside the area): the accumulator memory,
    // the activation buffer and the weight FIFO.
    expect([...row.blackBoxes].sort()).toEqual(['axtpu_tile0_accmem', 'axtpu_ubmem', 'axtpu_wbufmem']);
    const stat = JSON.parse(readFileSync(join(dirname(row.netlist), 'stat.json'), 'utf8')) as YosysStat;
    expect(row.cellCount).toBe(stat.design.num_cells);
    // A 2x2 array has 4 PEs with an 8x8 multiplier each: far more than a handful of cells.
    expect(row.cellCount).toBeGreaterThan(4 * 200);
    expect(row.areaUm2).toBeCloseTo(libraryArea(stat.design.num_cells_by_type), 3);
  }, 300_000);

  it('keeps a body-less (* blackbox *) macro as an instance, outside the area', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-synth-bb-'));
    writeFileSync(
      join(dir, 'top.v'),
      [
        '(* blackbox *)',
        'module accmem (input clk, input [3:0] addr, input [7:0] d, output [7:0] q);',
        'endmodule',
        'module top (input clk, input [3:0] addr, input [7:0] d, output [7:0] q);',
        '  reg [7:0] r;',
        "  always @(posedge clk) r <= d + 8'd1;",
        '  accmem m (.clk(clk), .addr(addr), .d(r), .q(q));',
        'endmodule',
        '',
      ].join('\n'),
    );
    const r = await runCli(['synth', dir, '--liberty', LIBERTY.osu018, '--json']);
    expect(r.code).toBe(0);
    const [row] = JSON.parse(r.stdout).results;
    expect(row.top).toBe('top');
    expect(row.blackBoxes).toEqual(['accmem']);
    const stat = JSON.parse(readFileSync(join(dirname(row.netlist), 'stat.json'), 'utf8')) as YosysStat;
    expect(stat.design.num_cells_by_type.accmem).toBe(1);
    expect(row.cellCount).toBe(stat.design.num_cells);
    expect(row.areaUm2).toBeGreaterThan(0);
    expect(row.areaUm2).toBeCloseTo(libraryArea(stat.design.num_cells_by_type), 3);
  }, 120_000);

  it('a design dir whose synth.f names a missing file is one line, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-synth-badf-'));
    writeFileSync(join(dir, 'synth.f'), 'synth/nope.sv\n');
    const r = await runCli(['synth', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`axtpu: design dir ${dir}: synth.f names 'synth/nope.sv', which does not exist`]);
  });
});
