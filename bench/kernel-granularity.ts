/**
 * Layer vs filter vs kernel granularity (issue 18 acceptance), ResNet-8 on Fashion-MNIST with
 * signed ROUP cells, 16x16 array, XAI-guided greedy at each budget:
 *   layer   one tile per layer (untagged, one cell per tile);
 *   filter  per-column cells (untagged);
 *   kernel  the tagged design (every PE holds exact + the candidates, a 2-bit tag per weight),
 *           units = layer x column x input-channel group; its select hardware, tag FIFO and tag
 *           DRAM bytes are in the fixed energy, so savings are net of them.
 * Every winner is re-measured on the test split (engine); the kernel winner (largest budget) is
 * re-run in RTL on the same test images and compared with the engine.
 *   nice -n 10 node --import tsx bench/kernel-granularity.ts [--val 1000] [--test 10000] [--budgets 4,1] [--granularities layer,kernel,filter] [--rtl 1]
 * Writes bench/results/kernel-granularity.json after every run (a partial run keeps its rows).
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { explore, type GroupResult } from '../explore/run.ts';
import { verifyWinner } from '../explore/winner.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const val = Number(arg('val', '1000'));
const test = Number(arg('test', '10000'));
const budgets = arg('budgets', '4,1').split(',').map(Number);
const granularities = arg('granularities', 'layer,kernel,filter').split(',') as ('layer' | 'filter' | 'kernel')[];
const withRtl = arg('rtl', '1') === '1';
const CELLS = 'roup_p0_r4_s8,roup_p1_r6_s8,roup_p2_r0_s8';
const model = join(repoRoot, 'models/resnet8-fmnist.onnx');
const runDir = join(repoRoot, 'bench/results/kernel-granularity-run');
const resultPath = join(repoRoot, 'bench/results/kernel-granularity.json');
mkdirSync(runDir, { recursive: true });

const results: Record<string, unknown> = {
  model: 'models/resnet8-fmnist.onnx',
  dataset: 'fashion-mnist',
  cells: CELLS,
  rows: 16,
  cols: 16,
  valImages: val,
  testImages: test,
  started: new Date().toISOString(),
  rows_: [] as unknown[],
};
const table = results.rows_ as unknown[];
const save = () => writeFileAtomic(resultPath, `${JSON.stringify({ ...results, updated: new Date().toISOString(), load: loadavg() }, null, 2)}\n`);

async function kernelRtl(k: { g: GroupResult; budget: number }) {
  const t0 = performance.now();
  const v = await verifyWinner(k.g, { model, testImages: test });
  results.kernelRtl = {
    budgetPct: k.budget,
    images: v.images,
    rtlAccuracy: v.rtlAccuracy,
    engineAccuracy: v.engineAccuracy,
    softwareEstimate: v.softwareEstimate,
    equal: v.equal,
    predMismatches: v.predMismatches,
    layerMismatches: v.layerMismatches,
    cyclesPerInference: v.cyclesPerInference,
    energy: v.energy,
    multiplierAreaUm2: v.multiplierAreaUm2,
    exactMultiplierAreaUm2: v.exactMultiplierAreaUm2,
    seconds: (performance.now() - t0) / 1000,
  };
  save();
}

for (const granularity of granularities) {
  let kernelWinner: { g: GroupResult; budget: number } | undefined;
  for (const b of budgets) {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    // One journal per granularity: the second budget reuses the first one's evaluations.
    const r = await explore({
      model,
      cells: CELLS,
      budget: b / 100,
      granularity,
      search: 'xai-greedy',
      rows: 16,
      cols: 16,
      out: join(runDir, granularity),
      valImages: val,
      testImages: test,
      frontTestMax: 1,
      quiet: false,
    });
    const g = r.groups[r.winnerGroup]!;
    const w = g.winner;
    const cpu = process.cpuUsage(cpu0);
    table.push({
      granularity,
      budgetPct: b,
      units: g.units.length,
      exactPj: g.baseline.energies,
      winnerPj: w.energies,
      savings: w.savings,
      winnerCells: [...new Set(w.cells)].sort(),
      valLoss: w.valLoss,
      valLossUpper: w.valLossUpper,
      testAccuracy: w.testAccuracy,
      exactTestAccuracy: g.baseline.testAccuracy,
      testLoss: w.testLoss,
      testLossUpper: w.testLossUpper,
      feasible: w.feasible,
      winnerDesign: g.winnerDesign,
      exactParts: g.accelerator.exactParts,
      winnerParts: g.accelerator.winnerParts,
      evaluations: g.evaluations,
      seconds: (performance.now() - t0) / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    });
    if (granularity === 'kernel' && (!kernelWinner || b > kernelWinner.budget)) kernelWinner = { g, budget: b };
    save();
  }
  // The RTL re-run right after the kernel search (the acceptance's second half), before the next granularity.
  if (withRtl && kernelWinner) await kernelRtl(kernelWinner);
}
results.finished = new Date().toISOString();
save();
