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
 * - `adder-signs` (a PE's psum word only): P(wrong) given the signs at the psum adder (psum_in,
 *   product, sum) of this operation and the previous one, and the flip mask given this
 *   operation's signs. Why: on LeNet-5 streams the captured word goes wrong only when psum_in
 *   and the product have opposite signs (the carry runs through the upper bits, whose sum bits
 *   glitch until it arrives) and then its top bits flip; which operations those are depends on
 *   the operands, so errors concentrate in particular images and outputs (docs/vos.md).
 * Probabilities are clamped to [EPS, 1 - EPS] so a held-out event never scores -infinity.
 */
export interface ErrorObservation {
  /** Correct and captured word (uint, `bits` wide). */
  correct: number;
  captured: number;
  /** Input bits that toggled into this operation. */
  toggles: number;
  /**
   * Adder sign classes (`adderSigns`) of this operation and the previous one, `this * 16 + prev`
   * (prev = NEW_WEIGHT: the operation is the first with a newly loaded weight, or has no
   * predecessor); undefined when the word is not a psum adder's (a cell alone).
   */
  signs?: number;
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

/**
 * Shrinkage of the adder-signs rates: a pair's rate is (wrong + PRIOR_OPS x its class's rate) /
 * (ops + PRIOR_OPS), a class's likewise towards the overall rate, so rarely seen pairs and
 * classes lean on the wider estimate.
 */
export const PRIOR_OPS = 200;
/**
 * The "previous class" of an operation that is the first with a newly loaded weight (a run's or
 * K-fold's first; or without a predecessor): its own context, because the multiplier's output
 * moves most then (on LeNet-5's dense-layer streams ~10x the error rate of the same sign class).
 */
export const NEW_WEIGHT = 8;

export interface AdderSignsModel {
  kind: 'adder-signs';
  /**
   * Per sign class of the operation (8, `adderSigns`): operations, wrong ones, and the flip masks
   * (captured XOR correct) of the wrong ones with their counts.
   */
  classes: { ops: number; wrong: number; masks: { mask: number; count: number }[] }[];
  /** Per (class of this operation) * 9 + class of the previous one or NEW_WEIGHT (72): operations and wrong ones. */
  pairs: { ops: number; wrong: number }[];
}

export type ErrorModel = BitFlipModel | RateHistogramModel | ConditionalModel | AdderSignsModel;

/**
 * Sign class of a psum addition sum = psumIn + product in a `bits`-wide two's complement word:
 * bit 2 psum_in < 0, bit 1 product < 0, bit 0 sum < 0 (product = sum - psumIn, wrapped).
 */
export function adderSigns(psumIn: number, sum: number, bits: number): number {
  // No closure here: injection calls this per candidate operation.
  const half = 2 ** (bits - 1);
  return (wrapUnsigned(psumIn, bits) >= half ? 4 : 0) | (wrapUnsigned(sum - psumIn, bits) >= half ? 2 : 0) | (wrapUnsigned(sum, bits) >= half ? 1 : 0);
}

/** `ErrorObservation.signs` of an operation given its sign class and the previous one's (or NEW_WEIGHT). */
export const signsPair = (own: number, prev: number) => (own << 4) | prev;

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

export function fitAdderSigns(obs: ErrorObservation[]): AdderSignsModel {
  const classes = Array.from({ length: 8 }, () => ({ ops: 0, wrong: 0, masks: new Map<number, number>() }));
  const pairs = Array.from({ length: 72 }, () => ({ ops: 0, wrong: 0 }));
  for (const o of obs) {
    if (o.signs === undefined) throw new Error('adder-signs model: observation without adder signs');
    const c = o.signs >> 4;
    const wrong = o.captured !== o.correct ? 1 : 0;
    classes[c]!.ops++;
    classes[c]!.wrong += wrong;
    if (wrong) classes[c]!.masks.set(flipMask(o), (classes[c]!.masks.get(flipMask(o)) ?? 0) + 1);
    const pair = pairs[c * 9 + (o.signs & 15)]!;
    pair.ops++;
    pair.wrong += wrong;
  }
  return {
    kind: 'adder-signs',
    classes: classes.map((c) => ({
      ops: c.ops,
      wrong: c.wrong,
      masks: [...c.masks.entries()].sort((a, b) => a[0] - b[0]).map(([mask, count]) => ({ mask, count })),
    })),
    pairs,
  };
}

/**
 * P(wrong) of an operation under the adder-signs model: its (class, previous class) pair's
 * frequency shrunk towards its class's, itself shrunk towards the overall one (PRIOR_OPS).
 */
export function adderSignsRate(m: AdderSignsModel, signs: number): number {
  let ops = 0;
  let wrong = 0;
  for (const x of m.classes) {
    ops += x.ops;
    wrong += x.wrong;
  }
  const all = ops ? wrong / ops : 0;
  const cl = m.classes[signs >> 4]!;
  const pc = (cl.wrong + PRIOR_OPS * all) / (cl.ops + PRIOR_OPS);
  const pair = m.pairs[(signs >> 4) * 9 + (signs & 15)]!;
  return (pair.wrong + PRIOR_OPS * pc) / (pair.ops + PRIOR_OPS);
}

/** The flip masks a wrong operation of sign class `c` draws from: its class's, or every class's when it has none. */
export function adderSignsMasks(m: AdderSignsModel, c: number): { mask: number; count: number }[] {
  const own = m.classes[c]!.masks;
  return own.length ? own : m.classes.flatMap((x) => x.masks);
}

/** The conditional model's per-bit probabilities for an operation with `toggles` input bits toggled. */
export function conditionalProbs(m: ConditionalModel, toggles: number): number[] {
  const b = m.buckets[Math.floor(toggles / m.bucketBits)];
  return b && b.ops >= MIN_BUCKET_OPS ? b.p : m.fallback;
}

/** A signed error drawn from the rate-histogram model's histogram (given that the word is wrong). */
export function histogramError(m: RateHistogramModel, rand: () => number): number {
  return drawCounted(m.histogram, rand).error;
}

/** One entry of a counted list drawn by its count (the list must not be empty). */
export function drawCounted<T extends { count: number }>(list: T[], rand: () => number): T {
  let total = 0;
  for (const h of list) total += h.count;
  let u = rand() * total;
  for (const h of list) {
    u -= h.count;
    if (u < 0) return h;
  }
  return list[list.length - 1]!;
}

/** Log-probability of `value` among counted values: add-one over the seen ones plus one share for any unseen value, spread over `space` values. */
function countedLogProb(seen: number | undefined, total: number, distinct: number, space: number): number {
  const denom = total + distinct + 1;
  return Math.log(seen !== undefined ? (seen + 1) / denom : 1 / denom / Math.max(1, space - distinct));
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
  if (m.kind === 'adder-signs') {
    if (o.signs === undefined) throw new Error('adder-signs model: observation without adder signs');
    const pw = clamp(adderSignsRate(m, o.signs));
    if (o.captured === o.correct) return Math.log(1 - pw);
    const masks = adderSignsMasks(m, o.signs >> 4);
    const total = masks.reduce((s, x) => s + x.count, 0);
    return Math.log(pw) + countedLogProb(masks.find((x) => x.mask === flipMask(o))?.count, total, masks.length, 2 ** bits - 1);
  }
  const pw = clamp(m.pWrong);
  if (o.captured === o.correct) return Math.log(1 - pw);
  const e = signedError(o, bits);
  const total = m.histogram.reduce((s, x) => s + x.count, 0);
  return Math.log(pw) + countedLogProb(m.histogram.find((x) => x.error === e)?.count, total, m.histogram.length, 2 ** bits - 1);
}

export interface ModelChoice {
  /** `adder-signs` only when the observations carry adder signs (a PE's psum word). */
  models: { 'bit-flip': BitFlipModel; 'rate-histogram': RateHistogramModel; conditional: ConditionalModel; 'adder-signs'?: AdderSignsModel };
  /** Mean held-out log-likelihood per operation (nats) of each model fitted. */
  heldOutLogLik: Partial<Record<ErrorModel['kind'], number>>;
  best: ErrorModel['kind'];
  trainOps: number;
  testOps: number;
}

/**
 * Fit every model on the even-numbered operations, score them on the odd ones (held out), pick
 * the best (ties: the earlier in `order`), then refit all on every operation (the saved models
 * use all the data). `adder-signs` takes part when every observation carries adder signs.
 */
export function fitAndChoose(obs: ErrorObservation[], bits: number): ModelChoice {
  const train = obs.filter((_, i) => i % 2 === 0);
  const test = obs.filter((_, i) => i % 2 === 1);
  const withSigns = obs.length > 0 && obs.every((o) => o.signs !== undefined);
  const fits = (o: ErrorObservation[]) => ({
    'bit-flip': fitBitFlip(o, bits),
    'rate-histogram': fitRateHistogram(o, bits),
    conditional: fitConditional(o, bits),
    ...(withSigns ? { 'adder-signs': fitAdderSigns(o) } : {}),
  });
  const trained = fits(train);
  const heldOutLogLik = Object.fromEntries(
    Object.entries(trained).map(([k, m]) => [k, test.length ? test.reduce((s, o) => s + logLikelihood(m, o, bits), 0) / test.length : 0]),
  ) as Partial<Record<ErrorModel['kind'], number>>;
  const order = (['rate-histogram', 'bit-flip', 'conditional', 'adder-signs'] as const).filter((k) => heldOutLogLik[k] !== undefined);
  const best = order.reduce((a, b) => (heldOutLogLik[b]! > heldOutLogLik[a]! ? b : a));
  return { models: fits(obs), heldOutLogLik, best, trainOps: train.length, testOps: test.length };
}
