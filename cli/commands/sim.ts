import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { emit, table } from '../../core/output.ts';
import { xorshift32 } from '../../core/rng.ts';
import { intOption, jsonArg } from '../../core/validate.ts';
import { type Design, loadDesign } from '../../generators/array/index.ts';
import { cycleModel } from '../../mapping/cycle-model.ts';
import type { Mat8 } from '../../mapping/gemm.ts';
import { gemmModel } from '../../mapping/gemm-model.ts';
import { ArraySim, flipTable } from '../../sim/array.ts';
import { globals } from '../context.ts';
import { domainNames, LEVELS_HELP, levelNames, parseLevels } from '../levels.ts';

interface GemmOpts {
  M: string;
  K: string;
  N: string;
  seed: string;
  tile: string;
  mode: string;
  vcd?: string;
  activity?: boolean;
  gateLevelSim?: boolean;
  levels?: string;
  flip?: string;
  tag?: string;
}

/**
 * Per-weight tags of a design with a cell set: one cell index for every weight, or random per
 * weight (from the seed) so every cell of the set is exercised. Refused on a design without tags.
 */
function gemmTags(design: Design, K: number, N: number, seed: number, spec: string | undefined): Mat8 | undefined {
  if (!design.tags) {
    if (spec !== undefined) throw new UserError(`--tag: design ${design.name} has no cell set (per-weight tags); generate it with --cell-set`);
    return undefined;
  }
  const n = design.tags.cells.length;
  if (spec === undefined || spec === 'random') {
    const r = randomMat(K, N, seed ^ 0x2545f491);
    return { ...r, data: r.data.map((x) => x % n) };
  }
  const t = intOption(spec, '--tag', 0, n - 1);
  return { rows: K, cols: N, data: new Uint8Array(K * N).fill(t) };
}

/** Deterministic operand matrices from a seed (xorshift32), raw 8-bit codes. */
export function randomMat(rows: number, cols: number, seed: number): Mat8 {
  const next = xorshift32(seed >>> 0 || 0x9e3779b9);
  const data = new Uint8Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = next() & 0xff;
  return { rows, cols, data };
}

function parseWindow(v: string): { from: number; to: number } {
  const m = /^(\d+):(\d+)$/.exec(v.trim());
  if (!m) throw new UserError(`--vcd must be from:to (cycles), got '${v}'`);
  const from = Number(m[1]);
  const to = Number(m[2]);
  if (to <= from) throw new UserError(`--vcd window is empty: ${v}`);
  if (to - from > 100_000) throw new UserError(`--vcd window too long (${to - from} cycles; at most 100000)`);
  return { from, to };
}

