import type { TileSpec } from './config.ts';

/**
 * A fact of the generated hardware (templates/array/tile.sv): an output row leaves the tile
 * R + C - 1 cycles after its activation row was accepted (R skew stages down the columns, C - 1
 * de-skew stages; the accumulator adds combinationally on the de-skewed row). The rest of the
 * controller's timing rules and the fold order live with the cycle model in mapping/.
 */
export function latency(t: Pick<TileSpec, 'rows' | 'cols'>): number {
  return t.rows + t.cols - 1;
}

/**
 * Cycles the DRAM interface takes for one weight row of tile t: C bytes at `dramBytesPerCycle`
 * (templates/array/memctl.sv counts these beats before it pushes the row into the weight FIFO).
 */
export function weightRowCycles(t: Pick<TileSpec, 'cols'>, dramBytesPerCycle: number): number {
  return Math.ceil(t.cols / dramBytesPerCycle);
}
