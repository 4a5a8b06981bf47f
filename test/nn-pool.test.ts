import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveAssignment, uniformAssignment } from '../nn/assign.ts';
import { captureAccumulators } from '../nn/capture.ts';
import { type Dataset, limitDataset, loadDataset } from '../nn/dataset.ts';
import type { EngineConfig } from '../nn/engine.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { killPoolWorkerForTest, poolAccumulators, poolInfo, runDataset, runJob } from '../nn/parallel.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';

const repo = join(import.meta.dirname, '..');
const lenet = join(repo, 'models', 'lenet5-fmnist.onnx');
let q: QuantModel;
let test: Dataset;

beforeAll(async () => {
  q = (await loadQuantModelFor(lenet, 'unsigned')).model;
  test = loadDataset('fmnist', 'test');
});

const bank = (model: QuantModel, cell: string): EngineConfig => {
  const r = resolveAssignment(model, uniformAssignment(cell));
  return { model, table: r.table, rowOffsets: r.rowOffsets };
};
/** The same images in this thread, the reference for every pooled run. */
const inThread = (cfg: EngineConfig, ds: Dataset) =>
  runJob({ cfg, pixels: ds.pixels, count: ds.count, perImage: 784, batch: 64, stats: false, first: 0, samplesPerBatch: 0, samplesPerLayer: 0, seed: 1 }).pred;

