/**
 * Engine throughput, this tree against another checkout of axtpu, interleaved in ONE process
 * (so both see the same machine state): the approximate LUT path, one thread, G MACs per
 * CPU-second, on LeNet-5 and ResNet-8 (unsigned, drum_k6_u8, as bench/nn.ts's throughput).
 *   node --import tsx bench/engine-ab.ts <other-checkout> [rounds]
 * Writes bench/results/engine-ab.json. Used to show a refactor did not slow the engine.
 */
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { macsPerImage } from '../nn/qmodel.ts';

if (!process.argv[2]) {
  // `make bench` runs every bench file without arguments; this one needs a second checkout.
  console.log('bench/engine-ab.ts: skipped (usage: node --import tsx bench/engine-ab.ts <other-checkout> [rounds])');
  process.exit(0);
}
const other = resolve(process.argv[2]);
const rounds = Number(process.argv[3] ?? 10);

interface EngineApi {
  runQuantBatch: (cfg: unknown, pixels: Uint8Array, n: number) => unknown;
  resolveAssignment: (q: unknown, a: unknown) => { table: Int32Array; rowOffsets: Record<string, Int32Array> };
  uniformAssignment: (id: string) => unknown;
}
async function api(root: string): Promise<EngineApi> {
  const engine = await import(join(root, 'nn/engine.ts'));
  const assign = await import(join(root, 'nn/assign.ts'));
  // Each tree builds (or finds cached) its own native kernel addon, as its CLI would.
  const native = await import(join(root, 'nn/native.ts'));
  const k = await native.prepareNativeKernels();
  if (!k.ok) throw new Error(`native kernels unavailable in ${root}`);
  return { runQuantBatch: engine.runQuantBatch, resolveAssignment: assign.resolveAssignment, uniformAssignment: assign.uniformAssignment };
}

const trees = { this: await api(repoRoot), other: await api(other) };
const test = loadDataset('fmnist', 'test');
const out: Record<string, unknown> = { other, rounds, loadAverageStart: loadavg()[0] };
for (const [name, images] of [
  ['lenet5-fmnist', 2000],
  ['resnet8-fmnist', 300],
] as const) {
  const { model: q } = await loadQuantModelFor(join(repoRoot, 'models', `${name}.onnx`), 'unsigned');
  const ds = limitDataset(test, images);
  const per = ds.channels * ds.height * ds.width;
  const macs = macsPerImage(q) * ds.count;
  const time = (t: EngineApi): number => {
    const r = t.resolveAssignment(q, t.uniformAssignment('drum_k6_u8'));
    const cfg = { model: q, table: r.table, rowOffsets: r.rowOffsets };
    for (let w = 0; w < 3; w++) t.runQuantBatch(cfg, ds.pixels.subarray(0, 64 * per), 64);
    const c0 = process.cpuUsage();
    for (let s = 0; s < ds.count; s += 64) {
      const n = Math.min(64, ds.count - s);
      t.runQuantBatch(cfg, ds.pixels.subarray(s * per, (s + n) * per), n);
    }
    const c = process.cpuUsage(c0);
    return macs / ((c.user + c.system) / 1e6) / 1e9;
  };
  const runs: { this: number[]; other: number[] } = { this: [], other: [] };
  for (let i = 0; i < rounds; i++) {
    runs.other.push(time(trees.other));
    runs.this.push(time(trees.this));
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const row = { gMacPerCpuSecond: { this: median(runs.this), other: median(runs.other) }, ratio: median(runs.this) / median(runs.other), runs };
  out[name] = row;
  console.log(
    `${name}: this ${row.gMacPerCpuSecond.this.toFixed(3)}, other ${row.gMacPerCpuSecond.other.toFixed(3)} G MAC/CPU-s (median of ${rounds}); ratio ${row.ratio.toFixed(3)}`,
  );
}
out.loadAverageEnd = loadavg()[0];
writeFileAtomic(join(repoRoot, 'bench/results/engine-ab.json'), `${JSON.stringify(out, null, 2)}\n`);
