import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import onnxPkg from 'onnx-proto';
import { UserError } from '../core/errors.ts';
import { type ConvLayer, type FloatGraph, type Layer, outShapeConv, type Shape } from './graph.ts';

/**
 * ONNX import (onnx-proto = the official onnx.proto compiled with protobufjs) into the float
 * layer graph. Supported: Conv (dilation 1, group 1), Gemm, MatMul (+ Add bias), Relu, MaxPool,
 * AveragePool, GlobalAveragePool, Flatten, Reshape, Identity/Dropout, Add (residual, or bias),
 * BatchNormalization folded into the preceding Conv. Anything else is a UserError naming the op
 * and node.
 */
export const { onnx } = onnxPkg;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProto = InstanceType<typeof onnx.TensorProto>;

interface Const {
  dims: number[];
  data: Float64Array;
}

const num = (v: unknown): number =>
  typeof v === 'number' ? v : v && typeof (v as { toNumber?: () => number }).toNumber === 'function' ? (v as { toNumber: () => number }).toNumber() : Number(v);

/** Largest tensor accepted (elements): far above any model the engine can run, far below what crashes. */
const MAX_TENSOR_ELEMENTS = 1 << 27;

function tensorData(t: TensorProto, where: string): Const {
  const dims = (t.dims ?? []).map(num);
  const bad = dims.find((d) => !Number.isSafeInteger(d) || d < 0);
  if (bad !== undefined) throw new UserError(`${where}: tensor ${t.name} has an invalid dimension ${bad} (dims [${dims.join(',')}])`);
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > MAX_TENSOR_ELEMENTS)
    throw new UserError(`${where}: tensor ${t.name} is too large (dims [${dims.join(',')}], ${n} elements; at most ${MAX_TENSOR_ELEMENTS})`);
  const DT = onnx.TensorProto.DataType;
  const raw = t.rawData?.length ? t.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  const typedLength: Record<number, number> = {
    [DT.FLOAT]: t.floatData?.length ?? 0,
    [DT.DOUBLE]: t.doubleData?.length ?? 0,
    [DT.INT64]: t.int64Data?.length ?? 0,
    [DT.INT32]: t.int32Data?.length ?? 0,
  };
  if (!view && n > 0 && (typedLength[t.dataType ?? -1] ?? n) < n)
    throw new UserError(`${where}: tensor ${t.name} is missing data (${typedLength[t.dataType ?? -1]} values for dims [${dims.join(',')}])`);
  const out = new Float64Array(n);
  const need = (bytes: number) => {
    if (view && view.byteLength !== n * bytes) throw new UserError(`${where}: tensor ${t.name} raw data has ${view.byteLength} bytes, expected ${n * bytes}`);
  };
  switch (t.dataType) {
    case DT.FLOAT:
      need(4);
      for (let i = 0; i < n; i++) out[i] = view ? view.getFloat32(4 * i, true) : num(t.floatData[i]);
      break;
    case DT.DOUBLE:
      need(8);
      for (let i = 0; i < n; i++) out[i] = view ? view.getFloat64(8 * i, true) : num(t.doubleData[i]);
      break;
    case DT.INT64:
      need(8);
      for (let i = 0; i < n; i++) out[i] = view ? Number(view.getBigInt64(8 * i, true)) : num(t.int64Data[i]);
      break;
    case DT.INT32:
      need(4);
      for (let i = 0; i < n; i++) out[i] = view ? view.getInt32(4 * i, true) : num(t.int32Data[i]);
      break;
    default:
      throw new UserError(`${where}: tensor ${t.name} has unsupported data type ${t.dataType}`);
  }
  if (!view && n > 0 && out.some((v) => Number.isNaN(v))) throw new UserError(`${where}: tensor ${t.name} is missing data`);
  return { dims, data: out };
}

function attrs(node: NodeProto): Map<string, { i?: number; f?: number; ints?: number[]; s?: string }> {
  const m = new Map<string, { i?: number; f?: number; ints?: number[]; s?: string }>();
  for (const a of node.attribute ?? []) {
    m.set(a.name ?? '', {
      i: a.i !== undefined && a.i !== null ? num(a.i) : undefined,
      f: a.f ?? undefined,
      ints: (a.ints ?? []).map(num),
      s: a.s?.length ? new TextDecoder().decode(a.s) : undefined,
    });
  }
  return m;
}

