/**
 * Does the greedy surrogate predict a design's measured loss better than the additive per-unit
 * prediction? (docs/explore.md, Greedy on a measured path.) Takes every design a bench/explore.ts
 * run judged on all its validation images (its journal: NSGA-II's and greedy's), and compares
 * two predictions of its paired validation loss vs the exact design:
 *   surrogate: the whole design's mean output KL on the estimator images (explore/surrogate.ts),
 *   additive:  the sum over its approximate layers of noise-kl's one-layer damage (what
 *              `--greedy-order path` ranks by).
 *   node --import tsx bench/surrogate-check.ts --tag <explore-run tag> --scheme signed|unsigned [--images 64]
 * Merges its row into bench/results/surrogate-check.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { estimatorInputs } from '../explore/criticality-check.ts';
import { layerDamages } from '../explore/error-criticality.ts';
import { unpackBits } from '../explore/evaluator.ts';
import { kendall, spearman } from '../explore/stats.ts';
import { DesignKl } from '../explore/surrogate.ts';
import type { Assignment } from '../nn/assign.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { importOnnx } from '../nn/onnx.ts';

const args = process.argv.slice(2);
const arg = (name: string, def?: string) => {
  const i = args.indexOf(`--${name}`);
  if (i >= 0) return args[i + 1]!;
  if (def === undefined) throw new Error(`--${name} is required`);
  return def;
};
const tag = arg('tag');
const scheme = arg('scheme') as 'signed' | 'unsigned';
const images = Number(arg('images', '64'));
const part = tag.split('-')[0]!;
const modelPath = join(repoRoot, `models/${part}-fmnist.onnx`);
const exactCell = scheme === 'signed' ? 'exact_s8' : 'exact_u8';
const suffix = scheme === 'signed' ? '_s8' : '_u8';

// Per design (assignment JSON): correctness per validation range.
const ranges = new Map<string, Map<string, Uint8Array>>();
let V = 0;
for (const line of readFileSync(join(repoRoot, 'bench/results/explore-run', tag, 'journal.jsonl'), 'utf8').split('\n')) {
  if (!line) continue;
  const rec = JSON.parse(line) as { key: string; value: { correct?: string } };
  const m = /^[0-9a-f]+:val\[(\d+),(\d+)\):(\{.*\})$/.exec(rec.key);
  if (!m || typeof rec.value.correct !== 'string') continue;
  const [start, end] = [Number(m[1]), Number(m[2])];
  V = Math.max(V, end);
  const r = ranges.get(m[3]!) ?? new Map<string, Uint8Array>();
  r.set(`${start},${end}`, unpackBits(rec.value.correct, end - start));
  ranges.set(m[3]!, r);
}
const accuracy = (r: Map<string, Uint8Array>) => {
  let s = 0;
  for (const b of r.values()) for (const x of b) s += x;
  return s / V;
};
const designs = [...ranges.entries()]
  .map(([a, r]) => ({ a: JSON.parse(a) as Assignment, r }))
  .filter(({ a, r }) => [...r.values()].reduce((n, b) => n + b.length, 0) === V && Object.values(a.layers).every((c) => String(c).endsWith(suffix)));
const exact = designs.find(({ a }) => Object.values(a.layers).every((c) => c === exactCell));
if (!exact) throw new Error(`${tag}: no all-exact ${scheme} design on all ${V} validation images`);

const q = (await loadQuantModelFor(modelPath, scheme, { dataset: 'fmnist' })).model;
const train = loadDataset('fmnist', 'train');
const est = limitDataset(train, images);
const t0 = performance.now();
const rows: { surrogate: number; additive: number; loss: number }[] = [];
const kl = await DesignKl.create(q, est, exact.a, tag);
// The additive prediction exactly as explore computes it (64 estimator images).
const x = estimatorInputs(q, importOnnx(modelPath), exactCell, limitDataset(train, 64));
const damage = new Map<string, Record<string, number>>();
const base = accuracy(exact.r);
for (const { a, r } of designs) {
  let additive = 0;
  for (const [layer, cell] of Object.entries(a.layers) as [string, string][]) {
    if (cell === exactCell) continue;
    if (!damage.has(cell)) damage.set(cell, layerDamages(x, cell)['noise-kl']);
    additive += damage.get(cell)![layer]!;
  }
  rows.push({ surrogate: kl.score(a), additive, loss: base - accuracy(r) });
}
const corr = (rs: typeof rows) => {
  const loss = rs.map((r) => r.loss);
  const vs = (k: 'surrogate' | 'additive') => {
    const p = rs.map((r) => r[k]);
    return { spearman: spearman(p, loss), kendall: kendall(p, loss) };
  };
  return { designs: rs.length, surrogate: vs('surrogate'), additive: vs('additive') };
};
const row = {
  tag,
  scheme,
  model: `models/${part}-fmnist.onnx`,
  validationImages: V,
  estimatorImages: images,
  all: corr(rows),
  // The range a 1-4 % search works in.
  lossAtMost6pp: corr(rows.filter((r) => r.loss <= 0.06)),
  seconds: (performance.now() - t0) / 1000,
  date: new Date().toISOString(),
};
const out = join(repoRoot, 'bench/results/surrogate-check.json');
const all = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
all[`${tag}/${scheme}/${images}`] = row;
writeFileAtomic(out, `${JSON.stringify(all, null, 2)}\n`);
const f = (c: ReturnType<typeof corr>) =>
  `${c.designs} designs: surrogate Spearman ${c.surrogate.spearman.toFixed(3)} (Kendall ${c.surrogate.kendall.toFixed(3)}), additive ${c.additive.spearman.toFixed(3)} (${c.additive.kendall.toFixed(3)})`;
console.log(`${tag} ${scheme}, ${images} estimator images: all ${f(row.all)}; loss <= 6 pp ${f(row.lossAtMost6pp)}; ${row.seconds.toFixed(1)} s`);
