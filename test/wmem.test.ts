import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.ts';
import { modelsDir } from '../core/paths.ts';
import { ENERGY_PARTS, type EnergyPart, objectiveEnergy, scaleWeightMemory } from '../flow/energy.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { runQuantBatch } from '../nn/engine.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import { applyWeightFaults, bitErrorRate, faultDraw, faultKey, loadWmemModel, parseWmemVolts, wmemEnergyScale } from '../nn/wmem.ts';

/**
 * The approximate weight memory's fault draw (nn/wmem.ts, docs/wmem.md) on the shipped LeNet-5,
 * both quantization schemes: deterministic per seed, monotone in the supply (a bit faulty at V is
 * faulty below V), protected MSBs never flip, the flip rate matches the model's BER, the flips are
 * of the stored 8-bit code, weightSum stays the true weights', and bad inputs are one-line errors.
 */
const lenet = join(modelsDir, 'lenet5-fmnist.onnx');
const wm = loadWmemModel();
const NOM = 1.8;
const opts = (seed: number, protectMsbs: number) => ({ seed, protectMsbs, model: wm, nominal: NOM });
const all = (m: QuantModel, v: number) => Object.fromEntries(convLayers(m).map((l) => [l.name, v]));
/** Per layer, per weight: XOR of the stored codes of two models. */
const masks = (a: QuantModel, b: QuantModel) =>
  convLayers(a).map((l, j) => Array.from(l.weights, (w, i) => (w & 0xff) ^ (convLayers(b)[j]!.weights[i]! & 0xff)));

