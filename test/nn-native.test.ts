import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveAssignment, uniformAssignment } from '../nn/assign.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { finishLayer, finishLayerJs, gemmExact, gemmExactJs, gemmLut, gemmLutJs, lowerLayerToGemm, lowerLayerToGemmJs } from '../nn/gemm.ts';
import type { Shape } from '../nn/graph.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { type NativeStatus, nativeKernels, prepareNativeKernels, splitBank } from '../nn/native.ts';
import { runDataset, runJob } from '../nn/parallel.ts';
import type { QConvLayer, Scheme } from '../nn/qmodel.ts';
import { byteHistogramJs, StatsCollector } from '../nn/stats.ts';

const repo = join(import.meta.dirname, '..');

// Deterministic LCG so a failure reproduces.
let seed = 2026;
const rnd = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return Math.floor((seed / 4294967296) * n);
};

interface Case {
  ic: number;
  oc: number;
  kh: number;
  kw: number;
  h: number;
  w: number;
  stride: [number, number];
  pads: [number, number, number, number];
  batch: number;
  scheme: Scheme;
  cells: number;
  granularity: 'layer' | 'filter' | 'kernel';
  /**
   * Table content: 'cell' = random 16-bit products of the scheme; 'top' = products at the top of
   * the 16-bit range (worst case for the kernel's 16-bit partial sums); 'mixed' = a range no
   * single offset fits.
   */
  table?: 'cell' | 'top' | 'mixed';
  /** Row offsets not on 256-entry rows (only the generic kernel handles them). */
  unalignedRows?: boolean;
  bigBias?: boolean;
  relu?: boolean;
}

function makeCase(c: Case) {
  const K = c.ic * c.kh * c.kw;
  const signed = c.scheme === 'signed';
  const weights = new Int16Array(c.oc * K);
  for (let i = 0; i < weights.length; i++) weights[i] = signed ? rnd(255) - 127 : rnd(256);
  const weightSum = new Int32Array(c.oc);
  for (let o = 0; o < c.oc; o++) for (let k = 0; k < K; k++) weightSum[o]! += weights[o * K + k]!;
  const multiplier = new Int32Array(c.oc);
  const shift = new Int32Array(c.oc);
  const bias = new Int32Array(c.oc);
  for (let o = 0; o < c.oc; o++) {
    multiplier[o] = 1073741824 + rnd(1073741823);
    shift[o] = o % 5 === 0 ? 1 + rnd(2) : -rnd(14);
    // Big biases push accumulators to the int32 edges: saturating left shifts, exact (slow) paths.
    bias[o] = c.bigBias ? (o % 2 ? 2147483000 : -2147483000) + rnd(600) : rnd(200001) - 100000;
  }
  const l: QConvLayer = {
    op: 'conv',
    name: 'l',
    kind: 'conv',
    input: 'x',
    output: 'y',
    ic: c.ic,
    oc: c.oc,
    kh: c.kh,
    kw: c.kw,
    stride: c.stride,
    pads: c.pads,
    relu: c.relu ?? false,
    K,
    weights,
    weightScale: new Float64Array(c.oc).fill(0.01),
    weightZero: signed ? 0 : 1 + rnd(255),
    weightSum,
    bias,
    multiplier,
    shift,
  };
  const inShape: Shape = { c: c.ic, h: c.h, w: c.w };
  const outShape: Shape = {
    c: c.oc,
    h: Math.floor((c.h + c.pads[0] + c.pads[2] - c.kh) / c.stride[0]) + 1,
    w: Math.floor((c.w + c.pads[1] + c.pads[3] - c.kw) / c.stride[1]) + 1,
  };
  const x = new Uint8Array(c.batch * c.ic * c.h * c.w);
  for (let i = 0; i < x.length; i++) x[i] = rnd(256);
  const table = new Int32Array(c.cells * 65536);
  for (let i = 0; i < table.length; i++)
    table[i] = c.table === 'mixed' ? rnd(65541) - 5 : (c.table === 'top' ? 65536 - 1 - rnd(4) : rnd(65536)) - (signed ? 32768 : 0);
  const ro = new Int32Array(c.oc * K);
  const khw = c.kh * c.kw;
  const perFilter = Array.from({ length: c.oc }, () => rnd(c.cells));
  const perKernel = Array.from({ length: c.oc * c.ic }, () => rnd(c.cells));
  for (let o = 0; o < c.oc; o++)
    for (let k = 0; k < K; k++) {
      const cell = c.granularity === 'layer' ? 0 : c.granularity === 'filter' ? perFilter[o]! : perKernel[o * c.ic + Math.floor(k / khw)]!;
      ro[o * K + k] = c.unalignedRows ? rnd(table.length - 255) : cell * 65536 + (weights[o * K + k]! & 0xff) * 256;
    }
  const inputZero = signed ? rnd(21) - 10 : rnd(256);
  const outputZero = signed ? rnd(21) - 10 : rnd(256);
  return { l, inShape, outShape, x, table, ro, inputZero, outputZero };
}

