import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { emit } from '../../core/output.ts';
import { rtlOutDir } from '../../core/paths.ts';
import { intOption, jsonArg } from '../../core/validate.ts';
import {
  ANALYTICAL_MAX_DIM,
  checkRtlSize,
  DEFAULT_ACC_ENTRIES,
  DEFAULT_CV_FOLDS,
  MAX_ACC_ENTRIES,
  MAX_BUFFER_KIB,
  MAX_CV_FOLDS,
  MAX_DRAM_BYTES_PER_CYCLE,
  MIN_ACC_ENTRIES,
  MIN_DIM,
  RTL_MAX_DIM,
} from '../../generators/array/config.ts';
import { cellSetOption, resolveDesign, writeDesign } from '../../generators/array/index.ts';
import { preset, presetNames } from '../../generators/array/presets.ts';
import { globals } from '../context.ts';

const DIM_RANGE = `${MIN_DIM}..${RTL_MAX_DIM}`;

interface GenOpts {
  preset?: string;
  rows?: string;
  cols?: string;
  cell?: string;
  map?: string;
  cellSet?: string;
  tiles?: string;
  domains?: string;
  psumBits: string;
  accEntries?: string;
  ubKib?: string;
  wbufKib?: string;
  dramBytesPerCycle?: string;
  clockGating?: boolean;
  zeroSkip?: boolean;
  controlVariate?: boolean;
  cvFolds?: string;
  name?: string;
  out?: string;
  force?: boolean;
}

