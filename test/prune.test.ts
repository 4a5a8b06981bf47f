import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.ts';
import { modelsDir } from '../core/paths.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { runQuantBatch } from '../nn/engine.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { parsePruneSpec, pruneModel } from '../nn/prune.ts';
import { convLayers, type QConvLayer } from '../nn/qmodel.ts';

/**
 * Magnitude pruning of the int8 model (nn/prune.ts, docs/prune.md) on the shipped LeNet-5, both
 * quantization schemes: the right count of weights becomes the real zero (code = weight zero
 * point), exactly the smallest real magnitudes, ties by position; the zero-point correction
 * term follows the new weights; the input model is untouched.
 */
const lenet = join(modelsDir, 'lenet5-fmnist.onnx');
const realMag = (l: QConvLayer, i: number) => Math.abs(l.weights[i]! - l.weightZero) * l.weightScale[Math.floor(i / l.K)]!;

describe('pruning', () => {
  for (const scheme of ['signed', 'unsigned'] as const)
    it(`${scheme}: zeroes the smallest real magnitudes of the named layer only, to the zero point`, async () => {
      const { model } = await loadQuantModelFor(lenet, scheme);
      const before = convLayers(model).map((l) => Int16Array.from(l.weights));
      const { model: p, layers: rep } = pruneModel(model, { '/c2/Conv': 0.5 });
      // The input model is not modified; other layers are the same objects.
      for (const [j, l] of convLayers(model).entries()) expect(Array.from(l.weights)).toEqual(Array.from(before[j]!));
      const [c1, c2, f1] = convLayers(p);
      expect(c1).toBe(convLayers(model)[0]);
      expect(f1).toBe(convLayers(model)[2]);
      const o = convLayers(model)[1]!;
      expect(c2!.weightZero).toBe(scheme === 'signed' ? 0 : 128);
      const n = o.oc * o.K;
      const zeroed: number[] = [];
      const kept: number[] = [];
      for (let i = 0; i < n; i++) {
        if (c2!.weights[i] !== o.weights[i]) {
          expect(c2!.weights[i]).toBe(c2!.weightZero);
          zeroed.push(i);
        } else if (c2!.weights[i] !== c2!.weightZero) kept.push(i);
      }
      const zeros = c2!.weights.filter((w) => w === c2!.weightZero).length;
      expect(zeros).toBe(Math.round(0.5 * n));
      expect(rep.find((r) => r.layer === '/c2/Conv')).toEqual({ layer: '/c2/Conv', target: 0.5, sparsity: zeros / n });
      expect(zeroed.length).toBeGreaterThan(n / 4);
      // Every weight pruned has a real magnitude <= every weight kept.
      const maxZeroed = Math.max(...zeroed.map((i) => realMag(o, i)));
      const minKept = Math.min(...kept.map((i) => realMag(o, i)));
      expect(maxZeroed).toBeLessThanOrEqual(minKept);
      // The zero-point correction term is the sum of the new weight values.
      for (let f = 0; f < c2!.oc; f++) {
        let s = 0;
        for (let k = 0; k < c2!.K; k++) s += c2!.weights[f * c2!.K + k]!;
        expect(c2!.weightSum[f]).toBe(s);
      }
      // Ties at the threshold go to the lowest positions: a tied weight kept sits after every tied weight pruned.
      const tiedKept = kept.filter((i) => realMag(o, i) === maxZeroed);
      const tiedZeroed = zeroed.filter((i) => realMag(o, i) === maxZeroed);
      if (tiedKept.length) expect(Math.max(...tiedZeroed)).toBeLessThan(Math.min(...tiedKept));
    });

  it('one number prunes every layer; the engine runs the pruned model (accuracy falls with sparsity)', async () => {
    const { model } = await loadQuantModelFor(lenet, 'signed');
    const ds = limitDataset(loadDataset('fmnist', 'test'), 100);
    const acc = (m: typeof model) => {
      const { pred } = runQuantBatch({ model: m }, ds.pixels, ds.count);
      let c = 0;
      for (let i = 0; i < ds.count; i++) if (pred[i] === ds.labels[i]) c++;
      return c / ds.count;
    };
    const p = pruneModel(model, 0.9);
    for (const r of p.layers) expect(r.sparsity).toBeGreaterThanOrEqual(0.9 - 1e-3);
    const a0 = acc(model);
    const a9 = acc(p.model);
    expect(a0).toBeGreaterThan(0.8);
    expect(a9).toBeLessThan(a0);
  });

  it('bad specs: one clear error each', async () => {
    const { model } = await loadQuantModelFor(lenet, 'signed');
    expect(parsePruneSpec('0.25')).toBe(0.25);
    expect(parsePruneSpec('{"/c2/Conv": 0.5}')).toEqual({ '/c2/Conv': 0.5 });
    expect(() => parsePruneSpec('1')).toThrow(/--prune: invalid: sparsity must be < 1/);
    expect(() => parsePruneSpec('-0.1')).toThrow(/sparsity must be >= 0/);
    expect(() => parsePruneSpec('{"/c2/Conv": 2}')).toThrow(/--prune: invalid \/c2\/Conv: sparsity must be < 1/);
    expect(() => parsePruneSpec('{"/c2/Conv": "half"}')).toThrow(UserError);
    expect(() => pruneModel(model, { '/c9/Conv': 0.5 })).toThrow(/--prune names layer '\/c9\/Conv' which is not a conv\/dense layer/);
  });
});
