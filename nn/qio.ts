import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type OutputDirOptions, writeDirAtomic } from '../core/atomic.ts';
import { UserError } from '../core/errors.ts';
import { parseOrThrow, z } from '../core/validate.ts';
import type { QuantModel } from './qmodel.ts';

/**
 * Saved quantized model = a directory with `model.json` (structure, scales, zero points, every
 * small field) and `model.bin` (all integer/float arrays, little-endian, 8-byte aligned). Arrays
 * appear in the JSON as {"$array": dtype, "offset": bytes, "length": elements}. The engine and
 * the RTL flow both load this, so they run the same integers.
 */
const DTYPES = { Int16Array, Int32Array, Float64Array } as const;
type DType = keyof typeof DTYPES;

/** Write model.json + model.bin atomically as the directory `dir`. */
export async function saveQuantModel(dir: string, m: QuantModel, opts: OutputDirOptions = {}): Promise<void> {
  await writeDirAtomic(dir, (d) => writeQuantModelFiles(d, m), opts);
}

/** Write model.json + model.bin into an existing (scratch) directory. */
export function writeQuantModelFiles(d: string, m: QuantModel): void {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const json = JSON.stringify(
    m,
    (_k, v: unknown) => {
      for (const [name, ctor] of Object.entries(DTYPES)) {
        if (v instanceof ctor) {
          const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
          const pad = (8 - (bytes.length % 8)) % 8;
          const ref = { $array: name, offset, length: v.length };
          chunks.push(bytes.slice(), new Uint8Array(pad));
          offset += bytes.length + pad;
          return ref;
        }
      }
      return v;
    },
    1,
  );
  const bin = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    bin.set(c, at);
    at += c.length;
  }
  writeFileSync(join(d, 'model.json'), `${json}\n`);
  writeFileSync(join(d, 'model.bin'), bin);
}

const headerSchema = z
  .object({
    format: z.literal('axtpu-qmodel-1'),
    name: z.string(),
    scheme: z.enum(['signed', 'unsigned']),
    input: z.string(),
    output: z.string(),
    layers: z.array(z.object({ op: z.enum(['conv', 'maxpool', 'avgpool', 'add', 'relu', 'reshape']), name: z.string() }).passthrough()),
    tensors: z.record(z.object({ scale: z.number().positive(), zeroPoint: z.number().int() })),
  })
  .passthrough();

export function loadQuantModel(dir: string): QuantModel {
  const jp = join(dir, 'model.json');
  const bp = join(dir, 'model.bin');
  if (!existsSync(jp) || !existsSync(bp)) throw new UserError(`quantized model ${dir}: expected model.json and model.bin`);
  const bin = readFileSync(bp);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(jp, 'utf8'), (_k, v: unknown) => {
      if (v && typeof v === 'object' && '$array' in v) {
        const r = v as { $array: DType; offset: number; length: number };
        const ctor = DTYPES[r.$array];
        if (!ctor) throw new Error(`unknown array type ${r.$array}`);
        const bytes = r.length * ctor.BYTES_PER_ELEMENT;
        if (r.offset < 0 || r.offset + bytes > bin.length) throw new Error(`array at ${r.offset} (+${bytes}) outside model.bin (${bin.length} bytes)`);
        const copy = new Uint8Array(bytes);
        copy.set(bin.subarray(r.offset, r.offset + bytes));
        return new ctor(copy.buffer);
      }
      return v;
    });
  } catch (err) {
    throw new UserError(`quantized model ${dir}: ${(err as Error).message.split('\n')[0]}`);
  }
  return parseOrThrow(headerSchema, data, `quantized model ${jp}`) as unknown as QuantModel;
}
