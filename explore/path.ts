/**
 * Greedy along the predicted front (issue 20, `--greedy-order path`): the search takes one
 * path from the exact design towards the most aggressive one, ordered by predicted damage per pJ
 * saved, and measures designs on that path instead of walking unit by unit.
 *
 * The path is the multiple-choice knapsack's marginal analysis: per unit, the lower convex hull of
 * its choices in (predicted damage, energy) from the exact cell on; the hull steps of all units
 * merged by energy saved per unit of predicted damage, best first. Design k applies the first k
 * steps. Predicted damage adds over units (the first-order assumption every estimator makes), so
 * along the path the predicted loss rises and the energy falls.
 *
 * `surrogateGreedy` (`--greedy-order surrogate`, the default) walks a path measured instead of
 * predicted: each step is ranked by a surrogate of the whole design (explore/surrogate.ts), which
 * sees what a sum of per-unit predictions misses when the units' errors do not add.
 */

/** One path step: unit `unit` moves to choice `to` (cheaper than its current choice). */
export interface PathStep {
  unit: number;
  to: number;
  /** pJ saved per unit of predicted damage added (Infinity: no damage added). */
  ratio: number;
}

/** Fill trials stop after this many rejections in a row (pathGreedy's default). */
export const FILL_PATIENCE = 3;

/** pJ saved per unit of predicted damage added when a unit moves from choice `from` to `to` (its E, D rows). */
const stepRatio = (E: number[], D: number[], from: number, to: number) => {
  const added = D[to]! - D[from]!;
  return added <= 0 ? Number.POSITIVE_INFINITY : (E[from]! - E[to]!) / added;
};

/**
 * energy[u][i], damage[u][i]: per unit and choice index, the energy and the predicted damage
 * (unit u alone on choice i, the rest exact); start[u]: the exact choice (damage 0).
 */
export function marginalPath(energy: number[][], damage: number[][], start: number[]): PathStep[] {
  const steps: PathStep[] = [];
  energy.forEach((E, u) => {
    const D = damage[u]!;
    let cur = start[u]!;
    for (;;) {
      let best = -1;
      let bestRatio = -1;
      for (let i = 0; i < E.length; i++) {
        if (!(E[i]! < E[cur]!)) continue;
        const r = stepRatio(E, D, cur, i);
        // Equal ratios (collinear on the hull): the smaller step first, so the path is finer.
        if (r > bestRatio || (r === bestRatio && E[i]! > E[best]!)) {
          best = i;
          bestRatio = r;
        }
      }
      if (best < 0) break;
      steps.push({ unit: u, to: best, ratio: bestRatio });
      cur = best;
    }
  });
  // Stable: within a unit the hull's ratios fall, so each unit's steps stay in their order.
  return steps.sort((a, b) => b.ratio - a.ratio);
}

/** The design after the first k steps. */
export function pathDesign(start: number[], steps: PathStep[], k: number): number[] {
  const genes = [...start];
  for (const s of steps.slice(0, k)) genes[s.unit] = s.to;
  return genes;
}

export interface PathGreedyOptions {
  /** The same per-unit, per-choice figures the path was built from (marginalPath). */
  energy: number[][];
  damage: number[][];
  start: number[];
  steps: PathStep[];
  /**
   * Judge a design: does it keep the budget? `probe` = a bisection probe (measured on every
   * validation image, so it is a point of the front whichever way it goes); otherwise a fill
   * trial (may stop at the screening stage).
   */
  fits: (genes: number[], probe: boolean) => Promise<boolean>;
  /** Fill trials stop after this many rejections in a row (default FILL_PATIENCE). */
  fillPatience?: number;
  /** Called once when the fill starts, with the most trials it can take (progress). */
  onFill?: (trialsAtMost: number) => void;
}

export interface PathGreedyResult {
  genes: number[];
  /** The last path design that kept the budget (bisection), before the fill. */
  boundary: number;
  /** Designs judged, in order. */
  trials: { genes: number[]; fits: boolean; phase: 'bisect' | 'fill' }[];
}

/**
 * Bisect the path for the last design that keeps the budget (assumes a design fits when a later
 * one does, which holds as far as the prediction ranks the damage), then fill with measured
 * trials: from that design, the single-unit move to ANY cheaper cell (on the unit's hull or not:
 * the measurement sees interactions between layers the additive prediction cannot) with the best
 * predicted pJ saved per damage, re-ranked after every accepted move. A rejected move rules out
 * that cell and every cheaper one on its unit; the fill stops after `fillPatience` rejections in a
 * row. The exact design (k = 0) is judged first; if it does not fit (a narrower width variant),
 * nothing else is tried.
 */
