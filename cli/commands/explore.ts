import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { emit, table } from '../../core/output.ts';
import { defaultLiberty, modelsDir } from '../../core/paths.ts';
import { intOption, numberListOption, numberOption } from '../../core/validate.ts';
import { DEFAULT_CELLS, expandCells, groupCandidates } from '../../explore/candidates.ts';
import { ESTIMATORS, type Estimator } from '../../explore/criticality-check.ts';
import { DEFAULT_SPARSITIES, sparsityLevels, wmemSearchLevels } from '../../explore/cross-layer.ts';
import { writeOutputs } from '../../explore/report.ts';
import {
  checkKernelCells,
  type ExploreResult,
  explore,
  GREEDY_ORDERS,
  type GreedyOrder,
  groupLabel,
  type Knob,
  parseBudget,
  parseKnobs,
  pickWidths,
  type SearchKind,
  savingsText,
} from '../../explore/run.ts';
import { voltageLevels } from '../../explore/voltage.ts';
import { verifyWinner, type WinnerRtl } from '../../explore/winner.ts';
import { OBJECTIVES, type Objective } from '../../flow/energy.ts';
import { checkLevels, DEFAULT_VOS_OPS } from '../../flow/vos.ts';
import { checkGranularity, DEFAULT_INPUT_GROUPS } from '../../mapping/units.ts';
import { DEFAULT_DATASET } from '../../nn/load.ts';
import { widthVariants } from '../../nn/variants.ts';
import { loadWmemModel } from '../../nn/wmem.ts';
import { loadLiberty } from '../../synth/liberty.ts';
import { loadMemoryModel } from '../../synth/memory-model.ts';
import { defaultVoltageModel } from '../../synth/voltage.ts';
import { globals } from '../context.ts';
import { wmemDrawInputs, wmemDrawOptions } from '../engine-options.ts';
import { parseVoltageList } from '../levels.ts';
import { withQueue } from '../queue.ts';

const pct = (x: number | undefined, d = 2) => (x === undefined ? '-' : (100 * x).toFixed(d));

