/**
 * The user catalogue of imported cells: `$AXTPU_CELLS_DIR` (default ~/.local/share/axtpu/cells),
 * one folder per cell holding `meta.json`, `cell.v` (module named after the cell) and `lut.bin`
 * (TFApprox format, the model). Folders are written atomically by the importer.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../../core/errors.ts';
import { readJsonFile, z } from '../../core/validate.ts';
import { decodeProduct, moduleNameFor } from './registry.ts';
import type { Cell } from './types.ts';

export function cellsDir(): string {
  return process.env.AXTPU_CELLS_DIR ? resolve(process.env.AXTPU_CELLS_DIR) : join(homedir(), '.local', 'share', 'axtpu', 'cells');
}

export const extMetaSchema = z.object({
  id: z.string().regex(/^ext:[A-Za-z][A-Za-z0-9_]*$/),
  bits: z.literal(8),
  signed: z.boolean(),
  source: z.enum(['verilog', 'lut']),
  /** For verilog cells: the user module and the binding of our ports to its ports. */
  module: z.string().optional(),
  ports: z.object({ a: z.string(), b: z.string(), p: z.string() }).optional(),
  importedFrom: z.string(),
});
export type ExtMeta = z.infer<typeof extMetaSchema>;

export const EXT_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

export function extFolder(name: string): string {
  return join(cellsDir(), name);
}

/** Entries a LUT file must have (8x8 cells). */
export const LUT_WORDS = 65536;

export function readLutFile(path: string): Uint16Array {
  if (!existsSync(path)) throw new UserError(`LUT file not found: ${path}`);
  const buf = readFileSync(path);
  if (buf.length !== LUT_WORDS * 2) throw new UserError(`LUT file ${path}: expected ${LUT_WORDS * 2} bytes (65,536 x 16-bit words), got ${buf.length}`);
  const out = new Uint16Array(LUT_WORDS);
  for (let i = 0; i < LUT_WORDS; i++) out[i] = buf.readUInt16LE(2 * i);
  return out;
}

export function loadExternal(id: string): Cell & { lutWords: Uint16Array } {
  const name = id.slice(4);
  if (!EXT_NAME.test(name)) throw new UserError(`cell id '${id}': external names are [A-Za-z][A-Za-z0-9_]*`);
  const dir = extFolder(name);
  if (!existsSync(join(dir, 'meta.json'))) throw new UserError(`unknown cell '${id}': no imported cell '${name}' in ${cellsDir()} (see 'axtpu mult import')`);
  const meta = readJsonFile(extMetaSchema, join(dir, 'meta.json'), 'cell metadata');
  const lutWords = readLutFile(join(dir, 'lut.bin'));
  const verilogText = readFileSync(join(dir, 'cell.v'), 'utf8');
  const desc =
    meta.source === 'verilog'
      ? `external Verilog module ${meta.module} (a=${meta.ports?.a}, b=${meta.ports?.b}, p=${meta.ports?.p}) from ${meta.importedFrom}`
      : `external LUT cell from ${meta.importedFrom} (LUT ROM Verilog)`;
  return {
    id,
    family: 'ext',
    bits: 8,
    signed: meta.signed,
    params: { source: meta.source, ...(meta.module ? { module: meta.module } : {}) },
    moduleName: moduleNameFor(id),
    lutWords,
    model: (a, b) => decodeProduct(lutWords[((a & 255) << 8) | (b & 255)]!, 8, meta.signed),
    verilog: () => verilogText,
    describe: () => desc,
  };
}

export function listExternalIds(): string[] {
  const dir = cellsDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => EXT_NAME.test(n) && existsSync(join(dir, n, 'meta.json')))
    .sort()
    .map((n) => `ext:${n}`);
}
