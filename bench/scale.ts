/**
 * Scale (run: node --import tsx bench/scale.ts [rows] [cols]): the largest RTL `axtpu gen`
 * emits (default 128x128, the tpu-v4 preset, exact_u8, clock-gated) through Verilator:
 *  - generation time, lint of the simulation view (verilator --lint-only -Wall) time (the
 *    synthesis view inlines one structural multiplier per PE: 32x32 already took 99 s and
 *    1.3 GB, so it is not linted at this size here);
 *  - cold harness build (private empty cache) wall and child CPU seconds;
 *  - small GEMMs through the RTL against gemmModel (bit-exact) and the cycle model;
 *  - the analytical path at 256x256: LeNet-5 and ResNet-8 layer costs (1,000 images) and time.
 * Writes bench/results/scale.json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { xorshift32 } from '../core/rng.ts';
import { lintVerilog } from '../core/verilator.ts';
import { resolveDesign } from '../generators/array/config.ts';
import { PRESETS } from '../generators/array/presets.ts';
import { generateViews } from '../generators/array/rtl.ts';
import { cycleModel } from '../mapping/cycle-model.ts';
import { gemmModel } from '../mapping/gemm-model.ts';
import { layerCosts } from '../mapping/layer-cost.ts';
import { placeModel } from '../mapping/place.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { ArraySim } from '../sim/array.ts';

const rows = Number(process.argv[2] ?? 128);
const cols = Number(process.argv[3] ?? 128);
const design = resolveDesign({ ...PRESETS['tpu-v4'].config, rows, cols, cell: 'exact_u8', clockGating: true });

/** CPU seconds of this process's finished children (/proc/self/stat cutime + cstime). */
function childCpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) / 100;
}
const cache = mkdtempSync(join(tmpdir(), 'axtpu-bench-scale-'));
process.env.AXTPU_CACHE = cache;
const out: Record<string, unknown> = { date: new Date().toISOString(), rows, cols, preset: 'tpu-v4', memory: design.memory, clockGating: true };
try {
  let t = Date.now();
  const views = generateViews(design);
  out.generateSeconds = (Date.now() - t) / 1000;
  out.simFiles = Object.keys(views.sim).length;
  t = Date.now();
  let cpu = childCpuSeconds();
  // 128x128 lints in minutes (173 s at load ~10 in one run): allow an hour on a loaded machine.
  const lint = await lintVerilog(views.sim, 'axtpu_top', [], 3_600_000);
  out.lintSim = { ok: lint.ok, warnings: lint.warnings.slice(0, 5), seconds: (Date.now() - t) / 1000, cpuSeconds: childCpuSeconds() - cpu, load: loadavg()[0] };
  console.log('lint', out.lintSim);

  t = Date.now();
  cpu = childCpuSeconds();
  // The cold build may exceed the harness build's own time limit on a loaded machine: record that and go on.
  const sim = await ArraySim.open(design).catch((e: Error) => {
    out.build = { failed: e.message.split('\n')[0], seconds: (Date.now() - t) / 1000, cpuSeconds: childCpuSeconds() - cpu, load: loadavg()[0] };
    return undefined;
  });
  if (sim) {
    out.build = { seconds: (Date.now() - t) / 1000, cpuSeconds: childCpuSeconds() - cpu, load: loadavg()[0] };
    console.log('build', out.build);
    const next = xorshift32(0x5ca1e);
    const mat = (r: number, c: number) => ({ rows: r, cols: c, data: Uint8Array.from({ length: r * c }, () => next() & 0xff) });
    const gemms = [];
    for (const [M, K, N] of [
      [64, 200, 150],
      [32, 100, 40],
    ] as const) {
      const A = mat(M, K);
      const W = mat(K, N);
      const r = await sim.gemm(A, W);
      const ref = gemmModel(design, A, W);
      let bad = 0;
      for (let i = 0; i < ref.raw.length; i++) if (ref.raw[i] !== r.out.raw[i]) bad++;
      const cm = cycleModel(design, M, K, N);
      gemms.push({ M, K, N, differingWords: bad, rtlCycles: r.cycles, modelCycles: cm.cycles, cyclesPerCpuSecond: r.cycles / (r.cpuNs / 1e9) });
      console.log(gemms[gemms.length - 1]);
    }
    await sim.close();
    out.gemms = gemms;
  }
} finally {
  rmSync(cache, { recursive: true, force: true });
}

// The analytical path beyond RTL: 256x256.
const big = resolveDesign({ rows: 256, cols: 256, cell: 'exact_s8' });
const analytical: Record<string, unknown> = {};
for (const name of ['lenet5', 'resnet8']) {
  const t = Date.now();
  const { model: q } = await loadQuantModelFor(join(repoRoot, `models/${name}-fmnist.onnx`), 'signed');
  const costs = layerCosts(q, big, placeModel(q, big), 1000, 250);
  analytical[name] = { seconds: (Date.now() - t) / 1000, cycles: costs.reduce((s, l) => s + l.cycles, 0), macs: costs.reduce((s, l) => s + l.macs, 0) };
}
out.analytical256 = analytical;
console.log(out.analytical256);
writeFileAtomic(join(repoRoot, 'bench/results/scale.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log('wrote bench/results/scale.json');