function human(r: ExploreResult, rtl: WinnerRtl | null, rtlNote: string, paths: Record<string, string>): string {
  const lines: string[] = [];
  for (const g of r.groups) {
    lines.push(
      `${groupLabel(g)}: exact ${g.exact} val ${pct(g.baseline.valAccuracy)} % test ${pct(g.baseline.testAccuracy)} %, ` +
        `${(g.baseline.energies.accelerator / 1e6).toFixed(3)} uJ/inf accelerator (array ${(g.baseline.energies.array / 1e6).toFixed(3)}, multipliers ${(g.baseline.energies.multiplier / 1e6).toFixed(3)}; objective ${r.objective}); ` +
        `Spearman vs sensitivity: conductance ${g.spearman.conductance.toFixed(3)}, grad x act ${g.spearman.gradTimesActivation.toFixed(3)}; evaluations: search ${g.evaluations.search}, sensitivity ${g.evaluations.sensitivity}, test ${g.evaluations.test}`,
    );
    const cc = g.criticalityCheck;
    if (cc.cells.length) {
      lines.push(
        `criticality check (${cc.images} validation images, ${cc.bootstrap} bootstrap resamples, ${Math.round(100 * cc.level)} % intervals; search order: ${cc.used}, best on the probe: ${cc.chosen}):`,
      );
      lines.push(
        table(
          ['cell', ...ESTIMATORS.map((e) => `${e} vs KL`), `${cc.used} vs acc. loss`],
          cc.cells.map((c) => [
            c.cell,
            ...c.vsKl.map((x) => `${x.spearman.toFixed(2)} [${x.spearmanCi[0].toFixed(2)}, ${x.spearmanCi[1].toFixed(2)}]`),
            (() => {
              const a = c.vsAccuracy.find((x) => x.estimator === cc.used)!;
              return `${a.spearman.toFixed(2)} [${a.spearmanCi[0].toFixed(2)}, ${a.spearmanCi[1].toFixed(2)}]`;
            })(),
          ]),
        ),
      );
    } else lines.push(`criticality: ${cc.used} order (no approximate cell: the error-aware estimators model cells, not supplies, pruning or memory faults)`);
    if (cc.filters) {
      const fx = cc.filters.vsKl.find((x) => x.estimator === cc.used)!;
      lines.push(
        `filter level (${cc.filters.filters.length} sampled filters on ${cc.filters.cell}): Spearman(${cc.used}, measured KL) ${fx.spearman.toFixed(2)} [${fx.spearmanCi[0].toFixed(2)}, ${fx.spearmanCi[1].toFixed(2)}]`,
      );
    }
    lines.push(
      table(
        ['unit', cc.used, 'winner cell'],
        g.units.map((u, i) => [u.name, u.criticality.toPrecision(3), g.winner.cells[i]!]),
      ),
    );
    lines.push(
      `${g.winner.feasible ? 'winner' : 'nothing within the budget; most accurate design'}: ${savingsText(g.winner.savings, r.objective)}${g.reference ? ' (vs the full-width exact design)' : ''}, val loss ${pct(g.winner.valLoss)} pp (${Math.round(100 * r.confidence)} % bound ${pct(g.winner.valLossUpper)} pp, ${r.valImages} images), test ${pct(g.winner.testAccuracy)} % (loss ${pct(g.winner.testLoss)} pp); front ${g.front.length} points of ${g.points.length}`,
    );
    if (g.crossLayer)
      lines.push(
        `cross-layer knobs: sparsities ${g.crossLayer.sparsities.join(', ') || '-'}; weight memory ${g.crossLayer.wmemLevels.length ? `${g.crossLayer.wmemLevels.join(', ')} V under ${g.crossLayer.wmemNominal} V (${g.crossLayer.wmemModel}, ${g.crossLayer.protectMsbs} MSBs protected, seed ${g.crossLayer.wmemSeed})` : 'at nominal'}. ${g.crossLayer.scope}`,
      );
    if (g.voltage)
      lines.push(
        `voltage (X-TPU-style, per ${r.granularity === 'filter' ? 'column' : 'tile'}): levels ${g.voltage.levelsText} V under nominal ${g.voltage.nominal} V at the nominal clock ${g.voltage.clockNs} ns; heat map in the report. ${g.voltage.scope}`,
      );
  }
  if (rtl)
    lines.push(
      `RTL (${rtl.designDir}, ${rtl.images} test images): accuracy ${pct(rtl.rtlAccuracy)} % vs ${rtl.clean ? `the clean engine ${pct(rtl.engineAccuracy)} % (clean run); with the search's timing-error draws ${pct(rtl.injected!.rtlAccuracy)} % vs the estimate ${pct(rtl.softwareEstimate)} % (${rtl.injected!.wrongOps} PE operations wrong)` : `software ${pct(rtl.softwareEstimate)} %`} -> ${rtl.equal ? 'EQUAL' : 'DIFFERENT'}; ` +
        `${rtl.cyclesPerInference.toFixed(0)} cycles/inf${rtl.energy ? `, ${(rtl.energy.pjPerInference.total / 1e6).toFixed(3)} uJ/inf accelerator (RTL cycles; memories and DRAM from the model)` : ''}`,
    );
  else lines.push(`RTL verification: not run (${rtlNote})`);
  lines.push(`journal ${r.journal.entries} points (${r.journal.fresh} new), ${r.seconds.toFixed(1)} s`);
  lines.push(`report: ${paths.html}`);
  return lines.join('\n');
}

