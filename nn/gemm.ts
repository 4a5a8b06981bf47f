import { multiplyByQuantizedMultiplier, roundingDivideByPOT } from './fixedpoint.ts';
import type { Shape } from './graph.ts';
import { nativeKernels, splitBank, uninitBytes, uninitInt32 } from './native-load.ts';
import type { QConvLayer, Scheme } from './qmodel.ts';
import { valueRange } from './qmodel.ts';

/**
 * A conv/dense layer in integers is exactly
 *
 *   acc[oc][p] = sum_k  CELL(a[k][p], w[oc][k])          <- GEMM of raw 8-bit codes through the cell
 *              - zw * sumA[p] - za * weightSum[oc] + K * za * zw    <- exact zero-point correction
 *              + bias[oc]                                           <- int32
 *   out        = clamp(zo + MultiplyByQuantizedMultiplier(acc, M[oc], shift[oc]))  (+ ReLU clamp at zo)
 *
 * `lowerLayerToGemm` builds the code matrix (im2col, padding = the input zero point),
 * `gemmLut` runs the GEMM through per-(oc, k) LUT rows, `finishLayer` does the rest. The RTL flow
 * replaces `gemmLut` with the systolic array and reuses the other two unchanged.
 */

/** im2col result for `batch` images: a[k * P + col], col = image * positions + (oy * OW + ox). */
export interface GemmOperands {
  K: number;
  /** Columns = batch * positions. */
  P: number;
  positions: number;
  batch: number;
  /** Raw activation codes, K x P, row-major. */
  a: Uint8Array;
  /** Per column: sum over k of activation VALUES (only needed when weightZero != 0). */
  sumA: Int32Array | undefined;
}

/*
 * Each public kernel runs natively when the addon is loaded (nn/native.ts) and otherwise in JS;
 * the JS versions (`...Js`) are the reference the native ones are tested against bit for bit.
 */
export function lowerLayerToGemm(l: QConvLayer, x: Uint8Array, inShape: Shape, outShape: Shape, batch: number, inputZero: number): GemmOperands {
  const n = nativeKernels();
  if (!n) return lowerLayerToGemmJs(l, x, inShape, outShape, batch, inputZero);
  const positions = outShape.h * outShape.w;
  const P = batch * positions;
  // The native kernels write every element: no zero-fill needed (see uninitBytes).
  const a = uninitBytes(l.K * P);
  const sumA = l.weightZero !== 0 ? uninitInt32(P) : undefined;
  const dims = Int32Array.of(
    l.ic,
    l.kh,
    l.kw,
    inShape.h,
    inShape.w,
    outShape.h,
    outShape.w,
    l.stride[0],
    l.stride[1],
    l.pads[0],
    l.pads[1],
    batch,
    inputZero & 0xff,
  );
  n.im2col(x, a, sumA ?? null, dims);
  return { K: l.K, P, positions, batch, a, sumA };
}

export function lowerLayerToGemmJs(l: QConvLayer, x: Uint8Array, inShape: Shape, outShape: Shape, batch: number, inputZero: number): GemmOperands {
  const positions = outShape.h * outShape.w;
  const P = batch * positions;
  const K = l.K;
  const a = new Uint8Array(K * P);
  const padCode = inputZero & 0xff;
  const inSize = inShape.c * inShape.h * inShape.w;
  const { h: IH, w: IW } = inShape;
  const { h: OH, w: OW } = outShape;
  const [sy, sx] = l.stride;
  const [pt, pl] = l.pads;
  let k = 0;
  for (let c = 0; c < l.ic; c++)
    for (let ky = 0; ky < l.kh; ky++)
      for (let kx = 0; kx < l.kw; kx++, k++) {
        const row = k * P;
        // Output columns whose input column ix = ox*sx - pl + kx lies inside the image.
        const oxLo = Math.min(OW, Math.max(0, Math.ceil((pl - kx) / sx)));
        const oxHi = Math.max(oxLo, Math.min(OW, Math.floor((IW - 1 + pl - kx) / sx) + 1));
        for (let b = 0; b < batch; b++) {
          const xb = b * inSize + c * IH * IW;
          const col0 = row + b * positions;
          for (let oy = 0; oy < OH; oy++) {
            const iy = oy * sy - pt + ky;
            const dst = col0 + oy * OW;
            if (iy < 0 || iy >= IH) {
              // Rows are short: explicit loops beat fill() call overhead here.
              for (let ox = 0; ox < OW; ox++) a[dst + ox] = padCode;
              continue;
            }
            for (let ox = 0; ox < oxLo; ox++) a[dst + ox] = padCode;
            for (let ox = oxHi; ox < OW; ox++) a[dst + ox] = padCode;
            const src = xb + iy * IW - pl + kx;
            if (sx === 1) for (let ox = oxLo; ox < oxHi; ox++) a[dst + ox] = x[src + ox]!;
            else for (let ox = oxLo; ox < oxHi; ox++) a[dst + ox] = x[src + ox * sx]!;
          }
        }
      }
  let sumA: Int32Array | undefined;
  if (l.weightZero !== 0) {
    // Decode codes back to values (uint8 in the unsigned scheme, where weightZero != 0).
    sumA = new Int32Array(P);
    for (let kk = 0; kk < K; kk++) {
      const row = kk * P;
      for (let p = 0; p < P; p++) sumA[p]! += a[row + p]!;
    }
  }
  return { K, P, positions, batch, a, sumA };
}

