import { describe, expect, it } from 'vitest';
import { nonDominatedSort, nsga2 } from '../explore/nsga2.ts';
import { dominates, hypervolume, paretoFront } from '../explore/pareto.ts';
import { ranks, spearman } from '../explore/stats.ts';

describe('pareto and hypervolume', () => {
  it('keeps exactly the non-dominated points', () => {
    const pts = [
      { energy: 10, accuracy: 0.9 },
      { energy: 5, accuracy: 0.8 },
      { energy: 6, accuracy: 0.7 }, // dominated by (5, 0.8)
      { energy: 12, accuracy: 0.9 }, // dominated by (10, 0.9)
      { energy: 3, accuracy: 0.5 },
    ];
    expect(paretoFront(pts)).toEqual([pts[4], pts[1], pts[0]]);
    expect(dominates(pts[1]!, pts[2]!)).toBe(true);
    expect(dominates(pts[0]!, pts[0]!)).toBe(false);
  });

  it('computes 2-D hypervolume as a sum of rectangles', () => {
    const ref = { energy: 10, accuracy: 0 };
    // One point: a single rectangle.
    expect(hypervolume([{ energy: 4, accuracy: 0.5 }], ref)).toBeCloseTo(6 * 0.5);
    // Two points: staircase.
    const hv = hypervolume(
      [
        { energy: 2, accuracy: 0.4 },
        { energy: 6, accuracy: 0.9 },
      ],
      ref,
    );
    expect(hv).toBeCloseTo((6 - 2) * 0.4 + (10 - 6) * 0.9);
    // A dominated point adds nothing.
    expect(
      hypervolume(
        [
          { energy: 2, accuracy: 0.4 },
          { energy: 6, accuracy: 0.9 },
          { energy: 7, accuracy: 0.3 },
        ],
        ref,
      ),
    ).toBeCloseTo(hv);
  });
});

describe('rank statistics', () => {
  it('averages ties and gives +-1 for monotone relations', () => {
    expect(ranks([10, 20, 20, 5])).toEqual([2, 3.5, 3.5, 1]);
    expect(spearman([1, 2, 3, 4], [10, 100, 1000, 10000])).toBeCloseTo(1);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1);
  });
});

describe('NSGA-II', () => {
  it('sorts fronts correctly', () => {
    const pop = [
      { f: [1, 5] as [number, number], rank: -1 },
      { f: [2, 2] as [number, number], rank: -1 },
      { f: [3, 3] as [number, number], rank: -1 },
      { f: [5, 1] as [number, number], rank: -1 },
    ];
    const fronts = nonDominatedSort(pop);
    expect(fronts[0]!.sort()).toEqual([0, 1, 3]);
    expect(fronts[1]).toEqual([2]);
  });

  it('finds the true Pareto front of a separable problem and is reproducible', async () => {
    // 6 "layers", 4 "cells" each: cell c saves c energy units and costs loss c*w_i (layer weight).
    const w = [0.1, 0.5, 1, 2, 4, 8];
    const evaluate = (g: number[]) => ({
      f: [g.reduce((s, c) => s + (3 - c), 0), g.reduce((s, c, i) => s + c * w[i]!, 0)] as [number, number],
    });
    const run = () => nsga2({ choices: w.map(() => 4), populationSize: 40, generations: 40, seed: 7, evaluate });
    const r1 = await run();
    const r2 = await run();
    expect(r1.evaluated.map((e) => e.genome.join(''))).toEqual(r2.evaluated.map((e) => e.genome.join('')));
    // Exhaustive optimum: for each energy level the least loss. NSGA-II must hit most of them.
    const best = new Map<number, number>();
    for (let i = 0; i < 4 ** 6; i++) {
      const g = [0, 1, 2, 3, 4, 5].map((k) => Math.floor(i / 4 ** k) % 4);
      const [e, l] = evaluate(g).f;
      best.set(e, Math.min(best.get(e) ?? Infinity, l));
    }
    const found = new Map<number, number>();
    for (const ind of r1.population) found.set(ind.f[0], Math.min(found.get(ind.f[0]) ?? Infinity, ind.f[1]));
    let hits = 0;
    for (const [e, l] of best) if (Math.abs((found.get(e) ?? Infinity) - l) < 1e-9) hits++;
    expect(hits / best.size).toBeGreaterThanOrEqual(0.8);
    expect(r1.evaluations).toBeLessThan(40 * 41);
  });
});

import { xaiGreedy } from '../explore/greedy.ts';
import { marginalPath, pathDesign, pathGreedy, surrogateGreedy } from '../explore/path.ts';