describe('weight-memory faults', () => {
  it('bit-error model: anchors hit, log-linear between them, monotone, range enforced', () => {
    for (const a of wm.anchors) expect(bitErrorRate(wm, a.ratio * NOM, NOM)).toBeCloseTo(a.ber, 12);
    const [a0, a1] = [wm.anchors[1]!, wm.anchors[2]!];
    const mid = (a0.ratio + a1.ratio) / 2;
    expect(bitErrorRate(wm, mid * NOM, NOM)).toBeCloseTo(Math.sqrt(a0.ber * a1.ber), 12);
    let prev = 0;
    for (let v = NOM; v >= wm.minRatio * NOM; v -= 0.01) {
      const b = bitErrorRate(wm, v, NOM);
      expect(b).toBeGreaterThanOrEqual(prev);
      prev = b;
    }
    expect(() => bitErrorRate(wm, wm.minRatio * NOM - 0.01, NOM)).toThrow(/below the range/);
  });

  it('the draw is uniform: on 10^6 stored bits the flip share is the BER', () => {
    const key = faultKey(3, '/x');
    for (const ber of [1e-3, 2e-2]) {
      let n = 0;
      for (let i = 0; i < 125_000; i++) for (let b = 0; b < 8; b++) if (faultDraw(key, i, b) < ber) n++;
      const expected = ber * 1e6;
      expect(Math.abs(n - expected)).toBeLessThan(5 * Math.sqrt(expected));
    }
  });

  for (const scheme of ['signed', 'unsigned'] as const)
    it(`${scheme}: deterministic, monotone in V, protected MSBs never flip, weightSum kept`, async () => {
      const { model } = await loadQuantModelFor(lenet, scheme);
      const before = convLayers(model).map((l) => Int16Array.from(l.weights));
      const v1 = 1.2;
      const v2 = 1.0;
      const a = applyWeightFaults(model, all(model, v1), opts(1, 0));
      const again = applyWeightFaults(model, all(model, v1), opts(1, 0));
      const other = applyWeightFaults(model, all(model, v1), opts(2, 0));
      const low = applyWeightFaults(model, all(model, v2), opts(1, 0));
      // The input is untouched.
      for (const [j, l] of convLayers(model).entries()) expect(Array.from(l.weights)).toEqual(Array.from(before[j]!));
      const mA = masks(model, a.model);
      expect(masks(model, again.model)).toEqual(mA);
      expect(a.layers).toEqual(again.layers);
      expect(masks(model, other.model)).not.toEqual(mA);
      const mLow = masks(model, low.model);
      let flipsA = 0;
      let flipsLow = 0;
      let bits = 0;
      for (const [j, l] of convLayers(model).entries()) {
        const fl = convLayers(a.model)[j]!;
        // Flips are of the stored code; values stay in the scheme's code range.
        let notMonotone = 0;
        let outOfRange = 0;
        for (let i = 0; i < l.weights.length; i++) {
          if (mA[j]![i]! & ~mLow[j]![i]!) notMonotone++; // faulty at 1.2 V must be faulty at 1.0 V
          const w = fl.weights[i]!;
          if (scheme === 'signed' ? w < -128 || w > 127 : w < 0 || w > 255) outOfRange++;
          for (let x = mA[j]![i]!; x; x &= x - 1) flipsA++;
          for (let x = mLow[j]![i]!; x; x &= x - 1) flipsLow++;
        }
        expect(notMonotone, l.name).toBe(0);
        expect(outOfRange, l.name).toBe(0);
        bits += 8 * l.weights.length;
        expect(fl.weightSum).toBe(l.weightSum); // the host's offline correction term: true weights
        expect(a.layers[j]!.flippedBits).toBe(mA[j]!.reduce((s, m) => s + [...m.toString(2)].filter((c) => c === '1').length, 0));
        expect(a.layers[j]!.faultyWeights).toBe(mA[j]!.filter((m) => m !== 0).length);
      }
      expect(flipsLow).toBeGreaterThan(flipsA);
      // The rate over the whole model is the model's BER (5 sigma).
      for (const [v, n] of [
        [v1, flipsA],
        [v2, flipsLow],
      ] as const) {
        const e = bitErrorRate(wm, v, NOM) * bits;
        expect(Math.abs(n - e)).toBeLessThan(5 * Math.sqrt(e) + 1);
      }
      // Protected MSBs: never flipped, even at the bottom of the range; the rest still is.
      for (const k of [2, 4]) {
        const p = applyWeightFaults(model, all(model, wm.minRatio * NOM), opts(1, k));
        const m = masks(model, p.model).flat();
        expect(m.some((x) => x !== 0)).toBe(true);
        expect(m.every((x) => (x & ~(0xff >> k)) === 0)).toBe(true);
      }
      const eight = applyWeightFaults(model, all(model, wm.minRatio * NOM), opts(1, 8));
      expect(eight.layers.every((l) => l.flippedBits === 0)).toBe(true);
    });

  it('layers absent or at nominal are the same objects; faults cost accuracy at the bottom of the range', async () => {
    const { model } = await loadQuantModelFor(lenet, 'signed');
    const [c1, c2] = convLayers(model);
    const r = applyWeightFaults(model, { [c2!.name]: NOM }, opts(1, 0));
    expect(convLayers(r.model)[0]).toBe(c1);
    expect(convLayers(r.model)[1]).toBe(c2);
    expect(r.layers).toEqual([{ layer: c2!.name, volts: NOM, flippedBits: 0, faultyWeights: 0 }]);
    const ds = limitDataset(loadDataset('fmnist', 'test'), 200);
    const acc = (m: QuantModel) => {
      const p = runQuantBatch({ model: m }, ds.pixels, ds.count).pred;
      return p.filter((y, i) => y === ds.labels[i]).length;
    };
    expect(acc(applyWeightFaults(model, all(model, wm.minRatio * NOM), opts(1, 0)).model)).toBeLessThan(acc(model) - 20);
  });

  it('energy factor: protected columns at nominal, 6T columns (V/Vnom)^2, on weight-FIFO reads and writes only', () => {
    expect(wmemEnergyScale(0.9, 1.8, 0)).toBeCloseTo(0.25, 12);
    expect(wmemEnergyScale(0.9, 1.8, 8)).toBeCloseTo(1, 12);
    expect(wmemEnergyScale(0.9, 1.8, 2)).toBeCloseTo(2 / 8 + (6 / 8) * 0.25, 12);
    expect(wmemEnergyScale(1.8, 1.8, 3)).toBeCloseTo(1, 12);
    const parts = Object.fromEntries(ENERGY_PARTS.map((p, i) => [p.key, 10 + i])) as Record<EnergyPart, number>;
    const e = { layer: '/c1/Conv', ...parts, totalPj: objectiveEnergy(parts, 'accelerator') };
    const s = scaleWeightMemory(e, 0.25);
    for (const p of ENERGY_PARTS) expect(s[p.key], p.key).toBe(p.key === 'wbufReadPj' || p.key === 'wbufWritePj' ? e[p.key] * 0.25 : e[p.key]);
    expect(s.totalPj).toBeCloseTo(e.totalPj - 0.75 * (e.wbufReadPj + e.wbufWritePj), 9);
  });

  it('bad inputs are one-line UserErrors', async () => {
    const { model } = await loadQuantModelFor(lenet, 'signed');
    const bad = (f: () => unknown, re: RegExp) => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    };
    bad(() => applyWeightFaults(model, all(model, 0.5), opts(1, 0)), /below the range of weight-memory model/);
    bad(() => applyWeightFaults(model, all(model, 1.9), opts(1, 0)), /above the weight memory's nominal/);
    bad(() => applyWeightFaults(model, { '/c9/Conv': 1.2 }, opts(1, 0)), /not a conv\/dense layer/);
    bad(() => applyWeightFaults(model, all(model, 1.2), opts(1, 9)), /--protect-msbs must be an integer in 0\.\.8/);
    bad(() => parseWmemVolts('{"/c1/Conv": "x"}'), /--wmem-volts/);
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-wmem-'));
    const f = join(dir, 'm.json');
    writeFileSync(f, JSON.stringify({ ...wm, anchors: [...wm.anchors].reverse() }));
    bad(() => loadWmemModel(f), /--wmem-model .*anchors/);
  });
});