const CASES: Case[] = [
  // Odd oc / K / P, several cells at kernel granularity, both schemes; K > 256 exercises the
  // 16-bit partial-sum flush; P is not a multiple of 64.
  { ic: 3, oc: 7, kh: 3, kw: 3, h: 11, w: 9, stride: [1, 1], pads: [1, 1, 1, 1], batch: 3, scheme: 'unsigned', cells: 3, granularity: 'kernel' },
  { ic: 5, oc: 9, kh: 3, kw: 3, h: 13, w: 13, stride: [2, 2], pads: [1, 0, 1, 2], batch: 2, scheme: 'signed', cells: 2, granularity: 'filter', relu: true },
  { ic: 33, oc: 13, kh: 3, kw: 3, h: 7, w: 7, stride: [1, 1], pads: [1, 1, 1, 1], batch: 5, scheme: 'unsigned', cells: 4, granularity: 'kernel' },
  { ic: 65, oc: 5, kh: 3, kw: 3, h: 5, w: 5, stride: [1, 1], pads: [1, 1, 1, 1], batch: 3, scheme: 'signed', cells: 3, granularity: 'kernel', relu: true },
  // Asymmetric padding with OW == IW (the contiguous-copy im2col path) and a 1-wide image.
  { ic: 3, oc: 4, kh: 3, kw: 3, h: 8, w: 10, stride: [1, 1], pads: [0, 2, 2, 0], batch: 3, scheme: 'unsigned', cells: 2, granularity: 'filter' },
  { ic: 2, oc: 3, kh: 3, kw: 1, h: 9, w: 1, stride: [1, 1], pads: [2, 0, 0, 0], batch: 4, scheme: 'signed', cells: 1, granularity: 'layer' },
  { ic: 1, oc: 6, kh: 5, kw: 5, h: 28, w: 28, stride: [1, 1], pads: [2, 2, 2, 2], batch: 4, scheme: 'unsigned', cells: 1, granularity: 'layer', relu: true },
  // Dense layer (1x1 spatial), big biases: int32 saturation and out-of-range paths.
  {
    ic: 301,
    oc: 11,
    kh: 1,
    kw: 1,
    h: 1,
    w: 1,
    stride: [1, 1],
    pads: [0, 0, 0, 0],
    batch: 67,
    scheme: 'unsigned',
    cells: 2,
    granularity: 'kernel',
    bigBias: true,
  },
  { ic: 17, oc: 3, kh: 1, kw: 1, h: 3, w: 5, stride: [1, 1], pads: [0, 0, 0, 0], batch: 7, scheme: 'signed', cells: 1, granularity: 'layer', bigBias: true },
  // Largest products with K well past the 256-step flush of the 16-bit partial sums.
  { ic: 70, oc: 6, kh: 3, kw: 3, h: 4, w: 4, stride: [1, 1], pads: [1, 1, 1, 1], batch: 2, scheme: 'unsigned', cells: 1, granularity: 'layer', table: 'top' },
  { ic: 600, oc: 5, kh: 1, kw: 1, h: 1, w: 1, stride: [1, 1], pads: [0, 0, 0, 0], batch: 70, scheme: 'signed', cells: 2, granularity: 'kernel', table: 'top' },
  // Banks the byte-permute kernel cannot take: the generic native kernel must still match.
  { ic: 4, oc: 5, kh: 3, kw: 3, h: 6, w: 6, stride: [1, 1], pads: [1, 1, 1, 1], batch: 2, scheme: 'unsigned', cells: 2, granularity: 'kernel', table: 'mixed' },
  {
    ic: 4,
    oc: 5,
    kh: 3,
    kw: 3,
    h: 6,
    w: 6,
    stride: [1, 1],
    pads: [1, 1, 1, 1],
    batch: 2,
    scheme: 'signed',
    cells: 2,
    granularity: 'kernel',
    unalignedRows: true,
  },
];

