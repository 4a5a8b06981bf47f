/**
 * The loaded native DNN kernels (see nn/native.ts for how they are built). This module is light
 * on purpose: nn/gemm.ts and every engine worker thread import it, and only need to load an
 * already built addon (`process.dlopen`), not the compiler/cache machinery.
 * AXTPU_NN_NATIVE=0 forces the JS kernels (reference runs, A/B measurements).
 */
export interface NativeKernels {
  im2col(x: Uint8Array, a: Uint8Array, sumA: Int32Array | null, dims: Int32Array): void;
  gemmLut(
    table: Int32Array,
    bank: Uint8Array | null,
    offset: number,
    rowOffset: Int32Array,
    a: Uint8Array,
    acc: Int32Array,
    K: number,
    P: number,
    oc: number,
  ): void;
  gemmExact(weights: Int16Array, a: Uint8Array, signed: number, acc: Int32Array, K: number, P: number, oc: number): void;
  finish(acc: Int32Array, sumA: Int32Array | null, out: Uint8Array, multiplier: Int32Array, shift: Int32Array, constant: Float64Array, dims: Int32Array): void;
  /** counts[c] += number of bytes equal to c (counts: 256 entries). */
  histogram(bytes: Uint8Array, counts: Float64Array): void;
  /** Control-variate correction in place (nn/cv.ts applyCvJs); dims = [K, P, oc, signed, q]. */
  cvApply(acc: Int32Array, a: Uint8Array, sums: Int32Array | null, coef: Int32Array, offset: Int32Array, dims: Int32Array): void;
  /** 'avx512vbmi' (byte-permute LUT kernel) or 'scalar'. */
  simd: string;
}

export interface NativeStatus {
  ok: boolean;
  path?: string;
  simd?: string;
  /** Cache hit (no compile this time). */
  hit?: boolean;
  reason?: string;
}

let kernels: NativeKernels | undefined;
let status: NativeStatus | undefined;

/** Record the outcome of a build attempt (nn/native.ts). */
export function setNativeStatus(s: NativeStatus): void {
  status = s;
}

export function nativeDisabled(): boolean {
  return process.env.AXTPU_NN_NATIVE === '0';
}

/** The loaded kernels, or undefined (not prepared, failed, or disabled): callers use JS then. */
export function nativeKernels(): NativeKernels | undefined {
  return kernels && !nativeDisabled() ? kernels : undefined;
}

export function nativeStatus(): NativeStatus | undefined {
  return status;
}

/** Load an already built addon (worker threads). */
export function loadNativeAddon(path: string): NativeKernels {
  if (kernels && status?.path === path) return kernels;
  const mod = { exports: {} as NativeKernels };
  process.dlopen(mod, path);
  kernels = mod.exports;
  status = { ok: true, path, simd: kernels.simd };
  return kernels;
}

/**
 * Byte-split copy of a transposed LUT bank for the VBMI kernel: for each 256-entry row, the low
 * bytes then the high bytes of u = product + offset, where offset maps the bank's range into
 * 0..65535 (0 for unsigned cells, 32768 for signed). Undefined if no single offset fits.
 */
export interface SplitBank {
  bytes: Uint8Array;
  offset: number;
}

const banks = new WeakMap<Int32Array, SplitBank | null>();

export function splitBank(table: Int32Array): SplitBank | undefined {
  const hit = banks.get(table);
  if (hit !== undefined) return hit ?? undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < table.length; i++) {
    const v = table[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const offset = lo >= 0 && hi <= 65535 ? 0 : lo >= -32768 && hi <= 32767 ? 32768 : undefined;
  if (offset === undefined || table.length % 256 !== 0) {
    banks.set(table, null);
    return undefined;
  }
  const rows = table.length / 256;
  const bytes = new Uint8Array(rows * 512);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < 256; i++) {
      const u = table[r * 256 + i]! + offset;
      bytes[r * 512 + i] = u & 0xff;
      bytes[r * 512 + 256 + i] = u >> 8;
    }
  const bank = { bytes, offset };
  banks.set(table, bank);
  return bank;
}

/**
 * Uninitialized arrays for outputs a native kernel overwrites completely (im2col codes, GEMM
 * accumulators, requantized codes). A large zero-filled typed array costs fresh pages and
 * zeroing: measured 0.8-2.0 ms for 7.2 MB (ResNet-8's biggest im2col at batch 64) against 0.42 ms
 * from Buffer.allocUnsafe, more than the im2col itself. Below 64 KB ordinary arrays are used
 * (cheap, and Buffer's small-allocation pool would make the views share one ArrayBuffer).
 */
const SCRATCH_MIN = 65536;

export function uninitBytes(n: number): Uint8Array {
  if (n < SCRATCH_MIN) return new Uint8Array(n);
  const b = Buffer.allocUnsafe(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

export function uninitInt32(n: number): Int32Array {
  if (n * 4 < SCRATCH_MIN) return new Int32Array(n);
  const b = Buffer.allocUnsafe(n * 4);
  return b.byteOffset % 4 === 0 ? new Int32Array(b.buffer, b.byteOffset, n) : new Int32Array(n);
}
