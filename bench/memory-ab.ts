/**
 * Array simulation speed with the memories (activation buffer, weight FIFO, DRAM port, access
 * counters) against the array-only harness of an older checkout, on the same GEMM, interleaved in
 * ONE process (both see the same machine state):
 *   node --import tsx bench/memory-ab.ts <array-only-checkout> [rounds]
 * e.g. a worktree at a82bb26 (the commit before the memories). Cycles per CPU-second of the
 * harness process (what one free core gives), best of each round; the cycle counts differ (the
 * memories add the first block's buffer load and DRAM stalls), so the ratio is of simulation
 * speed, not of work done. Writes bench/results/memory-ab.json.
 */
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';

if (!process.argv[2]) {
  console.log('bench/memory-ab.ts: skipped (usage: node --import tsx bench/memory-ab.ts <array-only-checkout> [rounds])');
  process.exit(0);
}
const other = resolve(process.argv[2]);
const rounds = Number(process.argv[3] ?? 5);

interface Tree {
  gemm: (A: unknown, W: unknown) => Promise<{ cycles: number; cpuNs: number; out: { raw: Uint32Array } }>;
  model: (A: unknown, W: unknown) => { raw: Uint32Array };
  close: () => Promise<void>;
}
async function open(root: string): Promise<Tree> {
  const config = await import(join(root, 'generators/array/config.ts'));
  const sim = await import(join(root, 'sim/array.ts'));
  const model = await import(join(root, 'mapping/gemm-model.ts'));
  const design = config.resolveDesign({ rows: 16, cols: 16, cell: 'exact_u8' });
  const s = await sim.ArraySim.open(design);
  return { gemm: (A, W) => s.gemm(A, W), model: (A, W) => model.gemmModel(design, A, W), close: () => s.close() };
}

let seed = 12345;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed >>> 24;
};
const mat = (r: number, c: number) => ({ rows: r, cols: c, data: Uint8Array.from({ length: r * c }, rnd) });
const [M, K, N] = [8192, 64, 64];
const A = mat(M, K);
const W = mat(K, N);
const trees = { memories: await open(repoRoot), arrayOnly: await open(other) };
const best: Record<string, { cyclesPerCpuSec: number; cycles: number; equalModel: boolean }> = {};
for (const [name, t] of Object.entries(trees)) {
  const r = await t.gemm(A, W); // warm up, and check the outputs
  const ref = t.model(A, W).raw;
  best[name] = { cyclesPerCpuSec: 0, cycles: r.cycles, equalModel: r.out.raw.every((v, i) => v === ref[i]) };
}
for (let i = 0; i < rounds; i++)
  for (const [name, t] of Object.entries(trees)) {
    const r = await t.gemm(A, W);
    best[name]!.cyclesPerCpuSec = Math.max(best[name]!.cyclesPerCpuSec, Math.round(r.cycles / (r.cpuNs / 1e9)));
  }
for (const t of Object.values(trees)) await t.close();
const result = {
  what: 'harness cycles per CPU-second, 16x16 exact_u8, one 8192x64x64 GEMM, memories (this tree) vs array-only (other checkout), best of each round, interleaved',
  other,
  rounds,
  gemm: { M, K, N },
  ...best,
  ratioMemoriesToArrayOnly: Number((best.memories!.cyclesPerCpuSec / best.arrayOnly!.cyclesPerCpuSec).toFixed(3)),
  loadAverage1m: loadavg()[0],
  measuredAt: new Date().toISOString(),
};
writeFileAtomic(join(repoRoot, 'bench/results/memory-ab.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
