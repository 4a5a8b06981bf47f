/**
 * Accuracy vs the approximate weight memory's supply (issue 19 part 3, docs/wmem.md)
 * -> bench/results/wmem.json and bench/results/wmem.svg.
 *   node --import tsx bench/wmem.ts [--models=lenet5,resnet8] [--ratios=1,0.9,...] [--protect=0,2,4] [--seed=1] [--limit=10000]
 * Engine (bit-exact int8, exact_s8 = signed scheme), Fashion-MNIST test split, every conv/dense
 * layer's weights read from a weight memory at V = ratio x 1.8 V (osu018 nominal, the shipped
 * 8T-6T-style model), faults drawn with nn/wmem.ts (seed 1). Per point: accuracy, faulty bits, and
 * the factor on the weight memory's dynamic energy (wmemEnergyScale).
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { modelsDir, repoRoot } from '../core/paths.ts';
import { render } from '../core/templates.ts';
import { type WmemPoint, wmemChartContext } from '../flow/wmem-chart.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { runDataset } from '../nn/parallel.ts';
import { convLayers } from '../nn/qmodel.ts';
import { applyWeightFaults, bitErrorRate, loadWmemModel, wmemEnergyScale } from '../nn/wmem.ts';

const arg = (k: string, d: string) => (process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3) ?? d).split(',');
const models = arg('models', 'lenet5,resnet8');
const ratios = arg('ratios', '1,0.9,0.8,0.75,0.7,0.65,0.6,0.55,0.5').map(Number);
const protects = arg('protect', '0,2,4').map(Number);
const seed = Number(arg('seed', '1')[0]);
const limit = Number(arg('limit', '10000')[0]);
const FILES: Record<string, { file: string; label: string }> = {
  lenet5: { file: 'lenet5-fmnist.onnx', label: 'LeNet-5' },
  resnet8: { file: 'resnet8-fmnist.onnx', label: 'ResNet-8' },
};
const NOMINAL = 1.8;
const wm = loadWmemModel();
const outJson = join(repoRoot, 'bench', 'results', 'wmem.json');
const outSvg = join(repoRoot, 'bench', 'results', 'wmem.svg');
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Row extends WmemPoint {
  model: string;
  ratio: number;
  ber: number;
  images: number;
  bits: number;
  flippedBits: number;
  faultyWeights: number;
  energyScale: number;
  seconds: number;
}
const rows: Row[] = [];
const ds = limitDataset(loadDataset('fmnist', 'test'), limit);

const save = async () => {
  const byModel = models.map((m) => ({ name: FILES[m]!.label, points: rows.filter((r) => r.model === m) }));
  await writeFileAtomic(
    outJson,
    `${JSON.stringify(
      {
        command: `node --import tsx bench/wmem.ts --models=${models} --ratios=${ratios} --protect=${protects} --seed=${seed} --limit=${limit}`,
        wmemModel: wm.name,
        nominal: NOMINAL,
        cell: 'exact_s8',
        dataset: ds.name,
        seed,
        date: new Date().toISOString(),
        results: rows,
      },
      null,
      2,
    )}\n`,
  );
  await writeFileAtomic(
    outSvg,
    render('flow/wmem.svg', wmemChartContext(`test accuracy vs weight-memory supply (${wm.name} model, seed ${seed}, exact_s8)`, byModel)),
  );
};

for (const m of models) {
  const { model } = await loadQuantModelFor(join(modelsDir, FILES[m]!.file), 'signed');
  const bits = convLayers(model).reduce((s, l) => s + 8 * l.weights.length, 0);
  let clean: number | undefined;
  for (const ratio of ratios)
    for (const k of protects) {
      const volts = ratio * NOMINAL;
      const t0 = performance.now();
      const f = applyWeightFaults(model, Object.fromEntries(convLayers(model).map((l) => [l.name, volts])), {
        seed,
        protectMsbs: k,
        model: wm,
        nominal: NOMINAL,
      });
      const flippedBits = f.layers.reduce((s, l) => s + l.flippedBits, 0);
      // At nominal nothing flips: one engine run serves every protection level.
      let accuracy = ratio === 1 ? clean : undefined;
      if (accuracy === undefined) {
        const r = await runDataset({ model: f.model }, ds);
        accuracy = r.pred.filter((y, i) => y === ds.labels[i]).length / ds.count;
        if (ratio === 1) clean = accuracy;
      }
      const row: Row = {
        model: m,
        ratio,
        volts: Number(volts.toFixed(4)),
        protectMsbs: k,
        ber: bitErrorRate(wm, volts, NOMINAL),
        images: ds.count,
        accuracy,
        bits,
        flippedBits,
        faultyWeights: f.layers.reduce((s, l) => s + l.faultyWeights, 0),
        energyScale: wmemEnergyScale(volts, NOMINAL, k),
        seconds: (performance.now() - t0) / 1000,
      };
      rows.push(row);
      log(`${m} ${row.volts} V protect ${k}: ${(100 * accuracy).toFixed(2)} % (${flippedBits} bits flipped, ${row.seconds.toFixed(1)} s)`);
      await save();
    }
}