/**
 * The LUT bank: one or more cells' product tables, each TRANSPOSED to [b][a] (for a fixed
 * weight code b the 256 products over a are one contiguous row). rowOffset[oc * K + k] =
 * cellIndex * 65536 + weightCode * 256 selects the row for that multiply; this encodes layer,
 * filter and kernel granularity alike.
 */
export function gemmLut(rowOffset: Int32Array, table: Int32Array, g: GemmOperands, oc: number): Int32Array {
  const n = nativeKernels();
  if (!n) return gemmLutJs(rowOffset, table, g, oc);
  const acc = uninitInt32(oc * g.P);
  const bank = splitBank(table);
  n.gemmLut(table, bank?.bytes ?? null, bank?.offset ?? 0, rowOffset, g.a, acc, g.K, g.P, oc);
  return acc;
}

export function gemmLutJs(rowOffset: Int32Array, table: Int32Array, g: GemmOperands, oc: number): Int32Array {
  const { K, P, a } = g;
  // Pad the output channels to a multiple of 8 so every pass takes the fast 8-channel kernel;
  // padded rows read row 0 of the bank and their sums are dropped.
  const ocPad = Math.ceil(oc / 8) * 8;
  let ro = rowOffset;
  if (ocPad !== oc) {
    ro = new Int32Array(ocPad * K);
    ro.set(rowOffset.subarray(0, oc * K));
  }
  const acc = new Int32Array(ocPad * P);
  // Position blocks keep the activation rows and accumulators of one pass in cache.
  for (let p0 = 0; p0 < P; p0 += POSITION_BLOCK) {
    const p1 = Math.min(P, p0 + POSITION_BLOCK);
    for (let o = 0; o < ocPad; o += 8) lutPass8(ro, table, a, acc, K, P, o, p0, p1);
  }
  return ocPad === oc ? acc : acc.slice(0, oc * P);
}

const POSITION_BLOCK = 4096;

/*
 * Eight output channels x four k per pass: each activation load feeds 8 lookups and each
 * accumulator read-modify-write absorbs 4 products. Measured in V8 (cpu time, loaded machine):
 * 8 oc x 1 k 0.85, 8 x 2 1.16, 8 x 4 1.93 G lookups/s. No closures, monomorphic typed arrays.
 */
