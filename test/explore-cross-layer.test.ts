import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { knobWeights } from '../explore/cross-layer.ts';
import { explore } from '../explore/run.ts';
import { planUnits, toAssignment } from '../mapping/units.ts';
import { resolveAssignment, uniformAssignment } from '../nn/assign.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { runDataset } from '../nn/parallel.ts';
import { loadWmemModel } from '../nn/wmem.ts';

const LENET = 'models/lenet5-fmnist.onnx';
const accuracy = (pred: Uint8Array, labels: Uint8Array) => pred.reduce((s, p, i) => s + (p === labels[i] ? 1 : 0), 0) / pred.length;

describe('explore --knobs cells,prune,wmem,width (LeNet-5 and its 0.5x variant, 200 images)', () => {
  const out = mkdtempSync(join(tmpdir(), 'axtpu-cross-layer-'));
  const opts = {
    model: LENET,
    cells: 'exact_u8',
    knobs: ['cells', 'prune', 'wmem', 'width'] as ('cells' | 'prune' | 'wmem' | 'width')[],
    widths: [0.5],
    sparsities: [0.5],
    wmemLevels: [1.3],
    protectMsbs: 1,
    wmemSeed: 5,
    budget: 0.04,
    granularity: 'layer' as const,
    search: 'xai-greedy' as const,
    rows: 16,
    cols: 16,
    valImages: 200,
    testImages: 200,
    calibImages: 16,
    frontTestMax: 1,
    out,
    quiet: true,
  };

  it("judges the narrow variant against the full-width exact design, with the engine's pruned and faulty weights", async () => {
    const r = await explore(opts);
    expect(r.groups.map((g) => g.width)).toEqual([1, 0.5]);
    const [full, half] = r.groups as [(typeof r.groups)[0], (typeof r.groups)[0]];
    expect(half.reference?.testAccuracy).toBe(full.baseline.testAccuracy);
    // The run's winner is the least-energy feasible group winner.
    const feasible = r.groups.filter((g) => g.winner.feasible);
    expect(r.groups[r.winnerGroup]!.winner.energyPj).toBe(Math.min(...feasible.map((g) => g.winner.energyPj)));

    // Re-measure the narrow group's winner outside the search: its variant, quantized as the
    // search did, its genes' pruning and weight-memory faults, the test images, the plain engine.
    const test = limitDataset(loadDataset('fmnist', 'test'), 200);
    const wmem = { model: loadWmemModel(), seed: 5, protectMsbs: 1, nominal: 1.8 };
    const run = async (path: string, genes?: string[]) => {
      const { model } = await loadQuantModelFor(path, 'unsigned', { dataset: 'fmnist' });
      const a = genes ? toAssignment(planUnits(model, 'layer', 16, 16), genes, 'exact_u8') : uniformAssignment('exact_u8');
      const q = knobWeights(model, wmem)(a);
      const t = resolveAssignment(q, a);
      return accuracy((await runDataset({ model: q, table: t.table, rowOffsets: t.rowOffsets }, test)).pred, test.labels);
    };
    const w = half.winner;
    // (The point re-measured carries the knobs: a pruned or faulty layer, not only exact ones.)
    expect(w.cells.some((c) => c.includes('/'))).toBe(true);
    const got = await run(half.model, w.cells);
    expect(got).toBe(w.testAccuracy);
    // Its loss is against the FULL-width exact design (paired on the same images: the accuracy difference).
    expect(w.testLoss).toBeCloseTo((await run(LENET)) - got, 12);
    expect(half.model).toMatch(/lenet5-fmnist-w0\.5\.onnx$/);

    // Resume: the journal answers every evaluation, the result is the same.
    const again = await explore(opts);
    expect(again.journal.fresh).toBe(0);
    expect(again.groups.map((g) => g.winner.cells)).toEqual(r.groups.map((g) => g.winner.cells));
  }, 120_000);
});
