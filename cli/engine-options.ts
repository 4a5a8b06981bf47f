import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { intOption, numberOption } from '../core/validate.ts';
import { CALIBRATION } from '../nn/quantize.ts';
import { variantPath } from '../nn/variants.ts';

/** The quantization options every command that runs the engine on a float model shares (eval, finetune). */
export function calibrationOptions(cmd: Command): Command {
  return cmd
    .option('--calibration <method>', 'max | percentile', CALIBRATION.method)
    .option('--percentile <p>', 'percentile for --calibration percentile', String(CALIBRATION.percentile))
    .option('--calib-images <n>', 'training images for calibration', String(CALIBRATION.images));
}

/** `--prune`, as eval and run take it (nn/prune.ts parsePruneSpec). */
export const PRUNE_HELP =
  'magnitude pruning of the int8 weights: one sparsity for every conv/dense layer (e.g. 0.5) or {"<layer>": s} (inline JSON or file); s in [0, 1)';

/** `--width`, as eval and run take it (nn/variants.ts). */
export const WIDTH_HELP = 'width variant of --model: 1 (the model itself) or a width its .json lists under "variants" (e.g. 0.75, 0.5)';

/** The model file `--model` and `--width` name: the width a number in (0, 1] the family has. */
export function widthModel(model: string, width: string | undefined): string {
  if (width === undefined) return model;
  const n = Number(width);
  if (width.trim() === '' || !Number.isFinite(n)) throw new UserError(`--width must be a number, got '${width}'`);
  if (!(n > 0 && n <= 1)) throw new UserError(`--width must be in (0, 1], got ${n}`);
  return variantPath(model, n);
}

/** Model, cells, test images, workers and calibration as eval and finetune take them, validated. */
export function engineInputs(opts: Record<string, string | boolean | undefined>) {
  const method = String(opts.calibration);
  if (method !== 'max' && method !== 'percentile') throw new UserError(`--calibration must be max or percentile, got '${method}'`);
  return {
    model: String(opts.model),
    cell: opts.cell as string | undefined,
    assign: opts.assign as string | undefined,
    dataset: String(opts.dataset),
    limit: opts.limit === undefined ? undefined : intOption(String(opts.limit), '--limit', 1, 10_000_000),
    workers: opts.workers === undefined ? undefined : intOption(String(opts.workers), '--workers', 1, 64),
    calibration: method as 'max' | 'percentile',
    percentile: numberOption(String(opts.percentile), '--percentile', 50.0001, 100),
    calibImages: intOption(String(opts.calibImages), '--calib-images', 1, 60000),
  };
}
