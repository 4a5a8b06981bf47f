import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadQuantModelFor } from '../nn/load.ts';
import { loadQuantModel } from '../nn/qio.ts';
import type { QuantModel } from '../nn/qmodel.ts';
import { CALIBRATION } from '../nn/quantize.ts';
import { runCli } from './helpers/cli.ts';

/**
 * One calibration policy (nn/load.ts): `axtpu eval|quantize|run|explore --dataset mnist` quantize
 * LeNet-5 identically, calibrated on MNIST (the dataset they evaluate on), not on the default
 * Fashion-MNIST. Each command's own report names the quantized model it used; small image limits.
 */
const MODEL = 'models/lenet5-fmnist.onnx';
const tmp = mkdtempSync(join(tmpdir(), 'axtpu-calib-test-'));
const env = { AXTPU_QUIET: '1', AXTPU_SYNTH_REPORTS: join(tmp, 'reports') };

/** Every tensor's (scale, zero point) and every layer's requantization: the quantized parameters. */
const params = (q: QuantModel) => ({
  tensors: q.tensors,
  layers: q.layers.map((l) =>
    l.op === 'conv' ? { name: l.name, weights: [...l.weights], bias: [...l.bias], multiplier: [...l.multiplier], shift: [...l.shift] } : { name: l.op },
  ),
});

async function json(args: string[]): Promise<Record<string, unknown>> {
  const r = await runCli([...args, '--json'], env);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('one calibration policy across commands', () => {
  it('eval, quantize, run and explore --dataset mnist use the same MNIST-calibrated model', async () => {
    const common = ['--model', MODEL, '--dataset', 'mnist'];
    const [ev, qz, run, ex] = await Promise.all([
      json(['eval', ...common, '--cell', 'exact_s8', '--limit', '20', '--no-float']),
      json(['quantize', ...common, '--scheme', 'signed', '--out', join(tmp, 'q')]),
      json(['run', ...common, '--rows', '16', '--cols', '16', '--cell', 'exact_s8', '--limit', '4', '--batch', '4', '--no-energy', '--activity', 'off']),
      json([
        'explore',
        ...common,
        '--cells',
        'drum_k6_s8',
        '--val-images',
        '40',
        '--screen-images',
        '0',
        '--test-images',
        '20',
        '--calib-images',
        '4',
        '--no-rtl',
        '--out',
        join(tmp, 'explore'),
      ]),
    ]);
    const group = (ex.groups as { scheme: string; quantizedModel: string }[]).find((g) => g.scheme === 'signed')!;
    const used = {
      eval: loadQuantModel(ev.quantizedModel as string),
      quantize: loadQuantModel(qz.out as string),
      run: loadQuantModel(run.quantizedModel as string),
      explore: loadQuantModel(group.quantizedModel),
    };
    for (const q of Object.values(used)) {
      expect(q.scheme).toBe('signed');
      expect(q.calibration).toEqual({ method: CALIBRATION.method, images: CALIBRATION.images, dataset: 'mnist' });
      expect(params(q)).toEqual(params(used.eval));
    }
    // The same cache entry for the three that run a model (quantize writes its own copy).
    expect(new Set([ev.quantizedModel, run.quantizedModel, group.quantizedModel]).size).toBe(1);
    // Not vacuous: the default (Fashion-MNIST) calibration gives other activation scales.
    const fmnist = (await loadQuantModelFor(MODEL, 'signed', { dataset: 'fmnist' })).model;
    expect(fmnist.calibration.dataset).toBe('fashion-mnist');
    const differ = Object.keys(fmnist.tensors).filter((t) => fmnist.tensors[t]!.scale !== used.eval.tensors[t]!.scale);
    expect(differ.length).toBeGreaterThan(0);
  }, 300_000);
});
