import { join } from 'node:path';
import { UserError } from '../core/errors.ts';
import { modelsDir } from '../core/paths.ts';
import { jsonArg, parseOrThrow, readJsonFile, z } from '../core/validate.ts';
import { convLayers, type QuantModel } from './qmodel.ts';

/**
 * Approximate weight memory (docs/wmem.md): the weight memory's 6T cells at a reduced supply read
 * some bits wrongly. Convention, the same in the engine and the RTL:
 *
 * - A fault is a property of a stored bit at a voltage (low-voltage SRAM failures are persistent
 *   per cell): for (seed, layer, weight index i, bit b) a deterministic uniform draw u; the bit
 *   reads flipped when u < BER(V). The same u at every voltage, so a bit faulty at V is faulty at
 *   every lower V.
 * - i is the weight's position in the layer's `weights` (filter-major, oc x K); b counts from the
 *   LSB of the stored 8-bit code (signed scheme: int8 two's complement; unsigned scheme: the uint8
 *   code w + 128), the code the weight FIFO holds.
 * - The top `protectMsbs` bits of every code sit in robust (8T) cells at nominal: never faulty.
 * - The zero-point correction term `weightSum` was computed offline from the TRUE weights and is
 *   kept: the hardware reads faulty weights, the host's correction does not know about them.
 */

export const WMEM_BITS = 8;

const anchor = z.object({ ratio: z.number().positive().max(1), ber: z.number().positive().max(1), source: z.string().optional() });

export const wmemModelSchema = z
  .object({
    format: z.literal('axtpu-wmem-model-1'),
    name: z.string().min(1),
    note: z.string().optional(),
    source: z.string().min(1),
    /** Supply the anchors' ratio 1 stands for in `axtpu eval` (no design there). */
    nominalVolts: z.number().positive(),
    nominalSource: z.string().optional(),
    /** Lowest V / Vnom the model covers. */
    minRatio: z.number().positive().max(1),
    /** log10(BER) linear in V / Vnom between anchors; ratios strictly decreasing, BER increasing. */
    anchors: z.array(anchor).min(2),
  })
  .superRefine((m, ctx) => {
    for (let i = 1; i < m.anchors.length; i++) {
      if (!(m.anchors[i]!.ratio < m.anchors[i - 1]!.ratio))
        ctx.addIssue({ code: 'custom', path: ['anchors', i, 'ratio'], message: 'anchor ratios must strictly decrease' });
      if (!(m.anchors[i]!.ber >= m.anchors[i - 1]!.ber))
        ctx.addIssue({ code: 'custom', path: ['anchors', i, 'ber'], message: 'BER must not fall as the voltage falls' });
    }
    if (m.anchors[0]!.ratio !== 1) ctx.addIssue({ code: 'custom', path: ['anchors', 0, 'ratio'], message: 'the first anchor must be at ratio 1 (nominal)' });
    if (Math.abs(m.anchors.at(-1)!.ratio - m.minRatio) > 1e-12)
      ctx.addIssue({ code: 'custom', path: ['minRatio'], message: 'minRatio must equal the last anchor ratio' });
  });
export type WmemModel = z.infer<typeof wmemModelSchema>;

export const DEFAULT_WMEM_MODEL = join(modelsDir, 'wmem-model.json');

const loaded = new Map<string, WmemModel>();
/** The shipped model, or a --wmem-model file (validated; a bad file is one line, exit 2). */
export function loadWmemModel(path?: string): WmemModel {
  const p = path ?? DEFAULT_WMEM_MODEL;
  let m = loaded.get(p);
  if (!m) {
    m = readJsonFile(wmemModelSchema, p, path ? '--wmem-model' : 'weight-memory model');
    loaded.set(p, m);
  }
  return m;
}

/** Lowest supply the model covers at this nominal. */
export const wmemMinVolts = (m: WmemModel, nominal: number): number => m.minRatio * nominal;

