import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyticalEstimate, analyticalRun } from '../flow/analytical.ts';
import { runRtl } from '../flow/rtl.ts';
import { designFrom, type FlowReport, runFlow } from '../flow/run.ts';
import { cycleModel } from '../mapping/cycle-model.ts';
import { placeModel } from '../mapping/place.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { runQuantBatch, runQuantBatchAsync } from '../nn/engine.ts';
import type { InjectSpec } from '../nn/inject.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { flipTable } from '../sim/array.ts';
import type { ErrorModel } from '../synth/vos-model.ts';
import { runCli } from './helpers/cli.ts';

/**
 * RTL-in-the-loop on LeNet-5 (Fashion-MNIST, first 200 test images) through 16x16 arrays:
 * the exact cell, a uniform approximate cell and a per-column mix. The array's accumulators and
 * predictions must equal the software engine's; per-layer RTL cycles must equal cycleModel; the
 * analytical path must equal the RTL run. Bad inputs exit 2 with one line.
 */
const repo = join(import.meta.dirname, '..');
const model = join(repo, 'models/lenet5-fmnist.onnx');
const tmp = mkdtempSync(join(tmpdir(), 'axtpu-flow-test-'));
process.env.AXTPU_SYNTH_REPORTS = join(tmp, 'reports');
const IMAGES = 200;
const MIX = ['exact_s8', 'roup_p1_r4_s8', 'perf_j0_k2_s8', 'drum_k6_s8'];
const designs: Record<string, Record<string, unknown>> = {
  exact: { rows: 16, cols: 16, cell: 'exact_s8' },
  uniform: { rows: 16, cols: 16, cell: 'drum_k6_s8' },
  mix: { rows: 16, cols: 16, map: { column: Array.from({ length: 16 }, (_, c) => MIX[c % MIX.length]!) } },
};

function expectEqualToEngine(r: FlowReport): void {
  expect(r.images).toBe(IMAGES);
  expect(r.layerMismatches).toBe(0);
  expect(r.predMismatches).toBe(0);
  expect(r.accuracy).toBe(r.engineAccuracy);
  expect(r.layers).toHaveLength(5);
  for (const l of r.layers) {
    expect(l.cycles).toBe(l.modelCycles);
    expect(l.macs).toBeGreaterThan(0);
    // Stall is what the RTL count leaves after streaming, fill and drain: negative would mean the
    // breakdown claims cycles the array never spent.
    expect(l.stallCycles).toBeGreaterThanOrEqual(0);
    expect(l.fillCycles).toBeGreaterThan(0);
    expect(l.drainCycles).toBeGreaterThan(0);
  }
  expect(r.cyclesMatchModel).toBe(true);
  expect(r.analyticalMatchesRtl).toBe(true);
  // Every buffer access the RTL counted equals the mapping layer's count, layer by layer.
  for (const l of r.layers) {
    expect(l.buffers).toEqual(l.modelBuffers);
    expect(l.buffers.ubReads).toBeGreaterThan(0);
    expect(l.buffers.wbufWrites).toBeGreaterThan(0);
  }
  expect(r.buffersMatchModel).toBe(true);
}

