/**
 * Statistical timing-error models of one output word at one voltage, fitted from timed
 * simulation (docs/vos.md, "Error models"). Every model is a distribution of the captured word
 * given the correct one, so their held-out log-likelihoods compare directly:
 *
 * - `rate-histogram`: P(wrong) and, when wrong, the signed error (captured - correct, wrapped to
 *   the word as two's complement) drawn from the training histogram (add-one smoothing over
 *   the seen values, a small mass for unseen values spread over the rest of the word).
 * - `bit-flip`: every bit flips independently with its own probability.
 * - `conditional`: b-HiVE style: per-bit flip probabilities given how many input bits toggled
 *   into the operation (buckets of TOGGLE_BUCKET bits); a bucket seen too rarely borrows the
 *   unconditional probabilities.
 * Probabilities are clamped to [EPS, 1 - EPS] so a held-out event never scores -infinity.
 */
export interface ErrorObservation {
  /** Correct and captured word (uint, `bits` wide). */
  correct: number;
  captured: number;
  /** Input bits that toggled into this operation. */
  toggles: number;
}

export const EPS = 1e-6;
export const TOGGLE_BUCKET = 4;
/** Operations a toggle bucket needs before its own probabilities are used. */
export const MIN_BUCKET_OPS = 32;

export interface BitFlipModel {
  kind: 'bit-flip';
  /** P(bit i flips), LSB first. */
  p: number[];
}

export interface RateHistogramModel {
  kind: 'rate-histogram';
  pWrong: number;
  /** Signed error -> count (training set), errors sorted by value. */
  histogram: { error: number; count: number }[];
}

export interface ConditionalModel {
  kind: 'conditional';
  bucketBits: number;
  /** buckets[k]: operations with toggles in [k * bucketBits, (k + 1) * bucketBits): ops and per-bit P(flip). */
  buckets: { ops: number; p: number[] }[];
  /** The unconditional per-bit probabilities (rare buckets). */
  fallback: number[];
}

export type ErrorModel = BitFlipModel | RateHistogramModel | ConditionalModel;

const clamp = (p: number) => Math.min(1 - EPS, Math.max(EPS, p));

export function wrapSigned(x: number, bits: number): number {
  const v = wrapUnsigned(x, bits);
  return v >= 2 ** (bits - 1) ? v - 2 ** bits : v;
}

export function wrapUnsigned(x: number, bits: number): number {
  const m = 2 ** bits;
  return ((x % m) + m) % m;
}

export function signedError(o: ErrorObservation, bits: number): number {
  return wrapSigned(o.captured - o.correct, bits);
}

function flipMask(o: ErrorObservation): number {
  return (o.captured ^ o.correct) >>> 0;
}

function bitProbs(obs: ErrorObservation[], bits: number): number[] {
  const c = new Array<number>(bits).fill(0);
  for (const o of obs) {
    const m = flipMask(o);
    if (m) for (let i = 0; i < bits; i++) if ((m >>> i) & 1) c[i]!++;
  }
  return c.map((x) => (obs.length ? x / obs.length : 0));
}

export function fitBitFlip(obs: ErrorObservation[], bits: number): BitFlipModel {
  return { kind: 'bit-flip', p: bitProbs(obs, bits) };
}

export function fitRateHistogram(obs: ErrorObservation[], bits: number): RateHistogramModel {
  const h = new Map<number, number>();
  let wrong = 0;
  for (const o of obs) {
    if (o.captured === o.correct) continue;
    wrong++;
    const e = signedError(o, bits);
    h.set(e, (h.get(e) ?? 0) + 1);
  }
  return {
    kind: 'rate-histogram',
    pWrong: obs.length ? wrong / obs.length : 0,
    histogram: [...h.entries()].sort((a, b) => a[0] - b[0]).map(([error, count]) => ({ error, count })),
  };
}

