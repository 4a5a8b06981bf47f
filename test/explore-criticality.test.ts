import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../core/paths.ts';
import { makeRng } from '../core/rng.ts';
import { layerErrorStats } from '../explore/cell-error.ts';
import { checkCriticality, ESTIMATORS } from '../explore/criticality-check.ts';
import { tailDataset } from '../explore/evaluator.ts';
import { xaiGreedy } from '../explore/greedy.ts';
import { Journal } from '../explore/journal.ts';
import { LayerProbe, outputKl } from '../explore/layer-probe.ts';
import { lossGradients } from '../explore/loss-gradients.ts';
import { criticalitySeeds } from '../explore/run.ts';
import { kendall, percentileInterval } from '../explore/stats.ts';
import { DesignKl, type SurrogateRecord } from '../explore/surrogate.ts';
import { layerCriticality } from '../explore/xai.ts';
import { productTable } from '../generators/multipliers/index.ts';
import { resolveAssignment } from '../nn/assign.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { runQuantBatch } from '../nn/engine.ts';
import { pixelsToFloat, runFloat } from '../nn/float.ts';
import { gemmLut } from '../nn/gemm.ts';
import type { FloatGraph } from '../nn/graph.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { prepareNativeKernels } from '../nn/native.ts';
import { importOnnx } from '../nn/onnx.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import { randomConv } from './helpers/graphs.ts';

const lenet = join(repoRoot, 'models/lenet5-fmnist.onnx');

