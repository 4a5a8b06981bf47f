import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../core/errors.ts';
import { readJsonFile, z } from '../core/validate.ts';

/**
 * Width-scaled variants of a float model (a "smaller network" knob). The one source of truth is
 * the manifest in the 1.0x model's metadata file (`<model>.json` next to `<model>.onnx`, written
 * by scripts/train/train.py): `"variants": {"1": "lenet5-fmnist.onnx", "0.75":
 * "lenet5-fmnist-w0.75.onnx", "0.5": "lenet5-fmnist-w0.5.onnx"}`, files relative to the
 * manifest's folder. A model without a manifest (no .json, no "variants", a quantized directory,
 * or a variant file itself) has one width: 1, itself.
 */

const WIDTH_KEY = /^(0(\.\d+)?|1|1\.0+)$/;

const manifestSchema = z
  .object({
    variants: z
      .record(
        z.string().regex(WIDTH_KEY, 'a width in (0, 1]'),
        z
          .string()
          .min(1)
          .regex(/^[^/\\]+\.onnx$/, 'a .onnx file name in the same folder'),
      )
      .optional(),
  })
  .passthrough();

export interface WidthVariant {
  /** Fraction of the 1.0x model's channels / hidden widths. */
  width: number;
  path: string;
}

/** The metadata file of a float ONNX model: `m.onnx` -> `m.json`. */
function metadataPath(modelPath: string): string | undefined {
  if (!modelPath.endsWith('.onnx')) return undefined;
  return `${modelPath.slice(0, -'.onnx'.length)}.json`;
}

/** Every width variant of `modelPath` (1.0 = `modelPath` itself included), widest first. */
export function widthVariants(modelPath: string): WidthVariant[] {
  const meta = metadataPath(modelPath);
  const own: WidthVariant[] = [{ width: 1, path: modelPath }];
  if (!meta || !existsSync(meta) || !statSync(meta).isFile()) return own;
  const m = readJsonFile(manifestSchema, meta, 'model metadata');
  if (!m.variants) return own;
  const out = new Map<number, string>([[1, modelPath]]);
  for (const [key, file] of Object.entries(m.variants)) {
    const width = Number(key);
    if (!(width > 0 && width <= 1)) throw new UserError(`model metadata ${meta}: invalid variants.${key}: a width in (0, 1]`);
    if (width === 1) continue; // the model itself, whatever the manifest names it
    if (out.has(width)) throw new UserError(`model metadata ${meta}: width ${width} listed twice in variants`);
    out.set(width, join(dirname(modelPath), file));
  }
  return [...out].map(([width, path]) => ({ width, path })).sort((a, b) => b.width - a.width);
}

/** The model file of width `width` in `modelPath`'s family; an unknown width is one line, exit 2. */
export function variantPath(modelPath: string, width: number): string {
  const all = widthVariants(modelPath);
  const hit = all.find((v) => v.width === width);
  if (!hit) throw new UserError(`unknown width variant ${width} of ${modelPath} (have: ${all.map((v) => v.width).join(', ')})`);
  if (!existsSync(hit.path)) throw new UserError(`width variant ${width} of ${modelPath}: no such file ${hit.path}`);
  return hit.path;
}
