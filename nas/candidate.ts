import { join } from 'node:path';
import type { RangeRunner } from '../explore/range.ts';
import { type ExploreOptions, type ExploreResult, explore, type GroupResult } from '../explore/run.ts';
import { analyticalRun } from '../flow/analytical.ts';
import type { Objective } from '../flow/energy.ts';
import { resolveDesign } from '../generators/array/index.ts';
import { placeModel } from '../mapping/place.ts';
import { exactArrayConfig, planUnits } from '../mapping/units.ts';
import type { Dataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { type Architecture, archLabel, networkOf, type Space } from './space.ts';
import { type ProxyOptions, trainProxy } from './train.ts';

/**
 * One candidate of the search, end to end (docs/nas.md, A candidate): proxy-train the network
 * (nas/train.ts, cached), then let axtpu's own exploration (explore/run.ts, greedy, no RTL) pick
 * its per-layer cells within the budget against the candidate's own exact int8 accuracy. Both
 * accuracies are the engine's on the validation hold-out (the last training images, never seen
 * by the proxy training) and on the head of the test split; energies are the analytical model's
 * (flow/analytical.ts, which equals the RTL run) under the accelerator objective.
 */
export type CellSearch = 'full' | 'xai';

export interface CandidateOptions {
  space: Space;
  dataset: string;
  cells: string;
  budget: number;
  rows: number;
  cols: number;
  valImages: number;
  testImages: number;
  calibImages: number;
  proxy: ProxyOptions;
  /**
   * How the candidate's cells are searched: 'full' = explore's greedy over every layer, every
   * cell scanned (EvoApproxNAS-style baseline); 'xai' = only the least critical layers by
   * explore's criticality (noise-kl) may get approximate cells, and greedy bisects (XAI-NAS-style).
   */
  cellSearch: CellSearch;
  /** 'xai': share of layers (least critical first) open to approximate cells. */
  xaiShare: number;
  workers?: number;
  /** Computes the cell search's accuracies on the job queue (`nas --queue`); same results as local. */
  remote?: RangeRunner;
  /** Folder for the candidates' exploration journals (resumed points are not re-evaluated). */
  workDir: string;
}

export const OBJECTIVE: Objective = 'accelerator';

export interface CandidateRecord {
  key: string;
  label: string;
  arch: Architecture;
  macs: number;
  params: number;
  /** The trained float model (cache entry) and how its training went. */
  onnx: string;
  train: { cached: boolean; images: number; epochs: number; seconds: number; cpuSeconds: number; loss: number; trainAccuracy: number };
  /** The all-exact design: engine accuracies, pJ per inference (accelerator), cycles per inference. */
  exact: { cell: string; valAccuracy: number; testAccuracy: number; energyPj: number; energies: Record<Objective, number>; cyclesPerInference: number };
  /** The design with the cells exploration chose (the candidate's point). */
  approx: {
    layers: string[];
    cells: string[];
    valAccuracy: number;
    valLoss: number;
    testAccuracy: number;
    energyPj: number;
    energies: Record<Objective, number>;
    saving: number;
    feasible: boolean;
  };
  evaluations: number;
  seconds: { train: number; explore: number; total: number };
  /** Where the cell search's seconds went (explore's stages: setup, energy, xai, sensitivity, criticality check, search, test). */
  exploreStages: Record<string, number>;
}

/**
 * explore()'s options for a network's cell search (a candidate's, and the final winner's):
 * layer granularity, greedy under the accelerator objective, no RTL. Unit by unit in both
 * searches (explore's per-energy order; its default, 'path', has no per-unit step), so 'full'
 * scans every cell of every layer and 'xai' bisects on the least critical share of the layers.
 */
export function cellSearchOptions(
  o: Pick<CandidateOptions, 'dataset' | 'cells' | 'budget' | 'rows' | 'cols' | 'valImages' | 'calibImages' | 'cellSearch' | 'xaiShare' | 'workers' | 'remote'>,
  model: string,
  out: string,
  testImages: number,
): ExploreOptions {
  return {
    model,
    dataset: o.dataset,
    cells: o.cells,
    budget: o.budget,
    granularity: 'layer',
    search: 'xai-greedy',
    objective: OBJECTIVE,
    rows: o.rows,
    cols: o.cols,
    out,
    valImages: o.valImages,
    testImages,
    calibImages: o.calibImages,
    criticality: 'noise-kl',
    greedyOrder: 'per-energy',
    greedyStep: o.cellSearch === 'xai' ? 'bisect' : 'scan',
    approxShare: o.cellSearch === 'xai' ? o.xaiShare : 1,
    frontTestMax: 1,
    ...(o.workers === undefined ? {} : { workers: o.workers }),
    ...(o.remote ? { remote: o.remote } : {}),
    quiet: true,
  };
}

export async function evaluateCandidate(key: string, arch: Architecture, train: Dataset, o: CandidateOptions): Promise<CandidateRecord> {
  const t0 = performance.now();
  const label = archLabel(arch);
  const net = networkOf(arch, o.space.input, o.space.classes);
  const proxy = await trainProxy(net, train, o.proxy, label);
  const t1 = performance.now();
  const r: ExploreResult = await explore(cellSearchOptions(o, proxy.onnx, join(o.workDir, key), o.testImages));
  const t2 = performance.now();
  const g: GroupResult = r.groups[r.winnerGroup]!;
  const last = proxy.epochs[proxy.epochs.length - 1]!;
  return {
    key,
    label,
    arch,
    macs: net.macs,
    params: proxy.params,
    onnx: proxy.onnx,
    train: {
      cached: proxy.hit,
      images: proxy.trainImages,
      epochs: proxy.epochs.length,
      seconds: proxy.seconds,
      cpuSeconds: proxy.cpuSeconds,
      loss: last.loss,
      trainAccuracy: last.trainAccuracy,
    },
    exact: {
      cell: g.exact,
      valAccuracy: g.baseline.valAccuracy,
      testAccuracy: g.baseline.testAccuracy,
      energyPj: g.baseline.energies[OBJECTIVE],
      energies: g.baseline.energies,
      cyclesPerInference: await exactCycles(proxy.onnx, g, o),
    },
    approx: {
      layers: g.units.map((u) => u.name),
      cells: g.winner.cells,
      valAccuracy: g.winner.valAccuracy,
      valLoss: g.winner.valLoss,
      testAccuracy: g.winner.testAccuracy ?? Number.NaN,
      energyPj: g.winner.energies[OBJECTIVE],
      energies: g.winner.energies,
      saving: g.winner.savings[OBJECTIVE],
      feasible: g.winner.feasible,
    },
    evaluations: g.evaluations.search,
    seconds: { train: (t1 - t0) / 1000, explore: (t2 - t1) / 1000, total: (t2 - t0) / 1000 },
    exploreStages: g.seconds,
  };
}

/** Cycles per inference of the exact design (the cycle model the RTL run matches), batches of 250 as explore prices them. */
async function exactCycles(onnx: string, g: GroupResult, o: CandidateOptions): Promise<number> {
  const { model: q } = await loadQuantModelFor(onnx, g.scheme, { dataset: o.dataset });
  const plan = planUnits(q, 'layer', o.rows, o.cols);
  const design = resolveDesign(exactArrayConfig(plan, g.exact, 'nas_exact'), 'nas exact design');
  const images = 250;
  const layers = analyticalRun(q, design, placeModel(q, design), images, images);
  return layers.reduce((s, l) => s + l.cycles, 0) / images;
}
