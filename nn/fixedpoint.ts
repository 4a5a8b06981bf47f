/**
 * Integer requantization, gemmlowp / TFLite convention (bit-exact with
 * `MultiplyByQuantizedMultiplier` in tensorflow/lite/kernels/internal/common.h):
 *
 *   real multiplier M = M0 * 2^-31 * 2^shift,  M0 in [2^30, 2^31)   (QuantizeMultiplier, via frexp)
 *   y = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^max(shift,0), M0), max(-shift,0))
 *
 * SaturatingRoundingDoublingHighMul(a, b) = (a*b + nudge) / 2^31 truncated toward zero, with
 * nudge = 2^30 if a*b >= 0 else 1 - 2^30 (round half away from zero); saturates only for
 * a = b = INT32_MIN. RoundingDivideByPOT(x, e) is an arithmetic shift right by e that rounds
 * half away from zero. JS numbers are exact to 2^53, so the 62-bit product is split in two.
 */

const TWO31 = 2147483648;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

export interface QuantizedMultiplier {
  /** Q0.31 mantissa in [2^30, 2^31), or 0 for a zero multiplier. */
  multiplier: number;
  /** Power-of-two exponent: > 0 shifts left before the multiply, < 0 rounds right after it. */
  shift: number;
}

/** TFLite QuantizeMultiplier: M = multiplier * 2^(shift - 31). */
export function quantizeMultiplier(real: number): QuantizedMultiplier {
  if (!(real >= 0) || !Number.isFinite(real)) throw new Error(`requantization multiplier must be finite and >= 0, got ${real}`);
  if (real === 0) return { multiplier: 0, shift: 0 };
  // frexp: real = q * 2^e with q in [0.5, 1)
  let e = Math.floor(Math.log2(real)) + 1;
  let q = real / 2 ** e;
  if (q >= 1) {
    q /= 2;
    e += 1;
  }
  if (q < 0.5) {
    q *= 2;
    e -= 1;
  }
  let m = Math.round(q * TWO31);
  if (m === TWO31) {
    m /= 2;
    e += 1;
  }
  // Below 2^-31 the result rounds to zero for every int32 input (TFLite does the same).
  if (e < -31) return { multiplier: 0, shift: 0 };
  if (e > 30) throw new Error(`requantization multiplier ${real} too large`);
  return { multiplier: m, shift: e };
}

export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const p = a * b;
  if (p > -9007199254740992 && p < 9007199254740992 && Math.abs(a) < 4194304) {
    // |a| < 2^22 and |b| < 2^31: the product and the nudged sum are exact doubles.
    const s = p >= 0 ? p + 1073741824 : p + 1 - 1073741824;
    return Math.trunc(s / TWO31) | 0; // | 0: int32, and no -0
  }
  // Exact path: a*b = hi * 2^16 + lo with |hi|,|lo| < 2^47; hi = hq * 2^15 + hr.
  const bh = Math.floor(b / 65536);
  const bl = b - bh * 65536;
  const hi = a * bh;
  const lo = a * bl;
  const hq = Math.floor(hi / 32768);
  const hr = hi - hq * 32768;
  const nudge = a >= 0 === b >= 0 || a === 0 || b === 0 ? 1073741824 : 1 - 1073741824;
  const rem = hr * 65536 + lo + nudge; // exact: |rem| < 2^48
  const rq = Math.floor(rem / TWO31);
  const r = rem - rq * TWO31; // in [0, 2^31)
  let f = hq + rq; // floor((a*b + nudge) / 2^31)
  if (f < 0 && r !== 0) f += 1; // C++ integer division truncates toward zero
  return f | 0;
}

export function roundingDivideByPOT(x: number, exponent: number): number {
  if (exponent === 0) return x;
  const mask = (1 << exponent) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

function saturateInt32(x: number): number {
  return x > INT32_MAX ? INT32_MAX : Math.max(x, INT32_MIN);
}

/** TFLite MultiplyByQuantizedMultiplier(x, multiplier, shift) on an int32 x. */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number): number {
  const left = Math.max(shift, 0);
  const right = shift > 0 ? 0 : -shift;
  const xs = left ? saturateInt32(x * 2 ** left) : x;
  return roundingDivideByPOT(saturatingRoundingDoublingHighMul(xs, multiplier), right);
}
