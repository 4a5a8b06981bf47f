import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../core/errors.ts';
import { shortHash } from '../core/hash.ts';
import { Progress } from '../core/progress.ts';
import { loadModelFor } from '../flow/run.ts';
import type { Design } from '../generators/array/config.ts';
import { cellMetrics, getCell } from '../generators/multipliers/index.ts';
import { type Dataset, limitDataset, loadDataset } from '../nn/dataset.ts';
import { checkShapes } from '../nn/evaluate.ts';
import { importOnnx } from '../nn/onnx.ts';
import { type CandidateGroup, DEFAULT_CELLS, expandCells, groupCandidates } from './candidates.ts';
import { type CriticalityResult, unitCriticality, type XaiMetric } from './criticality.ts';
import { candidateEnergy, type EnergyTable, energyTable, layerEnergies, unitEnergies } from './energy.ts';
import { type AccuracyRecord, accuracyOf, Evaluator, engineRunner, tailDataset } from './evaluator.ts';
import { xaiGreedy } from './greedy.ts';
import { Journal } from './journal.ts';
import { nsga2 } from './nsga2.ts';
import { hypervolume, paretoFront } from './pareto.ts';
import { type PairedLoss, pairedLoss, spearman } from './stats.ts';
import { checkGranularity, filterCells, type Granularity, planUnits, singleLayerAssignment, toArrayConfig, toAssignment, type UnitPlan } from './units.ts';

/**
 * The closed loop (issue 8): criticality -> sensitivity -> search on a validation hold-out ->
 * Pareto front -> final numbers on the test split. The RTL step for the winner is explore/winner.ts.
 */
export type SearchKind = 'xai-greedy' | 'nsga2' | 'exhaustive';

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
  /** Test images for the final numbers (default: the whole test split). */
  testImages?: number;
  probe?: string;
  prune?: boolean;
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
}

export interface ExplorePoint {
  id: number;
  source: string;
  /** Cell of each decision unit. */
  cells: string[];
  energyPj: number;
  saving: number;
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
  exact: string;
  candidates: string[];
  pruned: { id: string; reason: string }[];
  probe: string;
  units: { name: string; tile: number; column: number | null; criticality: number; macsPerImage: number }[];
  layers: LayerRow[];
  spearman: { gradTimesActivation: number; conductance: number };
  baseline: { energyPj: number; valAccuracy: number; testAccuracy: number };
  points: ExplorePoint[];
  front: ExplorePoint[];
  winner: ExplorePoint;
  winnerLayers: { layer: string; cells: Record<string, number>; energyPj: number; exactEnergyPj: number }[];
  /** The array config (generators/array) that realizes the winner, and the engine assignment. */
  winnerDesign: Record<string, unknown>;
  winnerAssignment: ReturnType<typeof toAssignment>;
  /** Designs evaluated per step, and images pushed through the engine by the search. */
  evaluations: { search: number; sensitivity: number; test: number; searchImages: number; screenedOut: number };
  hypervolume: number;
  energy: { clockMHz: number; liberty: string; pairs: number; perOp: EnergyTable['perOp']; area: EnergyTable['area'] };
  cellMetrics: Record<string, { maePct: number; mrePct: number; wcePct: number }>;
  seconds: Record<string, number>;
}

