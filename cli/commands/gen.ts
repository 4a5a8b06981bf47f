import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { emit } from '../../core/output.ts';
import { rtlOutDir } from '../../core/paths.ts';
import { intOption, jsonArg } from '../../core/validate.ts';
import { DEFAULT_ACC_ENTRIES, MAX_ACC_ENTRIES, MAX_BUFFER_KIB, MAX_DRAM_BYTES_PER_CYCLE, MIN_ACC_ENTRIES } from '../../generators/array/config.ts';
import { resolveDesign, writeDesign } from '../../generators/array/index.ts';
import { globals } from '../context.ts';

const MIN_DIM_MAX_DIM = '2..64';

interface GenOpts {
  rows: string;
  cols: string;
  cell?: string;
  map?: string;
  tiles?: string;
  domains?: string;
  psumBits: string;
  accEntries: string;
  ubKib?: string;
  wbufKib?: string;
  dramBw?: string;
  name?: string;
  out?: string;
  force?: boolean;
}

export function registerGen(program: Command): void {
  program
    .command('gen')
    .description('generate a weight-stationary systolic array: synthesis view, simulation view, UPF, config.json')
    .requiredOption('--rows <n>', `array rows (${MIN_DIM_MAX_DIM})`)
    .requiredOption('--cols <n>', `array columns (${MIN_DIM_MAX_DIM})`)
    .option('--cell <id>', 'one cell for the whole array, e.g. exact_u8, drum_k6_u8')
    .option('--map <json>', 'cell map (inline JSON or file): {"column":[..]} | {"row":[..]} | {"pe":[[..]]} | {"modes":[..]}')
    .option('--tiles <json>', 'heterogeneous tiles: [{"name","rows","cols","cell"|"map","domains"}]')
    .option('--domains <json>', 'voltage domains: {"levels":[{"name","volts"}],"domains":[{"name","columns":[..]}]}')
    .option('--psum-bits <n>', 'partial-sum / accumulator width (16..32)', '32')
    .option(
      '--acc-entries <n>',
      `accumulator rows per tile (${MIN_ACC_ENTRIES}..${MAX_ACC_ENTRIES}); a GEMM with several K-folds runs in M-blocks of at most this many rows`,
      String(DEFAULT_ACC_ENTRIES),
    )
    .option('--ub-kib <n>', `activation buffer, KiB (1..${MAX_BUFFER_KIB}; default TPU v1's 24 MiB scaled to the array: 96 at 16x16)`)
    .option('--wbuf-kib <n>', `weight FIFO, KiB (1..${MAX_BUFFER_KIB}; default 4 weight tiles, at least 1)`)
    .option('--dram-bw <bytes>', `DRAM interface bytes per cycle (1..${MAX_DRAM_BYTES_PER_CYCLE}; default TPU v1's per-column rate: 3 at 16 columns)`)
    .option('--name <name>', 'design name (default derived from size and cells)')
    .option('--out <dir>', 'output directory (default rtl-out/<name>); an existing one is replaced only if axtpu wrote it')
    .option('--force', 'replace an existing output folder of an older axtpu (no marker file)')
    .action(async (o: GenOpts, cmd: Command) => {
      const config: Record<string, unknown> = {
        rows: intOption(o.rows, '--rows', 2, 64),
        cols: intOption(o.cols, '--cols', 2, 64),
        psumBits: intOption(o.psumBits, '--psum-bits', 16, 32),
        accEntries: intOption(o.accEntries, '--acc-entries', MIN_ACC_ENTRIES, MAX_ACC_ENTRIES),
      };
      if (o.ubKib !== undefined) config.ubKiB = intOption(o.ubKib, '--ub-kib', 1, MAX_BUFFER_KIB);
      if (o.wbufKib !== undefined) config.wbufKiB = intOption(o.wbufKib, '--wbuf-kib', 1, MAX_BUFFER_KIB);
      if (o.dramBw !== undefined) config.dramBytesPerCycle = intOption(o.dramBw, '--dram-bw', 1, MAX_DRAM_BYTES_PER_CYCLE);
      if (o.name) config.name = o.name;
      if (o.cell) config.cell = o.cell;
      if (o.map) config.map = jsonArg(o.map, '--map');
      if (o.tiles) config.tiles = jsonArg(o.tiles, '--tiles');
      if (o.domains) config.domains = jsonArg(o.domains, '--domains');
      const design = resolveDesign(config, 'gen');
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
        modes: design.modes,
        files: written.files.length,
      };
      emit(globals(cmd), result, (r) =>
        [
          `wrote ${r.dir} (${r.files} files)`,
          `design ${r.name}: ${r.tiles.map((x) => `${x.name} ${x.rows}x${x.cols} domains [${x.domains.join(', ')}]`).join('; ')}`,
          `cells ${r.cells.join(', ')} (${r.signed ? 'signed' : 'unsigned'}), psum ${r.psumBits} bits, ${r.accEntries} accumulator rows per tile${r.modes > 1 ? `, ${r.modes} runtime modes` : ''}`,
          `memories: activation buffer ${r.memory.ubKiB} KiB (${r.memory.ubWords} x ${r.memory.ubWordBytes} B), weight FIFO ${r.memory.wbufKiB} KiB (${r.memory.wbufRows} rows), DRAM ${r.memory.dramBytesPerCycle} B/cycle`,
          `synthesis view: synth.f   simulation view: sim.f   power intent: ${r.name}.upf`,
        ].join('\n'),
      );
    });
}