function lutPass8(ro: Int32Array, table: Int32Array, a: Uint8Array, acc: Int32Array, K: number, P: number, o: number, p0: number, p1: number): void {
  const P2 = 2 * P,
    P3 = 3 * P,
    P4 = 4 * P,
    P5 = 5 * P,
    P6 = 6 * P,
    P7 = 7 * P;
  const base = o * P;
  const o0 = o * K,
    o1 = o0 + K,
    o2 = o1 + K,
    o3 = o2 + K,
    o4 = o3 + K,
    o5 = o4 + K,
    o6 = o5 + K,
    o7 = o6 + K;
  let k = 0;
  for (; k + 3 < K; k += 4) {
    const r0 = ro[o0 + k]!,
      r1 = ro[o1 + k]!,
      r2 = ro[o2 + k]!,
      r3 = ro[o3 + k]!,
      r4 = ro[o4 + k]!,
      r5 = ro[o5 + k]!,
      r6 = ro[o6 + k]!,
      r7 = ro[o7 + k]!;
    const s0 = ro[o0 + k + 1]!,
      s1 = ro[o1 + k + 1]!,
      s2 = ro[o2 + k + 1]!,
      s3 = ro[o3 + k + 1]!,
      s4 = ro[o4 + k + 1]!,
      s5 = ro[o5 + k + 1]!,
      s6 = ro[o6 + k + 1]!,
      s7 = ro[o7 + k + 1]!;
    const t0 = ro[o0 + k + 2]!,
      t1 = ro[o1 + k + 2]!,
      t2 = ro[o2 + k + 2]!,
      t3 = ro[o3 + k + 2]!,
      t4 = ro[o4 + k + 2]!,
      t5 = ro[o5 + k + 2]!,
      t6 = ro[o6 + k + 2]!,
      t7 = ro[o7 + k + 2]!;
    const u0 = ro[o0 + k + 3]!,
      u1 = ro[o1 + k + 3]!,
      u2 = ro[o2 + k + 3]!,
      u3 = ro[o3 + k + 3]!,
      u4 = ro[o4 + k + 3]!,
      u5 = ro[o5 + k + 3]!,
      u6 = ro[o6 + k + 3]!,
      u7 = ro[o7 + k + 3]!;
    const ra = k * P,
      rb = ra + P,
      rc = rb + P,
      rd = rc + P;
    for (let p = p0; p < p1; p++) {
      const av = a[ra + p]!,
        bv = a[rb + p]!,
        cv = a[rc + p]!,
        dv = a[rd + p]!;
      const q = base + p;
      acc[q]! += table[r0 + av]! + table[s0 + bv]! + table[t0 + cv]! + table[u0 + dv]!;
      acc[q + P]! += table[r1 + av]! + table[s1 + bv]! + table[t1 + cv]! + table[u1 + dv]!;
      acc[q + P2]! += table[r2 + av]! + table[s2 + bv]! + table[t2 + cv]! + table[u2 + dv]!;
      acc[q + P3]! += table[r3 + av]! + table[s3 + bv]! + table[t3 + cv]! + table[u3 + dv]!;
      acc[q + P4]! += table[r4 + av]! + table[s4 + bv]! + table[t4 + cv]! + table[u4 + dv]!;
      acc[q + P5]! += table[r5 + av]! + table[s5 + bv]! + table[t5 + cv]! + table[u5 + dv]!;
      acc[q + P6]! += table[r6 + av]! + table[s6 + bv]! + table[t6 + cv]! + table[u6 + dv]!;
      acc[q + P7]! += table[r7 + av]! + table[s7 + bv]! + table[t7 + cv]! + table[u7 + dv]!;
    }
  }
  for (; k < K; k++) {
    const r0 = ro[o0 + k]!,
      r1 = ro[o1 + k]!,
      r2 = ro[o2 + k]!,
      r3 = ro[o3 + k]!,
      r4 = ro[o4 + k]!,
      r5 = ro[o5 + k]!,
      r6 = ro[o6 + k]!,
      r7 = ro[o7 + k]!;
    const row = k * P;
    for (let p = p0; p < p1; p++) {
      const av = a[row + p]!;
      const q = base + p;
      acc[q]! += table[r0 + av]!;
      acc[q + P]! += table[r1 + av]!;
      acc[q + P2]! += table[r2 + av]!;
      acc[q + P3]! += table[r3 + av]!;
      acc[q + P4]! += table[r4 + av]!;
      acc[q + P5]! += table[r5 + av]!;
      acc[q + P6]! += table[r6 + av]!;
      acc[q + P7]! += table[r7 + av]!;
    }
  }
}

/**
 * Exact int8 x int8 / uint8 x uint8 GEMM with real multiplies (no LUT): the reference the exact
 * cell's LUT path must match, and the "exact int8" speed baseline. Same 8 x 4 blocking as gemmLut.
 */
export function gemmExact(l: QConvLayer, g: GemmOperands, scheme: Scheme): Int32Array {
  const n = nativeKernels();
  if (!n) return gemmExactJs(l, g, scheme);
  const acc = uninitInt32(l.oc * g.P);
  n.gemmExact(l.weights, g.a, scheme === 'signed' ? 1 : 0, acc, g.K, g.P, l.oc);
  return acc;
}

export function gemmExactJs(l: QConvLayer, g: GemmOperands, scheme: Scheme): Int32Array {
  const { K, P, a } = g;
  const acc = new Int32Array(l.oc * P);
  // Signed codes read through an Int8Array view are the int8 values.
  const av: Int8Array | Uint8Array = scheme === 'signed' ? new Int8Array(a.buffer, a.byteOffset, a.length) : a;
  const w = new Int32Array(l.weights);
  let o = 0;
  for (; o + 7 < l.oc; o += 8) mulPass8(w, av, acc, K, P, o);
  for (; o < l.oc; o++) {
    const base = o * P;
    for (let k = 0; k < K; k++) {
      const wk = w[o * K + k]!;
      const row = k * P;
      for (let p = 0; p < P; p++) acc[base + p]! += wk * av[row + p]!;
    }
  }
  return acc;
}