/** One line for a supply outside [vmin, nominal]. */
export function checkWmemVolts(m: WmemModel, v: number, nominal: number, what: string): void {
  if (!Number.isFinite(v)) throw new UserError(`${what}: not a number`);
  if (v > nominal + 1e-12) throw new UserError(`${what}: ${v} V is above the weight memory's nominal ${nominal} V`);
  if (v < wmemMinVolts(m, nominal) - 1e-12)
    throw new UserError(`${what}: ${v} V is below the range of weight-memory model ${m.name} (${wmemMinVolts(m, nominal)} V = ${m.minRatio} x ${nominal} V)`);
}

/** Bit-error rate of a 6T cell at V (log-linear in V / Vnom between the model's anchors). */
export function bitErrorRate(m: WmemModel, v: number, nominal: number): number {
  checkWmemVolts(m, v, nominal, 'weight-memory supply');
  const r = Math.min(1, v / nominal);
  const a = m.anchors;
  for (let i = 1; i < a.length; i++) {
    const hi = a[i - 1]!;
    const lo = a[i]!;
    if (r >= lo.ratio - 1e-12) {
      const t = (hi.ratio - r) / (hi.ratio - lo.ratio);
      return 10 ** (Math.log10(hi.ber) + t * (Math.log10(lo.ber) - Math.log10(hi.ber)));
    }
  }
  return a.at(-1)!.ber;
}

/** murmur3's 32-bit finalizer: a bijective mix with full avalanche. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a of the layer name, so a layer's faults do not depend on its position in the model. */
function nameHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The per-layer key of the draws (seed and layer name). */
export const faultKey = (seed: number, layer: string): number => mix32(mix32(seed >>> 0) ^ nameHash(layer));

/** The uniform draw u in (0, 1) of stored bit `bit` of weight `index` under a layer key. */
export function faultDraw(key: number, index: number, bit: number): number {
  const w = mix32(key ^ mix32(index + 0x9e3779b9));
  return (mix32(w + Math.imul(bit + 1, 0x27d4eb2f)) + 0.5) / 4294967296;
}

/** XOR mask of one stored code: bit b flips when its draw is below `ber`; the top `protectMsbs` bits never. */
export function faultMask(key: number, index: number, ber: number, protectMsbs: number, bits = WMEM_BITS): number {
  let m = 0;
  for (let b = 0; b < bits - protectMsbs; b++) if (faultDraw(key, index, b) < ber) m |= 1 << b;
  return m;
}

function checkProtectMsbs(k: number): void {
  if (!Number.isInteger(k) || k < 0 || k > WMEM_BITS) throw new UserError(`--protect-msbs must be an integer in 0..${WMEM_BITS}, got ${k}`);
}

export interface WeightFaultOptions {
  seed: number;
  protectMsbs: number;
  model: WmemModel;
  /** The weight memory's nominal supply (ratio 1 of the model). */
  nominal: number;
}

export interface WeightFaultResult {
  model: QuantModel;
  layers: { layer: string; volts: number; flippedBits: number; faultyWeights: number }[];
}

function popcount8(x: number): number {
  let n = 0;
  for (let v = x; v; v &= v - 1) n++;
  return n;
}

/**
 * The model as the array reads it from a weight memory at `volts` per layer (pure: a new model,
 * the input untouched). Layers absent from `volts` or at nominal are the same objects; weightSum
 * stays the TRUE weights' (see the convention above). Unknown layers, supplies outside
 * [vmin, nominal] and protectMsbs outside [0, 8] are one-line errors.
 */
