import { getCell } from '../../generators/multipliers/index.ts';

/**
 * EvoApprox-style gate-level Verilog (module <name>(A, B, O), ports declared in the body) made
 * from one of axtpu's own built-in 8-bit cells, for import tests and the batch-import bench:
 * no third-party cell code is downloaded or committed.
 */
export function evoStyleFromBuiltin(id: string, name = `mul8_${id}`): string {
  const cell = getCell(id);
  if (cell.bits !== 8) throw new Error(`evoStyleFromBuiltin: ${id} is not 8-bit`);
  const text = cell.verilog();
  const body = text.slice(text.indexOf(');', text.indexOf(`module ${cell.moduleName}`)) + 2, text.lastIndexOf('endmodule'));
  const renamed = body.replace(/\ba\[/g, 'A[').replace(/\bb\[/g, 'B[').replace(/\bp\[/g, 'O[');
  return `// EvoApprox-style test cell generated from axtpu's ${id}\nmodule ${name}(A, B, O);\n  input [7:0] A;\n  input [7:0] B;\n  output [15:0] O;\n${renamed}endmodule\n`;
}

/** Unsigned 8-bit built-in ids (catalogue and other valid parameters), enough for a 50+ cell batch. */
export const UNSIGNED_8BIT_IDS = [
  'exact_u8',
  'exact_dadda_u8',
  'exact_wallace_u8',
  'bam_h0_v4_u8',
  'bam_h0_v6_u8',
  'bam_h0_v8_u8',
  'bam_h0_v10_u8',
  'bam_h1_v6_u8',
  'bam_h2_v8_u8',
  'bam_h3_v9_u8',
  'bam_h4_v10_u8',
  'trunc_a1_b1_u8',
  'trunc_a2_b2_u8',
  'trunc_a3_b3_u8',
  'trunc_a2_b0_u8',
  'trunc_a0_b2_u8',
  'trunc_a4_b4_u8',
  'perf_j0_k1_u8',
  'perf_j0_k2_u8',
  'perf_j1_k2_u8',
  'perf_j0_k3_u8',
  'perf_j2_k2_u8',
  'drum_k3_u8',
  'drum_k4_u8',
  'drum_k5_u8',
  'drum_k6_u8',
  'drum_k7_u8',
  'mitchell_u8',
  'mitchell_w3_u8',
  'mitchell_w4_u8',
  'mitchell_w5_u8',
  'kulkarni_u8',
  'c42_sat_l6_u8',
  'c42_sat_l8_u8',
  'c42_sat_l10_u8',
  'c42_ao_l6_u8',
  'c42_ao_l8_u8',
  'c42_ao_l10_u8',
  'c42_par_l6_u8',
  'c42_par_l8_u8',
  'c42_par_l10_u8',
  'bam_h1_v4_u8',
  'bam_h1_v8_u8',
  'bam_h2_v6_u8',
  'bam_h2_v10_u8',
  'trunc_a1_b0_u8',
  'trunc_a0_b1_u8',
  'trunc_a3_b1_u8',
  'perf_j1_k1_u8',
  'perf_j3_k1_u8',
  'bam_h0_v5_u8',
  'bam_h3_v7_u8',
];
