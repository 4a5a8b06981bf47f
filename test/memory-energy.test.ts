/**
 * The memory energy model (synth/memory-model.ts), DRAM traffic (mapping/dram.ts), the
 * accelerator energy parts (flow/energy.ts) and the exploration objectives (explore/objective.ts).
 * Pure and fast: no synthesis, no simulation.
 */
import { describe, expect, it } from 'vitest';
import { LIBERTY } from '../core/paths.ts';
import { energiesOf, energyOf, type ObjectiveModel, objectivePartsOf, objectiveUnitEnergies } from '../explore/objective.ts';
import { ENERGY_PARTS, type EnergyPart, layerEnergy, memoryOpEnergies, type OBJECTIVES, type OpEnergies, objectiveEnergy, partsOf } from '../flow/energy.ts';
import { perInference } from '../flow/run.ts';
import { resolveDesign } from '../generators/array/index.ts';
import { gemmCycles } from '../mapping/cycles.ts';
import { chainedEdges, layerDramTraffic } from '../mapping/dram.ts';
import { foldPlan } from '../mapping/gemm.ts';
import type { LayerCost } from '../mapping/layer-cost.ts';
import { emptyBufferCounts, gemmBufferCounts } from '../mapping/memory.ts';
import type { QuantModel } from '../nn/qmodel.ts';
import { anchorReadPj, dramPjPerByte, isExtrapolated, loadMemoryModel, nodeEnergyScale, sramEnergy } from '../synth/memory-model.ts';

const m = loadMemoryModel();
const at45 = { nodeNm: 45, volts: 0.9, cellLeakageNw: 0.1, leakageScale: 1 };

describe('memory energy model', () => {
  it('reproduces the Horowitz 45 nm anchors: 64-bit read 10 pJ @ 8 KB, 20 pJ @ 32 KB, 100 pJ @ 1 MB', () => {
    expect(nodeEnergyScale(m, 45, 0.9)).toBeCloseTo(1, 12);
    expect(sramEnergy(m, { bytes: 8 * 1024, wordBits: 64 }, at45).readPj).toBeCloseTo(10, 9);
    expect(sramEnergy(m, { bytes: 32 * 1024, wordBits: 64 }, at45).readPj).toBeCloseTo(20, 9);
    expect(sramEnergy(m, { bytes: 1024 * 1024, wordBits: 64 }, at45).readPj).toBeCloseTo(100, 9);
    // Write = read in the shipped table (Horowitz gives reads only).
    expect(sramEnergy(m, { bytes: 8 * 1024, wordBits: 64 }, at45).writePj).toBeCloseTo(10, 9);
  });

  it('scales with depth as (d1/d0)^0.78 outside the anchors and linearly with bits per access', () => {
    // 1 KB at 64 bits = 128 words: 8x shallower than the 8 KB anchor.
    expect(anchorReadPj(m, 128)).toBeCloseTo(10 * (1 / 8) ** 0.78, 9);
    expect(anchorReadPj(m, 4 * 131072)).toBeCloseTo(100 * 4 ** 0.78, 9);
    // Same depth, twice the bits per access: twice the energy.
    const a = sramEnergy(m, { bytes: 16 * 1024, wordBits: 128 }, at45).readPj;
    const b = sramEnergy(m, { bytes: 8 * 1024, wordBits: 64 }, at45).readPj;
    expect(a).toBeCloseTo(2 * b, 9);
  });

  it('is monotonic in capacity, width, node and supply', () => {
    let prev = 0;
    for (let bytes = 256; bytes <= 64 << 20; bytes *= 2) {
      const e = sramEnergy(m, { bytes, wordBits: 128 }, at45);
      expect(e.readPj).toBeGreaterThan(prev);
      prev = e.readPj;
    }
    for (const w of [8, 64, 512])
      expect(sramEnergy(m, { bytes: 65536, wordBits: 2 * w }, at45).readPj).toBeGreaterThan(sramEnergy(m, { bytes: 65536, wordBits: w }, at45).readPj);
    const nodes = [7, 10, 14, 16, 20, 32, 45, 65, 90, 130, 180, 350];
    for (let i = 1; i < nodes.length; i++) expect(nodeEnergyScale(m, nodes[i]!, 1.0)).toBeGreaterThan(nodeEnergyScale(m, nodes[i - 1]!, 1.0));
    for (const nm of [45, 130, 180, 350]) expect(nodeEnergyScale(m, nm, 1.8)).toBeGreaterThan(nodeEnergyScale(m, nm, 1.2));
    // Past the table the supply enters as V^2.
    expect(nodeEnergyScale(m, 180, 1.8) / nodeEnergyScale(m, 180, 0.9)).toBeCloseTo(4, 9);
    expect(isExtrapolated(m, 180)).toBe(true);
    expect(isExtrapolated(m, 130)).toBe(false);
  });

  it('leaks in proportion to bits; DRAM per byte lies in the Horowitz range (1.3-2.6 nJ per 64 bits)', () => {
    const small = sramEnergy(m, { bytes: 1024, wordBits: 64 }, at45).leakageNw;
    expect(sramEnergy(m, { bytes: 4096, wordBits: 128 }, at45).leakageNw).toBeCloseTo(4 * small, 9);
    expect(dramPjPerByte(m)).toBeGreaterThanOrEqual(1300 / 8);
    expect(dramPjPerByte(m)).toBeLessThanOrEqual(2600 / 8);
  });
});

