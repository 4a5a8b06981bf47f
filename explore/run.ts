import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../core/errors.ts';
import { shortHash } from '../core/hash.ts';
import { defaultLiberty } from '../core/paths.ts';
import { mapLimit } from '../core/pool.ts';
import { Progress } from '../core/progress.ts';
import type { EnergyPart, Objective } from '../flow/energy.ts';
import type { VosReport } from '../flow/vos.ts';
import { arrayVosModels } from '../flow/vos-array.ts';
import { MAX_CELL_SET } from '../generators/array/config.ts';
import { resolveDesign } from '../generators/array/index.ts';
import { cellMetrics, getCell } from '../generators/multipliers/index.ts';
import {
  baseCell,
  CV_SUFFIX,
  cellGrids,
  checkGranularity,
  exactArrayConfig,
  type Granularity,
  parseGene,
  planUnits,
  singleLayerAssignment,
  toArrayConfig,
  toAssignment,
  type UnitPlan,
  unitAt,
} from '../mapping/units.ts';
import { type Assignment, resolveAssignment, schemeFor, uniformAssignment } from '../nn/assign.ts';
import { DEFAULT_Q } from '../nn/cv.ts';
import { compensation } from '../nn/cv-calib.ts';
import { type Dataset, limitDataset, loadDataset } from '../nn/dataset.ts';
import { pixelsToFloat } from '../nn/float.ts';
import { calibrationPolicy, checkShapes, DEFAULT_DATASET, loadQuantModelFor } from '../nn/load.ts';
import { importOnnx } from '../nn/onnx.ts';
import { pruneModel } from '../nn/prune.ts';
import type { QuantModel } from '../nn/qmodel.ts';
import { type WidthVariant, widthVariants } from '../nn/variants.ts';
import { DEFAULT_PROTECT_MSBS, DEFAULT_WMEM_SEED, loadWmemModel, type WeightFaultOptions, wmemEnergyScale } from '../nn/wmem.ts';
import { loadLiberty } from '../synth/liberty.ts';
import { type CandidateGroup, DEFAULT_CELLS, expandCells, groupCandidates } from './candidates.ts';
import { type CriticalityResult, unitCriticality, unitScores, type XaiMetric } from './criticality.ts';
import { type CellCheck, type CriticalityCheck, checkCriticality, chooseEstimator, type Estimator, estimatorInputs } from './criticality-check.ts';
import { addCrossLayerTwins, CROSS_LAYER_SCOPE, DEFAULT_SPARSITIES, knobWeights, type PrunedEnergy, sparsityLevels, wmemSearchLevels } from './cross-layer.ts';
import { type EnergyTable, energyTable, layerEnergies, unitEnergies } from './energy.ts';
import { channelDamages, type ErrorEstimator, layerDamages } from './error-criticality.ts';
import { type AccuracyRecord, accuracyOf, Evaluator, engineRunner, tailDataset, type VoltageContext } from './evaluator.ts';
import { xaiGreedy } from './greedy.ts';
import { Journal } from './journal.ts';
import { nsga2 } from './nsga2.ts';
import { cvOverhead, energiesOf, energyOf, type ObjectiveModel, objectiveModel, objectivePartsOf, objectiveUnitEnergies } from './objective.ts';
import { exactReference, hypervolume, paretoFront } from './pareto.ts';
import { FILL_PATIENCE, marginalPath, pathGreedy, surrogateGreedy } from './path.ts';
import type { RangeRunner } from './range.ts';
import { type PairedLoss, pairedLoss, spearman } from './stats.ts';
import { DesignKl, type SurrogateRecord } from './surrogate.ts';
import { addVoltageTwins, VOLTAGE_SCOPE, voltageLevels } from './voltage.ts';

/**
 * The closed loop (issue 8): criticality -> sensitivity -> search on a validation hold-out ->
 * Pareto front -> final numbers on the test split. The RTL step for the winner is explore/winner.ts.
 */
export type SearchKind = 'xai-greedy' | 'nsga2' | 'exhaustive';
export const GREEDY_ORDERS = ['criticality', 'per-energy', 'path', 'surrogate'] as const;
export type GreedyOrder = (typeof GREEDY_ORDERS)[number];
export const KNOBS = ['cells', 'cv', 'voltage', 'prune', 'wmem', 'width'] as const;
export type Knob = (typeof KNOBS)[number];

/** `--knobs cells[,cv][,voltage][,prune][,wmem][,width]`: one line and exit 2 for anything else or a combination the search cannot do. */
export function parseKnobs(text: string, o: { granularity: string; queue: boolean }): Knob[] {
  const ks = text.split(',').map((x) => x.trim());
  const bad = ks.find((k) => !(KNOBS as readonly string[]).includes(k));
  if (bad !== undefined) throw new UserError(`--knobs: unknown knob '${bad}' (known: ${KNOBS.join(', ')})`);
  if (!ks.includes('cells')) throw new UserError("--knobs must include 'cells'");
  if (ks.includes('cv') && o.granularity !== 'layer') throw new UserError(`--knobs cv decides per layer and needs --granularity layer (got ${o.granularity})`);
  if (ks.includes('cv') && o.queue) throw new UserError('--knobs cv runs on the local engine; drop --queue');
  if (ks.includes('voltage') && o.queue) throw new UserError('--knobs voltage runs on the local engine (error models drawn into it); drop --queue');
  if (ks.includes('voltage') && o.granularity === 'kernel')
    throw new UserError('--knobs voltage decides a supply per layer or per column (a voltage domain); use --granularity layer or filter');
  for (const k of ['prune', 'wmem'] as const) {
    if (!ks.includes(k)) continue;
    if (o.granularity !== 'layer') throw new UserError(`--knobs ${k} decides per layer and needs --granularity layer (got ${o.granularity})`);
    if (o.queue) throw new UserError(`--knobs ${k} runs on the local engine (the weights change per design); drop --queue`);
    const other = ks.find((x) => x === 'cv' || x === 'voltage');
    if (other)
      throw new UserError(
        `--knobs ${k} does not combine with ${other} yet (the energy of a pruned or faulty layer at a lowered PE supply or compensated is not modelled)`,
      );
  }
  return [...new Set(ks)] as Knob[];
}

export interface ExploreOptions {
  model: string;
  dataset?: string;
  cells?: string;
  /** Allowed accuracy loss as a fraction (0.01 = 1 percentage point). */
  budget: number;
  granularity: Granularity;
  search: SearchKind;
  rows: number;
  cols: number;
  out: string;
  valImages?: number;
  calibImages?: number;
  xaiSteps?: number;
  xaiMetric?: XaiMetric;
  /**
   * What orders the greedy search's units and seeds NSGA-II (docs/explore.md, Criticality that
   * predicts): an estimator, or 'auto' = the one whose ranking best matches the probe cell's
   * measured output KL in this run. Default 'noise-kl'.
   */
  criticality?: Estimator | 'auto';
  /**
   * Greedy's order: 'criticality' (units, least critical first), 'per-energy' (units, least
   * criticality per pJ the unit's most aggressive cell can save first: the knapsack ratio) or
   * 'path' (single cell steps on every unit, by predicted damage per pJ saved, each cell's damage
   * estimated on each unit; explore/path.ts) or 'surrogate' (single cell moves ranked by the whole
   * design's output KL on the estimator images after the move; explore/surrogate.ts). Default
   * 'surrogate' (docs/explore.md, Greedy on a measured path); 'surrogate' at filter or kernel
   * granularity falls back to 'path'; with cv, voltage or cross-layer twins both fall back to
   * 'per-energy'.
   */
  greedyOrder?: GreedyOrder;
  /** Greedy's per-unit step (explore/greedy.ts): 'bisect' (default) or 'scan' (default with the voltage knob). */
  greedyStep?: 'scan' | 'bisect';
  /**
   * Share of the units, least critical first (--criticality order), that may get approximate cells;
   * the rest stay exact (default 1 = all). `axtpu nas --search xai` prunes each candidate's cell
   * search with it (docs/nas.md).
   */
  approxShare?: number;
  /** Training images (head of the split, disjoint from validation) of the error-aware estimators. Default 64. */
  estimatorImages?: number;
  /** Test images for the final numbers (default: the whole test split). */
  testImages?: number;
  probe?: string;
  /** Keep candidate cells dominated in (energy, MAE, MRE) (default: dropped). */
  keepDominated?: boolean;
  nsgaPopulation?: number;
  nsgaGenerations?: number;
  seed?: number;
  /** Most front points re-measured on the test split (the winner always is). */
  frontTestMax?: number;
  maxExhaustive?: number;
  /** One-sided confidence of the paired loss bound a design must keep within the budget
   *  (0.5 = point estimate). Default 0.9. */
  confidence?: number;
  /** Validation images of the screening stage (greedy rejects a trial early when even the lower
   *  confidence bound of its loss exceeds the budget; also the sensitivity probes' images).
   *  0 = no screening. Default: a quarter of the validation split. */
  screenImages?: number;
  workers?: number;
  quiet?: boolean;
  /** What the search minimizes (default accelerator; docs/explore.md, Objectives). */
  objective?: Objective;
  /** Kernel granularity: input-channel groups per layer (default mapping/units.ts DEFAULT_INPUT_GROUPS). */
  inputGroups?: number;
  /** A --memory-model file (default models/memory-model.json). */
  memoryModel?: string;
  /**
   * What the search decides per unit: 'cells' (always) and 'cv' = whether each layer's outputs get
   * control-variate compensation (docs/cv.md; layer granularity, local engine only).
   */
  knobs?: Knob[];
  /** With the voltage knob: the supply levels below nominal (volts), and the error models' options. */
  levels?: number[];
  vosOps?: number;
  clockMargin?: number;
  /** With the width knob: the variants searched (default all of the family; the full width is always searched, it is the reference). */
  widths?: number[];
  /** With the prune knob: the sparsities a layer may be pruned to (besides dense). */
  sparsities?: number[];
  /** With the wmem knob: weight-memory supplies below nominal (volts), the MSBs kept in robust cells, the fault seed and a --wmem-model file. */
  wmemLevels?: number[];
  protectMsbs?: number;
  wmemSeed?: number;
  wmemModel?: string;
  /** Computes candidate accuracies elsewhere (`explore --queue`); default: the local engine.
   *  Results are the same either way: the journal records what came back. */
  remote?: RangeRunner;
}

