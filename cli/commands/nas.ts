import { resolve } from 'node:path';
import type { Command } from 'commander';
import { checkOutputDir, ensureDir } from '../../core/atomic.ts';
import { UserError } from '../../core/errors.ts';
import { emit, table } from '../../core/output.ts';
import { intOption, numberOption } from '../../core/validate.ts';
import { DEFAULT_CELLS, expandCells, groupCandidates } from '../../explore/candidates.ts';
import { parseBudget } from '../../explore/run.ts';
import { type FinalResult, finalWinner } from '../../nas/final.ts';
import { markOutput, writeNasOutputs } from '../../nas/report.ts';
import { type NasOptions, type NasResult, nas, nasSplits } from '../../nas/run.ts';
import { readSpace } from '../../nas/space.ts';
import { requireTorch } from '../../nn/finetune.ts';
import { DEFAULT_DATASET } from '../../nn/load.ts';
import { globals } from '../context.ts';
import { torchTrainInputs } from '../engine-options.ts';
import { withQueue } from '../queue.ts';

const pct = (x: number) => (100 * x).toFixed(2);

function human(r: NasResult, final: FinalResult | null, paths: Record<string, string>): string {
  const front = new Set(r.front.map((p) => p.key));
  const lines = [
    `${r.candidates.length} candidates (${r.journal.fresh} new), ${r.search} search, ${r.cellSearch} cell search, objective ${r.objective}; stopped: ${r.stopped.reason}`,
    table(
      ['', 'architecture', 'M MAC', 'exact val %', 'val % w/ cells', 'test % w/ cells', `nJ/inf ${r.objective}`, 'saved %', 'train s', 'cells s', 'cells'],
      r.candidates.map((c) => [
        c.key === r.winner ? 'W' : front.has(c.key) ? '*' : '',
        c.label,
        (c.macs / 1e6).toFixed(3),
        pct(c.exact.valAccuracy),
        pct(c.approx.valAccuracy),
        pct(c.approx.testAccuracy),
        (c.approx.energyPj / 1e3).toFixed(1),
        (100 * c.approx.saving).toFixed(1),
        c.fromJournal ? 'journal' : c.seconds.train.toFixed(1),
        c.fromJournal ? 'journal' : c.seconds.explore.toFixed(1),
        c.approx.cells.join(' '),
      ]),
    ),
    `* front, W winner (least energy within ${pct(r.budget)} % of the best validation accuracy); ${r.seconds.perFreshCandidate.toFixed(1)} s per new candidate, ${r.seconds.total.toFixed(1)} s total`,
  ];
  if (final)
    lines.push(
      `final ${final.label} (${final.train.epochs} epochs, ${final.train.images} images): exact test ${pct(final.exact.testAccuracy)} %, with cells test ${pct(final.winner.testAccuracy)} % at ${(final.winner.energyPj / 1e3).toFixed(1)} nJ/inf (${(100 * final.winner.saving).toFixed(1)} % saved); ` +
        (final.rtl
          ? `RTL ${final.rtl.images} test images ${pct(final.rtl.rtlAccuracy)} % vs engine ${pct(final.rtl.softwareEstimate)} % -> ${final.rtl.equal ? 'EQUAL' : 'DIFFERENT'}`
          : `RTL not run (${final.rtlNote})`),
    );
  lines.push(`report: ${paths.html}`);
  return lines.join('\n');
}

