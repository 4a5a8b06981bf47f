import { describe, expect, it } from 'vitest';
import { expandCells, groupCandidates } from '../explore/candidates.ts';
import { parseBudget } from '../explore/run.ts';
import { resolveDesign } from '../generators/array/index.ts';
import { checkGranularity, filterCells, planUnits, toArrayConfig, toAssignment } from '../mapping/units.ts';
import type { QuantModel } from '../nn/qmodel.ts';

/** A model skeleton with n conv/dense layers: only what planUnits reads. */
function fakeModel(ocs: number[]): QuantModel {
  const shapes: QuantModel['shapes'] = {};
  const layers = ocs.map((oc, j) => {
    shapes[`t${j}`] = { c: oc, h: 2, w: 2 };
    return { op: 'conv', name: `L${j}`, kind: 'conv', input: j ? `t${j - 1}` : 'in', output: `t${j}`, ic: 1, oc, kh: 3, kw: 3, K: 9 } as unknown;
  });
  return { layers, shapes } as unknown as QuantModel;
}

describe('decision units = what the array realizes', () => {
  it('layer granularity: one tile per layer, layers beyond 8 share tiles', () => {
    const p = planUnits(fakeModel([4, 4, 4, 4, 4, 4, 4, 4, 4, 4]), 'layer', 4, 4);
    expect(p.tiles).toBe(8);
    expect(p.units).toHaveLength(8);
    expect(Object.keys(p.units[0]!.macs)).toEqual(['L0', 'L8']);
    expect(p.units[0]!.macs.L0).toBe(4 * 4 * 9);
    const cells = p.units.map((_, i) => (i === 0 ? 'drum_k6_u8' : 'exact_u8'));
    const a = toAssignment(p, cells, 'exact_u8');
    expect(a.layers.L0).toBe('drum_k6_u8');
    expect(a.layers.L8).toBe('drum_k6_u8');
    expect(a.layers.L1).toBe('exact_u8');
    const d = resolveDesign(toArrayConfig(p, cells, 'exact_u8', 'unit_test'));
    expect(d.tiles).toHaveLength(8);
    expect(d.tiles[0]!.cells[0]![0]![0]).toBe('drum_k6_u8');
  });

  it('filter granularity: one unit per used column; filter f sits on column f mod C', () => {
    const p = planUnits(fakeModel([6, 3]), 'filter', 4, 4);
    // Tile 0: 6 filters on 4 columns (all used); tile 1: 3 filters (column 3 unused, not a decision).
    expect(p.units.map((u) => u.name)).toEqual(['L0#c0', 'L0#c1', 'L0#c2', 'L0#c3', 'L1#c0', 'L1#c1', 'L1#c2']);
    expect(p.units[0]!.macs.L0).toBe(2 * 4 * 9); // filters 0 and 4
    expect(p.units[3]!.macs.L0).toBe(1 * 4 * 9); // filter 3 only
    const cells = p.units.map((u) => (u.name === 'L0#c1' ? 'bam_h0_v8_u8' : 'exact_u8'));
    expect(filterCells(p, cells, 'exact_u8').L0).toEqual(['exact_u8', 'bam_h0_v8_u8', 'exact_u8', 'exact_u8', 'exact_u8', 'bam_h0_v8_u8']);
    const d = resolveDesign(toArrayConfig(p, cells, 'exact_u8', 'unit_test_f'));
    expect(d.tiles[0]!.cells[0]![2]).toEqual(['exact_u8', 'bam_h0_v8_u8', 'exact_u8', 'exact_u8']);
  });

  it('rejects kernel granularity and unknown names', () => {
    expect(() => checkGranularity('kernel')).toThrow(/cannot realize per-kernel/);
    expect(() => checkGranularity('x')).toThrow(/expected layer, filter or kernel/);
  });
});

describe('budget and candidates', () => {
  it('parses percentages and fractions, rejects out-of-range', () => {
    expect(parseBudget('1%')).toBeCloseTo(0.01);
    expect(parseBudget('0.04')).toBeCloseTo(0.04);
    expect(() => parseBudget('0%')).toThrow(/out of range/);
    expect(() => parseBudget('100%')).toThrow(/out of range/);
    expect(() => parseBudget('-1%')).toThrow();
  });

  it('expands globs and splits by signedness with the exact baseline of each', () => {
    const g = groupCandidates(expandCells('drum_k6_*,roup_p1_r4_s8,exact_u8'));
    expect(g.map((x) => [x.signed, x.exact, x.cells])).toEqual([
      [false, 'exact_u8', ['drum_k6_u8']],
      [true, 'exact_s8', ['drum_k6_s8', 'roup_p1_r4_s8']],
    ]);
    expect(() => expandCells('zzz_*')).toThrow(/matches no 8-bit cell/);
  });
});
