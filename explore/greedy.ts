/**
 * XAI-guided greedy search (the XAI-Gen idea): visit decision units (layers, filters or kernels)
 * from least to most critical; give each the most aggressive (least-energy) candidate cell that
 * keeps accuracy loss within the budget, given everything already approximated. Units approximated
 * early absorb the budget where the network is least sensitive.
 */
export interface GreedyOptions {
  /** Number of decision units (genes). */
  units: number;
  /** Criticality per unit (higher = more critical = approximated last). */
  criticality: number[];
  /** Candidate choices per unit, ordered from MOST aggressive (lowest energy) to least. The last
   *  entry should be the exact cell, which always fits. Values are choice indices. */
  candidates: number[][];
  /** The starting assignment (usually all exact). */
  initial: number[];
  /** Accuracy of an assignment (memoized by the caller or here). */
  accuracyOf: (assignment: number[]) => Promise<number> | number;
  baselineAccuracy: number;
  /** Allowed loss in accuracy (fraction, e.g. 0.01 = 1 percentage point). */
  budget: number;
  /** Decision rule: does this assignment keep the budget? Default: accuracy >= baseline - budget.
   *  (explore/run.ts passes a paired confidence bound vs the exact design.) */
  accepts?: (assignment: number[], accuracy: number) => boolean;
  onStep?: (unit: number, choice: number, accuracy: number, accepted: boolean) => void;
  /**
   * How a unit's cell is found: 'scan' tries the choices from most aggressive on and keeps the
   * first that fits; 'bisect' assumes that a less aggressive choice fits whenever a more aggressive
   * one does (true for one family's energy order, roughly across families) and bisects: about
   * 1 + log2(choices) trials per unit instead of up to all of them. Default 'scan' here;
   * explore/run.ts passes its own default ('bisect').
   */
  step?: 'scan' | 'bisect';
}

export interface GreedyResult {
  assignment: number[];
  accuracy: number;
  /** Every assignment evaluated (including rejected tries), in order. */
  trace: { assignment: number[]; accuracy: number; accepted: boolean }[];
  evaluations: number;
}

export async function xaiGreedy(o: GreedyOptions): Promise<GreedyResult> {
  if (o.criticality.length !== o.units || o.candidates.length !== o.units || o.initial.length !== o.units)
    throw new Error('xaiGreedy: criticality, candidates and initial must have one entry per unit');
  const order = [...Array(o.units).keys()].sort((a, b) => o.criticality[a]! - o.criticality[b]! || a - b);
  const memo = new Map<string, number>();
  const trace: GreedyResult['trace'] = [];
  const acc = async (g: number[]) => {
    const k = g.join(',');
    let v = memo.get(k);
    if (v === undefined) {
      v = await o.accuracyOf(g);
      memo.set(k, v);
    }
    return v;
  };
  let current = [...o.initial];
  let currentAcc = await acc(current);
  const floor = o.baselineAccuracy - o.budget;
  const fits = async (u: number, choice: number) => {
    const trial = [...current];
    trial[u] = choice;
    const a = await acc(trial);
    const ok = o.accepts ? o.accepts(trial, a) : a >= floor - 1e-12;
    trace.push({ assignment: trial, accuracy: a, accepted: ok });
    o.onStep?.(u, choice, a, ok);
    return { trial, a, ok };
  };
  for (const u of order) {
    const cands = o.candidates[u]!;
    const at = cands.indexOf(current[u]!);
    if (o.step === 'bisect' && at > 0) {
      // The most aggressive choice first (it often fits on the least critical units), then
      // bisect. Invariant: cands[hi] fits (the current choice does); everything below lo does not.
      const first = await fits(u, cands[0]!);
      if (first.ok) {
        current = first.trial;
        currentAcc = first.a;
        continue;
      }
      let lo = 1;
      let hi = at;
      let best: { trial: number[]; a: number } | undefined;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const r = await fits(u, cands[mid]!);
        if (r.ok) {
          hi = mid;
          best = r;
        } else lo = mid + 1;
      }
      if (best) {
        current = best.trial;
        currentAcc = best.a;
      }
      continue;
    }
    for (const choice of cands) {
      if (choice === current[u]) break; // nothing more aggressive fits; keep what we have
      const { trial, a, ok } = await fits(u, choice);
      if (ok) {
        current = trial;
        currentAcc = a;
        break;
      }
    }
  }
  return { assignment: current, accuracy: currentAcc, trace, evaluations: memo.size };
}