describe('XAI-guided greedy', () => {
  it('approximates least-critical units first and respects the budget', async () => {
    // 4 units; choice 0 = aggressive (loss 3*w), 1 = mild (loss w), 2 = exact (0).
    const w = [0.001, 0.004, 0.002, 0.02];
    const accuracyOf = (g: number[]) => 0.9 - g.reduce((s, c, i) => s + (c === 0 ? 3 * w[i]! : c === 1 ? w[i]! : 0), 0);
    const r = await xaiGreedy({
      units: 4,
      criticality: w,
      candidates: w.map(() => [0, 1, 2]),
      initial: [2, 2, 2, 2],
      accuracyOf,
      baselineAccuracy: 0.9,
      budget: 0.01,
    });
    expect(0.9 - r.accuracy).toBeLessThanOrEqual(0.01 + 1e-12);
    // Order 0 (0.003), 2 (0.006 -> total 0.009), 1 (aggressive 0.012 too much; mild 0.004 too much), 3 stays exact.
    expect(r.assignment).toEqual([0, 2, 0, 2]);
    expect(r.trace[0]!.assignment).toEqual([0, 2, 2, 2]);
  });
});

describe('greedy along the predicted front', () => {
  // Unit 0: choices (energy, damage) 0:(2, 5) 1:(6, 1) 2:(7, 4, above the hull) 3:(10, 0) exact.
  // Unit 1: 0:(1, 10) 1:(4, 0, no damage) 2:(8, 0) exact.
  const energy = [
    [2, 6, 7, 10],
    [1, 4, 8],
  ];
  const damage = [
    [5, 1, 4, 0],
    [10, 0, 0],
  ];
  const start = [3, 2];

  it('walks each unit down its lower convex hull, steps merged by pJ saved per damage', () => {
    const steps = marginalPath(energy, damage, start);
    // Unit 1: 8 -> 4 saves 4 pJ at no damage (ratio Infinity), then 4 -> 1 saves 3 for 10 (0.3).
    // Unit 0: 10 -> 6 saves 4 for 1 (4), 6 -> 2 saves 4 for 4 (1); choice 2 is above the hull.
    expect(steps).toEqual([
      { unit: 1, to: 1, ratio: Number.POSITIVE_INFINITY },
      { unit: 0, to: 1, ratio: 4 },
      { unit: 0, to: 0, ratio: 1 },
      { unit: 1, to: 0, ratio: 0.3 },
    ]);
    expect(pathDesign(start, steps, 0)).toEqual([3, 2]);
    expect(pathDesign(start, steps, 3)).toEqual([0, 1]);
  });

  it('bisects for the last design within the budget, then fills with later steps of other units', async () => {
    // 3 units, 3 cheaper steps each; the true damage is the step's damage, budget 10. The path
    // (by ratio) puts unit 2's deep step before unit 1's cheap ones.
    const E = [
      [1, 2, 3, 4],
      [1, 2, 3, 4],
      [1, 2, 3, 4],
    ];
    const D = [
      [9, 4, 1, 0],
      [30, 20, 2, 0],
      [12, 6, 3, 0],
    ];
    const s0 = [3, 3, 3];
    const steps = marginalPath(E, D, s0);
    const judged: number[][] = [];
    const r = await pathGreedy({
      energy: E,
      damage: D,
      start: s0,
      steps,
      fillPatience: 100,
      fits: async (g) => {
        judged.push(g);
        return g.reduce((a, c, u) => a + D[u]![c]!, 0) <= 10;
      },
    });
    const total = (g: number[]) => g.reduce((a, c, u) => a + D[u]![c]!, 0);
    expect(total(r.genes)).toBeLessThanOrEqual(10);
    // Every design the bisection accepted is a path prefix; the result is at least the boundary.
    expect(total(r.genes)).toBeGreaterThanOrEqual(total(pathDesign(s0, steps, r.boundary)));
    // With unlimited patience the fill ends where no single unit can move to any cheaper cell.
    for (let u = 0; u < 3; u++)
      for (let c = 0; c < r.genes[u]!; c++) {
        const t = [...r.genes];
        t[u] = c;
        expect(total(t)).toBeGreaterThan(10);
      }
    // Bisection: about log2(steps) designs, not one per step.
    expect(r.trials.filter((t) => t.phase === 'bisect').length).toBeLessThanOrEqual(Math.ceil(Math.log2(steps.length + 1)) + 1);
    expect(judged.length).toBe(r.trials.length);
  });

  it('fill measures cells off the predicted hull: a wrong prediction does not hide a cell that fits', async () => {
    // One unit: choice 1 is predicted bad (damage 9 for 1 pJ, off the hull: the path jumps to
    // choice 0), but truly costs 1; choice 0 truly costs 10. Budget 5.
    const E = [[1, 2, 3]];
    const D = [[10, 9, 0]];
    const truth = [[10, 1, 0]];
    const steps = marginalPath(E, D, [2]);
    expect(steps.map((s) => s.to)).toEqual([0]);
    const r = await pathGreedy({ energy: E, damage: D, start: [2], steps, fits: async (g) => truth[0]![g[0]!]! <= 5 });
    expect(r.boundary).toBe(0);
    expect(r.genes).toEqual([1]);
    expect(r.trials.map((t) => [t.phase, t.genes[0], t.fits])).toEqual([
      ['bisect', 2, true],
      ['bisect', 0, false],
      ['fill', 1, true],
    ]);
  });

  it('tries nothing else when the starting design already fails', async () => {
    const r = await pathGreedy({ energy, damage, start: [3, 2], steps: marginalPath(energy, damage, [3, 2]), fits: async () => false });
    expect(r.trials.length).toBe(1);
    expect(r.boundary).toBe(-1);
  });
});

