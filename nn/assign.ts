import { UserError } from '../core/errors.ts';
import { jsonArg, parseOrThrow, z } from '../core/validate.ts';
import { getCell, productTable } from '../generators/multipliers/index.ts';
import type { QConvLayer, QuantModel, Scheme } from './qmodel.ts';
import { convLayers } from './qmodel.ts';

/**
 * Which cell computes which multiply. Granularity per layer:
 *   "<layer>": "<cell id>"                                   layer level
 *   "<layer>": { "filters": ["<id>", ...] }                  one cell per output channel (array column)
 *   "<layer>": { "kernels": [["<id>", ...], ...] }           one per (output, input channel) (per PE)
 * `default` covers layers not listed. Layer names are the ONNX node names `axtpu eval` prints.
 */
const cellId = z.string().min(1);
export const assignmentSchema = z
  .object({
    default: cellId.optional(),
    layers: z
      .record(z.union([cellId, z.object({ filters: z.array(cellId).min(1) }).strict(), z.object({ kernels: z.array(z.array(cellId).min(1)).min(1) }).strict()]))
      .default({}),
    /** Layers whose outputs get control-variate compensation (docs/cv.md; nn/cv.ts fits it). */
    cv: z.array(z.string().min(1)).optional(),
    /**
     * Supply voltage per layer (one, or one per filter = array column) for layers whose columns run
     * below nominal at the nominal clock: their timing errors are drawn from per-voltage error
     * models (docs/vos.md, "Injection"). Layers not listed run at nominal.
     */
    volts: z.record(z.union([z.number().positive(), z.array(z.number().positive()).min(1)])).optional(),
    /** Magnitude-pruning sparsity per layer (explore's prune knob; nn/prune.ts). */
    prune: z.record(z.number().min(0).lt(1)).optional(),
    /** Weight-memory supply per layer (explore's wmem knob; nn/wmem.ts draws the read faults). */
    wmem: z.record(z.number().positive()).optional(),
  })
  .strict();
export type Assignment = z.infer<typeof assignmentSchema>;

/** An assignment given as inline JSON or a file (like --map). */
export function readAssignment(pathOrJson: string): Assignment {
  const a = parseOrThrow(assignmentSchema, jsonArg(pathOrJson, '--assign'), `assignment ${pathOrJson.trim().startsWith('{') ? '(inline)' : pathOrJson}`);
  // Only explore's voltage search draws timing errors; a command that would silently run the
  // network clean must say so instead.
  if (a.volts)
    throw new UserError(
      `--assign: 'volts' (supplies below nominal, from explore --knobs voltage) is not used by eval, run or finetune, which compute without timing errors; remove it to evaluate the network clean`,
    );
  // Pruning and weight-memory supplies have their own flags, which eval and run validate and report.
  if (a.prune)
    throw new UserError(
      `--assign: 'prune' (from explore --knobs prune) is given to eval and run as --prune '${JSON.stringify(a.prune)}'; remove it from the assignment`,
    );
  if (a.wmem)
    throw new UserError(
      `--assign: 'wmem' (from explore --knobs wmem) is given to eval and run as --wmem-volts '${JSON.stringify(a.wmem)}'; remove it from the assignment`,
    );
  return a;
}

export function uniformAssignment(id: string): Assignment {
  return { default: id, layers: {} };
}

/** All cell ids an assignment uses (validated: known ids, one signedness, 8-bit). */
export function assignmentCells(a: Assignment): { ids: string[]; signed: boolean } {
  const ids = new Set<string>();
  if (a.default) ids.add(a.default);
  for (const v of Object.values(a.layers)) {
    if (typeof v === 'string') ids.add(v);
    else if ('filters' in v) for (const x of v.filters) ids.add(x);
    else for (const x of v.kernels.flat()) ids.add(x);
  }
  if (ids.size === 0) throw new UserError('assignment names no cell (give "default" or "layers")');
  const list = [...ids].sort();
  const cells = list.map((id) => getCell(id));
  for (const c of cells) if (c.bits !== 8) throw new UserError(`cell '${c.id}' is ${c.bits}-bit; the DNN engine needs 8-bit cells`);
  const signed = cells[0]!.signed;
  const odd = cells.find((c) => c.signed !== signed);
  if (odd) throw new UserError(`assignment mixes signed and unsigned cells ('${cells[0]!.id}' vs '${odd.id}'); one quantization scheme per run`);
  return { ids: list, signed };
}

/** The cell of every filter of a layer (layer or filter level; kernel level has no single one). */
export function layerFilterCells(a: Assignment, layer: string, oc: number): string[] {
  const spec = a.layers[layer] ?? a.default;
  if (spec === undefined) throw new UserError(`assignment has no cell for layer '${layer}' and no "default"`);
  if (typeof spec === 'string') return Array.from({ length: oc }, () => spec);
  if ('filters' in spec) return spec.filters;
  throw new UserError(`assignment layer '${layer}': per-kernel cells have no single cell per array column (voltage models are per PE column)`);
}

