/**
 * Control variate (docs/cv.md) -> bench/results/cv.json.
 *   node --import tsx bench/cv.ts [--only=speed,accuracy] [--images=N]
 * 1. speed: engine MAC/s with compensation on every layer vs off, one thread, same run, runs
 *    alternated (off, on, off, on, ...), CPU time per run; best of 7 each. LeNet-5 and ResNet-8,
 *    perf_j0_k3_u8 (unsigned) and roup_p2_r4_s8 (signed).
 * 4. energy: accelerator energy per inference (analytical path) of the exact design, a cell without
 *    and with the hardware (net saving).
 * 3. area: Yosys synthesis of an 8x8 array with and without the compensation hardware.
 * 2. accuracy: every cell of the table in docs/cv.md applied uniformly, without and with CV on every
 *    layer, on the test split (all workers), with the exact design of the same scheme.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { analyticalEstimate } from '../flow/analytical.ts';
import { ENERGY_PARTS } from '../flow/energy.ts';
import { generateViews, resolveDesign } from '../generators/array/index.ts';
import { placeModel } from '../mapping/place.ts';
import { resolveAssignment, uniformAssignment } from '../nn/assign.ts';
import { parseCvSpec } from '../nn/cv.ts';
import { compensation } from '../nn/cv-calib.ts';
import { type Dataset, limitDataset, loadDataset } from '../nn/dataset.ts';
import { type EngineConfig, runQuantBatch } from '../nn/engine.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { prepareNativeKernels } from '../nn/native.ts';
import { runDataset } from '../nn/parallel.ts';
import { macsPerImage, type QuantModel } from '../nn/qmodel.ts';
import { CALIBRATION } from '../nn/quantize.ts';
import { synthesize } from '../synth/yosys.ts';
import { evoStyleFromBuiltin } from '../test/helpers/evo.ts';

// Imported cells live in a scratch cell store for this bench (AXTPU_CELLS_DIR, read per call).
const cellsRoot = mkdtempSync(join(tmpdir(), 'axtpu-bench-cv-'));
process.env.AXTPU_CELLS_DIR = join(cellsRoot, 'cells');
const EVO = [
  { module: 'mul8u_evo_kulkarni', from: 'kulkarni_u8' },
  { module: 'mul8u_evo_c42ao', from: 'c42_ao_l8_u8' },
];
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
const only = onlyArg ? new Set(onlyArg.slice(7).split(',')) : undefined;
const want = (s: string) => !only || only.has(s);
const imagesArg = process.argv.find((a) => a.startsWith('--images='));
const log = (s: string) => process.stderr.write(`${s}\n`);
const native = await prepareNativeKernels();
log(`native kernels: ${native.ok ? native.simd : `unavailable: ${native.reason}`}`);
const test = loadDataset('fmnist', 'test');
const calib = limitDataset(loadDataset('fmnist', 'train'), CALIBRATION.images);

async function model(name: string, signed: boolean): Promise<QuantModel> {
  return (await loadQuantModelFor(join(repoRoot, 'models', `${name}.onnx`), signed ? 'signed' : 'unsigned')).model;
}

function configs(q: QuantModel, cell: string): { off: EngineConfig; on: EngineConfig; saturated: number } {
  const r = resolveAssignment(q, uniformAssignment(cell));
  const { cv, saturated } = compensation(q, r, parseCvSpec('all', q), { pixels: calib.pixels, count: calib.count });
  const off = { model: q, table: r.table, rowOffsets: r.rowOffsets };
  return { off, on: { ...off, cv }, saturated: Object.values(saturated).reduce((a, b) => a + b, 0) };
}

function cpuRun(cfg: EngineConfig, ds: Dataset, batch = 64): number {
  const per = ds.channels * ds.height * ds.width;
  const c0 = process.cpuUsage();
  for (let s = 0; s < ds.count; s += batch) {
    const n = Math.min(batch, ds.count - s);
    runQuantBatch(cfg, ds.pixels.subarray(s * per, (s + n) * per), n);
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

const resultsPath = join(repoRoot, 'bench', 'results', 'cv.json');
const results: Record<string, unknown> = only && existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Record<string, unknown>) : {};
results.date = new Date().toISOString();
results.command = `node --import tsx bench/cv.ts ${process.argv.slice(2).join(' ')}`.trim();

if (want('speed')) {
  const rows: Record<string, unknown>[] = [];
  for (const [name, cell, signed, n] of [
    ['lenet5-fmnist', 'perf_j0_k3_u8', false, 1000],
    ['resnet8-fmnist', 'perf_j0_k3_u8', false, 300],
    ['lenet5-fmnist', 'roup_p2_r4_s8', true, 1000],
    ['resnet8-fmnist', 'roup_p2_r4_s8', true, 300],
  ] as const) {
    const q = await model(name, signed);
    const ds = limitDataset(test, n);
    const { off, on } = configs(q, cell);
    for (let w = 0; w < 2; w++) {
      cpuRun(off, limitDataset(ds, 64));
      cpuRun(on, limitDataset(ds, 64));
    }
    const tOff: number[] = [];
    const tOn: number[] = [];
    for (let i = 0; i < 7; i++) {
      tOff.push(cpuRun(off, ds));
      tOn.push(cpuRun(on, ds));
    }
    const macs = macsPerImage(q) * n;
    const best = (t: number[]) => Math.min(...t);
    const row = {
      model: name,
      cell,
      images: n,
      loadAverage1m: loadavg()[0],
      cpuSeconds: { off: tOff, on: tOn },
      gMacPerCpuS: { off: macs / best(tOff) / 1e9, on: macs / best(tOn) / 1e9 },
      onOverOff: best(tOff) / best(tOn),
    };
    log(JSON.stringify(row));
    rows.push(row);
  }
  results.speed = rows;
}

if (want('accuracy')) {
  // Two EvoApprox-style cells (gate-level Verilog, ports A, B, O) made from built-in cells that are
  // not in the table otherwise, imported through `axtpu mult import` like a library cell.
  for (const e of EVO) {
    const file = join(cellsRoot, `${e.module}.v`);
    writeFileSync(file, evoStyleFromBuiltin(e.from, e.module));
    const r = await execa(process.execPath, [join(repoRoot, 'bin/axtpu.js'), 'mult', 'import', file, '--module', e.module], { reject: false });
    if (r.exitCode !== 0) throw new Error(`import ${e.module}: ${r.stderr}`);
  }
  const n = imagesArg ? Number(imagesArg.slice(9)) : test.count;
  const ds = limitDataset(test, n);
  const acc = async (cfg: EngineConfig) => {
    const p = (await runDataset(cfg, ds, {})).pred;
    let c = 0;
    for (let i = 0; i < ds.count; i++) if (p[i] === ds.labels[i]) c++;
    return c / ds.count;
  };
  const CELLS: Record<'unsigned' | 'signed', string[]> = {
    unsigned: [
      'perf_j0_k2_u8',
      'perf_j0_k3_u8',
      'drum_k4_u8',
      'drum_k3_u8',
      'mitchell_w3_u8',
      'trunc_a3_b3_u8',
      'bam_h0_v8_u8',
      ...EVO.map((e) => `ext:${e.module}`),
    ],
    signed: ['perf_j0_k3_s8', 'roup_p1_r4_s8', 'roup_p2_r4_s8', 'roup_p2_r6_s8', 'rad_k6_s8', 'drum_k4_s8', 'trunc_a3_b3_s8'],
  };
  const rows: Record<string, unknown>[] = [];
  for (const name of ['lenet5-fmnist', 'resnet8-fmnist'])
    for (const scheme of ['unsigned', 'signed'] as const) {
      const q = await model(name, scheme === 'signed');
      const ex = resolveAssignment(q, uniformAssignment(scheme === 'signed' ? 'exact_s8' : 'exact_u8'));
      const exact = await acc({ model: q, table: ex.table, rowOffsets: ex.rowOffsets });
      for (const cell of CELLS[scheme]) {
        let c: ReturnType<typeof configs>;
        try {
          c = configs(q, cell);
        } catch (e) {
          log(`skip ${cell}: ${(e as Error).message}`);
          continue;
        }
        const off = await acc(c.off);
        const on = await acc(c.on);
        const row = { model: name, scheme, cell, images: n, exact, off, on, lossOff: exact - off, lossOn: exact - on, saturated: c.saturated };
        log(JSON.stringify(row));
        rows.push(row);
      }
    }
  results.accuracy = rows;
}

if (want('area')) {
  // Synthesis (Yosys, osu018, hierarchy kept) of an 8x8 array without and with the hardware: the
  // activation-sum column against what a PE column with weights fixed to 1 would take (8 PEs
  // with exact cells), the correction stage (its coefficient memory is a macro: not in the area).
  const out: Record<string, unknown> = {};
  for (const [label, cfg] of [
    ['plain', { rows: 8, cols: 8, cell: 'perf_j0_k3_u8' }],
    ['controlVariate', { rows: 8, cols: 8, cell: 'perf_j0_k3_u8', controlVariate: {} }],
    ['exactPe', { rows: 8, cols: 8, cell: 'exact_u8' }],
  ] as const) {
    const d = resolveDesign(cfg, label);
    const t0 = performance.now();
    const r = await synthesize({ top: 'axtpu_top', sources: generateViews(d).synth, flatten: false });
    out[label] = { totalUm2: r.areaUm2, modules: r.moduleAreas, seconds: (performance.now() - t0) / 1000 };
    log(`${label}: ${r.areaUm2} um^2`);
  }
  results.area = out;
}

if (want('energy')) {
  // Net accelerator energy per inference, analytical path (the RTL run's per-op energies and
  // cycles; `axtpu run` checks the two agree): 16x16, the exact design, the cell without the
  // hardware, and the cell with the hardware compensating every layer. 250 test images.
  const ds = limitDataset(test, 250);
  const rows: Record<string, unknown>[] = [];
  for (const name of ['lenet5-fmnist', 'resnet8-fmnist'])
    for (const cell of ['perf_j0_k3_u8', 'perf_j0_k2_u8']) {
      const q = await model(name, false);
      const one = async (id: string, cv: boolean) => {
        const design = resolveDesign({ rows: 16, cols: 16, cell: id, ...(cv ? { controlVariate: {} } : {}) }, 'bench');
        const placement = placeModel(q, design);
        const comp = cv ? compensation(q, placement.resolved, parseCvSpec('all', q), { pixels: calib.pixels, count: calib.count }).cv : undefined;
        const est = await analyticalEstimate(q, design, placement, ds, 250, { cv: comp });
        const parts = Object.fromEntries(ENERGY_PARTS.map((p) => [p.key, est.layers.reduce((t, l) => t + l.energy![p.key], 0) / ds.count]));
        return { accelerator: est.layers.reduce((t, l) => t + l.energy!.totalPj, 0) / ds.count, parts };
      };
      const exact = await one('exact_u8', false);
      const off = await one(cell, false);
      const on = await one(cell, true);
      const row = {
        model: name,
        cell,
        pjPerInference: { exact: exact.accelerator, off: off.accelerator, on: on.accelerator },
        savingOff: 1 - off.accelerator / exact.accelerator,
        savingOn: 1 - on.accelerator / exact.accelerator,
        cvPj: (on.parts.cvColumnPj as number) + (on.parts.cvCorrectionPj as number),
        cellPj: { exact: exact.parts.cellPj, off: off.parts.cellPj, on: on.parts.cellPj },
        parts: { exact: exact.parts, off: off.parts, on: on.parts },
      };
      log(JSON.stringify({ ...row, parts: undefined }));
      rows.push(row);
    }
  results.energy = rows;
}

writeFileAtomic(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
log(`wrote ${resultsPath}`);
process.exit(0);
