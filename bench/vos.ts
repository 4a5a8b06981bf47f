/**
 * Timed gate-level simulation (issue 15). Writes bench/results/vos.json.
 * - throughput in PE operations per CPU-second of the timed simulator (fast kernel and the
 *   event-queue reference) side by side with Icarus Verilog (vvp) on the same PE netlist with
 *   per-gate delays from the same liberty tables, same stream, same clock, one run;
 * - the acceptance run: zero timing errors at nominal voltage with the default clock over
 *   1,000,000 PE operations of LeNet-5 layer streams, for exact and two approximate cells.
 * Run: node --import tsx bench/vos.ts [--ops N] (N: operations of the zero-error run, default 1e6)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { LIBERTY, repoRoot } from '../core/paths.ts';
import { runTool } from '../core/runner.ts';
import { render } from '../core/templates.ts';
import { designTargets, layerStream, targetStimulus, timedNetlist } from '../flow/vos.ts';
import { resolveDesign } from '../generators/array/index.ts';
import type { GateSimStimulus } from '../synth/gatesim.ts';
import { prepareTimedNative, runTimedSimNative } from '../synth/timed-native.ts';
import { runTimedSim, runTimedSimReference } from '../synth/timed-sim.ts';
import { timedVerilogContext } from '../synth/timed-verilog.ts';

const argOps = process.argv.indexOf('--ops');
const zeroOps = argOps > 0 ? Number(process.argv[argOps + 1]) : 1_000_000;
const cpu = (f: () => void) => {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
};

// 1. Throughput: exact_u8 PE of a 16x16 design, LeNet-5 layer stream, clock at closure.
const design = resolveDesign({ rows: 16, cols: 16, cell: 'exact_u8' });
const target = designTargets(design)[0]!;
const pe = await timedNetlist(target, LIBERTY.osu018);
const nOps = 20_000;
const stim = targetStimulus(target, pe, await layerStream('exact_u8', design, nOps));
const periodNs = pe.staticNs;
const warm = runTimedSim(pe.tm, stim, { periodNs }); // warm-up (JIT); its outputs check Icarus'
const jsS = cpu(() => runTimedSim(pe.tm, stim, { periodNs }));
const native = await prepareTimedNative();
if (!native) throw new Error('bench/vos.ts: the native timed kernel did not build (g++ and Node headers needed)');
runTimedSimNative(native, pe.tm, stim, { periodNs });
const fastS = cpu(() => runTimedSimNative(native, pe.tm, stim, { periodNs }));
const refOps = 5_000;
const refStim: GateSimStimulus = {
  n: refOps,
  ports: Object.fromEntries(Object.entries(stim.ports).map(([k, v]) => [k, 'words' in v ? v : v.subarray(0, refOps)])),
};
const refS = cpu(() => runTimedSimReference(pe.tm, refStim, { periodNs }));

// Icarus: the same netlist as continuous assignments with inertial per-gate delays.
const dir = mkdtempSync(join(tmpdir(), 'axtpu-bench-vos-'));
const icarusOps = 5_000;
writeFileSync(join(dir, 'pe.v'), render('synth/timed_netlist.v', timedVerilogContext(pe.tm, { periodNs, vectors: icarusOps, checkPort: 'psum_out' })));
for (const [port, v] of Object.entries(stim.ports)) {
  if ('words' in v) continue;
  writeFileSync(join(dir, `${port}.hex`), `${Array.from(v.subarray(0, icarusOps), (x) => (x >>> 0).toString(16)).join('\n')}\n`);
}
await runTool({ tool: 'iverilog', args: ['-o', 'pe.vvp', 'pe.v'], cwd: dir, logFile: join(dir, 'iverilog.log') });
const vvp = await runTool({
  tool: '/usr/bin/time',
  args: ['-f', 'AXTPU-CPU %U %S', 'vvp', '-n', 'pe.vvp'],
  cwd: dir,
  logFile: join(dir, 'vvp.log'),
  timeoutMs: 3_600_000,
});
const m = /AXTPU-CPU ([\d.]+) ([\d.]+)/.exec(vvp.all);
const icarusS = m ? Number(m[1]) + Number(m[2]) : Number.NaN;
const vvpLines = readFileSync(join(dir, 'vvp.log'), 'utf8');
rmSync(dir, { recursive: true, force: true });

// The same fold of the captured words as the testbench: check = check * 31 + psum_out (mod 2^64).
let ours = 0n;
for (let v = 0; v < icarusOps; v++) ours = (ours * 31n + BigInt(warm.outputs.psum_out![v]!)) & ((1n << 64n) - 1n);
const icarusCheck = /AXTPU-CHECK (\d+)/.exec(vvpLines)?.[1] ?? null;

const throughput = {
  pe: target.top,
  cell: 'exact_u8',
  gates: pe.syn.netlist.cells.length,
  periodNs,
  stream: 'LeNet-5 layer streams',
  native: { ops: nOps, cpuSeconds: fastS, opsPerCpuSecond: nOps / fastS },
  js: { ops: nOps, cpuSeconds: jsS, opsPerCpuSecond: nOps / jsS },
  reference: { ops: refOps, cpuSeconds: refS, opsPerCpuSecond: refOps / refS },
  icarus: { ops: icarusOps, cpuSeconds: icarusS, opsPerCpuSecond: icarusOps / icarusS },
  /** Icarus captured the same psum_out words as the timed simulator on every operation. */
  sameCapturedWords: icarusCheck === ours.toString(),
  nativeOverIcarus: nOps / fastS / (icarusOps / icarusS),
  jsOverIcarus: nOps / jsS / (icarusOps / icarusS),
};
console.log(JSON.stringify(throughput, null, 1));

// 2. Zero errors at nominal with the default clock, 1,000,000 operations per cell.
const zero: { cell: string; ops: number; wrong: number; unsettled: number; cpuSeconds: number; periodNs: number }[] = [];
for (const id of ['exact_u8', 'drum_k6_u8', 'bam_h0_v8_u8']) {
  const d = resolveDesign({ rows: 16, cols: 16, cell: id });
  const t = designTargets(d)[0]!;
  const n = await timedNetlist(t, LIBERTY.osu018);
  const s = targetStimulus(t, n, await layerStream(id, d, zeroOps));
  let wrong = 0;
  let unsettled = 0;
  const sec = cpu(() => {
    const golden = runTimedSimNative(native, n.tm, s, { periodNs: n.staticNs, delayScale: 0 });
    const timed = runTimedSimNative(native, n.tm, s, { periodNs: n.staticNs, delayScale: 1 });
    for (let v = 0; v < s.n; v++) if (timed.outputs.psum_out![v] !== golden.outputs.psum_out![v]) wrong++;
    unsettled = timed.unsettled;
  });
  zero.push({ cell: id, ops: zeroOps, wrong, unsettled, cpuSeconds: sec, periodNs: n.staticNs });
  console.log(JSON.stringify(zero[zero.length - 1]));
}

writeFileAtomic(
  join(repoRoot, 'bench', 'results', 'vos.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine: '2-core shared', loadAverage: loadavg(), throughput, zeroErrorsAtNominal: zero }, null, 2)}\n`,
);
