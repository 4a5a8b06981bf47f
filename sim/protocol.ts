/**
 * The array harness's wire protocol (stdin/stdout, little-endian): the ONE table both sides are
 * generated from. templates/array/harness.cpp renders its op codes, flags and status from it
 * (and prints the layout below in its header); sim/array.ts encodes and decodes with it.
 *
 * The harness only moves data: the client (through mapping/gemm.ts) decides the register
 * writes, the folds, the weight stream and how many output rows to expect, and places the rows
 * it gets back.
 */
import { PERF_COUNTERS } from '../generators/array/perf.ts';

export const OP = { quit: 0, setInjection: 1, gemm: 2 } as const;

/** Counter words in a gemm reply (one per generators/array/perf.ts counter). */
export const PERF_WORDS = PERF_COUNTERS.length;

export const FLAG = { activity: 1, trace: 2, inject: 4 } as const;

export const STATUS = { ok: 0, error: 1 } as const;

/** Words of one activation-buffer load descriptor: m0, rows, k0, last (rows m0..m0+rows-1 of A's columns k0..k0+R-1, zero past K, as consecutive words; last = the block's last). */
export const LOAD_WORDS = 4;

/** Words of one fold descriptor: ubBase, rows, blockLast (activation rows at buffer words ubBase..ubBase+rows-1). */
export const FOLD_WORDS = 3;

/** Words of one register write: addr, data. */
export const REG_WRITE_WORDS = 2;

/** Human-readable layout (u32 unless noted), for the harness header and docs/array.md. */
export const WIRE = {
  request: 'u32 op',
  [OP.setInjection]: 'u32 nLevels, f64 flipProb[nLevels][psumBits]   (per-level, per-bit flip probability at the domain outputs)',
  [OP.gemm]:
    'tile, flags, seed, traceFrom, traceTo, pathLen, char path[pathLen], nWrites, {addr, data}[nWrites], M, K, u8 A[M*K], ' +
    'nLoads, {m0, rows, k0, last}[nLoads], nFolds, {ubBase, rows, blockLast}[nFolds], wBytes, u8 weightRows[nFolds*R*C], ' +
    '[u8 tags[nFolds*R*C] if tagged], nFault (0 or nFolds*R*C), u8 weightFaults[nFault] (XOR on each weight as the FIFO delivers it), nErr, {resultRow, column, word}[nErr] (psum errors, sorted), outRows',
  reply:
    'u32 status (0 ok; else u32 len, char message[len]); op 2 then: u64 cycles, u64 wall ns, u64 cpu ns, u32 rows[outRows*C], ' +
    'u32 perf[nPerf] (access counters, generators/array/perf.ts), [u64 toggles[R*C][3] (a, b, p) if activity]',
} as const;