describe('flow: LeNet-5 on 16x16 RTL', () => {
  const reports: Record<string, FlowReport> = {};
  beforeAll(async () => {
    // One harness build per design (activity build for every batch), the three built
    // concurrently (separate Verilator processes); energy on the exact one.
    [reports.exact, reports.uniform, reports.mix] = await Promise.all([
      runFlow({ model, design: designs.exact!, limit: IMAGES, batch: 100, activity: 'all', write: true }),
      runFlow({ model, design: designs.uniform!, limit: IMAGES, batch: 100, activity: 'all', noEnergy: true, write: false }),
      runFlow({ model, design: designs.mix!, limit: IMAGES, batch: 200, activity: 'all', noEnergy: true, write: false }),
    ]);
  });

  it('exact cell: predictions and every accumulator equal the software engine; cycles equal cycleModel', () => {
    const r = reports.exact!;
    expectEqualToEngine(r);
    expect(r.accuracy).toBeGreaterThan(0.8);
    // 200 images in batches of 100: conv1 is two GEMMs of M = 100 x 784, K = 25, N = 6.
    const c1 = r.layers[0]!;
    expect(c1.gemms).toBe(2);
    const design = designFrom(designs.exact!);
    expect(c1.modelCycles).toBe(2 * cycleModel(design, 100 * 784, 25, 6).cycles);
  });

  it('uniform approximate cell (drum_k6_s8): array == engine, and the approximation is visible', () => {
    const r = reports.uniform!;
    expectEqualToEngine(r);
    expect(r.layers.every((l) => Object.keys(l.macsByCell).join() === 'drum_k6_s8')).toBe(true);
  });

  it('per-column mix: filter f runs on column f mod 16 and the engine uses the same filter-level assignment', () => {
    const r = reports.mix!;
    expectEqualToEngine(r);
    // conv1 has 6 filters on columns 0..5: cells 0,1,2,3,0,1 of the mix.
    const c1 = r.layers[0]!;
    expect(Object.keys(c1.macsByCell).sort()).toEqual([...MIX].sort());
    expect(c1.macsByCell.exact_s8).toBe(2 * IMAGES * 784 * 25);
    expect(c1.macsByCell.drum_k6_s8).toBe(1 * IMAGES * 784 * 25);
    // Activity counters: every one of the 16 columns reported; idle columns 6..15 of conv1 see
    // no weight changes at the multiplier.
    expect(c1.activity?.perColumn).toHaveLength(16);
    expect(c1.activity!.perColumn[15]!.b).toBe(0);
    expect(c1.activity!.perColumn[0]!.a).toBeGreaterThan(0);
  });

  it('energy: per-layer components from per-op numbers of the layer streams; analytical path equal', async () => {
    const r = reports.exact!;
    const e = r.energy!;
    // Leakage is every PE every cycle, tiny at 100 MHz in 0.18 um but not zero.
    expect(e.pjPerInference.leakage).toBeGreaterThan(0);
    expect(e.pjPerInference.leakage).toBeLessThan(0.01 * e.pjPerInference.total);
    expect(e.pjPerInference.cell).toBeGreaterThan(0);
    expect(e.pjPerInference.pe).toBeGreaterThan(0);
    // Accumulators: 16 adders and counters per tile against 256 PEs, so present but well below the PEs.
    expect(e.pjPerInference.acc).toBeGreaterThan(0);
    expect(e.pjPerInference.acc).toBeLessThan(0.5 * e.pjPerInference.pe);
    // Streams differ per layer, so the per-op cell energies do too.
    const perOp = Object.values(e.ops.cell).map((x) => x.exact_s8!.dynamic);
    expect(new Set(perOp.map((x) => x.toFixed(6))).size).toBeGreaterThan(1);
    // Recompute the analytical path from scratch (no RTL) with the same per-op numbers.
    const design = designFrom(designs.exact!);
    const { model: q } = await loadQuantModelFor(model, design.signed ? 'signed' : 'unsigned');
    const placement = placeModel(q, design);
    const an = analyticalRun(q, design, placement, IMAGES, 100, e.ops);
    an.forEach((a, i) => {
      const l = r.layers[i]!;
      expect(a.cycles).toBe(l.cycles);
      expect(a.stallCycles).toBe(l.stallCycles);
      expect(a.energy!.totalPj).toBe(l.energy!.totalPj);
    });
    expect(r.reportDir).toBeDefined();
    // Exploration path without any RTL: streams from the software engine's first batch.
    const ds = limitDataset(loadDataset('fmnist', 'test'), IMAGES);
    const est = await analyticalEstimate(q, design, placement, ds, 100);
    est.layers.forEach((a, i) => {
      expect(a.cycles).toBe(r.layers[i]!.cycles);
      expect(a.energy!.totalPj).toBe(r.layers[i]!.energy!.totalPj);
    });
  });

  it('voltage domains: a column at a lower level scales its dynamic energy by V^2 (same per-op numbers)', async () => {
    const r = reports.exact!;
    const e = r.energy!;
    const domains = {
      levels: [
        { name: 'nom', volts: 1.8 },
        { name: 'low', volts: 1.2 },
      ],
      domains: [
        { name: 'left', columns: [0, 1, 2, 3, 4, 5, 6, 7] },
        { name: 'right', columns: [8, 9, 10, 11, 12, 13, 14, 15] },
      ],
    };
    const design = designFrom({ ...designs.exact!, domains });
    const { model: q } = await loadQuantModelFor(model, design.signed ? 'signed' : 'unsigned');
    const placement = placeModel(q, design);
    const nominal = analyticalRun(q, design, placement, IMAGES, 100, e.ops, [0, 0]);
    const low = analyticalRun(q, design, placement, IMAGES, 100, e.ops, [1, 1]);
    const split = analyticalRun(q, design, placement, IMAGES, 100, e.ops, [0, 1]);
    const s = (1.2 / 1.8) ** 2;
    nominal.forEach((n, i) => {
      expect(n.energy!.totalPj).toBeCloseTo(r.layers[i]!.energy!.totalPj, 6);
      expect(low[i]!.energy!.cellPj).toBeCloseTo(n.energy!.cellPj * s, 6);
      expect(low[i]!.energy!.pePj).toBeCloseTo(n.energy!.pePj * s, 6);
      expect(low[i]!.energy!.leakagePj).toBeLessThan(n.energy!.leakagePj);
    });
    // conv1's 6 filters all sit in the left (nominal) domain: its cell energy does not move.
    expect(split[0]!.energy!.cellPj).toBeCloseTo(nominal[0]!.energy!.cellPj, 6);
    expect(split[1]!.energy!.cellPj).toBeLessThan(nominal[1]!.energy!.cellPj);
  });
});

