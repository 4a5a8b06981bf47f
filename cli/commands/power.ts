import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { shortHash } from '../../core/hash.ts';
import { emit, markdownTable, table } from '../../core/output.ts';
import { defaultLiberty, synthReportsDir } from '../../core/paths.ts';
import { mapLimit } from '../../core/pool.ts';
import { render } from '../../core/templates.ts';
import { intOption, numberOption } from '../../core/validate.ts';
import { isDesignArg, type PeGlitchReport, peGlitchEnergy } from '../../flow/pe-glitch.ts';
import { builtinCatalogue, type Cell, cellMetrics } from '../../generators/multipliers/index.ts';
import { selectCells } from '../../generators/multipliers/select.ts';
import {
  type CellEnergyOptions,
  type CellEnergyReport,
  cellEnergy,
  cellGlitchEnergy,
  type GlitchReport,
  resolveStream,
  synthesizeCell,
  synthesizeCellBank,
} from '../../synth/power.ts';
import { energyRows, fmt, openStaRows, streamText, writePowerReport } from '../../synth/report.ts';
import { globals } from '../context.ts';

interface PowerCliOptions {
  all?: boolean;
  uniform?: string;
  seed?: string;
  stream?: string;
  vdd?: string;
  clock?: string;
  opensta?: boolean;
  liberty?: string;
  outputLoad?: string;
  inputSlew?: string;
  vth?: string;
  alpha?: string;
  timed?: boolean;
  ops?: string;
  model?: string;
}

interface CatalogueRow {
  id: string;
  family: string;
  areaUm2: number;
  energyPj: number;
  internalPj: number;
  switchingPj: number;
  criticalPathNs: number;
  maePct: number;
  wcePct: number;
}

export function powerOptions(o: PowerCliOptions): CellEnergyOptions {
  if (o.uniform !== undefined && o.stream !== undefined) throw new UserError('give either --uniform N or --stream file, not both');
  if (o.opensta && o.vdd !== undefined) throw new UserError('--opensta compares at the library nominal voltage; drop --vdd');
  const liberty = resolve(o.liberty ?? defaultLiberty());
  const voltageModel: CellEnergyOptions['voltageModel'] = {};
  if (o.vth !== undefined) voltageModel.vth = numberOption(o.vth, '--vth', 0, 5);
  if (o.alpha !== undefined) voltageModel.alpha = numberOption(o.alpha, '--alpha', 0.5, 3);
  return {
    liberty,
    uniform: o.uniform !== undefined ? intOption(o.uniform, '--uniform', 2, 100_000_000) : undefined,
    seed: o.seed !== undefined ? intOption(o.seed, '--seed', 0, 2 ** 32 - 1) : undefined,
    streamFile: o.stream,
    vdd: o.vdd !== undefined ? numberOption(o.vdd, '--vdd', 0.05, 10) : undefined,
    clockMHz: o.clock !== undefined ? numberOption(o.clock, '--clock', 0.001, 100_000) : undefined,
    outputLoadPf: o.outputLoad !== undefined ? numberOption(o.outputLoad, '--output-load', 0, 100) : undefined,
    inputSlewNs: o.inputSlew !== undefined ? numberOption(o.inputSlew, '--input-slew', 0, 100) : undefined,
    voltageModel,
    opensta: Boolean(o.opensta),
  };
}

function glitchTable(rows: GlitchReport[]): string {
  return [
    `timed simulation at a ${fmt(rows[0]!.periodNs)} ns clock (liberty NLDM delays, inertial) vs every delay zero, same stream`,
    table(
      ['cell', 'path ns', 'timed pJ/op', 'zero-delay pJ/op', 'glitch share', 'transitions/op', 'zero-delay', 'wrong ops'],
      rows.map((r) => [
        r.id,
        Number(r.criticalPathNs.toFixed(3)),
        Number(r.timedPj.toFixed(3)),
        Number(r.zeroDelayPj.toFixed(3)),
        `${(100 * r.glitchShare).toFixed(1)} %`,
        Number(r.transitionsPerOp.toFixed(1)),
        Number(r.zeroDelayTransitionsPerOp.toFixed(1)),
        r.wrongOps,
      ]),
    ),
  ].join('\n');
}

