/** A 3x5 array with a different cell per column and two voltage domains (the shared mixed-design fixture). */
export const MIXED_3x5 = {
  rows: 3,
  cols: 5,
  psumBits: 20,
  map: { column: ['exact_u8', 'drum_k6_u8', 'bam_h0_v8_u8', 'mitchell_u8', 'kulkarni_u8'] },
  domains: {
    levels: [
      { name: 'nom', volts: 1.8 },
      { name: 'low', volts: 1.2 },
    ],
    domains: [
      { name: 'hi', columns: [0, 2, 4] },
      { name: 'lo', columns: [1, 3] },
    ],
  },
};
