/**
 * Clock gating (run: node --import tsx bench/gating.ts [images]): LeNet-5 on a 16x16 exact_s8
 * array with and without `clockGating`:
 *  - RTL run of the gated design (Verilator) against the software engine: differing words;
 *  - energy per layer (the same per-op figures and cycle accounting `axtpu run` uses, via the
 *    analytical path, which equals the RTL run's energy), gated vs ungated;
 *  - area (Yosys `stat -liberty`, hierarchy kept) of the whole 16x16 design both ways, the
 *    clock gate module and the tile's own logic (where the column enables live);
 *  - simulation speed: 16x16 exact_u8 gated and ungated harnesses on the same GEMM (8192x64x64),
 *    runs alternated, best of 3 each, cycles per CPU-second of the harness.
 * Writes bench/results/gating.json.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { analyticalEstimate } from '../flow/analytical.ts';
import { runFlow } from '../flow/run.ts';
import { generateViews, resolveDesign } from '../generators/array/index.ts';
import { placeModel } from '../mapping/place.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { ArraySim } from '../sim/array.ts';
import { synthesize } from '../synth/yosys.ts';

const images = Number(process.argv[2] ?? 100);
const model = join(repoRoot, 'models/lenet5-fmnist.onnx');
const config = { rows: 16, cols: 16, cell: 'exact_s8' };
const out: Record<string, unknown> = { date: new Date().toISOString(), images, config };

const rtl = await runFlow({
  model,
  design: { ...config, clockGating: true },
  limit: images,
  batch: Math.min(images, 250),
  activity: 'off',
  noEnergy: true,
  write: false,
});
out.rtlGated = {
  images: rtl.images,
  layerMismatches: rtl.layerMismatches,
  predMismatches: rtl.predMismatches,
  accuracy: rtl.accuracy,
  engineAccuracy: rtl.engineAccuracy,
};
console.log('RTL (gated) vs engine', out.rtlGated);

const ds = limitDataset(loadDataset('fmnist', 'test'), images);
const { model: q } = await loadQuantModelFor(model, 'signed');
const layers: Record<string, unknown>[] = [];
const totals = { ungated: 0, gated: 0 };
const est = async (clockGating: boolean) => {
  const design = resolveDesign({ ...config, clockGating });
  return analyticalEstimate(q, design, placeModel(q, design), ds, Math.min(images, 250));
};
const [off, on] = [await est(false), await est(true)];
off.layers.forEach((l, i) => {
  const g = on.layers[i]!;
  totals.ungated += l.energy!.totalPj;
  totals.gated += g.energy!.totalPj;
  layers.push({
    layer: l.layer,
    cycles: l.cycles,
    clockedColumnCycles: { ungated: l.clockedColumnCycles, gated: g.clockedColumnCycles },
    pjPerInference: {
      ungated: { pe: l.energy!.pePj / images, total: l.energy!.totalPj / images },
      gated: { pe: g.energy!.pePj / images, clockGates: g.energy!.clockGatePj! / images, total: g.energy!.totalPj / images },
    },
    saving: 1 - g.energy!.totalPj / l.energy!.totalPj,
  });
});
out.layers = layers;
out.pjPerInference = { ungated: totals.ungated / images, gated: totals.gated / images, saving: 1 - totals.gated / totals.ungated };
out.gatingOps = on.ops.gating!['/c1/Conv'];
console.log(JSON.stringify(layers, null, 1), out.pjPerInference);

const area: Record<string, unknown> = {};
for (const clockGating of [false, true]) {
  const v = generateViews(resolveDesign({ ...config, clockGating }));
  const syn = await synthesize({ top: 'axtpu_top', sources: v.synth, flatten: false });
  area[clockGating ? 'gated' : 'ungated'] = {
    totalUm2: syn.areaUm2,
    tileOwnUm2: syn.moduleAreas.axtpu_tile_tile0,
    clockGateUm2: syn.moduleAreas.axtpu_clkgate ?? 0,
  };
}
const a = area as Record<'gated' | 'ungated', { totalUm2: number }>;
area.overheadUm2 = a.gated.totalUm2 - a.ungated.totalUm2;
area.overheadShare = a.gated.totalUm2 / a.ungated.totalUm2 - 1;
out.area = area;
console.log(area);
const sims = await Promise.all([false, true].map((clockGating) => ArraySim.open(resolveDesign({ rows: 16, cols: 16, cell: 'exact_u8', clockGating }))));
let seed = 7;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed >>> 24;
};
const A = { rows: 8192, cols: 64, data: Uint8Array.from({ length: 8192 * 64 }, rnd) };
const W = { rows: 64, cols: 64, data: Uint8Array.from({ length: 64 * 64 }, rnd) };
const best = [0, 0];
const cycles = [0, 0];
for (let round = 0; round < 3; round++)
  for (const i of [0, 1]) {
    const r = await sims[i]!.gemm(A, W);
    cycles[i] = r.cycles;
    best[i] = Math.max(best[i]!, r.cycles / (r.cpuNs / 1e9));
  }
await Promise.all(sims.map((s) => s.close()));
out.speed = {
  gemm: '8192x64x64',
  cycles,
  ungatedCyclesPerCpuSecond: best[0],
  gatedCyclesPerCpuSecond: best[1],
  ratio: best[1]! / best[0]!,
  load: loadavg()[0],
};
console.log(out.speed);
writeFileAtomic(join(repoRoot, 'bench/results/gating.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log('wrote bench/results/gating.json');