/** Every layer the assignment names must be a conv/dense layer of the model (checked on the float graph, before calibration). */
export function checkAssignmentLayers(a: Assignment, convNames: Iterable<string>, model: string): void {
  const names = new Set(convNames);
  for (const n of Object.keys(a.layers))
    if (!names.has(n)) throw new UserError(`assignment names layer '${n}' which is not a conv/dense layer of ${model} (layers: ${[...names].join(', ')})`);
}

export const schemeFor = (signed: boolean): Scheme => (signed ? 'signed' : 'unsigned');

/** The LUT bank plus per-layer row offsets for `gemmLut` (see nn/gemm.ts). */
export interface ResolvedAssignment {
  ids: string[];
  table: Int32Array;
  rowOffsets: Record<string, Int32Array>;
  /** Per layer: multiplies per cell id (per image), for reports. */
  usage: Record<string, Record<string, number>>;
}

export type LayerSpec = Assignment['layers'][string];

/** Input channel of reduction index k (k = (ic, ky, kx), as the weights and im2col order it). */
export function inputChannelOf(l: Pick<QConvLayer, 'kh' | 'kw'>, k: number): number {
  return Math.floor(k / (l.kh * l.kw));
}

/**
 * The cell of every (output channel o, input channel ic) multiply of a layer under its spec: the
 * ONE reading of layer / filter / kernel granularity (the engine's LUT rows and the array's
 * per-weight tags both come from it).
 */
export function layerCellOf(l: Pick<QConvLayer, 'name' | 'oc' | 'ic'>, spec: LayerSpec): (o: number, ic: number) => string {
  if (typeof spec === 'string') return () => spec;
  if ('filters' in spec) {
    if (spec.filters.length !== l.oc)
      throw new UserError(`assignment layer '${l.name}': filters has ${spec.filters.length} entries, layer has ${l.oc} output channels`);
    return (o) => spec.filters[o]!;
  }
  if (spec.kernels.length !== l.oc || spec.kernels.some((r) => r.length !== l.ic))
    throw new UserError(`assignment layer '${l.name}': kernels must be ${l.oc} x ${l.ic} (output x input channels)`);
  return (o, ic) => spec.kernels[o]![ic]!;
}

export function resolveAssignment(m: QuantModel, a: Assignment): ResolvedAssignment {
  const { ids, signed } = assignmentCells(a);
  if (schemeFor(signed) !== m.scheme)
    throw new UserError(`assignment uses ${signed ? 'signed' : 'unsigned'} cells but the model is quantized with the ${m.scheme} scheme`);
  const convs = convLayers(m);
  const names = new Set(convs.map((l) => l.name));
  for (const name of [...Object.keys(a.layers), ...(a.cv ?? []), ...Object.keys(a.volts ?? {})])
    if (!names.has(name))
      throw new UserError(`assignment names layer '${name}' which is not a conv/dense layer of ${m.name} (layers: ${[...names].join(', ')})`);
  const index = new Map(ids.map((id, i) => [id, i]));
  // Transposed tables: T[c * 65536 + b * 256 + a] = product(a, b).
  const table = new Int32Array(ids.length * 65536);
  ids.forEach((id, c) => {
    const t = productTable(getCell(id));
    for (let x = 0; x < 256; x++) for (let w = 0; w < 256; w++) table[c * 65536 + w * 256 + x] = t[(x << 8) | w]!;
  });
  const rowOffsets: Record<string, Int32Array> = {};
  const usage: Record<string, Record<string, number>> = {};
  for (const l of convs) {
    const spec = a.layers[l.name] ?? a.default;
    if (spec === undefined) throw new UserError(`assignment has no cell for layer '${l.name}' and no "default"`);
    const outPos = m.shapes[l.output]!.h * m.shapes[l.output]!.w;
    const cellOf = layerCellOf(l, spec);
    const ro = new Int32Array(l.oc * l.K);
    const use: Record<string, number> = {};
    for (let o = 0; o < l.oc; o++)
      for (let k = 0; k < l.K; k++) {
        const id = cellOf(o, inputChannelOf(l, k));
        ro[o * l.K + k] = index.get(id)! * 65536 + (l.weights[o * l.K + k]! & 0xff) * 256;
        use[id] = (use[id] ?? 0) + outPos;
      }
    rowOffsets[l.name] = ro;
    usage[l.name] = use;
  }
  return { ids, table, rowOffsets, usage };
}

export function parseAssignment(data: unknown, source: string): Assignment {
  return parseOrThrow(assignmentSchema, data, source);
}