export async function pathGreedy(o: PathGreedyOptions): Promise<PathGreedyResult> {
  const trials: PathGreedyResult['trials'] = [];
  const judge = async (genes: number[], phase: 'bisect' | 'fill') => {
    const ok = await o.fits(genes, phase === 'bisect');
    trials.push({ genes, fits: ok, phase });
    return ok;
  };
  const M = o.steps.length;
  if (!(await judge([...o.start], 'bisect'))) return { genes: [...o.start], boundary: -1, trials };
  // Invariant: design lo fits; design hi does not (hi = M + 1: past the end).
  let lo = 0;
  let hi = M + 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await judge(pathDesign(o.start, o.steps, mid), 'bisect')) lo = mid;
    else hi = mid;
  }
  const genes = pathDesign(o.start, o.steps, lo);
  // Per unit: cells at or below this energy are ruled out (a more aggressive one was rejected).
  const floorE = o.energy.map(() => Number.NEGATIVE_INFINITY);
  if (lo < M) floorE[o.steps[lo]!.unit] = o.energy[o.steps[lo]!.unit]![o.steps[lo]!.to]!;
  const open = () => {
    const moves: { u: number; c: number; r: number }[] = [];
    o.energy.forEach((E, u) => {
      for (let c = 0; c < E.length; c++) if (E[c]! < E[genes[u]!]! && E[c]! > floorE[u]!) moves.push({ u, c, r: stepRatio(E, o.damage[u]!, genes[u]!, c) });
    });
    // Best ratio first; equal ratios: the smaller step.
    return moves.sort((a, b) => b.r - a.r || o.energy[b.u]![b.c]! - o.energy[a.u]![a.c]!);
  };
  o.onFill?.(open().length);
  const patience = o.fillPatience ?? FILL_PATIENCE;
  let misses = 0;
  for (let next = open()[0]; next && misses < patience; next = open()[0]) {
    const trial = [...genes];
    trial[next.u] = next.c;
    if (await judge(trial, 'fill')) {
      genes[next.u] = next.c;
      misses = 0;
    } else {
      floorE[next.u] = o.energy[next.u]![next.c]!;
      misses++;
    }
  }
  return { genes, boundary: lo, trials };
}

/** One step of the measured path: unit `unit` moves to choice `to`; `score` is the whole design's surrogate after it. */
export interface MeasuredStep extends PathStep {
  score: number;
}

export interface SurrogateGreedyOptions {
  /** Per unit and choice: the energy. */
  energy: number[][];
  start: number[];
  /**
   * The whole design's surrogate damage (lower is better; the start scores 0): it sees the
   * interactions between units that a per-unit prediction cannot.
   */
  score: (genes: number[]) => Promise<number>;
  /** As in pathGreedy: `probe` = measured on every validation image. */
  fits: (genes: number[], probe: boolean) => Promise<boolean>;
  fillPatience?: number;
  /** Progress: a design judged, a path step taken. */
  onTrial?: (phase: 'gallop' | 'bisect' | 'fill') => void;
}

export interface SurrogateGreedyResult {
  genes: number[];
  /** The path as far as it was built (it stops past the first probe that failed). */
  steps: MeasuredStep[];
  /** The last path design that kept the budget, before the fill (-1: not even the start). */
  boundary: number;
  trials: { genes: number[]; fits: boolean; phase: 'bisect' | 'fill' }[];
}

/**
 * Greedy on a measured path (`--greedy-order surrogate`). The surrogate first scores every unit
 * alone on every cheaper choice; each unit's lower convex hull of those (score, energy) points is
 * the cells its path steps may take. Each step then takes, from the current design, the unit whose
 * next hull cell saves the most energy per unit of surrogate damage added, the surrogate measuring
 * the WHOLE design after the move (so the order sees how the units' errors combine). The path is
 * built only as far as needed: designs 1, 2, 4, 8, ... are judged until one fails (gallop), then
 * the gap is bisected. The fill continues the walk from the boundary with every move judged, a
 * move being each unit's next hull cell or its next cheaper cell off the hull; a rejected move
 * rules out that choice and every cheaper one on its unit, and the fill stops after `fillPatience`
 * rejections in a row. Like pathGreedy it assumes a design fits when a later one on the path does.
 */
