import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelsDir } from '../core/paths.ts';
import { designFrom, runFlow } from '../flow/run.ts';
import { foldPlan } from '../mapping/gemm.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { engineGemm, runQuantBatch, runQuantBatchAsync } from '../nn/engine.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import { applyWeightFaults, loadWmemModel, wmemEnergyScale } from '../nn/wmem.ts';

/**
 * Approximate weight memory in the RTL (docs/wmem.md): LeNet-5 on the 16x16 exact_s8 array the
 * flow tests build (one cached harness), 8 images, the weight memory at 1.1 V (of 1.8 V). DRAM
 * holds the true weights; the harness XORs the drawn faults onto the weight FIFO's read data. Every
 * layer's accumulators must equal the engine's running the faulty model (nn/wmem.ts) word for
 * word, and those differ from the clean model's. conv1's 4,608 output rows exceed the 4,096
 * accumulator rows, so its weights are fetched twice (two M-blocks) with the same faults.
 */
const lenet = join(modelsDir, 'lenet5-fmnist.onnx');
process.env.AXTPU_SYNTH_REPORTS = join(mkdtempSync(join(tmpdir(), 'axtpu-wmem-rtl-')), 'reports');
const DESIGN = { rows: 16, cols: 16, cell: 'exact_s8' };
const IMAGES = 8;
const VOLTS = 1.1;

describe('weight-memory faults in the RTL', () => {
  it('LeNet-5, 16x16, weight memory at 1.1 V: array == faulty engine word for word, != clean engine', async () => {
    const seen = new Map<string, Int32Array>();
    const r = await runFlow({
      model: lenet,
      design: DESIGN,
      wmem: { volts: VOLTS, protectMsbs: 2, seed: 5 },
      limit: IMAGES,
      batch: IMAGES,
      activity: 'all', // the activity build test/flow.test.ts builds for this design (one cached harness)
      harnesses: 1,
      noEnergy: true,
      write: false,
      onGemm: (_s, layer, acc) => seen.set(layer, Int32Array.from(acc)),
    });
    expect(r.layerMismatches).toBe(0);
    expect(r.predMismatches).toBe(0);
    expect(r.cyclesMatchModel).toBe(true);
    expect(r.analyticalMatchesRtl).toBe(true);
    // The faults the run drew are the engine's (same seed, nominal = the design's 1.8 V).
    const { model } = await loadQuantModelFor(lenet, 'signed');
    const volts = Object.fromEntries(convLayers(model).map((l) => [l.name, VOLTS]));
    const faulty = applyWeightFaults(model, volts, { seed: 5, protectMsbs: 2, model: loadWmemModel(), nominal: 1.8 });
    expect(r.wmem?.layers.map(({ energyScale: _, ...l }) => l)).toEqual(faulty.layers);
    for (const l of faulty.layers) expect(l.flippedBits).toBeGreaterThan(0);
    // conv1 runs in two M-blocks (weights re-fetched).
    const c1 = convLayers(model)[0]!;
    expect(foldPlan(designFrom(DESIGN), 0, IMAGES * 24 * 24, c1.K, c1.oc).mBlocks).toBeGreaterThan(1);
    // Accuracy path: the array's accumulators are the faulty engine's and differ from the clean
    // engine's in every layer; the reported engine accuracy is the faulty model's.
    const ds = limitDataset(loadDataset('fmnist', 'test'), IMAGES);
    const bad = runQuantBatch({ model: faulty.model }, ds.pixels, ds.count);
    let correct = 0;
    for (let i = 0; i < IMAGES; i++) if (bad.pred[i] === ds.labels[i]) correct++;
    expect(r.engineAccuracy).toBe(correct / IMAGES);
    const [cleanAcc, faultyAcc] = [await engineAccs(model, ds), await engineAccs(faulty.model, ds)];
    for (const l of convLayers(model)) {
      expect(Array.from(seen.get(l.name)!), l.name).toEqual(Array.from(faultyAcc.get(l.name)!));
      expect(Array.from(seen.get(l.name)!), l.name).not.toEqual(Array.from(cleanAcc.get(l.name)!));
    }
    // Energy: the weight FIFO's read/write parts scaled by the documented factor.
    const k = wmemEnergyScale(VOLTS, 1.8, 2);
    for (const l of r.wmem!.layers) expect(l.energyScale).toBeCloseTo(k, 12);
  });
});

/** Every layer's accumulators of the engine on a model (same layer loop as the run). */
async function engineAccs(model: QuantModel, ds: { pixels: Uint8Array; count: number }): Promise<Map<string, Int32Array>> {
  const out = new Map<string, Int32Array>();
  await runQuantBatchAsync(model, ds.pixels, ds.count, async (l, g) => {
    const acc = engineGemm({ model }, l, g);
    out.set(l.name, Int32Array.from(acc));
    return acc;
  });
  return out;
}
