/**
 * `axtpu nas` candidates, the two cell searches side by side (docs/nas.md, Measured): N
 * architectures of the shipped space (its two corners, then random genomes), each proxy-trained
 * (1 epoch, 4,000 images, cached), then its cells searched with `--search nsga2` (every layer,
 * scan; EvoApproxNAS-style) and `--search xai` (least critical half, bisect; XAI-NAS-style),
 * alternating which goes first. A warm-up cell search per architecture fills the energy caches
 * first, so both are timed warm. Reports per architecture the designs each measured, the
 * seconds of the cell search, the saving and the validation accuracy with the cells.
 *   node --import tsx bench/nas.ts [--archs 6] [--cells <globs>]  -> bench/results/nas.json
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { makeRng, randInt } from '../core/rng.ts';
import { DEFAULT_CELLS } from '../explore/candidates.ts';
import { type CandidateOptions, type CandidateRecord, evaluateCandidate } from '../nas/candidate.ts';
import { nasSplits } from '../nas/run.ts';
import { archLabel, decode, geneChoices, readSpace } from '../nas/space.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const archs = Number(arg('archs', '6'));
const cells = arg('cells', DEFAULT_CELLS);
const spacePath = join(repoRoot, 'models/nas-space-fmnist.json');
const space = readSpace(spacePath);
const work = mkdtempSync(join(tmpdir(), 'axtpu-bench-nas-'));
const base = { dataset: 'fmnist', trainImages: 4000, valImages: 1000, calibImages: 16, space };
const { proxyTrain } = nasSplits(base);
const opts = (cellSearch: CandidateOptions['cellSearch'], dir: string): CandidateOptions => ({
  ...base,
  cells,
  budget: 0.01,
  rows: 16,
  cols: 16,
  testImages: 1000,
  proxy: { epochs: 1, batch: 64, lr: 0.002, seed: 1, threads: 1 },
  cellSearch,
  xaiShare: 0.5,
  workDir: join(work, dir),
});
const choices = geneChoices(space);
const rng = makeRng(7);
const genomes = [choices.map(() => 0), choices.map((n) => n - 1)];
while (genomes.length < archs) genomes.push(choices.map((n) => randInt(rng, n)));

const pick = (r: CandidateRecord) => ({
  evaluations: r.evaluations,
  cellSearchSeconds: r.seconds.explore,
  searchStageSeconds: r.exploreStages.search ?? 0,
  saving: r.approx.saving,
  valAccuracy: r.approx.valAccuracy,
  valLoss: r.approx.valLoss,
  approximateLayers: r.approx.cells.filter((c) => c !== r.exact.cell).length,
  cells: r.approx.cells,
});
async function measure(i: number, g: number[]) {
  const arch = decode(space, g);
  const label = archLabel(arch);
  const warm = await evaluateCandidate(`warm${i}`, arch, proxyTrain, opts('full', 'warm'));
  const order = i % 2 === 0 ? (['full', 'xai'] as const) : (['xai', 'full'] as const);
  const got: Partial<Record<'full' | 'xai', CandidateRecord>> = {};
  for (const s of order) got[s] = await evaluateCandidate(`${s}${i}`, arch, proxyTrain, opts(s, s));
  return {
    label,
    macs: warm.macs,
    layers: warm.approx.layers.length,
    proxy: {
      trainImages: warm.train.images,
      epochs: warm.train.epochs,
      trainSeconds: warm.train.seconds,
      cpuSeconds: warm.train.cpuSeconds,
      cachedInThisRun: warm.train.cached,
      stepSeconds: warm.seconds.train,
    },
    exact: { valAccuracy: warm.exact.valAccuracy, energyPj: warm.exact.energyPj },
    nsga2: pick(got.full!),
    xai: pick(got.xai!),
  };
}

const rows: Awaited<ReturnType<typeof measure>>[] = [];
try {
  for (const [i, g] of genomes.entries()) {
    const row = await measure(i, g);
    rows.push(row);
    process.stderr.write(
      `${row.label}: nsga2 ${row.nsga2.evaluations} designs ${row.nsga2.cellSearchSeconds.toFixed(1)} s saving ${(100 * row.nsga2.saving).toFixed(2)} %; xai ${row.xai.evaluations} designs ${row.xai.cellSearchSeconds.toFixed(1)} s saving ${(100 * row.xai.saving).toFixed(2)} %\n`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((s, r) => s + f(r), 0);
const result = {
  date: new Date().toISOString(),
  command: `node --import tsx bench/nas.ts --archs ${archs}${arg('cells', '') ? ` --cells ${cells}` : ''}`,
  machine: { cpus: cpus().length, loadavg: loadavg() },
  cells,
  archs: rows,
  totals: {
    nsga2: { evaluations: sum((r) => r.nsga2.evaluations), cellSearchSeconds: sum((r) => r.nsga2.cellSearchSeconds) },
    xai: { evaluations: sum((r) => r.xai.evaluations), cellSearchSeconds: sum((r) => r.xai.cellSearchSeconds) },
    evaluationRatio: sum((r) => r.nsga2.evaluations) / sum((r) => r.xai.evaluations),
    secondsRatio: sum((r) => r.nsga2.cellSearchSeconds) / sum((r) => r.xai.cellSearchSeconds),
    meanSaving: { nsga2: sum((r) => r.nsga2.saving) / rows.length, xai: sum((r) => r.xai.saving) / rows.length },
  },
};
writeFileAtomic(join(repoRoot, 'bench/results/nas.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stderr.write(`${JSON.stringify(result.totals)}\n`);
