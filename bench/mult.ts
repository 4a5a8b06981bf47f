/**
 * Cell-library performance (issue 3): exhaustive verification of the whole built-in catalogue
 * through the CLI, cold (empty build cache, Verilator build included) and cached; and the time
 * to get one cell's metrics, split into building its model (netlist + exhaustive LUT) and the
 * metrics over the LUT. Writes bench/results/mult.json.
 * Run: node --import tsx bench/mult.ts
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { CATALOGUE_IDS } from '../generators/multipliers/catalogue.ts';
import { cellMetrics, getCell, productTable } from '../generators/multipliers/index.ts';
import { computeMetrics } from '../generators/multipliers/metrics.ts';
import type { BuiltinCell } from '../generators/multipliers/registry.ts';

async function verifyRun(env: Record<string, string>) {
  const t0 = performance.now();
  const r = await execa('node', [join(repoRoot, 'bin/axtpu.js'), '--json', 'mult', 'verify', '--all'], { env, reject: false, cwd: repoRoot });
  const wallMs = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`verify failed: ${r.stderr}`);
  const rep = JSON.parse(r.stdout) as { pass: boolean; cells: unknown[]; buildHit: boolean; buildMs: number; runMs: number; totalMs: number };
  return { wallMs: Math.round(wallMs), cells: rep.cells.length, pass: rep.pass, buildHit: rep.buildHit, buildMs: rep.buildMs, simMs: rep.runMs };
}

const cache = mkdtempSync(join(tmpdir(), 'axtpu-bench-cache-'));
const cells = mkdtempSync(join(tmpdir(), 'axtpu-bench-cells-'));
const env = { AXTPU_CACHE: cache, AXTPU_CELLS_DIR: cells };
const cold = await verifyRun(env);
const cached = await verifyRun(env);
rmSync(cache, { recursive: true, force: true });
rmSync(cells, { recursive: true, force: true });

// Per cell: model (netlist build + bit-sliced evaluation of all pairs) and metrics over the LUT.
const perCell: { id: string; gates: number; modelMs: number; metricsMs: number }[] = [];
for (const id of CATALOGUE_IDS) {
  const c = getCell(id);
  const t0 = performance.now();
  const table = productTable(c);
  const t1 = performance.now();
  const reps = 5;
  for (let i = 0; i < reps; i++) computeMetrics(table, c.bits, c.signed);
  const t2 = performance.now();
  cellMetrics(c);
  perCell.push({
    id,
    gates: (c as BuiltinCell).netlist().gateCount(),
    modelMs: Number((t1 - t0).toFixed(2)),
    metricsMs: Number(((t2 - t1) / reps).toFixed(2)),
  });
}
const stat = (xs: number[]) => ({ mean: Number((xs.reduce((s, x) => s + x, 0) / xs.length).toFixed(2)), max: Number(Math.max(...xs).toFixed(2)) });
const result = {
  machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
  date: new Date().toISOString(),
  verifyAll: { cold, cached, limits: { coldMs: 60000, cachedMs: 10000 } },
  perCell: {
    modelMs: stat(perCell.map((p) => p.modelMs)),
    metricsMs: stat(perCell.map((p) => p.metricsMs)),
    modelPlusMetricsMs: stat(perCell.map((p) => p.modelMs + p.metricsMs)),
    limitMs: 50,
    cells: perCell,
  },
};
writeFileAtomic(join(repoRoot, 'bench', 'results', 'mult.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(
  JSON.stringify(
    {
      verifyAll: result.verifyAll,
      modelMs: result.perCell.modelMs,
      metricsMs: result.perCell.metricsMs,
      modelPlusMetricsMs: result.perCell.modelPlusMetricsMs,
    },
    null,
    2,
  ),
);
