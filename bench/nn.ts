/**
 * DNN engine measurements -> bench/results/nn.json (numbers quoted in docs/nn.md).
 *   node --import tsx bench/nn.ts [--quick] [--only=throughput,full,accuracy,uniform,pool,stats]
 * 1. Throughput on one core, in one run: approximate-LUT path, exact int8 path, onnxruntime float.
 * 2. Full 10k Fashion-MNIST through ResNet-8 with an approximate cell on all cores (workers).
 * 3. Accuracy: float (onnxruntime), our float path agreement, int8 exact (both schemes).
 * 4. Uniform approximation: DRUM (unsigned) and ROUP (signed) families on LeNet-5 and ResNet-8.
 * 5. Worker pool: many small runDataset calls (exploration's pattern), fresh threads vs the pool.
 * 6. Operand statistics: engine CPU with and without `stats` (what `axtpu eval` collects).
 */

import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { resolveAssignment, uniformAssignment } from '../nn/assign.ts';
import { type Dataset, limitDataset, loadDataset } from '../nn/dataset.ts';
import { runQuantBatch } from '../nn/engine.ts';
import { argmaxRows, pixelsToFloat, runFloat } from '../nn/float.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { prepareNativeKernels } from '../nn/native.ts';
import { importOnnx } from '../nn/onnx.ts';
import { ortPredict } from '../nn/ort.ts';
import { poolInfo, runDataset } from '../nn/parallel.ts';
import { macsPerImage, type QuantModel, type Scheme } from '../nn/qmodel.ts';

const quick = process.argv.includes('--quick');
// --only=throughput,full,accuracy,uniform runs a subset and merges into the existing results file.
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
const only = onlyArg ? new Set(onlyArg.slice(7).split(',')) : undefined;
const want = (s: string) => !only || only.has(s);
const MODELS = ['lenet5-fmnist', 'resnet8-fmnist', 'mlp-fmnist'];
const test = loadDataset('fmnist', 'test');
const log = (s: string) => process.stderr.write(`${s}\n`);
// Native kernels (nn/native.ts) unless AXTPU_NN_NATIVE=0; the JS reference is timed separately below.
const native = await prepareNativeKernels();
log(`native kernels: ${native.ok ? `${native.simd} (${native.path})` : `unavailable: ${native.reason}`}`);

async function quantized(name: string, scheme: Scheme) {
  const path = join(repoRoot, 'models', `${name}.onnx`);
  return (await loadQuantModelFor(path, scheme)).model;
}
function accuracy(pred: Uint8Array, ds: Dataset): number {
  let c = 0;
  for (let i = 0; i < ds.count; i++) if (pred[i] === ds.labels[i]) c++;
  return c / ds.count;
}
/**
 * One thread: wall seconds and CPU seconds (the machine is shared; CPU time is the per-core cost).
 * `js` times the JS reference kernels instead of the native ones.
 */
function timeInThread(q: QuantModel, ds: Dataset, cell: string | undefined, batch = 64, js = false): { wall: number; cpu: number } {
  const prev = process.env.AXTPU_NN_NATIVE;
  if (js) process.env.AXTPU_NN_NATIVE = '0';
  try {
    return timeBatches(q, ds, cell, batch);
  } finally {
    if (prev === undefined) delete process.env.AXTPU_NN_NATIVE;
    else process.env.AXTPU_NN_NATIVE = prev;
  }
}
function timeBatches(q: QuantModel, ds: Dataset, cell: string | undefined, batch: number): { wall: number; cpu: number } {
  const r = cell ? resolveAssignment(q, uniformAssignment(cell)) : undefined;
  const cfg = r ? { model: q, table: r.table, rowOffsets: r.rowOffsets } : { model: q };
  const per = ds.channels * ds.height * ds.width;
  for (let w = 0; w < 3; w++) runQuantBatch(cfg, ds.pixels.subarray(0, batch * per), batch); // JIT warm-up
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let s = 0; s < ds.count; s += batch) {
    const n = Math.min(batch, ds.count - s);
    runQuantBatch(cfg, ds.pixels.subarray(s * per, (s + n) * per), n);
  }
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

const resultsPath = join(repoRoot, 'bench', 'results', 'nn.json');
const results: Record<string, unknown> = only && existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Record<string, unknown>) : {};
results.date = new Date().toISOString();
results.quick = quick;

