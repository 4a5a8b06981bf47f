import { filterColumn } from '../mapping/place.ts';
import type { UnitPlan } from '../mapping/units.ts';
import { type ConvLayer, type FloatGraph, size } from '../nn/graph.ts';
import { kernelSplits } from './kernel-shares.ts';
import { backward, forwardAll, type LayerCriticality, layerCriticality, targetSeed } from './xai.ts';

/**
 * Criticality of the search's decision units from the XAI scores (explore/xai.ts):
 *   layer units   sum of the scores of the layers on the unit's tile;
 *   filter units  each layer's score split over its output channels in proportion to the
 *                 channel's gradient x activation, summed over the filters on the unit's column;
 *   kernel units  each filter's share split further over its input channels (kernel-shares.ts),
 *                 summed over the unit's filters and input channels.
 */
export type XaiMetric = 'conductance' | 'gxa';

export interface CriticalityResult {
  layers: LayerCriticality[];
  /** Per layer, per output channel: share of the layer's |grad x activation| (sums to 1). */
  channelShare: Record<string, number[]>;
  units: number[];
  metric: XaiMetric;
}

export function channelShares(g: FloatGraph, inputs: Float32Array, targets: ArrayLike<number>, count: number, chunk = 32): Record<string, number[]> {
  const convs = g.layers.filter((l): l is ConvLayer => l.op === 'conv');
  const inSize = size(g.inputShape);
  const classes = size(g.shapes[g.output]!);
  const sums = new Map(convs.map((l) => [l.name, new Float64Array(l.oc)]));
  for (let s = 0; s < count; s += chunk) {
    const n = Math.min(chunk, count - s);
    const x = inputs.subarray(s * inSize, (s + n) * inSize);
    const acts = forwardAll(g, x, n);
    const grads = backward(
      g,
      acts,
      n,
      targetSeed(
        n,
        classes,
        Array.from({ length: n }, (_, i) => targets[s + i]!),
      ),
    );
    for (const l of convs) {
      const a = acts.get(l.output)!;
      const d = grads.get(l.output)!;
      const per = size(g.shapes[l.output]!);
      const pos = per / l.oc;
      const acc = sums.get(l.name)!;
      for (let b = 0; b < n; b++)
        for (let c = 0; c < l.oc; c++) {
          let v = 0;
          for (let p = 0; p < pos; p++) {
            const i = b * per + c * pos + p;
            v += Math.abs(a[i]! * d[i]!);
          }
          acc[c] = acc[c]! + v;
        }
    }
  }
  const out: Record<string, number[]> = {};
  for (const [name, acc] of sums) {
    const tot = acc.reduce((x, y) => x + y, 0);
    out[name] = Array.from(acc, (v) => (tot > 0 ? v / tot : 1 / acc.length));
  }
  return out;
}

export function unitCriticality(
  plan: UnitPlan,
  g: FloatGraph,
  inputs: Float32Array,
  targets: ArrayLike<number>,
  count: number,
  metric: XaiMetric,
  steps: number,
): CriticalityResult {
  const layers = layerCriticality(g, inputs, targets, count, { steps });
  const score = (name: string) => {
    const l = layers.find((x) => x.layer === name)!;
    return metric === 'conductance' ? l.conductance : l.gradTimesActivation;
  };
  const channelShare = plan.granularity === 'layer' ? {} : channelShares(g, inputs, targets, count);
  // Kernel units: each filter's share split over its input channels (explore/kernel-shares.ts).
  const split = plan.granularity === 'kernel' ? kernelSplits(g, inputs, targets, count) : {};
  const units = plan.units.map((u) => {
    if (u.inputs) {
      const share = channelShare[u.inputs.layer]!;
      const rows = split[u.inputs.layer]!;
      let k = 0;
      for (let f = u.column!; f < share.length; f += plan.cols) for (let ic = u.inputs.from; ic < u.inputs.to; ic++) k += share[f]! * rows[f]![ic]!;
      return score(u.inputs.layer) * k;
    }
    let s = 0;
    for (const name of Object.keys(u.macs)) {
      if (u.column === null) s += score(name);
      else {
        const share = channelShare[name]!;
        for (let f = u.column; f < share.length; f += plan.cols) s += score(name) * share[f]!;
      }
    }
    return s;
  });
  return { layers, channelShare, units, metric };
}

/**
 * Per-unit scores from per-layer scores: a layer unit sums its tile's layers; a filter unit takes
 * each layer's score times the summed `channelWeight` share of the filters on its column
 * (weights per layer, any scale: normalized here; absent = equal shares).
 */
export function unitScores(plan: UnitPlan, layerScore: Record<string, number>, channelWeight: Record<string, ArrayLike<number>> = {}): number[] {
  return plan.units.map((u) => {
    let s = 0;
    for (const name of Object.keys(u.macs)) {
      const score = layerScore[name] ?? 0;
      if (u.column === null) {
        s += score;
        continue;
      }
      const w = channelWeight[name];
      const oc = plan.layers.find((l) => l.name === name)!.oc;
      let tot = 0;
      let mine = 0;
      for (let f = 0; f < oc; f++) {
        const x = w ? Math.max(0, w[f]!) : 1;
        tot += x;
        if (filterColumn(f, plan.cols) === u.column) mine += x;
      }
      s += tot > 0 ? (score * mine) / tot : 0;
    }
    return s;
  });
}
