import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../core/atomic.ts';
import { UserError } from '../core/errors.ts';
import { xorshift32 } from '../core/rng.ts';

/**
 * Operand stream file (`.ab`): the workload a multiplier sees, as raw interleaved byte pairs
 * a0 b0 a1 b1 ... with a = activation code, b = weight code (8-bit raw codes, the same codes
 * that index the LUT). No header, so `cat` of two streams is a stream. Odd length is an error.
 * The DNN engine writes one per layer; the energy estimator replays them through the netlist.
 * (The in-memory per-PE stream sampler of the RTL flow is a different thing: mapping/streams.ts.)
 * In memory a stream may be wider (cells of 9..16 bits): `bits` says how many operand bits vary.
 */
export interface OperandStream {
  a: Uint8Array | Uint16Array;
  b: Uint8Array | Uint16Array;
  /** Operand width the codes span (default 8, the `.ab` file format). */
  bits?: number;
}

export const streamBits = (s: OperandStream): number => s.bits ?? 8;

export function encodeStream(s: OperandStream): Uint8Array {
  if (s.a.length !== s.b.length) throw new Error('operand stream: a and b differ in length');
  if (streamBits(s) > 8) throw new Error('operand stream: .ab files hold 8-bit codes');
  const out = new Uint8Array(s.a.length * 2);
  for (let i = 0; i < s.a.length; i++) {
    out[2 * i] = s.a[i]!;
    out[2 * i + 1] = s.b[i]!;
  }
  return out;
}

export function decodeStream(bytes: Uint8Array, source = 'operand stream'): OperandStream {
  if (bytes.length % 2 !== 0) throw new UserError(`${source}: odd length ${bytes.length} bytes (expected (a,b) byte pairs)`);
  if (bytes.length === 0) throw new UserError(`${source}: empty`);
  const n = bytes.length / 2;
  const a = new Uint8Array(n);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = bytes[2 * i]!;
    b[i] = bytes[2 * i + 1]!;
  }
  return { a, b };
}

export function writeOperandStream(path: string, s: OperandStream): void {
  writeFileAtomic(path, encodeStream(s));
}

export function readOperandStream(path: string): OperandStream {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UserError(`operand stream not found: ${path}`);
  return decodeStream(new Uint8Array(readFileSync(path)), `operand stream ${path}`);
}

/**
 * Uniform random pairs from a seeded generator (the EvoApprox convention for catalogue energy).
 * Up to 8 bits the codes are bytes (narrower cells see their low bits); wider operands draw
 * every bit of both operands from one 32-bit word, so all upper bits toggle too.
 */
export function uniformStream(n: number, seed = 1, bits = 8): OperandStream {
  if (bits > 8) {
    if (bits > 16) throw new Error(`uniformStream: ${bits}-bit operands unsupported (at most 16)`);
    const mask = 2 ** bits - 1;
    const a = new Uint16Array(n);
    const b = new Uint16Array(n);
    const next = xorshift32(seed);
    for (let i = 0; i < n; i++) {
      const r = next();
      a[i] = r & mask;
      b[i] = (r >>> 16) & mask;
    }
    return { a, b, bits };
  }
  const a = new Uint8Array(n);
  const b = new Uint8Array(n);
  const next = xorshift32(seed);
  for (let i = 0; i < n; i++) {
    const r = next();
    a[i] = r & 0xff;
    b[i] = (r >>> 8) & 0xff;
  }
  return { a, b };
}
