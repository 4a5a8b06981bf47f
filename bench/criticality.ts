/**
 * Criticality estimators vs measured one-layer (and one-filter) sensitivity (issue 20 acceptance):
 * per model and scheme, three cells, every estimator's Spearman / Kendall with 90 % bootstrap
 * intervals (explore/criticality-check.ts, the same check every explore run makes).
 *   node --import tsx bench/criticality.ts [--models lenet5,resnet8,mlp] [--schemes signed,unsigned]
 *        [--images 500] [--calib 64] [--filters 24]
 * Writes bench/results/criticality.json.
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { checkCriticality, chooseEstimator } from '../explore/criticality-check.ts';
import { tailDataset } from '../explore/evaluator.ts';
import { layerCriticality } from '../explore/xai.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { pixelsToFloat } from '../nn/float.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { prepareNativeKernels } from '../nn/native.ts';
import { importOnnx } from '../nn/onnx.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const models = arg('models', 'lenet5,resnet8,mlp').split(',');
const schemes = arg('schemes', 'signed,unsigned').split(',') as ('signed' | 'unsigned')[];
const images = Number(arg('images', '500'));
const calibN = Number(arg('calib', '64'));
const filterSample = Number(arg('filters', '24'));
const out = arg('out', join(repoRoot, 'bench/results/criticality.json'));
/** Probe first (the median-energy kept cell of the explore runs in docs/explore.md), then two more. */
const CELLS = { signed: ['roup_p1_r6_s8', 'roup_p2_r4_s8', 'drum_k4_s8'], unsigned: ['bam_h0_v8_u8', 'drum_k4_u8', 'bam_h1_v6_u8'] };

await prepareNativeKernels();
const train = loadDataset('fmnist', 'train');
// Validation images = the head of explore's hold-out (its screening images); estimator images =
// the head of the train split (XAI calibration), disjoint from it.
const val = limitDataset(tailDataset(train, 2000), images);
const calib = limitDataset(train, calibN);
const results: Record<string, unknown> = { images, calibImages: calibN, filterSample, cells: CELLS, started: new Date().toISOString(), runs: {} };
for (const m of models) {
  const path = join(repoRoot, `models/${m}-fmnist.onnx`);
  const graph = importOnnx(path);
  const xai = layerCriticality(graph, pixelsToFloat(calib.pixels), calib.labels, calib.count, { steps: 8 });
  for (const scheme of schemes) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const { model: q } = await loadQuantModelFor(path, scheme, { dataset: 'fmnist' });
    const r = checkCriticality({ q, graph, exact: scheme === 'signed' ? 'exact_s8' : 'exact_u8', cells: CELLS[scheme], calib, val, xai, filterSample });
    const c = process.cpuUsage(c0);
    const chosen = chooseEstimator(r);
    (results.runs as Record<string, unknown>)[`${m}-${scheme}`] = {
      ...r,
      chosen,
      wallSeconds: (performance.now() - t0) / 1000,
      cpuSeconds: (c.user + c.system) / 1e6,
      load1m: loadavg()[0],
    };
    for (const cc of r.cells) {
      const row = (k: 'vsLoss' | 'vsAccuracy' | 'vsKl') =>
        cc[k].map((x) => `${x.estimator} ${x.spearman.toFixed(2)} [${x.spearmanCi.map((v) => v.toFixed(2)).join(',')}]`).join('  ');
      console.log(`${m} ${scheme} ${cc.cell} vs loss: ${row('vsLoss')}`);
      console.log(`${m} ${scheme} ${cc.cell} vs acc : ${row('vsAccuracy')}`);
      console.log(`${m} ${scheme} ${cc.cell} vs KL  : ${row('vsKl')}`);
    }
    if (r.filters)
      console.log(
        `${m} ${scheme} filters (${r.filters.filters.length}) vs KL: ${r.filters.vsKl.map((x) => `${x.estimator} ${x.spearman.toFixed(2)} [${x.spearmanCi.map((v) => v.toFixed(2)).join(',')}]`).join('  ')}`,
      );
    console.log(
      `${m} ${scheme}: chosen ${chosen}; ${r.seconds.estimators.toFixed(1)} s estimators, ${r.seconds.measured.toFixed(1)} s measured (${r.engineRuns.measured} runs x ${r.images} images)`,
    );
  }
}
results.finished = new Date().toISOString();
results.cores = cpus().length;
writeFileAtomic(out, `${JSON.stringify(results, null, 2)}\n`);