export function registerSim(program: Command): void {
  const sim = program.command('sim').description('cycle-accurate simulation of generated arrays (Verilator)');
  sim
    .command('gemm')
    .description('run a random GEMM (A: MxK, W: KxN) through the RTL and the bit-exact model; compare outputs and cycles')
    .argument('<design-dir>', 'directory written by `axtpu gen`')
    .requiredOption('--M <n>', 'activation rows (streamed)')
    .requiredOption('--K <n>', 'reduction length')
    .requiredOption('--N <n>', 'output columns (filters)')
    .option('--seed <s>', 'operand seed', '1')
    .option('--tile <i>', 'tile to run on (heterogeneous designs)', '0')
    .option('--mode <i>', 'runtime cell mode', '0')
    .option('--vcd <from:to>', 'dump a VCD of this cycle window (separate trace build)')
    .option('--activity', 'count transitions at every PE multiplier input/output (separate build)')
    .option('--gate-level-sim', 'simulate the structural cells instead of LUTs (slow cross-check)')
    .option('--levels <spec>', LEVELS_HELP)
    .option('--flip <json>', 'error injection at domain outputs: per-level bit-flip probability, e.g. {"low":0.001}')
    .option('--tag <i|random>', "designs with a cell set: every weight's cell (index into the set) or 'random' per weight (default random)")
    .action(async (dir: string, o: GemmOpts, cmd: Command) => {
      const design = loadDesign(resolve(dir));
      const M = intOption(o.M, '--M', 1, 1_000_000);
      const K = intOption(o.K, '--K', 1, 100_000);
      const N = intOption(o.N, '--N', 1, 100_000);
      const seed = intOption(o.seed, '--seed', 0, 2 ** 32 - 1);
      const tile = intOption(o.tile, '--tile', 0, design.tiles.length - 1);
      const mode = intOption(o.mode, '--mode', 0, design.modes - 1);
      if (M * K + K * N > 256 * 1024 * 1024) throw new UserError('operands too large (M*K + K*N > 256 Mi)');
      const win = o.vcd ? parseWindow(o.vcd) : undefined;
      const levels = o.levels === undefined ? domainNames(design).map(() => 0) : parseLevels(o.levels, design);
      const flip = o.flip ? flipTable(design, jsonArg(o.flip, '--flip')) : undefined;
      const A = randomMat(M, K, seed);
      const W = randomMat(K, N, seed ^ 0x5bd1e995);
      const tags = gemmTags(design, K, N, seed, o.tag);
      const vcdPath = win ? join(resolve(dir), `gemm_${M}x${K}x${N}_s${seed}_${win.from}-${win.to}.vcd`) : undefined;
      const s = await ArraySim.open(design, { view: o.gateLevelSim ? 'gate' : 'sim', trace: Boolean(win), activity: Boolean(o.activity) });
      const t0 = Date.now();
      let run: Awaited<ReturnType<typeof s.gemm>>;
      try {
        if (flip) await s.setInjection(flip);
        run = await s.gemm(A, W, {
          tile,
          mode,
          seed,
          levels,
          tags,
          inject: Boolean(flip),
          activity: o.activity,
          trace: win && vcdPath ? { ...win, path: vcdPath } : undefined,
        });
      } finally {
        await s.close();
      }
      const wallMs = Date.now() - t0;
      const ref = gemmModel(design, A, W, { tile, mode, tags });
      let mismatches = 0;
      for (let i = 0; i < ref.raw.length; i++) if (ref.raw[i] !== run.out.raw[i]) mismatches++;
      const cm = cycleModel(design, M, K, N, tile);
      const t = design.tiles[tile]!;
      const colToggles = run.activity
        ? Array.from({ length: t.cols }, (_, c) => {
            let a = 0,
              b = 0,
              p = 0;
            for (let r = 0; r < t.rows; r++) {
              a += run.activity!.a[r]![c]!;
              b += run.activity!.b[r]![c]!;
              p += run.activity!.p[r]![c]!;
            }
            return { column: c, a, b, p };
          })
        : undefined;
      const result = {
        design: design.name,
        tile: t.name,
        mode,
        M,
        K,
        N,
        seed,
        tags: design.tags ? (o.tag ?? 'random') : undefined,
        outputsEqual: mismatches === 0,
        mismatches,
        cycles: run.cycles,
        cycleModel: cm.cycles,
        cyclesEqual: run.cycles === cm.cycles,
        folds: cm.folds,
        mBlocks: cm.mBlocks,
        scaleSimCycles: cm.scaleSimCycles,
        mappingEfficiency: cm.mappingEfficiency,
        utilization: cm.utilization,
        simCyclesPerSec: Math.round(run.cycles / (run.ns / 1e9)),
        wallMs,
        build: { hit: s.built.hit, ms: s.built.buildMs, view: o.gateLevelSim ? 'gate' : 'sim' },
        vcd: vcdPath,
        levels: levelNames(design, levels),
        injection: Boolean(flip),
        activity: colToggles,
      };
      emit(globals(cmd), result, (r) => {
        const lines = [
          `${r.design} tile ${r.tile} mode ${r.mode}: GEMM ${r.M}x${r.K} * ${r.K}x${r.N}, seed ${r.seed} (${r.folds} folds${r.mBlocks > 1 ? ` in ${r.mBlocks} M-blocks` : ''})`,
          `outputs: ${r.outputsEqual ? 'RTL == gemmModel (bit-exact)' : `${r.injection ? 'differ (error injection on)' : 'MISMATCH'} in ${r.mismatches} of ${r.M * r.N}`}`,
          `cycles: RTL ${r.cycles}, cycleModel ${r.cycleModel} (${r.cyclesEqual ? 'equal' : 'DIFFERENT'}); SCALE-Sim estimate ${r.scaleSimCycles}`,
          `mapping efficiency ${(r.mappingEfficiency * 100).toFixed(1)} %, utilization ${(r.utilization * 100).toFixed(1)} %`,
          `speed ${r.simCyclesPerSec.toLocaleString('en-US')} cycles/s (build ${r.build.hit ? 'cached' : `${(r.build.ms / 1000).toFixed(1)} s`})`,
        ];
        if (r.vcd) lines.push(`vcd: ${r.vcd}`);
        if (r.activity)
          lines.push(
            '',
            'transitions per column (multiplier a, b, p):',
            table(
              ['column', 'a', 'b', 'p'],
              r.activity.map((x) => [x.column, x.a, x.b, x.p]),
            ),
          );
        return lines.join('\n');
      });
      // With injection on, differing outputs are the point; without it they are a bug.
      if ((mismatches && !flip) || run.cycles !== cm.cycles) process.exitCode = 1;
    });
}
