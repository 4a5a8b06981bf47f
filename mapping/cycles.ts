import type { Design } from '../generators/array/config.ts';
import { latency } from '../generators/array/schedule.ts';
import { clockedColumnCycles, clockedColumns } from './clock-gating.ts';
import { cycleModel } from './cycle-model.ts';

/**
 * Cycle accounting of GEMMs on a tile (sums over a layer's GEMMs):
 *   stream = kFolds x nFolds x M   cycles an activation row enters the array (every M-block's
 *                                  rows once per weight tile: cycleModel's streamCycles)
 *   fill   = first fold's stream start (the first weight tile loading, nothing to overlap with)
 *   drain  = R + C - 1             the last row's trip through the array
 *   stall  = cycles - stream - fill - drain   weight loads the double buffer could not hide
 * mapping efficiency = K N / (kFolds nFolds R C) (SCALE-Sim), utilization = useful MACs / (R C cycles).
 */
export interface LayerCycles {
  gemms: number;
  cycles: number;
  streamCycles: number;
  fillCycles: number;
  drainCycles: number;
  stallCycles: number;
  folds: number;
  macs: number;
  /** Sums behind the two ratios. */
  usefulWeightSlots: number;
  weightSlots: number;
  peCycles: number;
  /** Column-cycles in which a column's PEs are clocked: C x cycles, less what clock gating stops (mapping/clock-gating.ts). */
  clockedColumnCycles: number;
  mappingEfficiency: number;
  utilization: number;
}

export function emptyCycles(): LayerCycles {
  return {
    gemms: 0,
    cycles: 0,
    streamCycles: 0,
    fillCycles: 0,
    drainCycles: 0,
    stallCycles: 0,
    folds: 0,
    macs: 0,
    usefulWeightSlots: 0,
    weightSlots: 0,
    peCycles: 0,
    clockedColumnCycles: 0,
    mappingEfficiency: 0,
    utilization: 0,
  };
}

/** Cycles of one GEMM; `cycles` = the RTL's count if given, else the cycle model's. */
export function gemmCycles(design: Design, tile: number, M: number, K: number, N: number, cycles?: number): LayerCycles {
  const t = design.tiles[tile]!;
  const cm = cycleModel(design, M, K, N, tile);
  const total = cycles ?? cm.cycles;
  const stream = cm.streamCycles;
  // Mapping efficiency counts distinct weight tiles (SCALE-Sim); M-blocks reload the same ones.
  const weightTiles = cm.kFolds * cm.nFolds;
  const fill = cm.streamStart[0]!;
  const drain = latency(t, design);
  const pes = t.rows * t.cols;
  return {
    gemms: 1,
    cycles: total,
    streamCycles: stream,
    fillCycles: fill,
    drainCycles: drain,
    stallCycles: total - stream - fill - drain,
    folds: cm.folds,
    macs: cm.macs,
    usefulWeightSlots: K * N,
    weightSlots: weightTiles * pes,
    peCycles: pes * total,
    clockedColumnCycles: design.clockGating ? clockedColumns(t.cols, N) * clockedColumnCycles(cm, t.rows) : t.cols * total,
    mappingEfficiency: cm.mappingEfficiency,
    utilization: cm.macs / (pes * total),
  };
}

export function addCycles(into: LayerCycles, x: LayerCycles): void {
  into.gemms += x.gemms;
  into.cycles += x.cycles;
  into.streamCycles += x.streamCycles;
  into.fillCycles += x.fillCycles;
  into.drainCycles += x.drainCycles;
  into.stallCycles += x.stallCycles;
  into.folds += x.folds;
  into.macs += x.macs;
  into.usefulWeightSlots += x.usefulWeightSlots;
  into.weightSlots += x.weightSlots;
  into.peCycles += x.peCycles;
  into.clockedColumnCycles += x.clockedColumnCycles;
  into.mappingEfficiency = into.usefulWeightSlots / into.weightSlots;
  into.utilization = into.macs / into.peCycles;
}
