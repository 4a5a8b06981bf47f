import { xorshift32 } from '../core/rng.ts';
import { productTable } from '../generators/multipliers/index.ts';
import type { GemmOperands } from '../nn/gemm.ts';
import type { QConvLayer } from '../nn/qmodel.ts';

/**
 * What one PE holding a cell sees while a layer runs, recorded from the layer's real operands:
 * weight-stationary, so a PE keeps one weight b = w[f][k] for a whole fold while the activation
 * codes a[k][p] of consecutive output positions p stream past, and its adder receives the
 * partial sum of the rows above it in the same fold. A stream is a concatenation of such runs
 * over seeded random (k, f, p0), restricted to the (filter, input channel) slots that use the cell.
 */
export interface PeStream {
  a: Uint8Array;
  b: Uint8Array;
  /** Partial sum entering the PE (sum of the products of the rows above it in its fold). */
  psumIn: Float64Array;
}

export type CellStreams = Record<string, PeStream>;

export const RUN_LENGTH = 256;
/** Pairs sampled per (layer, cell). */
export const DEFAULT_STREAM_PAIRS = 32768;

export function sampleLayerStreams(l: QConvLayer, g: GemmOperands, cells: string[][], rows: number, pairs: number, seed = 1): CellStreams {
  const { K, P, a } = g;
  const next = xorshift32(seed);
  const rnd = (n: number) => next() % n;
  const out: CellStreams = {};
  // cells[f] splits filter f's K reduction indices evenly (mapping/place.ts cellGrid): one entry
  // per filter at filter level, one per input channel at kernel level.
  const seg = (f: number) => K / cells[f]!.length;
  const cellAt = (f: number, k: number) => cells[f]![Math.floor(k / seg(f))]!;
  for (const id of [...new Set(cells.flat())].sort()) {
    const slots = cells.flatMap((row, f) => row.flatMap((c, j) => (c === id ? [[f, j] as const] : [])));
    const sa = new Uint8Array(pairs);
    const sb = new Uint8Array(pairs);
    const ps = new Float64Array(pairs);
    const run = Math.min(RUN_LENGTH, P);
    for (let i = 0; i < pairs; ) {
      const [f, j] = slots[rnd(slots.length)]!;
      const k = j * seg(f) + rnd(seg(f));
      const p0 = rnd(P - run + 1);
      const k0 = k - (k % rows);
      const b = l.weights[f * K + k]! & 0xff;
      // The rows above in the fold: each through its own weight's cell.
      const above = Array.from({ length: k - k0 }, (_, d) => productTable(cellAt(f, k0 + d)));
      for (let jj = 0; jj < run && i < pairs; jj++, i++) {
        const p = p0 + jj;
        let s = 0;
        for (let kk = k0; kk < k; kk++) s += above[kk - k0]![(a[kk * P + p]! << 8) | (l.weights[f * K + kk]! & 0xff)]!;
        sa[i] = a[k * P + p]!;
        sb[i] = b;
        ps[i] = s;
      }
    }
    out[id] = { a: sa, b: sb, psumIn: ps };
  }
  return out;
}

/**
 * What the multiplier's ports see in a zero-skipping PE (templates/array/pe.sv.hbs, `a_mul`):
 * the activation is held at 0 while the stationary weight code is 0, so the cell sees the
 * constant pair (0, 0) for the whole run instead of the streaming activations.
 */
export function isolatedStream(s: PeStream): PeStream {
  const a = Uint8Array.from(s.a, (x, i) => (s.b[i] === 0 ? 0 : x));
  return { a, b: s.b, psumIn: s.psumIn };
}

/** Output rows sampled per layer for the accumulator's energy. */
export const DEFAULT_ACC_ROWS = 4096;

/**
 * What a tile's accumulators see: output rows of C psum words (filters n0..n0+C-1, zero past N,
 * of consecutive output positions; runs over seeded random N-folds and starting positions),
 * wrapped to psumBits, from the layer's accumulators acc[o * P + p]. These are final sums; the
 * K-fold partial sums the accumulators also add have the same kind of words, so the energy
 * flow uses the rows as both the arriving row and the stored partial sum (docs/run.md).
 */
export function sampleAccumulatorRows(
  acc: Int32Array,
  P: number,
  N: number,
  C: number,
  psumBits: number,
  rows: number,
  sums: Int32Array,
  seed = 1,
): { rows: Uint32Array; v: Int32Array } {
  const next = xorshift32(seed);
  const nFolds = Math.ceil(N / C);
  const mask = 2 ** psumBits - 1; // as an int32 operand of & this is -1 (all bits) for 32
  const out = new Uint32Array(rows * C);
  // Each row's activation sum (the control-variate lane, docs/cv.md), per output position.
  const v = new Int32Array(rows);
  const run = Math.min(RUN_LENGTH, P);
  for (let i = 0; i < rows; ) {
    const n0 = (next() % nFolds) * C;
    const p0 = next() % (P - run + 1);
    for (let j = 0; j < run && i < rows; j++, i++) {
      v[i] = sums[p0 + j]!;
      for (let c = 0; c < C && n0 + c < N; c++) out[i * C + c] = (acc[(n0 + c) * P + p0 + j]! & mask) >>> 0;
    }
  }
  return { rows: out, v };
}