/** The shipped LeNet-5's tensors (models/lenet5-fmnist.onnx: padded conv1); only what DRAM traffic reads. */
function lenetShapes(): QuantModel {
  const conv = (name: string, input: string, output: string) => ({ op: 'conv', name, input, output }) as unknown as QuantModel['layers'][number];
  const simple = (op: string, name: string, input: string, output: string) => ({ op, name, input, output }) as unknown as QuantModel['layers'][number];
  return {
    input: 'x',
    output: 'y',
    shapes: {
      x: { c: 1, h: 28, w: 28 },
      c1: { c: 6, h: 28, w: 28 },
      p1: { c: 6, h: 14, w: 14 },
      c2: { c: 16, h: 10, w: 10 },
      p2: { c: 16, h: 5, w: 5 },
      f: { c: 400, h: 1, w: 1 },
      d1: { c: 120, h: 1, w: 1 },
      d2: { c: 84, h: 1, w: 1 },
      y: { c: 10, h: 1, w: 1 },
    },
    layers: [
      conv('conv1', 'x', 'c1'),
      simple('maxpool', 'pool1', 'c1', 'p1'),
      conv('conv2', 'p1', 'c2'),
      simple('maxpool', 'pool2', 'c2', 'p2'),
      simple('reshape', 'flat', 'p2', 'f'),
      conv('fc1', 'f', 'd1'),
      conv('fc2', 'd1', 'd2'),
      conv('fc3', 'd2', 'y'),
    ],
  } as unknown as QuantModel;
}

const costsWith = (weightBytes: number[]): LayerCost[] =>
  weightBytes.map((w) => ({ buffers: { ...emptyBufferCounts(), dramWeightBytes: w } }) as unknown as LayerCost);
const ub96 = { memory: { ubKiB: 96 } } as never; // 16x16 default: half = 49,152 bytes