export interface ExplorePoint {
  id: number;
  source: string;
  /** Cell of each decision unit. */
  cells: string[];
  /** pJ per inference under the search's objective, and its saving vs the exact design. */
  energyPj: number;
  saving: number;
  /** The same under every objective (multiplier, array, accelerator). */
  energies: Record<Objective, number>;
  savings: Record<Objective, number>;
  /** Validation accuracy: exact baseline minus the paired loss estimate (on valImages images). */
  valAccuracy: number;
  valLoss: number;
  /** One-sided upper confidence bound on the validation loss (the decision rule). */
  valLossUpper: number;
  /** Validation images the point was measured on (fewer = rejected at the screening stage). */
  valImages: number;
  testAccuracy?: number;
  testLoss?: number;
  /** Upper confidence bound of the paired test loss vs exact (same confidence). */
  testLossUpper?: number;
  feasible: boolean;
}

export interface LayerRow {
  layer: string;
  macsPerImage: number;
  tile: number;
  gradTimesActivation: number;
  conductance: number;
  probeAccuracy: number;
  sensitivity: number;
}

export interface GroupResult {
  scheme: 'signed' | 'unsigned';
  /** The searched model (a width variant with --knobs width) and its width in the family (1 = the model given). */
  model: string;
  width: number;
  /** With the prune or wmem knob: the levels offered, the fault draw, and what the energy counts. */
  crossLayer?: { sparsities: number[]; wmemLevels: number[]; wmemNominal?: number; protectMsbs?: number; wmemSeed?: number; wmemModel?: string; scope: string };
  /** Narrower width variants: the full-width model's exact design every loss and saving is against. */
  reference?: { width: 1; valAccuracy: number; testAccuracy: number; energies: Record<Objective, number> };
  /** The quantized model searched (nn/load.ts cache entry: the one `axtpu eval|run` use too). */
  quantizedModel: string;
  exact: string;
  candidates: string[];
  /** Candidate cells dropped before the search (no saving, or dominated), with the reason. */
  dropped: { id: string; reason: string }[];
  probe: string;
  units: { name: string; tile: number; column: number | null; criticality: number; macsPerImage: number }[];
  layers: LayerRow[];
  spearman: { gradTimesActivation: number; conductance: number };
  /** Every estimator vs measured one-layer (and at filter granularity one-filter) sensitivity,
   *  for the probe and two more cells, and the estimator the search used (explore/criticality-check.ts). */
  criticalityCheck: CriticalityCheck & { chosen: Estimator; used: Estimator };
  baseline: { energyPj: number; energies: Record<Objective, number>; valAccuracy: number; testAccuracy: number };
  /** Per inference, by part: the exact design and the winner (explore/objective.ts), and the memory model used. */
  accelerator: {
    exactParts: Record<EnergyPart, number>;
    winnerParts: Record<EnergyPart, number>;
    memory: ObjectiveModel['memory'];
    images: number;
    batch: number;
  };
  points: ExplorePoint[];
  front: ExplorePoint[];
  winner: ExplorePoint;
  winnerLayers: { layer: string; cells: Record<string, number>; energyPj: number; exactEnergyPj: number }[];
  /** The array config (generators/array) that realizes the winner, and the engine assignment. */
  winnerDesign: Record<string, unknown>;
  winnerAssignment: ReturnType<typeof toAssignment>;
  /** Designs evaluated per step, and images pushed through the engine by the search. */
  evaluations: { search: number; sensitivity: number; test: number; searchImages: number; screenedOut: number };
  /** With `--greedy-order path`: the predicted path and the designs judged on it. */
  greedyPath?: GreedyPathRecord;
  hypervolume: number;
  energy: { clockMHz: number; liberty: string; pairs: number; perOp: EnergyTable['perOp']; area: EnergyTable['area'] };
  cellMetrics: Record<string, { maePct: number; mrePct: number; wcePct: number }>;
  /** With the voltage knob: the levels, the clock, and the winner's supply per column of every tile. */
  voltage?: {
    nominal: number;
    levels: number[];
    levelsText: string;
    clockNs: number;
    scope: string;
    map: { tile: number; layers: string; volts: number[]; cells: string[] }[];
    /** The error models the engine drew from (written to vos-models-<scheme>.json, not to summary.json). */
    models: VosReport;
    /** The seed of the engine's timing-error draws (the winner's RTL run draws the same). */
    seed: number;
  };
  seconds: Record<string, number>;
}

export interface ExploreResult {
  model: string;
  dataset: string;
  budget: number;
  granularity: string;
  search: SearchKind;
  /** What the search minimized; every energyPj / saving is under it. */
  objective: Objective;
  rows: number;
  cols: number;
  valImages: number;
  testImages: number;
  calibImages: number;
  confidence: number;
  screenImages: number;
  /** Which images each step uses (the validation split is disjoint from both calibration sets). */
  splits: { quantCalibration: string; xaiCalibration: string; validation: string; test: string };
  xaiMetric: XaiMetric;
  groups: GroupResult[];
  /** Index into groups of the overall winner (least energy among feasible winners). */
  winnerGroup: number;
  journal: { path: string; entries: number; fresh: number; reused: number };
  seconds: number;
}

/** Kernel granularity: every PE holds exact plus each candidate of its group (tag 0 = exact), at most MAX_CELL_SET cells. */
export function checkKernelCells(groups: CandidateGroup[]): void {
  for (const g of groups)
    if (g.cells.length > MAX_CELL_SET - 1)
      throw new UserError(
        `--granularity kernel: every PE holds ${g.exact} plus the candidates (at most ${MAX_CELL_SET} cells, 2 tag bits); ${g.cells.length} ${g.signed ? 'signed' : 'unsigned'} candidates given, name at most ${MAX_CELL_SET - 1} in --cells`,
      );
}

export function parseBudget(s: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$/.exec(s);
  if (!m) throw new UserError(`--budget '${s}': expected a percentage like 1% or a fraction like 0.01`);
  const v = m[2] ? Number(m[1]) / 100 : Number(m[1]);
  if (!(v > 0 && v < 1)) throw new UserError(`--budget ${s}: out of range; give an accuracy loss above 0 % and below 100 %`);
  return v;
}

/** Exhaustive enumeration of gene vectors (mixed radix). */
function* allGenomes(choices: number[]): Generator<number[]> {
  const g = choices.map(() => 0);
  for (;;) {
    yield [...g];
    let i = 0;
    while (i < g.length && ++g[i]! === choices[i]) g[i++] = 0;
    if (i === g.length) return;
  }
}

