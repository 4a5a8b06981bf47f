import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import { intOption, numberOption } from '../core/validate.ts';
import { CALIBRATION } from '../nn/quantize.ts';
import { variantPath } from '../nn/variants.ts';
import { DEFAULT_PROTECT_MSBS, DEFAULT_WMEM_SEED, parseWmemVolts, WMEM_BITS, type WmemOptions } from '../nn/wmem.ts';

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

/** The approximate weight-memory options eval and run share (nn/wmem.ts, docs/wmem.md). */
export function wmemOptions(cmd: Command): Command {
  return wmemDrawOptions(
    cmd.option(
      '--wmem-volts <spec>',
      'approximate weight memory: supply of its 6T cells, one V for every conv/dense layer or {"<layer>": V} (inline JSON or file); docs/wmem.md',
    ),
    '--wmem-volts',
  );
}

/** How the weight memory's faults are drawn, for every command that draws them (`when`: the flag that turns them on). */
export function wmemDrawOptions(cmd: Command, when: string): Command {
  return cmd
    .option('--protect-msbs <k>', `with ${when}: top k bits of every weight in robust (8T) cells at nominal, 0..${WMEM_BITS} (default ${DEFAULT_PROTECT_MSBS})`)
    .option('--wmem-seed <n>', `with ${when}: seed of the per-bit fault draws (default ${DEFAULT_WMEM_SEED})`)
    .option('--wmem-model <json>', `with ${when}: bit-error model of the weight memory (default models/wmem-model.json, docs/wmem.md)`);
}

/**
 * The validated wmemDrawOptions (defaults filled in), or undefined when the faults are off (`on`
 * false), where any of them given is an error: `<flag> needs <needs>`.
 */
export function wmemDrawInputs(opts: Record<string, unknown>, on: boolean, needs: string): Omit<WmemOptions, 'volts'> | undefined {
  const str = (k: string) => (opts[k] === undefined ? undefined : String(opts[k]));
  if (!on) {
    const orphan = [
      ['protectMsbs', '--protect-msbs'],
      ['wmemSeed', '--wmem-seed'],
      ['wmemModel', '--wmem-model'],
    ].find(([k]) => str(k!) !== undefined);
    if (orphan) throw new UserError(`${orphan[1]} needs ${needs}`);
    return undefined;
  }
  return {
    protectMsbs: str('protectMsbs') === undefined ? DEFAULT_PROTECT_MSBS : intOption(str('protectMsbs')!, '--protect-msbs', 0, WMEM_BITS),
    seed: str('wmemSeed') === undefined ? DEFAULT_WMEM_SEED : intOption(str('wmemSeed')!, '--wmem-seed', 0, 2 ** 31 - 1),
    modelFile: str('wmemModel'),
  };
}

/** The validated weight-memory options, or undefined without --wmem-volts (its companions alone are an error). */
export function wmemInputs(opts: Record<string, unknown>): WmemOptions | undefined {
  const volts = opts.wmemVolts === undefined ? undefined : String(opts.wmemVolts);
  const draw = wmemDrawInputs(opts, volts !== undefined, '--wmem-volts');
  return draw && { volts: parseWmemVolts(volts!), ...draw };
}

/** PyTorch training options of finetune and nas, validated alike; the epochs come under each command's own flag. */
export function torchTrainInputs(opts: Record<string, unknown>, epochs: { text: unknown; flag: string }) {
  return {
    epochs: intOption(String(epochs.text), epochs.flag, 1, 1000),
    batch: intOption(String(opts.batch), '--batch', 1, 4096),
    lr: numberOption(String(opts.lr), '--lr', 1e-9, 1),
    seed: intOption(String(opts.seed), '--seed', 0, 2 ** 31 - 1),
    threads: intOption(String(opts.threads), '--threads', 1, 64),
  };
}
