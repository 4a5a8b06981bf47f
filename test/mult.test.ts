import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.ts';
import { lintVerilog } from '../core/verilator.ts';
import { radRound } from '../generators/multipliers/families/booth.ts';
import { builtinCatalogue, cellMetrics, FAMILIES, getCell, lut, productTable } from '../generators/multipliers/index.ts';
import type { BuiltinCell } from '../generators/multipliers/registry.ts';
import { verifySources } from '../generators/multipliers/verify.ts';

const r2 = (x: number) => Math.round(x * 100) / 100;

describe('published reference values (docs/cells.md, Reference values), exhaustive', () => {
  it('DRUM k=6: MAE 232.83, WCE 2000, EP 85.43 %; DRUM4(100,200) = 21632', () => {
    const m = cellMetrics(getCell('drum_k6_u8'));
    expect(r2(m.mae)).toBe(232.83);
    expect(m.wce).toBe(2000);
    expect(r2(m.epPct)).toBe(85.43);
    expect(getCell('drum_k4_u8').model(100, 200)).toBe(21632);
  });
  it('Mitchell: MAE 606.40, WCE 4096, bias -606.40, (100,200) -> 18432', () => {
    const c = getCell('mitchell_u8');
    const m = cellMetrics(c);
    expect(r2(m.mae)).toBe(606.4);
    expect(m.wce).toBe(4096);
    expect(r2(m.bias)).toBe(-606.4);
    expect(c.model(100, 200)).toBe(18432);
  });
  it('BAM h0 v8: MAE 448.25, WCE 1793', () => {
    const m = cellMetrics(getCell('bam_h0_v8_u8'));
    expect(m.mae).toBe(448.25);
    expect(m.wce).toBe(1793);
  });
  it('Kulkarni: MAE 903.12, WCE 14450, (255,255) -> 50575', () => {
    const c = getCell('kulkarni_u8');
    const m = cellMetrics(c);
    expect(m.mae).toBe(903.125); // 903.12 as published (rounded)
    expect(m.wce).toBe(14450);
    expect(c.model(255, 255)).toBe(50575);
  });
});

describe('exact cells are exact on all pairs', () => {
  const exactIds = [
    'exact_u8',
    'exact_s8',
    'exact_dadda_u8',
    'exact_wallace_u8',
    'exact_dadda_s8',
    'exact_wallace_s8',
    'booth_s8',
    'booth_wallace_s8',
    'booth_array_s8',
    'roup_p0_r0_s8',
    'exact_u4',
    'exact_s6',
    'exact_dadda_s5',
    'booth_s6',
  ];
  for (const id of exactIds)
    it(id, () => {
      const c = getCell(id);
      const N = c.bits;
      const t = productTable(c);
      const half = 1 << (N - 1);
      for (let a = 0; a < 1 << N; a++)
        for (let b = 0; b < 1 << N; b++) {
          const av = c.signed && a >= half ? a - 2 * half : a;
          const bv = c.signed && b >= half ? b - 2 * half : b;
          if (t[(a << N) | b] !== av * bv) throw new Error(`${id}(${a},${b}) = ${t[(a << N) | b]}, want ${av * bv}`);
        }
      expect(cellMetrics(c).epPct).toBe(0);
    });
  it('16x16 exact cells (scalar netlist evaluation) on random pairs', () => {
    const u = getCell('exact_dadda_u16');
    const s = getCell('booth_s16');
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) & 0xffff;
    };
    for (let i = 0; i < 200; i++) {
      const a = rnd();
      const b = rnd();
      expect(u.model(a, b)).toBe(a * b);
      const as = a >= 32768 ? a - 65536 : a;
      const bs = b >= 32768 ? b - 65536 : b;
      expect(s.model(a, b)).toBe(as * bs);
    }
  });
});

