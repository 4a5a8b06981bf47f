/**
 * Synthesis and energy-estimator performance (issue 4). Writes bench/results/synth.json.
 * - energy/op of one 8x8 cell from 65,536 operand pairs, including the gate-level simulation
 *   (netlist already synthesized; limit 1 s);
 * - synthesis of the whole built-in catalogue, cold (empty cache, 2 Yosys runs at a time;
 *   limit 5 min) and cached (limit: seconds);
 * - `axtpu power --all` wall time with a warm cache;
 * - the numbers the acceptance criteria name (exact_u8 area/energy, the OpenSTA gate-bank check).
 * Run: node --import tsx bench/synth.ts
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { writeFileAtomic } from '../core/atomic.ts';
import { LIBERTY, repoRoot } from '../core/paths.ts';
import { mapLimit } from '../core/pool.ts';
import { builtinCatalogue, getCell } from '../generators/multipliers/index.ts';
import { gateBankCrossCheck } from '../synth/crosscheck.ts';
import { estimateEnergy } from '../synth/energy.ts';
import { buildGateSim, runGateSim } from '../synth/gatesim.ts';
import { loadLiberty } from '../synth/liberty.ts';
import { uniformStream } from '../synth/operand-stream.ts';
import { cellEnergy, cellStimulus, synthesizeCell } from '../synth/power.ts';

const cache = mkdtempSync(join(tmpdir(), 'axtpu-bench-synth-cache-'));
const reports = mkdtempSync(join(tmpdir(), 'axtpu-bench-synth-reports-'));
process.env.AXTPU_CACHE = cache;
process.env.AXTPU_SYNTH_REPORTS = reports;

const ms = (t0: number) => Math.round(performance.now() - t0);
const lib = loadLiberty(LIBERTY.osu018);

// 1. Energy per op of one cell: gate-level model build + simulation of 65,536 pairs + energy.
const cell = getCell('exact_u8');
const synth = await synthesizeCell(cell, LIBERTY.osu018);
const stream = uniformStream(65_536, 1);
const energyRuns: { buildMs: number; simMs: number; energyMs: number; totalMs: number }[] = [];
let pj = 0;
for (let i = 0; i < 7; i++) {
  const t0 = performance.now();
  const model = buildGateSim(synth.netlist, lib);
  const t1 = performance.now();
  const r = runGateSim(model, cellStimulus(cell, stream));
  const t2 = performance.now();
  const e = estimateEnergy(model, r, { clockMHz: 100, outputLoadPf: 0, inputSlewNs: 0.1 });
  const t3 = performance.now();
  pj = e.perOpPj.total;
  energyRuns.push({ buildMs: +(t1 - t0).toFixed(1), simMs: +(t2 - t1).toFixed(1), energyMs: +(t3 - t2).toFixed(1), totalMs: +(t3 - t0).toFixed(1) });
}
const totals = energyRuns.map((r) => r.totalMs).sort((a, b) => a - b);
const t0 = performance.now();
const full = await cellEnergy('exact_u8', { liberty: LIBERTY.osu018 });
const cellEnergyMs = ms(t0);

// 2. Catalogue synthesis, cold then cached.
const cells = builtinCatalogue();
const c0 = performance.now();
const cold = await mapLimit(cells, 2, (c) => synthesizeCell(c, LIBERTY.osu018));
const coldMs = ms(c0);
const c1 = performance.now();
const warm = await mapLimit(cells, 2, (c) => synthesizeCell(c, LIBERTY.osu018));
const cachedMs = ms(c1);

// 3. The whole catalogue table through the CLI, cache warm.
const p0 = performance.now();
const all = await execa('node', [join(repoRoot, 'bin/axtpu.js'), '--json', 'power', '--all'], {
  env: { AXTPU_CACHE: cache, AXTPU_SYNTH_REPORTS: reports },
  reject: false,
});
const powerAllMs = ms(p0);
if (all.exitCode !== 0) throw new Error(`power --all failed: ${all.stderr}`);
const table = (JSON.parse(all.stdout) as { rows: { id: string; energyPj: number; areaUm2: number }[] }).rows;

// 4. OpenSTA agreement on the gate bank (both libraries).
const bank018 = await gateBankCrossCheck({ liberty: LIBERTY.osu018 });
const bank035 = await gateBankCrossCheck({ liberty: LIBERTY.osu035 });
const rel = (b: typeof bank018) => ({
  internalPct: +(b.compare.internal.rel * 100).toFixed(3),
  switchingPct: +(b.compare.switching.rel * 100).toFixed(3),
  leakagePct: +(b.compare.leakage.rel * 100).toFixed(3),
  cells: b.cells.length,
});

rmSync(cache, { recursive: true, force: true });
rmSync(reports, { recursive: true, force: true });

const result = {
  machine: { cpus: cpus().length, node: process.version },
  date: new Date().toISOString(),
  energyPerOp: {
    cell: 'exact_u8',
    pairs: 65_536,
    runs: energyRuns,
    medianMs: totals[Math.floor(totals.length / 2)],
    maxMs: totals[totals.length - 1],
    cellEnergyApiMs: cellEnergyMs,
    limitMs: 1000,
    pJPerOp: +pj.toFixed(4),
  },
  catalogueSynthesis: {
    cells: cells.length,
    coldMs,
    cachedMs,
    allHitOnSecondRun: warm.every((w) => w.hit),
    coldMisses: cold.filter((w) => !w.hit).length,
    limits: { coldMs: 300_000, cachedMs: 10_000 },
  },
  powerAllCachedMs: powerAllMs,
  exactU8: {
    areaUm2: full.areaUm2,
    cells: full.cellCount,
    pJPerOp: +full.energy.perOpPj.total.toFixed(4),
    split: full.energy.perOpPj,
    criticalPathNs: +full.energy.criticalPathNs.toFixed(4),
  },
  drumFamily: Object.fromEntries(table.filter((r) => /^drum_k\d_u8$/.test(r.id)).map((r) => [r.id, +r.energyPj.toFixed(3)])),
  openStaGateBank: { osu018: rel(bank018), osu035: rel(bank035) },
};
writeFileAtomic(join(repoRoot, 'bench/results/synth.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