describe('DRAM traffic (residency rule)', () => {
  const model = lenetShapes();
  const weights = [100, 200, 300, 400, 500];

  it('batch 1: every feature map stays on chip; only the input, the output and the weights cross', () => {
    const d = layerDramTraffic(model, ub96, costsWith(weights), 1, 1);
    expect(d.map((x) => [x.inputBytes, x.outputBytes])).toEqual([
      [784, 0],
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 10],
    ]);
    expect(d.map((x) => x.weightBytes)).toEqual(weights);
    expect(d[0]!.totalBytes).toBe(884);
  });

  it('batch 250: maps larger than half the activation buffer go through DRAM, the small dense ones stay', () => {
    const d = layerDramTraffic(model, ub96, costsWith(weights), 250, 250);
    expect(d.map((x) => [x.inputBytes, x.outputBytes])).toEqual([
      [196_000, 1_176_000], // 1x28x28 in; 6x28x28 out (> 49,152)
      [294_000, 400_000], // 6x14x14 in; 16x10x10 out
      [100_000, 0], // 400 in (> 49,152); 120 x 250 = 30,000 stays
      [0, 0],
      [0, 2_500], // the final output always goes out
    ]);
  });

  it('a last partial batch that fits stays on chip', () => {
    const d = layerDramTraffic(model, ub96, costsWith(weights), 260, 250);
    expect(d[1]!.inputOnChipBatches).toBe(1);
    // The 10-image batch: 47,040 + 11,760 bytes fit in 49,152.
    expect(d[1]!.inputBytes).toBe(294_000);
    expect(d[0]!.outputBytes).toBe(1_176_000);
  });

  it('a skip connection keeps both producers and the add result off chip', () => {
    const conv = (name: string, input: string, output: string) => ({ op: 'conv', name, input, output });
    const res = {
      input: 'x',
      output: 'z',
      shapes: {
        x: { c: 1, h: 2, w: 2 },
        a: { c: 1, h: 2, w: 2 },
        r: { c: 1, h: 2, w: 2 },
        b: { c: 1, h: 2, w: 2 },
        s: { c: 1, h: 2, w: 2 },
        z: { c: 1, h: 2, w: 2 },
      },
      layers: [
        conv('A', 'x', 'a'),
        { op: 'relu', name: 'relu', input: 'a', output: 'r' },
        conv('B', 'r', 'b'),
        { op: 'add', name: 'add', inputs: ['a', 'b'], output: 's' },
        conv('C', 's', 'z'),
      ],
    } as unknown as QuantModel;
    expect(chainedEdges(res)).toEqual([false, false]);
    expect(chainedEdges(model)).toEqual([true, true, true, true]);
  });
});

