import type { Command } from 'commander';
import { emit, table } from '../../core/output.ts';
import { intOption } from '../../core/validate.ts';
import { DEFAULT_Q, Q_RANGE } from '../../nn/cv.ts';
import { type EvalReport, evaluate } from '../../nn/evaluate.ts';
import { DEFAULT_DATASET } from '../../nn/load.ts';
import { parsePruneSpec, pruneLine } from '../../nn/prune.ts';
import { wmemLine } from '../../nn/wmem.ts';
import { globals } from '../context.ts';
import { calibrationOptions, engineInputs, PRUNE_HELP, WIDTH_HELP, widthModel, wmemInputs, wmemOptions } from '../engine-options.ts';

function human(r: EvalReport): string {
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)} %`);
  const lines = [
    `model ${r.model}  dataset ${r.dataset}  images ${r.images}  scheme ${r.scheme}  cells ${r.cells.join(', ')}`,
    ...(r.cv
      ? [
          `control variate on ${
            Object.entries(r.cv)
              .map(([n, c]) => `${n} (q ${c.q}${c.saturated ? `, ${c.saturated} coefficients saturated` : ''})`)
              .join(', ') || 'no layer'
          }`,
        ]
      : []),
    ...(r.prune ? [pruneLine(r.prune)] : []),
    ...(r.wmem ? [`${wmemLine(r.wmem.layers, r.wmem.protectMsbs, r.wmem.seed)}; model ${r.wmem.model}, nominal ${r.wmem.nominal} V`] : []),
    `accuracy ${pct(r.accuracy)}   float accuracy (onnxruntime) ${pct(r.floatAccuracy)}   agreement with float ${pct(r.agreementWithFloat)}`,
    '',
    table(
      ['layer', 'kind', 'MACs/image', 'cells', 'act zero %'],
      r.layers.map((l) => [
        l.name,
        l.kind,
        l.macsPerImage,
        Object.keys(l.cells).join(' '),
        l.aZeroFraction === undefined ? '-' : (100 * l.aZeroFraction).toFixed(1),
      ]),
    ),
    `total MACs/image ${r.macsPerImage}`,
    '',
    'confusion matrix (rows = label, columns = prediction):',
    table(
      ['', ...r.confusion.map((_, i) => String(i))],
      r.confusion.map((row, i) => [String(i), ...row]),
    ),
    '',
    `time: quantize ${r.seconds.quantize.toFixed(1)} s, engine ${r.seconds.engine.toFixed(1)} s on ${r.workers} worker(s) ` +
      `(${((r.macsPerImage * r.images) / r.seconds.engine / 1e9).toFixed(2)} G MAC/s)` +
      (r.seconds.float === null ? '' : `, onnxruntime ${r.seconds.float.toFixed(1)} s`),
  ];
  return lines.join('\n');
}

export function registerEval(program: Command): void {
  const cmd = program
    .command('eval')
    .description('accuracy of a DNN with every conv/dense multiply through approximate cells (bit-exact int8 LUT engine)')
    .requiredOption('--model <path>', 'float ONNX model (e.g. models/lenet5-fmnist.onnx) or a quantized model directory')
    .option('--width <w>', WIDTH_HELP)
    .option('--cell <id>', 'one cell for every layer (default exact_s8)')
    .option('--assign <json>', 'per-layer / per-filter / per-kernel cell assignment (see docs/nn.md)')
    .option('--dataset <name>', 'fmnist | mnist | <IDX directory> (test split; calibration on its training split)', DEFAULT_DATASET)
    .option('--limit <n>', 'first N test images')
    .option('--workers <n>', 'worker threads (default: one per 2 G MACs of work, up to the core count)');
  wmemOptions(calibrationOptions(cmd))
    .option('--streams <dir>', 'write a sampled (a,b) operand stream per layer (<layer>.ab)')
    .option('--cv <spec>', 'control-variate error compensation: \'all\', layer names (comma list) or JSON {"<layer>": "on"|"off"|q} (docs/cv.md)')
    .option('--cv-q <q>', `fractional bits of the compensation coefficients (${Q_RANGE[0]}..${Q_RANGE[1]})`, String(DEFAULT_Q))
    .option('--prune <spec>', PRUNE_HELP)
    .option('--no-float', 'skip the onnxruntime float reference')
    .action(async (opts: Record<string, string | boolean | undefined>, cmd: Command) => {
      const report = await evaluate({
        ...engineInputs(opts),
        model: widthModel(String(opts.model), opts.width as string | undefined),
        streamsDir: opts.streams as string | undefined,
        noFloat: opts.float === false,
        cv: opts.cv as string | undefined,
        cvQ: intOption(String(opts.cvQ), '--cv-q', Q_RANGE[0], Q_RANGE[1]),
        prune: opts.prune === undefined ? undefined : parsePruneSpec(String(opts.prune)),
        wmem: wmemInputs(opts),
      });
      emit(globals(cmd), report, human);
    });
}
