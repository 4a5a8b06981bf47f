import type { Design } from '../generators/array/config.ts';
import { latency } from '../generators/array/schedule.ts';
import { foldOrder, foldPlan } from './gemm.ts';

/**
 * Cycles of one GEMM on a tile, following the fold order of mapping/gemm.ts through the timing
 * rules of the generated controller (templates/array/ctrl.sv, tile.sv):
 *  - every fold loads all R weight rows (one row per cycle) and streams its M-block's rows (one
 *    per cycle);
 *  - two weight buffers: fold f loads into buffer f%2 as soon as that buffer is free (fold f-2's
 *    last activation row accepted) and the previous load finished;
 *  - fold f streams once its buffer is loaded (visible the cycle after the last row write) and
 *    fold f-1's last row went in;
 *  - an output row leaves latency(t) cycles after its activation row was accepted (the
 *    accumulator adds combinationally on the de-skewed row, no extra cycle).
 * Cycle 0 is the first cycle after reset; the count ends with the cycle of the last output row.
 */
export interface CycleReport {
  cycles: number;
  folds: number;
  kFolds: number;
  nFolds: number;
  mBlocks: number;
  /** Cycle each fold's first activation row was accepted. */
  streamStart: number[];
  /** Cycles an activation row enters the array (sum of every fold's rows = nFolds x kFolds x M). */
  streamCycles: number;
  /** SCALE-Sim WS estimate for the same folds: sum over folds of (2R + C + rows - 2). */
  scaleSimCycles: number;
  /** SCALE-Sim mapping efficiency: useful weight slots / (weight tiles x R x C), weight tiles = nFolds x kFolds. */
  mappingEfficiency: number;
  /** Overall utilization: useful MACs / (R x C x cycles). */
  utilization: number;
  /** Useful MACs M*K*N. */
  macs: number;
}

export function cycleModel(design: Design, M: number, K: number, N: number, tile = 0): CycleReport {
  const plan = foldPlan(design, tile, M, K, N);
  const t = design.tiles[tile]!;
  const { R, C } = plan;
  const folds = foldOrder(plan);
  const loadStart: number[] = [];
  const streamStart: number[] = [];
  const streamEnd: number[] = [];
  let streamCycles = 0;
  let scaleSimCycles = 0;
  for (const [f, fold] of folds.entries()) {
    const prevLoadDone = f > 0 ? loadStart[f - 1]! + R : 0;
    const bufferFree = f >= 2 ? streamEnd[f - 2]! + 1 : 0;
    const L = Math.max(prevLoadDone, bufferFree);
    loadStart.push(L);
    const s = Math.max(L + R, f > 0 ? streamEnd[f - 1]! + 1 : 0);
    streamStart.push(s);
    streamEnd.push(s + fold.rows - 1);
    streamCycles += fold.rows;
    scaleSimCycles += 2 * R + C + fold.rows - 2;
  }
  const cycles = streamEnd[folds.length - 1]! + latency(t) + 1;
  const macs = M * K * N;
  return {
    cycles,
    folds: plan.folds,
    kFolds: plan.kFolds,
    nFolds: plan.nFolds,
    mBlocks: plan.mBlocks,
    streamStart,
    streamCycles,
    scaleSimCycles,
    mappingEfficiency: (K * N) / (plan.kFolds * plan.nFolds * R * C),
    utilization: macs / (R * C * cycles),
    macs,
  };
}
