import type { Command } from 'commander';
import { emit, table } from '../../core/output.ts';
import { intOption } from '../../core/validate.ts';
import { type FinetuneReport, finetune, TRAIN_DEFAULTS } from '../../nn/finetune.ts';
import { DEFAULT_DATASET } from '../../nn/load.ts';
import { globals } from '../context.ts';
import { calibrationOptions, engineInputs, torchTrainInputs } from '../engine-options.ts';

function human(r: FinetuneReport): string {
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)} %`);
  return [
    `model ${r.model}  dataset ${r.dataset}  test images ${r.images}  scheme ${r.scheme}  cells ${r.cells.join(', ')}`,
    `engine accuracy before ${pct(r.before.accuracy)}  after ${pct(r.after.accuracy)}  (${r.gainPp >= 0 ? '+' : ''}${r.gainPp.toFixed(2)} pp)`,
    `float accuracy (onnxruntime) before ${pct(r.before.floatAccuracy)}  after ${pct(r.after.floatAccuracy)}`,
    table(
      ['epoch', 'train loss', 'train acc (exact forward)', 'seconds', 'CPU seconds'],
      r.training.epochs.map((e) => [e.epoch, e.loss.toFixed(4), pct(e.trainAccuracy), e.seconds, e.cpuSeconds]),
    ),
    `trained on ${r.training.images} images with torch ${r.training.torch}; PyTorch's forward matched the engine on ${r.checkedImages} test images`,
    `wrote ${r.out}/model.onnx + report.json  (${r.seconds.total.toFixed(0)} s)`,
  ].join('\n');
}

export function registerFinetune(program: Command): void {
  const cmd = program
    .command('finetune')
    .description('approximation-aware fine-tuning in PyTorch (int8 + cell LUTs in the forward pass); accuracy measured by the engine')
    .requiredOption('--model <path>', 'float ONNX model (e.g. models/lenet5-fmnist.onnx)')
    .requiredOption('--out <dir>', 'output directory (model.onnx, report.json); an existing one is replaced only if axtpu wrote it')
    .option('--force', 'replace an existing output folder of an older axtpu (no marker file)')
    .option('--cell <id>', 'one cell for every layer (default exact_s8)')
    .option('--assign <json>', 'per-layer / per-filter / per-kernel cell assignment (as for eval, docs/nn.md)')
    .option('--epochs <n>', 'training epochs over the training subset', String(TRAIN_DEFAULTS.epochs))
    .option('--train-images <n>', 'first N training images to fine-tune on', String(TRAIN_DEFAULTS.trainImages))
    .option('--batch <n>', 'training batch size', String(TRAIN_DEFAULTS.batch))
    .option('--lr <x>', 'Adam learning rate (cosine schedule)', String(TRAIN_DEFAULTS.lr))
    .option('--seed <n>', 'PyTorch seed (shuffling)', String(TRAIN_DEFAULTS.seed))
    .option('--threads <n>', 'PyTorch threads', String(TRAIN_DEFAULTS.threads))
    .option('--dataset <name>', 'fmnist | mnist | <IDX directory> (training split trains and calibrates, test split measures)', DEFAULT_DATASET)
    .option('--limit <n>', 'first N test images for the before/after accuracy')
    .option('--workers <n>', 'engine worker threads for the accuracy runs');
  calibrationOptions(cmd)
    .option('--no-float', 'skip the onnxruntime float reference')
    .action(async (opts: Record<string, string | boolean | undefined>, cmd: Command) => {
      const report = await finetune({
        ...engineInputs(opts),
        out: String(opts.out),
        force: Boolean(opts.force),
        trainImages: intOption(String(opts.trainImages), '--train-images', 1, 10_000_000),
        noFloat: opts.float === false,
        train: torchTrainInputs(opts, { text: opts.epochs, flag: '--epochs' }),
      });
      emit(globals(cmd), report, human);
    });
}