export async function surrogateGreedy(o: SurrogateGreedyOptions): Promise<SurrogateGreedyResult> {
  const trials: SurrogateGreedyResult['trials'] = [];
  const judge = async (genes: number[], phase: 'gallop' | 'bisect' | 'fill') => {
    const ok = await o.fits(genes, phase !== 'fill');
    trials.push({ genes, fits: ok, phase: phase === 'fill' ? 'fill' : 'bisect' });
    o.onTrial?.(phase);
    return ok;
  };
  if (!(await judge([...o.start], 'gallop'))) return { genes: [...o.start], steps: [], boundary: -1, trials };
  const { energy } = o;
  // Each unit alone on each cheaper choice (the start's damage is 0): the per-unit hulls.
  const alone: number[][] = [];
  for (const [u, E] of energy.entries()) {
    alone.push([]);
    for (let c = 0; c < E.length; c++) {
      const g = [...o.start];
      g[u] = c;
      alone[u]![c] = E[c]! < E[o.start[u]!]! ? await o.score(g) : 0;
    }
  }
  const hull = energy.map((E, u) => marginalPath([E], [alone[u]!], [o.start[u]!]).map((st) => st.to));
  const floorE = energy.map(() => Number.NEGATIVE_INFINITY);
  const open = (u: number, c: number, genes: number[]) => energy[u]![c]! < energy[u]![genes[u]!]! && energy[u]![c]! > floorE[u]!;
  const nextOnHull = (u: number, genes: number[]) => hull[u]!.find((c) => open(u, c, genes));
  // The off-hull fill move: the cheaper choice nearest in energy.
  const nextCheaper = (u: number, genes: number[]) => {
    let best: number | undefined;
    for (let c = 0; c < energy[u]!.length; c++) if (open(u, c, genes) && (best === undefined || energy[u]![c]! > energy[u]![best]!)) best = c;
    return best;
  };
  // The best move from `genes` (score `cur`) among the candidates `movesOf` names per unit.
  const best = async (genes: number[], cur: number, movesOf: (u: number) => (number | undefined)[]) => {
    let top: (MeasuredStep & { dE: number }) | undefined;
    for (let u = 0; u < energy.length; u++)
      for (const c of new Set(movesOf(u))) {
        if (c === undefined) continue;
        const trial = [...genes];
        trial[u] = c;
        const score = await o.score(trial);
        const dE = energy[u]![genes[u]!]! - energy[u]![c]!;
        const ratio = score <= cur ? Number.POSITIVE_INFINITY : dE / (score - cur);
        // Equal ratios (free moves): the larger saving.
        if (!top || ratio > top.ratio || (ratio === top.ratio && dE > top.dE)) top = { unit: u, to: c, ratio, score, dE };
      }
    return top && { unit: top.unit, to: top.to, ratio: top.ratio, score: top.score };
  };
  const steps: MeasuredStep[] = [];
  const designs = [[...o.start]];
  const scores = [0];
  let lo = 0;
  let hi = -1;
  for (let probe = 1; hi < 0; ) {
    const k = designs.length - 1;
    const g = designs[k]!;
    const m = await best(g, scores[k]!, (u) => [nextOnHull(u, g)]);
    if (!m) {
      // The end of the path: judge its last design if the gallop has not.
      if (k > lo) {
        if (await judge(g, 'gallop')) lo = k;
        else hi = k;
      }
      break;
    }
    steps.push(m);
    const next = [...g];
    next[m.unit] = m.to;
    designs.push(next);
    scores.push(m.score);
    if (k + 1 === probe) {
      if (await judge(next, 'gallop')) lo = probe;
      else hi = probe;
      probe *= 2;
    }
  }
  while (hi >= 0 && hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await judge(designs[mid]!, 'bisect')) lo = mid;
    else hi = mid;
  }
  const genes = [...designs[lo]!];
  let cur = scores[lo]!;
  if (lo < steps.length) floorE[steps[lo]!.unit] = energy[steps[lo]!.unit]![steps[lo]!.to]!;
  const patience = o.fillPatience ?? FILL_PATIENCE;
  let misses = 0;
  const fillMoves = (u: number) => [nextOnHull(u, genes), nextCheaper(u, genes)];
  for (let m = await best(genes, cur, fillMoves); m && misses < patience; m = await best(genes, cur, fillMoves)) {
    const trial = [...genes];
    trial[m.unit] = m.to;
    if (await judge(trial, 'fill')) {
      genes[m.unit] = m.to;
      cur = m.score;
      misses = 0;
    } else {
      floorE[m.unit] = energy[m.unit]![m.to]!;
      misses++;
    }
  }
  return { genes, steps, boundary: lo, trials };
}
