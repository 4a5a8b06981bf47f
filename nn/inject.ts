import { makeRng } from '../core/rng.ts';
import { popcount } from '../synth/gatesim.ts';
import {
  type AdderSignsModel,
  adderSigns,
  adderSignsMasks,
  adderSignsRate,
  conditionalProbs,
  drawCounted,
  type ErrorModel,
  histogramError,
  NEW_WEIGHT,
  signsPair,
  wrapSigned,
  wrapUnsigned,
} from '../synth/vos-model.ts';
import type { GemmOperands } from './gemm.ts';
import type { QConvLayer } from './qmodel.ts';

/**
 * Timing errors of overscaled PEs, drawn from the fitted per-voltage models (docs/vos.md) and
 * added to a layer's accumulators in the engine (issue 16, part 1). What the engine assumes about
 * the array, stated once here and in docs/vos.md ("Injection"):
 *
 * - A filter n is a column; reduction index k sits on row k mod R of K-fold floor(k / R); rows
 *   past K in the last K-fold carry zero codes (they compute cell(0, 0), as the RTL's padded
 *   PEs do). The PE at row r captures the fold-local partial sum of rows 0..r into its psum
 *   register, a `bits`-wide word; that is the word the error model describes.
 * - Every PE operation of a column at an overscaled level draws its captured word from the
 *   model given the fault-free word (first order: a wrong word's effect on the timing of the PEs
 *   below it is not modelled). The errors (captured - correct, two's complement) add up along the
 *   column and over the K-folds into the accumulator, which wraps at `bits`.
 * - Operations stream through a PE in the order m = 0..M-1 of the GEMM's columns (the batch's
 *   images, each image's output positions), so the "previous operation" of the conditional and
 *   adder-signs models is m - 1 in the same fold; the first operation of a fold uses the model's
 *   fallback (conditional) or the adder-signs context of an operation with a new weight (the PE
 *   loads the fold's weight for it).
 * - Randomness: one stream per (seed, layer, first image of the batch); the engine splits work at
 *   batch boundaries, so results do not depend on the worker count.
 *
 * Only operations that go wrong cost time: the gap to the next wrong operation is geometric
 * (thinned by the bucket's or sign class's own rate for the conditional and adder-signs models).
 */
export interface InjectSpec {
  seed: number;
  /** Psum word width (bits) and the error models the layers index. */
  bits: number;
  models: ErrorModel[];
  /** Per conv/dense layer: PE rows of its tile and, per filter, a model index (-1 = no errors). */
  layers: Record<string, { rows: number; filterModel: number[] }>;
}

/** How a layer multiplies: product of activation code a with filter n's weight at index k. */
export interface ProductSource {
  /** Transposed LUT bank and rowOffset[n * K + k] (nn/gemm.ts gemmLut), or undefined = exact. */
  table?: Int32Array;
  rowOffset?: Int32Array;
  signed: boolean;
}

/** A model prepared for drawing: P(wrong) of each probability vector it uses, and the largest (for thinning). */
interface Drawable {
  model: ErrorModel;
  /** adder-signs: thinning bounds of a fold's later operations (m > 0) and of its first ones (a new weight). */
  signs?: { later: SignBounds; first: SignBounds };
  /** P(at least one bit wrong) per per-bit probability vector (bit-flip, conditional); P(wrong) under key `null`. */
  pAny: Map<number[] | null, number>;
  pMax: number;
}

/** The largest adder-signs rate of a set of contexts: overall, per sign class, per product sign ([0]: >= 0). */
interface SignBounds {
  pMax: number;
  classMax: number[];
  productMax: number[];
}

function signBounds(m: AdderSignsModel, prevs: number[]): SignBounds {
  const classMax = Array.from({ length: 8 }, (_, c) => Math.max(...prevs.map((prev) => adderSignsRate(m, signsPair(c, prev)))));
  // Bit 1 of a class: product < 0.
  const productMax = [0, 1].map((neg) => Math.max(...classMax.filter((_, c) => ((c >> 1) & 1) === neg)));
  return { pMax: Math.max(...classMax), classMax, productMax };
}

function anyFlip(p: number[]): number {
  let none = 1;
  for (const x of p) none *= 1 - x;
  return 1 - none;
}

function prepare(m: ErrorModel): Drawable {
  const pAny = new Map<number[] | null, number>();
  if (m.kind === 'rate-histogram') pAny.set(null, m.histogram.length ? m.pWrong : 0);
  else if (m.kind === 'adder-signs') {
    // A fold's first operation (new weight) can fail far more often than the rest: apart, so
    // the rest are not drawn at its rate.
    const signs = { later: signBounds(m, [0, 1, 2, 3, 4, 5, 6, 7]), first: signBounds(m, [NEW_WEIGHT]) };
    pAny.set(null, Math.max(signs.later.pMax, signs.first.pMax));
    return { model: m, pAny, pMax: Math.max(signs.later.pMax, signs.first.pMax), signs };
  } else if (m.kind === 'bit-flip') pAny.set(m.p, anyFlip(m.p));
  // Every vector the bucket rule can pick: each bucket's (or the fallback it borrows) and the fallback.
  else for (const p of [m.fallback, ...m.buckets.map((_, b) => conditionalProbs(m, b * m.bucketBits))]) pAny.set(p, anyFlip(p));
  return { model: m, pAny, pMax: Math.max(...pAny.values()) };
}

