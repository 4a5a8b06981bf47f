import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { checkOutputDir, writeDirAtomic } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { emit, table } from '../../core/output.ts';
import { defaultLiberty } from '../../core/paths.ts';
import { render } from '../../core/templates.ts';
import { intOption, numberOption } from '../../core/validate.ts';
import { characterize, checkLevels, closurePeriod, DEFAULT_VOS_OPS, type StreamKind, type VosReport, vosSubject } from '../../flow/vos.ts';
import { vosChartContext } from '../../flow/vos-chart.ts';
import { loadLiberty } from '../../synth/liberty.ts';
import { defaultVoltageModel } from '../../synth/voltage.ts';
import { globals } from '../context.ts';
import { parseVoltageList } from '../levels.ts';

interface VosCliOptions {
  levels: string;
  stream: string;
  clockMargin: string;
  ops: string;
  model?: string;
  liberty?: string;
  out: string;
  force?: boolean;
  opensta: boolean;
  corner: string[];
}

function human(r: VosReport, out: string): string {
  const pct = (x: number) => `${(100 * x).toFixed(3)} %`;
  const blocks = r.targets.map((t) => {
    const c = t.clock;
    const head =
      `${t.kind} ${t.cell} (${t.module}, ${t.gates} gates): clock ${c.periodNs.toFixed(3)} ns = static ${c.staticNs.toFixed(3)} ns x ${(1 + c.margin).toFixed(3)}` +
      (c.openStaNs !== null ? `; OpenSTA ${c.openStaNs.toFixed(3)} ns (ours ${(100 * c.relDiffOpenSta!).toFixed(2)} %)` : '');
    const rows = t.levels.map((l) => {
      const flips = l.bitFlip.map((p, i) => [i, p] as const).filter(([, p]) => p > 0);
      const top = flips.length ? Math.max(...flips.map(([i]) => i)) : -1;
      return [
        l.volts,
        l.delayScale.toFixed(3),
        l.staticFits ? 'yes' : 'no',
        pct(l.errorRate),
        flips.length ? `${flips.length} (top ${top})` : '-',
        l.energyPj.toFixed(3),
        pct(l.glitchShare),
        l.fit.best,
      ];
    });
    const byLayer = t.levels[0]?.layers;
    const layerTable = byLayer
      ? table(
          ['error rate per layer stream', ...t.levels.map((l) => `${l.volts} V`)],
          byLayer.map((x, i) => [x.layer, ...t.levels.map((l) => pct(l.layers![i]!.errorRate))]),
        )
      : undefined;
    return [
      head,
      table(['V', 'delay x', 'static fits', 'error rate', 'bits flipped', 'pJ/op', 'glitch share', 'best model'], rows),
      ...(layerTable ? ['', layerTable] : []),
    ].join('\n');
  });
  return [
    `${r.subject}: ${r.stream.ops} operations per level (${r.stream.source}); ${r.library} ${r.nominalVolts} V nominal`,
    ...blocks,
    `models ${join(out, 'vos-models.json')}`,
    `figure ${join(out, 'vos.svg')}`,
  ].join('\n\n');
}

export function registerVos(program: Command): void {
  const vos = program.command('vos').description('voltage overscaling: timed gate-level simulation and timing-error models per supply voltage');
  vos
    .command('characterize')
    .description('error models and energy/op vs voltage of a cell or of every PE of a design, clocked at timing closure')
    .argument('<target>', 'cell id (e.g. exact_u8) or design directory (rtl-out/<name>)')
    .requiredOption('--levels <list>', 'supply voltages, comma separated: volts (1.8,1.6,1.4) or level names of the design')
    .option('--stream <kind>', 'operands: layer (LeNet-5 layer streams) or uniform', 'layer')
    .option('--clock-margin <x>', 'clock period = static critical path at nominal x (1 + x)', '0')
    .option('--ops <n>', 'PE operations simulated per voltage', String(DEFAULT_VOS_OPS))
    .option('--model <onnx>', 'model of the layer streams (default models/lenet5-fmnist.onnx)')
    .option('--liberty <file>', 'liberty library (default osu018 or $AXTPU_LIBERTY)')
    .option(
      '--corner <liberty>',
      'the same library at another supply: fit the delay model to it (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--no-opensta', 'skip the OpenSTA cross-check of the clock')
    .requiredOption('--out <dir>', 'output folder (vos-models.json, vos.svg)')
    .option('--force', 'replace an existing output folder of an older axtpu (no marker file)')
    .action(async (target: string, o: VosCliOptions, cmd: Command) => {
      if (o.stream !== 'layer' && o.stream !== 'uniform') throw new UserError(`--stream must be layer or uniform, got '${o.stream}'`);
      const margin = numberOption(o.clockMargin, '--clock-margin', Number.NEGATIVE_INFINITY, 10);
      closurePeriod(1, margin);
      const ops = intOption(o.ops, '--ops', 100, 100_000_000);
      const liberty = resolve(o.liberty ?? defaultLiberty());
      const subject = vosSubject(target);
      const levels = parseVoltageList(o.levels, subject.design);
      checkLevels(levels, defaultVoltageModel(loadLiberty(liberty).nomVoltage));
      const out = resolve(o.out);
      checkOutputDir(out, { force: o.force });
      const r = await characterize(target, {
        levels,
        stream: o.stream as StreamKind,
        margin,
        ops,
        liberty,
        model: o.model,
        opensta: o.opensta,
        corners: o.corner,
      });
      await writeDirAtomic(
        out,
        (dir) => {
          writeFileSync(join(dir, 'vos-models.json'), `${JSON.stringify(r, null, 1)}\n`);
          writeFileSync(join(dir, 'vos.svg'), render('flow/vos.svg', vosChartContext(r)));
        },
        { force: o.force },
      );
      emit(globals(cmd), r, (x) => human(x, out));
    });
}
