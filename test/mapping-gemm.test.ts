import { describe, expect, it } from 'vitest';
import { resolveDesign } from '../generators/array/index.ts';
import { REG } from '../generators/array/regmap.ts';
import { productTable } from '../generators/multipliers/index.ts';
import { cycleModel } from '../mapping/cycle-model.ts';
import {
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

  it('one K-fold needs no accumulator memory, so no M-blocks however large M is', () => {
    const plan = foldPlan(design, 0, 10_000, 4, 7);
    expect([plan.kFolds, plan.mBlocks, plan.blockRows]).toEqual([1, 1, 10_000]);
    expect(foldPlan(design, 0, 10_000, 5, 7).mBlocks).toBe(1250);
    expect(paddedK(design.tiles[0]!, 5)).toBe(8);
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
  it('cycle model: unchanged for M <= accEntries; M-blocks reload the weights per block', () => {
    const design = resolveDesign({ rows: 16, cols: 16, cell: 'exact_u8' });
    const r = cycleModel(design, 256, 64, 64);
    expect(r.cycles).toBe(16 + 16 * 256 + 31);
    expect(r.streamCycles).toBe(16 * 256);
    const small = resolveDesign({ rows: 16, cols: 16, cell: 'exact_u8', accEntries: 64 });
    const b = cycleModel(small, 256, 64, 64);
    expect(b.mBlocks).toBe(4);
    expect(b.folds).toBe(64);
    expect(b.streamCycles).toBe(16 * 256);
    // 64 folds of 64 rows: each fold's load (16 cycles) hides behind the previous stream.
    expect(b.cycles).toBe(16 + 64 * 64 + 31);
    expect(b.scaleSimCycles).toBe(64 * (2 * 16 + 16 + 64 - 2));
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
