import { UserError } from '../../core/errors.ts';

/**
 * Named array configurations (`axtpu gen --preset <name>`): size and memories of a published
 * accelerator, as config fields. Flags given next to a preset override its fields. The sources
 * and the per-array share of chip-level figures are documented in docs/array.md (Scale).
 */
export interface Preset {
  doc: string;
  config: { rows: number; cols: number; ubKiB: number; wbufKiB: number; dramBytesPerCycle: number; accEntries: number };
  /** Where each number comes from. */
  sources: Record<string, string>;
}

/**
 * TPU v4 (Jouppi et al., "TPU v4: An Optically Reconfigurable Supercomputer for Machine Learning
 * with Hardware Support for Embeddings", ISCA 2023; Google Cloud TPU v4 documentation): per chip
 * 2 TensorCores x 4 MXUs of 128 x 128, 1050 MHz, HBM2 32 GiB at 1200 GB/s, 16 MiB vector memory
 * (VMEM) per TensorCore and 128 MiB CMEM shared. One of our arrays is one MXU, so it gets one
 * MXU's share: VMEM / 4 MXUs as the activation buffer, HBM bandwidth / 8 MXUs per cycle.
 */
const TPU_V4_CHIP = { mxusPerCore: 4, cores: 2, clockHz: 1050e6, hbmBytesPerSecond: 1200e9, vmemKiBPerCore: 16 * 1024 };

export const PRESETS = {
  'tpu-v4': {
    doc: 'one TPU v4 MXU: 128x128, its share of VMEM and HBM bandwidth',
    config: {
      rows: 128,
      cols: 128,
      ubKiB: TPU_V4_CHIP.vmemKiBPerCore / TPU_V4_CHIP.mxusPerCore,
      // Not published for v4: TPU v1's weight FIFO depth of 4 weight tiles (Jouppi et al., ISCA 2017).
      wbufKiB: (4 * 128 * 128) / 1024,
      dramBytesPerCycle: Math.round(TPU_V4_CHIP.hbmBytesPerSecond / TPU_V4_CHIP.clockHz / (TPU_V4_CHIP.mxusPerCore * TPU_V4_CHIP.cores)),
      // Not published for v4: TPU v1's 4096 accumulator rows.
      accEntries: 4096,
    },
    sources: {
      rows: 'MXU 128x128 (ISCA 2023; Cloud TPU v4 docs)',
      ubKiB: '16 MiB VMEM per TensorCore / 4 MXUs (ISCA 2023)',
      dramBytesPerCycle: '1200 GB/s HBM2 / 1050 MHz / 8 MXUs = 142.9 B/cycle (Cloud TPU v4 docs; ISCA 2023)',
      wbufKiB: 'not published for v4: 4 weight tiles as TPU v1 (ISCA 2017)',
      accEntries: 'not published for v4: 4096 rows as TPU v1 (ISCA 2017)',
    },
  },
} as const satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

export function preset(name: string): Preset {
  const p = (PRESETS as Record<string, Preset>)[name];
  if (!p) throw new UserError(`unknown preset '${name}' (known: ${presetNames().join(', ')})`);
  return p;
}