export function registerNas(program: Command): void {
  program
    .command('nas')
    .description(
      'architecture search together with per-layer approximate multipliers (NSGA-II over architectures, cells by exploration), PyTorch proxy training',
    )
    .requiredOption('--space <json>', 'search space (stages with depth/width/kernel/stride/residual choices, hidden widths; docs/nas.md)')
    .requiredOption('--out <dir>', 'output folder (summary.json, front.svg, report.html, journal; resumed when it holds an earlier run)')
    .option('--cells <list>', `candidate cell ids or globs as explore takes them (default '${DEFAULT_CELLS}')`)
    .option('--budget <loss>', "accuracy loss a candidate's cells may cost vs its own exact design: 1% or 0.01", '1%')
    .option(
      '--search <s>',
      "xai (criticality prunes each candidate's cell search, XAI-NAS-style) | nsga2 (every layer, every cell scanned, EvoApproxNAS-style)",
      'xai',
    )
    .option('--xai-share <x>', 'with --search xai: share of layers, least critical first, open to approximate cells (default 0.5)')
    .option('--dataset <name>', 'fmnist | mnist | <IDX directory>', DEFAULT_DATASET)
    .option('--generations <n>', 'NSGA-II generations after the first population', '4')
    .option('--population <n>', 'NSGA-II population', '8')
    .option('--proxy-epochs <n>', 'proxy training epochs per candidate', '1')
    .option('--train-images <n>', 'first N training images the proxy trains on', '4000')
    .option('--val-images <n>', 'validation hold-out: the last N training images (never trained on)', '1000')
    .option('--test-images <n>', "first N test images for the candidates' test accuracy", '1000')
    .option('--calib-images <n>', 'training images for the criticality estimates', '16')
    .option('--lr <x>', 'Adam learning rate (cosine schedule to 0)', '0.002')
    .option('--batch <n>', 'training batch size', '64')
    .option('--threads <n>', 'PyTorch threads', '1')
    .option('--seed <n>', 'NSGA-II and PyTorch seed', '1')
    .option('--time-limit <min>', 'wall-clock minutes: no new candidate starts after it; the search stops cleanly and reports')
    .option('--rows <n>', 'array rows', '16')
    .option('--cols <n>', 'array columns', '16')
    .option('--final-epochs <n>', 'train the winner again for n epochs, choose its cells again and verify it in RTL (0 = skip)', '0')
    .option('--final-train-images <n>', 'training images of the final training (default: all but the validation hold-out)')
    .option('--final-test-images <n>', 'test images of the final numbers and the RTL run (default: all)')
    .option('--no-rtl', 'final step without generating and verifying the RTL')
    .option('--workers <n>', 'engine worker threads')
    .option(
      '--queue <url>',
      "compute the candidates' cell-search accuracies on the BullMQ/Redis queue at redis://host:port (`axtpu worker`); training stays here; same results, same journal",
    )
    .option('--force', 'replace an existing output folder of an older axtpu (no marker file)')
    .action(async (o: Record<string, string | boolean | undefined>, cmd: Command) => {
      // Every cheap check before any training.
      const space = readSpace(String(o.space));
      const budget = parseBudget(String(o.budget));
      const search = String(o.search);
      if (search !== 'xai' && search !== 'nsga2') throw new UserError(`--search '${search}': expected xai or nsga2`);
      if (search !== 'xai' && o.xaiShare !== undefined) throw new UserError('--xai-share needs --search xai');
      const cells = o.cells === undefined ? DEFAULT_CELLS : String(o.cells);
      groupCandidates(expandCells(cells));
      const timeLimit = o.timeLimit === undefined ? undefined : numberOption(String(o.timeLimit), '--time-limit', 0.01, 100_000);
      const out = resolve(String(o.out));
      const opts: NasOptions = {
        space,
        dataset: String(o.dataset),
        cells,
        budget,
        search,
        xaiShare: o.xaiShare === undefined ? 0.5 : numberOption(String(o.xaiShare), '--xai-share', 0.01, 1),
        rows: intOption(String(o.rows), '--rows', 2, 64),
        cols: intOption(String(o.cols), '--cols', 2, 64),
        population: intOption(String(o.population), '--population', 2, 1000),
        generations: intOption(String(o.generations), '--generations', 0, 1000),
        seed: intOption(String(o.seed), '--seed', 0, 2 ** 31 - 1),
        trainImages: intOption(String(o.trainImages), '--train-images', 1, 10_000_000),
        valImages: intOption(String(o.valImages), '--val-images', 10, 10_000_000),
        testImages: intOption(String(o.testImages), '--test-images', 1, 10_000_000),
        calibImages: intOption(String(o.calibImages), '--calib-images', 1, 10_000),
        proxy: torchTrainInputs(o, { text: o.proxyEpochs, flag: '--proxy-epochs' }),
        timeLimit,
        out,
        workers: o.workers === undefined ? undefined : intOption(String(o.workers), '--workers', 1, 64),
      };
      const finalEpochs = intOption(String(o.finalEpochs), '--final-epochs', 0, 1000);
      const finalOnly = [
        o.finalTrainImages !== undefined && '--final-train-images',
        o.finalTestImages !== undefined && '--final-test-images',
        o.rtl === false && '--no-rtl',
      ];
      const stray = finalOnly.find((x) => x);
      if (finalEpochs === 0 && stray) throw new UserError(`${stray} needs --final-epochs (the winner as hardware)`);
      const { train } = nasSplits(opts);
      const finalTrain =
        o.finalTrainImages === undefined
          ? train.count - opts.valImages
          : intOption(String(o.finalTrainImages), '--final-train-images', 1, train.count - opts.valImages);
      const finalTest = o.finalTestImages === undefined ? 10_000_000 : intOption(String(o.finalTestImages), '--final-test-images', 1, 10_000_000);
      checkOutputDir(out, { force: Boolean(o.force) });
      requireTorch('nas');
      // withQueue reaches the queue first: an unreachable one is refused before anything is written.
      const { r, final } = await withQueue(o.queue, async (remote) => {
        ensureDir(out);
        markOutput(out);
        const r = await nas({ ...opts, remote });
        const winner = r.candidates.find((c) => c.key === r.winner)!;
        const f = { epochs: finalEpochs, trainImages: finalTrain, testImages: finalTest, rtl: o.rtl !== false };
        return { r, final: finalEpochs > 0 ? await finalWinner(winner, train, { ...opts, remote }, f) : null };
      });
      const paths = writeNasOutputs(out, r, final);
      emit(globals(cmd), { ...r, final, outputs: paths }, () => human(r, final, paths));
      if (final?.rtl && !final.rtl.equal) process.exitCode = 1;
    });
}
