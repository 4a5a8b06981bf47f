import { resolve } from 'node:path';
import type { Command } from 'commander';
import { checkOutputDir } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { emit, table } from '../../core/output.ts';
import { intOption, numberOption } from '../../core/validate.ts';
import { DEFAULT_DATASET, isQuantizedDir, loadQuantModelFor } from '../../nn/load.ts';
import { saveQuantModel } from '../../nn/qio.ts';
import { convLayers } from '../../nn/qmodel.ts';
import { CALIBRATION } from '../../nn/quantize.ts';
import { globals } from '../context.ts';

export function registerQuantize(program: Command): void {
  program
    .command('quantize')
    .description('post-training int8 quantization of an ONNX model; writes <out>/model.json + model.bin')
    .requiredOption('--model <path>', 'float ONNX model')
    .requiredOption('--out <dir>', 'output directory; an existing one is replaced only if axtpu wrote it')
    .option('--force', 'replace an existing output folder of an older axtpu (no marker file)')
    .option('--scheme <s>', 'signed (int8 x int8, signed cells) | unsigned (uint8 codes + zero points, unsigned cells)', 'signed')
    .option('--dataset <name>', 'calibration data: fmnist | mnist | <IDX directory> (training split)', DEFAULT_DATASET)
    .option('--calibration <method>', 'max | percentile', CALIBRATION.method)
    .option('--percentile <p>', 'percentile for --calibration percentile', String(CALIBRATION.percentile))
    .option('--calib-images <n>', 'training images for calibration', String(CALIBRATION.images))
    .action(async (opts: Record<string, string>, cmd: Command) => {
      if (opts.scheme !== 'signed' && opts.scheme !== 'unsigned') throw new UserError(`--scheme must be signed or unsigned, got '${opts.scheme}'`);
      if (opts.calibration !== 'max' && opts.calibration !== 'percentile')
        throw new UserError(`--calibration must be max or percentile, got '${opts.calibration}'`);
      const out = resolve(opts.out!);
      checkOutputDir(out, { force: Boolean(opts.force) }); // refuse before the calibration work
      if (isQuantizedDir(opts.model!)) throw new UserError(`--model ${opts.model}: already a quantized model directory; give the float ONNX model`);
      // The same cached quantization `axtpu eval|run|explore` use for this model, scheme and dataset.
      const { model: q } = await loadQuantModelFor(opts.model!, opts.scheme as 'signed' | 'unsigned', {
        dataset: opts.dataset,
        images: intOption(opts.calibImages!, '--calib-images', 1, 60000),
        method: opts.calibration as 'max' | 'percentile',
        percentile: numberOption(opts.percentile!, '--percentile', 50.0001, 100),
      });
      await saveQuantModel(out, q, { force: Boolean(opts.force) });
      const layers = convLayers(q).map((l) => ({
        name: l.name,
        kind: l.kind,
        oc: l.oc,
        K: l.K,
        inScale: q.tensors[l.input]!.scale,
        inZero: q.tensors[l.input]!.zeroPoint,
        outScale: q.tensors[l.output]!.scale,
        outZero: q.tensors[l.output]!.zeroPoint,
      }));
      emit(globals(cmd), { out, scheme: q.scheme, calibration: q.calibration, layers }, (r) =>
        [
          `wrote ${r.out}/model.json + model.bin (${r.scheme} scheme, ${r.calibration.method} calibration on ${r.calibration.images} images)`,
          table(
            ['layer', 'kind', 'oc', 'K', 'in scale', 'in zp', 'out scale', 'out zp'],
            r.layers.map((l) => [l.name, l.kind, l.oc, l.K, l.inScale.toExponential(3), l.inZero, l.outScale.toExponential(3), l.outZero]),
          ),
        ].join('\n'),
      );
    });
}
