/** The built-in catalogue: canonical ids across all families (8x8 unless the id says otherwise). */
const ids: string[] = [];
const push = (...xs: string[]) => ids.push(...xs);

// Exact baselines.
push('exact_u8', 'exact_s8', 'exact_dadda_u8', 'exact_wallace_u8', 'exact_dadda_s8', 'exact_wallace_s8');
push('booth_s8', 'booth_wallace_s8');
// Broken array.
for (const [h, v] of [
  [0, 4],
  [0, 6],
  [0, 8],
  [0, 10],
  [1, 6],
  [2, 8],
  [3, 9],
  [4, 10],
] as const)
  push(`bam_h${h}_v${v}_u8`);
// Operand truncation.
for (const [ta, tb] of [
  [1, 1],
  [2, 2],
  [3, 3],
  [2, 0],
  [0, 2],
  [4, 4],
] as const) {
  push(`trunc_a${ta}_b${tb}_u8`);
  if (ta === tb) push(`trunc_a${ta}_b${tb}_s8`);
}
// Radix-2 perforation.
for (const [j, k] of [
  [0, 1],
  [0, 2],
  [1, 2],
  [0, 3],
  [2, 2],
] as const)
  push(`perf_j${j}_k${k}_u8`, `perf_j${j}_k${k}_s8`);
// ROUP (MAx-DNN seed roup_p1_r4_s8) and RAD.
for (const [P, R] of [
  [0, 2],
  [0, 4],
  [1, 0],
  [1, 2],
  [1, 4],
  [1, 6],
  [2, 0],
  [2, 4],
  [2, 6],
] as const)
  push(`roup_p${P}_r${R}_s8`);
push('rad_k4_s8', 'rad_k6_s8', 'rad_k8_s8');
// DRUM.
for (const k of [3, 4, 5, 6, 7]) push(`drum_k${k}_u8`);
for (const k of [4, 6]) push(`drum_k${k}_s8`);
// Logarithmic.
push('mitchell_u8', 'mitchell_w3_u8', 'mitchell_w4_u8', 'mitchell_w5_u8');
// Kulkarni.
push('kulkarni_u8');
// Approximate 4:2 compressors.
for (const t of ['sat', 'ao', 'par']) for (const l of [6, 8, 10]) push(`c42_${t}_l${l}_u8`);
// Other widths.
push('exact_u4', 'exact_s6', 'drum_k3_u6', 'bam_h0_v4_u4');

export const CATALOGUE_IDS: readonly string[] = ids;
