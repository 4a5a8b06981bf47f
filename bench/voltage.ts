/**
 * Voltage search (issue 16, docs/vos.md "Voltage search") -> bench/results/voltage.json.
 *   node --import tsx bench/voltage.ts [--models=lenet5,resnet8] [--budgets=0.006,0.01] [--runs=vfilter,cells,vlayer,joint]
 *     [--levels=1.6,1.4,1.2,1.1,1.0,0.9]
 * Per model and budget, on the test split (all 10,000 images), 16x16, osu018, clock at closure of
 * the slowest PE, accelerator objective, xai-greedy, unsigned cells:
 *   vfilter  voltage only, exact cells, one supply per array column (X-TPU-style per neuron)
 *   cells    approximate cells only (the default candidates), per layer
 *   vlayer   voltage only, exact cells, per layer
 *   joint    cells and voltage, per layer
 * Each (model, run) keeps one journal across budgets (in the temp folder), so later budgets reuse evaluations.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../core/paths.ts';
import { DEFAULT_CELLS } from '../explore/candidates.ts';
import { explore, type Knob } from '../explore/run.ts';
import { parseGene } from '../mapping/units.ts';
import { benchRows } from './rows.ts';

const arg = (k: string, d: string) => (process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3) ?? d).split(',');
const models = arg('models', 'lenet5,resnet8');
const budgets = arg('budgets', '0.006,0.01').map(Number);
const runs = arg('runs', 'vfilter,cells,vlayer,joint');
// Unsigned PEs on real streams fail only near 1.1 V (docs/vos.md), so the levels reach 0.9 V
// (2 x the delay model's threshold; the alpha-power law's range is stated there).
const LEVELS = arg('levels', '1.6,1.4,1.2,1.1,1.0,0.9').map(Number);
// Journals (resume): outside the repository.
const work = join(tmpdir(), 'axtpu-bench-voltage');
const out = join(repoRoot, 'bench', 'results', 'voltage.json');
const log = (s: string) => process.stderr.write(`${s}\n`);

const RUNS: Record<string, { cells: string; knobs: Knob[]; granularity: 'layer' | 'filter' }> = {
  vfilter: { cells: 'exact_u8', knobs: ['cells', 'voltage'], granularity: 'filter' },
  cells: { cells: DEFAULT_CELLS, knobs: ['cells'], granularity: 'layer' },
  vlayer: { cells: 'exact_u8', knobs: ['cells', 'voltage'], granularity: 'layer' },
  joint: { cells: DEFAULT_CELLS, knobs: ['cells', 'voltage'], granularity: 'layer' },
};

const { results, write } = benchRows(out, { models, runs, budgets });
for (const m of models) {
  for (const run of runs) {
    const spec = RUNS[run]!;
    const dir = join(work, `${m}-${run}`);
    mkdirSync(dir, { recursive: true });
    for (const budget of budgets) {
      log(`${m} ${run} budget ${100 * budget} %`);
      const r = await explore({
        model: join(repoRoot, 'models', `${m}-fmnist.onnx`),
        cells: spec.cells,
        knobs: spec.knobs,
        levels: spec.knobs.includes('voltage') ? LEVELS : undefined,
        budget,
        granularity: spec.granularity,
        search: 'xai-greedy',
        rows: 16,
        cols: 16,
        out: dir,
        quiet: true,
      });
      const g = r.groups[r.winnerGroup]!;
      const w = g.winner;
      const levels: Record<string, number> = {};
      const cells: Record<string, number> = {};
      for (const gene of w.cells) {
        const p = parseGene(gene);
        levels[String(p.volts ?? 'nominal')] = (levels[String(p.volts ?? 'nominal')] ?? 0) + 1;
        cells[p.cell] = (cells[p.cell] ?? 0) + 1;
      }
      results.push({
        model: m,
        run,
        budget,
        granularity: spec.granularity,
        knobs: spec.knobs,
        units: g.units.length,
        exactTest: g.baseline.testAccuracy,
        winnerTest: w.testAccuracy,
        testLoss: w.testLoss,
        testLossUpper: w.testLossUpper,
        valLoss: w.valLoss,
        savings: w.savings,
        energiesPj: w.energies,
        exactEnergiesPj: g.baseline.energies,
        unitLevels: levels,
        unitCells: cells,
        clockNs: g.voltage?.clockNs,
        evaluations: g.evaluations.search,
        seconds: r.seconds,
      });
      const s = w.savings;
      log(
        `  saving accelerator ${(100 * s.accelerator).toFixed(1)} %, array ${(100 * s.array).toFixed(1)} %, multiplier ${(100 * s.multiplier).toFixed(1)} %; test loss ${(100 * (w.testLoss ?? 0)).toFixed(2)} pp; ${r.seconds.toFixed(0)} s`,
      );
      write({ levels: LEVELS, objective: 'accelerator' });
    }
  }
}
log(`results: ${out}`);