/** Flip mask given that at least one bit flips (first flipped bit by its exact probability, the rest independent). */
function nonzeroMask(p: number[], pAny: number, rand: () => number): number {
  let u = rand() * pAny;
  let survive = 1;
  for (let i = 0; i < p.length; i++) {
    const first = survive * p[i]!;
    if (u < first) {
      let mask = 1 << i;
      for (let j = i + 1; j < p.length; j++) if (rand() < p[j]!) mask |= 1 << j;
      return mask >>> 0;
    }
    u -= first;
    survive *= 1 - p[i]!;
  }
  // Rounding left u past the end: the last bit that can flip.
  for (let i = p.length - 1; i >= 0; i--) if (p[i]! > 0) return (1 << i) >>> 0;
  return 0;
}

/** Visit the indices 0..count-1 each with probability p (geometric gaps: only the visited ones cost time). */
function geometric(p: number, count: number, rand: () => number, visit: (i: number) => void): void {
  if (!(p > 0)) return;
  const logStay = Math.log1p(-Math.min(p, 1 - 1e-12));
  for (let i = Math.floor(Math.log1p(-rand()) / logStay); i < count; i += 1 + Math.floor(Math.log1p(-rand()) / logStay)) visit(i);
}

/** FNV-1a of a layer name: part of the layer's random stream key. */
function nameHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function injectionRng(seed: number, layer: string, firstImage: number): () => number {
  return makeRng((seed ^ nameHash(layer) ^ Math.imul(firstImage + 1, 0x9e3779b1)) >>> 0);
}

/** A layer's products and what one padded row adds (cell(0, 0) of the filter's cell). */
export function productOf(l: QConvLayer, src: ProductSource): { prod: (n: number, k: number, a: number) => number; pad: (n: number) => number } {
  const K = l.K;
  if (src.table && src.rowOffset) {
    const t = src.table;
    const ro = src.rowOffset;
    return { prod: (n, k, a) => t[ro[n * K + k]! + a]!, pad: (n) => t[ro[n * K + K - 1]! & ~0xffff]! };
  }
  const w = l.weights;
  const val = (c: number) => (src.signed ? (c << 24) >> 24 : c);
  return { prod: (n, k, a) => val(w[n * K + k]! & 0xff) * val(a), pad: () => 0 };
}

/** Number of padded rows in a layer's last K-fold. */
const padRows = (K: number, R: number) => Math.ceil(K / R) * R - K;

/**
 * Add per-output error sums (`err[n * P + m]`, from injection or from a replay) to accumulators:
 * the array's word is acc + the padded rows' products, wrapped at `bits` and decoded as the host
 * decodes it (two's complement for signed cells, unsigned otherwise: an MSB error on an unsigned
 * column is a large positive value, as in the RTL); the engine's layout takes the pad back off
 * (mapping/gemm.ts toAccumulator).
 */
export function addErrors(acc: Int32Array, err: Float64Array, l: QConvLayer, P: number, R: number, bits: number, src: ProductSource): void {
  const { pad } = productOf(l, src);
  const rowsPad = padRows(l.K, R);
  const decode = src.signed ? wrapSigned : wrapUnsigned;
  for (let n = 0; n < l.oc; n++) {
    const padSum = rowsPad * pad(n);
    for (let m = 0; m < P; m++) {
      const e = err[n * P + m]!;
      if (e !== 0) acc[n * P + m] = decode(acc[n * P + m]! + padSum + e, bits) - padSum;
    }
  }
}

/**
 * One layer's drawn timing errors, one entry per wrong PE operation: its filter n, GEMM column m
 * (the batch's output position), K-fold, and error (captured - correct word, two's complement).
 * The engine sums them into the accumulators (`injectLayer`); the RTL run adds each K-fold's sum
 * to the column's result as the array produces it (flow/rtl.ts), so both see the same draws.
 */
export interface LayerErrors {
  n: number[];
  m: number[];
  kFold: number[];
  e: number[];
}

