import { extname } from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { emit, table } from '../../core/output.ts';
import { expandImportPaths, importLut, importVerilogCells } from '../../generators/multipliers/importer.ts';
import {
  builtinCatalogue,
  type Cell,
  type CellMetrics,
  cellMetrics,
  getCell,
  listExternalIds,
  lutBytes,
  writeCellVerilog,
} from '../../generators/multipliers/index.ts';
import type { BuiltinCell } from '../../generators/multipliers/registry.ts';
import { selectCells } from '../../generators/multipliers/select.ts';
import { verifyCells } from '../../generators/multipliers/verify.ts';
import { globals } from '../context.ts';

const f2 = (x: number) => Number(x.toFixed(2));
const f4 = (x: number) => Number(x.toFixed(4));

function summary(c: Cell, m: CellMetrics | undefined) {
  return {
    id: c.id,
    family: c.family,
    bits: c.bits,
    signed: c.signed,
    params: c.params,
    description: c.describe(),
    metrics: m,
  };
}

/** All cells: built-in catalogue plus the user's imported ones. */
function allCells(): Cell[] {
  return [...builtinCatalogue(), ...listExternalIds().map(getCell)];
}

/** Exit 1 after the report is flushed (verification failures are results, not usage errors). */
async function failAfterFlush(): Promise<never> {
  await new Promise<void>((r) => process.stdout.write('', () => r()));
  process.exit(1);
}

