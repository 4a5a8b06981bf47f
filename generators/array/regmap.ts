/**
 * The array's configuration registers (cfg_we / cfg_addr / cfg_data on axtpu_top): the ONE
 * register map. templates/array/top.sv renders its decoder from it, the UPF and docs cite its
 * addresses, and mapping/gemm.ts computes a GEMM's writes from it.
 */
export interface RegSpec {
  /** Address (cfg_addr, 8 bits). */
  addr: number;
  /** Bits of cfg_data the register keeps (0 = sized by the design, see regWidths). */
  width: number;
  doc: string;
}

export const REG = {
  /** Runtime cell mode (designs with modes only). */
  mode: { addr: 0x00, width: 0, doc: 'runtime cell mode (designs with several modes)' },
  /** Tile select (multi-tile designs only): only the selected tile sees valid inputs. */
  tile: { addr: 0x01, width: 0, doc: 'tile select (designs with several tiles)' },
  /** K-folds per output minus one: the accumulators emit on the last K-fold. Reset 0 = one K-fold. */
  kFoldLast: { addr: 0x02, width: 16, doc: 'K-folds per output tile minus 1 (accumulators emit on the last)' },
  /**
   * Clock-gated designs only: the first column whose PEs are not clocked (every column from it
   * on holds padding weights for the whole GEMM); 0 = every column clocked (the reset value).
   * Column 0 always holds a real filter, so 0 is free to mean "none". Width clog2(cols + 1).
   */
  colGateFrom: { addr: 0x03, width: 0, doc: 'first clock-gated (padding) column, 0 = none (clock-gated designs)' },
  /** Control-variate designs (docs/cv.md): fractional bits q of the coefficients. */
  cvQ: { addr: 0x04, width: 4, doc: 'control variate: fractional bits q of the coefficients (control-variate designs)' },
  /** N-folds per M-block minus one: the correction stage's coefficient row wraps after the last. */
  cvNFoldLast: { addr: 0x05, width: 16, doc: 'control variate: N-folds per M-block minus 1 (coefficient row counter wraps)' },
  /** Coefficient write pointer (filter index n = N-fold x C + column); 0x07 writes there and advances it. */
  cvCoefAddr: { addr: 0x06, width: 16, doc: 'control variate: coefficient write pointer (filter n)' },
  cvCoefData: { addr: 0x07, width: 16, doc: "control variate: write the coefficient of filter pointer, pointer + 1 (two's complement)" },
  /** Level of voltage domain d lives at addr + d (global domain order). */
  domainLevel: { addr: 0x10, width: 0, doc: 'level of voltage domain d at 0x10 + d (global domain order)' },
} as const satisfies Record<string, RegSpec>;

/** At most this many voltage domains fit below address 0x100. */
export const MAX_DOMAIN_REGS = 0x100 - REG.domainLevel.addr;

export interface RegWrite {
  addr: number;
  data: number;
}

export const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
