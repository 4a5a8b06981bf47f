import type { Design, TileSpec } from './config.ts';

/**
 * Timing of the generated controller, the single source of truth for the cycle model.
 * The RTL (templates/array/ctrl.sv, tile.sv) implements exactly these rules:
 *  - a fold = one (K-slice of R rows) x (N-slice of C columns) weight tile; folds run N-outer,
 *    K-inner; every fold loads all R weight rows (one row per cycle, zero padded) and streams
 *    all M activation rows (one per cycle, zero padded to R).
 *  - two weight buffers: fold f loads into buffer f%2 as soon as that buffer is free (fold f-2's
 *    last activation row accepted) and the previous load finished;
 *  - fold f streams once its buffer is loaded (visible the cycle after the last row write) and
 *    fold f-1's last row went in;
 *  - an output row leaves R + C - 1 cycles after its activation row was accepted.
 * Cycle 0 is the first cycle after reset; the count ends with the cycle of the last output row.
 */
export function latency(t: Pick<TileSpec, 'rows' | 'cols'>): number {
  return t.rows + t.cols - 1;
}

export interface FoldPlan {
  kFolds: number;
  nFolds: number;
  folds: number;
}

export function foldPlan(t: Pick<TileSpec, 'rows' | 'cols'>, K: number, N: number): FoldPlan {
  const kFolds = Math.ceil(K / t.rows);
  const nFolds = Math.ceil(N / t.cols);
  return { kFolds, nFolds, folds: kFolds * nFolds };
}

export interface CycleReport {
  cycles: number;
  folds: number;
  kFolds: number;
  nFolds: number;
  /** Cycle each fold's first activation row was accepted. */
  streamStart: number[];
  /** SCALE-Sim WS estimate for the same mapping: folds x (2R + C + M - 2). */
  scaleSimCycles: number;
  /** SCALE-Sim mapping efficiency: useful weight slots / (folds x R x C). */
  mappingEfficiency: number;
  /** Overall utilization: useful MACs / (R x C x cycles). */
  utilization: number;
  /** Useful MACs M*K*N. */
  macs: number;
}

export function cycleModel(design: Design, M: number, K: number, N: number, tile = 0): CycleReport {
  const t = design.tiles[tile];
  if (!t) throw new Error(`tile ${tile} out of range`);
  if (!(M >= 1 && K >= 1 && N >= 1)) throw new Error(`cycleModel: M, K, N must be >= 1 (got ${M}, ${K}, ${N})`);
  const R = t.rows;
  const C = t.cols;
  const plan = foldPlan(t, K, N);
  const F = plan.folds;
  const loadStart: number[] = [];
  const streamStart: number[] = [];
  const streamEnd: number[] = [];
  for (let f = 0; f < F; f++) {
    const prevLoadDone = f > 0 ? loadStart[f - 1]! + R : 0;
    const bufferFree = f >= 2 ? streamEnd[f - 2]! + 1 : 0;
    const L = Math.max(prevLoadDone, bufferFree);
    loadStart.push(L);
    const s = Math.max(L + R, f > 0 ? streamEnd[f - 1]! + 1 : 0);
    streamStart.push(s);
    streamEnd.push(s + M - 1);
  }
  const cycles = streamEnd[F - 1]! + latency(t) + 1;
  const macs = M * K * N;
  return {
    cycles,
    folds: F,
    kFolds: plan.kFolds,
    nFolds: plan.nFolds,
    streamStart,
    scaleSimCycles: F * (2 * R + C + M - 2),
    mappingEfficiency: (K * N) / (F * R * C),
    utilization: macs / (R * C * cycles),
    macs,
  };
}
