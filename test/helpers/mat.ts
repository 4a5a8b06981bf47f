import type { Mat8 } from '../../mapping/gemm.ts';

/** A seeded operand matrix of raw 8-bit codes (LCG, top byte), shared by the GEMM tests. */
export function seededMat(rows: number, cols: number, seed: number): Mat8 {
  let x = seed;
  return {
    rows,
    cols,
    data: Uint8Array.from({ length: rows * cols }, () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x >>> 24;
    }),
  };
}
