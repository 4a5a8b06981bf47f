/**
 * Per-weight cell select (run: nice -n 10 node --import tsx bench/cell-set.ts [images]): what the
 * tag hardware costs, measured by the same synthesis and gate-level flow the energy figures use.
 *  - PE area (Yosys `stat -liberty`, hierarchy kept, osu018): an untagged PE per cell, and tagged
 *    PEs holding 2, 3 and 4 signed cells (the extra cells, tag registers, select and operand gates);
 *  - LeNet-5 energy per inference on 16x16 (analytical path = the RTL run's accounting: per-op
 *    figures from synthesized cells and PEs, gate-level simulation of their real operands):
 *    untagged exact_s8, the tagged design with every weight on exact (the select hardware's price),
 *    the tagged design running a kernel-level map, and untagged per-layer roup designs;
 *  - simulation speed: 16x16 bare loops, untagged exact_s8 vs tagged 3-cell set, alternated, best of 3,
 *    cycles per CPU-second.
 * Writes bench/results/cell-set.json.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { analyticalEstimate } from '../flow/analytical.ts';
import { objectiveEnergy } from '../flow/energy.ts';
import { cellInfo } from '../generators/array/cells.ts';
import { generateViews, resolveDesign } from '../generators/array/index.ts';
import { placeModel } from '../mapping/place.ts';
import type { Assignment } from '../nn/assign.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { convLayers } from '../nn/qmodel.ts';
import { bareSpeed, buildHarness } from '../sim/array.ts';
import { synthesize } from '../synth/yosys.ts';

const images = Number(process.argv[2] ?? 100);
const CELLS = ['exact_s8', 'roup_p1_r4_s8', 'roup_p2_r6_s8', 'roup_p3_r8_s8'];
const out: Record<string, unknown> = { date: new Date().toISOString(), images, cells: CELLS, load: loadavg() };

// PE area: the PE module with its cells, hierarchy kept (moduleAreas splits PE logic from cells).
async function peArea(config: Record<string, unknown>) {
  const d = resolveDesign({ rows: 2, cols: 2, ...config });
  const v = generateViews(d);
  const cells = d.tags ? d.tags.cells : [d.tiles[0]!.cells[0]![0]![0]!];
  const sources = { 'axtpu_pe0.sv': v.synth['axtpu_pe0.sv']!, ...Object.fromEntries(cells.map((c) => [`${cellInfo(c).moduleName}.v`, cellInfo(c).verilog()])) };
  const syn = await synthesize({ top: 'axtpu_pe0', sources, flatten: false });
  const cellArea = cells.reduce((s, c) => s + (syn.moduleAreas[cellInfo(c).moduleName] ?? 0), 0);
  return { cells, totalUm2: syn.areaUm2, cellsUm2: cellArea, peLogicUm2: syn.areaUm2 - cellArea };
}
const area: Record<string, unknown> = {};
for (const c of CELLS) area[c] = await peArea({ cell: c });
for (const n of [2, 3, 4]) area[`set${n}`] = await peArea({ cellSet: CELLS.slice(0, n) });
out.peArea = area;
console.log(JSON.stringify(area, null, 1));

// LeNet-5 energy per inference.
const model = join(repoRoot, 'models/lenet5-fmnist.onnx');
const { model: q } = await loadQuantModelFor(model, 'signed');
const ds = limitDataset(loadDataset('fmnist', 'test'), images);
const SET = CELLS.slice(0, 3);
const kernelMap: Assignment = {
  layers: Object.fromEntries(
    convLayers(q).map((l, j) => [l.name, { kernels: Array.from({ length: l.oc }, (_, o) => Array.from({ length: l.ic }, (_, ic) => SET[(o + ic + j) % 3]!)) }]),
  ),
};
async function energy(label: string, config: Record<string, unknown>, want?: Assignment) {
  const d = resolveDesign({ rows: 16, cols: 16, ...config });
  const est = await analyticalEstimate(q, d, placeModel(q, d, { want }), ds, Math.min(images, 250));
  const parts: Record<string, number> = {};
  for (const l of est.layers) for (const [k, v] of Object.entries(l.energy!)) if (typeof v === 'number') parts[k] = (parts[k] ?? 0) + v / ds.count;
  const objectives = Object.fromEntries((['multiplier', 'array', 'accelerator'] as const).map((o) => [o, objectiveEnergy(parts as never, o)]));
  const pe = Object.fromEntries(Object.entries(est.ops.pe).map(([k, v]) => [k, v]));
  console.log(label, objectives);
  return { label, config, pjPerInference: parts, objectives, pe };
}
out.energy = [
  await energy('untagged exact_s8', { cell: 'exact_s8' }),
  await energy('tagged set3, every weight exact (tag 0)', { cellSet: SET }),
  await energy('tagged set3, kernel-level map', { cellSet: SET }, kernelMap),
  await energy('untagged roup_p1_r4_s8', { cell: 'roup_p1_r4_s8' }),
  await energy('untagged roup_p2_r6_s8', { cell: 'roup_p2_r6_s8' }),
];

// Simulation speed: bare loops alternated.
const plain = await buildHarness(resolveDesign({ rows: 16, cols: 16, cell: 'exact_s8' }));
const tagged = await buildHarness(resolveDesign({ rows: 16, cols: 16, cellSet: SET }));
const runs: { which: string; cyclesPerCpuS: number; cyclesPerWallS: number }[] = [];
for (let i = 0; i < 3; i++)
  for (const [which, b] of [
    ['untagged', plain],
    ['tagged', tagged],
  ] as const) {
    const r = await bareSpeed(b, 2_000_000);
    runs.push({ which, cyclesPerCpuS: r.cycles / (r.cpuNs / 1e9), cyclesPerWallS: r.cycles / (r.ns / 1e9) });
  }
const best = (w: string) => Math.max(...runs.filter((r) => r.which === w).map((r) => r.cyclesPerCpuS));
out.speed = { runs, bestUntagged: best('untagged'), bestTagged: best('tagged'), ratio: best('tagged') / best('untagged'), load: loadavg() };
console.log(out.speed);
writeFileAtomic(join(repoRoot, 'bench/results/cell-set.json'), `${JSON.stringify(out, null, 2)}\n`);