export function applyWeightFaults(model: QuantModel, volts: Record<string, number>, o: WeightFaultOptions): WeightFaultResult {
  checkProtectMsbs(o.protectMsbs);
  const names = convLayers(model).map((l) => l.name);
  for (const [n, v] of Object.entries(volts)) {
    if (!names.includes(n))
      throw new UserError(`--wmem-volts names layer '${n}' which is not a conv/dense layer of ${model.name} (layers: ${names.join(', ')})`);
    checkWmemVolts(o.model, v, o.nominal, `--wmem-volts ${n}`);
  }
  const signed = model.scheme === 'signed';
  const report: WeightFaultResult['layers'] = [];
  const layers = model.layers.map((l) => {
    if (l.op !== 'conv' || volts[l.name] === undefined) return l;
    const v = volts[l.name]!;
    let flippedBits = 0;
    let faultyWeights = 0;
    if (v >= o.nominal) {
      report.push({ layer: l.name, volts: v, flippedBits, faultyWeights });
      return l;
    }
    const ber = bitErrorRate(o.model, v, o.nominal);
    const key = faultKey(o.seed, l.name);
    const weights = Int16Array.from(l.weights);
    for (let i = 0; i < weights.length; i++) {
      const m = faultMask(key, i, ber, o.protectMsbs);
      if (!m) continue;
      const code = (weights[i]! & 0xff) ^ m;
      weights[i] = signed ? (code << 24) >> 24 : code;
      flippedBits += popcount8(m);
      faultyWeights++;
    }
    report.push({ layer: l.name, volts: v, flippedBits, faultyWeights });
    return { ...l, weights };
  });
  return { model: { ...model, layers }, layers: report };
}

/**
 * Factor on the weight memory's dynamic (read/write) energy at supply `volts`: the protected MSB
 * columns stay at nominal, the 6T columns scale as (V / Vnom)^2 (CV^2). Not counted: the 8T cells'
 * own area/energy overhead over 6T, leakage (kept at nominal), level shifters (docs/wmem.md).
 */
export function wmemEnergyScale(volts: number, nominal: number, protectMsbs: number, bits = WMEM_BITS): number {
  const r = volts / nominal;
  return (protectMsbs / bits) * 1 + ((bits - protectMsbs) / bits) * r * r;
}

/** `--wmem-volts <V | json {"<layer>": V} | file>` -> a number (every conv/dense layer) or a per-layer map. */
export const wmemVoltsSchema = z.union([z.number().positive(), z.record(z.string(), z.number().positive())]);
export type WmemVoltsSpec = z.infer<typeof wmemVoltsSchema>;

export function parseWmemVolts(value: string): WmemVoltsSpec {
  const text = value.trim();
  const data = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text) ? Number(text) : jsonArg(text, '--wmem-volts');
  return parseOrThrow(wmemVoltsSchema, data, '--wmem-volts');
}

/** The per-layer supply map of a spec (one number = every conv/dense layer). */
export function wmemVoltsFor(model: QuantModel, spec: WmemVoltsSpec): Record<string, number> {
  if (typeof spec !== 'number') return spec;
  return Object.fromEntries(convLayers(model).map((l) => [l.name, spec]));
}

/** What eval and run take: supplies, protection, seed and model file. */
export interface WmemOptions {
  volts: WmemVoltsSpec;
  protectMsbs: number;
  seed: number;
  modelFile?: string;
}

/**
 * Early validation (before calibration or RTL): protection, every supply against the model's range
 * and, given the model's conv/dense layer names, the layers a per-layer map names.
 */
export function checkWmemOptions(o: WmemOptions, m: WmemModel, nominal: number, layers?: { names: string[]; model: string }): void {
  checkProtectMsbs(o.protectMsbs);
  const v = o.volts;
  for (const [n, x] of typeof v === 'number' ? [['(every layer)', v] as const] : Object.entries(v)) {
    if (layers && !layers.names.includes(n) && typeof v !== 'number')
      throw new UserError(`--wmem-volts names layer '${n}' which is not a conv/dense layer of ${layers.model} (layers: ${layers.names.join(', ')})`);
    checkWmemVolts(m, x, nominal, `--wmem-volts ${n}`);
  }
}

export const DEFAULT_PROTECT_MSBS = 0;
export const DEFAULT_WMEM_SEED = 1;

/** One report line: faulty bits per layer. */
export function wmemLine(layers: WeightFaultResult['layers'], protectMsbs: number, seed: number): string {
  const parts = layers.map((l) => `${l.layer} ${l.volts} V ${l.flippedBits} bits in ${l.faultyWeights} weights`);
  return `weight memory faults (protect ${protectMsbs} MSBs, seed ${seed}): ${parts.join(', ') || 'no layer'}`;
}