function peGlitchTable(r: PeGlitchReport): string {
  const stream = r.stream.kind === 'layer' ? 'LeNet-5 layer streams' : 'uniform PE stream';
  return [
    `design ${r.design}: ${stream}, ${r.stream.ops} cycles per PE; ${r.vdd !== null ? `${r.vdd} V (delays x ${r.delayScale.toFixed(3)})` : 'nominal supply'}, ${r.clockMHz !== null ? `${r.clockMHz} MHz clock` : "clock at each PE's timing closure"}`,
    'timed simulation (liberty NLDM delays, inertial) vs every delay zero, same stream; dynamic energy per PE cycle',
    table(
      ['PE', 'cell', 'mode', 'gates', 'clock ns', 'timed pJ/op', 'zero-delay pJ/op', 'glitch share', 'transitions/op', 'zero-delay', 'wrong ops'],
      r.rows.map((x) => [
        x.module,
        x.cell,
        x.mode,
        x.gates,
        Number(x.periodNs.toFixed(3)),
        Number(x.timedPj.toFixed(3)),
        Number(x.zeroDelayPj.toFixed(3)),
        `${(100 * x.glitchShare).toFixed(1)} %`,
        Number(x.transitionsPerOp.toFixed(1)),
        Number(x.zeroDelayTransitionsPerOp.toFixed(1)),
        x.wrongOps,
      ]),
    ),
  ].join('\n');
}

function humanReport(r: CellEnergyReport): string {
  const e = r.energy;
  const lines = [
    `${r.cell.id}: ${fmt(r.areaUm2)} um^2, ${r.cellCount} cells (${r.libraryName}); stream ${streamText(r)}`,
    `  ${fmt(e.vdd)} V, ${fmt(e.clockMHz)} MHz: ${fmt(e.perOpPj.total)} pJ/op, ${fmt(e.powerMw.total)} mW; critical path ${fmt(e.criticalPathNs)} ns; ${fmt(e.togglesPerOp)} toggles/op`,
  ];
  if (r.opensta) {
    lines.push(table(['component', 'axtpu pJ/op', 'OpenSTA pJ/op', 'difference'], openStaRows(r)));
    lines.push('  (OpenSTA internal halved: sta 2.0.17 charges rise + fall table energy per transition; OpenSTA propagates');
    lines.push('   activity probabilistically and is exact only without reconvergent fan-out)');
  } else
    lines.push(
      table(
        ['component', 'pJ/op'],
        energyRows(r).map((x) => [String(x[0]).replace(/\*/g, ''), String(x[1]).replace(/\*/g, '')]),
      ),
    );
  return lines.join('\n');
}

function writeCatalogueReport(
  rows: CatalogueRow[],
  o: { liberty: string; stream: string; vdd?: number; clockMHz: number; options: CellEnergyOptions },
): string {
  const key = shortHash({ ...o.options, ids: rows.map((r) => r.id) }, 12);
  const dir = join(synthReportsDir(), `catalogue-${key}`);
  writeFileAtomic(
    join(dir, 'power-all.json'),
    `${JSON.stringify({ liberty: o.liberty, stream: o.stream, vdd: o.vdd ?? null, clockMHz: o.clockMHz, rows }, null, 2)}\n`,
  );
  const md = join(dir, 'power-all.md');
  writeFileAtomic(
    md,
    render('synth/catalogue.md', {
      liberty: o.liberty,
      stream: o.stream,
      vdd: o.vdd !== undefined ? `${o.vdd} V` : 'nominal',
      clockMHz: o.clockMHz,
      table: markdownTable(
        ['cell', 'family', 'area um^2', 'energy pJ/op', 'internal pJ', 'switching pJ', 'delay ns', 'MAE %', 'WCE %'],
        rows.map((c) => [
          c.id,
          c.family,
          Math.round(c.areaUm2),
          c.energyPj.toFixed(3),
          c.internalPj.toFixed(3),
          c.switchingPj.toFixed(3),
          c.criticalPathNs.toFixed(3),
          c.maePct.toFixed(4),
          c.wcePct.toFixed(3),
        ]),
      ),
    }),
  );
  return md;
}

