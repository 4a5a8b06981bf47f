import { basename, join } from 'node:path';
import { UserError } from '../core/errors.ts';
import { modelsDir } from '../core/paths.ts';
import { readJsonFile, z } from '../core/validate.ts';

/**
 * The memory energy MODEL (docs/memory.md, Energy model): per-access read/write energy and
 * leakage of an SRAM of a given capacity and word width, and DRAM energy per byte, from the
 * cited table in models/memory-model.json (or a user's --memory-model file of the same form).
 * Pure: the caller supplies the liberty's node, supply and latch leakage.
 *
 *   SRAM read (45 nm, 0.9 V)  = E64(depth) x wordBits / 64, with E64 the anchors' 64-bit read
 *                               energy as a function of depth (= capacity / 8 bytes at 64 bits):
 *                               log-log interpolation between anchors, (d1/d0)^depthExponent
 *                               outside them;
 *   SRAM write                = read x writeOverRead;
 *   node and supply           x nodeEnergyScale(nm, V) (Stillmaker-Baas; extrapolated past 130 nm);
 *   SRAM leakage              = bits x the liberty latch's leakage (nW), scaled by the caller's
 *                               leakage-vs-supply ratio;
 *   DRAM                      = pjPerAccess / (accessBits / 8) per byte, not scaled (off-chip).
 */
const source = z.string().min(1);
const positive = z.number().positive();

export const memoryModelSchema = z
  .object({
    format: z.literal('axtpu-memory-model-1'),
    note: z.string().optional(),
    reference: z.object({ nodeNm: positive, volts: positive, source }).strict(),
    sram: z
      .object({
        anchorWordBits: z.number().int().positive(),
        anchors: z
          .array(z.object({ bytes: positive, readPj: positive, source }).strict())
          .min(1)
          .refine(
            (a) => a.every((x, i) => i === 0 || (x.bytes > a[i - 1]!.bytes && x.readPj >= a[i - 1]!.readPj)),
            'anchors must grow in bytes and not shrink in energy',
          ),
        depthExponent: positive.max(2),
        depthExponentSource: source,
        writeOverRead: positive,
        writeOverReadSource: source,
        leakage: z.union([
          z.object({ cell: z.string().min(1), bitsPerCell: positive, source }).strict(),
          z.object({ nwPerBit: z.number().nonnegative(), source }).strict(),
        ]),
      })
      .strict(),
    dram: z.object({ pjPerAccess: positive, accessBits: z.number().int().positive(), source }).strict(),
    nodeScaling: z
      .object({
        source,
        energyPolynomials: z
          .array(z.object({ nm: positive, a: z.number(), b: z.number(), c: z.number() }).strict())
          .min(1)
          .refine((p) => p.every((x, i) => i === 0 || x.nm < p[i - 1]!.nm), 'energyPolynomials must list nodes from largest to smallest'),
        largestNodeVolts: positive,
        largestNodeVoltsSource: source,
        extrapolation: source,
      })
      .strict(),
    libraryNodes: z.record(z.string(), z.union([positive, z.string()])),
  })
  .strict();

export type MemoryModel = z.infer<typeof memoryModelSchema>;

export const DEFAULT_MEMORY_MODEL = join(modelsDir, 'memory-model.json');

const loaded = new Map<string, MemoryModel>();

/** The shipped model, or a user's file (validated: a bad one is a one-line UserError, exit 2). */
export function loadMemoryModel(path?: string): MemoryModel {
  const p = path ?? DEFAULT_MEMORY_MODEL;
  let m = loaded.get(p);
  if (!m) {
    m = readJsonFile(memoryModelSchema, p, path ? '--memory-model' : 'memory model');
    // A reference node must be in the table (the ratio's denominator).
    if (!m.nodeScaling.energyPolynomials.some((x) => x.nm === m!.reference.nodeNm))
      throw new UserError(`--memory-model ${p}: reference.nodeNm ${m.reference.nodeNm} has no entry in nodeScaling.energyPolynomials`);
    loaded.set(p, m);
  }
  return m;
}

/** Node (nm) of a liberty file from the model's libraryNodes (matched on the file name). */
export function libertyNode(m: MemoryModel, liberty: string): number {
  const name = basename(liberty);
  for (const [k, v] of Object.entries(m.libraryNodes)) if (typeof v === 'number' && name.includes(k)) return v;
  throw new UserError(`memory model: no technology node for liberty ${name}; add {"<part of the file name>": <nm>} to libraryNodes in a --memory-model file`);
}

