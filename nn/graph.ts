/**
 * The float network after ONNX import: a topologically ordered list of layers over named
 * tensors. Every tensor is one image's C x H x W block (batch is outside); a dense layer is a
 * 1x1 convolution on a C x 1 x 1 tensor, so Flatten / Reshape move no data (CHW layout).
 */
export interface Shape {
  c: number;
  h: number;
  w: number;
}

export const size = (s: Shape): number => s.c * s.h * s.w;

/** A sliding-window layer over one input tensor (conv or pool): window, stride, padding. */
interface WindowGeometry {
  name: string;
  input: string;
  output: string;
  kh: number;
  kw: number;
  stride: [number, number];
  /** top, left, bottom, right */
  pads: [number, number, number, number];
  /** ReLU fused at the output. */
  relu: boolean;
}

/** Geometry of a conv or dense layer, shared by the float and the integer network. */
export interface ConvGeometry extends WindowGeometry {
  op: 'conv';
  /** 'dense' layers come from Gemm / MatMul; the arithmetic is the same. */
  kind: 'conv' | 'dense';
  ic: number;
  oc: number;
}

/** Conv (with folded BatchNorm) or dense (Gemm, MatMul + Add); optional fused ReLU. */
export interface ConvLayer extends ConvGeometry {
  /** oc x ic x kh x kw */
  weight: Float32Array;
  bias: Float32Array;
}

export interface PoolLayer extends WindowGeometry {
  op: 'maxpool' | 'avgpool';
}

export interface AddLayer {
  op: 'add';
  name: string;
  inputs: [string, string];
  output: string;
  relu: boolean;
}

export interface ReluLayer {
  op: 'relu';
  name: string;
  input: string;
  output: string;
}

/** Flatten / Reshape: same data, new shape. */
export interface ReshapeLayer {
  op: 'reshape';
  name: string;
  input: string;
  output: string;
}

export type Layer = ConvLayer | PoolLayer | AddLayer | ReluLayer | ReshapeLayer;

export interface FloatGraph {
  name: string;
  input: string;
  inputShape: Shape;
  output: string;
  layers: Layer[];
  shapes: Record<string, Shape>;
}

export function layerInputs(l: Layer): string[] {
  return l.op === 'add' ? [...l.inputs] : [l.input];
}

export function outShapeConv(s: Shape, l: { kh: number; kw: number; stride: [number, number]; pads: [number, number, number, number] }, oc: number): Shape {
  const h = Math.floor((s.h + l.pads[0] + l.pads[2] - l.kh) / l.stride[0]) + 1;
  const w = Math.floor((s.w + l.pads[1] + l.pads[3] - l.kw) / l.stride[1]) + 1;
  return { c: oc, h, w };
}

/**
 * The input rows [y0, y1) and columns [x0, x1) a window at output (oy, ox) covers, clipped to the
 * image: padding positions read nothing. Written into `out` (no allocation per window). One
 * definition for the engine's pools, the float reference and the XAI backward pass.
 */
export function windowBounds(
  l: { kh: number; kw: number; stride: [number, number]; pads: [number, number, number, number] },
  s: Shape,
  oy: number,
  ox: number,
  out: Int32Array,
): void {
  const y = oy * l.stride[0] - l.pads[0];
  const x = ox * l.stride[1] - l.pads[1];
  out[0] = Math.max(0, y);
  out[1] = Math.min(s.h, y + l.kh);
  out[2] = Math.max(0, x);
  out[3] = Math.min(s.w, x + l.kw);
}

/** Multiply-accumulates per image for a conv/dense layer. */
export function layerMacs(l: ConvGeometry, out: Shape): number {
  return out.h * out.w * l.oc * l.ic * l.kh * l.kw;
}