describe('flow: array results feed the next layer (error injection)', () => {
  // Bit flips at the psum outputs (bits 12..17, p = 2e-5 per bit per word) make the array's
  // accumulators differ from the software engine's, so the feed-forward is observable.
  const flip = { nominal: Array.from({ length: 32 }, (_, i) => (i >= 12 && i <= 17 ? 2e-5 : 0)) };
  const N = 200;
  const BATCH = 100;

  it('array-fed predictions are the engine driven with the array accumulators, not the clean engine', async () => {
    const design = designFrom(designs.exact!);
    const { model: q } = await loadQuantModelFor(model, design.signed ? 'signed' : 'unsigned');
    const placement = placeModel(q, design);
    const ds = limitDataset(loadDataset('fmnist', 'test'), N);
    const seen = new Map<string, Int32Array>();
    const r = await runRtl(q, design, placement, ds, {
      batch: BATCH,
      activity: 'off',
      flip: flipTable(design, flip),
      onGemm: (s, layer, acc) => seen.set(`${s}:${layer}`, acc),
    });
    expect(r.injection).toBe(true);
    expect(r.firstMismatchLayer).toBe('/c1/Conv');
    // Corrupted conv1 words are few; everything downstream of them differs far more, because the
    // next layers received the corrupted activations.
    const [c1, c2] = r.layers;
    expect(c1!.mismatches).toBeGreaterThan(0);
    expect(c2!.mismatches).toBeGreaterThan(10 * c1!.mismatches);
    for (const l of r.layers) expect(l.cycles).toBe(l.modelCycles);
    const cfg = { model: q, table: placement.resolved.table, rowOffsets: placement.resolved.rowOffsets };
    let differsFromClean = 0;
    for (let s = 0; s < N; s += BATCH) {
      const px = ds.pixels.subarray(s * 784, (s + BATCH) * 784);
      // The engine's layer loop fed with exactly the accumulators the array produced.
      const replay = await runQuantBatchAsync(q, px, BATCH, async (l) => seen.get(`${s}:${l.name}`)!);
      expect([...replay.pred]).toEqual([...r.pred.subarray(s, s + BATCH)]);
      const clean = runQuantBatch(cfg, px, BATCH);
      expect([...clean.pred]).toEqual([...r.enginePred.subarray(s, s + BATCH)]);
      for (let b = 0; b < BATCH; b++) if (clean.pred[b] !== r.pred[s + b]) differsFromClean++;
    }
    expect(differsFromClean).toBe(r.predMismatches);
    expect(differsFromClean).toBeGreaterThan(0);
  });

  it('fitted timing errors: the array with the drawn errors equals the engine drawing the same, word for word', async () => {
    const design = designFrom(designs.exact!);
    const { model: q } = await loadQuantModelFor(model, 'signed');
    const placement = placeModel(q, design);
    const ds = limitDataset(loadDataset('fmnist', 'test'), N);
    // Three model kinds, large errors, so a few hundred wrong PE operations change predictions.
    const models: ErrorModel[] = [
      {
        kind: 'rate-histogram',
        pWrong: 4e-4,
        histogram: [
          { error: -70000, count: 1 },
          { error: 9000, count: 2 },
        ],
      },
      { kind: 'bit-flip', p: Array.from({ length: 32 }, (_, i) => (i >= 14 && i <= 18 ? 1e-4 : 0)) },
      {
        kind: 'adder-signs',
        classes: Array.from({ length: 8 }, (_, c) => ({ ops: 10_000, wrong: c === 2 ? 20 : 2, masks: [{ mask: 0xc0000000, count: 1 }] })),
        pairs: Array.from({ length: 72 }, () => ({ ops: 1000, wrong: 1 })),
      },
    ];
    const inject: InjectSpec = {
      seed: 7,
      bits: design.psumBits,
      models,
      layers: Object.fromEntries(
        placement.layers.map((p) => [p.layer, { rows: 16, filterModel: Array.from({ length: 120 }, (_, n) => (n % 4 === 3 ? -1 : n % 4)) }]),
      ),
    };
    const r = await runRtl(q, design, placement, ds, { batch: BATCH, activity: 'off', inject });
    expect(r.injection).toBe(true);
    for (const l of r.layers) {
      expect(l.injected!.wrongOps).toBeGreaterThan(0);
      expect(l.mismatches).toBe(0);
    }
    expect(r.predMismatches).toBe(0);
    // The same draws in the plain engine (batches keyed by their first image), and the clean engine.
    const cfg = { model: q, table: placement.resolved.table, rowOffsets: placement.resolved.rowOffsets };
    let differsFromClean = 0;
    for (let s = 0; s < N; s += BATCH) {
      const px = ds.pixels.subarray(s * 784, (s + BATCH) * 784);
      expect([...runQuantBatch({ ...cfg, inject }, px, BATCH, undefined, s).pred]).toEqual([...r.pred.subarray(s, s + BATCH)]);
      const clean = runQuantBatch(cfg, px, BATCH);
      for (let b = 0; b < BATCH; b++) if (clean.pred[b] !== r.pred[s + b]) differsFromClean++;
    }
    expect(differsFromClean).toBeGreaterThan(0);
  });

  it('axtpu run --flip reports the differences and the first differing layer, and exits 0', async () => {
    const r = await runCli(
      [
        'run',
        '--model',
        model,
        '--rows',
        '16',
        '--cols',
        '16',
        '--cell',
        'exact_s8',
        '--limit',
        '100',
        '--no-energy',
        '--activity',
        'off',
        '--flip',
        JSON.stringify(flip),
        '--json',
      ],
      { AXTPU_SYNTH_REPORTS: join(tmp, 'inject') },
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as FlowReport;
    expect(j.injection).toBe(true);
    expect(j.layerMismatches).toBeGreaterThan(0);
    expect(j.firstMismatchLayer).toBe('/c1/Conv');
  });
});

describe('flow: bad input exits 2 with one line', () => {
  const bad = async (args: string[], pattern: RegExp) => {
    const r = await runCli(['run', '--model', model, '--limit', '10', ...args], { AXTPU_SYNTH_REPORTS: join(tmp, 'bad') });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
  };
  it('design cannot hold the requested assignment', async () => {
    const path = join(tmp, 'assign.json');
    writeFileSync(path, JSON.stringify({ default: 'exact_s8', layers: { '/c1/Conv': 'drum_k6_s8' } }));
    await bad(
      ['--rows', '16', '--cols', '16', '--cell', 'exact_s8', '--assign', path],
      /cannot hold the assignment: layer '\/c1\/Conv' filter 0 needs cell drum_k6_s8/,
    );
  });
  it('psum too narrow for a layer', async () => {
    await bad(['--rows', '16', '--cols', '16', '--cell', 'exact_s8', '--psum-bits', '16'], /cannot hold layer .* exceeds the 16-bit psum/);
  });
  it('row map: filters cannot be placed on columns', async () => {
    await bad(['--rows', '4', '--cols', '4', '--map', '{"row":["exact_s8","exact_s8","drum_k6_s8","exact_s8"]}'], /mixes cells across rows/);
  });
  it('model / design signedness mismatch', async () => {
    const { model: q, source } = await loadQuantModelFor(model, designFrom(designs.exact!).signed ? 'signed' : 'unsigned');
    expect(q.scheme).toBe('signed');
    await bad(['--model', source, '--rows', '16', '--cols', '16', '--cell', 'exact_u8'], /quantized for signed cells but design .* has unsigned cells/);
  });
});
