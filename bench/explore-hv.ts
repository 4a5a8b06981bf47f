/**
 * Offline hypervolume comparison of greedy variants (issue 20): every bench/explore.ts run of a
 * problem keeps its fully measured greedy points (greedyPoints) and, with NSGA-II, its points
 * (nsga2.points). This compares each greedy run with the NSGA-II run of the same problem (same
 * validation split, energy model and decision rule; the exact baseline is checked equal).
 *   node --import tsx bench/explore-hv.ts --nsga <run tag> --scheme signed|unsigned <greedy run tag> ...
 * Tags are file names in bench/results/explore-run/ without .json. Prints a table; writes nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../core/paths.ts';
import { exactReference, hypervolume, type TradeoffPoint } from '../explore/pareto.ts';

const args = process.argv.slice(2);
const take = (name: string) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) throw new Error(`--${name} is required`);
  return args.splice(i, 2)[1]!;
};
const nsgaTag = take('nsga');
const scheme = take('scheme');
type Group = {
  greedyPoints: TradeoffPoint[];
  greedy_1pct: { baseline: { energyPj: number; valAccuracy: number }; evaluations: { search: number } };
  greedy_4pct: { evaluations: { search: number } };
  nsga2?: { points: TradeoffPoint[]; evaluations: { search: number } };
};
const load = (tag: string): Group => {
  const g = JSON.parse(readFileSync(join(repoRoot, 'bench/results/explore-run', `${tag}.json`), 'utf8')).groups[scheme];
  if (!g) throw new Error(`${tag}: no ${scheme} group`);
  return g as Group;
};
const n = load(nsgaTag);
if (!n.nsga2) throw new Error(`${nsgaTag}: no NSGA-II run`);
const base = n.greedy_1pct.baseline;
console.log(`NSGA-II of ${nsgaTag} (${scheme}): ${n.nsga2.evaluations.search} designs`);
for (const tag of args) {
  const g = load(tag);
  const b = g.greedy_1pct.baseline;
  if (b.energyPj !== base.energyPj || b.valAccuracy !== base.valAccuracy) throw new Error(`${tag}: a different exact baseline than ${nsgaTag}`);
  const ratio = (drop: number) => {
    const ref = exactReference({ energy: base.energyPj, accuracy: base.valAccuracy }, drop);
    return hypervolume(g.greedyPoints, ref) / hypervolume(n.nsga2!.points, ref);
  };
  const designs = g.greedy_1pct.evaluations.search + g.greedy_4pct.evaluations.search;
  console.log(
    `${tag}: HV ratio ${ratio(0.04).toFixed(3)} (-4 pp) / ${ratio(0.1).toFixed(3)} (-10 pp), designs ${designs} / ${n.nsga2.evaluations.search} = ${((100 * designs) / n.nsga2.evaluations.search).toFixed(1)} %`,
  );
}