/**
 * Random tables give accumulators far from zero: pick each channel's bias and shift from the
 * accumulators so the requantized outputs spread over the code range instead of all clamping.
 */
function centreRequantization(l: QConvLayer, acc: Int32Array, g: { P: number; sumA?: Int32Array }, inputZero: number): void {
  for (let o = 0; o < l.oc; o++) {
    let s = 0;
    let s2 = 0;
    for (let p = 0; p < g.P; p++) {
      const v = acc[o * g.P + p]! - inputZero * l.weightSum[o]! + l.K * inputZero * l.weightZero - (g.sumA ? l.weightZero * g.sumA[p]! : 0);
      s += v;
      s2 += v * v;
    }
    const mean = s / g.P;
    const std = Math.sqrt(Math.max(1, s2 / g.P - mean * mean));
    l.bias[o] = -Math.round(mean);
    l.shift[o] = Math.max(-31, Math.min(3, Math.round(Math.log2(40 / std))));
  }
}

let status: NativeStatus;
beforeAll(async () => {
  status = await prepareNativeKernels();
});

describe('native DNN kernels (C++ N-API addon)', () => {
  it('builds with g++ and loads', () => {
    expect(status.ok, status.reason).toBe(true);
    expect(nativeKernels()).toBeDefined();
    expect(['avx512vbmi', 'scalar']).toContain(status.simd);
  });

  it.each(CASES.map((c, i) => [i, c] as const))('case %i: im2col, LUT GEMM, exact GEMM and requantization equal the JS reference bit for bit', (_i, c) => {
    const t = makeCase(c);
    const g = lowerLayerToGemm(t.l, t.x, t.inShape, t.outShape, c.batch, t.inputZero);
    const gJs = lowerLayerToGemmJs(t.l, t.x, t.inShape, t.outShape, c.batch, t.inputZero);
    expect(g.P).toBe(gJs.P);
    expect(Buffer.from(g.a).equals(Buffer.from(gJs.a))).toBe(true);
    expect(g.sumA === undefined).toBe(gJs.sumA === undefined);
    if (g.sumA) expect(Array.from(g.sumA)).toEqual(Array.from(gJs.sumA!));
    const acc = gemmLut(t.ro, t.table, g, c.oc);
    const accJs = gemmLutJs(t.ro, t.table, gJs, c.oc);
    expect(acc.length).toBe(accJs.length);
    let diff = 0;
    for (let i = 0; i < acc.length; i++) if (acc[i] !== accJs[i]) diff++;
    expect(diff).toBe(0);
    // The exact int8 path (real multiplies) too.
    expect(Array.from(gemmExact(t.l, g, c.scheme))).toEqual(Array.from(gemmExactJs(t.l, gJs, c.scheme)));
    if (!c.bigBias) centreRequantization(t.l, accJs, gJs, t.inputZero);
    const out = finishLayer(t.l, acc, g, t.inputZero, t.outputZero, c.scheme);
    const outJs = finishLayerJs(t.l, accJs, gJs, t.inputZero, t.outputZero, c.scheme);
    expect(Buffer.from(out).equals(Buffer.from(outJs))).toBe(true);
    // The random data must actually reach both sides of the clamp, or the test proves little.
    if (!c.bigBias) expect(new Set(out).size).toBeGreaterThan(20);
    // The engine hands the kernels uninitialized memory: every output element must be written.
    const n = nativeKernels()!;
    const dirtyA = new Uint8Array(gJs.a.length).fill(0xab);
    const dirtySum = gJs.sumA ? new Int32Array(gJs.P).fill(-12345) : null;
    const d = t.l;
    n.im2col(
      t.x,
      dirtyA,
      dirtySum,
      Int32Array.of(
        d.ic,
        d.kh,
        d.kw,
        t.inShape.h,
        t.inShape.w,
        t.outShape.h,
        t.outShape.w,
        d.stride[0],
        d.stride[1],
        d.pads[0],
        d.pads[1],
        c.batch,
        t.inputZero & 0xff,
      ),
    );
    expect(Buffer.from(dirtyA).equals(Buffer.from(gJs.a))).toBe(true);
    if (dirtySum) expect(Array.from(dirtySum)).toEqual(Array.from(gJs.sumA!));
    const dirtyAcc = new Int32Array(accJs.length).fill(0x55555555);
    n.gemmLut(t.table, null, 0, t.ro, gJs.a, dirtyAcc, gJs.K, gJs.P, c.oc);
    expect(Buffer.from(dirtyAcc.buffer).equals(Buffer.from(accJs.buffer))).toBe(true);
    const bank = splitBank(t.table);
    if (bank) {
      dirtyAcc.fill(0x55555555);
      n.gemmLut(t.table, bank.bytes, bank.offset, t.ro, gJs.a, dirtyAcc, gJs.K, gJs.P, c.oc);
      expect(Buffer.from(dirtyAcc.buffer).equals(Buffer.from(accJs.buffer))).toBe(true);
    }
    dirtyAcc.fill(0x55555555);
    n.gemmExact(d.weights, gJs.a, c.scheme === 'signed' ? 1 : 0, dirtyAcc, gJs.K, gJs.P, c.oc);
    expect(Array.from(dirtyAcc)).toEqual(Array.from(gemmExactJs(d, gJs, c.scheme)));
    const dirtyOut = new Uint8Array(outJs.length).fill(0xcd);
    const [qmin0, qmax] = c.scheme === 'signed' ? [-128, 127] : [0, 255];
    const qmin = d.relu ? Math.max(qmin0, t.outputZero) : qmin0;
    const constant = Float64Array.from(d.bias, (b, o) => b - t.inputZero * d.weightSum[o]! + d.K * t.inputZero * d.weightZero);
    n.finish(
      accJs,
      gJs.sumA ?? null,
      dirtyOut,
      d.multiplier,
      d.shift,
      constant,
      Int32Array.of(c.oc, gJs.positions, c.batch, d.weightZero, t.outputZero, qmin, qmax),
    );
    expect(Buffer.from(dirtyOut).equals(Buffer.from(outJs))).toBe(true);
  });

  it('operand histogram: native equals JS bit for bit (lengths, runs, accumulation)', () => {
    const n = nativeKernels()!;
    for (const len of [0, 1, 7, 8, 9, 63, 64, 65, 1000, 100_003]) {
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = i % 97 < 40 ? 0 : i % 5 === 0 ? 255 : rnd(256); // runs like im2col padding
      // Both start from the same non-zero counts: the kernel adds, it does not overwrite.
      const js = Float64Array.from({ length: 256 }, (_, c) => c * 3);
      const nat = Float64Array.from(js);
      byteHistogramJs(bytes, js);
      n.histogram(bytes, nat);
      expect(Array.from(nat), `length ${len}`).toEqual(Array.from(js));
    }
    // Unaligned view (an im2col prefix inside a larger buffer).
    const big = Uint8Array.from({ length: 5000 }, () => rnd(256));
    const view = big.subarray(3, 4003);
    const js = new Float64Array(256);
    const nat = new Float64Array(256);
    byteHistogramJs(view, js);
    n.histogram(view, nat);
    expect(Array.from(nat)).toEqual(Array.from(js));
    expect(() => n.histogram(big, new Float64Array(255))).toThrow(/256 entries/);
  });

  it('operand statistics of a layer are the same with the native and the JS histogram', () => {
    const t = makeCase(CASES[0]!);
    const g = lowerLayerToGemmJs(t.l, t.x, t.inShape, t.outShape, 3, t.inputZero);
    const collect = () => {
      const c = new StatsCollector(64, 1000, 7);
      c.observe(t.l, g);
      return [...c.layers.values()];
    };
    const nat = collect();
    const prev = process.env.AXTPU_NN_NATIVE;
    process.env.AXTPU_NN_NATIVE = '0';
    try {
      expect(nat).toEqual(collect());
    } finally {
      if (prev === undefined) delete process.env.AXTPU_NN_NATIVE;
      else process.env.AXTPU_NN_NATIVE = prev;
    }
    expect(nat[0]!.aHist.reduce((a, b) => a + b, 0)).toBe(g.K * g.P * t.l.oc);
  });

  it('rejects a row offset outside the bank instead of reading past it', () => {
    const t = makeCase(CASES[0]!);
    const g = lowerLayerToGemm(t.l, t.x, t.inShape, t.outShape, 3, t.inputZero);
    const bad = t.ro.slice();
    bad[5] = t.table.length;
    expect(() => gemmLut(bad, t.table, g, t.l.oc)).toThrow(/outside the LUT bank/);
  });

  it('worker threads load the addon: LeNet-5 predictions equal the JS engine', async () => {
    const path = join(repo, 'models', 'lenet5-fmnist.onnx');
    const q = (await loadQuantModelFor(path, 'unsigned')).model;
    const r = resolveAssignment(q, uniformAssignment('drum_k4_u8'));
    const cfg = { model: q, table: r.table, rowOffsets: r.rowOffsets };
    const ds = limitDataset(loadDataset('fmnist', 'test'), 300);
    const native = await runDataset(cfg, ds, { workers: 2, batch: 64 });
    expect(native.workers).toBe(2);
    const prev = process.env.AXTPU_NN_NATIVE;
    process.env.AXTPU_NN_NATIVE = '0';
    try {
      const js = runJob({
        cfg,
        pixels: ds.pixels,
        count: ds.count,
        perImage: 784,
        batch: 64,
        stats: false,
        first: 0,
        samplesPerBatch: 0,
        samplesPerLayer: 0,
        seed: 1,
      });
      expect(Array.from(native.pred)).toEqual(Array.from(js.pred));
    } finally {
      if (prev === undefined) delete process.env.AXTPU_NN_NATIVE;
      else process.env.AXTPU_NN_NATIVE = prev;
    }
  });

  it('without a compiler: one warning line on stderr, JS kernels, same result', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-native-'));
    const script = join(dir, 'run.mts');
    writeFileSync(
      script,
      [
        `import { prepareNativeKernels, nativeKernels } from ${JSON.stringify(join(repo, 'nn/native.ts'))};`,
        `const a = await prepareNativeKernels();`,
        `const b = await prepareNativeKernels();`,
        `console.log(JSON.stringify({ ok: a.ok, again: b.ok, loaded: nativeKernels() !== undefined }));`,
      ].join('\n'),
    );
    // Empty PATH: g++ cannot be found; a fresh cache so no earlier build is reused.
    const r = await execa(process.execPath, ['--import', 'tsx', script], {
      cwd: repo,
      env: { PATH: '/nonexistent', AXTPU_CACHE: join(dir, 'cache') },
      extendEnv: false,
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ ok: false, again: false, loaded: false });
    const warnings = r.stderr
      .trim()
      .split('\n')
      .filter((s) => s.length > 0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^axtpu: warning: native DNN kernels unavailable \(.*g\+\+.*\); using the slower JS kernels$/);
  });
});
