import { UserError } from '../core/errors.ts';
import type { ResolvedAssignment } from './assign.ts';
import type { Dataset } from './dataset.ts';
import type { FloatGraph } from './graph.ts';
import type { QuantModel } from './qmodel.ts';

/**
 * What `axtpu finetune` hands to PyTorch (scripts/train/finetune.py reads it): the float network
 * (weights to train), the quantized model's activation scales and zero points and residual-add
 * multipliers (fixed while training), the engine's LUT bank and which cell computes each (oc, k)
 * multiply. Everything is derived here from axtpu's own structures, so the assignment's meaning
 * (nn/assign.ts) and the calibration (nn/quantize.ts) exist once; the script only re-derives the
 * per-step weight quantization, because the weights change under it.
 */
export interface TrainOptions {
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  threads: number;
}

export interface FinetuneJob {
  plan: Record<string, unknown>;
  /** File name -> bytes, written next to plan.json. */
  files: Record<string, Uint8Array>;
}

const MAX_K = 4096;

const bytesOf = (a: Float32Array | Int32Array | Uint8Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Images then labels, one file (the training scripts split them by the input shape). */
export function imagesFile(ds: Dataset): Uint8Array {
  const out = new Uint8Array(ds.pixels.length + ds.count);
  out.set(ds.pixels);
  out.set(ds.labels.subarray(0, ds.count), ds.pixels.length);
  return out;
}

export function finetuneJob(graph: FloatGraph, q: QuantModel, resolved: ResolvedAssignment, train: Dataset, check: Dataset, opts: TrainOptions): FinetuneJob {
  if (graph.layers.length !== q.layers.length) throw new Error('finetune: float graph and quantized model differ in layers');
  const weights: number[] = [];
  const cellChunks: Uint8Array[] = [];
  let cellOffset = 0;
  const layers = graph.layers.map((l, i) => {
    const ql = q.layers[i]!;
    if (ql.name !== l.name || ql.op !== l.op) throw new Error(`finetune: layer ${i} is ${l.name} in the graph but ${ql.name} in the quantized model`);
    if (l.op === 'conv' || l.op === 'maxpool' || l.op === 'avgpool') {
      // PyTorch's conv/pool take one pad per axis; the importer accepts asymmetric ONNX pads.
      if (l.pads[0] !== l.pads[2] || l.pads[1] !== l.pads[3])
        throw new UserError(`finetune: layer ${l.name} has asymmetric padding [${l.pads.join(',')}], which the PyTorch side does not model`);
    }
    if (l.op === 'conv' && ql.op === 'conv') {
      // The script's float32 sums of integer products are exact for K < MAX_K (scripts/train/finetune.py).
      if (ql.K >= MAX_K) throw new UserError(`finetune: layer ${l.name} reduces over K = ${ql.K} products; at most ${MAX_K - 1} are supported`);
      const weight = weights.length;
      for (const v of l.weight) weights.push(v);
      const bias = weights.length;
      for (const v of l.bias) weights.push(v);
      // The cell of each (oc, k) multiply, from the engine's own row offsets (bank index * 65536 + ...).
      const ro = resolved.rowOffsets[l.name]!;
      const cells = new Uint8Array(ro.length);
      for (let j = 0; j < ro.length; j++) cells[j] = ro[j]! >>> 16;
      const at = cellOffset;
      cellChunks.push(cells);
      cellOffset += cells.length;
      const { weight: _w, bias: _b, ...geometry } = l;
      return { ...geometry, weight, bias, cells: at };
    }
    if (ql.op === 'add')
      return { op: 'add', name: ql.name, inputs: ql.inputs, output: ql.output, relu: ql.relu, leftShift: ql.leftShift, in0: ql.in0, in1: ql.in1, out: ql.out };
    return l;
  });
  if (resolved.ids.length > 255) throw new UserError(`finetune: at most 255 distinct cells per run, got ${resolved.ids.length}`);
  const cells = new Uint8Array(cellOffset);
  let o = 0;
  for (const c of cellChunks) {
    cells.set(c, o);
    o += c.length;
  }
  const plan = {
    format: 'axtpu-finetune-plan-1',
    name: q.name,
    scheme: q.scheme,
    input: q.input,
    inputShape: q.inputShape,
    output: q.output,
    shapes: q.shapes,
    tensors: q.tensors,
    cells: resolved.ids,
    layers,
    train: opts,
  };
  return {
    plan,
    files: {
      'weights.bin': bytesOf(Float32Array.from(weights)),
      'cells.bin': cells,
      'bank.bin': bytesOf(resolved.table),
      'train.bin': imagesFile(train),
      'check.bin': imagesFile(check),
    },
  };
}
