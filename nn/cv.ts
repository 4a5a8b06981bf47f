import { UserError } from '../core/errors.ts';
import { jsonArg, parseOrThrow, z } from '../core/validate.ts';
import { REG } from '../generators/array/regmap.ts';
import type { GemmOperands } from './gemm.ts';
import { nativeKernels } from './native-load.ts';
import { convLayers, type QConvLayer, type QuantModel } from './qmodel.ts';

/**
 * Control-variate error compensation (Zervakis et al., DAC'21; docs/cv.md has the derivation).
 *
 * Per weight code w of a cell, the product error e(a, w) = cell(a, w) - a*w is fitted as
 * alpha(w) + beta(w) * a by least squares over the activation codes, weighted by the layer's
 * activation histogram. For filter f with weights w_k (k < K):
 *
 *   sum_k e(a_k, w_k) ~ sum_k alpha(w_k) + beta_bar_f * V,   V = sum_k a_k,  beta_bar_f = mean_k beta(w_k)
 *
 * so the corrected accumulator is acc - sum_k alpha(w_k) - beta_bar_f * V. The hardware adds
 * `(coef_f * V + 2^(q-1)) >> q` after the accumulators (coef_f = round(-beta_bar_f * 2^q), a
 * COEF_BITS-bit register per filter; V comes from one extra column that sums the activations);
 * the integer constant `offset_f = round(-sum_k alpha(w_k))` is folded into the bias on the host.
 * For radix-2 perforated weights (rows 0..m-1 not generated) e = -a * (w mod 2^m), so alpha = 0 and
 * coef_f / 2^q = mean_k (w_k mod 2^m): the paper's c_f.
 */

/** Width of a coefficient register (two's complement). */
export const COEF_BITS = REG.cvCoefData.width;
/** Fractional bits the coefficient registers may use. */
export const Q_RANGE = [0, 2 ** REG.cvQ.width - 1] as const;
export const DEFAULT_Q = 8;

/** One layer's compensation, as the engine and the array apply it (data only: crosses worker threads). */
export interface LayerCv {
  /** Fractional bits of coef. */
  q: number;
  /** Per filter: round(-beta_bar_f * 2^q), saturated to COEF_BITS bits. */
  coef: Int32Array;
  /** Per filter: round(-sum_k alpha(w_k)), added with the bias on the host. */
  offset: Int32Array;
}

export type CvConfig = Record<string, LayerCv>;

/** Which layers compensate, with their q (user spec, validated against the model). */
export type CvPlan = Record<string, number>;

const COEF_MAX = 2 ** (COEF_BITS - 1) - 1;
const COEF_MIN = -(2 ** (COEF_BITS - 1));

/** `c_q V` rounded to nearest (ties up) at q fractional bits: what the correction unit computes. */
export function correctionTerm(coef: number, v: number, q: number): number {
  // |coef * v| < 2^15 * 2^31: exact in a double, so floor of the quotient is the arithmetic shift.
  return Math.floor((coef * v + (q > 0 ? 2 ** (q - 1) : 0)) / 2 ** q);
}

/** Activation sum V per GEMM column (what the extra column accumulates): values, not codes. */
export function activationSums(g: GemmOperands, signed: boolean): Int32Array {
  const { K, P, a } = g;
  // Unsigned: the engine already summed the codes for the zero-point correction.
  if (!signed && g.sumA) return g.sumA;
  const v = new Int32Array(P);
  const av: Int8Array | Uint8Array = signed ? new Int8Array(a.buffer, a.byteOffset, a.length) : a;
  for (let k = 0; k < K; k++) {
    const row = k * P;
    for (let p = 0; p < P; p++) v[p]! += av[row + p]!;
  }
  return v;
}

/** The array's part: acc[o*P + p] += (coef[o] * V[p] + half) >> q, wrapping like the int32 accumulators. */
export function addHardwareCorrection(cv: LayerCv, acc: Int32Array, v: Int32Array, oc: number): void {
  const P = v.length;
  // 2^-q is exact in a double, so the product is the exact quotient and floor the shift.
  const inv = 2 ** -cv.q;
  const half = cv.q > 0 ? 2 ** (cv.q - 1) : 0;
  for (let o = 0; o < oc; o++) {
    const c = cv.coef[o]!;
    if (c === 0) continue;
    const base = o * P;
    for (let p = 0; p < P; p++) acc[base + p] = (acc[base + p]! + Math.floor((c * v[p]! + half) * inv)) | 0;
  }
}