export function registerExplore(program: Command): void {
  wmemDrawOptions(
    program
      .command('explore')
      .description(
        'closed-loop exploration: least-energy cell assignment within an accuracy budget (XAI-guided), Pareto front, HTML report, winner verified in RTL',
      )
      .option('--model <onnx>', 'float ONNX model')
      .option('--dataset <name>', 'fmnist | mnist | <IDX directory>', DEFAULT_DATASET)
      .option('--cells <list>', `candidate cell ids or globs, comma-separated (default '${DEFAULT_CELLS}')`)
      .option('--budget <loss>', 'allowed accuracy loss vs the exact design: 1% or 0.01', '1%')
      .option('--granularity <g>', 'layer | filter | kernel (kernel: per-weight cell-select hardware, at most 3 candidates per scheme)', 'layer')
      .option('--input-groups <n>', `kernel granularity: input-channel groups per layer and column (default ${DEFAULT_INPUT_GROUPS})`)
      .option('--search <s>', 'xai-greedy | nsga2 | exhaustive', 'xai-greedy')
      .option(
        '--objective <o>',
        'energy the search minimizes: multiplier (cells) | array (+ PE, accumulators, leakage) | accelerator (+ buffers, DRAM)',
        'accelerator',
      )
      .option('--memory-model <json>', 'memory energy model (SRAM/DRAM table, docs/memory.md; default models/memory-model.json)')
      .option('--rows <n>', 'array rows', '16')
      .option('--cols <n>', 'array columns', '16')
      .option('--out <dir>', 'output directory (report, front, journal)')
      .option('--val-images <n>', 'validation hold-out (last N training images, disjoint from the calibration images)', '2000')
      .option('--confidence <p>', "one-sided confidence that a design's paired validation loss vs exact is within the budget (0.5 = point estimate)", '0.9')
      .option('--screen-images <n>', 'first-stage validation images: greedy drops a trial early when it is confidently over budget (0 = off; default val/4)')
      .option('--test-images <n>', 'test images for final numbers and RTL (default: all)')
      .option('--calib-images <n>', 'training images for the XAI criticality', '64')
      .option('--xai-metric <m>', 'conductance | gxa: XAI score reported beside the error-aware ones (the search order is --criticality)', 'conductance')
      .option(
        '--greedy-order <o>',
        "surrogate (cell moves ranked by the whole design's output KL on the estimator images, galloped and bisected, then a measured fill) | path (cell steps by predicted per-unit damage per pJ saved, bisected, then a measured fill) | per-energy (units, least criticality per pJ first) | criticality (least critical unit first)",
        'surrogate',
      )
      .option(
        '--greedy-step <s>',
        'bisect (1 + log2(cells) trials per unit; default) | scan (every cell from the most aggressive on; default with --knobs voltage)',
      )
      .option('--criticality <e>', `what orders greedy and seeds NSGA-II: ${ESTIMATORS.join(' | ')} | auto`, 'noise-kl')
      .option('--probe <cell>', 'cell for the one-layer-at-a-time sensitivity (default: median-energy candidate)')
      .option('--keep-dominated', 'keep candidate cells dominated in (energy, MAE, MRE) (default: dropped)')
      .option('--population <n>', 'NSGA-II population', '16')
      .option('--generations <n>', 'NSGA-II generations', '10')
      .option('--seed <n>', 'NSGA-II seed', '1')
      .option('--front-test <n>', 'front points re-measured on the test split, the winner included (default 3; 1 with --demo)')
      .option('--workers <n>', 'engine worker threads (default: one per 2 G MACs of work, up to the core count)')
      .option('--queue <url>', 'compute candidate accuracies on the BullMQ/Redis queue at redis://host:port (`axtpu worker`); same results, same journal')
      .option('--no-rtl', 'skip generating and verifying the winner in RTL')
      .option('--no-energy', 'RTL run without the synthesized per-op energy estimate')
      .option(
        '--knobs <list>',
        "what the search decides per unit: 'cells', plus 'cv' (control-variate compensation per layer, docs/cv.md), 'voltage' (supply level per unit at the nominal clock, docs/vos.md), 'prune' (sparsity per layer), 'wmem' (weight-memory supply per layer), 'width' (width-scaled model variant) (docs/explore.md, Cross-layer knobs)",
        'cells',
      )
      .option('--levels <list>', 'with --knobs voltage: supply levels below nominal the units may run at, in volts (e.g. 1.6,1.5,1.4)')
      .option(
        '--vos-ops <n>',
        'with --knobs voltage: PE operations simulated per cell, level and layer stream for the timing-error models',
        String(DEFAULT_VOS_OPS),
      )
      .option('--clock-margin <x>', 'with --knobs voltage: clock period = slowest PE critical path at nominal x (1 + x)', '0')
      .option('--widths <list>', 'with --knobs width: the variants to search (default: all of the family; the full width is always searched)')
      .option('--sparsities <list>', `with --knobs prune: sparsities a layer may be pruned to besides dense (default ${DEFAULT_SPARSITIES.join(',')})`)
      .option('--wmem-levels <list>', 'with --knobs wmem: weight-memory supplies below nominal, in volts (e.g. 1.5,1.4,1.3)'),
    '--knobs wmem',
  )
    .option('--demo', 'preset: shipped LeNet-5, Fashion-MNIST, 1% budget, layer granularity, default cells, --front-test 1, out synth-reports/demo/')
    .action(async (o: Record<string, string | boolean | undefined>, cmd: Command) => {
      if (o.demo) {
        o.model ??= join(modelsDir, 'lenet5-fmnist.onnx');
        o.out ??= 'synth-reports/demo';
      }
      if (!o.model) throw new UserError("required option '--model <onnx>' not specified (or use --demo)");
      if (!o.out) throw new UserError("required option '--out <dir>' not specified");
      const model = String(o.model);
      if (!existsSync(model) || !statSync(model).isFile()) throw new UserError(`--model: no such file: ${model}`);
      // Cheap validation first: every bad input fails before any heavy step.
      const budget = parseBudget(String(o.budget));
      const granularity = checkGranularity(String(o.granularity));
      const search = String(o.search);
      if (search !== 'xai-greedy' && search !== 'nsga2' && search !== 'exhaustive')
        throw new UserError(`--search '${search}': expected xai-greedy, nsga2 or exhaustive`);
      const objective = String(o.objective);
      if (!(OBJECTIVES as readonly string[]).includes(objective)) throw new UserError(`--objective '${objective}': expected ${OBJECTIVES.join(', ')}`);
      const memoryModel = o.memoryModel === undefined ? undefined : String(o.memoryModel);
      loadMemoryModel(memoryModel);
      const metric = String(o.xaiMetric);
      if (metric !== 'conductance' && metric !== 'gxa') throw new UserError(`--xai-metric '${metric}': expected conductance or gxa`);
      const criticality = String(o.criticality);
      if (criticality !== 'auto' && !(ESTIMATORS as readonly string[]).includes(criticality))
        throw new UserError(`--criticality '${criticality}': expected ${ESTIMATORS.join(', ')} or auto`);
      const greedyOrder = String(o.greedyOrder);
      if (!(GREEDY_ORDERS as readonly string[]).includes(greedyOrder))
        throw new UserError(`--greedy-order '${greedyOrder}': expected ${GREEDY_ORDERS.join(', ')}`);
      const greedyStep = o.greedyStep === undefined ? undefined : String(o.greedyStep);
      if (greedyStep !== undefined && greedyStep !== 'scan' && greedyStep !== 'bisect')
        throw new UserError(`--greedy-step '${greedyStep}': expected scan or bisect`);
      const knobs = parseKnobs(String(o.knobs), { granularity, queue: o.queue !== undefined });
      let levels: number[] | undefined;
      if (knobs.includes('voltage')) {
        if (o.levels === undefined) throw new UserError('--knobs voltage needs --levels (supply voltages below nominal, e.g. 1.6,1.5,1.4)');
        const nominal = loadLiberty(defaultLiberty()).nomVoltage;
        levels = voltageLevels(parseVoltageList(String(o.levels)), nominal);
        checkLevels(levels, defaultVoltageModel(nominal));
      } else if (o.levels !== undefined) throw new UserError("--levels needs --knobs with 'voltage' (e.g. --knobs cells,voltage)");
      const cross = crossLayerOptions(o, knobs, model);
      const clockMargin = numberOption(String(o.clockMargin), '--clock-margin', 0, 10);
      const vosOps = intOption(String(o.vosOps), '--vos-ops', 100, 100_000_000);
      const cells = o.cells === undefined ? DEFAULT_CELLS : String(o.cells);
      const groups = groupCandidates(expandCells(cells), { exactOnly: knobs.some((k) => k !== 'cells') });
      if (granularity === 'kernel') checkKernelCells(groups);
      if (o.inputGroups !== undefined && granularity !== 'kernel') throw new UserError('--input-groups needs --granularity kernel');
      const inputGroups = o.inputGroups === undefined ? undefined : intOption(String(o.inputGroups), '--input-groups', 1, 1024);
      const rows = intOption(String(o.rows), '--rows', 2, 64);
      const cols = intOption(String(o.cols), '--cols', 2, 64);
      const out = resolve(String(o.out));
      const testImages = o.testImages === undefined ? undefined : intOption(String(o.testImages), '--test-images', 1, 10_000_000);
      const r: ExploreResult = await withQueue(o.queue, (remote) =>
        explore({
          model,
          dataset: String(o.dataset),
          cells,
          budget,
          granularity,
          inputGroups,
          search: search as SearchKind,
          objective: objective as Objective,
          memoryModel,
          rows,
          cols,
          out,
          valImages: intOption(String(o.valImages), '--val-images', 10, 10_000_000),
          confidence: numberOption(String(o.confidence), '--confidence', 0.5, 0.9999),
          screenImages: o.screenImages === undefined ? undefined : intOption(String(o.screenImages), '--screen-images', 0, 10_000_000),
          testImages,
          calibImages: intOption(String(o.calibImages), '--calib-images', 1, 10_000),
          xaiMetric: metric,
          criticality: criticality as Estimator | 'auto',
          greedyOrder: greedyOrder as GreedyOrder,
          greedyStep,
          probe: o.probe as string | undefined,
          keepDominated: o.keepDominated === true,
          nsgaPopulation: intOption(String(o.population), '--population', 4, 1000),
          nsgaGenerations: intOption(String(o.generations), '--generations', 1, 1000),
          seed: intOption(String(o.seed), '--seed', 0, 2 ** 31),
          frontTestMax: intOption(String(o.frontTest ?? (o.demo ? 1 : 3)), '--front-test', 1, 1000),
          workers: o.workers === undefined ? undefined : intOption(String(o.workers), '--workers', 1, 64),
          remote,
          knobs,
          levels,
          vosOps,
          clockMargin,
          ...cross,
        }),
      );
      let rtl: WinnerRtl | null = null;
      let rtlNote = '';
      const g = r.groups[r.winnerGroup]!;
      if (o.rtl === false) rtlNote = '--no-rtl';
      else if (g.width === 1 && g.winner.cells.every((c) => c === g.exact))
        rtlNote = 'no approximate assignment fits the budget; the winner is the exact design';
      else
        rtl = await verifyWinner(g, {
          // The winning width variant's own file (its family's member).
          model: g.model,
          dataset: String(o.dataset),
          testImages: r.testImages,
          noEnergy: o.energy === false,
          memoryModel,
          wmemModel: cross.wmemModel,
        });
      const paths = writeOutputs(out, r, rtl, rtlNote);
      emit(globals(cmd), { ...r, rtl, rtlNote, outputs: paths }, () => human(r, rtl, rtlNote, paths));
      if (rtl && !rtl.equal) process.exitCode = 1;
    });
}