function mulPass8(w: Int32Array, a: Int8Array | Uint8Array, acc: Int32Array, K: number, P: number, o: number): void {
  const base = o * P;
  for (let j = 0; j < 8; j++) {
    // Per channel, four k at a time (accumulators stay exact: |sum| < 2^31 for K <= 2^15).
    const ob = (o + j) * K;
    const qb = base + j * P;
    let k = 0;
    for (; k + 3 < K; k += 4) {
      const w0 = w[ob + k]!,
        w1 = w[ob + k + 1]!,
        w2 = w[ob + k + 2]!,
        w3 = w[ob + k + 3]!;
      const ra = k * P,
        rb = ra + P,
        rc = rb + P,
        rd = rc + P;
      for (let p = 0; p < P; p++) acc[qb + p]! += w0 * a[ra + p]! + w1 * a[rb + p]! + w2 * a[rc + p]! + w3 * a[rd + p]!;
    }
    for (; k < K; k++) {
      const wk = w[ob + k]!;
      const row = k * P;
      for (let p = 0; p < P; p++) acc[qb + p]! += wk * a[row + p]!;
    }
  }
}

/**
 * Correction + bias + requantization + (fused) ReLU; returns output CODES laid out
 * [image][oc][positions]. If `logits` is given, also writes the real-valued accumulators
 * (acc * inputScale * weightScale[oc]) there: the classifier's argmax uses them.
 */
export function finishLayer(
  l: QConvLayer,
  acc: Int32Array,
  g: GemmOperands,
  inputZero: number,
  outputZero: number,
  scheme: Scheme,
  logits?: { out: Float64Array; inputScale: number },
): Uint8Array {
  const n = nativeKernels();
  // The classifier layer (logits) is tiny: it stays in JS.
  if (!n || logits) return finishLayerJs(l, acc, g, inputZero, outputZero, scheme, logits);
  const out = uninitBytes(g.batch * l.oc * g.positions);
  const [qmin0, qmax] = valueRange(scheme);
  const qmin = l.relu ? Math.max(qmin0, outputZero) : qmin0;
  const dims = Int32Array.of(l.oc, g.positions, g.batch, l.weightZero, outputZero, qmin, qmax);
  n.finish(acc, g.sumA ?? null, out, l.multiplier, l.shift, layerConstant(l, inputZero), dims);
  return out;
}

/** Per output channel: bias - za * weightSum + K * za * zw (exact integers in doubles). */
const constants = new WeakMap<QConvLayer, { inputZero: number; c: Float64Array }>();
function layerConstant(l: QConvLayer, inputZero: number): Float64Array {
  const hit = constants.get(l);
  if (hit && hit.inputZero === inputZero) return hit.c;
  const kzz = l.K * inputZero * l.weightZero;
  const c = new Float64Array(l.oc);
  for (let o = 0; o < l.oc; o++) c[o] = l.bias[o]! - inputZero * l.weightSum[o]! + kzz;
  constants.set(l, { inputZero, c });
  return c;
}

export function finishLayerJs(
  l: QConvLayer,
  acc: Int32Array,
  g: GemmOperands,
  inputZero: number,
  outputZero: number,
  scheme: Scheme,
  logits?: { out: Float64Array; inputScale: number },
): Uint8Array {
  const { P, positions, batch } = g;
  const out = new Uint8Array(batch * l.oc * positions);
  const [qmin0, qmax] = valueRange(scheme);
  const qmin = l.relu ? Math.max(qmin0, outputZero) : qmin0;
  const kzz = l.K * inputZero * l.weightZero;
  for (let o = 0; o < l.oc; o++) {
    const M = l.multiplier[o]!;
    const sh = l.shift[o]!;
    const constant = l.bias[o]! - inputZero * l.weightSum[o]! + kzz;
    const zw = l.weightZero;
    const sumA = g.sumA;
    const base = o * P;
    const realScale = logits ? logits.inputScale * l.weightScale[o]! : 0;
    for (let img = 0; img < batch; img++) {
      const src = base + img * positions;
      const dst = (img * l.oc + o) * positions;
      for (let pos = 0; pos < positions; pos++) {
        const p = img * positions + pos;
        const v = acc[src + pos]! + constant - (sumA ? zw * sumA[p]! : 0);
        let r: number;
        if (sh <= 0 && v < 4194304 && v > -4194304) {
          // Inlined MultiplyByQuantizedMultiplier for the usual case (exact in doubles, same result).
          const prod = v * M;
          const hi = prod >= 0 ? Math.trunc((prod + 1073741824) / 2147483648) : Math.trunc((prod + 1 - 1073741824) / 2147483648);
          r = roundingDivideByPOT(hi | 0, -sh);
        } else r = multiplyByQuantizedMultiplier(v, M, sh);
        let y = outputZero + r;
        y = y < qmin ? qmin : Math.min(y, qmax);
        out[dst + pos] = y & 0xff;
        if (logits) logits.out[dst + pos] = v * realScale;
      }
    }
  }
  return out;
}
