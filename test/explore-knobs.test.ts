import { describe, expect, it } from 'vitest';
import { addCrossLayerTwins, knobWeights, type PrunedEnergy, sparsityLevels } from '../explore/cross-layer.ts';
import { energyOf, type ObjectiveModel, objectivePartsOf, objectiveUnitEnergies } from '../explore/objective.ts';
import { ENERGY_PARTS, type EnergyPart } from '../flow/energy.ts';
import { geneName, parseGene, planUnits, toAssignment } from '../mapping/units.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { pruneModel } from '../nn/prune.ts';
import { convLayers } from '../nn/qmodel.ts';
import { applyWeightFaults, loadWmemModel, wmemEnergyScale } from '../nn/wmem.ts';
import { fakeModel } from './helpers/fake-model.ts';

describe('cross-layer genes (prune, weight memory)', () => {
  it('spell cell, sparsity and memory supply, and map to per-layer assignment fields', () => {
    expect(parseGene('roup_p2_r4_s8/p0.5/m1.3')).toEqual({ cell: 'roup_p2_r4_s8', cv: false, sparsity: 0.5, wmem: 1.3 });
    expect(geneName({ cell: 'exact_s8', cv: false, sparsity: 0.25 })).toBe('exact_s8/p0.25');
    expect(parseGene(geneName({ cell: 'exact_s8', cv: false, wmem: 1.4 }))).toEqual({ cell: 'exact_s8', cv: false, wmem: 1.4 });
    // Ten layers on eight tiles: a unit's knob reaches every layer of its tile.
    const p = planUnits(fakeModel([4, 4, 4, 4, 4, 4, 4, 4, 4, 4]), 'layer', 4, 4);
    const genes = p.units.map((_, i) => (i === 0 ? 'drum_k6_u8/p0.5/m1.3' : i === 1 ? 'exact_u8/m1.5' : 'exact_u8'));
    const a = toAssignment(p, genes, 'exact_u8');
    expect(a.layers.L0).toBe('drum_k6_u8');
    expect(a.prune).toEqual({ L0: 0.5, L8: 0.5 });
    expect(a.wmem).toEqual({ L0: 1.3, L8: 1.3, L1: 1.5, L9: 1.5 });
    expect(() => sparsityLevels([0.5, 1])).toThrow(/outside \[0, 1\)/);
    expect(sparsityLevels([0.75, 0, 0.25, 0.75])).toEqual([0.25, 0.75]);
  });

  it("the engine's weights: pruned, then read from weight memory with the same faults as nn/wmem.ts", async () => {
    const { model } = await loadQuantModelFor('models/lenet5-fmnist.onnx', 'signed');
    const wmem = { seed: 3, protectMsbs: 2, model: loadWmemModel(), nominal: 1.8 };
    const of = knobWeights(model, wmem);
    const a = { layers: {}, prune: { '/c2/Conv': 0.5 }, wmem: { '/c2/Conv': 1.2, '/f1/Gemm': 1.3 } };
    const got = of(a);
    const want = applyWeightFaults(pruneModel(model, a.prune).model, a.wmem, wmem).model;
    const flips = applyWeightFaults(pruneModel(model, a.prune).model, a.wmem, wmem).layers;
    expect(flips.find((l) => l.layer === '/c2/Conv')!.flippedBits).toBeGreaterThan(0);
    for (const [i, l] of convLayers(got).entries()) {
      const w = convLayers(want)[i]!;
      expect(Buffer.from(l.weights.buffer).equals(Buffer.from(w.weights.buffer))).toBe(true);
      // The correction term is the pruned model's (faults are read errors; the host computed it offline).
      expect(Array.from(l.weightSum)).toEqual(Array.from(w.weightSum));
    }
    // Untouched layers are the model's own objects; a repeated assignment reuses the memoized layers.
    expect(convLayers(got)[0]).toBe(convLayers(model)[0]);
    expect(convLayers(of(a))[1]).toBe(convLayers(got)[1]);
    expect(of({ layers: {} })).toBe(model);
  });

  it('price a twin: pruned cells and PE from the pruned streams, weight-memory reads and writes scaled', () => {
    const p = planUnits(fakeModel([4, 4]), 'layer', 4, 4);
    const zero = Object.fromEntries(ENERGY_PARTS.map((x) => [x.key, 0])) as Record<EnergyPart, number>;
    const om: ObjectiveModel = {
      exactParts: { ...zero, cellPj: 2 * 144 * 10, pePj: 500, wbufReadPj: 60, wbufWritePj: 40 },
      unitLeakage: [{ exact_u8: 3 }, { exact_u8: 3 }],
      exactCellLeakage: 6,
      layerPePj: { L0: 200, L1: 300 },
      layerWbufPj: { L0: 30, L1: 70 },
      fixed: { multiplier: 0, array: 500, accelerator: 600 },
      memory: { nodeNm: 180, volts: 1.8, extrapolated: true, model: 'test' },
      images: 1,
      batch: 1,
    };
    const multUnitE: Record<string, number>[] = p.units.map((u) => ({ exact_u8: Object.values(u.macs)[0]! * 10 }));
    const pruned: PrunedEnergy[] = [{ sparsity: 0.5, perOp: { L0: { exact_u8: 4 }, L1: { exact_u8: 6 } }, layerPePj: { L0: 150, L1: 280 } }];
    const scale = (v: number) => wmemEnergyScale(v, 1.8, 2);
    const twins = addCrossLayerTwins(p, ['exact_u8'], { pruned, wmemLevels: [1.2], wmemScale: scale }, multUnitE, om);
    expect(twins.sort()).toEqual(['exact_u8/m1.2', 'exact_u8/p0.5', 'exact_u8/p0.5/m1.2']);
    const macs = 144; // 4 x 4 x 9 per layer
    expect(multUnitE[0]!['exact_u8/p0.5']).toBe(macs * 4);
    expect(om.unitPeDelta![1]!['exact_u8/p0.5']).toBe(280 - 300);
    expect(om.unitMemDelta![1]!['exact_u8/m1.2']).toBeCloseTo(70 * (scale(1.2) - 1), 12);
    expect(om.unitMemDelta![0]!['exact_u8/p0.5']).toBe(0);
    const tables = objectiveUnitEnergies(multUnitE, om);
    const genes = ['exact_u8/p0.5/m1.2', 'exact_u8/m1.2'];
    // Memory counts for the accelerator objective only.
    expect(energyOf(tables, om, 'array', genes)).toBeCloseTo(macs * 4 + macs * 10 + 6 + 500 + (150 - 200), 9);
    expect(energyOf(tables, om, 'accelerator', genes)).toBeCloseTo(
      energyOf(tables, om, 'accelerator', ['exact_u8/p0.5', 'exact_u8']) + 100 * (scale(1.2) - 1),
      9,
    );
    // The parts of a design sum to its accelerator energy, the weight-memory change split by reads and writes.
    const parts = objectivePartsOf(om, multUnitE, genes);
    expect(parts.wbufReadPj / parts.wbufWritePj).toBeCloseTo(60 / 40, 12);
    expect(parts.wbufReadPj + parts.wbufWritePj).toBeCloseTo(100 + 100 * (scale(1.2) - 1), 9);
  });
});
