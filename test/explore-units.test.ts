import { describe, expect, it } from 'vitest';
import { expandCells, groupCandidates } from '../explore/candidates.ts';
import { parseBudget } from '../explore/run.ts';
import { resolveDesign } from '../generators/array/index.ts';
import { checkGranularity, filterCells, planUnits, toArrayConfig, toAssignment } from '../mapping/units.ts';
import { fakeModel } from './helpers/fake-model.ts';

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

  it('kernel granularity: (layer, column, input-channel group) units on one tagged design that holds the assignment', () => {
    // ic = 5 input channels in 2 groups: [0, 2) and [2, 5); 6 filters on 4 columns.
    const m = fakeModel([6]);
    (m.layers[0] as { ic: number; K: number }).ic = 5;
    (m.layers[0] as { ic: number; K: number }).K = 45;
    const set = ['exact_s8', 'roup_p1_r4_s8', 'roup_p2_r6_s8'];
    const p = planUnits(m, 'kernel', 4, 4, { cellSet: set, inputGroups: 2 });
    expect(p.units.map((u) => u.name)).toEqual([
      'L0#c0#i0-1',
      'L0#c0#i2-4',
      'L0#c1#i0-1',
      'L0#c1#i2-4',
      'L0#c2#i0-1',
      'L0#c2#i2-4',
      'L0#c3#i0-1',
      'L0#c3#i2-4',
    ]);
    // Column 0 holds filters 0 and 4; its second group has 3 of the 5 input channels (27 of K = 45).
    expect(p.units[1]!.macs.L0).toBe(2 * 4 * 3 * 9);
    expect(p.units.reduce((s, u) => s + u.macs.L0!, 0)).toBe(6 * 4 * 45);
    const genes = p.units.map((u) => (u.name === 'L0#c0#i2-4' ? 'roup_p2_r6_s8' : u.name === 'L0#c3#i0-1' ? 'roup_p1_r4_s8' : 'exact_s8'));
    const a = toAssignment(p, genes, 'exact_s8');
    const k = (a.layers.L0 as { kernels: string[][] }).kernels;
    expect(k[0]).toEqual(['exact_s8', 'exact_s8', 'roup_p2_r6_s8', 'roup_p2_r6_s8', 'roup_p2_r6_s8']);
    expect(k[4]).toEqual(k[0]);
    expect(k[3]).toEqual(['roup_p1_r4_s8', 'roup_p1_r4_s8', 'exact_s8', 'exact_s8', 'exact_s8']);
    expect(k[1]).toEqual(Array(5).fill('exact_s8'));
    // The hardware is the same tagged design for every gene vector: exact first (tag 0).
    const d = resolveDesign(toArrayConfig(p, genes, 'exact_s8', 'unit_test_k'));
    expect(d.tags).toEqual({ cells: set, bits: 2 });
    // Uniform grids spell as one cell; per-filter ones as filters.
    expect(
      toAssignment(
        p,
        p.units.map(() => 'exact_s8'),
        'exact_s8',
      ).layers.L0,
    ).toBe('exact_s8');
    const perFilter = p.units.map((u) => (u.column === 1 ? 'roup_p1_r4_s8' : 'exact_s8'));
    expect((toAssignment(p, perFilter, 'exact_s8').layers.L0 as { filters: string[] }).filters[5]).toBe('roup_p1_r4_s8');
  });

  it('rejects unknown granularity names', () => {
    expect(checkGranularity('kernel')).toBe('kernel');
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