/** The host's part: the per-filter constant (the alpha terms), as a bias change. */
export function addOffset(cv: LayerCv, acc: Int32Array, P: number, oc: number): void {
  for (let o = 0; o < oc; o++) {
    const d = cv.offset[o]!;
    if (d === 0) continue;
    const base = o * P;
    for (let p = 0; p < P; p++) acc[base + p] = (acc[base + p]! + d) | 0;
  }
}

/**
 * Engine hook: both parts, in place, after the GEMM (and after any injected PE errors). Runs in
 * the native kernels when loaded (templates/nn/kernels.cpp.hbs `cvApply`); `applyCvJs` is the
 * reference they are tested against bit for bit.
 */
export function applyCv(cv: LayerCv, acc: Int32Array, g: GemmOperands, oc: number, signed: boolean): void {
  const n = nativeKernels();
  if (!n) {
    applyCvJs(cv, acc, g, oc, signed);
    return;
  }
  const sums = !signed && g.sumA ? g.sumA : null;
  n.cvApply(acc, g.a, sums, cv.coef, cv.offset, Int32Array.of(g.K, g.P, oc, signed ? 1 : 0, cv.q));
}

export function applyCvJs(cv: LayerCv, acc: Int32Array, g: GemmOperands, oc: number, signed: boolean): void {
  addHardwareCorrection(cv, acc, activationSums(g, signed), oc);
  addOffset(cv, acc, g.P, oc);
}

/** Weighted least-squares fit of e(a, w) = alpha + beta a for every row of a LUT bank. */
export interface ErrorFit {
  /** Indexed like the bank's rows: (cellIndex * 256 + weightCode). */
  alpha: Float64Array;
  beta: Float64Array;
}

const codeValue = (c: number, signed: boolean): number => (signed ? (c << 24) >> 24 : c);

/**
 * Fit every (cell, weight code) row of a transposed LUT bank (nn/gemm.ts: table[row*256 + a]) over
 * the activation codes weighted by `hist` (counts per code; all-zero = uniform).
 */
export function fitErrors(table: Int32Array, hist: ArrayLike<number>, signed: boolean): ErrorFit {
  const rows = table.length / 256;
  const h = new Float64Array(256);
  let total = 0;
  for (let c = 0; c < 256; c++) total += hist[c]!;
  for (let c = 0; c < 256; c++) h[c] = total > 0 ? hist[c]! / total : 1 / 256;
  const x = new Float64Array(256);
  let mx = 0;
  for (let c = 0; c < 256; c++) {
    x[c] = codeValue(c, signed);
    mx += h[c]! * x[c]!;
  }
  let vx = 0;
  for (let c = 0; c < 256; c++) vx += h[c]! * (x[c]! - mx) ** 2;
  const alpha = new Float64Array(rows);
  const beta = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const wv = codeValue(r & 255, signed);
    const base = r * 256;
    let me = 0;
    let cov = 0;
    for (let c = 0; c < 256; c++) {
      if (h[c] === 0) continue;
      const e = table[base + c]! - x[c]! * wv;
      me += h[c]! * e;
      cov += h[c]! * (x[c]! - mx) * e;
    }
    // One activation value only (degenerate histogram): the error is a constant.
    const b = vx > 1e-12 ? cov / vx : 0;
    beta[r] = b;
    alpha[r] = me - b * mx;
  }
  return { alpha, beta };
}

/** Per-filter real coefficients of one layer (before fixed point): c_f = -beta_bar_f, d_f = -sum alpha. */
export function filterCoefficients(l: QConvLayer, rowOffset: Int32Array, fit: ErrorFit): { c: Float64Array; d: Float64Array } {
  const c = new Float64Array(l.oc);
  const d = new Float64Array(l.oc);
  for (let o = 0; o < l.oc; o++) {
    let sb = 0;
    let sa = 0;
    for (let k = 0; k < l.K; k++) {
      const row = rowOffset[o * l.K + k]! >> 8;
      sb += fit.beta[row]!;
      sa += fit.alpha[row]!;
    }
    c[o] = -sb / l.K;
    d[o] = -sa;
  }
  return { c, d };
}

