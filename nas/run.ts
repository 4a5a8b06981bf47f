import { join } from 'node:path';
import { UserError } from '../core/errors.ts';
import { shortHash } from '../core/hash.ts';
import { Journal } from '../explore/journal.ts';
import { nsga2 } from '../explore/nsga2.ts';
import { paretoFront } from '../explore/pareto.ts';
import { type Dataset, limitDataset, loadDataset } from '../nn/dataset.ts';
import { calibrationPolicy } from '../nn/load.ts';
import { type CandidateOptions, type CandidateRecord, type CellSearch, evaluateCandidate, OBJECTIVE } from './candidate.ts';
import { decode, geneChoices, macRange, type Space } from './space.ts';
import { trainerIdentity } from './train.ts';

/**
 * `axtpu nas` (docs/nas.md): NSGA-II over architectures (explore/nsga2.ts), minimizing (accelerator
 * pJ per inference, 1 - validation accuracy) of each candidate WITH the cells exploration chose
 * for it. Every finished candidate goes to the journal (<out>/journal.jsonl) keyed by everything
 * that determines it, so a resumed search re-evaluates nothing it finished; a candidate cut off
 * mid-way resumes from its trained model (cache) and its exploration journal.
 */
export type NasSearch = 'nsga2' | 'xai';

/** The cell search a NAS search gives each candidate (docs/nas.md, What the two searches are). */
export const cellSearchOf = (s: NasSearch): CellSearch => (s === 'xai' ? 'xai' : 'full');

export interface NasOptions {
  space: Space;
  dataset: string;
  cells: string;
  budget: number;
  search: NasSearch;
  /** With --search xai: share of a candidate's layers, least critical first, open to approximate cells. */
  xaiShare: number;
  rows: number;
  cols: number;
  population: number;
  generations: number;
  seed: number;
  trainImages: number;
  valImages: number;
  testImages: number;
  calibImages: number;
  proxy: CandidateOptions['proxy'];
  /** Wall-clock limit in minutes: no candidate starts after it. */
  timeLimit?: number;
  out: string;
  workers?: number;
  /** The candidates' cell searches compute their accuracies on the job queue (`--queue`). */
  remote?: CandidateOptions['remote'];
}

export interface NasPoint {
  key: string;
  label: string;
  energyPj: number;
  accuracy: number;
}

export interface NasResult {
  dataset: string;
  search: NasSearch;
  cellSearch: CellSearch;
  objective: typeof OBJECTIVE;
  budget: number;
  splits: { proxyTraining: string; validation: string; test: string };
  space: { genes: number; genomes: number; macRange: [number, number] };
  /** Candidates in the order the search asked for them (journal hits included). */
  candidates: (CandidateRecord & { generation: number; fromJournal: boolean })[];
  /** Non-dominated candidates on (accelerator pJ with their cells, validation accuracy with them). */
  front: NasPoint[];
  /** Least energy among the candidates within the budget of the best validation accuracy found. */
  winner: string;
  stopped: { reason: 'done' | 'time limit'; generationsDone: number };
  journal: { path: string; entries: number; fresh: number };
  seconds: { total: number; perCandidate: number; perFreshCandidate: number };
}

class TimeUp extends Error {}

/** Cheap checks of the data splits: one line, exit 2, before any training. */
export function nasSplits(o: Pick<NasOptions, 'dataset' | 'trainImages' | 'valImages' | 'calibImages' | 'space'>): { train: Dataset; proxyTrain: Dataset } {
  const train = loadDataset(o.dataset, 'train');
  const [c, h, w] = o.space.input;
  if (train.channels !== c || train.height !== h || train.width !== w)
    throw new UserError(`--space input ${c}x${h}x${w} does not match dataset ${train.name} (${train.channels}x${train.height}x${train.width})`);
  const head = Math.max(o.trainImages, calibrationPolicy({ dataset: o.dataset }).images, o.calibImages);
  if (head + o.valImages > train.count)
    throw new UserError(
      `--train-images ${o.trainImages} + --val-images ${o.valImages}: the validation hold-out (last training images) would overlap the proxy-training images; at most ${train.count} together`,
    );
  return { train, proxyTrain: limitDataset(train, o.trainImages) };
}

