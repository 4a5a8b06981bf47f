import type { Design } from '../generators/array/config.ts';
import { size } from '../nn/graph.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import { batches, type LayerCost } from './layer-cost.ts';

/**
 * DRAM traffic of a model run in batches (docs/memory.md, DRAM traffic). Per conv/dense layer:
 *   weights   dramWeightBytes of the layer's GEMMs (mapping/memory.ts): every fold fetches its
 *             weight rows, whole and padded, and every M-block fetches them again;
 *   input     the layer's input feature map (int8 codes, the whole batch) is read from DRAM unless
 *             it stays on chip (below);
 *   output    its output feature map (int8 after requantization, the whole batch) is written to
 *             DRAM unless it stays on chip.
 * An edge from array layer j to array layer j+1 (network order) stays on chip when the tensor
 * layer j+1 reads comes from layer j's output through on-chip vector operations only (pool, ReLU,
 * reshape: the feature map does not leave the chip), layer j's output feeds nothing else (no skip
 * connection, not the network output), and both feature maps of the batch (j's output and j+1's
 * input) fit in half the activation buffer. The network input is always read from DRAM and the
 * final output always written. Pool, add and the other vector layers are not modelled as traffic
 * of their own (their tensors either stay on chip on such an edge or are counted as the next
 * array layer's input).
 */
export interface LayerDram {
  layer: string;
  weightBytes: number;
  inputBytes: number;
  outputBytes: number;
  /** Batches whose input came from the chip / whose output stayed on it. */
  inputOnChipBatches: number;
  outputOnChipBatches: number;
  totalBytes: number;
}

/** The array layers (or the network input) a tensor is computed from through vector ops only. */
function sources(model: QuantModel): (tensor: string) => Set<string> {
  const producer = new Map(model.layers.map((l) => [l.output, l]));
  const memo = new Map<string, Set<string>>();
  const of = (t: string): Set<string> => {
    const hit = memo.get(t);
    if (hit) return hit;
    const p = producer.get(t);
    let s: Set<string>;
    if (!p || t === model.input) s = new Set(['<input>']);
    else if (p.op === 'conv') s = new Set([p.name]);
    else if (p.op === 'add') s = new Set([...of(p.inputs[0]), ...of(p.inputs[1])]);
    else s = of(p.input);
    memo.set(t, s);
    return s;
  };
  return of;
}

/** Per edge j -> j+1 of the array layers: could it stay on chip if the batch fits? */
export function chainedEdges(model: QuantModel): boolean[] {
  const convs = convLayers(model);
  const src = sources(model);
  // Consumers of each array layer's output: array layers whose input depends on it, and the output.
  const consumers = new Map<string, Set<string>>(convs.map((l) => [l.name, new Set()]));
  for (const l of convs) for (const s of src(l.input)) consumers.get(s)?.add(l.name);
  for (const s of src(model.output)) consumers.get(s)?.add('<output>');
  return convs.slice(0, -1).map((l, j) => {
    const next = convs[j + 1]!;
    const from = src(next.input);
    const to = consumers.get(l.name)!;
    return from.size === 1 && from.has(l.name) && to.size === 1 && to.has(next.name);
  });
}

export function layerDramTraffic(model: QuantModel, design: Pick<Design, 'memory'>, costs: LayerCost[], images: number, batch: number): LayerDram[] {
  const convs = convLayers(model);
  const half = (design.memory.ubKiB * 1024) / 2;
  const chained = chainedEdges(model);
  const inBytes = convs.map((l) => size(model.shapes[l.input]!));
  const outBytes = convs.map((l) => size(model.shapes[l.output]!));
  const out: LayerDram[] = convs.map((l, j) => ({
    layer: l.name,
    weightBytes: costs[j]!.buffers.dramWeightBytes,
    inputBytes: 0,
    outputBytes: 0,
    inputOnChipBatches: 0,
    outputOnChipBatches: 0,
    totalBytes: 0,
  }));
  for (const [, n] of batches(images, batch)) {
    const onChip = chained.map((c, j) => c && n * outBytes[j]! <= half && n * inBytes[j + 1]! <= half);
    convs.forEach((_, j) => {
      const d = out[j]!;
      if (j > 0 && onChip[j - 1]) d.inputOnChipBatches++;
      else d.inputBytes += n * inBytes[j]!;
      if (j < convs.length - 1 && onChip[j]) d.outputOnChipBatches++;
      else d.outputBytes += n * outBytes[j]!;
    });
  }
  for (const d of out) d.totalBytes = d.weightBytes + d.inputBytes + d.outputBytes;
  return out;
}
