import { describe, expect, it } from 'vitest';
import { resolveDesign } from '../generators/array/index.ts';
import { REG } from '../generators/array/regmap.ts';
import { productTable } from '../generators/multipliers/index.ts';
import { cycleModel } from '../mapping/cycle-model.ts';
import {
  bufferLoadOrder,
  decodePsum,
  decodePsums,
  foldOrder,
  foldPlan,
  gemmRegisterWrites,
  type Mat8,
  outputRowCount,
  padBias,
  paddedK,
  placeOutputs,
  weightStream,
} from '../mapping/gemm.ts';
import { gemmModel } from '../mapping/gemm-model.ts';
import { seededMat } from './helpers/mat.ts';

/** Pure checks of the GEMM mapping (no Verilator): fold order, M-blocks, padding, placement, decode. */
const mat = seededMat;

describe('fold plan and order', () => {
  const design = resolveDesign({ rows: 4, cols: 3, accEntries: 8, cell: 'exact_u8' });

  it('M-block outermost, then N-folds, then K-folds; every (row, k, n) covered exactly once', () => {
    const plan = foldPlan(design, 0, 19, 10, 7);
    expect([plan.kFolds, plan.nFolds, plan.mBlocks, plan.blockRows, plan.paddedK]).toEqual([3, 3, 3, 8, 12]);
    const folds = foldOrder(plan);
    expect(folds.length).toBe(plan.folds);
    expect(folds.slice(0, 4).map((f) => [f.m0, f.n0, f.k0, f.kIndex])).toEqual([
      [0, 0, 0, 0],
      [0, 0, 4, 1],
      [0, 0, 8, 2],
      [0, 3, 0, 0],
    ]);
    expect(folds.at(-1)).toMatchObject({ m0: 16, rows: 3, n0: 6, k0: 8, kIndex: 2 });
    const seen = new Uint8Array(19 * 12 * 9);
    for (const f of folds)
      for (let m = f.m0; m < f.m0 + f.rows; m++) for (let r = 0; r < plan.R; r++) for (let c = 0; c < plan.C; c++) seen[(m * 12 + f.k0 + r) * 9 + f.n0 + c]!++;
    expect(seen.every((s) => s === 1)).toBe(true);
  });

  it('one K-fold needs no accumulator memory, so only the activation buffer limits its M-blocks', () => {
    const bigBuffer = resolveDesign({ rows: 4, cols: 3, accEntries: 8, ubKiB: 1024, cell: 'exact_u8' });
    const plan = foldPlan(bigBuffer, 0, 10_000, 4, 7);
    expect([plan.kFolds, plan.mBlocks, plan.blockRows]).toEqual([1, 1, 10_000]);
    expect(foldPlan(bigBuffer, 0, 10_000, 5, 7).mBlocks).toBe(1250);
    expect(paddedK(design.tiles[0]!, 5)).toBe(8);
    // Default buffer at 4x3: round(24 MiB x 12 / 65536) = 5 KiB = 1280 words of 4 bytes, 640 per half.
    expect(design.memory).toMatchObject({ ubKiB: 5, ubWords: 1280 });
    const small = foldPlan(design, 0, 10_000, 4, 7);
    expect([small.mBlocks, small.blockRows]).toEqual([16, 640]);
    // Two K-folds: a block's rows x 2 words must fit a half.
    expect(foldPlan(design, 0, 10_000, 8, 7).blockRows).toBe(8);
    expect(foldPlan(bigBuffer, 0, 10_000, 8, 7).blockRows).toBe(8);
    expect(foldPlan(resolveDesign({ rows: 4, cols: 3, ubKiB: 1, cell: 'exact_u8' }), 0, 10_000, 40, 7).blockRows).toBe(12);
  });

  it('buffer halves: block b in half b mod 2, K-fold j of row i at j x rows + i; loads and folds agree', () => {
    const plan = foldPlan(design, 0, 19, 10, 7);
    const half = plan.ubHalf;
    const loads = bufferLoadOrder(plan);
    expect(loads.slice(0, 3)).toEqual([
      { m0: 0, rows: 8, k0: 0, last: false },
      { m0: 0, rows: 8, k0: 4, last: false },
      { m0: 0, rows: 8, k0: 8, last: true },
    ]);
    // Every fold reads the words its own block's loads wrote, for its own K-slice.
    const folds = foldOrder(plan);
    let block = -1;
    let next = 0;
    const wordOf = new Map<number, string>();
    for (const l of loads) {
      if (l.k0 === 0) next = (++block % 2) * half;
      for (let i = 0; i < l.rows; i++) wordOf.set(next++, `${l.m0 + i}:${l.k0}`);
      if (!l.last) continue;
      const mine = folds.filter((f) => f.block === block);
      expect(mine.length).toBe(plan.nFolds * plan.kFolds);
      for (const f of mine) for (let i = 0; i < f.rows; i++) expect(wordOf.get(f.ubBase + i)).toBe(`${f.m0 + i}:${f.k0}`);
    }
    expect(block).toBe(plan.mBlocks - 1);
    for (const f of folds) expect(f.blockLast).toBe(f.n0 === 6 && f.kIndex === 2);
  });

  it('register writes: K-fold count at 0x02 minus one, levels at 0x10 + d; mode/tile only when the design has them', () => {
    const plan = foldPlan(design, 0, 5, 9, 3);
    const w = gemmRegisterWrites(design, plan, { tile: 0, mode: 0, levels: [0], nDomains: 1 });
    expect(w).toEqual([
      { addr: REG.kFoldLast.addr, data: 2 },
      { addr: REG.domainLevel.addr, data: 0 },
    ]);
    const multi = resolveDesign({ rows: 2, cols: 2, tiles: [{ map: { modes: ['exact_u8', 'drum_k6_u8'] } }, { map: { modes: ['exact_u8', 'exact_u8'] } }] });
    const w2 = gemmRegisterWrites(multi, foldPlan(multi, 1, 3, 2, 2), { tile: 1, mode: 1, levels: [0, 0], nDomains: 2 });
    expect(w2.slice(0, 3)).toEqual([
      { addr: REG.mode.addr, data: 1 },
      { addr: REG.tile.addr, data: 1 },
      { addr: REG.kFoldLast.addr, data: 0 },
    ]);
  });

  it('weight stream: R rows of C codes per fold, zero past K and N; outputs placed back where they belong', () => {
    const plan = foldPlan(design, 0, 3, 5, 4);
    const folds = foldOrder(plan);
    const W = mat(5, 4, 7);
    const ws = weightStream(plan, folds, W);
    expect(ws.length).toBe(folds.length * 4 * 3);
    // Fold 1 = K-fold 1 of N-fold 0: row k=4 of W, columns 0..2, then three zero rows.
    expect(Array.from(ws.subarray(12, 24))).toEqual([W.data[16], W.data[17], W.data[18], 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Fold 3 = K-fold 1 of N-fold 1: row 4, column 3, zero padded past N.
    expect(Array.from(ws.subarray(36, 39))).toEqual([W.data[19], 0, 0]);
    // Placement: emitted row i of the last K-fold of N-fold j carries (row m, columns n0..).
    expect(outputRowCount(folds)).toBe(2 * 3);
    const rows = Uint32Array.from({ length: 6 * 3 }, (_, i) => 1000 + i);
    const out = placeOutputs(plan, folds, rows);
    expect(Array.from(out.raw)).toEqual([1000, 1001, 1002, 1009, 1003, 1004, 1005, 1012, 1006, 1007, 1008, 1015]);
  });
});

describe('models', () => {
  it('cycle model: first block load, then streaming; M-blocks reload the weights per block, the next block loads behind', () => {
    const design = resolveDesign({ rows: 16, cols: 16, cell: 'exact_u8' });
    const r = cycleModel(design, 256, 64, 64);
    // Block 0's 256 x 4 buffer words (one per cycle), then 16 folds of 256 rows; weights (6
    // cycles per row at 3 B/cycle) hide behind both; then the drain.
    expect(r.cycles).toBe(256 * 4 + 16 * 256 + 31);
    expect(r.streamCycles).toBe(16 * 256);
    const small = resolveDesign({ rows: 16, cols: 16, cell: 'exact_u8', accEntries: 64 });
    const b = cycleModel(small, 256, 64, 64);
    expect(b.mBlocks).toBe(4);
    expect(b.folds).toBe(64);
    expect(b.streamCycles).toBe(16 * 256);
    expect(b.scaleSimCycles).toBe(64 * (2 * 16 + 16 + 64 - 2));
    // 64 folds of 64 rows, but each fold needs 16 weight rows x 6 DRAM cycles = 96 > 64: the DRAM
    // port bounds the run (all 1024 rows fetched back to back), then the last fold streams and drains.
    expect(b.cycles).toBe(64 * 16 * 6 + 1 + 64 + 31);
    // With a 16 B/cycle port the weights hide: block 0's 64 x 4 words, 64 folds of 64 rows, the drain.
    const fastDram = resolveDesign({ rows: 16, cols: 16, cell: 'exact_u8', accEntries: 64, dramBytesPerCycle: 16 });
    expect(cycleModel(fastDram, 256, 64, 64).cycles).toBe(64 * 4 + 64 * 64 + 31);
  });

  it('cycle model: a slow DRAM port stalls the array on the weights; a fast one hides them', () => {
    const at = (dramBytesPerCycle: number) => resolveDesign({ rows: 16, cols: 16, cell: 'exact_u8', dramBytesPerCycle });
    // Few rows per fold (M = 8): every fold needs 16 weight rows.
    const slow = cycleModel(at(1), 8, 64, 64);
    const fast = cycleModel(at(16), 8, 64, 64);
    // At 1 B/cycle a 16-byte row takes 16 cycles: 16 folds x 16 rows x 16 cycles bound the run.
    expect(slow.cycles).toBeGreaterThanOrEqual(16 * 16 * 16);
    // At 16 B/cycle the weights arrive as fast as the array loads them (one row per cycle).
    expect(fast.cycles).toBeLessThan(16 * 16 + 8 * 4 + 16 * 8 + 31 + 16);
    expect(slow.cycles).toBeGreaterThan(4 * fast.cycles);
  });

  it('gemmModel wraps at psumBits and K-folds add like one long sum', () => {
    const design = resolveDesign({ rows: 2, cols: 3, psumBits: 16, accEntries: 8, cell: 'exact_u8' });
    const A: Mat8 = { rows: 20, cols: 9, data: new Uint8Array(180).fill(255) };
    const W: Mat8 = { rows: 9, cols: 4, data: new Uint8Array(36).fill(255) };
    const out = gemmModel(design, A, W);
    const exact = 9 * 255 * 255;
    expect(exact).toBeGreaterThan(2 ** 16);
    expect(out.raw.every((v) => v === exact % 2 ** 16)).toBe(true);
  });

  it('pad bias is cell(0,0) per padded PE row; psum decode sign-extends signed designs only', () => {
    const design = resolveDesign({ rows: 4, cols: 2, map: { column: ['exact_u8', 'drum_k6_u8'] } });
    const pad = padBias(design, 0, 0, 5, 2);
    expect(Array.from(pad)).toEqual([3 * productTable('exact_u8')[0]!, 3 * productTable('drum_k6_u8')[0]!]);
    expect(Array.from(padBias(design, 0, 0, 8, 2))).toEqual([0, 0]);
    const s = { psumBits: 20, signed: true };
    expect(decodePsum(s, 2 ** 20 - 1)).toBe(-1);
    expect(decodePsum(s, 2 ** 19 - 1)).toBe(2 ** 19 - 1);
    expect(decodePsum({ psumBits: 20, signed: false }, 2 ** 20 - 1)).toBe(2 ** 20 - 1);
    expect(Array.from(decodePsums(s, Uint32Array.from([2 ** 19, 5])))).toEqual([-(2 ** 19), 5]);
  });
});