export function registerGen(program: Command): void {
  program
    .command('gen')
    .description('generate a weight-stationary systolic array: synthesis view, simulation view, UPF, config.json')
    .option('--preset <name>', `published accelerator: ${presetNames().join(', ')} (size and memories; other flags override)`)
    .option('--rows <n>', `array rows (${DIM_RANGE}; required without --preset)`)
    .option('--cols <n>', `array columns (${DIM_RANGE}; required without --preset)`)
    .option('--cell <id>', 'one cell for the whole array, e.g. exact_u8, drum_k6_u8')
    .option('--map <json>', 'cell map (inline JSON or file): {"column":[..]} | {"row":[..]} | {"pe":[[..]]} | {"modes":[..]}')
    .option(
      '--cell-set <ids>',
      'per-weight cell select: comma-separated cells (2..4) every PE holds; each weight carries a 1-2 bit tag naming its cell (kernel-level assignment)',
    )
    .option('--tiles <json>', 'heterogeneous tiles: [{"name","rows","cols","cell"|"map","domains"}]')
    .option('--domains <json>', 'voltage domains: {"levels":[{"name","volts"}],"domains":[{"name","columns":[..]}]}')
    .option('--psum-bits <n>', 'partial-sum / accumulator width (16..32)', '32')
    .option(
      '--acc-entries <n>',
      `accumulator rows per tile (${MIN_ACC_ENTRIES}..${MAX_ACC_ENTRIES}, default ${DEFAULT_ACC_ENTRIES}); a GEMM with several K-folds runs in M-blocks of at most this many rows`,
    )
    .option('--ub-kib <n>', `activation (unified) buffer in KiB (1..${MAX_BUFFER_KIB}; default TPU v1's scaled to the array)`)
    .option('--wbuf-kib <n>', `weight FIFO in KiB (1..${MAX_BUFFER_KIB}; default 4 weight tiles)`)
    .option('--dram-bytes-per-cycle <n>', `DRAM interface bandwidth (1..${MAX_DRAM_BYTES_PER_CYCLE}; default TPU v1's per column)`)
    .option('--clock-gating', 'clock-gate the PEs per column: padding columns and columns with no wavefront in flight do not clock')
    .option('--zero-skip', 'zero-skipping PEs: a PE whose stationary weight is zero isolates its multiplier (constant operands) and adds nothing')
    .option(
      '--control-variate',
      'control-variate compensation hardware: activation-sum column, coefficient rows, correction after the accumulators (docs/cv.md)',
    )
    .option(
      '--cv-folds <n>',
      `coefficient rows per tile with --control-variate (1..${MAX_CV_FOLDS}, default ${DEFAULT_CV_FOLDS}): a GEMM may have up to this many N-folds`,
    )
    .option('--name <name>', 'design name (default derived from size and cells)')
    .option('--out <dir>', 'output directory (default rtl-out/<name>); an existing one is replaced only if axtpu wrote it')
    .option('--force', 'replace an existing output folder of an older axtpu (no marker file)')
    .action(async (o: GenOpts, cmd: Command) => {
      const base: Record<string, unknown> = o.preset ? { ...preset(o.preset).config } : {};
      if (!o.preset && (!o.rows || !o.cols)) throw new UserError('gen: give --rows and --cols (or --preset <name>)');
      // Sizes up to the analytical limit parse; checkRtlSize then refuses what RTL cannot take, in one line.
      const config: Record<string, unknown> = { ...base, psumBits: intOption(o.psumBits, '--psum-bits', 16, 32) };
      if (o.rows) config.rows = intOption(o.rows, '--rows', MIN_DIM, ANALYTICAL_MAX_DIM);
      if (o.cols) config.cols = intOption(o.cols, '--cols', MIN_DIM, ANALYTICAL_MAX_DIM);
      if (o.accEntries) config.accEntries = intOption(o.accEntries, '--acc-entries', MIN_ACC_ENTRIES, MAX_ACC_ENTRIES);
      if (o.ubKib) config.ubKiB = intOption(o.ubKib, '--ub-kib', 1, MAX_BUFFER_KIB);
      if (o.wbufKib) config.wbufKiB = intOption(o.wbufKib, '--wbuf-kib', 1, MAX_BUFFER_KIB);
      if (o.dramBytesPerCycle) config.dramBytesPerCycle = intOption(o.dramBytesPerCycle, '--dram-bytes-per-cycle', 1, MAX_DRAM_BYTES_PER_CYCLE);
      if (o.clockGating) config.clockGating = true;
      if (o.zeroSkip) config.zeroSkip = true;
      if (o.cvFolds && !o.controlVariate) throw new UserError('gen: --cv-folds needs --control-variate');
      if (o.controlVariate) config.controlVariate = o.cvFolds ? { folds: intOption(o.cvFolds, '--cv-folds', 1, MAX_CV_FOLDS) } : {};
      if (o.name) config.name = o.name;
      if (o.cell) config.cell = o.cell;
      if (o.map) config.map = jsonArg(o.map, '--map');
      if (o.cellSet) config.cellSet = cellSetOption(o.cellSet);
      if (o.tiles) config.tiles = jsonArg(o.tiles, '--tiles');
      if (o.domains) config.domains = jsonArg(o.domains, '--domains');
      const design = resolveDesign(config, 'gen');
      checkRtlSize(design, 'gen');
      const dir = o.out ? resolve(o.out) : join(rtlOutDir(), design.name);
      const written = await writeDesign(design, dir, { force: o.force });
      const t = design.tiles;
      const result = {
        dir,
        name: design.name,
        tiles: t.map((x) => ({ name: x.name, rows: x.rows, cols: x.cols, domains: x.domains.map((d) => d.name) })),
        cells: design.cellIds,
        signed: design.signed,
        psumBits: design.psumBits,
        accEntries: design.accEntries,
        memory: design.memory,
        clockGating: design.clockGating,
        zeroSkip: design.zeroSkip,
        controlVariate: design.controlVariate ?? null,
        modes: design.modes,
        cellSet: design.tags?.cells ?? null,
        files: written.files.length,
      };
      emit(globals(cmd), result, (r) =>
        [
          `wrote ${r.dir} (${r.files} files)`,
          `design ${r.name}: ${r.tiles.map((x) => `${x.name} ${x.rows}x${x.cols} domains [${x.domains.join(', ')}]`).join('; ')}`,
          `cells ${r.cells.join(', ')} (${r.signed ? 'signed' : 'unsigned'}), psum ${r.psumBits} bits, ${r.accEntries} accumulator rows per tile${r.modes > 1 ? `, ${r.modes} runtime modes` : ''}${r.clockGating ? ', clock-gated columns' : ''}${r.zeroSkip ? ', zero-skipping PEs' : ''}${r.controlVariate ? `, control variate (${r.controlVariate.folds} coefficient rows)` : ''}${r.cellSet ? `, per-weight cell select (tags: ${r.cellSet.map((c, i) => `${i}=${c}`).join(' ')})` : ''}`,
          `memories: activation buffer ${r.memory.ubKiB} KiB (${r.memory.ubWords} x ${r.memory.ubWordBytes} B), weight FIFO ${r.memory.wbufKiB} KiB (${r.memory.wbufRows} rows), DRAM ${r.memory.dramBytesPerCycle} B/cycle`,
          `synthesis view: synth.f   simulation view: sim.f   power intent: ${r.name}.upf`,
        ].join('\n'),
      );
    });
}