async function catalogue(opts: CellEnergyOptions): Promise<{ rows: CatalogueRow[]; liberty: string; stream: string; report: string }> {
  const cells: Cell[] = builtinCatalogue();
  // Synthesis 2-wide (Yosys is the slow part), then the gate-level energy runs one by one.
  await mapLimit(cells, 2, (c) => synthesizeCell(c, opts.liberty));
  const { stream, info } = resolveStream(opts);
  const rows: CatalogueRow[] = [];
  for (const c of cells) {
    const r = await cellEnergy(c, { ...opts, stream, opensta: false });
    writePowerReport({ ...r, stream: info });
    const m = cellMetrics(c);
    rows.push({
      id: c.id,
      family: c.family,
      areaUm2: r.areaUm2,
      energyPj: r.energy.perOpPj.total,
      internalPj: r.energy.perOpPj.internal,
      switchingPj: r.energy.perOpPj.switching + r.energy.perOpPj.inputSwitching,
      criticalPathNs: r.energy.criticalPathNs,
      maePct: m.maePct,
      wcePct: m.wcePct,
    });
  }
  rows.sort((a, b) => a.energyPj - b.energyPj);
  const liberty = opts.liberty ?? defaultLiberty();
  const streamLabel =
    info.kind === 'file' ? `${info.path} (${info.pairs} pairs)` : `${info.kind} ${info.pairs} pairs${info.seed !== undefined ? `, seed ${info.seed}` : ''}`;
  const report = writeCatalogueReport(rows, { liberty, stream: streamLabel, vdd: opts.vdd, clockMHz: opts.clockMHz ?? 100, options: opts });
  return { rows, liberty, stream: streamLabel, report };
}

