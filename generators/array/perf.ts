/**
 * The simulation views' access counters (axtpu_top `perf` port, 32 bits each, in this order):
 * the ONE list the RTL renders its counters from and the harness client decodes. Each equals a
 * count of mapping/memory.ts `gemmBufferCounts` (test/array-memory.test.ts checks it).
 */
export const PERF_COUNTERS = [
  { key: 'ubReads', doc: 'activation-buffer words read (rows the array accepted)', expr: 'a_valid && a_ready' },
  { key: 'ubWrites', doc: 'activation-buffer words written by the host', expr: 'ub_we' },
  { key: 'wbufReads', doc: 'weight-FIFO rows the array loaded', expr: 'w_pop' },
  { key: 'wbufWrites', doc: 'weight-FIFO rows fetched from DRAM', expr: 'wb_we' },
  { key: 'accReads', doc: 'accumulator-memory rows read', expr: 'acc_rd_any' },
  { key: 'accWrites', doc: 'accumulator-memory rows written', expr: 'acc_wr_any' },
  { key: 'outRows', doc: 'output rows emitted', expr: 'out_valid' },
] as const;

export type PerfKey = (typeof PERF_COUNTERS)[number]['key'];
