/**
 * Batch import of a cell library (issue 13). EvoApprox-style gate-level Verilog (ports A, B, O)
 * is generated from axtpu's own built-in unsigned 8-bit cells (no third-party code), then the
 * same cells are imported, verified and energy-characterized two ways, each from a cold cache:
 *   batch:      mult import <dir>; mult verify 'ext:*'; power 'ext:*'
 *   one by one: per cell mult import <file> --module m; mult verify ext:m; power ext:m
 * Records wall seconds, CPU seconds of all child processes and the load average (the machine is
 * shared, so wall time alone says little). Writes bench/results/mult-import.json.
 * Run: node --import tsx bench/mult-import.ts [cells=50] [one-by-one cells=cells]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { writeFileAtomic } from '../core/atomic.ts';
import { repoRoot } from '../core/paths.ts';
import { evoStyleFromBuiltin, UNSIGNED_8BIT_IDS } from '../test/helpers/evo.ts';

const n = Number(process.argv[2] ?? 50);
const nOne = Number(process.argv[3] ?? n);
const ids = UNSIGNED_8BIT_IDS.slice(0, n);
if (ids.length < n) throw new Error(`only ${ids.length} generator cells`);
const root = mkdtempSync(join(tmpdir(), 'axtpu-bench-import-'));
const lib = join(root, 'lib');
mkdirSync(lib);
const modules = ids.map((id) => `mul8u_${id}`);
for (const [i, id] of ids.entries()) writeFileSync(join(lib, `${modules[i]}.v`), evoStyleFromBuiltin(id, modules[i]));

/** CPU seconds (user + system) of every waited-for child so far: /proc/self/stat cutime + cstime. */
function childCpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const r = await execa(process.execPath, [join(repoRoot, 'bin/axtpu.js'), ...args], { env, reject: false });
  if (r.exitCode !== 0) throw new Error(`axtpu ${args.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
  return String(r.stdout);
}

interface Phase {
  wallS: number;
  cpuS: number;
}
async function phase(f: () => Promise<void>): Promise<Phase> {
  const t0 = performance.now();
  const c0 = childCpuSeconds();
  await f();
  return { wallS: +((performance.now() - t0) / 1000).toFixed(1), cpuS: +(childCpuSeconds() - c0).toFixed(1) };
}

function envFor(mode: string): Record<string, string> {
  return {
    AXTPU_CACHE: join(root, `cache-${mode}`),
    AXTPU_CELLS_DIR: join(root, `cells-${mode}`),
    AXTPU_SYNTH_REPORTS: join(root, `reports-${mode}`),
    AXTPU_RTL_OUT: join(root, `rtl-${mode}`),
  };
}

const load0 = loadavg();
// Batch.
const be = envFor('batch');
const batch = {
  import: await phase(async () => void (await cli(['mult', 'import', lib], be))),
  verify: await phase(async () => {
    const out = await cli(['mult', 'verify', 'ext:*'], be);
    if (!out.includes(`${n}/${n} cells pass`)) throw new Error(`batch verify: ${out.split('\n').pop()}`);
  }),
  power: { wallS: 0, cpuS: 0 },
};
let batchEnergy: { id: string; pj: number; area: number }[] = [];
batch.power = await phase(async () => {
  const out = JSON.parse(await cli(['--json', 'power', 'ext:*'], be)) as { cell: { id: string }; energy: { perOpPj: { total: number } }; areaUm2: number }[];
  batchEnergy = out.map((r) => ({ id: r.cell.id, pj: r.energy.perOpPj.total, area: r.areaUm2 }));
});
const batchTotal = {
  wallS: +(batch.import.wallS + batch.verify.wallS + batch.power.wallS).toFixed(1),
  cpuS: +(batch.import.cpuS + batch.verify.cpuS + batch.power.cpuS).toFixed(1),
};
const load1 = loadavg();

// One by one (the first nOne of the same cells).
const oe = envFor('one');
const one = { import: { wallS: 0, cpuS: 0 }, verify: { wallS: 0, cpuS: 0 }, power: { wallS: 0, cpuS: 0 } };
const oneEnergy: { id: string; pj: number; area: number }[] = [];
for (const m of modules.slice(0, nOne)) {
  const add = (k: keyof typeof one, p: Phase) => {
    one[k] = { wallS: +(one[k].wallS + p.wallS).toFixed(1), cpuS: +(one[k].cpuS + p.cpuS).toFixed(1) };
  };
  add('import', await phase(async () => void (await cli(['mult', 'import', join(lib, `${m}.v`), '--module', m], oe))));
  add('verify', await phase(async () => void (await cli(['mult', 'verify', `ext:${m}`], oe))));
  add(
    'power',
    await phase(async () => {
      const r = JSON.parse(await cli(['--json', 'power', `ext:${m}`], oe)) as { cell: { id: string }; energy: { perOpPj: { total: number } }; areaUm2: number };
      oneEnergy.push({ id: r.cell.id, pj: r.energy.perOpPj.total, area: r.areaUm2 });
    }),
  );
}
const oneTotal = {
  wallS: +(one.import.wallS + one.verify.wallS + one.power.wallS).toFixed(1),
  cpuS: +(one.import.cpuS + one.verify.cpuS + one.power.cpuS).toFixed(1),
};
const load2 = loadavg();

// The two paths must agree on every characterized cell: the same area (same mapped cells); the
// energy may differ by pin-level mapping choices of ABC inside a bank (equal area, equal function).
const compared = oneEnergy.map((o) => {
  const b = batchEnergy.find((x) => x.id === o.id);
  return { id: o.id, areaEqual: b?.area === o.area, relEnergyDiff: b ? Math.abs(b.pj - o.pj) / o.pj : Number.POSITIVE_INFINITY };
});

const result = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, note: 'shared with other engineers during the run: see loadavg' },
  cells: n,
  batch: { ...batch, total: batchTotal, perCellWallS: +(batchTotal.wallS / n).toFixed(2) },
  oneByOne: { cells: nOne, ...one, total: oneTotal, perCellWallS: +(oneTotal.wallS / nOne).toFixed(2) },
  speedupPerCellWall: +(oneTotal.wallS / nOne / (batchTotal.wallS / n)).toFixed(1),
  speedupPerCellCpu: +(oneTotal.cpuS / nOne / (batchTotal.cpuS / n)).toFixed(1),
  agreement: {
    compared: compared.length,
    areaEqual: compared.filter((c) => c.areaEqual).length,
    maxRelEnergyDiff: Number(Math.max(0, ...compared.map((c) => c.relEnergyDiff)).toExponential(2)),
  },
  loadavg: { before: load0, afterBatch: load1, afterOneByOne: load2 },
  goal: { batchWallS: 120, met: batchTotal.wallS <= 120 },
};
mkdirSync(join(repoRoot, 'bench/results'), { recursive: true });
writeFileAtomic(join(repoRoot, 'bench/results/mult-import.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
rmSync(root, { recursive: true, force: true });
