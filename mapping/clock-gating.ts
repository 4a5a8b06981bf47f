import type { CycleReport } from './cycle-model.ts';

/**
 * Cycles in which a clock-gated column's PEs are clocked during one GEMM (docs/array.md, Clock
 * gating): the tile enables column c while a wavefront is in it (the R cycles from a row's
 * arrival at column c, c cycles after it was accepted) or while a weight row is written into it
 * (c cycles after column 0). Both are column 0's cycles shifted by c, and the run lasts until the
 * last wavefront has left column C-1, so every column of the tile counts the same:
 *   | union over folds of [streamStart, streamEnd + R - 1]  U  {weight row write cycles} |
 * A padding column (gated by register 0x03) is never clocked during the GEMM.
 */
export function clockedColumnCycles(cm: Pick<CycleReport, 'streamStart' | 'streamEnd' | 'weightRowTaken'>, rows: number): number {
  const spans: [number, number][] = cm.streamStart.map((s, f) => [s, cm.streamEnd[f]! + rows - 1]);
  for (const w of cm.weightRowTaken) spans.push([w, w]);
  spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let count = 0;
  let end = -1;
  for (const [a, b] of spans) {
    if (b <= end) continue;
    count += b - Math.max(a, end + 1) + 1;
    end = b;
  }
  return count;
}

/** Columns of a C-column tile clocked for a GEMM with N outputs (padding columns gated when N < C). */
export function clockedColumns(cols: number, N: number): number {
  return Math.min(cols, N);
}
