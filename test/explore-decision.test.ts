import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AccuracyRecord, Evaluator, packBits, unpackBits } from '../explore/evaluator.ts';
import { xaiGreedy } from '../explore/greedy.ts';
import { Journal } from '../explore/journal.ts';
import { normalQuantile, pairedLoss } from '../explore/stats.ts';
import type { Dataset } from '../nn/dataset.ts';

describe('paired decision rule', () => {
  it('normal quantiles match the tables', () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.9)).toBeCloseTo(1.2815516, 6);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 5);
  });

  it('pairs images: shared errors cancel, only discordant images carry noise', () => {
    const n = 1000;
    const ref = new Uint8Array(n).fill(1);
    const cand = new Uint8Array(n).fill(1);
    for (let i = 0; i < 100; i++) ref[i] = cand[i] = 0; // wrong for both: no effect on the loss
    for (let i = 100; i < 120; i++) cand[i] = 0; // 20 images lost
    for (let i = 120; i < 130; i++) ref[i] = 0; // 10 images gained
    const l = pairedLoss(ref, cand, 0.9);
    expect(l.loss).toBeCloseTo(0.01, 12);
    expect(l.discordant).toBe(30);
    // d has 20 ones, 10 minus ones: sample variance (30 - n*0.01^2) / (n - 1).
    const se = Math.sqrt((30 - n * 1e-4) / (n - 1) / n);
    expect(l.se).toBeCloseTo(se, 12);
    expect(l.upper).toBeCloseTo(0.01 + 1.2815516 * se, 6);
    expect(l.lower).toBeCloseTo(0.01 - 1.2815516 * se, 6);
    // Confidence 0.5 is the point estimate.
    expect(pairedLoss(ref, cand, 0.5).upper).toBeCloseTo(0.01, 12);
    // Identical designs: zero loss, zero spread.
    expect(pairedLoss(ref, ref, 0.99)).toMatchObject({ loss: 0, se: 0, upper: 0, discordant: 0 });
  });
});

describe('staged, journaled per-image evaluation', () => {
  it('packs correctness bits losslessly', () => {
    const bits = Uint8Array.from({ length: 37 }, (_, i) => ((i * 7) % 3 === 0 ? 1 : 0));
    expect(unpackBits(packBits(bits), 37)).toEqual(bits);
  });

  it('assembles prefixes from stage ranges and never evaluates an image range twice', async () => {
    const n = 40;
    const ds: Dataset = {
      name: 'toy',
      count: n,
      channels: 1,
      height: 1,
      width: 1,
      pixels: Uint8Array.from({ length: n }, (_, i) => i),
      labels: Uint8Array.from({ length: n }, (_, i) => i % 3),
    } as Dataset;
    const calls: number[] = [];
    // A "design" that predicts label 0 always: correct exactly on images i % 3 === 0.
    const runner = async (_a: unknown, d: Dataset) => {
      calls.push(d.count);
      return new Uint8Array(d.count);
    };
    const path = join(mkdtempSync(join(tmpdir(), 'axtpu-eval-')), 'j.jsonl');
    const ev = new Evaluator(new Journal<AccuracyRecord>(path), 'p', runner);
    const a = { layers: { l: 'exact_u8' } };
    const first = await ev.prefix('val', ds, 10, a, [10, n]);
    expect(Array.from(first)).toEqual(Array.from({ length: 10 }, (_, i) => (i % 3 === 0 ? 1 : 0)));
    const all = await ev.prefix('val', ds, n, a, [10, n]);
    expect(calls).toEqual([10, 30]); // the first stage was reused
    expect(Array.from(all.subarray(0, 10))).toEqual(Array.from(first));
    expect(all.reduce((s, b) => s + b, 0)).toBe(14);
    // A new evaluator on the same journal (a resumed run) computes nothing.
    const ev2 = new Evaluator(new Journal<AccuracyRecord>(path), 'p', runner);
    expect(await ev2.prefix('val', ds, n, a, [10, n])).toEqual(all);
    expect(calls).toEqual([10, 30]);
    expect(ev2.fresh).toBe(0);
    await expect(ev.prefix('val', ds, 20, a, [10, n])).rejects.toThrow(/not a stage boundary/);
  });
});

describe('greedy with a custom decision rule', () => {
  it('accepts a trial only when the rule says it fits', async () => {
    // 2 units, choices 0 (aggressive), 1 (mild), 2 (exact). Point accuracy says everything fits,
    // but the rule rejects the aggressive choice on unit 1.
    const r = await xaiGreedy({
      units: 2,
      criticality: [1, 2],
      candidates: [
        [0, 1, 2],
        [0, 1, 2],
      ],
      initial: [2, 2],
      accuracyOf: () => 0.9,
      accepts: (g) => !(g[1] === 0),
      baselineAccuracy: 0.9,
      budget: 0.01,
    });
    expect(r.assignment).toEqual([0, 1]);
  });
});
