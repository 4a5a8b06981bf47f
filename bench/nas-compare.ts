/**
 * Two `axtpu nas` runs compared on one scale (the acceptance: does the XAI-NAS-style front
 * dominate or match the EvoApproxNAS-style one at the same wall time?). Reads each run's
 * summary.json; hypervolume (explore/pareto.ts) of every run's candidates in (accelerator uJ per
 * inference, validation accuracy) against ONE reference point for all: 1.01 x the largest energy
 * and 1 pp below the lowest accuracy of any candidate of any run; and how many front points of
 * each run a point of the other dominates.
 *   node --import tsx bench/nas-compare.ts <a/summary.json> <b/summary.json> [--out bench/results/nas-compare.json]
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { dominates, hypervolume, type TradeoffPoint } from '../explore/pareto.ts';
import type { NasResult } from '../nas/run.ts';

const argv = process.argv.slice(2);
const outAt = argv.indexOf('--out');
const out = outAt >= 0 ? resolve(argv[outAt + 1]!) : resolve(repoRoot, 'bench/results/nas-compare.json');
const files = outAt < 0 ? argv : argv.filter((_, i) => i !== outAt && i !== outAt + 1);
if (files.length !== 2) throw new Error('usage: bench/nas-compare.ts <a/summary.json> <b/summary.json> [--out file]');
const runs = files.map((f) => ({ file: resolve(f), r: JSON.parse(readFileSync(f, 'utf8')) as NasResult }));
const pointsOf = (r: NasResult): TradeoffPoint[] => r.candidates.map((c) => ({ energy: c.approx.energyPj / 1e6, accuracy: c.approx.valAccuracy }));
const frontOf = (r: NasResult): TradeoffPoint[] => r.front.map((p) => ({ energy: p.energyPj / 1e6, accuracy: p.accuracy }));
const all = runs.flatMap(({ r }) => pointsOf(r));
const ref = { energy: 1.01 * Math.max(...all.map((p) => p.energy)), accuracy: Math.min(...all.map((p) => p.accuracy)) - 0.01 };
const result = {
  date: new Date().toISOString(),
  command: `node --import tsx bench/nas-compare.ts ${files.join(' ')}`,
  reference: ref,
  runs: runs.map(({ file, r }, i) => {
    const other = runs[1 - i]!.r;
    const front = frontOf(r);
    return {
      file,
      search: r.search,
      candidates: r.candidates.length,
      stopped: r.stopped,
      seconds: r.seconds,
      bestAccuracy: Math.max(...pointsOf(r).map((p) => p.accuracy)),
      hypervolume: hypervolume(pointsOf(r), ref),
      front: front.length,
      frontDominatedByOther: front.filter((p) => frontOf(other).some((q) => dominates(q, p))).length,
    };
  }),
};
writeFileAtomic(out, `${JSON.stringify(result, null, 2)}\n`);
for (const x of result.runs)
  process.stdout.write(
    `${x.search}: ${x.candidates} candidates (${x.seconds.perCandidate.toFixed(1)} s each, ${x.stopped.reason}), hypervolume ${x.hypervolume.toFixed(3)}, ${x.frontDominatedByOther} of ${x.front} front points dominated by the other run\n`,
  );