export interface ExploreResult {
  model: string;
  dataset: string;
  budget: number;
  granularity: string;
  search: SearchKind;
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
  const groups = groupCandidates(expandCells(o.cells ?? DEFAULT_CELLS));
  if (o.probe) getCell(o.probe);
  const granularity = checkGranularity(o.granularity);
  const graph = importOnnx(o.model);
  const train = loadDataset(o.dataset, 'train');
  const test = limitDataset(loadDataset(o.dataset, 'test'), o.testImages);
  checkShapes(graph.inputShape, test, o.model, graph.shapes[graph.output]?.c);
  const calibImages = o.calibImages ?? 64;
  // Quantization calibrates on train[0, 256) (flow/run.ts loadModelFor), XAI on train[0, calib):
  // the validation hold-out is the tail of the train split and must not overlap either.
  const headUsed = Math.max(QUANT_CALIBRATION_IMAGES, calibImages);
  const valImages = o.valImages ?? 2000;
  if (valImages > train.count - headUsed)
    throw new UserError(
      `--val-images ${valImages}: the validation hold-out (last images of the train split) would overlap the ${headUsed} calibration images; at most ${train.count - headUsed}`,
    );
  const val = tailDataset(train, valImages);
  const confidence = o.confidence ?? 0.9;
  const screenImages = Math.min(o.screenImages ?? Math.floor(valImages / 4), valImages);
  const calib = limitDataset(train, calibImages);
  const xaiMetric = o.xaiMetric ?? 'conductance';
  const modelHash = createHash('sha256').update(readFileSync(o.model)).digest('hex');
  const journal = new Journal<AccuracyRecord>(join(o.out, 'journal.jsonl'));
  const before = journal.size;
  const results: GroupResult[] = [];
  let fresh = 0;
  for (const group of groups) {
    const r = await exploreGroup(o, group, { graph, val, test, calib, xaiMetric, modelHash, journal, confidence, screenImages, granularity });
    fresh += r.fresh;
    results.push(r.result);
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
    rows: o.rows,
    cols: o.cols,
    valImages: val.count,
    testImages: test.count,
    calibImages: calib.count,
    confidence,
    screenImages,
    splits: {
      quantCalibration: `train[0, ${QUANT_CALIBRATION_IMAGES})`,
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

interface Shared {
  graph: ReturnType<typeof importOnnx>;
  val: Dataset;
  test: Dataset;
  calib: Dataset;
  xaiMetric: XaiMetric;
  modelHash: string;
  journal: Journal<AccuracyRecord>;
  confidence: number;
  screenImages: number;
  granularity: Exclude<Granularity, 'kernel'>;
}

/** Images of the train split flow/run.ts loadModelFor calibrates quantization on (its first ones). */
const QUANT_CALIBRATION_IMAGES = 256;

async function exploreGroup(o: ExploreOptions, group: CandidateGroup, s: Shared): Promise<{ result: GroupResult; fresh: number }> {
  const seconds: Record<string, number> = {};
  let tStep = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = (now - tStep) / 1000;
    tStep = now;
  };
  const log = (msg: string) => {
    if (!o.quiet && !process.env.AXTPU_QUIET) process.stderr.write(`explore [${group.signed ? 'signed' : 'unsigned'}]: ${msg}\n`);
  };
  const { model: q } = await loadModelFor(o.model, { signed: group.signed } as Design);
  const plan = planUnits(q, s.granularity, o.rows, o.cols);
  const exact = group.exact;
  // The journal key names image ranges, so the problem is the model, scheme and dataset only.
  const problem = shortHash({ v: 2, model: s.modelHash, scheme: q.scheme, calib: q.calibration, dataset: s.test.name, val: s.val.count });
  const ev = new Evaluator(s.journal, problem, engineRunner(q, o.workers));
  lap('setup');

  // 1. Energy table (per layer, per cell) and candidate pruning.
  const allCells = [exact, ...group.cells];
  const pe = new Progress('energy (layer x cell)', plan.layers.length * allCells.length);
  const table = await energyTable(q, plan, s.val, allCells, { onCell: () => pe.tick() });
  const unitE = unitEnergies(plan, table, allCells);
  const uniformE = (id: string) =>
    candidateEnergy(
      unitE,
      plan.units.map(() => id),
    );
  const exactE = uniformE(exact);
  const metrics: GroupResult['cellMetrics'] = {};
  for (const id of allCells) {
    const m = cellMetrics(getCell(id));
    metrics[id] = { maePct: m.maePct, mrePct: m.mrePct, wcePct: m.wcePct };
  }
  const pruned: GroupResult['pruned'] = [];
  let kept = group.cells.filter((id) => {
    if (uniformE(id) >= exactE) {
      pruned.push({ id, reason: 'no energy saving over the exact cell' });
      return false;
    }
    return true;
  });
  if (o.prune !== false) {
    // Dominated in (energy, MAE, MRE): a cell no better in energy, absolute AND relative error
    // than another is never the better choice for a unit. (MAE alone would drop DRUM, whose
    // small relative error is what DNNs tolerate, in favour of biased truncation cells.)
    const worse = (x: string, y: string) => uniformE(x) <= uniformE(y) && metrics[x]!.maePct <= metrics[y]!.maePct && metrics[x]!.mrePct <= metrics[y]!.mrePct;
    kept = kept.filter((id) => {
      const by = kept.find((x) => x !== id && worse(x, id) && !worse(id, x));
      if (by) pruned.push({ id, reason: `dominated by ${by} (energy, MAE and MRE)` });
      return !by;
    });
  }
  if (kept.length === 0) throw new UserError(`--cells: no ${group.signed ? 'signed' : 'unsigned'} candidate saves energy over ${exact}`);
  lap('energy');
  log(`${plan.units.length} units, ${kept.length} candidate cells kept of ${group.cells.length}; exact ${exactE.toFixed(0)} pJ/inference`);

  // 2. Criticality on the float model (calibration images).
  const inSize = s.calib.channels * s.calib.height * s.calib.width;
  const inputs = new Float32Array(s.calib.count * inSize);
  for (let i = 0; i < inputs.length; i++) inputs[i] = s.calib.pixels[i]! / 255;
  const crit: CriticalityResult = unitCriticality(plan, s.graph, inputs, s.calib.labels, s.calib.count, s.xaiMetric, o.xaiSteps ?? 8);
  lap('xai');

  // 3. Baseline and empirical sensitivity (one layer approximated at a time with the probe cell).
  // Every design is judged by its paired loss vs the exact design on the same validation images.
  const conf = s.confidence;
  const V = s.val.count;
  const stages = s.screenImages > 0 && s.screenImages < V ? [s.screenImages, V] : [V];
  const exactGenes = plan.units.map(() => exact);
  const baseBits = await ev.prefix('val', s.val, V, toAssignment(plan, exactGenes, exact), stages);
  const baseVal = accuracyOf(baseBits);
  interface ValJudgement {
    acc: number;
    loss: PairedLoss;
    fits: boolean;
  }
  /** Designs judged (each counts once however many image ranges it took). */
  const designs = { count: 0, screenedOut: 0 };
  /** Judge a design; with `screen`, stop after the first stage when even the lower bound of the
   *  loss exceeds the budget (clearly infeasible: most greedy trials). */
  const judge = async (cells: string[], screen: boolean): Promise<ValJudgement> => {
    const a = toAssignment(plan, cells, exact);
    designs.count++;
    if (screen && stages.length > 1) {
      const n1 = stages[0]!;
      const l1 = pairedLoss(baseBits.subarray(0, n1), await ev.prefix('val', s.val, n1, a, stages), conf);
      if (l1.lower > o.budget) {
        designs.screenedOut++;
        return { acc: baseVal - l1.loss, loss: l1, fits: false };
      }
    }
    const l = pairedLoss(baseBits, await ev.prefix('val', s.val, V, a, stages), conf);
    return { acc: baseVal - l.loss, loss: l, fits: l.upper <= o.budget + 1e-12 };
  };
  const byEnergy = [...kept].sort((a, b) => uniformE(a) - uniformE(b));
  const probe = o.probe ?? byEnergy[Math.floor(byEnergy.length / 2)]!;
  const sensEvals0 = designs.count;
  const ps = new Progress('sensitivity (one layer at a time)', plan.layers.length);
  const layers: LayerRow[] = [];
  const n1 = stages[0]!;
  for (const l of plan.layers) {
    // A ranking measurement: the screening images are enough.
    designs.count++;
    const bits = await ev.prefix('val', s.val, n1, singleLayerAssignment(plan, l.name, probe, exact), stages);
    const loss = pairedLoss(baseBits.subarray(0, n1), bits, conf).loss;
    const c = crit.layers.find((x) => x.layer === l.name)!;
    layers.push({
      layer: l.name,
      macsPerImage: l.macsPerImage,
      tile: l.tile,
      gradTimesActivation: c.gradTimesActivation,
      conductance: c.conductance,
      probeAccuracy: accuracyOf(bits),
      sensitivity: loss,
    });
    ps.tick(1, l.name);
  }
  const sensitivityEvals = designs.count - sensEvals0;
  const rho = (k: 'gradTimesActivation' | 'conductance') =>
    layers.length >= 2
      ? spearman(
          layers.map((l) => l[k]),
          layers.map((l) => l.sensitivity),
        )
      : 0;
  lap('sensitivity');
  log(
    `baseline val accuracy ${(100 * baseVal).toFixed(2)} % (${V} images), probe ${probe}, Spearman(conductance, sensitivity) ${rho('conductance').toFixed(3)}`,
  );

  // 4. Search on the validation hold-out.
  const evaluated = new Map<string, { cells: string[]; j: ValJudgement; source: string }>();
  const note = (cells: string[], j: ValJudgement, source: string) => {
    const k = cells.join('|');
    const prev = evaluated.get(k);
    // A later full measurement replaces a screened one.
    if (!prev || prev.j.loss.images < j.loss.images) evaluated.set(k, { cells, j, source: prev?.source ?? source });
  };
  note(exactGenes, { acc: baseVal, loss: pairedLoss(baseBits, baseBits, conf), fits: true }, 'baseline');
  // Per unit: cells that save energy ON THAT UNIT (a cell can cost more than exact on one
  // layer's operand statistics), most aggressive first, exact last.
  const choicesPerUnit = plan.units.map((_, u) =>
    kept
      .filter((id) => unitE[u]![id]! < unitE[u]![exact]!)
      .sort((a, b) => unitE[u]![a]! - unitE[u]![b]! || (a < b ? -1 : 1))
      .concat(exact),
  );
  const cellsOf = (g: number[]) => g.map((i, u) => choicesPerUnit[u]![i]!);
  const searchEvals0 = designs.count;
  const screened0 = designs.screenedOut;
  const images0 = ev.images;
  if (o.search === 'xai-greedy') {
    const pg = new Progress('xai-greedy', plan.units.length);
    let lastUnit = -1;
    const fits = new Map<string, boolean>();
    await xaiGreedy({
      units: plan.units.length,
      criticality: crit.units,
      candidates: choicesPerUnit.map((c) => c.map((_, i) => i)),
      initial: choicesPerUnit.map((c) => c.length - 1),
      accuracyOf: async (g) => {
        const cells = cellsOf(g);
        const j = await judge(cells, true);
        note(cells, j, 'xai-greedy');
        fits.set(g.join(','), j.fits);
        return j.acc;
      },
      accepts: (g) => fits.get(g.join(',')) === true,
      baselineAccuracy: baseVal,
      budget: o.budget,
      onStep: (u) => {
        if (u !== lastUnit) pg.tick(1, plan.units[u]!.name);
        lastUnit = u;
      },
    });
  } else if (o.search === 'nsga2') {
    const pop = o.nsgaPopulation ?? 16;
    const gens = o.nsgaGenerations ?? 10;
    const pg = new Progress('nsga2 generations', gens);
    await nsga2({
      choices: choicesPerUnit.map((c) => c.length),
      populationSize: pop,
      generations: gens,
      seed: o.seed ?? 1,
      seeds: [choicesPerUnit.map((c) => c.length - 1), choicesPerUnit.map(() => 0)],
      evaluate: async (g) => {
        const cells = cellsOf(g);
        const j = await judge(cells, false);
        note(cells, j, 'nsga2');
        return { f: [candidateEnergy(unitE, cells), 1 - j.acc] };
      },
      onGeneration: () => pg.tick(),
    });
  } else {
    const choices = choicesPerUnit.map((c) => c.length);
    const total = choices.reduce((a, b) => a * b, 1);
    const cap = o.maxExhaustive ?? 4096;
    if (total > cap)
      throw new UserError(
        `--search exhaustive: ${total} assignments (${choices.join(' x ')}) exceed the limit of ${cap}; use xai-greedy or nsga2, or fewer cells`,
      );
    const pg = new Progress('exhaustive', total);
    for (const g of allGenomes(choices)) {
      const cells = cellsOf(g);
      note(cells, await judge(cells, false), 'exhaustive');
      pg.tick();
    }
  }
  const searchEvals = designs.count - searchEvals0;
  const screenedOut = designs.screenedOut - screened0;
  const searchImages = ev.images - images0;
  lap('search');

  // 5. Points, front, winner; final numbers on the test split.
  const points: ExplorePoint[] = [...evaluated.values()].map((p, id) => {
    const e = candidateEnergy(unitE, p.cells);
    return {
      id,
      source: p.source,
      cells: p.cells,
      energyPj: e,
      saving: 1 - e / exactE,
      valAccuracy: p.j.acc,
      valLoss: p.j.loss.loss,
      valLossUpper: p.j.loss.upper,
      valImages: p.j.loss.images,
      feasible: p.j.fits,
    };
  });
  // Screened-out points were measured on fewer images: they stay out of the front.
  const full = points.filter((p) => p.valImages === V);
  const front = paretoFront(full.map((p) => ({ ...p, energy: p.energyPj, accuracy: p.valAccuracy }))).map((p) => points[p.id]!);
  const feasible = points.filter((p) => p.feasible).sort((a, b) => a.energyPj - b.energyPj || b.valAccuracy - a.valAccuracy);
  const winner = feasible[0]!; // the all-exact baseline is always feasible
  const testEvals0 = ev.fresh + ev.hits;
  const T = s.test.count;
  const baseTestBits = await ev.range('test', s.test, 0, T, toAssignment(plan, exactGenes, exact));
  const baseTest = accuracyOf(baseTestBits);
  const frontMax = o.frontTestMax ?? 3;
  const toTest = new Set<ExplorePoint>([winner]);
  const step = Math.max(1, Math.ceil(front.length / frontMax));
  for (let i = 0; i < front.length && toTest.size < frontMax; i += step) toTest.add(front[i]!);
  const pt = new Progress('test split (front points)', toTest.size);
  for (const p of toTest) {
    const bits = await ev.range('test', s.test, 0, T, toAssignment(plan, p.cells, exact));
    const l = pairedLoss(baseTestBits, bits, conf);
    p.testAccuracy = accuracyOf(bits);
    p.testLoss = l.loss;
    p.testLossUpper = l.upper;
    pt.tick();
  }
  const testEvals = ev.fresh + ev.hits - testEvals0;
  lap('test');
  const wf = filterCells(plan, winner.cells, exact);
  const exactF = filterCells(plan, exactGenes, exact);
  const we = layerEnergies(plan, table, wf);
  const xe = layerEnergies(plan, table, exactF);
  const winnerLayers = plan.layers.map((l) => {
    const cells: Record<string, number> = {};
    for (const id of wf[l.name]!) cells[id] = (cells[id] ?? 0) + 1;
    return { layer: l.name, cells, energyPj: we[l.name]!, exactEnergyPj: xe[l.name]! };
  });
  const hv = hypervolume(
    full.map((p) => ({ energy: p.energyPj, accuracy: p.valAccuracy })),
    { energy: exactE * 1.0001, accuracy: baseVal - 4 * o.budget },
  );
  log(
    `winner: ${(100 * winner.saving).toFixed(1)} % multiplier energy saved, val loss ${(100 * winner.valLoss).toFixed(2)} pp, test ${(100 * (winner.testAccuracy ?? 0)).toFixed(2)} % (exact ${(100 * baseTest).toFixed(2)} %)`,
  );
  return {
    fresh: ev.fresh,
    result: {
      scheme: q.scheme,
      exact,
      candidates: kept,
      pruned,
      probe,
      units: plan.units.map((u, i) => ({
        name: u.name,
        tile: u.tile,
        column: u.column,
        criticality: crit.units[i]!,
        macsPerImage: Object.values(u.macs).reduce((a, b) => a + b, 0),
      })),
      layers,
      spearman: { gradTimesActivation: rho('gradTimesActivation'), conductance: rho('conductance') },
      baseline: { energyPj: exactE, valAccuracy: baseVal, testAccuracy: baseTest },
      points,
      front,
      winner,
      winnerLayers,
      winnerDesign: toArrayConfig(plan, winner.cells, exact, `explore_${problem.slice(0, 8)}_${q.scheme}`),
      winnerAssignment: toAssignment(plan, winner.cells, exact),
      evaluations: { search: searchEvals, sensitivity: sensitivityEvals, test: testEvals, searchImages, screenedOut },
      hypervolume: hv,
      energy: { clockMHz: table.clockMHz, liberty: table.liberty, pairs: table.pairs, perOp: table.perOp, area: table.area },
      cellMetrics: metrics,
      seconds,
    },
  };
}

export type { UnitPlan };
