/** Ranks with ties averaged (1-based), as Spearman's rho requires. */
export function ranks(xs: number[]): number[] {
  const idx = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]![1]] = avg;
    i = j + 1;
  }
  return r;
}

export function pearson(x: number[], y: number[]): number {
  if (x.length !== y.length || x.length < 2) throw new Error('pearson: need two equal-length series of >= 2 values');
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return 0;
  return sxy / Math.sqrt(sxx * syy);
}

/** Spearman rank correlation: how well one ranking (e.g. XAI criticality) predicts another. */
export function spearman(x: number[], y: number[]): number {
  return pearson(ranks(x), ranks(y));
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/**
 * Accuracy loss of a candidate vs a reference on the SAME images, from per-image correctness
 * (1 = correct): d_i = ref_i - cand_i. Pairing cancels the image-sampling noise both designs share
 * (most images are right or wrong for both), so the bound is far tighter than comparing two
 * accuracies. `upper`/`lower` are one-sided normal bounds at confidence `conf` on the mean of d.
 */
export interface PairedLoss {
  images: number;
  loss: number;
  se: number;
  upper: number;
  lower: number;
  /** Images where exactly one of the two designs is right. */
  discordant: number;
}

export function pairedLoss(ref: Uint8Array, cand: Uint8Array, conf: number): PairedLoss {
  const n = Math.min(ref.length, cand.length);
  if (n === 0) throw new Error('pairedLoss: no images');
  let sum = 0;
  let disc = 0;
  for (let i = 0; i < n; i++) {
    const d = ref[i]! - cand[i]!;
    sum += d;
    if (d !== 0) disc++;
  }
  const mean = sum / n;
  // d is in {-1, 0, 1}: sum of squares = discordant count.
  const variance = n > 1 ? (disc - n * mean * mean) / (n - 1) : 0;
  const se = Math.sqrt(Math.max(0, variance) / n);
  const z = conf <= 0.5 ? 0 : normalQuantile(conf);
  return { images: n, loss: mean, se, upper: mean + z * se, lower: mean - z * se, discordant: disc };
}

/** Kendall's tau-b (ties in either series handled): the share of concordant minus discordant pairs. */
export function kendall(x: number[], y: number[]): number {
  if (x.length !== y.length || x.length < 2) throw new Error('kendall: need two equal-length series of >= 2 values');
  let conc = 0;
  let disc = 0;
  let tx = 0;
  let ty = 0;
  for (let i = 0; i < x.length; i++)
    for (let j = i + 1; j < x.length; j++) {
      const a = Math.sign(x[i]! - x[j]!);
      const b = Math.sign(y[i]! - y[j]!);
      if (a === 0 && b === 0) continue;
      if (a === 0) tx++;
      else if (b === 0) ty++;
      else if (a === b) conc++;
      else disc++;
    }
  const d = Math.sqrt((conc + disc + tx) * (conc + disc + ty));
  return d === 0 ? 0 : (conc - disc) / d;
}

/** Percentile interval [lo, hi] of `values` at two-sided `level` (e.g. 0.9 -> 5th and 95th percentile). */
export function percentileInterval(values: number[], level: number): [number, number] {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return [Number.NaN, Number.NaN];
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
  return [at((1 - level) / 2), at((1 + level) / 2)];
}
