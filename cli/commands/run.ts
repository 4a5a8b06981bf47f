import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { emit, table } from '../../core/output.ts';
import { defaultLiberty, synthReportsDir } from '../../core/paths.ts';
import { intOption, jsonArg, numberOption } from '../../core/validate.ts';
import { designFrom, energySummary, type FlowReport, LAYER_HEADERS, layerRows, runFlow, wmemText } from '../../flow/run.ts';
import { readVosModels } from '../../flow/vos-inject.ts';
import { cellSetOption } from '../../generators/array/config.ts';
import type { BUFFER_COUNT_KEYS } from '../../mapping/memory.ts';
import { DEFAULT_Q, Q_RANGE } from '../../nn/cv.ts';
import { DEFAULT_DATASET } from '../../nn/load.ts';
import { parsePruneSpec, pruneLine } from '../../nn/prune.ts';
import { libertyNode, loadMemoryModel } from '../../synth/memory-model.ts';
import { globals } from '../context.ts';
import { PRUNE_HELP, WIDTH_HELP, widthModel, wmemInputs, wmemOptions } from '../engine-options.ts';
import { LEVELS_HELP, parseLevels } from '../levels.ts';

interface RunOpts {
  model: string;
  width?: string;
  design?: string;
  cv?: string;
  cvQ: string;
  rows?: string;
  cols?: string;
  cell?: string;
  map?: string;
  cellSet?: string;
  psumBits?: string;
  zeroSkip?: boolean;
  prune?: string;
  wmemVolts?: string;
  protectMsbs?: string;
  wmemSeed?: string;
  wmemModel?: string;
  dataset: string;
  limit?: string;
  batch: string;
  mode: string;
  assign?: string;
  vcd?: string;
  activity: string;
  clock: string;
  domains?: string;
  levels?: string;
  flip?: string;
  vosModels?: string;
  vosSeed: string;
  inFlight?: string;
  harnesses: string;
  energy: boolean;
  memoryModel?: string;
}

function human(r: FlowReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const e = r.energy;
  const u = (pj: number) => (pj / 1e6).toFixed(3);
  return [
    `model ${r.model}  design ${r.design}  dataset ${r.dataset}  images ${r.images}`,
    ...(r.prune ? [pruneLine(r.prune)] : []),
    ...(r.wmem ? [wmemText(r.wmem)] : []),
    `accuracy ${pct(r.accuracy)} (array)   ${pct(r.engineAccuracy)} (software engine)   predictions differing ${r.predMismatches}   accumulator words differing ${r.layerMismatches}`,
    ...(r.timingErrors
      ? [
          `timing errors (--vos-models, seed ${r.timingErrors.seed}): ${r.timingErrors.wrongOps} PE operations drawn wrong, ${r.timingErrors.wrongResults} column results changed; the engine reference drew the same`,
        ]
      : r.injection
        ? [
            `error injection on (--flip): differences from the clean software engine are the injected errors' effect` +
              (r.firstMismatchLayer ? `, first in layer ${r.firstMismatchLayer}` : ', none occurred'),
          ]
        : r.firstMismatchLayer
          ? [`FIRST DIFFERING LAYER ${r.firstMismatchLayer}`]
          : []),
    `cycles/inference ${r.cyclesPerInference.toFixed(1)} (cycleModel ${r.modelCyclesPerInference.toFixed(1)}${r.cyclesMatchModel ? ', equal per layer' : ', DIFFERENT'})   analytical path ${r.analyticalMatchesRtl ? 'equals' : 'DIFFERS from'} the RTL run`,
    bufferLine(r),
    e
      ? `energy ${energySummary(e)}\n  parts (uJ): cells ${u(e.pjPerInference.cell)}, rest of PE ${u(e.pjPerInference.pe)}, acc logic ${u(e.pjPerInference.acc)}, ` +
        (e.pjPerInference.cvColumn + e.pjPerInference.cvCorrection > 0
          ? `control variate ${u(e.pjPerInference.cvColumn + e.pjPerInference.cvCorrection)} (column ${u(e.pjPerInference.cvColumn)}, correction ${u(e.pjPerInference.cvCorrection)}), `
          : '') +
        `acc memory ${u(e.pjPerInference.accMemRead + e.pjPerInference.accMemWrite + e.pjPerInference.accMemLeakage)}, logic leakage ${u(e.pjPerInference.leakage)}, ` +
        `activation buffer ${u(e.pjPerInference.ubRead + e.pjPerInference.ubWrite + e.pjPerInference.ubLeakage)}, ` +
        `weight FIFO ${u(e.pjPerInference.wbufRead + e.pjPerInference.wbufWrite + e.pjPerInference.wbufLeakage)}, DRAM ${u(e.pjPerInference.dram)} (memories and DRAM: model, docs/memory.md)`
      : 'energy not estimated (--no-energy)',
    '',
    table(LAYER_HEADERS, layerRows(r)),
    '',
    `harness ${(r.harness.cyclesPerSecond / 1e6).toFixed(3)} M cycles/s over all GEMMs` +
      (r.harness.plainCyclesPerSecond ? `, ${(r.harness.plainCyclesPerSecond / 1e6).toFixed(3)} M on the plain build` : '') +
      `; total ${r.seconds.total.toFixed(1)} s (RTL ${r.seconds.rtl.toFixed(1)} s, energy ${r.seconds.energy.toFixed(1)} s)`,
    ...(r.vcd ? [`vcd ${r.vcd}`] : []),
    ...(r.reportDir ? [`report ${r.reportDir}/run.md`] : []),
  ].join('\n');
}