describe('engine worker pool (nn/parallel.ts)', () => {
  it('reuses its threads across calls, with the same predictions and statistics as one thread', async () => {
    const ds = limitDataset(test, 200);
    const cfg = bank(q, 'drum_k4_u8');
    const one = await runDataset(cfg, ds, { workers: 1, batch: 50, stats: true });
    const spawned0 = poolInfo().spawned;
    const ids = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const two = await runDataset(cfg, ds, { workers: 2, batch: 50, stats: true });
      expect(two.workers).toBe(2);
      expect([...two.pred]).toEqual([...one.pred]);
      expect(two.stats!.map((s) => s.aHist)).toEqual(one.stats!.map((s) => s.aHist));
      expect(two.stats!.map((s) => s.bHist)).toEqual(one.stats!.map((s) => s.bHist));
      expect(two.stats!.map((s) => s.macs)).toEqual(one.stats!.map((s) => s.macs));
      // The sampled operand stream too: seeded per batch, so independent of the split.
      expect(two.stats!.map((s) => s.sampleA)).toEqual(one.stats!.map((s) => s.sampleA));
      expect(two.stats!.map((s) => s.sampleB)).toEqual(one.stats!.map((s) => s.sampleB));
      for (const id of poolInfo().threadIds) ids.add(id);
    }
    // At most the two threads of the first call were started; later calls reused them.
    expect(poolInfo().spawned - spawned0).toBeLessThanOrEqual(2);
    expect(ids.size).toBe(2);
    // An uneven split (7 batches over 3 workers) samples the same stream as one thread.
    const one7 = await runDataset(cfg, ds, { workers: 1, batch: 30, stats: true, samplesPerLayer: 500 });
    const three = await runDataset(cfg, ds, { workers: 3, batch: 30, stats: true, samplesPerLayer: 500 });
    expect(three.workers).toBe(3);
    expect(three.stats!.map((s) => s.sampleA.length)).toEqual(one7.stats!.map(() => 500));
    expect(three.stats!.map((s) => [s.sampleA, s.sampleB])).toEqual(one7.stats!.map((s) => [s.sampleA, s.sampleB]));
  });

  it("serves the RTL run's reference: a batch's layer accumulators equal the in-thread engine's", async () => {
    const ds = limitDataset(test, 40);
    const cfg = bank(q, 'drum_k5_u8');
    const here = captureAccumulators(cfg, ds.pixels, ds.count);
    const spawned0 = poolInfo().spawned;
    // Two batches at once with at most one new thread: the second waits for (or reuses) a worker.
    const [a, b] = await Promise.all([
      poolAccumulators(cfg, ds.pixels, ds.count, { maxWorkers: 1 }),
      poolAccumulators(cfg, ds.pixels, ds.count, { maxWorkers: 1 }),
    ]);
    expect(poolInfo().spawned - spawned0).toBeLessThanOrEqual(1);
    for (const r of [a!, b!]) {
      expect([...r.pred]).toEqual([...here.pred]);
      expect(r.layers.map((l) => l.name)).toEqual(convLayers(q).map((l) => l.name));
      r.layers.forEach((l, i) => {
        expect(l.acc.length).toBeGreaterThanOrEqual(
          convLayers(q)[i]!.oc * (q.shapes[convLayers(q)[i]!.output]!.h * q.shapes[convLayers(q)[i]!.output]!.w) * ds.count,
        );
        expect(
          Buffer.from(l.acc.buffer, l.acc.byteOffset, l.acc.byteLength).equals(
            Buffer.from(here.layers[i]!.acc.buffer, here.layers[i]!.acc.byteOffset, here.layers[i]!.acc.byteLength),
          ),
        ).toBe(true);
      });
    }
    // And the predictions are the engine's own (the accumulators fed the rest of the network).
    expect([...a!.pred]).toEqual([...inThread(cfg, ds)]);
  });

  it("stays correct while models and banks rotate through the workers' bounded caches", async () => {
    const ds = limitDataset(test, 96);
    // 6 model identities (> 4 slots) and a new bank every call (> 8 slots over 12 calls).
    const models = Array.from({ length: 6 }, () => structuredClone(q));
    const cells = ['drum_k4_u8', 'drum_k6_u8', 'mitchell_u8', 'exact_u8'];
    for (let i = 0; i < 12; i++) {
      const cfg = bank(models[(i * 5) % 6]!, cells[i % 4]!);
      const pooled = await runDataset(cfg, ds, { workers: 2, batch: 16 });
      expect([...pooled.pred], `call ${i}`).toEqual([...inThread(cfg, ds)]);
    }
    // The exact engine (no bank) through the same workers.
    const exact = await runDataset({ model: q }, ds, { workers: 2, batch: 16 });
    expect([...exact.pred]).toEqual([...inThread({ model: q }, ds)]);
  });

  it('an error inside a worker fails the call with its message; the worker stays usable', async () => {
    const ds = limitDataset(test, 64);
    const good = bank(q, 'drum_k6_u8');
    await runDataset(good, ds, { workers: 2, batch: 16 });
    const spawned0 = poolInfo().spawned;
    await expect(runDataset({ ...good, rowOffsets: {} }, ds, { workers: 2, batch: 16 })).rejects.toThrow(/^engine worker: /);
    const again = await runDataset(good, ds, { workers: 2, batch: 16 });
    expect([...again.pred]).toEqual([...inThread(good, ds)]);
    expect(poolInfo().spawned).toBe(spawned0);
  });

  it('a worker that dies mid-call rejects the call (no hang) and is replaced', async () => {
    const ds = limitDataset(test, 4000);
    const cfg = bank(q, 'drum_k6_u8');
    const run = runDataset(cfg, ds, { workers: 2, batch: 64 });
    const settled = run.then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    // Wait until both workers hold their jobs, then kill one as a crash would.
    const deadline = performance.now() + 60_000;
    while (poolInfo().busy < 2 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    expect(poolInfo().busy).toBe(2);
    await killPoolWorkerForTest(0);
    expect(await settled).toMatch(/^engine worker exited with code \d+/);
    const small = limitDataset(test, 64);
    const next = await runDataset(cfg, small, { workers: 2, batch: 16 });
    expect([...next.pred]).toEqual([...inThread(cfg, small)]);
  });

  it('idle pooled workers do not keep the process alive', async () => {
    const script = [
      `import { register } from 'tsx/esm/api'; register();`,
      `const { runDataset, poolInfo } = await import(${JSON.stringify(join(repo, 'nn/parallel.ts'))});`,
      `const { loadDataset, limitDataset } = await import(${JSON.stringify(join(repo, 'nn/dataset.ts'))});`,
      `const { loadQuantModelFor } = await import(${JSON.stringify(join(repo, 'nn/load.ts'))});`,
      `const p = ${JSON.stringify(lenet)};`,
      `const q = (await loadQuantModelFor(p, 'unsigned')).model;`,
      `const r = await runDataset({ model: q }, limitDataset(loadDataset('fmnist', 'test'), 64), { workers: 2, batch: 16 });`,
      `console.log(JSON.stringify({ workers: r.workers, alive: poolInfo().alive }));`,
    ].join('\n');
    const t0 = performance.now();
    const r = await execa(process.execPath, ['--input-type=module', '-e', script], { cwd: repo, reject: false, timeout: 120_000 });
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ workers: 2, alive: 2 });
    expect(performance.now() - t0).toBeLessThan(120_000);
  });
});
