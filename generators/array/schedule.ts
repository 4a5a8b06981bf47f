import type { Design, TileSpec } from './config.ts';

/**
 * A fact of the generated hardware (templates/array/tile.sv): an output row reaches the
 * accumulators' output R + C - 1 cycles after its activation row was accepted (R skew stages down
 * the columns, C - 1 de-skew stages; the accumulator adds combinationally on the de-skewed row).
 * The rest of the controller's timing rules and the fold order live with the cycle model in mapping/.
 */
export function arrayLatency(t: Pick<TileSpec, 'rows' | 'cols'>): number {
  return t.rows + t.cols - 1;
}

/**
 * Activation row accepted -> output row leaves the tile: the array latency, plus the registered
 * correction stage of control-variate designs (templates/array/cv.sv: one cycle).
 */
export function latency(t: Pick<TileSpec, 'rows' | 'cols'>, design: Pick<Design, 'controlVariate'>): number {
  return arrayLatency(t) + (design.controlVariate ? 1 : 0);
}

/**
 * Cycles the DRAM interface takes for one weight row of tile t: C bytes at `dramBytesPerCycle`
 * (templates/array/memctl.sv counts these beats before it pushes the row into the weight FIFO).
 */
export function weightRowCycles(t: Pick<TileSpec, 'cols'>, dramBytesPerCycle: number): number {
  return Math.ceil(t.cols / dramBytesPerCycle);
}
