/**
 * Exhaustive proof that each cell's Verilog equals its TS model: one Verilator model holds all
 * selected cells, a C++ harness drives every operand pair and compares with the LUTs we pass
 * as a binary file. The build is content-cached, so re-verifying the same cells costs only the run.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { runTool } from '../../core/runner.ts';
import { render } from '../../core/templates.ts';
import { type BuiltModel, buildVerilatorModel } from '../../core/verilator.ts';
import { lut } from './index.ts';
import type { Cell } from './types.ts';

export interface Mismatch {
  a: number;
  b: number;
  expected: number;
  got: number;
}
export interface CellVerdict {
  id: string;
  pass: boolean;
  mismatches: number;
  first: Mismatch[];
}
export interface VerifyReport {
  cells: CellVerdict[];
  pass: boolean;
  buildHit: boolean;
  buildMs: number;
  runMs: number;
  totalMs: number;
}

const TOP = 'axtpu_mult_verify_top';
const MAX_SHOWN = 5;

/** What a cell bank needs of a cell (an imported cell is banked before it is stored). */
export type BankCell = Pick<Cell, 'id' | 'bits' | 'moduleName' | 'verilog'>;

/** The verification top (all cells side by side) and one file per cell, named after its module. */
export function verifySources(cells: BankCell[]) {
  const ctx = { top: TOP, maxShown: MAX_SHOWN, cells: cells.map((c, index) => ({ index, id: c.id, bits: c.bits, moduleName: c.moduleName })) };
  const sources: Record<string, string> = { [`${TOP}.v`]: render('cells/verify_top.v', ctx) };
  for (const c of cells) sources[`${c.moduleName}.v`] = c.verilog();
  return { top: TOP, ctx, sources };
}

/**
 * The one Verilator model of a cell bank, shared by `mult verify` and `mult import` (--dump mode),
 * so verifying freshly imported cells is a cache hit. X is randomised (unique) so an import can
 * detect outputs that depend on X by running two seeds; user Verilog may carry lint/style warnings.
 */
export async function buildCellBank(cells: BankCell[]): Promise<BuiltModel> {
  const { ctx, sources } = verifySources(cells);
  // -O1 for the C++: these models are wide flat netlists; compile time dominates run time.
  return buildVerilatorModel({
    top: TOP,
    sources,
    cppSources: { 'verify_harness.cpp': render('cells/verify_harness.cpp', ctx) },
    flags: ['--x-assign', 'unique', '--x-initial', 'unique', '-Wno-lint', '-Wno-style'],
    cflags: ['-O1'],
  });
}

export async function verifyCells(cells: Cell[]): Promise<VerifyReport> {
  if (cells.length === 0) throw new UserError('mult verify: no cells selected');
  const wide = cells.find((c) => c.bits > 8);
  if (wide) throw new UserError(`mult verify: '${wide.id}' is wider than 8 bits; exhaustive verification covers widths <= 8`);
  const t0 = Date.now();
  const built = await buildCellBank(cells);
  const buildMs = Date.now() - t0;

  const dir = scratchDir('mult-verify');
  try {
    const expectedPath = join(dir, 'expected.bin');
    const parts = cells.map((c) => Buffer.from(new Uint16Array(lut(c)).buffer));
    // Uint16Array is host-endian; every machine we run on is little-endian (matches fread).
    writeFileSync(expectedPath, Buffer.concat(parts));
    const t1 = Date.now();
    const r = await runTool({ tool: built.exe, args: [expectedPath], cwd: dir, logFile: join(dir, 'run.log'), timeoutMs: 600_000 });
    const runMs = Date.now() - t1;
    const verdicts: CellVerdict[] = cells.map((c) => ({ id: c.id, pass: false, mismatches: -1, first: [] }));
    for (const line of r.stdout.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[0] === 'MISMATCH') {
        const v = verdicts[Number(f[1])];
        v?.first.push({ a: Number(f[2]), b: Number(f[3]), expected: Number(f[4]), got: Number(f[5]) });
      } else if (f[0] === 'RESULT') {
        const v = verdicts[Number(f[1])];
        if (v) {
          v.mismatches = Number(f[2]);
          v.pass = v.mismatches === 0;
        }
      }
    }
    return { cells: verdicts, pass: verdicts.every((v) => v.pass), buildHit: built.hit, buildMs, runMs, totalMs: Date.now() - t0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
