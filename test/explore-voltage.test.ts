import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { modelsDir } from '../core/paths.ts';
import { explore } from '../explore/run.ts';
import { voltageLevels } from '../explore/voltage.ts';
import { resolveDesign } from '../generators/array/index.ts';
import { domainLevels, geneName, parseGene, planUnits, toArrayConfig, toAssignment } from '../mapping/units.ts';
import { fakeModel } from './helpers/fake-model.ts';

describe('voltage genes', () => {
  it('a gene names cell, compensation and supply; the assignment and the hardware follow it', () => {
    expect(parseGene('drum_k4_u8+cv@1.5')).toEqual({ cell: 'drum_k4_u8', cv: true, volts: 1.5 });
    expect(geneName({ cell: 'exact_u8', cv: false, volts: 1.6 })).toBe('exact_u8@1.6');
    const p = planUnits(fakeModel([6, 3]), 'filter', 4, 4);
    // Column 1 of tile 0 at 1.5 V (filters 1 and 5), column 2 of tile 1 at 1.6 V.
    const genes = p.units.map((u) => (u.name === 'L0#c1' ? 'exact_u8@1.5' : u.name === 'L1#c2' ? 'exact_u8@1.6' : 'exact_u8'));
    const a = toAssignment(p, genes, 'exact_u8', 1.8);
    expect(a.volts).toEqual({ L0: [1.8, 1.5, 1.8, 1.8, 1.8, 1.5], L1: [1.8, 1.8, 1.6] });
    expect(
      toAssignment(
        p,
        genes.map((g) => parseGene(g).cell),
        'exact_u8',
        1.8,
      ).volts,
    ).toBeUndefined();
    const d = resolveDesign(toArrayConfig(p, genes, 'exact_u8', 'volt_test', 1.8));
    expect(d.levels.map((l) => l.volts)).toEqual([1.8, 1.6, 1.5]);
    expect(d.tiles[0]!.domains.map((x) => [x.name, x.columns])).toEqual([
      ['nom', [0, 2, 3]],
      ['v1p5', [1]],
    ]);
    // Level register of every domain, tiles in order: tile 0 nom, v1p5; tile 1 nom, v1p6 (column 3 unused: nominal).
    expect(domainLevels(d)).toEqual([0, 2, 0, 1]);
  });

  it('levels must lie below nominal', () => {
    expect(voltageLevels([1.4, 1.6, 1.8], 1.8)).toEqual([1.6, 1.4]);
    expect(() => voltageLevels([1.9], 1.8)).toThrow(/above the library's nominal/);
    expect(() => voltageLevels([1.8], 1.8)).toThrow(/no level below/);
  });
});

describe('explore --knobs cells,voltage (LeNet-5, real timed simulation and injection)', () => {
  const out = mkdtempSync(join(tmpdir(), 'axtpu-volt-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('lowers supplies within the budget, with errors that cost accuracy at the deepest level', async () => {
    const r = await explore({
      model: join(modelsDir, 'lenet5-fmnist.onnx'),
      cells: 'exact_s8',
      knobs: ['cells', 'voltage'],
      levels: [1.6, 1.4],
      vosOps: 2000,
      budget: 0.02,
      granularity: 'layer',
      search: 'xai-greedy',
      rows: 16,
      cols: 16,
      out,
      valImages: 400,
      testImages: 200,
      quiet: true,
      probe: 'exact_s8@1.4',
    });
    const g = r.groups[0]!;
    // 1.4 V on one layer at a time: timing errors cost accuracy on at least one layer.
    expect(Math.max(...g.layers.map((l) => l.sensitivity))).toBeGreaterThan(0.02);
    // Every design the search judged within the budget runs at most the budget's loss on the same images.
    expect(g.winner.feasible).toBe(true);
    expect(g.winner.valLossUpper).toBeLessThanOrEqual(0.02 + 1e-12);
    // The winner lowers at least one tile, and saves on every objective by the (V/Vnom)^2 law.
    const lowered = g.winner.cells.filter((c) => parseGene(c).volts !== undefined);
    expect(lowered.length).toBeGreaterThan(0);
    expect(g.winner.savings.multiplier).toBeGreaterThan(0);
    expect(g.winner.savings.array).toBeLessThan(g.winner.savings.multiplier);
    expect(g.voltage?.map).toHaveLength(5);
    expect(g.voltage?.map.flatMap((t) => t.volts).filter((v) => v < 1.8).length).toBe(16 * lowered.length);
    expect(g.winnerAssignment.volts).toBeDefined();
  }, 240_000);
});
