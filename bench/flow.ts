/**
 * RTL-in-the-loop benchmark (issue 7): full LeNet-5 Fashion-MNIST test set through 16x16 RTL
 * with the exact cell, a uniform approximate cell and a per-column mix; ResNet-8 on >= 500
 * images. Equality with the software engine, cycles vs cycleModel, speed vs the harness's bare
 * speed. Results are written after every case (bench/results/flow.json).
 *   node --import tsx bench/flow.ts [lenet|resnet|all] [lenet images] [resnet images] [design]
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { designFrom, type FlowReport, runFlow } from '../flow/run.ts';
import { bareSpeed, buildHarness } from '../sim/array.ts';

const which = process.argv[2] ?? 'all';
const lenetImages = Number(process.argv[3] ?? 10_000);
const resnetImages = Number(process.argv[4] ?? 500);
const only = process.argv[5];
// Plain harness processes and batches in flight (flow/rtl.ts defaults 2 and 2 per harness);
// AXTPU_BENCH_HARNESSES / AXTPU_BENCH_INFLIGHT override them for experiments.
const harnesses = Number(process.env.AXTPU_BENCH_HARNESSES ?? 2);
const inFlight = process.env.AXTPU_BENCH_INFLIGHT ? Number(process.env.AXTPU_BENCH_INFLIGHT) : undefined;
const MIX = ['exact_s8', 'roup_p1_r4_s8', 'perf_j0_k2_s8', 'drum_k6_s8'];
const designs: Record<string, Record<string, unknown>> = {
  exact: { rows: 16, cols: 16, cell: 'exact_s8' },
  uniform_drum_k6: { rows: 16, cols: 16, cell: 'drum_k6_s8' },
  column_mix: { rows: 16, cols: 16, map: { column: Array.from({ length: 16 }, (_, c) => MIX[c % MIX.length]!) } },
};
const out = join(repoRoot, 'bench/results/flow.json');
mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
// Cases of other invocations are kept (re-read at every save, so concurrent runs merge); a
// re-run case replaces its old entry.
type Row = Record<string, unknown>;
const mine: Row[] = [];
const readRows = (): Row[] => (existsSync(out) ? ((JSON.parse(readFileSync(out, 'utf8')) as { results?: Row[] }).results ?? []) : []);
const same = (a: Row, b: Row) => a.model === b.model && a.design === b.design;
const save = () => {
  const rows = readRows().filter((r) => !mine.some((m) => same(m, r)));
  rows.push(...mine);
  writeFileAtomic(
    out,
    `${JSON.stringify(
      {
        measuredAt: new Date().toISOString(),
        note: 'machine (2 cores) shared with other engineers; loadAverageStart / loadAverage (end) are the 1-minute load averages; speeds are lower bounds',
        results: rows,
      },
      null,
      2,
    )}\n`,
  );
};

async function bare(design: Record<string, unknown>) {
  const built = await buildHarness(designFrom(design), { activity: false });
  const b = await bareSpeed(built, 5_000_000);
  return b.cycles / (b.ns / 1e9);
}

async function one(modelName: string, modelPath: string, designName: string, images: number, energy: boolean) {
  const load0 = loadavg()[0];
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r: FlowReport = await runFlow({
    model: modelPath,
    design: designs[designName]!,
    limit: images,
    batch: 250,
    noEnergy: !energy,
    activity: 'sample',
    inFlight,
    harnesses,
  });
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const load1 = loadavg()[0];
  const bareCps = await bare(designs[designName]!);
  const row = {
    model: modelName,
    design: designName,
    images: r.images,
    accuracy: r.accuracy,
    engineAccuracy: r.engineAccuracy,
    predMismatches: r.predMismatches,
    layerMismatches: r.layerMismatches,
    cyclesPerInference: r.cyclesPerInference,
    cyclesMatchModel: r.cyclesMatchModel,
    analyticalMatchesRtl: r.analyticalMatchesRtl,
    macsPerInference: r.macsPerInference,
    energy: r.energy ? { pjPerInference: r.energy.pjPerInference, pjPerMac: r.energy.pjPerMac, vdd: r.energy.vdd, clockMHz: r.energy.clockMHz } : null,
    firstMismatchLayer: r.firstMismatchLayer,
    // Plain harness processes actually used (flow/rtl.ts: with --activity sample the first batch
    // runs on the activity build, so at most batches - 1 plain ones) and batches in flight.
    harnesses: Math.max(1, Math.min(harnesses, Math.ceil(r.images / 250) - 1)),
    inFlight: Math.min(inFlight ?? 2 * Math.max(1, Math.min(harnesses, Math.ceil(r.images / 250) - 1)), Math.ceil(r.images / 250)),
    wallSeconds: wall,
    // This process (main thread + reference worker) and the harness's cycle loop, CPU seconds.
    nodeCpuSeconds: (cpu.user + cpu.system) / 1e6,
    harnessLoopCpuSeconds: r.harness.loopCpuSeconds,
    harnessLoopSeconds: r.harness.loopSeconds,
    loadAverageStart: load0,
    harnessBuilt: r.harness.built,
    buildSeconds: r.harness.buildMs / 1000,
    runSecondsExcludingBuild: wall - r.harness.buildMs / 1000,
    totalCycles: r.harness.cycles,
    cyclesPerSecondWall: r.harness.cycles / (wall - r.harness.buildMs / 1000),
    harnessLoopCyclesPerSecond: r.harness.cyclesPerSecond,
    plainBuildLoopCyclesPerSecond: r.harness.plainCyclesPerSecond,
    bareCyclesPerSecond: bareCps,
    ratioWallToBare: r.harness.cycles / (wall - r.harness.buildMs / 1000) / bareCps,
    layers: r.layers.map((l) => ({
      layer: l.layer,
      cycles: l.cycles,
      modelCycles: l.modelCycles,
      mismatches: l.mismatches,
      utilization: l.utilization,
      mappingEfficiency: l.mappingEfficiency,
      energyPj: l.energy?.totalPj,
    })),
    reportDir: r.reportDir,
  };
  mine.push({ ...row, measuredAt: new Date().toISOString(), loadAverage: load1 });
  save();
  console.log(JSON.stringify({ ...row, layers: undefined }));
}

const lenet = join(repoRoot, 'models/lenet5-fmnist.onnx');
const resnet = join(repoRoot, 'models/resnet8-fmnist.onnx');
if (which === 'lenet' || which === 'all')
  for (const d of Object.keys(designs).filter((x) => !only || x === only)) await one('lenet5-fmnist', lenet, d, lenetImages, d === 'exact');
if (which === 'resnet' || which === 'all')
  for (const d of Object.keys(designs).filter((x) => !only || x === only)) await one('resnet8-fmnist', resnet, d, resnetImages, d === 'exact');