export function fitConditional(obs: ErrorObservation[], bits: number, bucketBits = TOGGLE_BUCKET): ConditionalModel {
  const groups: ErrorObservation[][] = [];
  for (const o of obs) {
    const k = Math.floor(o.toggles / bucketBits);
    groups[k] ??= [];
    groups[k].push(o);
  }
  return {
    kind: 'conditional',
    bucketBits,
    buckets: Array.from(groups, (g) => ({ ops: g?.length ?? 0, p: bitProbs(g ?? [], bits) })),
    fallback: bitProbs(obs, bits),
  };
}

/** The conditional model's per-bit probabilities for an operation with `toggles` input bits toggled. */
export function conditionalProbs(m: ConditionalModel, toggles: number): number[] {
  const b = m.buckets[Math.floor(toggles / m.bucketBits)];
  return b && b.ops >= MIN_BUCKET_OPS ? b.p : m.fallback;
}

/** A signed error drawn from the rate-histogram model's histogram (given that the word is wrong). */
export function histogramError(m: RateHistogramModel, rand: () => number): number {
  let total = 0;
  for (const h of m.histogram) total += h.count;
  let u = rand() * total;
  for (const h of m.histogram) {
    u -= h.count;
    if (u < 0) return h.error;
  }
  return m.histogram[m.histogram.length - 1]!.error;
}

function bitLogLik(p: number[], mask: number): number {
  let ll = 0;
  for (let i = 0; i < p.length; i++) ll += Math.log((mask >>> i) & 1 ? clamp(p[i]!) : 1 - clamp(p[i]!));
  return ll;
}

/** Natural-log likelihood of one observation under a model of a `bits`-wide word. */
export function logLikelihood(m: ErrorModel, o: ErrorObservation, bits: number): number {
  if (m.kind === 'bit-flip') return bitLogLik(m.p, flipMask(o));
  if (m.kind === 'conditional') return bitLogLik(conditionalProbs(m, o.toggles), flipMask(o));
  const pw = clamp(m.pWrong);
  if (o.captured === o.correct) return Math.log(1 - pw);
  const e = signedError(o, bits);
  const total = m.histogram.reduce((s, x) => s + x.count, 0);
  const seen = m.histogram.find((x) => x.error === e)?.count;
  // Add-one over the seen values plus one share for "some unseen value", spread uniformly.
  const denom = total + m.histogram.length + 1;
  const pe = seen !== undefined ? (seen + 1) / denom : 1 / denom / Math.max(1, 2 ** bits - 1 - m.histogram.length);
  return Math.log(pw) + Math.log(pe);
}

export interface ModelChoice {
  models: { 'bit-flip': BitFlipModel; 'rate-histogram': RateHistogramModel; conditional: ConditionalModel };
  /** Mean held-out log-likelihood per operation (nats) of each model. */
  heldOutLogLik: Record<ErrorModel['kind'], number>;
  best: ErrorModel['kind'];
  trainOps: number;
  testOps: number;
}

/**
 * Fit every model on the even-numbered operations, score them on the odd ones (held out), pick
 * the best, then refit all on every operation (the saved models use all the data).
 */
export function fitAndChoose(obs: ErrorObservation[], bits: number): ModelChoice {
  const train = obs.filter((_, i) => i % 2 === 0);
  const test = obs.filter((_, i) => i % 2 === 1);
  const fits = (o: ErrorObservation[]) => ({
    'bit-flip': fitBitFlip(o, bits),
    'rate-histogram': fitRateHistogram(o, bits),
    conditional: fitConditional(o, bits),
  });
  const trained = fits(train);
  const heldOutLogLik = Object.fromEntries(
    Object.entries(trained).map(([k, m]) => [k, test.length ? test.reduce((s, o) => s + logLikelihood(m, o, bits), 0) / test.length : 0]),
  ) as Record<ErrorModel['kind'], number>;
  const order: ErrorModel['kind'][] = ['rate-histogram', 'bit-flip', 'conditional'];
  const best = order.reduce((a, b) => (heldOutLogLik[b] > heldOutLogLik[a] ? b : a));
  return { models: fits(obs), heldOutLogLik, best, trainOps: train.length, testOps: test.length };
}