export async function explore(o: ExploreOptions): Promise<ExploreResult> {
  const t0 = performance.now();
  // Another knob than cells: the exact cell alone is a search too (its supply, pruning, memory or width change).
  const groups = groupCandidates(expandCells(o.cells ?? DEFAULT_CELLS), { exactOnly: (o.knobs ?? []).some((k) => k !== 'cells') });
  if (o.probe) getCell(baseCell(o.probe));
  const granularity = checkGranularity(o.granularity);
  if (granularity === 'kernel') checkKernelCells(groups);
  // The width knob: every variant of the model's family is searched, each judged against the
  // full-width model's exact design (its reference) on the same images.
  const variants = o.knobs?.includes('width') ? pickWidths(widthVariants(o.model), o.widths, o.model) : [{ width: 1, path: o.model }];
  if (variants.length < 2 && o.knobs?.includes('width'))
    throw new UserError(`--knobs width: ${o.model} has no width variants (a 'variants' manifest in its .json; models/README.md)`);
  const train = loadDataset(o.dataset, 'train');
  const test = limitDataset(loadDataset(o.dataset, 'test'), o.testImages);
  // Each variant's graph and file hash once (the hash keys its journal entries), not per scheme group.
  const models = variants.map((v) => {
    const graph = importOnnx(v.path);
    checkShapes(graph.inputShape, test, v.path, graph.shapes[graph.output]?.c);
    return { graph, hash: createHash('sha256').update(readFileSync(v.path)).digest('hex') };
  });
  const calibImages = o.calibImages ?? 64;
  // Quantization calibrates on the head of the train split (nn/load.ts policy), XAI on
  // train[0, calib): the validation hold-out is its tail and must not overlap either.
  const quantImages = calibrationPolicy({ dataset: o.dataset }).images;
  const headUsed = Math.max(quantImages, calibImages);
  const valImages = o.valImages ?? 2000;
  if (valImages > train.count - headUsed)
    throw new UserError(
      `--val-images ${valImages}: the validation hold-out (last images of the train split) would overlap the ${headUsed} calibration images; at most ${train.count - headUsed}`,
    );
  const val = tailDataset(train, valImages);
  const confidence = o.confidence ?? 0.9;
  const screenImages = Math.min(o.screenImages ?? Math.floor(valImages / 4), valImages);
  const calib = limitDataset(train, calibImages);
  // Error-aware estimators: the head of the train split too (inside the quantization calibration
  // images when <= 256, never in the validation tail).
  const estimatorCalib = limitDataset(train, Math.min(o.estimatorImages ?? 64, headUsed));
  // The control variate is fitted on the quantization's calibration images (disjoint from validation).
  const cvCalib = limitDataset(train, quantImages);
  const xaiMetric = o.xaiMetric ?? 'conductance';
  const journal = new Journal<AccuracyRecord>(join(o.out, 'journal.jsonl'));
  const before = journal.size;
  const results: GroupResult[] = [];
  let fresh = 0;
  const refs = new Map<boolean, Reference>();
  for (const [i, v] of variants.entries())
    for (const group of groups) {
      const r = await exploreGroup({ ...o, model: v.path }, group, {
        graph: models[i]!.graph,
        modelHash: models[i]!.hash,
        width: v.width,
        ref: refs.get(group.signed),
        val,
        valStart: train.count - val.count,
        test,
        calib,
        estimatorCalib,
        cvCalib,
        xaiMetric,
        journal,
        confidence,
        screenImages,
        granularity,
      });
      fresh += r.fresh;
      results.push(r.result);
      if (v.width === 1) refs.set(group.signed, r.reference);
    }
  let winnerGroup = 0;
  results.forEach((g, i) => {
    const w = results[winnerGroup]!.winner;
    if (g.winner.feasible && (!w.feasible || g.winner.energyPj < w.energyPj)) winnerGroup = i;
  });
  return {
    model: o.model,
    dataset: test.name,
    budget: o.budget,
    granularity: o.granularity,
    search: o.search,
    objective: o.objective ?? 'accelerator',
    rows: o.rows,
    cols: o.cols,
    valImages: val.count,
    testImages: test.count,
    calibImages: calib.count,
    confidence,
    screenImages,
    splits: {
      quantCalibration: `train[0, ${quantImages})`,
      xaiCalibration: `train[0, ${calib.count})`,
      validation: `train[${train.count - val.count}, ${train.count})`,
      test: `test[0, ${test.count})`,
    },
    xaiMetric,
    groups: results,
    winnerGroup,
    journal: { path: resolve(o.out, 'journal.jsonl'), entries: journal.size, fresh, reused: before },
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * The width knob's reference: the full-width model's exact design (same scheme), against which a
 * narrower variant's designs are judged (paired, same images) and their savings computed.
 */
interface Reference {
  valBits: Uint8Array;
  valAccuracy: number;
  testBits: Uint8Array;
  testAccuracy: number;
  energies: Record<Objective, number>;
}

interface Shared {
  graph: ReturnType<typeof importOnnx>;
  /** Width of the searched model in its family (1 = the model given), and the full-width reference (narrower variants). */
  width: number;
  ref?: Reference;
  val: Dataset;
  /** Index of the first validation image in the train split. */
  valStart: number;
  test: Dataset;
  calib: Dataset;
  estimatorCalib: Dataset;
  cvCalib: Dataset;
  xaiMetric: XaiMetric;
  modelHash: string;
  journal: Journal<AccuracyRecord>;
  confidence: number;
  screenImages: number;
  granularity: Granularity;
}

/**
 * One candidate group (one scheme) through the stages, in order: setup, energy (table and
 * pruning), criticality (XAI), baseline, sensitivity, search, front (points, Pareto front,
 * winner), test re-measure. Each stage is a function below; what one hands the next is typed.
 */
async function exploreGroup(o: ExploreOptions, group: CandidateGroup, s: Shared): Promise<{ result: GroupResult; fresh: number; reference: Reference }> {
  const seconds: Record<string, number> = {};
  let tStep = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = (now - tStep) / 1000;
    tStep = now;
  };
  const g = await setupStage(o, group, s);
  lap('setup');
  const energy = await energyStage(g);
  lap('energy');
  g.log(
    `${g.plan.units.length} units, ${energy.kept.length} candidate cells kept of ${group.cells.length}; exact ${energy.exactE.toFixed(0)} pJ/inference (${energy.objective})`,
  );
  const crit = criticalityStage(g);
  lap('xai');
  const judge = new ValidationJudge(g, await baselineStage(g));
  const sens = await sensitivityStage(g, judge, energy, crit);
  lap('sensitivity');
  g.log(
    `baseline val accuracy ${(100 * judge.base.valAccuracy).toFixed(2)} % (${judge.base.images} images), probe ${sens.probe}, Spearman(conductance, sensitivity) ${sens.spearman.conductance.toFixed(3)}`,
  );
  const check = checkStage(g, energy, crit, sens);
  lap('criticality check');
  const best = check.cells[0]?.vsKl.find((x) => x.estimator === check.used);
  if (best)
    g.log(
      `criticality: ${check.used} (${g.o.criticality ?? 'noise-kl'}); Spearman vs measured output KL on ${sens.probe} ${best.spearman.toFixed(2)} [${best.spearmanCi.map((v) => v.toFixed(2)).join(', ')}]; ${check.engineRuns.measured + check.engineRuns.noise} engine runs, ${(check.seconds.estimators + check.seconds.measured).toFixed(1)} s`,
    );
  else g.log(`criticality: ${check.used} (no approximate cell: the error-aware estimators model cells, not supplies, pruning or memory faults)`);
  const search = await searchStage(g, judge, energy, check);
  lap('search');
  const front = frontStage(judge.base, energy, search, s.ref);
  const test = await testStage(g, front);
  lap('test');
  const { unitScores: used, ...criticalityCheck } = check;
  const result = groupResult(g, energy, used, judge.base, sens, search, front, test, seconds, criticalityCheck);
  g.log(
    `${front.winner.feasible ? 'winner' : 'nothing within the budget; most accurate design'}: ${savingsText(front.winner.savings, energy.objective)}, val loss ${(100 * front.winner.valLoss).toFixed(2)} pp, test ${(100 * (front.winner.testAccuracy ?? 0)).toFixed(2)} % (${s.ref ? `full-width exact ${(100 * s.ref.testAccuracy).toFixed(2)} %, this width's exact` : 'exact'} ${(100 * test.baseAccuracy).toFixed(2)} %)`,
  );
  const reference = {
    valBits: judge.base.bits,
    valAccuracy: judge.base.valAccuracy,
    testBits: test.baseBits,
    testAccuracy: test.baseAccuracy,
    energies: result.baseline.energies,
  };
  return { fresh: g.ev.fresh, result, reference };
}

/** What every stage of one group reads: the options, the shared data, the model and its units. */
interface GroupContext {
  o: ExploreOptions;
  s: Shared;
  group: CandidateGroup;
  q: QuantModel;
  quantizedModel: string;
  plan: UnitPlan;
  exact: string;
  /** Journal key prefix: model, scheme, calibration and dataset (the key names image ranges). */
  problem: string;
  ev: Evaluator;
  log: (msg: string) => void;
  /** With the voltage knob: the library's nominal supply, the levels below it (voltageLevels) and the error models the engine draws from. */
  nominal?: number;
  levels?: number[];
  volt: VoltageContext;
  /** With the wmem knob: how the engine draws the weight memory's read faults (nn/wmem.ts). */
  wmem?: WeightFaultOptions;
}

async function setupStage(o: ExploreOptions, group: CandidateGroup, s: Shared): Promise<GroupContext> {
  const scheme = schemeFor(group.signed);
  // Quantized exactly as `axtpu eval|run --dataset <same>` quantize (nn/load.ts, one policy).
  const { model: q, source } = await loadQuantModelFor(o.model, scheme, { dataset: o.dataset });
  if (s.granularity === 'kernel') checkKernelCells([group]);
  const kernel = s.granularity === 'kernel' ? { cellSet: [group.exact, ...group.cells], inputGroups: o.inputGroups } : undefined;
  const plan = planUnits(q, s.granularity, o.rows, o.cols, kernel);
  const problem = shortHash({ v: 2, model: s.modelHash, scheme: q.scheme, calib: q.calibration, dataset: s.test.name, val: s.val.count });
  const log = (msg: string) => {
    if (!o.quiet && !process.env.AXTPU_QUIET) process.stderr.write(`explore [${scheme}]: ${msg}\n`);
  };
  const psumBits = resolveDesign(exactArrayConfig(plan, group.exact, 'explore_exact'), 'explore exact design').psumBits;
  const volt: VoltageContext = { rows: plan.rows, psumBits, seed: o.seed ?? 1 };
  const nominal = o.knobs?.includes('voltage') ? loadLiberty(defaultLiberty()).nomVoltage : undefined;
  const levels = nominal === undefined ? undefined : voltageLevels(o.levels ?? [], nominal);
  const wmem = wmemOptions(o);
  return {
    o,
    s,
    group,
    q,
    quantizedModel: source,
    plan,
    exact: group.exact,
    problem,
    ev: new Evaluator(s.journal, problem, rangeRunner(o, s, q, volt, wmem), knobKey(volt, wmem)),
    log,
    nominal,
    levels,
    volt,
    wmem,
  };
}

/** `--widths`: the family's variants to search, the full width always included (unknown width: one line). */
export function pickWidths(all: WidthVariant[], widths: number[] | undefined, model: string): WidthVariant[] {
  if (!widths) return all;
  for (const w of widths)
    if (!all.some((v) => v.width === w)) throw new UserError(`--widths: unknown width variant ${w} of ${model} (have: ${all.map((v) => v.width).join(', ')})`);
  return all.filter((v) => v.width === 1 || widths.includes(v.width));
}

/** With the wmem knob: the fault draw's options (nominal = the liberty's supply, like the PEs'). */
function wmemOptions(o: ExploreOptions): WeightFaultOptions | undefined {
  if (!o.knobs?.includes('wmem')) return undefined;
  const model = loadWmemModel(o.wmemModel);
  return {
    model,
    seed: o.wmemSeed ?? DEFAULT_WMEM_SEED,
    protectMsbs: o.protectMsbs ?? DEFAULT_PROTECT_MSBS,
    nominal: loadLiberty(defaultLiberty()).nomVoltage,
  };
}

/** The local engine, or the remote runner with each range named in its base split. */
function rangeRunner(o: ExploreOptions, s: Shared, q: QuantModel, volt: VoltageContext, wmem?: WeightFaultOptions) {
  const remote = o.remote;
  const knobs = o.knobs?.includes('prune') || o.knobs?.includes('wmem');
  if (!remote) return engineRunner(q, o.workers, s.cvCalib, volt, knobs ? knobWeights(q, wmem) : undefined);
  return (assignment: Assignment, _ds: Dataset, r: { split: string; start: number; end: number }) => {
    const val = r.split === 'val';
    const off = val ? s.valStart : 0;
    return remote({
      model: o.model,
      modelSha: s.modelHash,
      scheme: q.scheme,
      dataset: o.dataset ?? DEFAULT_DATASET,
      split: val ? 'train' : 'test',
      start: off + r.start,
      end: off + r.end,
      assignment,
    });
  };
}

/** Energy table (per layer, per cell), per-unit energies, cell error metrics, kept candidates. */
interface EnergyStage {
  table: EnergyTable;
  objective: Objective;
  om: ObjectiveModel;
  /** Per objective, per unit, per cell: what a gene vector sums (plus om.fixed). */
  tables: Record<Objective, Record<string, number>[]>;
  /** The search objective's per-unit table. */
  unitE: Record<string, number>[];
  /** Multiplier table (per-layer bars). */
  multUnitE: Record<string, number>[];
  /** Multiplier energy (pJ/inference) with every unit on one cell. */
  uniformE: (id: string) => number;
  exactE: number;
  metrics: GroupResult['cellMetrics'];
  dropped: GroupResult['dropped'];
  kept: string[];
  /**
   * With the cv knob: cells that get a compensated twin. Every cell that saves energy, before the
   * (energy, MAE, MRE) dominance pruning: compensation removes the linear part of the error, so a
   * cell dominated on raw error (perforation) can be the best one compensated.
   */
  cvTwins: string[];
  /** With the voltage knob: every gene above at every level below nominal (`<gene>@<V>`). */
  voltTwins: string[];
  /** With the prune and wmem knobs: every gene above at every sparsity and weight-memory level (`<gene>/p<s>/m<V>`). */
  knobTwins: string[];
  crossLayer?: GroupResult['crossLayer'];
}

async function energyStage(g: GroupContext): Promise<EnergyStage> {
  const { o, group, plan, exact } = g;
  const allCells = [exact, ...group.cells];
  const pe = new Progress('energy (layer x cell)', plan.layers.length * allCells.length);
  const table = await energyTable(g.q, plan, g.s.val, allCells, { onCell: () => pe.tick() });
  const multUnitE = unitEnergies(plan, table, allCells);
  const objective = o.objective ?? 'accelerator';
  g.log(`analytical estimate of the exact design (array and accelerator parts, ${o.memoryModel ?? 'models/memory-model.json'})`);
  const om = await objectiveModel(g.q, plan, exact, g.s.val, table, allCells, { memoryModel: o.memoryModel });
  let tables = objectiveUnitEnergies(multUnitE, om);
  const uniformE = (id: string) =>
    energyOf(
      tables,
      om,
      objective,
      plan.units.map(() => id),
    );
  const exactE = uniformE(exact);
  const metricsOf = (id: string) => metrics[baseCell(id)]!;
  const metrics: GroupResult['cellMetrics'] = {};
  for (const id of allCells) {
    const m = cellMetrics(getCell(id));
    metrics[id] = { maePct: m.maePct, mrePct: m.mrePct, wcePct: m.wcePct };
  }
  const dropped: GroupResult['dropped'] = [];
  let kept = group.cells.filter((id) => {
    if (uniformE(id) >= exactE) {
      dropped.push({ id, reason: `no ${objective} energy saving over the exact cell` });
      return false;
    }
    return true;
  });
  const savers = [...kept];
  if (!o.keepDominated) {
    // Dominated in (energy, MAE, MRE): a cell no better in energy, absolute AND relative error
    // than another is never the better choice for a unit. (MAE alone would drop DRUM, whose
    // small relative error is what DNNs tolerate, in favour of biased truncation cells.)
    const worse = (x: string, y: string) => uniformE(x) <= uniformE(y) && metrics[x]!.maePct <= metrics[y]!.maePct && metrics[x]!.mrePct <= metrics[y]!.mrePct;
    kept = kept.filter((id) => {
      const by = kept.find((x) => x !== id && worse(x, id) && !worse(id, x));
      if (by) dropped.push({ id, reason: `dominated by ${by} (energy, MAE and MRE)` });
      return !by;
    });
  }
  if (kept.length === 0 && !(o.knobs ?? []).some((k) => k !== 'cells'))
    throw new UserError(`--cells: no ${group.signed ? 'signed' : 'unsigned'} candidate saves energy over ${exact}`);
  if (o.knobs?.includes('cv')) {
    // Compensated twins `<cell>+cv`: the same per-unit energies; the hardware's price is charged
    // once per gene vector that uses it (om.cv), with coefficients of the most aggressive kept cell.
    for (const rows of [multUnitE, om.unitLeakage]) for (const row of rows) for (const id of savers) row[id + CV_SUFFIX] = row[id]!;
    for (const id of savers) metrics[id + CV_SUFFIX] = metricsOf(id);
    const harshest = [...kept].sort((a, b) => uniformE(a) - uniformE(b))[0]!;
    const bank = resolveAssignment(g.q, uniformAssignment(harshest));
    const all = Object.fromEntries(plan.layers.map((l) => [l.name, DEFAULT_Q]));
    const cv = compensation(g.q, bank, all, { pixels: g.s.cvCalib.pixels, count: g.s.cvCalib.count }).cv;
    g.log(`control-variate hardware priced on the exact design with ${harshest}'s coefficients`);
    om.cv = await cvOverhead(g.q, plan, exact, g.s.val, table, om, cv, { memoryModel: o.memoryModel });
  }
  const cvTwins = o.knobs?.includes('cv') ? savers : [];
  let voltTwins: string[] = [];
  if (g.nominal !== undefined && g.levels) {
    const levels = g.levels;
    const cells = [exact, ...new Set([...kept, ...cvTwins])];
    const pv = new Progress('timing-error models (cell PEs)', cells.length);
    g.volt.report = await arrayVosModels({
      cells,
      rows: plan.rows,
      cols: plan.cols,
      model: o.model,
      levels,
      ops: o.vosOps,
      margin: o.clockMargin,
      onCell: (c: string) => pv.tick(1, c),
    });
    const clock = g.volt.report.targets[0]!.clock.periodNs;
    g.log(`timing-error models at ${levels.join(', ')} V (nominal ${g.nominal} V), clock ${clock.toFixed(2)} ns at closure of the slowest PE`);
    const genes = [exact, ...kept, ...cvTwins.map((id) => id + CV_SUFFIX)];
    voltTwins = addVoltageTwins(plan, genes, levels, g.nominal, g.volt.report.voltageModel, multUnitE, om);
    for (const t of voltTwins) metrics[t] = metricsOf(t);
  }
  let knobTwins: string[] = [];
  let crossLayer: EnergyStage['crossLayer'];
  if (o.knobs?.includes('prune') || o.knobs?.includes('wmem')) {
    const sparsities = o.knobs.includes('prune') ? sparsityLevels(o.sparsities ?? DEFAULT_SPARSITIES) : [];
    const prunedE: PrunedEnergy[] = [];
    for (const sp of sparsities) {
      // Uniformly pruned: a layer's streams with its own weights pruned and its inputs from pruned layers.
      const pm = pruneModel(g.q, sp).model;
      const pp = new Progress(`energy at sparsity ${sp} (layer x cell)`, plan.layers.length * allCells.length);
      const t = await energyTable(pm, plan, g.s.val, allCells, { onCell: () => pp.tick() });
      const pom = await objectiveModel(pm, plan, exact, g.s.val, t, allCells, { memoryModel: o.memoryModel });
      prunedE.push({ sparsity: sp, perOp: t.perOp, layerPePj: pom.layerPePj });
    }
    const w = g.wmem;
    const wmemLevels = w ? wmemSearchLevels(o.wmemLevels ?? [], w) : [];
    knobTwins = addCrossLayerTwins(
      plan,
      [exact, ...kept],
      { pruned: prunedE, wmemLevels, wmemScale: (v) => wmemEnergyScale(v, w!.nominal, w!.protectMsbs) },
      multUnitE,
      om,
    );
    for (const t of knobTwins) metrics[t] = metricsOf(t);
    crossLayer = {
      sparsities,
      wmemLevels,
      ...(w ? { wmemNominal: w.nominal, protectMsbs: w.protectMsbs, wmemSeed: w.seed, wmemModel: w.model.name } : {}),
      scope: CROSS_LAYER_SCOPE,
    };
    g.log(
      `cross-layer knobs: ${sparsities.length ? `sparsities ${sparsities.join(', ')}` : 'dense'}; ${wmemLevels.length ? `weight memory at ${wmemLevels.join(', ')} V (nominal ${w!.nominal} V, ${w!.protectMsbs} MSBs protected, ${w!.model.name})` : 'weight memory at nominal'}`,
    );
  }
  tables = objectiveUnitEnergies(multUnitE, om);
  return {
    table,
    objective,
    om,
    tables,
    unitE: tables[objective],
    multUnitE,
    uniformE,
    exactE,
    metrics,
    dropped,
    kept,
    cvTwins,
    voltTwins,
    knobTwins,
    crossLayer,
  };
}

/** Criticality of every unit on the float model (the XAI calibration images). */
function criticalityStage(g: GroupContext): CriticalityResult {
  const c = g.s.calib;
  return unitCriticality(g.plan, g.s.graph, pixelsToFloat(c.pixels), c.labels, c.count, g.s.xaiMetric, g.o.xaiSteps ?? 8);
}

/** The all-exact design on the validation hold-out: every other design is judged against it. */
interface Baseline {
  /** Validation image-range boundaries (screening stage first when on). */
  stages: number[];
  images: number;
  /** Per-image correctness of the exact design. */
  bits: Uint8Array;
  valAccuracy: number;
  exactGenes: string[];
}

async function baselineStage(g: GroupContext): Promise<Baseline> {
  const V = g.s.val.count;
  const stages = g.s.screenImages > 0 && g.s.screenImages < V ? [g.s.screenImages, V] : [V];
  const exactGenes = g.plan.units.map(() => g.exact);
  const bits = await g.ev.prefix('val', g.s.val, V, toAssignment(g.plan, exactGenes, g.exact), stages);
  return { stages, images: V, bits, valAccuracy: accuracyOf(bits), exactGenes };
}

interface ValJudgement {
  acc: number;
  loss: PairedLoss;
  fits: boolean;
}

/**
 * Judges designs by their paired loss vs the exact design on the same validation images, and
 * counts them (each design once, however many image ranges it took).
 */
class ValidationJudge {
  designs = 0;
  screenedOut = 0;

  constructor(
    private readonly g: GroupContext,
    readonly base: Baseline,
  ) {}

  /** With `screen`, stop after the first stage when even the lower bound of the loss exceeds the
   *  budget (clearly infeasible: most greedy trials). */
  async judge(cells: string[], screen: boolean): Promise<ValJudgement> {
    const { ev, s, o, plan, exact } = this.g;
    const { stages } = this.base;
    // A narrower width variant is judged against the full-width model's exact design.
    const bits = s.ref?.valBits ?? this.base.bits;
    const valAccuracy = s.ref?.valAccuracy ?? this.base.valAccuracy;
    const a = toAssignment(plan, cells, exact, this.g.nominal);
    this.designs++;
    if (screen && stages.length > 1) {
      const n1 = stages[0]!;
      const l1 = pairedLoss(bits.subarray(0, n1), await ev.prefix('val', s.val, n1, a, stages), s.confidence);
      if (l1.lower > o.budget) {
        this.screenedOut++;
        return { acc: valAccuracy - l1.loss, loss: l1, fits: false };
      }
    }
    const l = pairedLoss(bits, await ev.prefix('val', s.val, this.base.images, a, stages), s.confidence);
    return { acc: valAccuracy - l.loss, loss: l, fits: l.upper <= o.budget + 1e-12 };
  }

  /** Correctness on the screening images only (a ranking measurement: enough for sensitivity). */
  async screen(a: Assignment): Promise<Uint8Array> {
    this.designs++;
    const n1 = this.base.stages[0]!;
    return this.g.ev.prefix('val', this.g.s.val, n1, a, this.base.stages);
  }
}

/** One layer approximated at a time with the probe cell. */
interface Sensitivity {
  probe: string;
  layers: LayerRow[];
  evaluations: number;
  spearman: GroupResult['spearman'];
}

async function sensitivityStage(g: GroupContext, judge: ValidationJudge, e: EnergyStage, crit: CriticalityResult): Promise<Sensitivity> {
  const { plan, exact } = g;
  // Voltage only (no approximate cell kept): the probe is the exact cell at a middle level.
  const probes = e.kept.length ? e.kept : e.voltTwins.length ? e.voltTwins : e.knobTwins;
  const byEnergy = [...probes].sort((a, b) => e.uniformE(a) - e.uniformE(b));
  // Width alone (exact cells, no other knob): nothing to probe but the exact cell (zero loss).
  const probe = g.o.probe ?? byEnergy[Math.floor(byEnergy.length / 2)] ?? exact;
  const evals0 = judge.designs;
  const ps = new Progress('sensitivity (one layer at a time)', plan.layers.length);
  const n1 = judge.base.stages[0]!;
  // The probes are independent: with remote workers they run side by side (same results).
  const layers = await mapLimit(plan.layers, g.o.remote ? plan.layers.length : 1, async (l): Promise<LayerRow> => {
    const a = singleLayerAssignment(plan, l.name, baseCell(probe), exact);
    const { volts, sparsity, wmem } = parseGene(probe);
    const bits = await judge.screen({
      ...a,
      ...(volts === undefined ? {} : { volts: { [l.name]: volts } }),
      ...(sparsity === undefined ? {} : { prune: { [l.name]: sparsity } }),
      ...(wmem === undefined ? {} : { wmem: { [l.name]: wmem } }),
    });
    const loss = pairedLoss(judge.base.bits.subarray(0, n1), bits, g.s.confidence).loss;
    const c = crit.layers.find((x) => x.layer === l.name)!;
    ps.tick(1, l.name);
    return {
      layer: l.name,
      macsPerImage: l.macsPerImage,
      tile: l.tile,
      gradTimesActivation: c.gradTimesActivation,
      conductance: c.conductance,
      probeAccuracy: accuracyOf(bits),
      sensitivity: loss,
    };
  });
  const rho = (k: 'gradTimesActivation' | 'conductance') =>
    layers.length >= 2
      ? spearman(
          layers.map((l) => l[k]),
          layers.map((l) => l.sensitivity),
        )
      : 0;
  return { probe, layers, evaluations: judge.designs - evals0, spearman: { gradTimesActivation: rho('gradTimesActivation'), conductance: rho('conductance') } };
}

/**
 * Error-aware criticality and its validation: every estimator for the probe and two more kept
 * cells (a quarter and three quarters up the energy order) vs one-layer measurements on the
 * screening images (at most 200: the KL ranking is stable there, bench/criticality.ts), and at
 * filter granularity one-filter measurements on 16 sampled filters. The used estimator's
 * per-unit damage on the probe cell orders the search.
 */
interface CheckResult extends CriticalityCheck {
  chosen: Estimator;
  used: Estimator;
  /** Per unit: the used estimator's score (higher = more critical). */
  unitScores: number[];
  /**
   * Per unit: the predicted damage of `cell` alone on that unit (the used estimator; noise-kl when
   * it is cell-blind: conductance and gradient x activation cannot rank cells against each other).
   * Absent without an approximate cell.
   */
  unitDamage?: (cell: string) => number[];
}

function checkStage(g: GroupContext, e: EnergyStage, crit: CriticalityResult, sens: Sensitivity): CheckResult {
  const { q, plan, exact } = g;
  // Voltage alone (no approximate cell kept): the estimators take a cell's error moments, which a
  // supply level has none of; the search is ordered by the XAI score (conductance).
  if (!e.kept.length)
    return {
      images: 0,
      estimatorImages: 0,
      bootstrap: 0,
      level: 0,
      cells: [],
      engineRuns: { measured: 0, noise: 0 },
      seconds: { estimators: 0, measured: 0 },
      chosen: 'conductance',
      used: 'conductance',
      unitScores: crit.units,
    };
  const byEnergy = [...e.kept].sort((a, b) => e.uniformE(a) - e.uniformE(b));
  const others = [byEnergy[Math.floor(byEnergy.length / 4)]!, byEnergy[Math.floor((3 * byEnergy.length) / 4)]!, ...byEnergy];
  const cells = [...new Set([sens.probe, ...others])].slice(0, 3);
  const images = Math.min(g.s.screenImages > 0 ? g.s.screenImages : g.s.val.count, 200);
  const x = estimatorInputs(q, g.s.graph, exact, g.s.estimatorCalib);
  const check = checkCriticality({
    q,
    graph: g.s.graph,
    exact,
    cells,
    calib: g.s.estimatorCalib,
    val: limitDataset(g.s.val, images),
    xai: crit.layers,
    filterSample: plan.granularity === 'filter' ? 16 : 0,
    inputs: x,
  });
  const chosen = chooseEstimator(check);
  const used = g.o.criticality === undefined ? 'noise-kl' : g.o.criticality === 'auto' ? chosen : g.o.criticality;
  // Per layer: an estimator's value for a checked cell (model order, as the check measured).
  const layerScore = (c: CellCheck, est: Estimator) => Object.fromEntries(c.measured.map((m, j) => [m.layer, c.estimates[est][j]!]));
  // Per unit, every kept cell's predicted damage (the path order asks for each): cells beyond the
  // check's three cost one noise run per layer on the estimator images. Cell-blind XAI scores
  // cannot rank cells against each other, so with them the damage is noise-kl's.
  const cellBlind = used === 'conductance' || used === 'gxa';
  const damageBy: ErrorEstimator = cellBlind ? 'noise-kl' : used;
  const damages = new Map<string, number[]>();
  const unitDamage = (cell: string): number[] => {
    let d = damages.get(cell);
    if (d) return d;
    const known = check.cells.find((c) => c.cell === cell);
    const layers = known ? layerScore(known, damageBy) : layerDamages(x, cell)[damageBy];
    if (plan.granularity === 'layer') d = unitScores(plan, layers);
    else {
      // Filter units: the layer's damage split by the channels' share of the Fisher estimate.
      const ch = channelDamages(x, cell);
      d = unitScores(plan, layers, damageBy === 'fisher' ? ch.fisher : ch['fisher-coherent']);
    }
    damages.set(cell, d);
    return d;
  };
  // The search order: the probe's (first checked cell's) damage, or the XAI score split by channel.
  const scores = cellBlind ? unitScores(plan, layerScore(check.cells[0]!, used), crit.channelShare) : unitDamage(sens.probe);
  return { ...check, chosen, used, unitScores: scores, unitDamage };
}

/** Every design the search judged (by gene-vector key, in first-seen order). */
interface SearchOutcome {
  evaluated: Map<string, { cells: string[]; j: ValJudgement; source: string }>;
  evaluations: number;
  screenedOut: number;
  images: number;
  greedyPath?: GreedyPathRecord;
}

/** What `--greedy-order path` walked (summary.json): the predicted path and the designs judged on it. */
export interface GreedyPathRecord {
  /** 'path' (predicted, additive) or 'surrogate' (measured on the whole design, built as far as needed). */
  order: 'path' | 'surrogate';
  /** Step k+1 of the path: unit (its name), the cell it moves to, the damage (path: the unit's
   *  predicted damage with that cell; surrogate: the whole design's output KL after the step), and
   *  pJ saved per unit of damage added (null: none added, a free step). */
  steps: { unit: string; cell: string; damage: number; ratio: number | null }[];
  /** The last path design that kept the budget (its number of steps; -1: not even the first). */
  boundary: number;
  trials: { phase: 'bisect' | 'fill'; cells: string[]; fits: boolean }[];
  /** 'surrogate': engine runs on the estimator images (fresh, replayed from surrogate.jsonl) and images per run. */
  surrogate?: { runs: number; replays: number; images: number };
}

async function searchStage(g: GroupContext, judge: ValidationJudge, e: EnergyStage, check: CheckResult): Promise<SearchOutcome> {
  const criticality = check.unitScores;
  const { plan, exact } = g;
  const { unitE } = e;
  const evaluated: SearchOutcome['evaluated'] = new Map();
  const note = (cells: string[], j: ValJudgement, source: string) => {
    const k = cells.join('|');
    const prev = evaluated.get(k);
    // A later full measurement replaces a screened one.
    if (!prev || prev.j.loss.images < j.loss.images) evaluated.set(k, { cells, j, source: prev?.source ?? source });
  };
  const base = judge.base;
  // A narrower variant's all-exact design is a design like any other (it may lose too much).
  if (g.s.ref) note(base.exactGenes, await judge.judge(base.exactGenes, false), 'baseline');
  else note(base.exactGenes, { acc: base.valAccuracy, loss: pairedLoss(base.bits, base.bits, g.s.confidence), fits: true }, 'baseline');
  // Per unit: cells that save energy ON THAT UNIT (a cell can cost more than exact on one
  // layer's operand statistics), most aggressive first, exact last.
  // With the cv knob cells have a compensated twin right after them (same unit energy).
  const pool = [...new Set([...e.kept, ...e.cvTwins])]
    .sort()
    .flatMap((id) => [...(e.kept.includes(id) ? [id] : []), ...(e.cvTwins.includes(id) ? [id + CV_SUFFIX] : [])])
    .concat(e.voltTwins, e.knobTwins);
  // approxShare (axtpu nas --search xai): only the least critical units are offered approximate cells.
  const open = Math.ceil((g.o.approxShare ?? 1) * plan.units.length);
  const rank = [...plan.units.keys()].sort((a, b) => criticality[a]! - criticality[b]! || a - b);
  const closed = new Set(rank.slice(open));
  const choices = plan.units.map((_, u) =>
    pool
      .filter((id) => !closed.has(u) && unitE[u]![id]! < unitE[u]![exact]!)
      .sort((a, b) => unitE[u]![a]! - unitE[u]![b]! || (a < b ? -1 : 1))
      .concat(exact),
  );
  const space: SearchSpace = { g, judge, e, choices, cellsOf: (genes) => genes.map((i, u) => choices[u]![i]!), note };
  const evals0 = judge.designs;
  const screened0 = judge.screenedOut;
  const images0 = g.ev.images;
  const order = g.o.greedyOrder ?? 'surrogate';
  // The path needs a predicted damage per cell: plain kept cells only (no cv, supply or
  // cross-layer twins; their damage is not what the estimators model).
  const pathable = check.unitDamage !== undefined && pool.every((id) => e.kept.includes(id));
  let greedyPath: GreedyPathRecord | undefined;
  if (g.o.search === 'xai-greedy') {
    const walks = order === 'path' || order === 'surrogate';
    if (walks && pathable) {
      // The surrogate first scores every unit alone on every cheaper cell: one engine run each, too
      // many with filter or kernel units (hundreds of units), where the path's analytic per-channel
      // prediction is cheap.
      const surrogate = order === 'surrogate' && plan.granularity === 'layer';
      if (order === 'surrogate' && !surrogate)
        g.log(`greedy order: surrogate scores every unit alone (${plan.units.length} ${plan.granularity} units); using path`);
      greedyPath = surrogate ? await surrogateSearch(space) : await pathSearch(space, check.unitDamage!);
    } else {
      if (walks) g.log(`greedy order: ${order} needs plain cells (no cv, voltage or cross-layer twins); using per-energy`);
      // Knapsack order: damage per pJ the unit can save (its most aggressive choice vs exact).
      const perEnergy = criticality.map((c, u) => c / Math.max(1e-9, unitE[u]![exact]! - unitE[u]![choices[u]![0]!]!));
      await greedySearch(space, order === 'criticality' ? criticality : perEnergy);
    }
  } else if (g.o.search === 'nsga2') await nsga2Search(space, criticality);
  else await exhaustiveSearch(space);
  return {
    evaluated,
    evaluations: judge.designs - evals0,
    screenedOut: judge.screenedOut - screened0,
    images: g.ev.images - images0,
    ...(greedyPath ? { greedyPath } : {}),
  };
}

/** What a search strategy works on: per-unit cell choices (gene i of unit u = choices[u][i]). */
interface SearchSpace {
  g: GroupContext;
  judge: ValidationJudge;
  e: EnergyStage;
  choices: string[][];
  cellsOf: (genes: number[]) => string[];
  /** Record a judged design under the strategy that asked for it. */
  note: (cells: string[], j: ValJudgement, source: string) => void;
}

async function greedySearch(x: SearchSpace, criticality: number[]): Promise<void> {
  const { g, judge, choices, e } = x;
  const units = g.plan.units;
  const pg = new Progress('xai-greedy', units.length);
  let lastUnit = -1;
  const fits = new Map<string, boolean>();
  await xaiGreedy({
    units: units.length,
    criticality,
    candidates: choices.map((c) => c.map((_, i) => i)),
    initial: choices.map((c) => c.length - 1),
    accuracyOf: async (genes) => {
      const cells = x.cellsOf(genes);
      const j = await judge.judge(cells, true);
      x.note(cells, j, 'xai-greedy');
      fits.set(genes.join(','), j.fits);
      return j.acc;
    },
    accepts: (genes) => fits.get(genes.join(',')) === true,
    baselineAccuracy: g.s.ref?.valAccuracy ?? judge.base.valAccuracy,
    budget: g.o.budget,
    // Bisect assumes a less aggressive choice fits whenever a more aggressive one does. Across
    // (cell, supply) pairs in energy order that fails (a cheaper pair can fit where a dearer one
    // does not): measured on LeNet-5, the joint search then kept every layer at nominal. So the
    // voltage knob scans unless asked otherwise.
    step: g.o.greedyStep ?? (g.nominal !== undefined || e.knobTwins.length ? 'scan' : 'bisect'),
    onStep: (u) => {
      if (u !== lastUnit) pg.tick(1, units[u]!.name);
      lastUnit = u;
    },
  });
}

/**
 * Greedy along the predicted front (explore/path.ts): the path's steps ordered by the search
 * objective's energy saved per unit of predicted damage; bisection probes are measured on every
 * validation image (each is a front point), fill trials are screened like greedy's.
 */
/**
 * What both path walks (path, surrogate) share: each unit's choice energies, the all-exact start,
 * a judge that notes every design it measures, and the record of the walk for summary.json.
 */
function walkOf(x: SearchSpace) {
  const units = x.g.plan.units;
  return {
    energy: x.choices.map((c, u) => c.map((id) => x.e.unitE[u]![id]!)),
    start: x.choices.map((c) => c.length - 1),
    fits: async (genes: number[], probe: boolean) => {
      const cells = x.cellsOf(genes);
      const j = await x.judge.judge(cells, !probe);
      x.note(cells, j, 'xai-greedy');
      return j.fits;
    },
    record: (
      order: GreedyPathRecord['order'],
      steps: { unit: number; to: number; ratio: number; damage: number }[],
      r: { boundary: number; trials: { phase: 'bisect' | 'fill'; genes: number[]; fits: boolean }[] },
    ): GreedyPathRecord => ({
      order,
      steps: steps.map((s) => ({
        unit: units[s.unit]!.name,
        cell: x.choices[s.unit]![s.to]!,
        damage: s.damage,
        ratio: Number.isFinite(s.ratio) ? s.ratio : null,
      })),
      boundary: r.boundary,
      trials: r.trials.map((t) => ({ phase: t.phase, cells: x.cellsOf(t.genes), fits: t.fits })),
    }),
  };
}

async function pathSearch(x: SearchSpace, unitDamage: (cell: string) => number[]): Promise<GreedyPathRecord> {
  const { g, choices } = x;
  const units = g.plan.units;
  const { energy, start, fits, record } = walkOf(x);
  const damage = choices.map((c, u) => c.map((id) => (id === g.exact ? 0 : unitDamage(id)[u]!)));
  const steps = marginalPath(energy, damage, start);
  g.log(`greedy path: ${steps.length} steps over ${units.length} units`);
  // At most 1 + ceil(log2(steps + 1)) bisection probes; the fill's length is known when it starts.
  let pg = new Progress('greedy path: bisect', 1 + Math.ceil(Math.log2(steps.length + 1)));
  const r = await pathGreedy({
    energy,
    damage,
    start,
    steps,
    fits: async (genes, probe) => {
      const ok = await fits(genes, probe);
      pg.tick();
      return ok;
    },
    onFill: (n) => {
      pg = new Progress(`greedy path: fill (at most; stops after ${FILL_PATIENCE} rejections in a row)`, n);
    },
  });
  return record(
    'path',
    steps.map((s) => ({ ...s, damage: damage[s.unit]![s.to]! })),
    r,
  );
}

/** `--greedy-order surrogate`: greedy on the path measured by the whole-design output KL (explore/path.ts surrogateGreedy). */
async function surrogateSearch(x: SearchSpace): Promise<GreedyPathRecord> {
  const { g, choices } = x;
  const { energy, start, fits, record } = walkOf(x);
  const kl = await DesignKl.create(
    g.q,
    g.s.estimatorCalib,
    toAssignment(g.plan, x.cellsOf(start), g.exact),
    g.problem,
    new Journal<SurrogateRecord>(join(g.o.out, 'surrogate.jsonl')),
  );
  g.log(`greedy surrogate: whole-design output KL on ${kl.images} estimator images, path built as far as the budget needs`);
  // At most: the start, the gallop and the bisection over the longest path, then one fill trial per
  // step left and per allowed rejection.
  const longest = choices.reduce((a, c) => a + c.length - 1, 0);
  const pg = new Progress('greedy surrogate: designs judged (at most)', 1 + 2 * Math.ceil(Math.log2(longest + 1)) + longest + FILL_PATIENCE);
  const r = await surrogateGreedy({
    energy,
    start,
    score: async (genes) => kl.score(toAssignment(g.plan, x.cellsOf(genes), g.exact)),
    fits,
    onTrial: (phase) => pg.tick(1, phase),
  });
  g.log(
    `greedy surrogate: ${r.steps.length} path steps, ${kl.runs} engine runs on ${kl.images} images (${kl.hits} replayed), ${r.trials.length} designs judged`,
  );
  return {
    ...record(
      'surrogate',
      r.steps.map((s) => ({ ...s, damage: s.score })),
      r,
    ),
    surrogate: { runs: kl.runs, replays: kl.hits, images: kl.images },
  };
}

async function nsga2Search(x: SearchSpace, criticality: number[]): Promise<void> {
  const { o } = x.g;
  const gens = o.nsgaGenerations ?? 10;
  const population = o.nsgaPopulation ?? 16;
  const pg = new Progress('nsga2 generations', gens);
  await nsga2({
    choices: x.choices.map((c) => c.length),
    populationSize: population,
    generations: gens,
    seed: o.seed ?? 1,
    seeds: [x.choices.map((c) => c.length - 1), x.choices.map(() => 0), ...criticalitySeeds(criticality, x.choices, Math.floor(population / 2))],
    evaluate: async (genes) => {
      const cells = x.cellsOf(genes);
      const j = await x.judge.judge(cells, false);
      x.note(cells, j, 'nsga2');
      return { f: [energyOf(x.e.tables, x.e.om, x.e.objective, cells), 1 - j.acc] };
    },
    onGeneration: () => pg.tick(),
  });
}

/**
 * NSGA-II seeds from the criticality order: the k least critical units on their most aggressive
 * cell, the rest exact, for up to `max` values of k spread over 1..units-1 (the designs greedy
 * walks towards, from which crossover can mix).
 */
export function criticalitySeeds(criticality: number[], choices: unknown[][], max: number): number[][] {
  const order = [...criticality.keys()].sort((a, b) => criticality[a]! - criticality[b]! || a - b);
  const U = order.length;
  const ks = new Set<number>();
  const n = Math.min(max, U - 1);
  for (let i = 1; i <= n; i++) ks.add(Math.round((i * (U - 1)) / n));
  return [...ks].map((k) => {
    const genes = choices.map((c) => c.length - 1);
    for (const u of order.slice(0, k)) genes[u] = 0;
    return genes;
  });
}

async function exhaustiveSearch(x: SearchSpace): Promise<void> {
  const sizes = x.choices.map((c) => c.length);
  const total = sizes.reduce((a, b) => a * b, 1);
  const cap = x.g.o.maxExhaustive ?? 4096;
  if (total > cap)
    throw new UserError(`--search exhaustive: ${total} assignments (${sizes.join(' x ')}) exceed the limit of ${cap}; use xai-greedy or nsga2, or fewer cells`);
  const pg = new Progress('exhaustive', total);
  for (const genes of allGenomes(sizes)) {
    const cells = x.cellsOf(genes);
    x.note(cells, await x.judge.judge(cells, false), 'exhaustive');
    pg.tick();
  }
}

/** Points with their energies, the Pareto front of the fully measured ones, the winner. */
interface FrontStage {
  points: ExplorePoint[];
  /** Points measured on every validation image (screened-out ones are not). */
  full: ExplorePoint[];
  front: ExplorePoint[];
  winner: ExplorePoint;
}

function frontStage(base: Baseline, e: EnergyStage, search: SearchOutcome, ref?: Reference): FrontStage {
  // Savings are vs the exact design of the full-width model (the searched model's own without the width knob).
  const exact = ref?.energies ?? energiesOf(e.tables, e.om, base.exactGenes);
  const points: ExplorePoint[] = [...search.evaluated.values()].map((p, id) => {
    const energies = energiesOf(e.tables, e.om, p.cells);
    const savings = Object.fromEntries(Object.entries(energies).map(([k, v]) => [k, 1 - v / exact[k as Objective]])) as Record<Objective, number>;
    return {
      id,
      source: p.source,
      cells: p.cells,
      energyPj: energies[e.objective],
      saving: savings[e.objective],
      energies,
      savings,
      valAccuracy: p.j.acc,
      valLoss: p.j.loss.loss,
      valLossUpper: p.j.loss.upper,
      valImages: p.j.loss.images,
      feasible: p.j.fits,
    };
  });
  // Screened-out points were measured on fewer images: they stay out of the front.
  const full = points.filter((p) => p.valImages === base.images);
  const front = paretoFront(full.map((p) => ({ ...p, energy: p.energyPj, accuracy: p.valAccuracy }))).map((p) => points[p.id]!);
  const feasible = points.filter((p) => p.feasible).sort((a, b) => a.energyPj - b.energyPj || b.valAccuracy - a.valAccuracy);
  // The all-exact design of the full-width model is always feasible; a narrower variant may have
  // nothing within the budget: its winner is then its most accurate design, marked infeasible.
  const winner = feasible[0] ?? [...full].sort((a, b) => b.valAccuracy - a.valAccuracy || a.energyPj - b.energyPj)[0]!;
  return { points, full, front, winner };
}

/** Final numbers on the test split: the exact design, the winner and a few front points. */
interface TestStage {
  baseAccuracy: number;
  /** Per-image correctness of the exact design on the test split. */
  baseBits: Uint8Array;
  evaluations: number;
}

async function testStage(g: GroupContext, f: FrontStage): Promise<TestStage> {
  const { ev, s, plan, exact } = g;
  const evals0 = ev.fresh + ev.hits;
  const T = s.test.count;
  const exactGenes = plan.units.map(() => exact);
  const baseBits = await ev.range('test', s.test, 0, T, toAssignment(plan, exactGenes, exact));
  const frontMax = g.o.frontTestMax ?? 3;
  const toTest = new Set<ExplorePoint>([f.winner]);
  const step = Math.max(1, Math.ceil(f.front.length / frontMax));
  for (let i = 0; i < f.front.length && toTest.size < frontMax; i += step) toTest.add(f.front[i]!);
  const pt = new Progress('test split (front points)', toTest.size);
  for (const p of toTest) {
    const bits = await ev.range('test', s.test, 0, T, toAssignment(plan, p.cells, exact, g.nominal));
    const l = pairedLoss(s.ref?.testBits ?? baseBits, bits, s.confidence);
    p.testAccuracy = accuracyOf(bits);
    p.testLoss = l.loss;
    p.testLossUpper = l.upper;
    pt.tick();
  }
  return { baseAccuracy: accuracyOf(baseBits), baseBits, evaluations: ev.fresh + ev.hits - evals0 };
}

/** The group's report: per-layer winner energies, hypervolume, the winner as an array config. */
function groupResult(
  g: GroupContext,
  e: EnergyStage,
  unitCrit: number[],
  base: Baseline,
  sens: Sensitivity,
  search: SearchOutcome,
  f: FrontStage,
  test: TestStage,
  seconds: Record<string, number>,
  criticalityCheck: GroupResult['criticalityCheck'],
): GroupResult {
  const { plan, exact, q } = g;
  const wf = cellGrids(plan, f.winner.cells, exact);
  const we = layerEnergies(plan, e.table, wf);
  const xe = layerEnergies(plan, e.table, cellGrids(plan, base.exactGenes, exact));
  const winnerLayers = plan.layers.map((l) => {
    // Filters per cell (a kernel-level filter counts in proportion to its input channels).
    const cells: Record<string, number> = {};
    for (const row of wf[l.name]!) for (const id of row) cells[id] = (cells[id] ?? 0) + 1 / row.length;
    return { layer: l.name, cells, energyPj: we[l.name]!, exactEnergyPj: xe[l.name]! };
  });
  const hv = hypervolume(
    f.full.map((p) => ({ energy: p.energyPj, accuracy: p.valAccuracy })),
    exactReference({ energy: g.s.ref?.energies[e.objective] ?? e.exactE, accuracy: g.s.ref?.valAccuracy ?? base.valAccuracy }, 4 * g.o.budget),
  );
  const ref = g.s.ref;
  return {
    scheme: q.scheme,
    model: g.o.model,
    width: g.s.width,
    ...(ref ? { reference: { width: 1 as const, valAccuracy: ref.valAccuracy, testAccuracy: ref.testAccuracy, energies: ref.energies } } : {}),
    quantizedModel: g.quantizedModel,
    exact,
    candidates: e.kept,
    dropped: e.dropped,
    probe: sens.probe,
    units: plan.units.map((u, i) => ({
      name: u.name,
      tile: u.tile,
      column: u.column,
      criticality: unitCrit[i]!,
      macsPerImage: Object.values(u.macs).reduce((a, b) => a + b, 0),
    })),
    layers: sens.layers,
    spearman: sens.spearman,
    criticalityCheck,
    baseline: { energyPj: e.exactE, energies: energiesOf(e.tables, e.om, base.exactGenes), valAccuracy: base.valAccuracy, testAccuracy: test.baseAccuracy },
    accelerator: {
      exactParts: objectivePartsOf(e.om, e.multUnitE, base.exactGenes),
      winnerParts: objectivePartsOf(e.om, e.multUnitE, f.winner.cells),
      memory: e.om.memory,
      images: e.om.images,
      batch: e.om.batch,
    },
    points: f.points,
    front: f.front,
    winner: f.winner,
    winnerLayers,
    winnerDesign: toArrayConfig(plan, f.winner.cells, exact, `explore_${g.problem.slice(0, 8)}_${q.scheme}`, g.nominal),
    winnerAssignment: toAssignment(plan, f.winner.cells, exact, g.nominal),
    evaluations: {
      search: search.evaluations,
      sensitivity: sens.evaluations,
      test: test.evaluations,
      searchImages: search.images,
      screenedOut: search.screenedOut,
    },
    ...(search.greedyPath ? { greedyPath: search.greedyPath } : {}),
    hypervolume: hv,
    energy: { clockMHz: e.table.clockMHz, liberty: e.table.liberty, pairs: e.table.pairs, perOp: e.table.perOp, area: e.table.area },
    cellMetrics: e.metrics,
    voltage: g.nominal === undefined ? undefined : voltageSummary(g, f.winner.cells),
    ...(e.crossLayer ? { crossLayer: e.crossLayer } : {}),
    seconds,
  };
}

/**
 * Journal key part of an assignment below nominal: the error models and seed its timing errors are
 * drawn with (hashed once per report), and the draws' convention (`inject: 2`: error sums decoded
 * as the host decodes the array's words, since 2026-11-30).
 */
function knobKey(volt: VoltageContext, wmem?: WeightFaultOptions): (a: Assignment) => string {
  let memo: { report: VosReport; key: string } | undefined;
  // Weight-memory faults: the bit-error model, seed, protection and nominal the faults are drawn with.
  const wkey = wmem ? `wmem=${shortHash({ model: wmem.model, seed: wmem.seed, protect: wmem.protectMsbs, nominal: wmem.nominal })}` : '';
  return (a) => {
    const parts: string[] = [];
    if (a.volts && Object.keys(a.volts).length) {
      if (!volt.report) throw new Error('explore: an assignment with volts needs the error models first');
      if (memo?.report !== volt.report) memo = { report: volt.report, key: shortHash({ inject: 2, models: volt.report, seed: volt.seed }) };
      parts.push(`vos=${memo.key}`);
    }
    if (a.wmem && Object.keys(a.wmem).length) parts.push(wkey);
    return parts.join(':');
  };
}

/** The winner's supply per column of every tile (the heat map) and what the energy counts. */
function voltageSummary(g: GroupContext, genes: string[]): NonNullable<GroupResult['voltage']> {
  const { plan, exact } = g;
  const nominal = g.nominal!;
  const levels = g.levels!;
  const map = Array.from({ length: plan.tiles }, (_, t) => {
    const of = (c: number) => {
      const u = unitAt(plan, t, c);
      return u >= 0 ? parseGene(genes[u]!) : { cell: exact, volts: undefined };
    };
    return {
      tile: t,
      layers: plan.layers
        .filter((l) => l.tile === t)
        .map((l) => l.name)
        .join('+'),
      volts: Array.from({ length: plan.cols }, (_, c) => of(c).volts ?? nominal),
      cells: Array.from({ length: plan.cols }, (_, c) => of(c).cell),
    };
  });
  return {
    nominal,
    levels,
    levelsText: levels.join(', '),
    clockNs: Number(g.volt.report!.targets[0]!.clock.periodNs.toFixed(3)),
    scope: VOLTAGE_SCOPE,
    map,
    models: g.volt.report!,
    seed: g.volt.seed,
  };
}

export type { UnitPlan };

/** A group's name in reports: its scheme, and its width when it is a narrower variant (`signed w0.5`). */
export const groupLabel = (g: Pick<GroupResult, 'scheme' | 'width'>): string => (g.width === 1 ? g.scheme : `${g.scheme} w${g.width}`);

/** "12.3 % accelerator energy saved (array 20.1 %, multiplier 40.2 %)": every saving named. */
export function savingsText(s: Record<Objective, number>, objective: Objective): string {
  const p = (x: number) => `${(100 * x).toFixed(1)} %`;
  const others = (['accelerator', 'array', 'multiplier'] as const).filter((k) => k !== objective);
  return `${p(s[objective])} ${objective} energy saved (${others.map((k) => `${k} ${p(s[k])}`).join(', ')})`;
}
