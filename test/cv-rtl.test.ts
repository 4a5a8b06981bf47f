import { afterAll, describe, expect, it } from 'vitest';
import { xorshift32 } from '../core/rng.ts';
import { type Design, resolveDesign } from '../generators/array/index.ts';
import { cycleModel } from '../mapping/cycle-model.ts';
import type { GemmCv, Mat8 } from '../mapping/gemm.ts';
import { gemmModel } from '../mapping/gemm-model.ts';
import { ArraySim } from '../sim/array.ts';

/**
 * Control-variate hardware (docs/cv.md) in RTL: random GEMMs (several K-folds, N-folds, M-blocks)
 * with random coefficients and q against gemmModel (which applies nn/cv.ts `correctionTerm`) and
 * the cycle model (one more cycle of latency).
 */
function mat(rows: number, cols: number, next: () => number): Mat8 {
  return { rows, cols, data: Uint8Array.from({ length: rows * cols }, () => next() & 0xff) };
}

const designs: { label: string; config: object; cases: number }[] = [
  {
    label: 'two unsigned tiles (4x4 perforated m=3, accEntries 8; 3x2 perforated rows 1-2), 3 coefficient rows',
    config: {
      rows: 4,
      cols: 4,
      accEntries: 8,
      tiles: [
        { name: 'a', cell: 'perf_j0_k3_u8' },
        { name: 'b', rows: 3, cols: 2, cell: 'perf_j1_k2_u8' },
      ],
      controlVariate: { folds: 3 },
    },
    cases: 30,
  },
  {
    label: '3x5 signed DRUM, psum 24, clock-gated, 2 coefficient rows',
    config: { rows: 3, cols: 5, psumBits: 24, cell: 'drum_k4_s8', clockGating: true, controlVariate: { folds: 2 } },
    cases: 20,
  },
];

const sims: ArraySim[] = [];
afterAll(async () => {
  for (const s of sims) await s.close();
});

describe('control-variate hardware: RTL == gemmModel, cycles == cycleModel', () => {
  for (const d of designs)
    it(d.label, async () => {
      const design: Design = resolveDesign(d.config);
      const sim = await ArraySim.open(design);
      sims.push(sim);
      const next = xorshift32(17);
      let corrected = 0;
      for (let i = 0; i < d.cases; i++) {
        const tile = design.tiles.length > 1 ? i % design.tiles.length : 0;
        const t = design.tiles[tile]!;
        const M = 1 + (next() % 20);
        const K = 1 + (next() % (3 * t.rows + 2));
        const N = 1 + (next() % (design.controlVariate!.folds * t.cols));
        const A = mat(M, K, next);
        const W = mat(K, N, next);
        // Every third GEMM without compensation (zero coefficients written).
        const cv: GemmCv | undefined = i % 3 === 2 ? undefined : { q: next() % 16, coef: Array.from({ length: N }, () => (next() % 65536) - 32768) };
        const run = await sim.gemm(A, W, { tile, cv });
        const want = gemmModel(design, A, W, { tile, cv });
        expect([...run.out.raw], `${d.label} case ${i} M${M} K${K} N${N}`).toEqual([...want.raw]);
        expect(run.cycles).toBe(cycleModel(design, M, K, N, tile).cycles);
        if (cv && [...want.raw].some((x, j) => x !== gemmModel(design, A, W, { tile }).raw[j])) corrected++;
      }
      expect(corrected).toBeGreaterThan(d.cases / 3);
    });
});