export function registerPower(program: Command): void {
  program
    .command('power')
    .description('energy per multiplication from gate-level switching activity (liberty tables + 1/2 C V^2), area and delay')
    .argument('[cells...]', 'cell ids, e.g. exact_u8 drum_k6_u8 (with --timed: or one design directory)')
    .option('--all', 'every built-in catalogue cell, sorted by energy')
    .option('--uniform <n>', 'uniform random operand pairs (default 65536, seeded)')
    .option('--seed <n>', 'seed of the uniform stream (default 1)')
    .option('--stream <file>', 'operand stream file (.ab: raw (a,b) byte pairs)')
    .option('--vdd <volts>', 'supply voltage (default: the library nominal)')
    .option('--clock <MHz>', 'clock frequency, one operation per cycle (default 100)')
    .option('--opensta', 'also run OpenSTA on the same netlist and print both')
    .option('--liberty <file>', 'liberty library (default osu018 or $AXTPU_LIBERTY)')
    .option('--output-load <pF>', 'load on each output bit (default 0)')
    .option('--input-slew <ns>', 'input transition time (default 0.1)')
    .option('--vth <volts>', 'threshold voltage of the delay model (default 0.45 V below 3 V nominal, else 0.6 V)')
    .option('--alpha <a>', 'alpha of the alpha-power delay law (default 1.3)')
    .option('--timed', 'timed gate-level simulation: glitch share of the dynamic energy per cell, or per PE of a design directory (docs/vos.md)')
    .option('--ops <n>', 'design: PE cycles of its LeNet-5 layer stream (default 20000; --uniform N: a uniform PE stream instead)')
    .option('--model <onnx>', 'design: the model of the layer stream (default models/lenet5-fmnist.onnx)')
    .action(async (ids: string[], o: PowerCliOptions, cmd: Command) => {
      const opts = powerOptions(o);
      const g = globals(cmd);
      if (o.all) {
        if (ids.length) throw new UserError('give cell ids or --all, not both');
        if (opts.opensta) throw new UserError('--opensta is per cell; not with --all');
        const r = await catalogue(opts);
        emit(g, r, (x) =>
          [
            `liberty ${x.liberty}; ${x.stream}; ${opts.vdd !== undefined ? `${opts.vdd} V` : 'nominal supply'}; ${opts.clockMHz ?? 100} MHz`,
            table(
              ['cell', 'area um^2', 'energy pJ/op', 'internal', 'switching', 'delay ns', 'MAE %', 'WCE %'],
              x.rows.map((c) => [
                c.id,
                Math.round(c.areaUm2),
                Number(c.energyPj.toFixed(3)),
                Number(c.internalPj.toFixed(3)),
                Number(c.switchingPj.toFixed(3)),
                Number(c.criticalPathNs.toFixed(3)),
                Number(c.maePct.toFixed(4)),
                Number(c.wcePct.toFixed(3)),
              ]),
            ),
            `report: ${x.report}`,
          ].join('\n'),
        );
        return;
      }
      if (!ids.length) throw new UserError('power: give cell ids or --all');
      const designArg = ids.find(isDesignArg);
      if (designArg !== undefined) {
        if (!o.timed) throw new UserError(`power: ${designArg} is a design directory; its PEs are reported with --timed`);
        if (ids.length > 1) throw new UserError('power --timed: give one design directory or cell ids, not both');
        if (opts.opensta) throw new UserError('--timed and --opensta are separate reports; give one');
        if (o.stream !== undefined)
          throw new UserError('power --timed <design>: --stream is a cell operand file; a design takes --uniform N or its layer stream (--ops N)');
        if (o.uniform !== undefined && o.ops !== undefined) throw new UserError('give either --uniform N or --ops N, not both');
        const ops = opts.uniform ?? (o.ops !== undefined ? intOption(o.ops, '--ops', 2, 100_000_000) : undefined);
        const r = await peGlitchEnergy(designArg, { ...opts, peStream: opts.uniform !== undefined ? 'uniform' : 'layer', ops, model: o.model });
        emit(g, r, peGlitchTable);
        return;
      }
      if (o.ops !== undefined || o.model !== undefined) throw new UserError('--ops and --model are for a design directory (power --timed <design dir>)');
      const cells = selectCells(ids, 'power');
      if (o.timed) {
        if (opts.opensta) throw new UserError('--timed and --opensta are separate reports; give one');
        for (const c of cells) resolveStream(opts, c.bits);
        const rows: GlitchReport[] = [];
        for (const c of cells) rows.push(await cellGlitchEnergy(c, opts));
        emit(g, rows, (x) => glitchTable(x));
        return;
      }
      for (const c of cells) resolveStream(opts, c.bits); // a bad stream fails before any synthesis
      const reports: (CellEnergyReport & { reportFile: string })[] = [];
      // Several cells: few Yosys runs for all (a bank per core); OpenSTA needs each cell as top.
      const bank = cells.length > 1 && !opts.opensta ? await synthesizeCellBank(cells, opts.liberty) : undefined;
      for (const [i, c] of cells.entries()) {
        // Each cell resolves its own stream: the uniform one is generated at the cell's width.
        const r = await cellEnergy(c, opts, bank?.[i]);
        const w = writePowerReport(r);
        reports.push({ ...r, reportFile: w.md });
      }
      emit(g, reports.length === 1 ? reports[0] : reports, () => reports.map((r) => `${humanReport(r)}\n  report: ${r.reportFile}`).join('\n\n'));
    });
}
