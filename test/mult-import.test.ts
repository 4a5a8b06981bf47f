import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../core/paths.ts';
import { cellMetrics, getCell } from '../generators/multipliers/index.ts';
import { evoStyleFromBuiltin } from './helpers/evo.ts';

/**
 * An EvoApprox-style structural cell written here: ports A, B, O; 8x8 unsigned array multiplier
 * built from half/full-adder modules whose LSB partial product a0&b0 is dropped and whose
 * operands are used asymmetrically (A[1]&B[0] also dropped), so the port binding matters.
 */
function evoStyleCell(name: string): string {
  const lines: string[] = [];
  lines.push(
    `module ${name}_fa(input x, input y, input z, output s, output c);`,
    '  assign s = x ^ y ^ z;',
    '  assign c = (x & y) | (z & (x ^ y));',
    'endmodule',
  );
  lines.push(`module ${name}(A, B, O);`, '  input [7:0] A;', '  input [7:0] B;', '  output [15:0] O;');
  // Ripple-row array: acc_j = acc_{j-1} + (A & B[j]) << j, each row a chain of full adders.
  lines.push('  wire [15:0] acc0;');
  const pp = (i: number, j: number) => ((i === 0 && j === 0) || (i === 1 && j === 0) ? "1'b0" : `A[${i}] & B[${j}]`);
  lines.push(`  assign acc0 = {8'b0, ${[7, 6, 5, 4, 3, 2, 1, 0].map((i) => `${pp(i, 0)}`).join(', ')}};`);
  for (let j = 1; j < 8; j++) {
    lines.push(`  wire [15:0] acc${j};`, `  wire [16:0] c${j};`, `  assign c${j}[0] = 1'b0;`);
    for (let k = 0; k < 16; k++) {
      const i = k - j;
      const bit = i >= 0 && i < 8 ? pp(i, j) : "1'b0";
      lines.push(`  wire r${j}_${k} = ${bit};`);
      lines.push(`  ${name}_fa f${j}_${k}(.x(acc${j - 1}[${k}]), .y(r${j}_${k}), .z(c${j}[${k}]), .s(acc${j}[${k}]), .c(c${j}[${k + 1}]));`);
    }
  }
  lines.push('  assign O = acc7;', 'endmodule');
  return `${lines.join('\n')}\n`;
}

const cli = (args: string[], env: Record<string, string>) => execa('node', [join(repoRoot, 'bin/axtpu.js'), ...args], { reject: false, env, cwd: repoRoot });

