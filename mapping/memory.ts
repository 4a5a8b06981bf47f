import { blockRowCount, type FoldPlan } from './gemm.ts';

/**
 * The memories around the array, as the generated RTL uses them (docs/memory.md): the ONE
 * definition of their timing parameters and of how often a GEMM reads and writes each of them.
 * The cycle model walks these timings; the RTL's access counters must equal these counts.
 *
 *   activation buffer  (UB) words of R bytes (one activation row's K-slice). The host writes an
 *                      M-block's rows x kFolds words into one half, one word per cycle, while the
 *                      other half streams; every activation row the array accepts is one read.
 *   weight FIFO        rows of C bytes between the DRAM interface and the array: one write per
 *                      weight row fetched, one read per weight row loaded into the array.
 *   DRAM interface     dramBytesPerCycle bytes per cycle: one weight row takes ceil(C / B) cycles.
 *   accumulators       accEntries rows x C psums per tile: K-folds 0..kFolds-2 write a row,
 *                      K-folds 1..kFolds-1 read it; a GEMM with one K-fold never touches them.
 */
export interface BufferCounts {
  /** Activation-buffer words (R bytes) read by the array / written by the host. */
  ubReads: number;
  ubWrites: number;
  /** Weight-FIFO rows (C bytes) read by the array / written from DRAM. */
  wbufReads: number;
  wbufWrites: number;
  /** Accumulator-memory rows (C x psumBits bits) read / written. */
  accReads: number;
  accWrites: number;
  /** Output rows (C psums) the accumulators emit. */
  outRows: number;
  /** Bytes fetched from DRAM for the weight stream (whole padded rows). */
  dramWeightBytes: number;
}

export const BUFFER_COUNT_KEYS = ['ubReads', 'ubWrites', 'wbufReads', 'wbufWrites', 'accReads', 'accWrites', 'outRows', 'dramWeightBytes'] as const;

export function emptyBufferCounts(): BufferCounts {
  return { ubReads: 0, ubWrites: 0, wbufReads: 0, wbufWrites: 0, accReads: 0, accWrites: 0, outRows: 0, dramWeightBytes: 0 };
}

export function addBufferCounts(into: BufferCounts, x: BufferCounts): void {
  for (const k of BUFFER_COUNT_KEYS) into[k] += x[k];
}

/** Activation-buffer words the host writes for M-block b (rows x kFolds). */
export function blockWords(plan: FoldPlan, b: number): number {
  return blockRowCount(plan, b) * plan.kFolds;
}

/** DRAM bytes of a weight stream: every fetched row whole (C bytes, padding included). */
export function dramWeightBytes(weightRows: number, C: number): number {
  return weightRows * C;
}

/** Every buffer access of one GEMM (see the table above). */
export function gemmBufferCounts(plan: FoldPlan): BufferCounts {
  const { M, R, C, kFolds, nFolds, folds } = plan;
  const weightRows = folds * R;
  const accRows = (kFolds - 1) * nFolds * M;
  return {
    ubReads: kFolds * nFolds * M,
    ubWrites: kFolds * M,
    wbufReads: weightRows,
    wbufWrites: weightRows,
    accReads: accRows,
    accWrites: accRows,
    outRows: nFolds * M,
    dramWeightBytes: dramWeightBytes(weightRows, C),
  };
}
