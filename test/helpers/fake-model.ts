import type { QuantModel } from '../../nn/qmodel.ts';

/** A model skeleton with one conv layer per entry (its output channels): only what planUnits reads. */
export function fakeModel(ocs: number[]): QuantModel {
  const shapes: QuantModel['shapes'] = {};
  const layers = ocs.map((oc, j) => {
    shapes[`t${j}`] = { c: oc, h: 2, w: 2 };
    return { op: 'conv', name: `L${j}`, kind: 'conv', input: j ? `t${j - 1}` : 'in', output: `t${j}`, ic: 1, oc, kh: 3, kw: 3, K: 9 } as unknown;
  });
  return { layers, shapes } as unknown as QuantModel;
}