// 1. Throughput, one core.
const throughput: Record<string, unknown>[] = [];
if (want('throughput'))
  for (const [name, n] of [
    ['lenet5-fmnist', quick ? 500 : 2000],
    ['resnet8-fmnist', quick ? 100 : 300],
  ] as const) {
    const q = await quantized(name, 'unsigned');
    const ds = limitDataset(test, n);
    const macs = macsPerImage(q) * n;
    const lut = timeInThread(q, ds, 'drum_k6_u8');
    const exact = timeInThread(q, ds, undefined);
    const lutJs = timeInThread(q, ds, 'drum_k6_u8', 64, true);
    await ortPredict(join(repoRoot, 'models', `${name}.onnx`), limitDataset(ds, 64)); // warm-up
    const c0 = process.cpuUsage();
    const f = await ortPredict(join(repoRoot, 'models', `${name}.onnx`), ds);
    const cf = process.cpuUsage(c0);
    const ortCpu = (cf.user + cf.system) / 1e6;
    const row = {
      model: name,
      cell: 'drum_k6_u8',
      images: n,
      macsPerImage: macsPerImage(q),
      loadAverage1m: loadavg()[0],
      kernels: native.ok ? `native ${native.simd}` : 'js',
      seconds: { lut: lut, exactInt8: exact, lutJsReference: lutJs },
      wall: {
        lutGMacPerS: macs / lut.wall / 1e9,
        exactInt8GMacPerS: macs / exact.wall / 1e9,
        onnxruntimeFloatGMacPerS: macs / f.seconds / 1e9,
      },
      perCpuSecond: {
        lutGMacPerS: macs / lut.cpu / 1e9,
        exactInt8GMacPerS: macs / exact.cpu / 1e9,
        onnxruntimeFloatGMacPerS: macs / ortCpu / 1e9,
        lutJsReferenceGMacPerS: macs / lutJs.cpu / 1e9,
      },
      ratiosCpu: { lutOverExactInt8: exact.cpu / lut.cpu, lutOverOnnxruntimeFloat: ortCpu / lut.cpu, lutOverLutJsReference: lutJs.cpu / lut.cpu },
    };
    log(JSON.stringify(row));
    throughput.push(row);
  }
if (want('throughput')) results.throughputOneCore = throughput;

// 2. Full test set through ResNet-8, approximate cell, all cores.
if (want('full')) {
  const q = await quantized('resnet8-fmnist', 'unsigned');
  const r = resolveAssignment(q, uniformAssignment('drum_k6_u8'));
  const ds = quick ? limitDataset(test, 1000) : test;
  const load0 = loadavg()[0];
  const c0 = process.cpuUsage();
  const run = await runDataset({ model: q, table: r.table, rowOffsets: r.rowOffsets }, ds, {});
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  results.resnet8Full = {
    cell: 'drum_k6_u8',
    images: ds.count,
    workers: run.workers,
    kernels: native.ok ? `native ${native.simd}` : 'js',
    wallSeconds: run.seconds,
    cpuSeconds: cpu,
    loadAverage1mBefore: load0,
    loadAverage1m: loadavg()[0],
    accuracy: accuracy(run.pred, ds),
    gMacPerWallSecond: (macsPerImage(q) * ds.count) / run.seconds / 1e9,
    gMacPerCpuSecond: (macsPerImage(q) * ds.count) / cpu / 1e9,
  };
  log(JSON.stringify(results.resnet8Full));
}

// 3. Accuracy of every shipped model.
const acc: Record<string, unknown>[] = [];
if (want('accuracy'))
  for (const name of MODELS) {
    const path = join(repoRoot, 'models', `${name}.onnx`);
    const ds = quick ? limitDataset(test, 1000) : test;
    const f = await ortPredict(path, ds);
    const g = importOnnx(path);
    const agreeSet = name.startsWith('resnet') && !quick ? limitDataset(test, 2000) : ds;
    const ours = argmaxRows(runFloat(g, pixelsToFloat(agreeSet.pixels), agreeSet.count), agreeSet.count, 10);
    let agree = 0;
    for (let i = 0; i < agreeSet.count; i++) if (ours[i] === f.pred[i]) agree++;
    const row: Record<string, unknown> = {
      model: name,
      images: ds.count,
      floatAccuracy: accuracy(f.pred, ds),
      floatPathAgreement: agree / agreeSet.count,
      agreementImages: agreeSet.count,
    };
    for (const [scheme, cell] of [
      ['signed', 'exact_s8'],
      ['unsigned', 'exact_u8'],
    ] as const) {
      const q = await quantized(name, scheme);
      const r = resolveAssignment(q, uniformAssignment(cell));
      const run = await runDataset({ model: q, table: r.table, rowOffsets: r.rowOffsets }, ds, {});
      row[`int8_${scheme}`] = accuracy(run.pred, ds);
    }
    log(JSON.stringify(row));
    acc.push(row);
  }
if (want('accuracy')) results.accuracy = acc;