describe('accelerator energy parts and objectives', () => {
  // With control-variate hardware, so every part (the compensation's included) is charged.
  const design = resolveDesign({ rows: 4, cols: 4, cell: 'exact_u8', controlVariate: {} }, 'test');
  const memory = memoryOpEnergies(design, LIBERTY.osu018);
  const ops: OpEnergies = {
    vdd: 1.8,
    liberty: LIBERTY.osu018,
    clockMHz: 100,
    cell: { L: { exact_u8: { dynamic: 5, leakage: 0.001 } } },
    pe: { L: { active: 3, idle: 0.5, leakage: 0.002, cell: 'exact_u8' } },
    acc: { L: { active: 4, idle: 0.2, leakage: 0.01 } },
    cv: { L: { column: { active: 0.7, idle: 0.05, leakage: 0.003 }, correction: { active: 2, idle: 0.1, leakage: 0.004 }, kFolds: 3 } },
    memory,
  };

  it('prices the memories at the liberty node (180 nm, extrapolated) and charges every part', () => {
    expect(memory.nodeNm).toBe(180);
    expect(memory.extrapolated).toBe(true);
    const t = gemmCycles(design, 0, 40, 10, 6);
    const buffers = gemmBufferCounts(foldPlan(design, 0, 40, 10, 6));
    const e = layerEnergy(design, { layer: 'L', tile: 0, mode: 0, filterCells: Array(6).fill('exact_u8') }, t, { exact_u8: t.macs }, ops, {
      buffers,
      dramBytes: 1000,
    });
    for (const p of ENERGY_PARTS) expect(e[p.key]).toBeGreaterThan(0);
    // The correction works on the rows of last K-folds only (streamed rows / K-folds), reading one
    // coefficient row each; every coefficient (2 N-folds x 4 columns) is written once per GEMM.
    const cm = memory.cvCoef![0]!;
    expect(cm.wordBits).toBe(4 * 16);
    const outRows = t.streamCycles / 3;
    expect(e.cvCorrectionPj).toBeCloseTo(
      outRows * 2 + (t.cycles - outRows) * 0.1 + outRows * cm.readPj + 8 * cm.writePj + (cm.leakageNw * 1e-9 * t.cycles * 1e12) / 100e6,
      6,
    );
    expect(e.cvColumnPj).toBeCloseTo(t.streamCycles * 0.7 + (t.cycles - t.streamCycles) * 0.05, 6);
    // The same layer on a design without the hardware pays nothing for it.
    const plain = resolveDesign({ rows: 4, cols: 4, cell: 'exact_u8' }, 'test');
    const tp = gemmCycles(plain, 0, 40, 10, 6);
    const ep = layerEnergy(
      plain,
      { layer: 'L', tile: 0, mode: 0, filterCells: Array(6).fill('exact_u8') },
      tp,
      { exact_u8: tp.macs },
      { ...ops, memory: memoryOpEnergies(plain, LIBERTY.osu018) },
      {
        buffers: gemmBufferCounts(foldPlan(plain, 0, 40, 10, 6)),
        dramBytes: 1000,
      },
    );
    expect(ep.cvColumnPj + ep.cvCorrectionPj).toBe(0);
    expect(tp.cycles).toBe(t.cycles - 1);
    expect(e.totalPj).toBeCloseTo(
      ENERGY_PARTS.reduce((s, p) => s + e[p.key], 0),
      6,
    );
    expect(e.ubReadPj).toBeCloseTo(buffers.ubReads * memory.ub.readPj, 6);
    expect(e.dramPj).toBeCloseTo(1000 * memory.dramPjPerByte, 6);
    // Objectives nest: multiplier = cells, array adds the PE side, accelerator is the total.
    expect(objectiveEnergy(e, 'multiplier')).toBe(e.cellPj);
    expect(objectiveEnergy(e, 'accelerator')).toBeCloseTo(e.totalPj, 6);
    expect(partsOf('array')).not.toContain('dramPj');
    expect(partsOf('array')).toContain('accMemReadPj');
    // Per-inference totals are the sum of the per-inference parts.
    const pj = perInference([{ energy: e }, { energy: e }], 2);
    expect(pj.total).toBeCloseTo(e.totalPj, 6);
    expect(pj.dram + pj.cell + pj.pe).toBeCloseTo(e.dramPj + e.cellPj + e.pePj, 6);
  });

  it('the objective switch re-ranks cells whose leakage and switching energy disagree', () => {
    // Two units; cell 'lean' switches less but leaks more than 'tight'.
    const unitE = [
      { exact: 100, lean: 60, tight: 70 },
      { exact: 100, lean: 60, tight: 70 },
    ];
    const zero = Object.fromEntries(ENERGY_PARTS.map((p) => [p.key, 0])) as Record<EnergyPart, number>;
    const om: ObjectiveModel = {
      exactParts: { ...zero, cellPj: 200, pePj: 500, leakagePj: 40, dramPj: 300 },
      unitLeakage: [
        { exact: 10, lean: 30, tight: 5 },
        { exact: 10, lean: 30, tight: 5 },
      ],
      exactCellLeakage: 20,
      layerPePj: {},
      layerWbufPj: {},
      fixed: { multiplier: 0, array: 500 + 40 - 20, accelerator: 500 + 40 - 20 + 300 },
      memory: { nodeNm: 180, volts: 1.8, extrapolated: true, model: 'test' },
      images: 1,
      batch: 1,
    };
    const tables = objectiveUnitEnergies(unitE, om);
    const rank = (o: (typeof OBJECTIVES)[number]) => ['lean', 'tight'].sort((a, b) => energyOf(tables, om, o, [a, a]) - energyOf(tables, om, o, [b, b]));
    expect(rank('multiplier')).toEqual(['lean', 'tight']);
    expect(rank('array')).toEqual(['tight', 'lean']);
    expect(rank('accelerator')).toEqual(['tight', 'lean']);
    // The exact design's objective energies are its own parts; a candidate's parts sum to its accelerator energy.
    const ex = energiesOf(tables, om, ['exact', 'exact']);
    expect(ex.accelerator).toBeCloseTo(objectiveEnergy(om.exactParts, 'accelerator'), 9);
    expect(ex.array).toBeCloseTo(objectiveEnergy(om.exactParts, 'array'), 9);
    const parts = objectivePartsOf(om, unitE, ['tight', 'lean']);
    expect(Object.values(parts).reduce((s, v) => s + v, 0)).toBeCloseTo(energyOf(tables, om, 'accelerator', ['tight', 'lean']), 9);
  });
});
