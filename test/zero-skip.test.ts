import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { modelsDir } from '../core/paths.ts';
import { xorshift32 } from '../core/rng.ts';
import { lintVerilog } from '../core/verilator.ts';
import { opEnergies } from '../flow/energy.ts';
import { runFlow } from '../flow/run.ts';
import { provePeViewsEquivalent } from '../generators/array/check.ts';
import { generateViews, resolveDesign } from '../generators/array/index.ts';
import type { Mat8 } from '../mapping/gemm.ts';
import { gemmModel } from '../mapping/gemm-model.ts';
import { cellGrid, placeModel } from '../mapping/place.ts';
import { sampleLayerStreams } from '../mapping/streams.ts';
import { captureOperands } from '../nn/capture.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { pruneModel } from '../nn/prune.ts';
import { convLayers } from '../nn/qmodel.ts';
import { ArraySim } from '../sim/array.ts';

/**
 * Zero-skipping PEs (docs/array.md, Zero skipping): a zero stationary weight isolates the
 * multiplier. The views stay equivalent (Yosys), the RTL equals gemmModel on sparse GEMMs and the
 * engine on a pruned LeNet-5, designs that cannot skip exactly are refused, and the gate-level
 * cell energy of a pruned layer drops while the PE pays for the isolation logic (whether the
 * isolation pays overall depends on the cell: docs/array.md, Zero skipping, Measured).
 */
const lenet = join(modelsDir, 'lenet5-fmnist.onnx');
const ZS = { rows: 4, cols: 4, cell: 'exact_s8', zeroSkip: true };
const sims: ArraySim[] = [];
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

function mat(rows: number, cols: number, value: () => number): Mat8 {
  return { rows, cols, data: Uint8Array.from({ length: rows * cols }, value) };
}

describe('zero skipping', () => {
  it('refuses designs where skipping would change a product (unsigned scheme, cell(a, 0) != 0)', () => {
    expect(() => resolveDesign({ ...ZS, cell: 'exact_u8' })).toThrow(/zeroSkip needs signed cells/);
    // Every shipped cell gives cell(a, 0) = 0, so the check passes for a signed approximate cell.
    expect(resolveDesign({ ...ZS, cell: 'roup_p1_r4_s8' }).zeroSkip).toBe(true);
  });

  it('views lint clean; every simulation PE is proven equal to its synthesis twin; a PE without isolation is caught', async () => {
    const design = resolveDesign(ZS);
    const views = generateViews(design);
    expect(views.synth['axtpu_pe0.sv']).toContain('assign a_mul = a_in & {8{|b}};');
    for (const [view, src] of [
      ['synth', views.synth],
      ['sim+activity', generateViews(design, { activity: true }).sim],
    ] as const) {
      const r = await lintVerilog(src, 'axtpu_top');
      expect(r.warnings, `${view}:\n${r.log}`).toEqual([]);
    }
    expect(await provePeViewsEquivalent(design)).toEqual({ proven: ['axtpu_pe0'], problems: [] });
    // Runtime modes: the isolated operand feeds every cell's own operand gate.
    const modes = resolveDesign({ rows: 2, cols: 3, map: { modes: ['exact_s8', 'roup_p1_r4_s8'] }, zeroSkip: true });
    expect((await provePeViewsEquivalent(modes)).problems).toEqual([]);
    // The same design's simulation view without the isolation is not equivalent.
    const plain = generateViews(resolveDesign({ ...ZS, zeroSkip: false }));
    const caught = await provePeViewsEquivalent(design, plain.sim);
    expect(caught.proven).toEqual([]);
    expect(caught.problems).toHaveLength(1);
  });

  it('RTL == gemmModel on GEMMs with half their weights zero (K-folds, N-folds, padding)', async () => {
    const design = resolveDesign(ZS);
    const sim = await ArraySim.open(design);
    sims.push(sim);
    const next = xorshift32(0x2e50);
    for (let i = 0; i < 16; i++) {
      const M = 1 + (next() % 24);
      const K = 1 + (next() % 13);
      const N = 1 + (next() % 11);
      const A = mat(M, K, () => next() & 0xff);
      const W = mat(K, N, () => (next() % 2 ? 0 : next() & 0xff));
      const r = await sim.gemm(A, W);
      expect(Array.from(r.out.raw), `case ${i} M=${M} K=${K} N=${N}`).toEqual(Array.from(gemmModel(design, A, W).raw));
    }
  });

  it('pruned LeNet-5 on the zero-skipping RTL == engine, word for word', async () => {
    const r = await runFlow({
      model: lenet,
      design: ZS,
      prune: { '/c2/Conv': 0.5, '/f1/Gemm': 0.5 },
      limit: 8,
      batch: 8,
      activity: 'off',
      harnesses: 1,
      noEnergy: true,
      write: false,
    });
    expect(r.prune?.find((l) => l.layer === '/c2/Conv')?.sparsity).toBe(0.5);
    expect(r.layerMismatches).toBe(0);
    expect(r.predMismatches).toBe(0);
    expect(r.cyclesMatchModel).toBe(true);
  });

  it('gate-level energy of a 50 % pruned layer: the isolated cell drops, the PE pays for the isolation', async () => {
    const { model } = await loadQuantModelFor(lenet, 'signed');
    const ds = limitDataset(loadDataset('fmnist', 'test'), 4);
    const layer = '/c2/Conv';
    const figures = async (zeroSkip: boolean, sparsity: number) => {
      const m = sparsity > 0 ? pruneModel(model, { [layer]: sparsity }).model : model;
      const design = resolveDesign({ ...ZS, zeroSkip });
      const p = placeModel(m, design).layers.find((x) => x.layer === layer)!;
      const g = captureOperands({ model: m }, ds.pixels, ds.count).find((x) => x.layer.name === layer)!.g;
      const l = convLayers(m).find((x) => x.name === layer)!;
      const streams = sampleLayerStreams(l, g, cellGrid(p), design.tiles[0]!.rows, 8192);
      const e = await opEnergies({ design, layers: [p], streams: { [layer]: streams }, accRows: {} });
      return { cell: e.cell[layer]!.exact_s8!.dynamic, pe: e.pe[layer]!.active };
    };
    const plainPruned = await figures(false, 0.5);
    const skipPruned = await figures(true, 0.5);
    const plainDense = await figures(false, 0);
    const skipDense = await figures(true, 0);
    // Half the weights zero: the cell's energy per MAC about halves (an exact multiplier's partial
    // products are already quiet with a zero weight), and isolation takes off what the streaming
    // activations still toggle in it.
    expect(skipPruned.cell).toBeLessThan(0.7 * skipDense.cell);
    expect(skipPruned.cell).toBeLessThan(plainPruned.cell);
    // Unpruned, the isolation logic (8 ANDs and the zero detector, toggling with the activations)
    // makes the PE dearer than the plain one.
    expect(skipDense.pe).toBeGreaterThan(plainDense.pe);
  });
});
