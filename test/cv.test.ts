import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { xorshift32 } from '../core/rng.ts';
import { energyOf } from '../explore/objective.ts';
import { productTable } from '../generators/multipliers/index.ts';
import { baseCell, planUnits, toArrayConfig, toAssignment } from '../mapping/units.ts';
import { resolveAssignment, uniformAssignment } from '../nn/assign.ts';
import { captureOperands } from '../nn/capture.ts';
import { applyCv, applyCvJs, fitErrors, type LayerCv, parseCvSpec } from '../nn/cv.ts';
import { activationHistograms, compensation } from '../nn/cv-calib.ts';
import { type Dataset, limitDataset, loadDataset } from '../nn/dataset.ts';
import { engineGemm } from '../nn/engine.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { prepareNativeKernels } from '../nn/native.ts';
import { runDataset, runJob } from '../nn/parallel.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';

const repo = join(import.meta.dirname, '..');
const lenet = join(repo, 'models', 'lenet5-fmnist.onnx');

/** Transposed bank of one cell (nn/gemm.ts layout: row = weight code, column = activation code). */
function bankOf(id: string): Int32Array {
  const t = productTable(id);
  const out = new Int32Array(65536);
  for (let a = 0; a < 256; a++) for (let w = 0; w < 256; w++) out[w * 256 + a] = t[(a << 8) | w]!;
  return out;
}

describe('control-variate error fit (nn/cv.ts)', () => {
  it('on the perforated cell perf_j0_k3 it is the paper: alpha = 0, beta = -(w mod 8) for any activation histogram', () => {
    const next = xorshift32(7);
    const skewed = Array.from({ length: 256 }, (_, c) => (c < 40 ? 1000 + (next() % 500) : next() % 30));
    for (const [id, signed] of [
      ['perf_j0_k3_u8', false],
      ['perf_j0_k3_s8', true],
    ] as const)
      for (const hist of [new Array(256).fill(1), skewed]) {
        const fit = fitErrors(bankOf(id), hist, signed);
        for (let w = 0; w < 256; w++) {
          expect(fit.beta[w]).toBeCloseTo(-(w & 7), 9);
          expect(fit.alpha[w]).toBeCloseTo(0, 6);
        }
      }
  });

  it('an exact cell gets zero correction; a DRUM cell a non-trivial fit', () => {
    const ex = fitErrors(bankOf('exact_u8'), new Array(256).fill(1), false);
    expect(Math.max(...ex.beta.map(Math.abs), ...ex.alpha.map(Math.abs))).toBe(0);
    const drum = fitErrors(bankOf('drum_k4_u8'), new Array(256).fill(1), false);
    expect(Math.max(...drum.beta.map(Math.abs))).toBeGreaterThan(0.5);
  });

  it("the issue's toy check: a 576-term dot product (uint8 x int8 codes, m = 3) is far more accurate with the control variate", () => {
    // Unsigned scheme: weight code = int8 + 128. Real cell perf_j0_k3_u8; the correction in fixed point (q = 8).
    const t = productTable('perf_j0_k3_u8');
    const next = xorshift32(3);
    const K = 576;
    let sePerf = 0;
    let seCv = 0;
    const trials = 300;
    for (let i = 0; i < trials; i++) {
      const w = Array.from({ length: K }, () => (next() % 256) | 0);
      const a = Array.from({ length: K }, () => next() % 256);
      let exact = 0;
      let approx = 0;
      let V = 0;
      let wl = 0;
      for (let k = 0; k < K; k++) {
        exact += a[k]! * w[k]!;
        approx += t[(a[k]! << 8) | w[k]!]!;
        V += a[k]!;
        wl += w[k]! & 7;
      }
      const cv: LayerCv = { q: 8, coef: Int32Array.of(Math.round((wl / K) * 256)), offset: Int32Array.of(0) };
      const acc = Int32Array.of(approx);
      applyCv(cv, acc, { K: 1, P: 1, positions: 1, batch: 1, a: new Uint8Array(1), sumA: Int32Array.of(V) }, 1, false);
      sePerf += (approx - exact) ** 2;
      seCv += (acc[0]! - exact) ** 2;
    }
    const rmsPerf = Math.sqrt(sePerf / trials);
    const rmsCv = Math.sqrt(seCv / trials);
    // The issue quotes 64,780 vs 1,367 for one such draw: the same orders of magnitude.
    expect(rmsPerf).toBeGreaterThan(40_000);
    expect(rmsCv).toBeLessThan(rmsPerf / 20);
  });

  it('the fixed-point correction is (c_q V + 2^(q-1)) >> q, round half up, checked with BigInt shifts', () => {
    const next = xorshift32(11);
    for (let i = 0; i < 2000; i++) {
      const q = next() % 16;
      const coef = (next() % 65536) - 32768;
      const V = (next() % (1 << 24)) - (1 << 23);
      const acc0 = (next() | 0) >> 4;
      const cv: LayerCv = { q, coef: Int32Array.of(coef), offset: Int32Array.of(0) };
      const acc = Int32Array.of(acc0);
      applyCv(cv, acc, { K: 1, P: 1, positions: 1, batch: 1, a: new Uint8Array(1), sumA: Int32Array.of(V) }, 1, false);
      const half = q > 0 ? 1n << BigInt(q - 1) : 0n;
      const want = BigInt.asIntN(32, BigInt(acc0) + ((BigInt(coef) * BigInt(V) + half) >> BigInt(q)));
      expect(acc[0]).toBe(Number(want));
    }
  });
});

