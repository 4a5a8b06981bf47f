/**
 * Exploration benchmark (issue 8 acceptance): ResNet-8 on Fashion-MNIST with the ROUP, DRUM and
 * BAM families, layer granularity.
 *   - best multiplier-energy saving at <= 1 % and <= 4 % validation accuracy loss vs exact
 *     (XAI-guided greedy, one run per budget), with the test-split accuracy of each winner;
 *   - XAI-greedy vs NSGA-II on the same problem: hypervolume ratio and evaluation counts.
 * Writes bench/results/explore.json after every stage (partial results survive an interrupt).
 *   node --import tsx bench/explore.ts [--val 500] [--test 1000] [--pop 12] [--gens 6] [--groups unsigned,signed]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { explore, type ExploreResult, type GroupResult, type SearchKind } from '../explore/run.ts';
import { hypervolume } from '../explore/pareto.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const val = Number(arg('val', '500'));
const test = Number(arg('test', '1000'));
const pop = Number(arg('pop', '12'));
const gens = Number(arg('gens', '6'));
const groups = arg('groups', 'unsigned,signed').split(',');
const model = join(repoRoot, 'models/resnet8-fmnist.onnx');
const out = join(repoRoot, 'bench/results/explore-run');
const resultPath = join(repoRoot, 'bench/results/explore.json');
mkdirSync(out, { recursive: true });

const CELLS: Record<string, string> = { unsigned: 'drum_*_u8,bam_*_u8', signed: 'roup_*,drum_*_s8' };

const results: Record<string, unknown> = {
  model: 'models/resnet8-fmnist.onnx',
  dataset: 'fashion-mnist',
  granularity: 'layer',
  valImages: val,
  testImages: test,
  energy: 'multiplier dynamic energy per inference (synth cellEnergy on each layer\'s weight-stationary operand stream x MACs)',
  started: new Date().toISOString(),
  groups: {},
};
const save = () => writeFileAtomic(resultPath, JSON.stringify(results, null, 2) + '\n');

async function run(cells: string, budget: number, search: SearchKind): Promise<{ r: ExploreResult; g: GroupResult; seconds: number }> {
  const t0 = performance.now();
  const r = await explore({ model, cells, budget, granularity: 'layer', search, rows: 16, cols: 16, out, valImages: val, testImages: test, calibImages: 32, xaiSteps: 8, nsgaPopulation: pop, nsgaGenerations: gens, seed: 1, frontTestMax: 1 });
  return { r, g: r.groups[0]!, seconds: (performance.now() - t0) / 1000 };
}

function bestWithin(g: GroupResult, loss: number) {
  const ok = g.points.filter((p) => p.valLoss <= loss + 1e-12).sort((a, b) => a.energyPj - b.energyPj);
  const p = ok[0]!;
  return { saving: p.saving, valLoss: p.valLoss, cells: p.cells, energyPj: p.energyPj };
}

const state: Record<string, { entry: Record<string, unknown>; greedyPoints: { energy: number; accuracy: number }[]; greedyEvals: number; base?: GroupResult }> = {};
// Greedy for every group first (the acceptance savings), NSGA-II comparisons after.
for (const scheme of groups) {
  const cells = CELLS[scheme]!;
  const entry: Record<string, unknown> = { cells };
  (results.groups as Record<string, unknown>)[scheme] = entry;
  const st: (typeof state)[string] = { entry, greedyPoints: [], greedyEvals: 0 };
  state[scheme] = st;
  for (const budget of [0.01, 0.04]) {
    const { g, seconds } = await run(cells, budget, 'xai-greedy');
    st.base = g;
    st.greedyEvals += g.evaluations.search;
    st.greedyPoints.push(...g.points.map((p) => ({ energy: p.energyPj, accuracy: p.valAccuracy })));
    entry[`greedy_${budget * 100}pct`] = {
      winner: { saving: g.winner.saving, valLoss: g.winner.valLoss, testAccuracy: g.winner.testAccuracy, testLoss: g.winner.testLoss, cells: g.winner.cells },
      baseline: g.baseline,
      units: g.units.map((u) => u.name),
      candidates: g.candidates,
      pruned: g.pruned,
      spearman: g.spearman,
      layers: g.layers,
      evaluations: g.evaluations,
      seconds,
    };
    save();
    console.log(`${scheme} greedy ${budget * 100}%: saving ${(100 * g.winner.saving).toFixed(1)} %, val loss ${(100 * g.winner.valLoss).toFixed(2)} pp, test loss ${((g.winner.testLoss ?? NaN) * 100).toFixed(2)} pp, ${g.evaluations.search} evals, ${seconds.toFixed(0)} s`);
  }
}
for (const scheme of groups) {
  const cells = CELLS[scheme]!;
  const { entry, greedyPoints, greedyEvals, base } = state[scheme]!;
  const { g: n, seconds } = await run(cells, 0.01, 'nsga2');
  const nsgaPoints = n.points.map((p) => ({ energy: p.energyPj, accuracy: p.valAccuracy }));
  const ref = { energy: base!.baseline.energyPj * 1.0001, accuracy: base!.baseline.valAccuracy - 0.1 };
  const hvG = hypervolume(greedyPoints, ref);
  const hvN = hypervolume(nsgaPoints, ref);
  entry.nsga2 = {
    population: pop,
    generations: gens,
    evaluations: n.evaluations.search,
    best1pct: bestWithin(n, 0.01),
    best4pct: bestWithin(n, 0.04),
    seconds,
  };
  entry.comparison = {
    reference: ref,
    hypervolumeGreedy: hvG,
    hypervolumeNsga2: hvN,
    hypervolumeRatio: hvG / hvN,
    evaluationsGreedy: greedyEvals,
    evaluationsNsga2: n.evaluations.search,
    evaluationRatio: greedyEvals / n.evaluations.search,
    note: 'greedy = union of the 1 % and 4 % budget runs; both on the same validation split and energy model',
  };
  save();
  console.log(`${scheme} NSGA-II: ${n.evaluations.search} evals; HV greedy/NSGA-II = ${(hvG / hvN).toFixed(3)}, evals ${greedyEvals}/${n.evaluations.search}`);
}
results.finished = new Date().toISOString();
save();