/** --vcd layer:from:to (layer names contain '/', so split from the right). */
function parseVcd(v: string, dir: string): { layer: string; from: number; to: number; path: string } {
  const m = /^(.+):(\d+):(\d+)$/.exec(v);
  if (!m) throw new UserError(`--vcd must be <layer>:<from>:<to> (cycles), got '${v}'`);
  const from = Number(m[2]);
  const to = Number(m[3]);
  if (!(to > from)) throw new UserError(`--vcd: window end ${to} must be after its start ${from}`);
  if (to - from > 100_000) throw new UserError(`--vcd: window of ${to - from} cycles is too large (at most 100000; VCDs are ~26 KB per cycle)`);
  return { layer: m[1]!, from, to, path: resolve(dir, `${m[1]!.replace(/[^\w.-]+/g, '_')}_${from}_${to}.vcd`) };
}

export function registerRun(program: Command): void {
  wmemOptions(
    program
      .command('run')
      .description('RTL-in-the-loop inference: every conv/dense layer on the generated array (Verilator), per-layer cycles and energy')
      .requiredOption('--model <path>', "float ONNX model (quantized for the design's cells) or a quantized model directory")
      .option('--width <w>', WIDTH_HELP)
      .option('--design <dir>', 'design directory written by `axtpu gen` (rtl-out/<name>)')
      .option('--rows <n>', 'or generate: array rows')
      .option('--cols <n>', 'array columns')
      .option('--cell <id>', 'one cell for the whole array')
      .option('--map <json>', 'column map {"column":[..]} (inline JSON or file)')
      .option('--cell-set <ids>', 'per-weight cell select: comma-separated cells every PE holds (2..4; --assign picks per kernel)')
      .option('--psum-bits <n>', 'partial-sum width (16..32)', '32')
      .option('--zero-skip', 'with generator flags: zero-skipping PEs (a zero stationary weight isolates the multiplier; docs/array.md)')
      .option('--prune <spec>', PRUNE_HELP),
  )
    .option('--dataset <name>', 'fmnist | mnist | <IDX directory> (test split; calibration on its training split)', DEFAULT_DATASET)
    .option('--limit <n>', 'first N test images')
    .option('--batch <n>', 'images per GEMM batch (M = images x output positions)', '250')
    .option('--mode <n>', 'runtime mode of multi-mode designs', '0')
    .option('--assign <json>', 'assignment the design must hold (checked per multiply; exit 2 if it cannot)')
    .option('--vcd <layer:from:to>', "dump a VCD of cycles [from,to) of that layer's first GEMM into the report directory")
    .option('--activity <how>', 'per-PE activity counters: sample (first batch) | all | off', 'sample')
    .option('--domains <json>', 'with generator flags: voltage domains {"levels":[..],"domains":[..]} (see axtpu gen)')
    .option('--levels <spec>', LEVELS_HELP)
    .option(
      '--flip <json>',
      'error injection at domain outputs: per-level bit-flip probability, e.g. {"nominal":[0,..,0.01,..]} (mismatches reported, not fatal)',
    )
    .option(
      '--vos-models <json>',
      "timing errors: per-voltage error models (vos characterize, or explore's vos-models-<scheme>.json); each column draws at its domain's level (--levels), the engine reference draws the same",
    )
    .option('--vos-seed <n>', 'seed of the timing-error draws (explore uses 1)', '1')
    .option('--harnesses <n>', 'plain-build harness processes running batches side by side', '2')
    .option('--in-flight <n>', 'batches in flight (default 2 per harness)')
    .option('--clock <MHz>', 'clock for energy (leakage per cycle)', '100')
    .option('--memory-model <json>', 'memory energy model (SRAM/DRAM table, docs/memory.md; default models/memory-model.json)')
    .option('--no-energy', 'skip the energy estimate')
    .option('--cv <spec>', "control-variate compensation (designs generated with --control-variate): 'all', layer names or JSON (docs/cv.md)")
    .option('--cv-q <q>', `fractional bits of the compensation coefficients (${Q_RANGE[0]}..${Q_RANGE[1]})`, String(DEFAULT_Q))
    .action(async (o: RunOpts, cmd: Command) => {
      const model = widthModel(o.model, o.width);
      let design: string | Record<string, unknown>;
      if (o.design) {
        if (o.rows || o.cols || o.cell || o.map || o.cellSet || o.domains || o.zeroSkip)
          throw new UserError('give either --design <dir> or generator flags (--rows --cols --cell|--map), not both');
        design = o.design;
      } else {
        if (!o.rows || !o.cols || (!o.cell && !o.map && !o.cellSet))
          throw new UserError('give --design <dir>, or --rows, --cols and --cell (or --map, --cell-set)');
        design = {
          rows: intOption(o.rows, '--rows', 2, 64),
          cols: intOption(o.cols, '--cols', 2, 64),
          psumBits: intOption(o.psumBits ?? '32', '--psum-bits', 16, 32),
        };
        if (o.cell) design.cell = o.cell;
        if (o.map) design.map = jsonArg(o.map, '--map');
        if (o.cellSet) design.cellSet = cellSetOption(o.cellSet);
        if (o.domains) design.domains = jsonArg(o.domains, '--domains');
        if (o.zeroSkip) design.zeroSkip = true;
      }
      if (!['sample', 'all', 'off'].includes(o.activity)) throw new UserError(`--activity must be sample, all or off, got '${o.activity}'`);
      // Validated before any heavy step: a bad file is one line and exit 2.
      if (o.energy !== false) libertyNode(loadMemoryModel(o.memoryModel), defaultLiberty());
      const report = await runFlow({
        model,
        design,
        dataset: o.dataset,
        limit: o.limit === undefined ? undefined : intOption(o.limit, '--limit', 1, 10_000_000),
        batch: intOption(o.batch, '--batch', 1, 100_000),
        mode: intOption(o.mode, '--mode', 0, 255),
        assign: o.assign,
        vcd: o.vcd ? parseVcd(o.vcd, synthReportsDir()) : undefined,
        activity: o.activity as 'sample' | 'all' | 'off',
        levels: o.levels === undefined ? undefined : parseLevels(o.levels, designFrom(design)),
        flip: o.flip === undefined ? undefined : (jsonArg(o.flip, '--flip') as Record<string, number | number[]>),
        timingErrors: o.vosModels === undefined ? undefined : { report: readVosModels(o.vosModels), seed: intOption(o.vosSeed, '--vos-seed', 0, 2 ** 31 - 1) },
        harnesses: intOption(o.harnesses, '--harnesses', 1, 8),
        inFlight: o.inFlight === undefined ? undefined : intOption(o.inFlight, '--in-flight', 1, 32),
        clockMHz: numberOption(o.clock, '--clock', 0.001, 10_000),
        memoryModel: o.memoryModel,
        noEnergy: o.energy === false,
        cv: o.cv,
        cvQ: intOption(o.cvQ, '--cv-q', Q_RANGE[0], Q_RANGE[1]),
        prune: o.prune === undefined ? undefined : parsePruneSpec(o.prune),
        wmem: wmemInputs(o as unknown as Record<string, unknown>),
        onBatch: globals(cmd).json || !process.stderr.isTTY ? undefined : (d, t) => process.stderr.write(`\rbatch ${d}/${t}${d === t ? '\n' : ''}`),
      });
      emit(globals(cmd), report, human);
      // Without injection the array must compute exactly what the software engine computes: any
      // difference fails the run. With --flip, differences are the asked-for effect (reported).
      // Fitted timing errors are drawn on both sides, so they compare word for word too.
      const mismatch = (!report.injection || report.timingErrors !== undefined) && (report.layerMismatches > 0 || report.predMismatches > 0);
      if (mismatch || !report.cyclesMatchModel) {
        process.stderr.write(
          `axtpu: array and software engine disagree (${report.layerMismatches} accumulator words, ${report.predMismatches} predictions` +
            `${report.firstMismatchLayer ? `, first in layer ${report.firstMismatchLayer}` : ''}${report.cyclesMatchModel ? '' : ', cycles differ from cycleModel'}); see the per-layer mismatch column\n`,
        );
        process.exitCode = 1;
      }
    });
}

/** Buffer accesses per inference, summed over layers: the RTL's counters, checked against the mapping layer's count. */
function bufferLine(r: FlowReport): string {
  const per = (k: (typeof BUFFER_COUNT_KEYS)[number]) => (r.layers.reduce((s, l) => s + l.buffers[k], 0) / r.images).toFixed(0);
  return (
    `buffer accesses/inference: activation buffer ${per('ubReads')} reads ${per('ubWrites')} writes, weight FIFO ${per('wbufReads')} rows, ` +
    `accumulators ${per('accReads')} reads ${per('accWrites')} writes, DRAM weights ${per('dramWeightBytes')} B ` +
    `(RTL counters ${r.buffersMatchModel ? 'equal' : 'DIFFER from'} the mapping count)`
  );
}