describe('external cells', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'axtpu-import-'));
    env = { AXTPU_CELLS_DIR: join(dir, 'cells'), AXTPU_RTL_OUT: join(dir, 'rtl-out') };
    writeFileSync(join(dir, 'mul8u_T1.v'), evoStyleCell('mul8u_T1'));
  });

  it('round trip: import with binding -> LUT -> re-import LUT -> verify; metrics equal', async () => {
    const imp = await cli(['--json', 'mult', 'import', join(dir, 'mul8u_T1.v'), '--module', 'mul8u_T1', '--ports', 'a=B,b=A,p=O', '--as', 't1'], env);
    expect(imp.exitCode, imp.stderr).toBe(0);
    const m1 = JSON.parse(imp.stdout).metrics;
    // Dropped a0&b0 (weight 1) and A[1]&B[0] (weight 2); a is bound to B, so error = -(b0 a0) - 2(b1 a0).
    expect(m1.wce).toBe(3);
    expect(m1.bias).toBe(-0.75);
    const show = await cli(['--json', 'mult', 'show', 'ext:t1'], env);
    expect(show.exitCode, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout).metrics).toEqual(m1);

    const lutFile = join(dir, 't1.bin');
    const lut = await cli(['mult', 'lut', 'ext:t1', '--out', lutFile], env);
    expect(lut.exitCode, lut.stderr).toBe(0);
    const bytes = readFileSync(lutFile);
    expect(bytes.length).toBe(131072);
    // Binding: our a=100 drives port B, b=200 drives port A: the cell loses B[0]A[0] + 2*B[0]A[1] -> 0.
    expect(bytes.readUInt16LE(((100 << 8) | 200) * 2)).toBe(20000);
    expect(bytes.readUInt16LE(((3 << 8) | 3) * 2)).toBe(9 - 1 - 2);

    const imp2 = await cli(['--json', 'mult', 'import', lutFile, '--as', 't1lut'], env);
    expect(imp2.exitCode, imp2.stderr).toBe(0);
    expect(JSON.parse(imp2.stdout).metrics).toEqual(m1);

    const ver = await cli(['--json', 'mult', 'verify', 'ext:t1', 'ext:t1lut', 'exact_u8'], env);
    expect(ver.exitCode, ver.stderr).toBe(0);
    expect(JSON.parse(ver.stdout).cells.map((c: { pass: boolean }) => c.pass)).toEqual([true, true, true]);

    // The transposed binding is a different cell.
    const imp3 = await cli(['--json', 'mult', 'import', join(dir, 'mul8u_T1.v'), '--module', 'mul8u_T1', '--as', 't1ab'], env);
    expect(imp3.exitCode, imp3.stderr).toBe(0);
    const ab = await cli(['mult', 'lut', 'ext:t1ab', '--out', join(dir, 't1ab.bin')], env);
    expect(ab.exitCode).toBe(0);
    expect(readFileSync(join(dir, 't1ab.bin')).equals(bytes)).toBe(false);

    const list = await cli(['--json', 'mult', 'list'], env);
    const ids = JSON.parse(list.stdout).map((c: { id: string }) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['ext:t1', 'ext:t1lut', 'ext:t1ab', 'exact_u8']));
  });

  it('mult gen writes rtl-out/cells/<module>.v; a bad id among them writes nothing', async () => {
    const r = await cli(['--json', 'mult', 'gen', 'drum_k6_u8', 'exact_s8'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { id: string; verilog: string }[];
    expect(out.map((o) => o.verilog)).toEqual([join(dir, 'rtl-out', 'cells', 'drum_k6_u8.v'), join(dir, 'rtl-out', 'cells', 'exact_s8.v')]);
    expect(readFileSync(out[0]!.verilog, 'utf8')).toContain('module drum_k6_u8 (');
    const bad = await cli(['mult', 'gen', 'exact_u8', 'drum_k1_u8'], { ...env, AXTPU_RTL_OUT: join(dir, 'rtl-out-bad') });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(dir, 'rtl-out-bad'))).toBe(false);
  });

  const bad: [string, string, string[], RegExp][] = [
    ['does not parse', 'module p1(input [7:0] A, input [7:0] B, output [15:0] O;\nendmodule\n', ['--module', 'p1'], /does not parse/],
    [
      'missing module',
      'module p2(input [7:0] A, input [7:0] B, output [15:0] O);\n  assign O = {A, B};\nendmodule\n',
      ['--module', 'nothere'],
      /module 'nothere' not found/,
    ],
    [
      'wrong port width',
      "module p3(input [7:0] A, input [3:0] B, output [15:0] O);\n  assign O = {4'b0, A, B};\nendmodule\n",
      ['--module', 'p3'],
      /must be 8 bits wide, is 4/,
    ],
    [
      'unknown bound port',
      'module p4(input [7:0] A, input [7:0] B, output [15:0] O);\n  assign O = {A, B};\nendmodule\n',
      ['--module', 'p4', '--ports', 'a=X,b=B,p=O'],
      /no port 'X'/,
    ],
    [
      'sequential',
      'module p5(input clk, input [7:0] A, input [7:0] B, output reg [15:0] O);\n  always @(posedge clk) O <= {A, B};\nendmodule\n',
      ['--module', 'p5'],
      /clocked logic/,
    ],
    ['latch', 'module p6(input [7:0] A, input [7:0] B, output reg [15:0] O);\n  always @(*) if (A[0]) O = {A, B};\nendmodule\n', ['--module', 'p6'], /latch/],
    ['X constant', "module p7(input [7:0] A, input [7:0] B, output [15:0] O);\n  assign O = A[7] ? 16'bx : {A, B};\nendmodule\n", ['--module', 'p7'], /X\/Z/],
    [
      'Z constant',
      "module p8(input [7:0] A, input [7:0] B, output [15:0] O);\n  assign O = A[0] ? 16'hzzzz : {A, B};\nendmodule\n",
      ['--module', 'p8'],
      /X\/Z/,
    ],
    [
      'undriven output bits',
      'module p9(input [7:0] A, input [7:0] B, output [15:0] O);\n  assign O[7:0] = A & B;\nendmodule\n',
      ['--module', 'p9'],
      /not driven/,
    ],
  ];
  for (const [what, text, args, msg] of bad)
    it(`rejects ${what}: one line, exit 2, nothing written`, async () => {
      const f = join(dir, `bad_${what.replace(/\W/g, '_')}.v`);
      writeFileSync(f, text);
      const cellsDir = join(dir, `cells_${what.replace(/\W/g, '_')}`);
      const r = await cli(['mult', 'import', f, ...args], { ...env, AXTPU_CELLS_DIR: cellsDir });
      expect(r.exitCode, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(msg);
      expect(existsSync(cellsDir) ? readdirSync(cellsDir) : []).toEqual([]);
    });

  it('rejects a LUT file of the wrong size: one line, exit 2, nothing written', async () => {
    const f = join(dir, 'short.bin');
    writeFileSync(f, Buffer.alloc(65536));
    const cellsDir = join(dir, 'cells_short');
    const r = await cli(['mult', 'import', f, '--as', 'short'], { ...env, AXTPU_CELLS_DIR: cellsDir });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/expected 131072 bytes/);
    expect(existsSync(cellsDir)).toBe(false);
  });

  it('batch import of a folder: one Verilator build shared with verify, metrics equal the source cells, re-import needs --force', async () => {
    const lib = join(dir, 'lib');
    mkdirSync(lib);
    const src = ['trunc_a2_b2_u8', 'drum_k4_u8', 'bam_h1_v6_u8'];
    for (const id of src) writeFileSync(join(lib, `mul8_${id}.v`), evoStyleFromBuiltin(id));
    const benv = { ...env, AXTPU_CELLS_DIR: join(dir, 'cells-batch') };
    const imp = await cli(['--json', 'mult', 'import', lib], benv);
    expect(imp.exitCode, imp.stderr).toBe(0);
    const rows = JSON.parse(imp.stdout).cells as { id: string; signed: boolean; metrics: unknown }[];
    expect(rows.map((r) => r.id)).toEqual(src.map((id) => `ext:mul8_${id}`).sort());
    for (const r of rows) expect(r.metrics).toEqual(cellMetrics(getCell(r.id.replace('ext:mul8_', ''))));
    // The verify bank of the same cells is the import's model: a cache hit.
    const ver = await cli(['--json', 'mult', 'verify', 'ext:*'], benv);
    expect(ver.exitCode, ver.stderr).toBe(0);
    const rep = JSON.parse(ver.stdout);
    expect(rep.buildHit).toBe(true);
    expect(rep.cells.every((c: { pass: boolean }) => c.pass)).toBe(true);
    const again = await cli(['mult', 'import', join(lib, 'mul8_drum_k4_u8.v')], benv);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/ext:mul8_drum_k4_u8 already exists.*--force/);
    const forced = await cli(['mult', 'import', join(lib, 'mul8_drum_k4_u8.v'), '--force'], benv);
    expect(forced.exitCode, forced.stderr).toBe(0);
  });
});