export async function nas(o: NasOptions): Promise<NasResult> {
  const t0 = performance.now();
  const { train, proxyTrain } = nasSplits(o);
  const cellSearch = cellSearchOf(o.search);
  const journal = new Journal<CandidateRecord>(join(o.out, 'journal.jsonl'));
  const before = journal.size;
  const copts: CandidateOptions = {
    space: o.space,
    dataset: o.dataset,
    cells: o.cells,
    budget: o.budget,
    rows: o.rows,
    cols: o.cols,
    valImages: o.valImages,
    testImages: o.testImages,
    calibImages: o.calibImages,
    proxy: o.proxy,
    cellSearch,
    xaiShare: o.xaiShare,
    workers: o.workers,
    remote: o.remote,
    workDir: join(o.out, 'candidates'),
  };
  // Everything a candidate's record depends on besides its architecture.
  const problem = {
    v: 1,
    dataset: train.name,
    cells: o.cells,
    budget: o.budget,
    rows: o.rows,
    cols: o.cols,
    trainImages: o.trainImages,
    valImages: o.valImages,
    testImages: o.testImages,
    calibImages: o.calibImages,
    proxy: o.proxy,
    cellSearch,
    xaiShare: cellSearch === 'xai' ? o.xaiShare : 1,
    trainer: trainerIdentity(),
  };
  const deadline = o.timeLimit === undefined ? Number.POSITIVE_INFINITY : t0 + o.timeLimit * 60_000;
  const candidates: NasResult['candidates'] = [];
  let generation = 0;
  const log = (msg: string) => {
    if (!process.env.AXTPU_QUIET) process.stderr.write(`nas: ${msg}\n`);
  };
  const evaluate = async (genome: number[]) => {
    const arch = decode(o.space, genome);
    const key = shortHash({ problem, arch });
    const known = journal.get(key);
    let rec: CandidateRecord;
    if (known) rec = known;
    else {
      if (performance.now() > deadline) throw new TimeUp();
      rec = await evaluateCandidate(key, arch, proxyTrain, copts);
      journal.record(key, rec);
    }
    if (!candidates.some((c) => c.key === key)) {
      candidates.push({ ...rec, generation, fromJournal: Boolean(known) });
      log(
        `${candidates.length} ${rec.label} (gen ${generation}${known ? ', journal' : ''}): val ${pct(rec.approx.valAccuracy)} % with cells (exact ${pct(rec.exact.valAccuracy)} %), ` +
          `${(rec.approx.energyPj / 1e6).toFixed(3)} uJ/inf ${OBJECTIVE} (exact ${(rec.exact.energyPj / 1e6).toFixed(3)}), ${(rec.macs / 1e6).toFixed(2)} M MAC; ` +
          `train ${rec.seconds.train.toFixed(1)} s${rec.train.cached ? ' (cached)' : ''}, cells ${rec.seconds.explore.toFixed(1)} s`,
      );
    }
    return { f: [rec.approx.energyPj, 1 - rec.approx.valAccuracy] as [number, number] };
  };
  let reason: NasResult['stopped']['reason'] = 'done';
  let generationsDone = 0;
  try {
    await nsga2({
      choices: geneChoices(o.space),
      populationSize: o.population,
      generations: o.generations,
      seed: o.seed,
      // The space's two corners first (every gene on its first, then its last choice), as explore
      // seeds its NSGA-II with all-exact and all-aggressive; the rest of the population is random.
      seeds: [geneChoices(o.space).map(() => 0), geneChoices(o.space).map((n) => n - 1)],
      evaluate,
      onGenerationStart: (gen) => {
        generation = gen;
      },
      onGeneration: (gen) => {
        generationsDone = gen;
      },
    });
    generationsDone = o.generations;
  } catch (err) {
    if (!(err instanceof TimeUp)) throw err;
    reason = 'time limit';
    log(`time limit of ${o.timeLimit} min reached after ${candidates.length} candidates; reporting what finished`);
  }
  if (!candidates.length) throw new UserError(`--time-limit ${o.timeLimit}: no candidate finished within the limit`);
  const points = candidates.map((c) => ({ key: c.key, label: c.label, energy: c.approx.energyPj, accuracy: c.approx.valAccuracy }));
  const front = paretoFront(points).map((p) => ({ key: p.key, label: p.label, energyPj: p.energy, accuracy: p.accuracy }));
  const best = Math.max(...points.map((p) => p.accuracy));
  const winner = points.filter((p) => p.accuracy >= best - o.budget - 1e-12).sort((a, b) => a.energy - b.energy || b.accuracy - a.accuracy)[0]!;
  const fresh = candidates.filter((c) => !c.fromJournal);
  const total = (performance.now() - t0) / 1000;
  const valStart = train.count - o.valImages;
  return {
    dataset: train.name,
    search: o.search,
    cellSearch,
    objective: OBJECTIVE,
    budget: o.budget,
    splits: {
      proxyTraining: `train[0, ${proxyTrain.count})`,
      validation: `train[${valStart}, ${train.count})`,
      // explore measures at most the whole test split.
      test: `test[0, ${Math.min(o.testImages, loadDataset(o.dataset, 'test').count)})`,
    },
    space: { genes: geneChoices(o.space).length, genomes: geneChoices(o.space).reduce((a, b) => a * b, 1), macRange: macRange(o.space) },
    candidates,
    front,
    winner: winner.key,
    stopped: { reason, generationsDone },
    journal: { path: journal.path, entries: journal.size, fresh: journal.size - before },
    seconds: {
      total,
      perCandidate: total / candidates.length,
      perFreshCandidate: fresh.length ? fresh.reduce((s, c) => s + c.seconds.total, 0) / fresh.length : 0,
    },
  };
}

const pct = (x: number) => (100 * x).toFixed(2);