function poly(p: { a: number; b: number; c: number }, v: number): number {
  return p.a * v * v + p.b * v + p.c;
}

/** Stillmaker-Baas energy factor of node nm at supply v (linear in node between table rows). */
function nodeFactor(m: MemoryModel, nm: number, v: number): number {
  const t = m.nodeScaling.energyPolynomials;
  const largest = t[0]!;
  if (nm > largest.nm) {
    // Extrapolation (docs/memory.md): the largest node at its nominal supply, then E ~ L V^2.
    const v0 = m.nodeScaling.largestNodeVolts;
    return poly(largest, v0) * (nm / largest.nm) * (v / v0) ** 2;
  }
  const smallest = t[t.length - 1]!;
  if (nm < smallest.nm) throw new UserError(`memory model: node ${nm} nm is below the smallest tabulated node (${smallest.nm} nm)`);
  for (let i = 0; i < t.length - 1; i++) {
    const hi = t[i]!;
    const lo = t[i + 1]!;
    if (nm <= hi.nm && nm >= lo.nm) {
      const w = hi.nm === lo.nm ? 0 : (hi.nm - nm) / (hi.nm - lo.nm);
      return poly(hi, v) * (1 - w) + poly(lo, v) * w;
    }
  }
  return poly(largest, v);
}

/** Dynamic-energy multiplier from the model's reference (45 nm, 0.9 V) to node nm at supply v. */
export function nodeEnergyScale(m: MemoryModel, nm: number, v: number): number {
  return nodeFactor(m, nm, v) / nodeFactor(m, m.reference.nodeNm, m.reference.volts);
}

/** Whether node nm is outside the model's table (its scaling is an extrapolation). */
export function isExtrapolated(m: MemoryModel, nm: number): boolean {
  return nm > m.nodeScaling.energyPolynomials[0]!.nm;
}

/** 64-bit read energy (pJ, reference node) of an SRAM `depth` words deep (anchor width words). */
export function anchorReadPj(m: MemoryModel, depth: number): number {
  const a = m.sram.anchors;
  const wordBytes = m.sram.anchorWordBits / 8;
  const d = a.map((x) => x.bytes / wordBytes);
  const k = m.sram.depthExponent;
  if (depth <= d[0]!) return a[0]!.readPj * (depth / d[0]!) ** k;
  const last = a.length - 1;
  if (depth >= d[last]!) return a[last]!.readPj * (depth / d[last]!) ** k;
  let i = 0;
  while (depth > d[i + 1]!) i++;
  const slope = Math.log(a[i + 1]!.readPj / a[i]!.readPj) / Math.log(d[i + 1]! / d[i]!);
  return a[i]!.readPj * (depth / d[i]!) ** slope;
}

export interface SramSpec {
  /** Capacity in bytes and the bits of one access (one word / row). */
  bytes: number;
  wordBits: number;
}

export interface Technology {
  /** Node of the liberty (nm) and the memories' supply (V). */
  nodeNm: number;
  volts: number;
  /** Leakage (nW) of the liberty cell the model names, at `volts`; 0 if the model gives nwPerBit. */
  cellLeakageNw: number;
  /** Leakage ratio at `volts` vs the liberty's nominal supply (synth/voltage.ts). */
  leakageScale: number;
}

export interface SramEnergy {
  readPj: number;
  writePj: number;
  /** Leakage power (nW) of the whole array. */
  leakageNw: number;
}

/** Per-access energies and leakage of one SRAM at the given technology. */
export function sramEnergy(m: MemoryModel, s: SramSpec, t: Technology): SramEnergy {
  const depth = (s.bytes * 8) / s.wordBits;
  const scale = nodeEnergyScale(m, t.nodeNm, t.volts);
  const readPj = anchorReadPj(m, depth) * (s.wordBits / m.sram.anchorWordBits) * scale;
  const l = m.sram.leakage;
  const perBit = 'nwPerBit' in l ? l.nwPerBit : t.cellLeakageNw / l.bitsPerCell;
  return { readPj, writePj: readPj * m.sram.writeOverRead, leakageNw: s.bytes * 8 * perBit * t.leakageScale };
}

/** DRAM energy per byte (pJ). */
export function dramPjPerByte(m: MemoryModel): number {
  return m.dram.pjPerAccess / (m.dram.accessBits / 8);
}

/** Energy (pJ) of a leakage power (nW) over `cycles` at `clockMHz`. */
export function leakagePj(nw: number, cycles: number, clockMHz: number): number {
  return (nw * cycles) / (clockMHz * 1e3);
}
