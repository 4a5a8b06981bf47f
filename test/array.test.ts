import { afterAll, describe, expect, it } from 'vitest';
import { xorshift32 } from '../core/rng.ts';
import { type Design, resolveDesign } from '../generators/array/index.ts';
import { productTable } from '../generators/multipliers/index.ts';
import { cycleModel } from '../mapping/cycle-model.ts';
import { decodePsum, type Mat8 } from '../mapping/gemm.ts';
import { gemmModel } from '../mapping/gemm-model.ts';
import { ArraySim } from '../sim/array.ts';

/**
 * RTL (Verilator, LUT cells) vs the bit-exact TS model and the cycle model, on a handful of
 * designs (one build each, content-cached) and many random (shape, seed) GEMMs per design.
 */
const rng = xorshift32;

function mat(rows: number, cols: number, next: () => number): Mat8 {
  return { rows, cols, data: Uint8Array.from({ length: rows * cols }, () => next() & 0xff) };
}

const UNSIGNED = ['exact_u8', 'drum_k6_u8', 'bam_h0_v8_u8', 'mitchell_u8', 'kulkarni_u8', 'trunc_a2_b2_u8'];

const designs: { label: string; config: object; cases: number }[] = [
  { label: '4x4 exact', config: { rows: 4, cols: 4, cell: 'exact_u8' }, cases: 40 },
  {
    label: '3x5 per-column mixed, psum 20, 2 domains',
    config: {
      rows: 3,
      cols: 5,
      psumBits: 20,
      map: { column: ['exact_u8', 'drum_k6_u8', 'bam_h0_v8_u8', 'mitchell_u8', 'kulkarni_u8'] },
      domains: {
        domains: [
          { name: 'hi', columns: [0, 2, 4] },
          { name: 'lo', columns: [1, 3] },
        ],
      },
    },
    cases: 40,
  },
  {
    label: '8x8 per-PE mixed',
    config: {
      rows: 8,
      cols: 8,
      map: { pe: Array.from({ length: 8 }, (_, r) => Array.from({ length: 8 }, (_, c) => UNSIGNED[(r * 3 + c * 5) % UNSIGNED.length]!)) },
    },
    cases: 35,
  },
  { label: '2x7 signed per-row, psum 16 (wraps)', config: { rows: 2, cols: 7, psumBits: 16, map: { row: ['roup_p1_r4_s8', 'exact_s8'] } }, cases: 35 },
  {
    label: 'two tiles (4x4 exact, 2x3 drum)',
    config: {
      rows: 4,
      cols: 4,
      tiles: [
        { name: 'big', cell: 'exact_u8' },
        { name: 'small', rows: 2, cols: 3, cell: 'drum_k4_u8' },
      ],
    },
    cases: 30,
  },
  {
    label: 'runtime modes 3x4 (exact | per-column | kulkarni)',
    config: { rows: 3, cols: 4, map: { modes: ['exact_u8', { column: ['drum_k6_u8', 'exact_u8', 'bam_h0_v8_u8', 'drum_k6_u8'] }, 'kulkarni_u8'] } },
    cases: 30,
  },
  // Small accumulators: GEMMs with several K-folds and M > 8 run in M-blocks.
  {
    label: '3x4 signed per-row, psum 16, accEntries 8 (M-blocks, wraps)',
    config: { rows: 3, cols: 4, psumBits: 16, accEntries: 8, map: { row: ['exact_s8', 'roup_p1_r4_s8', 'exact_s8'] } },
    cases: 30,
  },
  {
    label: 'two tiles, 2 modes, accEntries 9 (M-blocks)',
    config: {
      rows: 2,
      cols: 3,
      accEntries: 9,
      tiles: [
        { name: 'a', map: { modes: ['exact_u8', 'drum_k6_u8'] } },
        { name: 'b', rows: 4, cols: 2, map: { modes: ['kulkarni_u8', 'exact_u8'] } },
      ],
    },
    cases: 30,
  },
];

let total = 0;
let severalKFolds = 0;
let severalMBlocks = 0;
const sims: ArraySim[] = [];
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  // The acceptance criterion: at least 200 (shape, design, seed) cases bit- and cycle-exact,
  // and the accumulators exercised: several K-folds, and several M-blocks.
  expect(total).toBeGreaterThanOrEqual(200);
  expect(severalKFolds).toBeGreaterThanOrEqual(50);
  expect(severalMBlocks).toBeGreaterThanOrEqual(10);
});

describe('array RTL == gemmModel and cycleModel', () => {
  for (const d of designs) {
    it(d.label, async () => {
      const design: Design = resolveDesign(d.config);
      const sim = await ArraySim.open(design);
      sims.push(sim);
      const next = rng(0xa11ce ^ d.cases ^ (design.tiles[0]!.rows * 977));
      for (let i = 0; i < d.cases; i++) {
        const tile = i % design.tiles.length;
        const mode = Math.floor(i / design.tiles.length) % design.modes;
        const t = design.tiles[tile]!;
        // Shapes cover K < R, K = R, partial and several folds, N < C and N > C, M = 1.
        const M = i === 0 ? 1 : 1 + (next() % 40);
        const K = 1 + (next() % (3 * t.rows + 2));
        const N = 1 + (next() % (3 * t.cols + 2));
        const A = mat(M, K, next);
        const W = mat(K, N, next);
        const run = await sim.gemm(A, W, { tile, mode });
        const ref = gemmModel(design, A, W, { tile, mode });
        const where = `${d.label} case ${i} tile ${tile} mode ${mode} M=${M} K=${K} N=${N}`;
        let bad = -1;
        for (let j = 0; j < ref.raw.length && bad < 0; j++) if (ref.raw[j] !== run.out.raw[j]) bad = j;
        expect(bad, `${where}: first mismatch at ${bad}: rtl ${run.out.raw[bad]} model ${ref.raw[bad]}`).toBe(-1);
        const cm = cycleModel(design, M, K, N, tile);
        expect(run.cycles, where).toBe(cm.cycles);
        if (cm.kFolds > 1) severalKFolds++;
        if (cm.mBlocks > 1) severalMBlocks++;
        total++;
      }
    });
  }

  it('psum wraps exactly like the RTL (16-bit psum, signed, long K)', async () => {
    const design = resolveDesign({ rows: 2, cols: 7, psumBits: 16, map: { row: ['roup_p1_r4_s8', 'exact_s8'] } });
    const sim = await ArraySim.open(design);
    sims.push(sim);
    // All codes 0x80 (-128): products +16384 each, so 40 of them overflow 16 bits many times.
    const A: Mat8 = { rows: 3, cols: 40, data: new Uint8Array(120).fill(0x80) };
    const W: Mat8 = { rows: 40, cols: 7, data: new Uint8Array(280).fill(0x80) };
    const run = await sim.gemm(A, W);
    const ref = gemmModel(design, A, W);
    expect(Array.from(run.out.raw)).toEqual(Array.from(ref.raw));
    // The overflow provably happened: the true sum (PE row 0 = roup for even k, row 1 = exact
    // for odd k) is far outside the signed 16-bit range, and both sides hold it mod 2^16.
    const trueSum = 20 * productTable('roup_p1_r4_s8')[0x8080]! + 20 * productTable('exact_s8')[0x8080]!;
    expect(trueSum).toBeGreaterThan(2 ** 16);
    for (const v of run.out.raw) {
      expect(v).toBe(trueSum % 2 ** 16);
      expect(decodePsum(design, v)).not.toBe(trueSum);
    }
    total++;
  });
});
