import type { ConvLayer } from '../../nn/graph.ts';

/** A square-kernel, stride-1 conv/dense layer of a small float test graph with random weights and biases. */
export function randomConv(
  rng: () => number,
  l: { name: string; input: string; output: string; ic: number; oc: number; k: number; pad?: number; relu: boolean; kind?: 'conv' | 'dense' },
  scale: { weight: number; bias: number },
): ConvLayer {
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (rng() * 2 - 1) * s);
  const pad = l.pad ?? 0;
  return {
    op: 'conv',
    name: l.name,
    kind: l.kind ?? 'conv',
    input: l.input,
    output: l.output,
    ic: l.ic,
    oc: l.oc,
    kh: l.k,
    kw: l.k,
    stride: [1, 1],
    pads: [pad, pad, pad, pad],
    weight: rand(l.oc * l.ic * l.k * l.k, scale.weight),
    bias: rand(l.oc, scale.bias),
    relu: l.relu,
  };
}