describe('control variate in the engine', () => {
  let q: QuantModel;
  let test: Dataset;
  let calib: Dataset;
  beforeAll(async () => {
    q = (await loadQuantModelFor(lenet, 'unsigned')).model;
    test = limitDataset(loadDataset('fmnist', 'test'), 300);
    calib = limitDataset(loadDataset('fmnist', 'train'), 128);
  });

  it('per-layer coefficients are the mean W_L of each filter (perforation), and accuracy recovers on LeNet-5', async () => {
    const r = resolveAssignment(q, uniformAssignment('perf_j0_k3_u8'));
    const { cv } = compensation(q, r, parseCvSpec('all', q, 8), { pixels: calib.pixels, count: calib.count });
    for (const l of convLayers(q))
      for (let o = 0; o < l.oc; o++) {
        let wl = 0;
        for (let k = 0; k < l.K; k++) wl += l.weights[o * l.K + k]! & 7;
        expect(cv[l.name]!.coef[o]).toBe(Math.round((wl / l.K) * 256));
        expect(cv[l.name]!.offset[o]).toBe(0);
      }
    const ex = resolveAssignment(q, uniformAssignment('exact_u8'));
    const acc = async (cfg: Parameters<typeof runDataset>[0]) => {
      const p = (await runDataset(cfg, test, { workers: 2, batch: 50 })).pred;
      return p.filter((y, i) => y === test.labels[i]).length / test.count;
    };
    const exact = await acc({ model: q, table: ex.table, rowOffsets: ex.rowOffsets });
    const off = await acc({ model: q, table: r.table, rowOffsets: r.rowOffsets });
    const on = await acc({ model: q, table: r.table, rowOffsets: r.rowOffsets, cv });
    expect(exact - off).toBeGreaterThan(0.05);
    expect(exact - on).toBeLessThan((exact - off) / 4);
    // The pool carries the compensation to its workers: same predictions as this thread.
    const cfg = { model: q, table: r.table, rowOffsets: r.rowOffsets, cv };
    const here = runJob({
      cfg,
      pixels: test.pixels,
      count: test.count,
      perImage: 784,
      batch: 50,
      stats: false,
      first: 0,
      samplesPerBatch: 0,
      samplesPerLayer: 0,
      seed: 1,
    }).pred;
    expect([...(await runDataset(cfg, test, { workers: 2, batch: 50 })).pred]).toEqual([...here]);
  });

  it('engineGemm adds exactly the correction to the uncompensated accumulators (signed scheme, DRUM)', async () => {
    const qs = (await loadQuantModelFor(lenet, 'signed')).model;
    const r = resolveAssignment(qs, uniformAssignment('drum_k4_s8'));
    const plan = parseCvSpec('{"default":"on","/c2/Conv":5,"/f3/Gemm":"off"}', qs, 9);
    expect(plan['/c2/Conv']).toBe(5);
    expect(plan['/c1/Conv']).toBe(9);
    expect(plan['/f3/Gemm']).toBeUndefined();
    const { cv } = compensation(qs, r, plan, { pixels: calib.pixels, count: calib.count });
    expect(Object.values(activationHistograms(qs, calib.pixels, calib.count)).length).toBe(convLayers(qs).length);
    const cfg = { model: qs, table: r.table, rowOffsets: r.rowOffsets };
    expect((await prepareNativeKernels()).ok).toBe(true);
    for (const { layer, g } of captureOperands(cfg, test.pixels.subarray(0, 4 * 784), 4)) {
      const plain = engineGemm(cfg, layer, g);
      const got = engineGemm({ ...cfg, cv }, layer, g);
      const c = cv[layer.name];
      if (!c) {
        expect([...got]).toEqual([...plain]);
        continue;
      }
      expect(c.coef.some((x) => x !== 0)).toBe(true);
      const av = new Int8Array(g.a.buffer, g.a.byteOffset, g.a.length);
      for (let o = 0; o < layer.oc; o++)
        for (let p = 0; p < g.P; p += 7) {
          let V = 0n;
          for (let k = 0; k < g.K; k++) V += BigInt(av[k * g.P + p]!);
          const corr = (BigInt(c.coef[o]!) * V + (1n << BigInt(c.q - 1))) >> BigInt(c.q);
          expect(got[o * g.P + p]).toBe(Number(BigInt.asIntN(32, BigInt(plain[o * g.P + p]!) + corr + BigInt(c.offset[o]!))));
        }
      // The native kernel (what engineGemm ran) equals the JS reference word for word.
      const js = plain.slice();
      applyCvJs(c, js, g, layer.oc, true);
      expect(js).toEqual(got);
    }
  });

  it('native and JS compensation agree on unsigned operands (column sums from im2col) and on extreme coefficients', async () => {
    expect((await prepareNativeKernels()).ok).toBe(true);
    const r = resolveAssignment(q, uniformAssignment('drum_k4_u8'));
    const cfg = { model: q, table: r.table, rowOffsets: r.rowOffsets };
    const next = xorshift32(5);
    for (const { layer, g } of captureOperands(cfg, test.pixels.subarray(0, 3 * 784), 3)) {
      const acc = Int32Array.from({ length: layer.oc * g.P }, () => next() | 0);
      for (const qq of [0, 1, 8, 15]) {
        const c: LayerCv = {
          q: qq,
          coef: Int32Array.from({ length: layer.oc }, (_, o) => (o === 0 ? -32768 : o === 1 ? 32767 : (next() % 65536) - 32768)),
          offset: Int32Array.from({ length: layer.oc }, () => (next() % 2001) - 1000),
        };
        const a = acc.slice();
        const b = acc.slice();
        applyCv(c, a, g, layer.oc, false);
        applyCvJs(c, b, g, layer.oc, false);
        expect(a).toEqual(b);
      }
    }
  });

  it("exploration genes: <cell>+cv compensates that unit's layers, the winner design gets the hardware, its price counts once", () => {
    const plan = planUnits(q, 'layer', 16, 16);
    const genes = plan.units.map((_, u) => (u === 0 ? 'perf_j0_k3_u8+cv' : u === 2 ? 'drum_k4_u8+cv' : 'exact_u8'));
    const a = toAssignment(plan, genes, 'exact_u8');
    expect(a.cv).toEqual([plan.layers[0]!.name, plan.layers[2]!.name]);
    expect(Object.values(a.layers)).not.toContain('perf_j0_k3_u8+cv');
    expect(a.layers[plan.layers[0]!.name]).toBe('perf_j0_k3_u8');
    // LeNet-5's widest layer has 120 filters: 8 coefficient rows of 16.
    expect(toArrayConfig(plan, genes, 'exact_u8', 'x').controlVariate).toEqual({ folds: 8 });
    expect(toArrayConfig(plan, genes.map(baseCell), 'exact_u8', 'x').controlVariate).toBeUndefined();
    const tables = { multiplier: plan.units.map(() => ({})), array: plan.units.map(() => ({})), accelerator: plan.units.map(() => ({})) } as Record<
      'multiplier' | 'array' | 'accelerator',
      Record<string, number>[]
    >;
    for (const t of Object.values(tables))
      plan.units.forEach((_, u) => {
        Object.assign(t[u]!, { exact_u8: 10, perf_j0_k3_u8: 4, 'perf_j0_k3_u8+cv': 4, 'drum_k4_u8+cv': 6 });
      });
    const om = { fixed: { multiplier: 0, array: 100, accelerator: 200 }, cv: { fixed: { multiplier: 0, array: 7, accelerator: 9 }, parts: {} as never } };
    const base = energyOf(
      tables,
      om,
      'accelerator',
      genes.map(baseCell).map((g) => (g === 'drum_k4_u8' ? 'exact_u8' : g)),
    );
    expect(energyOf(tables, om, 'accelerator', genes)).toBe(4 + 6 + 10 * (plan.units.length - 2) + 200 + 9);
    expect(base).toBe(4 + 10 * (plan.units.length - 1) + 200);
  });
});