/** Draw a layer's timing errors (undefined: the layer has no overscaled column). */
export function drawLayerErrors(spec: InjectSpec, l: QConvLayer, g: GemmOperands, src: ProductSource, firstImage: number): LayerErrors | undefined {
  const ls = spec.layers[l.name];
  if (!ls) return undefined;
  const R = ls.rows;
  const { K, P, a } = g;
  const bits = spec.bits;
  const kFolds = Math.ceil(K / R);
  const perFilter = kFolds * R * P;
  const { prod, pad } = productOf(l, src);
  const drawables = spec.models.map(prepare);
  const rand = injectionRng(spec.seed, l.name, firstImage);
  const out: LayerErrors = { n: [], m: [], kFold: [], e: [] };
  // Fold-local partial sum of rows 0..r (inclusive) for output m of filter n at reduction index k.
  const partial = (n: number, k: number, m: number) => {
    let s = 0;
    for (let kk = k - (k % R); kk <= k; kk++) s += kk < K ? prod(n, kk, a[kk * P + m]!) : pad(n);
    return s;
  };
  const record = (n: number, m: number, k: number, e: number) => {
    out.n.push(n);
    out.m.push(m);
    out.kFold.push(Math.floor(k / R));
    out.e.push(e);
  };
  // One candidate of an adder-signs model, kept with its context's share of the bound (thinning),
  // cheapest test first: the product's sign (one lookup), this operation's class (its partial
  // sum, O(R)), then the previous operation's. Signs at the adder: psum_in = s - product.
  const adderSignsOp = (n: number, k: number, m: number, b: SignBounds, model: AdderSignsModel) => {
    const u = rand() * b.pMax;
    const here = k < K ? prod(n, k, a[k * P + m]!) : pad(n);
    if (u >= b.productMax[wrapSigned(here, bits) < 0 ? 1 : 0]!) return;
    const s = partial(n, k, m);
    const own = adderSigns(s - here, s, bits);
    if (u >= b.classMax[own]!) return;
    let prev = NEW_WEIGHT;
    if (m > 0) {
      const sPrev = partial(n, k, m - 1);
      prev = adderSigns(sPrev - (k < K ? prod(n, k, a[k * P + m - 1]!) : pad(n)), sPrev, bits);
    }
    if (u >= adderSignsRate(model, signsPair(own, prev))) return;
    const correct = wrapUnsigned(s, bits);
    record(n, m, k, wrapSigned(((correct ^ drawCounted(adderSignsMasks(model, own), rand).mask) >>> 0) - correct, bits));
  };
  for (let n = 0; n < l.oc; n++) {
    const mi = ls.filterModel[n] ?? -1;
    if (mi < 0) continue;
    const d = drawables[mi]!;
    if (!(d.pMax > 0)) continue;
    const model = d.model;
    if (model.kind === 'adder-signs') {
      const { later, first } = d.signs!;
      // Operations m > 0 after an operation of their fold; then each fold's first (m = 0).
      geometric(later.pMax, perFilter, rand, (i) => {
        const k = Math.floor(i / P);
        if (i > k * P) adderSignsOp(n, k, i - k * P, later, model);
      });
      geometric(first.pMax, kFolds * R, rand, (k) => adderSignsOp(n, k, 0, first, model));
      continue;
    }
    geometric(d.pMax, perFilter, rand, (i) => {
      const k = Math.floor(i / P);
      const m = i - k * P;
      const s = partial(n, k, m);
      const correct = wrapUnsigned(s, bits);
      let captured: number;
      if (model.kind === 'rate-histogram') captured = wrapUnsigned(correct + histogramError(model, rand), bits);
      else if (model.kind === 'bit-flip') captured = (correct ^ nonzeroMask(model.p, d.pAny.get(model.p)!, rand)) >>> 0;
      else {
        // Toggles into this operation: activation and incoming psum word against operation m - 1.
        let p = model.fallback;
        if (m > 0) {
          const here = k < K ? prod(n, k, a[k * P + m]!) : pad(n);
          const before = k < K ? prod(n, k, a[k * P + m - 1]!) : pad(n);
          const inNow = wrapUnsigned(s - here, bits);
          const inPrev = wrapUnsigned(partial(n, k, m - 1) - before, bits);
          const aNow = k < K ? a[k * P + m]! : 0;
          const aPrev = k < K ? a[k * P + m - 1]! : 0;
          p = conditionalProbs(model, popcount(aNow ^ aPrev) + popcount(inNow ^ inPrev));
        }
        const pAny = d.pAny.get(p)!;
        // Thinning: candidates come at the largest rate; keep one with its own rate's share.
        if (!(pAny > 0) || rand() * d.pMax >= pAny) return;
        captured = (correct ^ nonzeroMask(p, pAny, rand)) >>> 0;
      }
      if (captured !== correct) record(n, m, k, wrapSigned(captured - correct, bits));
    });
  }
  return out;
}

/**
 * Draw the layer's timing errors and add them to `acc` in place. Returns how many PE operations
 * went wrong.
 */
export function injectLayer(spec: InjectSpec, l: QConvLayer, g: GemmOperands, acc: Int32Array, src: ProductSource, firstImage: number): number {
  const d = drawLayerErrors(spec, l, g, src, firstImage);
  if (!d || d.e.length === 0) return 0;
  const P = g.P;
  const err = new Float64Array(l.oc * P);
  for (let i = 0; i < d.e.length; i++) err[d.n[i]! * P + d.m[i]!]! += d.e[i]!;
  addErrors(acc, err, l, P, spec.layers[l.name]!.rows, spec.bits, src);
  return d.e.length;
}
