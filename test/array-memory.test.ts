import { describe, expect, it } from 'vitest';
import { resolveDesign } from '../generators/array/index.ts';
import { PERF_COUNTERS } from '../generators/array/perf.ts';
import { cycleModel } from '../mapping/cycle-model.ts';
import { foldPlan } from '../mapping/gemm.ts';
import { gemmModel } from '../mapping/gemm-model.ts';
import { gemmBufferCounts } from '../mapping/memory.ts';
import { ArraySim } from '../sim/array.ts';
import { seededMat } from './helpers/mat.ts';

/**
 * The memories in the RTL (activation buffer halves, weight FIFO behind a rate-limited DRAM
 * port, accumulators): outputs equal the bit-exact model, cycles equal the cycle model and the
 * RTL's access counters equal mapping/memory.ts, on shapes that exercise every rule — several
 * M-blocks through a small buffer, DRAM stalls, one K-fold (no accumulator traffic), a 1x1x1
 * GEMM, and two tiles whose rows take different numbers of DRAM cycles.
 */
const SHAPES: [number, number, number][] = [
  [10, 9, 5],
  [300, 3, 13],
  [70, 17, 2],
  [1, 1, 1],
];

async function check(config: object, shapes: [number, number, number][], tile = 0) {
  const design = resolveDesign(config);
  const sim = await ArraySim.open(design, { activity: false });
  try {
    for (const [M, K, N] of shapes) {
      const A = seededMat(M, K, M * 7 + K);
      const W = seededMat(K, N, N * 13 + K);
      const r = await sim.gemm(A, W, { tile });
      const where = `${JSON.stringify(config)} tile ${tile} M=${M} K=${K} N=${N}`;
      expect(Array.from(r.out.raw), where).toEqual(Array.from(gemmModel(design, A, W, { tile }).raw));
      expect(r.cycles, where).toBe(cycleModel(design, M, K, N, tile).cycles);
      const model = gemmBufferCounts(foldPlan(design, tile, M, K, N));
      for (const c of PERF_COUNTERS) expect(r.counters[c.key], `${where} ${c.key}`).toBe(model[c.key]);
    }
  } finally {
    await sim.close();
  }
}

describe('memories in the RTL', () => {
  it('small buffer (many M-blocks), 1 B/cycle DRAM (weight stalls), few accumulator rows', async () => {
    const config = { rows: 4, cols: 4, cell: 'drum_k4_u8', ubKiB: 1, dramBytesPerCycle: 1, accEntries: 8 };
    await check(config, SHAPES);
    // The shapes do exercise the rules: several blocks, stalls beyond the stream.
    const design = resolveDesign(config);
    expect(foldPlan(design, 0, 300, 3, 13).mBlocks).toBeGreaterThan(2);
    const stalled = cycleModel(design, 10, 9, 5);
    expect(stalled.cycles).toBeGreaterThan(stalled.folds * 4 * 4);
  });

  it('two tiles with different widths: each tile rows take their own DRAM cycles', async () => {
    const config = { rows: 4, cols: 4, dramBytesPerCycle: 4, tiles: [{ cell: 'exact_u8' }, { rows: 3, cols: 6, cell: 'drum_k4_u8' }] };
    await check(config, SHAPES.slice(0, 2), 0);
    await check(config, SHAPES.slice(0, 2), 1);
  });
});