/** Decode an ONNX file; a corrupt or non-ONNX file is one UserError line. */
export function readOnnxModel(path: string): InstanceType<typeof onnx.ModelProto> {
  if (!existsSync(path)) throw new UserError(`model not found: ${path}`);
  const bytes = readFileSync(path);
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new UserError(`model ${path}: not a valid ONNX file (${(err as Error).message.split('\n')[0]})`);
  }
  if (!model.graph || !(model.graph.node ?? []).length || !(model.graph.input ?? []).length)
    throw new UserError(`model ${path}: not a valid ONNX file (no graph, nodes or inputs)`);
  return model;
}

export function importOnnx(path: string): FloatGraph {
  return graphFromModel(readOnnxModel(path), basename(path).replace(/\.onnx$/, ''), path);
}

export function graphFromModel(model: InstanceType<typeof onnx.ModelProto>, name: string, where: string): FloatGraph {
  const g = model.graph!;
  const consts = new Map<string, Const>();
  for (const t of g.initializer ?? []) consts.set(t.name ?? '', tensorData(t as TensorProto, where));
  const realInputs = (g.input ?? []).filter((i) => !consts.has(i.name ?? ''));
  if (realInputs.length !== 1) throw new UserError(`model ${where}: expected exactly one data input, got ${realInputs.length}`);
  const inp = realInputs[0]!;
  const dims = (inp.type?.tensorType?.shape?.dim ?? []).map((d) =>
    d.dimValue !== undefined && d.dimValue !== null && num(d.dimValue) > 0 ? num(d.dimValue) : -1,
  );
  let inputShape: Shape;
  if (dims.length === 4 && dims.slice(1).every((d) => d > 0)) inputShape = { c: dims[1]!, h: dims[2]!, w: dims[3]! };
  else if (dims.length === 2 && dims[1]! > 0) inputShape = { c: dims[1]!, h: 1, w: 1 };
  else throw new UserError(`model ${where}: input ${inp.name} must be [N,C,H,W] or [N,X] with fixed C,H,W (got [${dims.join(',')}])`);
  if (![inputShape.c, inputShape.h, inputShape.w].every(Number.isSafeInteger) || inputShape.c * inputShape.h * inputShape.w > MAX_TENSOR_ELEMENTS)
    throw new UserError(`model ${where}: input ${inp.name} shape [${dims.join(',')}] is too large`);
  const outputs = g.output ?? [];
  if (outputs.length !== 1) throw new UserError(`model ${where}: expected exactly one output, got ${outputs.length}`);

  const nodes = (g.node ?? []) as NodeProto[];
  // Consumers of each tensor (for folding BN / bias Add / ReLU only when nothing else reads it).
  const uses = new Map<string, number>();
  for (const n of nodes) for (const i of n.input ?? []) uses.set(i, (uses.get(i) ?? 0) + 1);
  const graphOut = outputs[0]!.name ?? '';
  for (const o of outputs) uses.set(o.name ?? '', (uses.get(o.name ?? '') ?? 0) + 1);

  const shapes: Record<string, Shape> = { [inp.name ?? '']: inputShape };
  const layers: Layer[] = [];
  const producer = new Map<string, Layer>();
  const alias = new Map<string, string>(); // tensor renamed by folding
  const resolve = (t: string) => alias.get(t) ?? t;
  const shapeOf = (t: string, node: NodeProto): Shape => {
    const s = shapes[resolve(t)];
    if (!s) throw new UserError(`model ${where}: node ${node.name || node.opType} reads unknown tensor ${t}`);
    return s;
  };
  const nodeName = (n: NodeProto, i: number) => n.name || `${n.opType}_${i}`;
  const push = (l: Layer, s: Shape) => {
    layers.push(l);
    shapes[l.output] = s;
    producer.set(l.output, l);
  };
  const constOf = (t: string) => consts.get(t);

  nodes.forEach((node, idx) => {
    const op = node.opType ?? '';
    const nm = nodeName(node, idx);
    const ins = (node.input ?? []).filter((s) => s !== '');
    const out = (node.output ?? [])[0] ?? '';
    const a = attrs(node);
    const bad = (why: string): never => {
      throw new UserError(`model ${where}: node ${nm} (${op}): ${why}`);
    };
    /** Kernel, strides and pads of a window op: positive kernel and strides, pads in 0..kernel-1. */
    const checkWindow = (kh: number, kw: number, st: number[], pd: number[]) => {
      if (![kh, kw].every((k) => Number.isSafeInteger(k) && k >= 1 && k <= 4096)) bad(`kernel [${kh},${kw}] must be positive`);
      if (st.length > 2 || !st.every((s) => Number.isSafeInteger(s) && s >= 1 && s <= 4096)) bad(`strides [${st.join(',')}] must be two positive integers`);
      if (pd.length > 4 || !pd.every((q, i) => Number.isSafeInteger(q) && q >= 0 && q < (i % 2 === 0 ? kh : kw)))
        bad(`pads [${pd.join(',')}] must be four integers in 0..kernel-1`);
    };
    switch (op) {
      case 'Constant': {
        const t = a.get('value');
        const attr = (node.attribute ?? []).find((x) => x.name === 'value');
        if (!t || !attr?.t) bad('only tensor-valued Constant is supported');
        consts.set(out, tensorData(attr!.t as TensorProto, where));
        return;
      }
      case 'Conv': {
        const w = constOf(ins[1] ?? '') ?? bad('weight must be an initializer');
        if (w.dims.length !== 4) bad('weight must be 4-D');
        const [oc, ic, kh, kw] = w.dims as [number, number, number, number];
        const s = shapeOf(ins[0]!, node);
        if ((a.get('group')?.i ?? 1) !== 1) bad('group != 1 is not supported');
        if ((a.get('dilations')?.ints ?? []).some((d) => d !== 1)) bad('dilation != 1 is not supported');
        if (a.get('auto_pad')?.s && a.get('auto_pad')!.s !== 'NOTSET') bad('auto_pad is not supported (use explicit pads)');
        if (s.c !== ic) bad(`input has ${s.c} channels, weight expects ${ic}`);
        const st = a.get('strides')?.ints ?? [];
        const pd = a.get('pads')?.ints ?? [];
        checkWindow(kh, kw, st, pd);
        if (oc < 1 || ic < 1) bad(`weight dims [${w.dims.join(',')}] must be positive`);
        const b = ins[2] ? (constOf(ins[2]) ?? bad('bias must be an initializer')) : undefined;
        if (b && b.data.length !== oc) bad(`bias has ${b.data.length} values, expected ${oc}`);
        const l: ConvLayer = {
          op: 'conv',
          name: nm,
          kind: 'conv',
          input: resolve(ins[0]!),
          output: out,
          ic,
          oc,
          kh,
          kw,
          stride: [st[0] ?? 1, st[1] ?? 1],
          pads: [pd[0] ?? 0, pd[1] ?? 0, pd[2] ?? 0, pd[3] ?? 0],
          weight: Float32Array.from(w.data),
          bias: b ? Float32Array.from(b.data) : new Float32Array(oc),
          relu: false,
        };
        const os = outShapeConv(s, l, oc);
        if (os.h < 1 || os.w < 1) bad('output would be empty');
        push(l, os);
        return;
      }
      case 'BatchNormalization': {
        const prev = producer.get(resolve(ins[0]!));
        if (prev?.op !== 'conv' || uses.get(ins[0]!) !== 1) bad('BatchNormalization must directly follow a Conv whose output it alone reads');
        const conv = prev as ConvLayer;
        if (ins.length < 5) bad('needs scale, bias, mean and variance');
        const [gamma, beta, mean, vr] = ins.slice(1, 5).map((t) => constOf(t) ?? bad('parameters must be initializers'));
        const eps = a.get('epsilon')?.f ?? 1e-5;
        for (const [pname, pt] of [
          ['scale', gamma],
          ['bias', beta],
          ['mean', mean],
          ['variance', vr],
        ] as const)
          if (pt!.data.length !== conv.oc) bad(`${pname} has ${pt!.data.length} values, expected ${conv.oc}`);
        if (vr!.data.some((v) => !(v + eps > 0))) bad('variance + epsilon must be positive');
        const per = conv.ic * conv.kh * conv.kw;
        for (let o = 0; o < conv.oc; o++) {
          const k = gamma!.data[o]! / Math.sqrt(vr!.data[o]! + eps);
          for (let j = 0; j < per; j++) conv.weight[o * per + j] = conv.weight[o * per + j]! * k;
          conv.bias[o] = (conv.bias[o]! - mean!.data[o]!) * k + beta!.data[o]!;
        }
        alias.set(out, conv.output);
        return;
      }
      case 'Gemm':
      case 'MatMul': {
        const w = constOf(ins[1] ?? '') ?? bad('weight (B) must be an initializer');
        if (w.dims.length !== 2) bad('weight must be 2-D');
        const s = shapeOf(ins[0]!, node);
        if (op === 'Gemm' && (a.get('transA')?.i ?? 0) !== 0) bad('transA is not supported');
        const transB = op === 'Gemm' ? (a.get('transB')?.i ?? 0) : 0;
        const alpha = op === 'Gemm' ? (a.get('alpha')?.f ?? 1) : 1;
        const beta = op === 'Gemm' ? (a.get('beta')?.f ?? 1) : 1;
        const [d0, d1] = w.dims as [number, number];
        const [inN, outN] = transB ? [d1, d0] : [d0, d1];
        if (inN < 1 || outN < 1) bad(`weight dims [${w.dims.join(',')}] must be positive`);
        const k = s.c * s.h * s.w;
        if (k !== inN) bad(`input has ${k} features, weight expects ${inN}`);
        const weight = new Float32Array(outN * inN);
        for (let o = 0; o < outN; o++) for (let i = 0; i < inN; i++) weight[o * inN + i] = alpha * (transB ? w.data[o * inN + i]! : w.data[i * outN + o]!);
        const bias = new Float32Array(outN);
        if (op === 'Gemm' && ins[2]) {
          const c = constOf(ins[2]) ?? bad('bias (C) must be an initializer');
          const n = c.data.length;
          if (n !== outN && n !== 1) bad(`bias has ${n} values, expected ${outN}`);
          for (let o = 0; o < outN; o++) bias[o] = beta * c.data[n === 1 ? 0 : o]!;
        }
        let input = resolve(ins[0]!);
        if (s.h !== 1 || s.w !== 1) {
          // Implicit flatten (CHW layout keeps the data in place).
          const r = `${input}__flat`;
          push({ op: 'reshape', name: `${nm}_flatten`, input, output: r }, { c: k, h: 1, w: 1 });
          input = r;
        }
        push(
          {
            op: 'conv',
            name: nm,
            kind: 'dense',
            input,
            output: out,
            ic: inN,
            oc: outN,
            kh: 1,
            kw: 1,
            stride: [1, 1],
            pads: [0, 0, 0, 0],
            weight,
            bias,
            relu: false,
          },
          { c: outN, h: 1, w: 1 },
        );
        return;
      }
      case 'Add': {
        const c0 = constOf(ins[0] ?? '');
        const c1 = constOf(ins[1] ?? '');
        if (c0 || c1) {
          const t = c0 ? ins[1]! : ins[0]!;
          const c = (c0 ?? c1)!;
          const prev = producer.get(resolve(t));
          if (prev?.op !== 'conv' || uses.get(t) !== 1) bad('adding a constant is only supported as the bias of a preceding MatMul/Gemm/Conv');
          const conv = prev as ConvLayer;
          const n = c.data.length;
          const perChannel = n === conv.oc && (c.dims.length === 1 || (c.dims.length <= 4 && conv.kind === 'dense') || c.dims[c.dims.length - 3] === conv.oc);
          if (n !== 1 && !perChannel) bad(`bias shape [${c.dims.join(',')}] does not broadcast per output channel`);
          for (let o = 0; o < conv.oc; o++) conv.bias[o] = conv.bias[o]! + c.data[n === 1 ? 0 : o]!;
          alias.set(out, conv.output);
          return;
        }
        const s0 = shapeOf(ins[0]!, node);
        const s1 = shapeOf(ins[1]!, node);
        if (s0.c !== s1.c || s0.h !== s1.h || s0.w !== s1.w) bad(`operand shapes differ (${s0.c}x${s0.h}x${s0.w} vs ${s1.c}x${s1.h}x${s1.w})`);
        push({ op: 'add', name: nm, inputs: [resolve(ins[0]!), resolve(ins[1]!)], output: out, relu: false }, s0);
        return;
      }
      case 'Relu':
        push({ op: 'relu', name: nm, input: resolve(ins[0]!), output: out }, shapeOf(ins[0]!, node));
        return;
      case 'MaxPool':
      case 'AveragePool': {
        const s = shapeOf(ins[0]!, node);
        const k = a.get('kernel_shape')?.ints ?? [];
        if (k.length !== 2) bad('kernel_shape must be 2-D');
        if ((a.get('ceil_mode')?.i ?? 0) !== 0) bad('ceil_mode=1 is not supported');
        if ((a.get('dilations')?.ints ?? []).some((d) => d !== 1)) bad('dilation != 1 is not supported');
        if (a.get('auto_pad')?.s && a.get('auto_pad')!.s !== 'NOTSET') bad('auto_pad is not supported (use explicit pads)');
        const st = a.get('strides')?.ints ?? [];
        const pd = a.get('pads')?.ints ?? [];
        checkWindow(k[0]!, k[1]!, st, pd);
        const pads: [number, number, number, number] = [pd[0] ?? 0, pd[1] ?? 0, pd[2] ?? 0, pd[3] ?? 0];
        if (op === 'AveragePool' && pads.some((p) => p !== 0)) bad('padded AveragePool is not supported');
        const l = {
          op: op === 'MaxPool' ? ('maxpool' as const) : ('avgpool' as const),
          name: nm,
          input: resolve(ins[0]!),
          output: out,
          kh: k[0]!,
          kw: k[1]!,
          stride: [st[0] ?? 1, st[1] ?? 1] as [number, number],
          pads,
          relu: false,
        };
        const os = outShapeConv(s, l, s.c);
        if (os.h < 1 || os.w < 1) bad('output would be empty');
        push(l, os);
        return;
      }
      case 'GlobalAveragePool': {
        const s = shapeOf(ins[0]!, node);
        push(
          { op: 'avgpool', name: nm, input: resolve(ins[0]!), output: out, kh: s.h, kw: s.w, stride: [1, 1], pads: [0, 0, 0, 0], relu: false },
          { c: s.c, h: 1, w: 1 },
        );
        return;
      }
      case 'Flatten':
      case 'Reshape':
      case 'Identity':
      case 'Dropout': {
        const s = shapeOf(ins[0]!, node);
        let ns: Shape = s;
        const total = s.c * s.h * s.w;
        if (op === 'Flatten') {
          if ((a.get('axis')?.i ?? 1) !== 1) bad('only axis=1 is supported');
          ns = { c: total, h: 1, w: 1 };
        } else if (op === 'Reshape') {
          const sh = constOf(ins[1] ?? '') ?? bad('shape must be a constant');
          const d = Array.from(sh.data);
          if (d[0] !== -1 && d[0] !== 0 && d[0] !== 1) bad(`reshaping the batch dimension is not supported (shape [${d.join(',')}])`);
          const rest = d.slice(1);
          const known = rest.filter((x) => x > 0).reduce((p, q) => p * q, 1);
          const fixed = rest.map((x) => (x === -1 ? total / known : x));
          if (fixed.some((x) => !Number.isInteger(x) || x <= 0) || fixed.reduce((p, q) => p * q, 1) !== total)
            bad(`shape [${d.join(',')}] does not match ${total} elements`);
          if (fixed.length === 1) ns = { c: fixed[0]!, h: 1, w: 1 };
          else if (fixed.length === 3) ns = { c: fixed[0]!, h: fixed[1]!, w: fixed[2]! };
          else bad(`only reshapes to [N,X] or [N,C,H,W] are supported`);
        }
        push({ op: 'reshape', name: nm, input: resolve(ins[0]!), output: out }, ns);
        return;
      }
      default:
        throw new UserError(`model ${where}: unsupported op ${op} (node ${nm})`);
    }
  });

  // Fuse a ReLU into the layer producing its input when nothing else reads that tensor.
  const fused: Layer[] = [];
  for (const l of layers) {
    if (l.op === 'relu') {
      const prev = fused[fused.length - 1];
      if (
        prev &&
        prev.output === l.input &&
        (prev.op === 'conv' || prev.op === 'add' || prev.op === 'maxpool' || prev.op === 'avgpool') &&
        uses.get(l.input) === 1 &&
        !hasAliasUse(alias, l.input, uses)
      ) {
        prev.relu = true;
        alias.set(l.output, prev.output);
        shapes[l.output] = shapes[prev.output]!;
        continue;
      }
    }
    fused.push(renameInputs(l, alias));
  }
  let output = graphOut;
  for (let i = 0; i < 8 && alias.has(output); i++) output = alias.get(output)!;
  if (!shapes[output]) throw new UserError(`model ${where}: output ${graphOut} is not produced by any node`);
  return { name, input: inp.name ?? '', inputShape, output, layers: fused, shapes };
}

function hasAliasUse(alias: Map<string, string>, t: string, uses: Map<string, number>): boolean {
  // A folded tensor (BN / bias output) aliases t: its own readers also read t.
  for (const [from, to] of alias) if (to === t && (uses.get(from) ?? 0) > 1) return true;
  return false;
}

function renameInputs(l: Layer, alias: Map<string, string>): Layer {
  const r = (t: string) => {
    let x = t;
    for (let i = 0; i < 8 && alias.has(x); i++) x = alias.get(x)!;
    return x;
  };
  if (l.op === 'add') return { ...l, inputs: [r(l.inputs[0]), r(l.inputs[1])] };
  return { ...l, input: r(l.input) };
}