describe('rank statistics', () => {
  it('Kendall tau-b on known series, with ties', () => {
    // 6 pairs: one discordant (2,3 swapped) -> (5 - 1) / 6.
    expect(kendall([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(4 / 6, 12);
    expect(kendall([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    // x tied on one pair: n0 = 3, n1 = 1, n2 = 0 -> (2 - 0) / sqrt(2 * 3).
    expect(kendall([1, 1, 2], [1, 2, 3])).toBeCloseTo(2 / Math.sqrt(6), 12);
  });

  it('percentile interval of 0..100 at 90 %', () => {
    const xs = Array.from({ length: 101 }, (_, i) => 100 - i);
    expect(percentileInterval(xs, 0.9)).toEqual([5, 95]);
  });
});

describe('criticality seeds for NSGA-II', () => {
  it('approximate the k least critical units most aggressively, the rest exact', () => {
    const choices = [
      ['a', 'x'],
      ['a', 'b', 'x'],
      ['a', 'x'],
      ['a', 'x'],
    ];
    const seeds = criticalitySeeds([3, 1, 4, 2], choices, 8);
    // Order of units by criticality: 1, 3, 0, 2.
    expect(seeds).toEqual([
      [1, 0, 1, 1],
      [1, 0, 1, 0],
      [0, 0, 1, 0],
    ]);
    expect(criticalitySeeds([3, 1, 4, 2], choices, 1)).toEqual([[0, 0, 1, 0]]);
  });
});

describe('cross-entropy gradients at pre-activations', () => {
  it("equal the finite difference of the loss in each channel's bias", () => {
    const rng = makeRng(4);
    const conv = (name: string, input: string, output: string, ic: number, oc: number, k: number, relu: boolean, kind: 'conv' | 'dense') =>
      randomConv(rng, { name, input, output, ic, oc, k, relu, kind }, { weight: 0.7, bias: 0.3 });
    const g: FloatGraph = {
      name: 't',
      input: 'x',
      inputShape: { c: 1, h: 5, w: 5 },
      output: 'y',
      layers: [
        conv('c1', 'x', 'a', 1, 3, 3, true, 'conv'),
        { op: 'reshape', name: 'f', input: 'a', output: 'fa' },
        conv('fc', 'fa', 'y', 27, 4, 1, false, 'dense'),
      ],
      shapes: { x: { c: 1, h: 5, w: 5 }, a: { c: 3, h: 3, w: 3 }, fa: { c: 27, h: 1, w: 1 }, y: { c: 4, h: 1, w: 1 } },
    };
    const n = 3;
    const x = Float32Array.from({ length: n * 25 }, () => rng());
    const targets = [0, 2, 3];
    const grads = lossGradients(g, x, targets, n, 2);
    const loss = () => {
      const y = runFloat(g, x, n);
      let s = 0;
      for (let b = 0; b < n; b++) {
        const row = Array.from(y.subarray(b * 4, b * 4 + 4));
        const mx = Math.max(...row);
        s += mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) - row[targets[b]!]!;
      }
      return s;
    };
    const eps = 1e-3;
    let checked = 0;
    for (const l of g.layers) {
      if (l.op !== 'conv') continue;
      const gr = grads.find((x) => x.layer === l.name)!;
      for (let c = 0; c < l.oc; c++) {
        const b0 = l.bias[c]!;
        l.bias[c] = b0 + eps;
        const up = loss();
        l.bias[c] = b0 - eps;
        const down = loss();
        l.bias[c] = b0;
        const fd = (up - down) / (2 * eps);
        let sum = 0;
        for (let b = 0; b < n; b++) sum += gr.sum[b * l.oc + c]!;
        expect(Math.abs(sum - fd)).toBeLessThan(2e-3 + 1e-2 * Math.abs(fd));
        checked++;
      }
    }
    expect(checked).toBe(7);
  });
});

describe('on LeNet-5 (unsigned)', () => {
  let q: QuantModel;
  beforeAll(async () => {
    await prepareNativeKernels();
    q = (await loadQuantModelFor(lenet, 'unsigned', { dataset: 'fmnist' })).model;
  });

  it("a cell's accumulator error moments match a Monte Carlo draw from the same histogram", () => {
    const l = convLayers(q)[1]!;
    const rng = makeRng(3);
    // A skewed activation histogram with many zeros, as after a ReLU.
    const hist = Array.from({ length: 256 }, (_, a) => (a === 0 ? 500 : a < 64 ? 20 : 1));
    const s = layerErrorStats(q, l, 'drum_k4_u8', 'exact_u8', hist);
    const t = productTable('drum_k4_u8');
    const x = productTable('exact_u8');
    const total = hist.reduce((p, v) => p + v, 0);
    const cdf = hist.map(
      (
        (acc) => (v: number) =>
          (acc += v / total)
      )(0),
    );
    const draw = () => {
      const u = rng();
      const a = cdf.findIndex((c) => c >= u);
      return a < 0 ? 255 : a;
    };
    for (const c of [0, 5, 11]) {
      const N = 4000;
      let m = 0;
      let m2 = 0;
      for (let i = 0; i < N; i++) {
        let e = 0;
        for (let k = 0; k < l.K; k++) {
          const a = draw();
          const b = l.weights[c * l.K + k]! & 0xff;
          e += t[(a << 8) | b]! - x[(a << 8) | b]!;
        }
        m += e / N;
        m2 += (e * e) / N;
      }
      const v = m2 - m * m;
      expect(Math.abs(m - s.mean[c]!)).toBeLessThan(4 * Math.sqrt(s.variance[c]! / N) + 1e-9);
      expect(Math.abs(v / s.variance[c]! - 1)).toBeLessThan(0.12);
      // The split by zero/active activations recombines to the unconditional mean.
      const pz = hist[q.tensors[l.input]!.zeroPoint & 0xff]! / total;
      expect(pz * s.zeroMean[c]! + (1 - pz) * s.activeMean[c]!).toBeCloseTo(s.mean[c]!, 6);
    }
  });

  it('a one-layer probe (exact prefix reused) equals the engine run of that assignment bit for bit', () => {
    const ds = limitDataset(loadDataset('fmnist', 'test'), 40);
    const probe = new LayerProbe(q, ds.pixels, ds.labels, ds.count);
    const layer = convLayers(q)[2]!.name;
    const r = resolveAssignment(q, { default: 'exact_u8', layers: { [layer]: 'bam_h0_v8_u8' } });
    const viaProbe = probe.run(layer, (l, g) => gemmLut(r.rowOffsets[l.name]!, r.table, g, l.oc));
    const engine = runQuantBatch({ model: q, table: r.table, rowOffsets: r.rowOffsets }, ds.pixels, ds.count);
    const classes = 10;
    let changed = 0;
    for (let b = 0; b < ds.count; b++) {
      expect(viaProbe.correct[b]).toBe(engine.pred[b] === ds.labels[b] ? 1 : 0);
      const row = Array.from(engine.scores.subarray(b * classes, (b + 1) * classes));
      const mx = Math.max(...row);
      const ce = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) - row[ds.labels[b]!]!;
      expect(viaProbe.ce[b]).toBeCloseTo(ce, 9);
      if (Math.abs(viaProbe.ce[b]! - probe.exact.ce[b]!) > 1e-9) changed++;
    }
    expect(changed).toBeGreaterThan(20);
  });

  it("the greedy surrogate's whole-design KL: 0 for exact, a one-layer design's equals the probe's, replayed from its journal", async () => {
    const ds = limitDataset(loadDataset('fmnist', 'train'), 48);
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-surrogate-'));
    try {
      const exact = { default: 'exact_u8', layers: {} };
      const journal = () => new Journal<SurrogateRecord>(join(dir, 'surrogate.jsonl'));
      const kl = await DesignKl.create(q, ds, exact, 'p', journal());
      expect(kl.score(exact)).toBe(0);
      // One layer on a cell: the engine's whole run vs the probe's (exact prefix reused, that layer's LUT GEMM).
      const layer = convLayers(q)[1]!.name;
      const one = { default: 'exact_u8', layers: { [layer]: 'bam_h1_v6_u8' } };
      const probe = new LayerProbe(q, ds.pixels, ds.labels, ds.count);
      const r = resolveAssignment(q, one);
      const o = probe.run(layer, (l, g) => gemmLut(r.rowOffsets[l.name]!, r.table, g, l.oc));
      let mean = 0;
      for (let b = 0; b < ds.count; b++) mean += outputKl(probe.exact, o, b) / ds.count;
      expect(mean).toBeGreaterThan(0);
      expect(kl.score(one)).toBeCloseTo(mean, 12);
      // Two layers together: not the sum of the two alone (the units' errors interact).
      const other = convLayers(q)[3]!.name;
      const two = { default: 'exact_u8', layers: { [layer]: 'bam_h1_v6_u8', [other]: 'bam_h1_v6_u8' } };
      const sum = kl.score(one) + kl.score({ default: 'exact_u8', layers: { [other]: 'bam_h1_v6_u8' } });
      expect(Math.abs(kl.score(two) - sum)).toBeGreaterThan(1e-6 * sum);
      expect([kl.runs, kl.hits]).toEqual([4, 0]);
      // A second run on the same output folder replays every design.
      const again = await DesignKl.create(q, ds, exact, 'p', journal());
      expect(again.score(two)).toBe(kl.score(two));
      expect([again.runs, again.hits]).toEqual([0, 1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the criticality check ranks layers for two cells with intervals; noise-kl predicts the BAM damage', () => {
    const graph = importOnnx(lenet);
    const train = loadDataset('fmnist', 'train');
    const calib = limitDataset(train, 32);
    const val = limitDataset(tailDataset(train, 2000), 80);
    const xai = layerCriticality(graph, pixelsToFloat(calib.pixels), calib.labels, calib.count, { steps: 4 });
    const c = checkCriticality({ q, graph, exact: 'exact_u8', cells: ['bam_h0_v8_u8', 'bam_h1_v6_u8'], calib, val, xai, filterSample: 4, bootstrap: 200 });
    expect(c.cells.map((x) => x.cell)).toEqual(['bam_h0_v8_u8', 'bam_h1_v6_u8']);
    expect(c.engineRuns.measured).toBe(2 * 5 + 4);
    for (const cell of c.cells) {
      expect(cell.vsKl.map((x) => x.estimator)).toEqual([...ESTIMATORS]);
      for (const x of [...cell.vsKl, ...cell.vsLoss, ...cell.vsAccuracy]) {
        expect(x.spearmanCi[0]).toBeLessThanOrEqual(x.spearmanCi[1]);
        expect(Math.abs(x.spearman)).toBeLessThanOrEqual(1);
      }
      expect(cell.measured.every((m) => m.outputKl >= 0)).toBe(true);
    }
    // The acceptance property on the cell with clearly separated layer damages.
    const bam = c.cells[0]!;
    expect(bam.vsKl.find((x) => x.estimator === 'noise-kl')!.spearman).toBeGreaterThanOrEqual(0.8);
    expect(c.filters!.filters).toHaveLength(4);
  });
});

describe('greedy per-unit step', () => {
  it('bisect finds the scan assignment with fewer evaluations when feasibility is monotone', async () => {
    // 4 units x 8 choices (0 = most aggressive, 7 = exact); unit u tolerates choices >= limit[u],
    // independently of the others (a monotone, separable problem).
    const limit = [0, 3, 6, 7];
    const run = (step: 'scan' | 'bisect') =>
      xaiGreedy({
        units: 4,
        criticality: [1, 2, 3, 4],
        candidates: limit.map(() => [0, 1, 2, 3, 4, 5, 6, 7]),
        initial: [7, 7, 7, 7],
        accuracyOf: (g) => (g.every((c, u) => c >= limit[u]!) ? 1 : 0),
        baselineAccuracy: 1,
        budget: 0.01,
        step,
      });
    const scan = await run('scan');
    const bisect = await run('bisect');
    expect(scan.assignment).toEqual(limit);
    expect(bisect.assignment).toEqual(limit);
    expect(bisect.evaluations).toBeLessThan(scan.evaluations);
  });
});
