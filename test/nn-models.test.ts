import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
import { variantPath, widthVariants } from '../nn/variants.ts';

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

/** The accuracy train.py recorded in `<name>.json` is what onnxruntime measures on the file. */
async function checkRecordedAccuracy(name: string): Promise<void> {
  const info = JSON.parse(readFileSync(join(repo, 'models', `${name}.json`), 'utf8')) as { floatTestAccuracy: number; testImages: number };
  expect(info.testImages).toBe(10000);
  const f = await ortPredict(join(repo, 'models', `${name}.onnx`), test);
  expect(Math.abs(acc(f.pred, test) - info.floatTestAccuracy)).toBeLessThan(0.002);
}

describe.each(CASES)('shipped model $name', ({ name, agreeImages, int8Images, schemes }) => {
  const path = join(repo, 'models', `${name}.onnx`);

  it('records its float test accuracy, and onnxruntime reproduces it', () => checkRecordedAccuracy(name));

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

describe('width variants (nn/variants.ts)', () => {
  // Only the recorded accuracy (onnxruntime over the 10,000 test images, 0.4-2 s each at low load);
  // the engine's int8 figures of every variant: models/README.md (`axtpu eval --width`).
  it.each(['lenet5-fmnist-w0.75', 'lenet5-fmnist-w0.5', 'resnet8-fmnist-w0.75', 'resnet8-fmnist-w0.5'])(
    '%s records its float test accuracy, and onnxruntime reproduces it',
    (name) => checkRecordedAccuracy(name),
  );

  const convWidths = (path: string) =>
    importOnnx(path)
      .layers.filter((l) => l.op === 'conv')
      .map((l) => [l.name, (l as { oc: number }).oc] as const);

  it.each(['lenet5-fmnist', 'resnet8-fmnist'])('%s lists 1, 0.75 and 0.5: the same layers, narrower, each with its metadata', (name) => {
    const path = join(repo, 'models', `${name}.onnx`);
    const vs = widthVariants(path);
    expect(vs.map((v) => v.width)).toEqual([1, 0.75, 0.5]);
    expect(vs[0]!.path).toBe(path);
    const full = convWidths(path);
    for (const v of vs.slice(1)) {
      expect(v.path).toBe(join(repo, 'models', `${name}-w${v.width}.onnx`));
      const info = JSON.parse(readFileSync(v.path.replace(/\.onnx$/, '.json'), 'utf8')) as { width: number; family: string; testImages: number };
      expect(info).toMatchObject({ width: v.width, family: `${name}.onnx`, testImages: 10000 });
      const narrow = convWidths(v.path);
      expect(narrow.map(([n]) => n)).toEqual(full.map(([n]) => n));
      // Every layer but the classifier (10 outputs at any width) scales by the width, rounded half up.
      narrow.forEach(([, oc], i) => {
        const full1 = full[i]![1];
        expect(oc).toBe(full1 === 10 ? 10 : Math.max(1, Math.floor(full1 * v.width + 0.5)));
      });
    }
  });

  it('variantPath: 1 is the model itself, an unknown width names the ones there are, a model without a manifest has only 1', () => {
    const lenet = join(repo, 'models', 'lenet5-fmnist.onnx');
    expect(variantPath(lenet, 1)).toBe(lenet);
    expect(variantPath(lenet, 0.5)).toBe(join(repo, 'models', 'lenet5-fmnist-w0.5.onnx'));
    expect(() => variantPath(lenet, 0.6)).toThrow(`unknown width variant 0.6 of ${lenet} (have: 1, 0.75, 0.5)`);
    const half = join(repo, 'models', 'lenet5-fmnist-w0.5.onnx');
    expect(widthVariants(half)).toEqual([{ width: 1, path: half }]);
    expect(() => variantPath(half, 0.5)).toThrow(`unknown width variant 0.5 of ${half} (have: 1)`);
  });

  it('a user manifest: file names relative to it, a missing file or a bad entry is one clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-variants-'));
    try {
      const m = join(dir, 'm.onnx');
      copyFileSync(join(repo, 'models', 'lenet5-fmnist.onnx'), m);
      copyFileSync(join(repo, 'models', 'lenet5-fmnist-w0.5.onnx'), join(dir, 'small.onnx'));
      writeFileSync(join(dir, 'm.json'), JSON.stringify({ variants: { '1': 'm.onnx', '0.5': 'small.onnx', '0.25': 'gone.onnx' } }));
      expect(widthVariants(m).map((v) => v.width)).toEqual([1, 0.5, 0.25]);
      expect(variantPath(m, 0.5)).toBe(join(dir, 'small.onnx'));
      expect(existsSync(join(dir, 'gone.onnx'))).toBe(false);
      expect(() => variantPath(m, 0.25)).toThrow(`width variant 0.25 of ${m}: no such file ${join(dir, 'gone.onnx')}`);
      writeFileSync(join(dir, 'm.json'), JSON.stringify({ variants: { '2': 'big.onnx' } }));
      expect(() => widthVariants(m)).toThrow(/model metadata .*m\.json: invalid variants\.2/);
      writeFileSync(join(dir, 'm.json'), JSON.stringify({ variants: { '0.5': '../elsewhere/small.onnx' } }));
      expect(() => widthVariants(m)).toThrow(/invalid variants\.0\.5.*a \.onnx file name in the same folder/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
