import { describe, expect, it } from 'vitest';
import { makeRng } from '../core/rng.ts';
import { backward, forwardAll, layerConductance, layerCriticality, targetSeed } from '../explore/xai.ts';
import { runFloat } from '../nn/float.ts';
import type { FloatGraph } from '../nn/graph.ts';
import { randomConv } from './helpers/graphs.ts';

/** A small graph touching every op the backward pass supports, with a residual add. */
function tinyGraph(seed: number): FloatGraph {
  const rng = makeRng(seed);
  const conv = (name: string, input: string, output: string, ic: number, oc: number, k: number, pad: number, relu: boolean, kind: 'conv' | 'dense' = 'conv') =>
    randomConv(rng, { name, input, output, ic, oc, k, pad, relu, kind }, { weight: 0.6, bias: 0.2 });
  return {
    name: 'tiny',
    input: 'x',
    inputShape: { c: 2, h: 6, w: 6 },
    output: 'y',
    layers: [
      conv('c1', 'x', 'a1', 2, 3, 3, 1, true),
      { op: 'maxpool', name: 'p1', input: 'a1', output: 'm1', kh: 2, kw: 2, stride: [2, 2], pads: [0, 0, 0, 0], relu: false },
      conv('c2', 'm1', 'a2', 3, 3, 3, 1, false),
      { op: 'add', name: 'res', inputs: ['m1', 'a2'], output: 'r', relu: true },
      { op: 'avgpool', name: 'p2', input: 'r', output: 'm2', kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1], relu: false },
      { op: 'reshape', name: 'flat', input: 'm2', output: 'f' },
      conv('fc', 'f', 'y', 12, 4, 1, 0, false, 'dense'),
    ],
    shapes: {
      x: { c: 2, h: 6, w: 6 },
      a1: { c: 3, h: 6, w: 6 },
      m1: { c: 3, h: 3, w: 3 },
      a2: { c: 3, h: 3, w: 3 },
      r: { c: 3, h: 3, w: 3 },
      m2: { c: 3, h: 2, w: 2 },
      f: { c: 12, h: 1, w: 1 },
      y: { c: 4, h: 1, w: 1 },
    },
  };
}

describe('XAI backward pass', () => {
  it('input gradients match central finite differences', () => {
    const g = tinyGraph(3);
    const batch = 2;
    const rng = makeRng(11);
    const x = Float32Array.from({ length: batch * 72 }, () => rng());
    const targets = [1, 3];
    const F = (inp: Float32Array) => {
      const y = runFloat(g, inp, batch);
      return y[0 * 4 + 1]! + y[1 * 4 + 3]!;
    };
    const grads = backward(g, forwardAll(g, x, batch), batch, targetSeed(batch, 4, targets));
    const gx = grads.get('x')!;
    const eps = 1e-3;
    let checked = 0;
    let maxErr = 0;
    for (let i = 0; i < x.length; i += 5) {
      const xp = x.slice();
      const xm = x.slice();
      xp[i] = xp[i]! + eps;
      xm[i] = xm[i]! - eps;
      const fd = (F(xp) - F(xm)) / (2 * eps);
      maxErr = Math.max(maxErr, Math.abs(fd - gx[i]!));
      checked++;
    }
    expect(checked).toBeGreaterThan(25);
    expect(maxErr).toBeLessThan(2e-3);
    // And the gradient is not trivially zero.
    expect(Math.max(...Array.from(gx, Math.abs))).toBeGreaterThan(1e-2);
  });

  it('conductance of a layer every path crosses sums to F(x) - F(0) (completeness)', () => {
    const g = tinyGraph(5);
    const rng = makeRng(2);
    const x = Float32Array.from({ length: 72 }, () => rng());
    const y = runFloat(g, x, 1);
    const y0 = runFloat(g, new Float32Array(72), 1);
    const target = 2;
    const want = y[target]! - y0[target]!;
    const cond = layerConductance(g, x, 1, [target], 256);
    const sum = Array.from(cond.get('c1')!).reduce((s, v) => s + v, 0);
    expect(Math.abs(sum - want)).toBeLessThan(0.02 * Math.max(1, Math.abs(want)));
    const sumFc = Array.from(cond.get('fc')!).reduce((s, v) => s + v, 0);
    expect(sumFc).toBeCloseTo(want, 4);
  });

  it('scores every conv/dense layer with finite, non-negative criticality', () => {
    const g = tinyGraph(7);
    const rng = makeRng(9);
    const n = 5;
    const x = Float32Array.from({ length: n * 72 }, () => rng());
    const scores = layerCriticality(g, x, [0, 1, 2, 3, 0], n, { steps: 8, chunk: 2 });
    expect(scores.map((s) => s.layer)).toEqual(['c1', 'c2', 'fc']);
    for (const s of scores) {
      expect(Number.isFinite(s.gradTimesActivation) && s.gradTimesActivation > 0).toBe(true);
      expect(Number.isFinite(s.conductance) && s.conductance > 0).toBe(true);
    }
  });
});
