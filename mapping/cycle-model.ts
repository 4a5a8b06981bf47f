import type { Design } from '../generators/array/config.ts';
import { latency, weightRowCycles } from '../generators/array/schedule.ts';
import { foldOrder, foldPlan } from './gemm.ts';
import { blockWords } from './memory.ts';

/**
 * Cycles of one GEMM on a tile, following the fold order of mapping/gemm.ts through the timing
 * rules of the generated hardware (templates/array/ctrl.sv, tile.sv, mem.sv; docs/memory.md):
 *  - weight rows come from DRAM through the weight FIFO: the DRAM interface fetches rows in
 *    order, one every ceil(C / B) cycles, and starts a row only while the FIFO has a free slot
 *    (row i waits for row i - depth to leave); a row is in the FIFO the cycle after its fetch;
 *  - every fold loads its R weight rows from the FIFO (at most one per cycle) into buffer f%2,
 *    starting once that buffer is free (fold f-2's last activation row accepted);
 *  - M-block b's activations (rows x kFolds words) are written into activation-buffer half
 *    b%2, one word per cycle, once that half is free (block b-2's last row accepted) and block
 *    b-1's words are in;
 *  - fold f streams once its weights are loaded (visible the cycle after the last row write),
 *    its block's activations are in, and fold f-1's last row went in;
 *  - an output row leaves latency(t, design) cycles after its activation row was accepted (one more
 *    with control-variate hardware: the registered correction stage).
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
  /** Cycle each fold's last activation row was accepted (a fold streams without gaps). */
  streamEnd: number[];
  /** Cycle each weight row (fold x R + r) was written into column 0 (column c: c cycles later). */
  weightRowTaken: Float64Array;
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
  const beats = weightRowCycles(t, design.memory.dramBytesPerCycle);
  const depth = design.memory.wbufRows;
  // Weight rows (global index i = fold x R + r): fetch start, and the cycle the array takes it.
  const rowTaken = new Float64Array(folds.length * R);
  let fetchStart = -beats;
  let prevTaken = -1;
  // Activation-buffer blocks: cycle the last word of each block was written.
  const blockLoaded: number[] = [];
  const blockLastFold: number[] = [];
  const streamStart: number[] = [];
  const streamEnd: number[] = [];
  let streamCycles = 0;
  let scaleSimCycles = 0;
  for (const [f, fold] of folds.entries()) {
    const bufferFree = f >= 2 ? streamEnd[f - 2]! + 1 : 0;
    for (let r = 0; r < R; r++) {
      const i = f * R + r;
      fetchStart = Math.max(fetchStart + beats, i >= depth ? rowTaken[i - depth]! + 1 : 0);
      const taken = Math.max(fetchStart + beats, prevTaken + 1, r === 0 ? bufferFree : 0);
      rowTaken[i] = taken;
      prevTaken = taken;
    }
    const b = fold.block;
    if (blockLoaded.length === b) {
      const start = Math.max(b > 0 ? blockLoaded[b - 1]! + 1 : 0, b >= 2 ? streamEnd[blockLastFold[b - 2]!]! + 1 : 0);
      blockLoaded.push(start + blockWords(plan, b) - 1);
    }
    const s = Math.max(prevTaken + 1, f > 0 ? streamEnd[f - 1]! + 1 : 0, blockLoaded[b]! + 1);
    streamStart.push(s);
    streamEnd.push(s + fold.rows - 1);
    if (fold.blockLast) blockLastFold[b] = f;
    streamCycles += fold.rows;
    scaleSimCycles += 2 * R + C + fold.rows - 2;
  }
  const cycles = streamEnd[folds.length - 1]! + latency(t, design) + 1;
  const macs = M * K * N;
  return {
    cycles,
    folds: plan.folds,
    kFolds: plan.kFolds,
    nFolds: plan.nFolds,
    mBlocks: plan.mBlocks,
    streamStart,
    streamEnd,
    weightRowTaken: rowTaken,
    streamCycles,
    scaleSimCycles,
    mappingEfficiency: (K * N) / (plan.kFolds * plan.nFolds * R * C),
    utilization: macs / (R * C * cycles),
    macs,
  };
}