describe('ids, catalogue, LUT', () => {
  it('has >= 60 built-in cells over all families, unique ids and module names', () => {
    const cells = builtinCatalogue();
    expect(cells.length).toBeGreaterThanOrEqual(60);
    expect(new Set(cells.map((c) => c.id)).size).toBe(cells.length);
    expect(new Set(cells.map((c) => c.moduleName)).size).toBe(cells.length);
    expect(new Set(cells.map((c) => c.family))).toEqual(new Set(FAMILIES.map((f) => f.name)));
  });
  it('parses any canonical parameter-bearing id, not only catalogue ones', () => {
    for (const id of [
      'drum_k5_s8',
      'bam_h2_v3_u6',
      'roup_p2_r7_s8',
      'rad_k4_s6',
      'trunc_a1_b3_s8',
      'perf_j3_k4_u8',
      'mitchell_w2_u8',
      'kulkarni_u4',
      'c42_x12345678_l5_u8',
      'exact_wallace_u12',
    ]) {
      expect(getCell(id).id).toBe(id);
    }
    // A named compressor written as raw hex is not canonical: the error names the canonical id.
    const hex = getCell('c42_sat_l8_u8').params.table as string;
    expect(() => getCell(`c42_x${hex}_l8_u8`)).toThrow(/use 'c42_sat_l8_u8'/);
  });
  it('rejects unknown, invalid and non-canonical ids with one-line UserErrors', () => {
    for (const id of [
      'foo',
      'drum_k9_u8',
      'drum_k06_u8',
      'exact_array_u8',
      'roup_p1_r4_u8',
      'rad_k5_s8',
      'booth_s7',
      'exact_u3',
      'exact_u17',
      'c42_zzz_l8_u8',
      'perf_j6_k2_s8',
      'ext:nope_not_imported',
      'ext:bad-name',
    ]) {
      let err: unknown;
      try {
        getCell(id);
      } catch (e) {
        err = e;
      }
      expect(err, id).toBeInstanceOf(UserError);
      expect((err as Error).message.includes('\n'), id).toBe(false);
    }
  });
  it("LUT is TFApprox layout: 65,536 raw words at (a<<8)|b, two's complement for signed", () => {
    const s = getCell('exact_s8');
    const w = lut(s);
    expect(w.length).toBe(65536);
    expect(w[(0xff << 8) | 0x02]).toBe(0xfffe); // -1 * 2
    expect(productTable(s)[(0x80 << 8) | 0x80]).toBe(16384);
    expect(lut(s)).toBe(w); // memoized
  });
  it('model() agrees with scalar netlist evaluation (independent evaluator) on sampled pairs', () => {
    for (const c of builtinCatalogue()) {
      const n = (c as BuiltinCell).netlist();
      const N = c.bits;
      for (let k = 0; k < 64; k++) {
        const a = (k * 37 + 11) & ((1 << N) - 1);
        const b = (k * 101 + 3) & ((1 << N) - 1);
        const raw = n.evaluateOne(a, b);
        expect(lut(c)[(a << N) | b], `${c.id}(${a},${b})`).toBe(raw);
      }
    }
  });
  it('RAD rounding convention: nearest power of two, ties to the larger, 0 stays 0', () => {
    expect([0, 1, 2, 3, 5, 6, 7, -3, -8, -32].map(radRound)).toEqual([0, 1, 2, 4, 4, 8, 8, -4, -8, -32]);
  });
  it('ROUP convention: P=1 drops digit 0 entirely; rounding at R=2 on digit 1 is exact (digit 1 starts at bit 2)', () => {
    const c = getCell('roup_p1_r2_s8');
    for (const [a, b] of [
      [100, 0x7c],
      [0x85, 0x34],
      [17, 0x0c],
    ] as const) {
      const av = a >= 128 ? a - 256 : a;
      const bHigh = (b >= 128 ? b - 256 : b) & ~3; // digit 0 covers b[1:0] (b[-1] = 0)
      const exactRest = av * bHigh + av * ((b >> 1) & 1) * 4; // digit 1 uses b[1] as its low bit
      expect(c.model(a, b)).toBe(exactRest);
    }
  });
});

describe('generated Verilog', () => {
  it('the whole catalogue is lint-clean under verilator --lint-only -Wall', async () => {
    const { top, sources } = verifySources(builtinCatalogue());
    const r = await lintVerilog(sources, top);
    expect(r.warnings).toEqual([]);
    expect(r.ok).toBe(true);
  });
  it('is structural: no behavioural multiply, gate-level assigns only', () => {
    for (const c of builtinCatalogue()) {
      const v = c.verilog();
      expect(v, c.id).not.toMatch(/[^/]\*[^/]/);
      expect(v).toContain(`module ${c.moduleName} (`);
      expect(v).not.toMatch(/\balways\b/);
    }
  });
});