/** Fixed point as the registers hold it. Saturated coefficients are counted, not hidden. */
export function quantizeCoefficients(c: Float64Array, d: Float64Array, q: number): { cv: LayerCv; saturated: number } {
  const coef = new Int32Array(c.length);
  const offset = new Int32Array(d.length);
  let saturated = 0;
  for (let o = 0; o < c.length; o++) {
    const v = Math.round(c[o]! * 2 ** q);
    if (v > COEF_MAX || v < COEF_MIN) saturated++;
    coef[o] = Math.max(COEF_MIN, Math.min(COEF_MAX, v));
    offset[o] = Math.round(d[o]!);
  }
  return { cv: { q, coef, offset }, saturated };
}

/**
 * The compensation of every planned layer: fit against that layer's activation histogram
 * (`hists[layer]`, codes 0..255, e.g. nn/stats.ts `aHist` over calibration images).
 */
export function buildCv(
  m: QuantModel,
  bank: { table: Int32Array; rowOffsets: Record<string, Int32Array> },
  plan: CvPlan,
  hists: Record<string, ArrayLike<number>>,
): { cv: CvConfig; saturated: Record<string, number> } {
  const signed = m.scheme === 'signed';
  const cv: CvConfig = {};
  const saturated: Record<string, number> = {};
  for (const l of convLayers(m)) {
    const q = plan[l.name];
    if (q === undefined) continue;
    const hist = hists[l.name];
    if (!hist) throw new Error(`cv: no activation histogram for layer ${l.name}`);
    const fit = fitErrors(bank.table, hist, signed);
    const { c, d } = filterCoefficients(l, bank.rowOffsets[l.name]!, fit);
    const r = quantizeCoefficients(c, d, q);
    cv[l.name] = r.cv;
    saturated[l.name] = r.saturated;
  }
  return { cv, saturated };
}

// ------------------------------------------------------------------ user spec

const qSchema = z.number().int().min(Q_RANGE[0], `q must be in ${Q_RANGE[0]}..${Q_RANGE[1]}`).max(Q_RANGE[1], `q must be in ${Q_RANGE[0]}..${Q_RANGE[1]}`);
const cvSpecSchema = z.record(z.union([z.literal('off'), z.literal('on'), qSchema]));

/**
 * `--cv`: `all`, a comma list of layer names, or JSON `{"<layer>": "on" | "off" | q}` (`"default"`
 * covers unlisted conv/dense layers). `q` is the fractional-bit default for "on".
 */
/** `m`: the quantized model, or its float graph (same layer names and ops) to check a spec before calibration. */
export function parseCvSpec(text: string, m: { name: string; layers: readonly { name: string; op: string }[] }, q = DEFAULT_Q): CvPlan {
  if (!Number.isInteger(q) || q < Q_RANGE[0] || q > Q_RANGE[1]) throw new UserError(`--cv-q must be in ${Q_RANGE[0]}..${Q_RANGE[1]}, got ${q}`);
  const t = text.trim();
  let spec: Record<string, 'on' | 'off' | number>;
  if (t === 'all') spec = { default: 'on' };
  else if (t.startsWith('{')) spec = parseOrThrow(cvSpecSchema, jsonArg(t, '--cv'), '--cv');
  else spec = Object.fromEntries(t.split(',').map((s) => [s.trim(), 'on' as const]));
  const convs = new Set(m.layers.filter((l) => l.op === 'conv').map((l) => l.name));
  for (const name of Object.keys(spec)) {
    if (name === 'default' || convs.has(name)) continue;
    const other = m.layers.find((l) => l.name === name);
    if (other) throw new UserError(`--cv: layer '${name}' is a ${other.op} layer; compensation applies to conv/dense layers (${[...convs].join(', ')})`);
    throw new UserError(`--cv: no layer '${name}' in ${m.name} (conv/dense layers: ${[...convs].join(', ')})`);
  }
  const plan: CvPlan = {};
  for (const name of convs) {
    const v = spec[name] ?? spec.default ?? 'off';
    if (v === 'off') continue;
    plan[name] = v === 'on' ? q : v;
  }
  return plan;
}
