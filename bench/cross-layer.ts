/**
 * Cross-layer knobs (issue 19, docs/explore.md "Cross-layer knobs") -> bench/results/cross-layer.json.
 *   node --import tsx bench/cross-layer.ts [--models=lenet5,resnet8] [--budgets=0.01,0.04] [--runs=cells,prune,wmem,width,all]
 *     [--val=2000] [--cells=...] [--sparsities=0.25,0.5,0.75] [--wmem-levels=1.5,1.4,1.3] [--protect-msbs=2]
 * Per model and budget: the best design (xai-greedy, layer granularity, 16x16, accelerator
 * objective, validation hold-out, all test images) with each knob alone and with all of them:
 *   cells   approximate cells only
 *   prune   exact cells, a sparsity per layer
 *   wmem    exact cells, a weight-memory supply per layer
 *   width   exact cells, the model's width variants
 *   all     cells, sparsity, weight memory and width together
 *   all-nsga2  the same space searched by NSGA-II (not in the default runs)
 * Savings and losses are vs the full-width model's exact design (paired, same images).
 * Each (model, run) keeps one journal across budgets (in the temp folder), so later budgets reuse evaluations.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../core/paths.ts';
import { explore, type Knob } from '../explore/run.ts';
import { parseGene } from '../mapping/units.ts';
import { benchRows } from './rows.ts';

const arg = (k: string, d: string) => (process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3) ?? d).split(',');
const models = arg('models', 'lenet5,resnet8');
const budgets = arg('budgets', '0.01,0.04').map(Number);
const runs = arg('runs', 'cells,prune,wmem,width,all');
const valImages = Number(arg('val', '2000')[0]);
// The unsigned cells explore's CLI test uses: few enough that the joint space stays small on ResNet-8.
const CELLS = arg('cells', 'drum_k4_u8,drum_k6_u8,bam_h0_v8_u8,trunc_a2_b2_u8').join(',');
const SPARSITIES = arg('sparsities', '0.25,0.5,0.75').map(Number);
const WMEM = arg('wmem-levels', '1.5,1.4,1.3').map(Number);
const PROTECT = Number(arg('protect-msbs', '2')[0]);
const work = join(tmpdir(), 'axtpu-bench-cross-layer');
const out = join(repoRoot, 'bench', 'results', 'cross-layer.json');
const log = (s: string) => process.stderr.write(`${s}\n`);

const RUNS: Record<string, { cells: string; knobs: Knob[]; search?: 'nsga2'; journalOf?: string }> = {
  cells: { cells: CELLS, knobs: ['cells'] },
  prune: { cells: 'exact_u8', knobs: ['cells', 'prune'] },
  wmem: { cells: 'exact_u8', knobs: ['cells', 'wmem'] },
  width: { cells: 'exact_u8', knobs: ['cells', 'width'] },
  all: { cells: CELLS, knobs: ['cells', 'prune', 'wmem', 'width'] },
  // The same space searched by NSGA-II (population 16 x 10 generations per width): is greedy the limit?
  'all-nsga2': { cells: CELLS, knobs: ['cells', 'prune', 'wmem', 'width'], search: 'nsga2', journalOf: 'all' },
};

const { results, write } = benchRows(out, { models, runs, budgets });
for (const m of models) {
  for (const run of runs) {
    const spec = RUNS[run]!;
    // Same space, same journal: NSGA-II reuses greedy's evaluations.
    const dir = join(work, `${m}-${spec.journalOf ?? run}`);
    mkdirSync(dir, { recursive: true });
    for (const budget of budgets) {
      log(`${m} ${run} budget ${100 * budget} %`);
      const r = await explore({
        model: join(repoRoot, 'models', `${m}-fmnist.onnx`),
        cells: spec.cells,
        knobs: spec.knobs,
        sparsities: SPARSITIES,
        wmemLevels: WMEM,
        protectMsbs: PROTECT,
        budget,
        granularity: 'layer',
        search: spec.search ?? 'xai-greedy',
        rows: 16,
        cols: 16,
        valImages,
        out: dir,
        quiet: true,
      });
      const g = r.groups[r.winnerGroup]!;
      const w = g.winner;
      const count = (k: (p: ReturnType<typeof parseGene>) => string) => {
        const c: Record<string, number> = {};
        for (const gene of w.cells) c[k(parseGene(gene))] = (c[k(parseGene(gene))] ?? 0) + 1;
        return c;
      };
      results.push({
        model: m,
        run,
        budget,
        knobs: spec.knobs,
        search: spec.search ?? 'xai-greedy',
        // This row's search space (one invocation per model may use its own).
        space: { cells: spec.cells, sparsities: SPARSITIES, wmemLevels: WMEM, protectMsbs: PROTECT, valImages },
        width: g.width,
        units: g.units.length,
        referenceTest: g.reference?.testAccuracy ?? g.baseline.testAccuracy,
        winnerTest: w.testAccuracy,
        testLoss: w.testLoss,
        testLossUpper: w.testLossUpper,
        valLoss: w.valLoss,
        feasible: w.feasible,
        savings: w.savings,
        energiesPj: w.energies,
        winnerGenes: w.cells,
        unitCells: count((p) => p.cell),
        unitSparsity: count((p) => String(p.sparsity ?? 0)),
        unitWmem: count((p) => String(p.wmem ?? 'nominal')),
        groups: r.groups.map((x) => ({
          scheme: x.scheme,
          width: x.width,
          exactVal: x.baseline.valAccuracy,
          winnerSaving: x.winner.savings.accelerator,
          feasible: x.winner.feasible,
        })),
        evaluations: r.groups.reduce((s, x) => s + x.evaluations.search, 0),
        seconds: r.seconds,
      });
      const s = w.savings;
      log(
        `  width ${g.width}: saving accelerator ${(100 * s.accelerator).toFixed(1)} %, array ${(100 * s.array).toFixed(1)} %, multiplier ${(100 * s.multiplier).toFixed(1)} %; test loss ${(100 * (w.testLoss ?? 0)).toFixed(2)} pp; ${r.seconds.toFixed(0)} s`,
      );
      write({ objective: 'accelerator', granularity: 'layer', array: '16x16' });
    }
  }
}
log(`results: ${out}`);