export function registerMult(program: Command): void {
  const mult = program.command('mult').description('approximate multiplier cells: list, show, generate Verilog, verify exhaustively, import, export LUTs');

  mult
    .command('list')
    .description('list built-in and imported cells with their error metrics')
    .action((_o: unknown, cmd: Command) => {
      const rows = allCells().map((c) => summary(c, c.bits <= 8 ? cellMetrics(c) : undefined));
      emit(
        globals(cmd),
        rows,
        (rs) =>
          `${table(
            ['id', 'family', 'MAE', 'WCE', 'EP%', 'MRE%', 'bias'],
            rs.map((r) => [
              r.id,
              r.family,
              f2(r.metrics?.mae ?? NaN),
              r.metrics?.wce ?? NaN,
              f2(r.metrics?.epPct ?? NaN),
              f2(r.metrics?.mrePct ?? NaN),
              f2(r.metrics?.bias ?? NaN),
            ]),
          )}\n${rs.length} cells`,
      );
    });

  mult
    .command('show <id>')
    .description('parameters, metrics and Verilog path of one cell (any canonical id)')
    .action((id: string, _o: unknown, cmd: Command) => {
      const c = getCell(id);
      const verilog = writeCellVerilog(c);
      const nc = c as Partial<BuiltinCell>;
      const res = { ...summary(c, c.bits <= 8 ? cellMetrics(c) : undefined), moduleName: c.moduleName, gates: nc.netlist?.().gateCount(), verilog };
      emit(globals(cmd), res, (r) =>
        [
          `${r.id}: ${r.description}`,
          `  family ${r.family}, ${r.bits}x${r.bits} ${r.signed ? 'signed' : 'unsigned'}, params ${JSON.stringify(r.params)}`,
          r.gates !== undefined ? `  ${r.gates} gates (2-input AND/OR/XOR + NOT)` : '',
          r.metrics
            ? `  MAE ${f2(r.metrics.mae)} (${f4(r.metrics.maePct)} %)  WCE ${r.metrics.wce} (${f4(r.metrics.wcePct)} %)  MRE ${f4(r.metrics.mrePct)} %  WCRE ${f2(r.metrics.wcrePct)} %\n` +
              `  EP ${f2(r.metrics.epPct)} %  MSE ${f2(r.metrics.mse)}  bias ${f2(r.metrics.bias)}`
            : '  (no exhaustive metrics for widths > 8)',
          `  Verilog: ${r.verilog} (module ${r.moduleName})`,
        ]
          .filter(Boolean)
          .join('\n'),
      );
    });

  mult
    .command('gen <ids...>')
    .description('write structural Verilog rtl-out/cells/<module>.v for the given cells')
    .action((ids: string[], _o: unknown, cmd: Command) => {
      const cells = ids.map(getCell); // validate all ids before writing anything
      const res = cells.map((c) => ({ id: c.id, verilog: writeCellVerilog(c) }));
      emit(globals(cmd), res, (rs) => rs.map((r) => `${r.id}: ${r.verilog}`).join('\n'));
    });

  mult
    .command('verify [ids...]')
    .description("prove Verilog == model: one Verilator model with all selected cells, all 65,536 pairs each; ids or globs ('ext:*')")
    .option('--all', 'every built-in and imported cell')
    .action(async (ids: string[], opts: { all?: boolean }, cmd: Command) => {
      if (!opts.all && ids.length === 0) throw new UserError('mult verify: give cell ids or --all');
      const cells = opts.all ? allCells().filter((c) => c.bits <= 8) : selectCells(ids, 'mult verify');
      const r = await verifyCells(cells);
      emit(globals(cmd), r, (rep) => {
        const lines = rep.cells.map((v) =>
          v.pass
            ? `PASS ${v.id}`
            : `FAIL ${v.id}: ${v.mismatches} mismatches; first: ${v.first.map((m) => `(a=${m.a}, b=${m.b}) expected ${m.expected} got ${m.got}`).join('; ')}`,
        );
        const failed = rep.cells.filter((v) => !v.pass).length;
        lines.push(
          `${rep.cells.length - failed}/${rep.cells.length} cells pass; build ${rep.buildHit ? 'cached' : 'fresh'} ${(rep.buildMs / 1000).toFixed(1)} s, simulation ${(rep.runMs / 1000).toFixed(1)} s, total ${(rep.totalMs / 1000).toFixed(1)} s`,
        );
        return lines.join('\n');
      });
      if (!r.pass) await failAfterFlush();
    });

  mult
    .command('import <paths...>')
    .description('import Verilog cells (files or folders of EvoApprox-style modules, one Verilator build for all) or a TFApprox .bin LUT as ext:<name>')
    .option('--module <name>', 'the Verilog module to import (one file; default the module named like the file)')
    .option('--ports <binding>', 'bind our ports to the module ports, e.g. a=B,b=A,p=O (default a=A,b=B,p=O)')
    .option('--signed', "operands and product are two's complement")
    .option('--unsigned', 'import as unsigned even if the cell behaves like a signed multiplier')
    .option('--as <id>', 'cell name (ext:<name>; one file only); default the module name')
    .option('--force', 'replace cells of the same name')
    .action(
      async (paths: string[], opts: { module?: string; ports?: string; signed?: boolean; unsigned?: boolean; as?: string; force?: boolean }, cmd: Command) => {
        if (opts.signed && opts.unsigned) throw new UserError('mult import: give --signed or --unsigned, not both');
        const signed = opts.signed ? true : opts.unsigned ? false : undefined;
        const t0 = performance.now();
        let cells: Cell[];
        if (paths.length === 1 && extname(paths[0]!).toLowerCase() === '.bin') {
          if (!opts.as) throw new UserError('mult import <file.bin>: --as <name> is required');
          if (opts.module || opts.ports) throw new UserError('mult import <file.bin>: --module/--ports apply to Verilog files only');
          cells = [await importLut(paths[0]!, { as: opts.as, signed, force: opts.force })];
        } else {
          const files = expandImportPaths(paths);
          const bin = files.find((f) => extname(f).toLowerCase() === '.bin');
          if (bin) throw new UserError(`mult import: ${bin}: import .bin LUTs one at a time with --as`);
          if (files.length > 1 && (opts.module || opts.as)) throw new UserError('mult import: --module and --as apply to a single file');
          cells = await importVerilogCells(
            files.map((file) => ({ file, module: opts.module, as: opts.as })),
            { ports: opts.ports, signed, force: opts.force },
          );
        }
        const seconds = (performance.now() - t0) / 1000;
        const rows = cells.map((c) => summary(c, cellMetrics(c)));
        emit(globals(cmd), rows.length === 1 ? rows[0] : { cells: rows, seconds }, () =>
          rows.length === 1
            ? `imported ${rows[0]!.id}: ${rows[0]!.description}\n  MAE ${f2(rows[0]!.metrics!.mae)}  WCE ${rows[0]!.metrics!.wce}  EP ${f2(rows[0]!.metrics!.epPct)} %  bias ${f2(rows[0]!.metrics!.bias)}`
            : `${table(
                ['id', 'signed', 'MAE', 'WCE', 'EP%', 'bias'],
                rows.map((r) => [r.id, r.signed ? 'yes' : 'no', f2(r.metrics!.mae), r.metrics!.wce, f2(r.metrics!.epPct), f2(r.metrics!.bias)]),
              )}\nimported ${rows.length} cells in ${seconds.toFixed(1)} s (one Verilator build)`,
        );
      },
    );

  mult
    .command('lut <id>')
    .description("export the cell's LUT as a TFApprox .bin (65,536 little-endian uint16, index (a<<8)|b)")
    .requiredOption('--out <file>', 'output .bin file')
    .action((id: string, opts: { out: string }, cmd: Command) => {
      const c = getCell(id);
      if (c.bits !== 8) throw new UserError(`mult lut: '${id}' is ${c.bits}-bit; TFApprox LUTs are 8x8`);
      const bytes = lutBytes(c);
      writeFileAtomic(opts.out, bytes);
      emit(globals(cmd), { id: c.id, out: opts.out, bytes: bytes.length }, (r) => `${r.id}: wrote ${r.bytes} bytes to ${r.out}`);
    });
}
