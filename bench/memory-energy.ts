/**
 * Accelerator energy anchors (issue 14, docs/memory.md "Anchors"): exact LeNet-5 on a 16x16 array
 * at osu018 through the analytical path (cycle model, mapping/memory.ts buffer counts,
 * mapping/dram.ts traffic, synthesized per-op energies for cells, PEs and accumulators, the
 * memory model for SRAMs and DRAM). Writes bench/results/memory-energy.json.
 *   node --import tsx bench/memory-energy.ts [images] [batch] [cell]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { modelsDir, repoRoot } from '../core/paths.ts';
import { analyticalEstimate } from '../flow/analytical.ts';
import { ENERGY_PARTS, OBJECTIVES, objectiveEnergy } from '../flow/energy.ts';
import { partsOfPerInference, perInference } from '../flow/run.ts';
import { resolveDesign } from '../generators/array/index.ts';
import { placeModel } from '../mapping/place.ts';
import { schemeFor } from '../nn/assign.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { loadMemoryModel, nodeEnergyScale } from '../synth/memory-model.ts';

const images = Number(process.argv[2] ?? 1000);
const batch = Number(process.argv[3] ?? 250);
const cell = process.argv[4] ?? 'exact_u8';
const t0 = performance.now();
const design = resolveDesign({ rows: 16, cols: 16, cell }, 'bench');
const { model } = await loadQuantModelFor(join(modelsDir, 'lenet5-fmnist.onnx'), schemeFor(design.signed), { dataset: 'fmnist' });
const placement = placeModel(model, design);
const ds = limitDataset(loadDataset('fmnist', 'test'), images);
const est = await analyticalEstimate(model, design, placement, ds, batch);
const n = ds.count;
const pj = perInference(est.layers, n);
const parts = partsOfPerInference(pj);
const macs = est.layers.reduce((s, l) => s + l.macs, 0) / n;
const cycles = est.layers.reduce((s, l) => s + l.cycles, 0) / n;
const mem = est.ops.memory;
const mm = loadMemoryModel();
// Per-access figures next to one MAC of this array (cells + rest of PE + accumulator logic).
const macPj = (parts.cellPj + parts.pePj + parts.accPj) / macs;
const ubPerByte = mem.ub.readPj / (mem.ub.wordBits / 8);
const result = {
  measuredAt: new Date().toISOString(),
  command: `node --import tsx bench/memory-energy.ts ${images} ${batch} ${cell}`,
  design: { rows: 16, cols: 16, cell, memory: design.memory, accEntries: design.accEntries, psumBits: design.psumBits },
  images: n,
  batch,
  vdd: est.ops.vdd,
  clockMHz: est.ops.clockMHz,
  liberty: est.ops.liberty,
  memoryModel: { nodeNm: mem.nodeNm, volts: mem.volts, extrapolated: mem.extrapolated, nodeScaleFrom45nm: nodeEnergyScale(mm, mem.nodeNm, mem.volts) },
  memories: { ub: mem.ub, wbuf: mem.wbuf, acc: mem.acc[0], dramPjPerByte: mem.dramPjPerByte },
  macsPerInference: macs,
  cyclesPerInference: cycles,
  pjPerInference: pj,
  sharePct: Object.fromEntries(ENERGY_PARTS.map((p) => [p.key, (100 * parts[p.key]) / pj.total])),
  objectives: Object.fromEntries(OBJECTIVES.map((o) => [o, objectiveEnergy(parts, o)])),
  pjPerMac: { accelerator: pj.total / macs, array: objectiveEnergy(parts, 'array') / macs, multiplier: parts.cellPj / macs },
  ratios: {
    note: 'per-access energies over one MAC of this array ((cells + rest of PE + accumulator logic) / MACs)',
    macPj,
    ubReadPerMac: mem.ub.readPj / macPj,
    ubBytePerMac: ubPerByte / macPj,
    wbufReadPerMac: mem.wbuf.readPj / macPj,
    accRowReadPerMac: mem.acc[0]!.readPj / macPj,
    dramBytePerMac: mem.dramPjPerByte / macPj,
  },
  dramBytesPerInference: est.layers.reduce((s, l) => s + l.dram.totalBytes, 0) / n,
  layers: est.layers.map((l) => ({
    layer: l.layer,
    macs: l.macs / n,
    cycles: l.cycles / n,
    dram: { weightBytes: l.dram.weightBytes / n, inputBytes: l.dram.inputBytes / n, outputBytes: l.dram.outputBytes / n },
    buffers: Object.fromEntries(Object.entries(l.buffers).map(([k, v]) => [k, v / n])),
    pj: Object.fromEntries(ENERGY_PARTS.map((p) => [p.key, l.energy![p.key] / n])),
  })),
  seconds: (performance.now() - t0) / 1000,
};
mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
writeFileAtomic(join(repoRoot, 'bench/results/memory-energy.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(
  JSON.stringify({ pjPerInference: pj, pjPerMac: result.pjPerMac, ratios: result.ratios, sharePct: result.sharePct, seconds: result.seconds }, null, 2),
);
