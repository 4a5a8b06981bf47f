/**
 * Statistical timing-error models vs replay on LeNet-5 accuracy (issue 15's acceptance; docs/vos.md,
 * "Model vs replay"). A 16 x 16 exact_s8 design, clock at timing closure; its PE characterized
 * (`vos characterize`, LeNet-5 layer streams); then at each level, with the listed layers'
 * columns at that voltage (the rest at nominal), the test images run twice on the same inputs:
 * - replay: every PE operation of those layers through the timed gate-level simulator
 *   (flow/vos-replay.ts), its wrong words added to the accumulators;
 * - model: the engine with errors drawn from the fitted model (nn/inject.ts), several seeds: each
 *   fit's best model, and for comparison the rate-histogram model.
 * The model passes at a level if its mean accuracy lies in the 90 % Wilson interval of the
 * replay's accuracy. Writes bench/results/vos-replay.json.
 * Run: node --import tsx bench/vos-replay.ts [--images N] [--levels 1.7,1.6,1.5]
 *      [--layers /f1/Gemm,/f2/Gemm,/f3/Gemm] [--ops N] [--seeds S] [--out file.json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { LIBERTY, modelsDir, repoRoot } from '../core/paths.ts';
import { normalQuantile } from '../explore/stats.ts';
import { characterize, closurePeriod, designTargets, timedNetlist } from '../flow/vos.ts';
import { injectionSpec } from '../flow/vos-inject.ts';
import { replayLayer } from '../flow/vos-replay.ts';
import { resolveDesign, writeDesign } from '../generators/array/index.ts';
import { placeModel } from '../mapping/place.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { engineGemm, engineSteps, runQuantBatch } from '../nn/engine.ts';
import type { GemmOperands } from '../nn/gemm.ts';
import { injectLayer } from '../nn/inject.ts';
import { DEFAULT_DATASET, loadQuantModelFor } from '../nn/load.ts';
import { convLayers, type QConvLayer } from '../nn/qmodel.ts';
import { voltageScale } from '../synth/voltage.ts';
import type { ErrorModel } from '../synth/vos-model.ts';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : d;
};
const images = Number(arg('images', '300'));
const levels = arg('levels', '1.7,1.6,1.5').split(',').map(Number);
const layers = arg('layers', '/f1/Gemm,/f2/Gemm,/f3/Gemm').split(',');
const ops = Number(arg('ops', '20000'));
const seeds = Number(arg('seeds', '5'));
const batch = 100;
const cpu0 = process.cpuUsage();
const cpuS = () => {
  const c = process.cpuUsage(cpu0);
  return (c.user + c.system) / 1e6;
};

const design = resolveDesign({ rows: 16, cols: 16, cell: 'exact_s8' });
const dir = mkdtempSync(join(tmpdir(), 'axtpu-bench-replay-'));
await writeDesign(design, join(dir, 'd'));
const report = await characterize(join(dir, 'd'), { levels, stream: 'layer', margin: 0, ops, opensta: false });
rmSync(dir, { recursive: true, force: true });
const charS = cpuS();
const target = designTargets(design)[0]!;
const pe = await timedNetlist(target, LIBERTY.osu018);
const periodNs = closurePeriod(pe.staticNs, 0);
const { model } = await loadQuantModelFor(join(modelsDir, 'lenet5-fmnist.onnx'), 'signed', { dataset: DEFAULT_DATASET });
for (const l of layers) if (!convLayers(model).some((x) => x.name === l)) throw new Error(`no layer ${l}`);
const placement = placeModel(model, design);
const ds = limitDataset(loadDataset(DEFAULT_DATASET, 'test'), images);
const per = 784;

/** Wilson score interval of a binomial proportion at two-sided confidence `conf`. */
function wilson(k: number, n: number, conf: number): [number, number] {
  const z = normalQuantile(1 - (1 - conf) / 2);
  const p = k / n;
  const c = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const h = (z / (1 + (z * z) / n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return [c - h, c + h];
}

function accuracy(pred: (s: number, n: number) => Uint8Array): number {
  let ok = 0;
  for (let s = 0; s < ds.count; s += batch) {
    const n = Math.min(batch, ds.count - s);
    const p = pred(s, n);
    for (let i = 0; i < n; i++) if (p[i] === ds.labels[s + i]) ok++;
  }
  return ok / ds.count;
}

/**
 * The test images through the engine with `errors` applied to the overscaled layers' accumulators:
 * correct predictions, PE operations, wrong ones and corrupted outputs.
 */
async function runWithErrors(
  errors: (layer: QConvLayer, g: GemmOperands, acc: Int32Array, first: number) => Promise<{ ops: number; wrong: number }>,
): Promise<{ ok: number; ops: number; wrong: number; outputs: number }> {
  const t = { ok: 0, ops: 0, wrong: 0, outputs: 0 };
  for (let s = 0; s < ds.count; s += batch) {
    const n = Math.min(batch, ds.count - s);
    const steps = engineSteps(model, ds.pixels.subarray(s * per, (s + n) * per), n);
    let r = steps.next();
    while (!r.done) {
      const { layer, g } = r.value;
      const acc = engineGemm({ model }, layer, g);
      if (layers.includes(layer.name)) {
        const before = acc.slice();
        const x = await errors(layer, g, acc, s);
        t.ops += x.ops;
        t.wrong += x.wrong;
        for (let i = 0; i < acc.length; i++) if (acc[i] !== before[i]) t.outputs++;
      }
      r = steps.next(acc);
    }
    for (let i = 0; i < n; i++) if (r.value.pred[i] === ds.labels[s + i]) t.ok++;
  }
  return t;
}

const clean = accuracy((s, n) => runQuantBatch({ model }, ds.pixels.subarray(s * per, (s + n) * per), n).pred);
const rows = [];
for (const volts of levels) {
  const level = report.targets[0]!.levels.find((l) => l.volts === volts)!;
  const delayScale = voltageScale(volts, report.voltageModel).delay;
  // Replay.
  const t0 = cpuS();
  const replay = await runWithErrors((layer, g, acc) =>
    replayLayer({ target, netlist: pe, periodNs, delayScale, rows: 16, bits: design.psumBits }, layer, g, acc, { signed: true }),
  );
  const replayAcc = replay.ok / ds.count;
  const replayS = cpuS() - t0;
  // Model injection, several seeds: each fit's best model, and the rate-histogram model (the
  // best before adder-signs existed) on the same replay for comparison.
  const spec = (seed: number, kind?: ErrorModel['kind']) =>
    injectionSpec(report, design, placement, Object.fromEntries(layers.map((l) => [l, volts])), { seed, modelName: model.name, kind });
  const modelAccs = (kind?: ErrorModel['kind']) => {
    const accs: number[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const inject = spec(seed, kind);
      accs.push(accuracy((s, n) => runQuantBatch({ model, inject }, ds.pixels.subarray(s * per, (s + n) * per), n, undefined, s).pred));
    }
    return accs;
  };
  const t1 = cpuS();
  const modelAcc = modelAccs();
  const modelS = (cpuS() - t1) / seeds;
  const histAcc = modelAccs('rate-histogram');
  const histMean = histAcc.reduce((a, b) => a + b, 0) / seeds;
  // How the model's errors spread over outputs (seed 1), against the replay's.
  const inject1 = spec(1);
  const spread = await runWithErrors(async (layer, g, acc, first) => ({ ops: 0, wrong: injectLayer(inject1, layer, g, acc, { signed: true }, first) }));
  const mean = modelAcc.reduce((a, b) => a + b, 0) / seeds;
  const [lo, hi] = wilson(Math.round(replayAcc * ds.count), ds.count, 0.9);
  const row = {
    volts,
    delayScale,
    characterized: {
      mixed: { errorRate: level.errorRate, best: level.fit.best, heldOutLogLik: level.fit.heldOutLogLik },
      layers: level.layers
        ?.filter((x) => layers.includes(x.layer))
        .map((x) => ({
          layer: x.layer,
          errorRate: x.errorRate,
          best: x.fit.best,
          heldOutLogLik: x.fit.heldOutLogLik,
          // Where the wrong words are: operations and wrong ones per adder sign class and pair (docs/vos.md).
          adderSigns: x.fit.models['adder-signs'],
        })),
    },
    replay: {
      accuracy: replayAcc,
      ci90: [lo, hi],
      ops: replay.ops,
      wrong: replay.wrong,
      errorRate: replay.wrong / replay.ops,
      corruptedOutputs: replay.outputs,
      cpuSeconds: replayS,
    },
    model: { accuracy: mean, perSeed: modelAcc, cpuSecondsPerRun: modelS, seed1: { wrong: spread.wrong, corruptedOutputs: spread.outputs } },
    withinCi: mean >= lo && mean <= hi,
    rateHistogram: { accuracy: histMean, perSeed: histAcc, withinCi: histMean >= lo && histMean <= hi },
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
// Engine speed with injection on (issue 16: >= 50 % of the plain engine's MAC/s), one thread,
// every conv/dense layer at the level, same images, same run.
const macs = convLayers(model).reduce((t, l) => t + l.K * l.oc * (model.shapes[l.output]!.h * model.shapes[l.output]!.w), 0) * ds.count;
const timeRun = (inject?: ReturnType<typeof injectionSpec>) => {
  const t = cpuS();
  accuracy((s, n) => runQuantBatch({ model, inject }, ds.pixels.subarray(s * per, (s + n) * per), n, undefined, s).pred);
  return cpuS() - t;
};
timeRun();
const plainS = Math.min(timeRun(), timeRun());
const speed = levels.map((volts) => {
  const inject = injectionSpec(report, design, placement, Object.fromEntries(convLayers(model).map((l) => [l.name, volts])), { modelName: model.name });
  const s = Math.min(timeRun(inject), timeRun(inject));
  return { volts, errorRate: report.targets[0]!.levels.find((l) => l.volts === volts)!.errorRate, macPerCpuSecond: macs / s, relativeToPlain: plainS / s };
});
console.log(JSON.stringify({ plainMacPerCpuSecond: macs / plainS, speed }));
const out = {
  date: new Date().toISOString(),
  machine: '2-core shared',
  loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  design: '16x16 exact_s8, osu018, clock at closure',
  periodNs,
  model: 'LeNet-5 (models/lenet5-fmnist.onnx), signed int8',
  overscaledLayers: layers,
  images: ds.count,
  cleanAccuracy: clean,
  characterization: { ops, stream: report.stream.source, cpuSeconds: charS },
  levels: rows,
  engineSpeed: { layers: 'every conv/dense layer at the level', plainMacPerCpuSecond: macs / plainS, withInjection: speed },
};
const outPath = arg('out', join(repoRoot, 'bench/results/vos-replay.json'));
writeFileAtomic(outPath, `${JSON.stringify(out, null, 2)}\n`);
console.log(`clean ${clean}; wrote ${outPath}`);