// 4. Uniform approximation tables.
const families = {
  drum: ['exact_u8', 'drum_k7_u8', 'drum_k6_u8', 'drum_k5_u8', 'drum_k4_u8', 'drum_k3_u8'],
  roup: ['exact_s8', 'roup_p0_r2_s8', 'roup_p0_r4_s8', 'roup_p1_r4_s8', 'roup_p1_r6_s8', 'roup_p2_r4_s8', 'roup_p2_r6_s8'],
};
const uniform: Record<string, unknown>[] = [];
if (want('uniform'))
  for (const name of ['lenet5-fmnist', 'resnet8-fmnist']) {
    const ds = limitDataset(test, quick ? 500 : name.startsWith('resnet') ? 2000 : 10000);
    for (const [fam, ids] of Object.entries(families)) {
      const q = await quantized(name, fam === 'drum' ? 'unsigned' : 'signed');
      for (const id of ids) {
        const r = resolveAssignment(q, uniformAssignment(id));
        const run = await runDataset({ model: q, table: r.table, rowOffsets: r.rowOffsets }, ds, {});
        const row = { model: name, family: fam, cell: id, images: ds.count, accuracy: accuracy(run.pred, ds) };
        log(JSON.stringify(row));
        uniform.push(row);
      }
    }
  }
if (want('uniform')) results.uniformApproximation = uniform;

// 5. Worker pool. Exploration's pattern: a fresh LUT bank per call (a new assignment), the same
// model, a few hundred images. Variants: the pool with the model re-sent every call (a structured
// clone of it per call, as if not cached); the pool as it runs (model sent once per worker); and
// one thread (no workers). (The fresh-threads-per-call path is gone; its figures are in git history.)
const cpuNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
if (want('pool')) {
  const q = await quantized('lenet5-fmnist', 'unsigned');
  const calls = quick ? 10 : 50;
  const images = 500;
  const ds = limitDataset(test, images);
  const clones = Array.from({ length: calls }, () => structuredClone(q));
  const variants: [string, (i: number) => Promise<unknown>][] = [
    ['poolModelResentEachCall', (i) => runDataset(bankFor(clones[i]!, i), ds, { workers: 2 })],
    ['pool', (i) => runDataset(bankFor(q, i), ds, { workers: 2 })],
    ['oneThread', (i) => runDataset(bankFor(q, i), ds, { workers: 1 })],
  ];
  const rows: Record<string, unknown>[] = [];
  for (const [variant, call] of variants) {
    const load0 = loadavg()[0];
    const spawned0 = poolInfo().spawned;
    const c0 = cpuNow();
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await call(i);
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuNow() - c0;
    const row = {
      variant,
      calls,
      images,
      workers: variant === 'oneThread' ? 1 : 2,
      wallSeconds: wall,
      cpuSeconds: cpu,
      cpuSecondsPerCall: cpu / calls,
      wallSecondsPerCall: wall / calls,
      threadsStarted: poolInfo().spawned - spawned0,
      loadAverage1mBefore: load0,
      loadAverage1m: loadavg()[0],
    };
    log(JSON.stringify(row));
    rows.push(row);
  }
  results.pool = { model: 'lenet5-fmnist', cells: 'drum_k5_u8 / drum_k6_u8 alternating, bank re-resolved every call', rows };
}
function bankFor(q: QuantModel, i: number) {
  // A new bank object per call, alternating two cells (exploration never repeats a bank).
  const r = resolveAssignment(q, uniformAssignment(i % 2 ? 'drum_k6_u8' : 'drum_k5_u8'));
  return { model: q, table: r.table, rowOffsets: r.rowOffsets };
}

// 6. Operand statistics overhead: ResNet-8 in one thread, with and without stats.
if (want('stats')) {
  const q = await quantized('resnet8-fmnist', 'unsigned');
  const ds = limitDataset(test, quick ? 500 : 2000);
  const cfg = bankFor(q, 1);
  await runDataset(cfg, limitDataset(test, 64), { workers: 1, stats: true }); // warm-up
  const rows: Record<string, unknown>[] = [];
  for (const stats of [false, true, false, true]) {
    const load0 = loadavg()[0];
    const c0 = cpuNow();
    const t0 = performance.now();
    await runDataset(cfg, ds, { workers: 1, stats });
    const row = { stats, images: ds.count, wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: cpuNow() - c0, loadAverage1mBefore: load0 };
    log(JSON.stringify(row));
    rows.push(row);
  }
  const mean = (on: boolean) => rows.filter((r) => r.stats === on).reduce((a, r) => a + (r.cpuSeconds as number), 0) / 2;
  results.operandStats = {
    model: 'resnet8-fmnist',
    cell: 'drum_k6_u8',
    kernels: native.ok ? `native ${native.simd}` : 'js',
    rows,
    cpuOverheadFraction: mean(true) / mean(false) - 1,
  };
  log(JSON.stringify(results.operandStats));
}

writeFileAtomic(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
log('wrote bench/results/nn.json');