/** --sparsities, --wmem-*, the width family: validated here (one line, exit 2) and refused without their knob. */
function crossLayerOptions(o: Record<string, string | boolean | undefined>, knobs: Knob[], model: string) {
  const prune = knobs.includes('prune');
  const wmem = knobs.includes('wmem');
  const needsWmem = "--knobs with 'wmem' (e.g. --knobs cells,wmem)";
  if (!prune && o.sparsities !== undefined) throw new UserError("--sparsities needs --knobs with 'prune' (e.g. --knobs cells,prune)");
  if (!wmem && o.wmemLevels !== undefined) throw new UserError(`--wmem-levels needs ${needsWmem}`);
  const draw = wmemDrawInputs(o, wmem, needsWmem);
  let widths: number[] | undefined;
  if (knobs.includes('width')) {
    const all = widthVariants(model);
    if (all.length < 2) throw new UserError(`--knobs width: ${model} has no width variants (a 'variants' manifest in its .json; models/README.md)`);
    if (o.widths !== undefined) widths = pickWidths(all, numberListOption(String(o.widths), '--widths'), model).map((v) => v.width);
  } else if (o.widths !== undefined) throw new UserError("--widths needs --knobs with 'width' (e.g. --knobs cells,width)");
  if (!prune && !wmem) return { widths };
  const sparsities = prune
    ? sparsityLevels(o.sparsities === undefined ? DEFAULT_SPARSITIES : numberListOption(String(o.sparsities), '--sparsities'))
    : undefined;
  if (!draw) return { widths, sparsities };
  if (o.wmemLevels === undefined) throw new UserError('--knobs wmem needs --wmem-levels (weight-memory supplies below nominal, e.g. 1.5,1.4)');
  const w = { model: loadWmemModel(draw.modelFile), seed: draw.seed, protectMsbs: draw.protectMsbs, nominal: loadLiberty(defaultLiberty()).nomVoltage };
  const wmemLevels = wmemSearchLevels(numberListOption(String(o.wmemLevels), '--wmem-levels'), w);
  return {
    widths,
    sparsities,
    wmemLevels,
    protectMsbs: w.protectMsbs,
    wmemSeed: w.seed,
    wmemModel: draw.modelFile,
  };
}
