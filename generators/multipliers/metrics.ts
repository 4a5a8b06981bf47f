/**
 * EvoApproxLib error metrics over all 2^(2N) operand pairs (definitions: docs/conventions.md, Error metrics), e = approx - exact.
 * Percentages are relative to 2^(2N) (2^16 for 8x8 cells).
 */
export interface CellMetrics {
  pairs: number;
  mae: number;
  maePct: number;
  wce: number;
  wcePct: number;
  mrePct: number;
  wcrePct: number;
  epPct: number;
  mse: number;
  bias: number;
}

/** `products[(a << N) | b]` are the approximate products as numbers. */
export function computeMetrics(products: Int32Array, bits: number, signed: boolean): CellMetrics {
  const N = bits;
  const size = 1 << N;
  const pairs = size * size;
  const half = size >> 1;
  let sumAbs = 0;
  let wce = 0;
  let sumRel = 0;
  let nRel = 0;
  let wcre = 0;
  let nErr = 0;
  let sumSq = 0;
  let sum = 0;
  for (let a = 0; a < size; a++) {
    const av = signed && a >= half ? a - size : a;
    const base = a << N;
    for (let b = 0; b < size; b++) {
      const bv = signed && b >= half ? b - size : b;
      const exact = av * bv;
      const e = products[base | b]! - exact;
      if (e === 0) continue;
      const ae = e < 0 ? -e : e;
      sumAbs += ae;
      sum += e;
      sumSq += e * e;
      nErr++;
      if (ae > wce) wce = ae;
      if (exact !== 0) {
        const rel = ae / Math.abs(exact);
        sumRel += rel;
        if (rel > wcre) wcre = rel;
      }
    }
  }
  // Relative error is averaged over all pairs with a non-zero exact product (errors or not).
  for (let a = 0; a < size; a++) {
    const av = signed && a >= half ? a - size : a;
    if (av !== 0) nRel += size - 1; // b = 0 gives exact 0
  }
  const scale = pairs / 100;
  return {
    pairs,
    mae: sumAbs / pairs,
    maePct: sumAbs / pairs / scale,
    wce,
    wcePct: wce / scale,
    mrePct: nRel ? (sumRel / nRel) * 100 : 0,
    wcrePct: wcre * 100,
    epPct: (nErr / pairs) * 100,
    mse: sumSq / pairs,
    bias: sum / pairs,
  };
}
