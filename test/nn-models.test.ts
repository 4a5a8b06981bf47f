import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveAssignment, uniformAssignment } from '../nn/assign.ts';
import { type Dataset, limitDataset, loadDataset } from '../nn/dataset.ts';
import { runQuantBatch } from '../nn/engine.ts';
import { argmaxRows, pixelsToFloat, runFloat } from '../nn/float.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { importOnnx } from '../nn/onnx.ts';
import { ortPredict } from '../nn/ort.ts';
import { runDataset } from '../nn/parallel.ts';
import type { Scheme } from '../nn/qmodel.ts';

/**
 * The shipped models on Fashion-MNIST test subsets (full 10k numbers: bench/nn.ts, docs/nn.md):
 * our ONNX import agrees with onnxruntime, and int8 with the exact cell stays within 0.5 pp of float.
 */
const repo = join(import.meta.dirname, '..');
const test = loadDataset('fmnist', 'test');

const acc = (pred: Uint8Array, ds: Dataset) => {
  let c = 0;
  for (let i = 0; i < ds.count; i++) if (pred[i] === ds.labels[i]) c++;
  return c / ds.count;
};

async function int8Accuracy(name: string, scheme: Scheme, ds: Dataset): Promise<number> {
  const path = join(repo, 'models', `${name}.onnx`);
  const q = (await loadQuantModelFor(path, scheme)).model;
  const r = resolveAssignment(q, uniformAssignment(scheme === 'signed' ? 'exact_s8' : 'exact_u8'));
  const run = await runDataset({ model: q, table: r.table, rowOffsets: r.rowOffsets }, ds, { workers: 2 });
  return acc(run.pred, ds);
}

const CASES = [
  { name: 'lenet5-fmnist', agreeImages: 1000, int8Images: 2000, schemes: ['signed', 'unsigned'] as Scheme[] },
  { name: 'mlp-fmnist', agreeImages: 1000, int8Images: 2000, schemes: ['signed'] as Scheme[] },
  { name: 'resnet8-fmnist', agreeImages: 300, int8Images: 600, schemes: ['signed'] as Scheme[] },
];

describe.each(CASES)('shipped model $name', ({ name, agreeImages, int8Images, schemes }) => {
  const path = join(repo, 'models', `${name}.onnx`);

  it('records its float test accuracy, and onnxruntime reproduces it', async () => {
    const info = JSON.parse(readFileSync(join(repo, 'models', `${name}.json`), 'utf8')) as { floatTestAccuracy: number; testImages: number };
    expect(info.testImages).toBe(10000);
    const f = await ortPredict(path, test);
    expect(Math.abs(acc(f.pred, test) - info.floatTestAccuracy)).toBeLessThan(0.002);
  });

  it('our float path predicts like onnxruntime on >= 99.9 % of images', async () => {
    const ds = limitDataset(test, agreeImages);
    const f = await ortPredict(path, ds);
    const g = importOnnx(path);
    const ours = argmaxRows(runFloat(g, pixelsToFloat(ds.pixels), ds.count), ds.count, 10);
    let agree = 0;
    for (let i = 0; i < ds.count; i++) if (ours[i] === f.pred[i]) agree++;
    expect(agree / ds.count).toBeGreaterThanOrEqual(0.999);
  });

  it.each(schemes)('int8 (%s scheme, exact cell) is within 0.5 pp of float', async (scheme) => {
    const ds = limitDataset(test, int8Images);
    const floatAcc = acc((await ortPredict(path, ds)).pred, ds);
    const int8 = await int8Accuracy(name, scheme, ds);
    expect(Math.abs(int8 - floatAcc)).toBeLessThanOrEqual(0.005);
  });
});

describe('approximate cells on LeNet-5', () => {
  it('are bit-exact across batch sizes and worker counts, and a coarse DRUM costs accuracy', async () => {
    const path = join(repo, 'models', 'lenet5-fmnist.onnx');
    const q = (await loadQuantModelFor(path, 'unsigned')).model;
    const ds = limitDataset(test, 1000);
    const run = async (cell: string, workers: number, batch: number) => {
      const r = resolveAssignment(q, uniformAssignment(cell));
      return runDataset({ model: q, table: r.table, rowOffsets: r.rowOffsets }, ds, { workers, batch });
    };
    const a = await run('drum_k4_u8', 2, 64);
    const b = await run('drum_k4_u8', 1, 37);
    expect([...a.pred]).toEqual([...b.pred]);
    // Scores (not only argmax) are identical between batchings.
    const r = resolveAssignment(q, uniformAssignment('drum_k4_u8'));
    const cfg = { model: q, table: r.table, rowOffsets: r.rowOffsets };
    const s1 = runQuantBatch(cfg, ds.pixels.subarray(0, 10 * 784), 10).scores;
    const s2 = runQuantBatch(cfg, ds.pixels.subarray(0, 3 * 784), 3).scores;
    expect([...s2]).toEqual([...s1.subarray(0, s2.length)]);
    const exact = acc((await run('exact_u8', 2, 64)).pred, ds);
    const coarse = acc((await run('drum_k3_u8', 2, 64)).pred, ds);
    expect(coarse).toBeLessThan(exact);
  });
});