describe('greedy on a measured (surrogate) path', () => {
  it('finds designs whose unit errors cancel, which an additive prediction ranks out', async () => {
    // Two units, errors of opposite sign: unit 0 adds +4 / +1, unit 1 adds -4 / -1 (choices 0 / 1;
    // 2 = exact). The true damage is |sum|, so both on their cheapest choice cancel to 0.
    const E = [
      [1, 2, 3],
      [1, 2, 3],
    ];
    const err = [
      [4, 1, 0],
      [-4, -1, 0],
    ];
    const truth = (g: number[]) => Math.abs(err[0]![g[0]!]! + err[1]![g[1]!]!);
    const budget = 2;
    const scored = new Set<string>();
    const r = await surrogateGreedy({
      energy: E,
      start: [2, 2],
      score: async (g) => {
        scored.add(g.join());
        return truth(g);
      },
      fits: async (g) => truth(g) <= budget,
    });
    expect(r.genes).toEqual([0, 0]);
    expect(truth(r.genes)).toBe(0);
    // Every step's score is the whole design's, after the step.
    let g = [2, 2];
    for (const s of r.steps) {
      g = [...g];
      g[s.unit] = s.to;
      expect(s.score).toBe(truth(g));
    }
    // The additive prediction (per-unit |error|) walks a path whose bisection stops earlier.
    const D = err.map((row) => row.map(Math.abs));
    const p = await pathGreedy({ energy: E, damage: D, start: [2, 2], steps: marginalPath(E, D, [2, 2]), fits: async (x) => truth(x) <= budget });
    const energyOf = (x: number[]) => E[0]![x[0]!]! + E[1]![x[1]!]!;
    expect(energyOf(r.genes)).toBeLessThan(energyOf(p.genes));
    // Each design is scored once however often the walk asks.
    expect(scored.size).toBeLessThanOrEqual(8);
  });

  it('builds the path only about twice past the boundary, gallops and bisects, then fills', async () => {
    // 4 units x 5 choices, additive truth with unit weights; budget 10.
    const E = Array.from({ length: 4 }, () => [1, 2, 3, 4, 5]);
    const w = [1, 2, 3, 5];
    const truth = (g: number[]) => g.reduce((a, c, u) => a + w[u]! * (4 - c), 0);
    const judged: string[] = [];
    const r = await surrogateGreedy({
      energy: E,
      start: [4, 4, 4, 4],
      score: async (g) => truth(g),
      fillPatience: 100,
      fits: async (g) => {
        judged.push(g.join());
        return truth(g) <= 10;
      },
    });
    expect(truth(r.genes)).toBeLessThanOrEqual(10);
    expect(r.steps.length).toBeLessThanOrEqual(2 * r.boundary + 1);
    const probes = r.trials.filter((t) => t.phase === 'bisect').length;
    expect(probes).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(r.boundary + 1)) + 2);
    // With unlimited patience the fill ends where no single move to a cheaper choice fits.
    for (let u = 0; u < 4; u++)
      for (let c = 0; c < r.genes[u]!; c++) {
        const t = [...r.genes];
        t[u] = c;
        expect(truth(t)).toBeGreaterThan(10);
      }
    expect(judged.length).toBe(r.trials.length);
  });

  it('tries nothing else when the starting design already fails', async () => {
    const r = await surrogateGreedy({ energy: [[1, 2]], start: [1], score: async () => 0, fits: async () => false });
    expect(r.trials.length).toBe(1);
    expect(r.boundary).toBe(-1);
    expect(r.steps).toEqual([]);
  });
});
