/**
 * `axtpu finetune` end to end with the real PyTorch (Debian python3-torch): a tiny run (64
 * training images, 1 epoch) on LeNet-5. The command itself fails unless PyTorch's integer forward
 * reproduces the engine's scores exactly on 32 test images before training; here we check what
 * it hands back: an ONNX model with the original's layers and names, changed weights, and an
 * accuracy that is the engine's own on that model.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelsDir } from '../core/paths.ts';
import { evaluate } from '../nn/evaluate.ts';
import type { FinetuneReport } from '../nn/finetune.ts';
import type { ConvLayer } from '../nn/graph.ts';
import { importOnnx } from '../nn/onnx.ts';
import { runCli } from './helpers/cli.ts';

const lenet = join(modelsDir, 'lenet5-fmnist.onnx');
// Per-filter cells under the original's layer names: the exported model must accept the same assignment.
const filters = ['drum_k4_u8', 'exact_u8', 'drum_k4_u8', 'exact_u8', 'drum_k4_u8', 'exact_u8'];
const assign = JSON.stringify({ default: 'drum_k5_u8', layers: { '/c1/Conv': { filters } } });

describe('axtpu finetune (PyTorch)', () => {
  it('fine-tunes through the LUT forward, exports ONNX with the original layer names, and reports the engine accuracy', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'axtpu-ft-')), 'ft');
    const args = ['finetune', '--model', lenet, '--assign', assign, '--train-images', '64', '--epochs', '1', '--limit', '200', '--no-float', '--out', out];
    // Chunks of 2^16 elements: LeNet-5's conv layers run 3-4 images per chunk (partial chunks too).
    const r = await runCli(['--json', ...args], { AXTPU_FINETUNE_CHUNK: String(1 << 16) });
    expect(r.stderr).not.toMatch(/Error|Traceback/);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as FinetuneReport;
    expect(rep.checkedImages).toBe(32);
    expect(rep.cells).toEqual(['drum_k4_u8', 'drum_k5_u8', 'exact_u8']);
    expect(rep.training.images).toBe(64);
    expect(rep.training.epochs).toHaveLength(1);
    expect(rep.training.epochs[0]!.loss).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))).toEqual(rep);
    expect(existsSync(join(out, '.axtpu-output'))).toBe(true);

    const before = importOnnx(lenet);
    const after = importOnnx(join(out, 'model.onnx'));
    const convs = (layers: typeof before.layers) => layers.filter((l): l is ConvLayer => l.op === 'conv');
    const b = convs(before.layers);
    const a = convs(after.layers);
    expect(a.map((l) => [l.name, l.kind, l.ic, l.oc, l.kh, l.kw, l.relu])).toEqual(b.map((l) => [l.name, l.kind, l.ic, l.oc, l.kh, l.kw, l.relu]));
    // Training moved the weights, a little (lr 1e-4, one Adam step).
    let changed = 0;
    let maxDiff = 0;
    for (const [i, l] of a.entries())
      for (let k = 0; k < l.weight.length; k++) {
        const d = Math.abs(l.weight[k]! - b[i]!.weight[k]!);
        if (d > 0) changed++;
        maxDiff = Math.max(maxDiff, d);
      }
    expect(changed).toBeGreaterThan(1000);
    expect(maxDiff).toBeLessThan(0.05);

    // The reported accuracies are the engine's: `axtpu eval` on the same models gives them again.
    const again = await evaluate({ model: join(out, 'model.onnx'), assign, limit: 200, noFloat: true });
    expect(again.accuracy).toBe(rep.after.accuracy);
    const base = await evaluate({ model: lenet, assign, limit: 200, noFloat: true });
    expect(base.accuracy).toBe(rep.before.accuracy);
  }, 180_000);
});
