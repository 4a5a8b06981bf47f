import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIBERTY, modelsDir } from '../core/paths.ts';
import { xorshift32 } from '../core/rng.ts';
import type { VosReport } from '../flow/vos.ts';
import { closurePeriod, designTargets, inputToggles, observations, targetStimulus, timedNetlist, uniformPeStream } from '../flow/vos.ts';
import { hardwareVolts, injectionSpec } from '../flow/vos-inject.ts';
import { replayLayer } from '../flow/vos-replay.ts';
import { resolveDesign } from '../generators/array/index.ts';
import { placeModel } from '../mapping/place.ts';
import { captureOperands } from '../nn/capture.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import type { GemmOperands } from '../nn/gemm.ts';
import { drawLayerErrors, type InjectSpec, injectLayer } from '../nn/inject.ts';
import { DEFAULT_DATASET, loadQuantModelFor } from '../nn/load.ts';
import { runDataset } from '../nn/parallel.ts';
import type { QConvLayer, QuantModel } from '../nn/qmodel.ts';
import { runTimedSimFast } from '../synth/timed-native.ts';
import { defaultVoltageModel, voltageScale } from '../synth/voltage.ts';
import {
  type AdderSignsModel,
  adderSigns,
  adderSignsRate,
  type ErrorModel,
  type ErrorObservation,
  fitAndChoose,
  NEW_WEIGHT,
  PRIOR_OPS,
  signsPair,
} from '../synth/vos-model.ts';

const R = 16;
let model: QuantModel;
let layer: QConvLayer;
let g: GemmOperands;
let clean: Int32Array;

beforeAll(async () => {
  ({ model } = await loadQuantModelFor(join(modelsDir, 'lenet5-fmnist.onnx'), 'signed', { dataset: DEFAULT_DATASET }));
  const ds = limitDataset(loadDataset(DEFAULT_DATASET, 'test'), 64);
  const ops = captureOperands({ model }, ds.pixels, ds.count);
  const f2 = ops.find((o) => o.layer.name === '/f2/Gemm')!;
  layer = f2.layer;
  g = f2.g;
  clean = new Int32Array(0);
  const { engineGemm } = await import('../nn/engine.ts');
  clean = engineGemm({ model }, layer, g);
}, 60_000);

const spec = (m: ErrorModel, seed = 7): InjectSpec => ({
  seed,
  bits: 32,
  models: [m],
  layers: { [layer.name]: { rows: R, filterModel: Array(layer.oc).fill(0) } },
});
const opsOf = () => layer.oc * Math.ceil(layer.K / R) * R * g.P;
const inject = (s: InjectSpec, first = 0) => {
  const acc = clean.slice();
  const wrong = injectLayer(s, layer, g, acc, { signed: true }, first);
  return { acc, wrong, diff: Array.from(acc, (x, i) => x - clean[i]!).filter((d) => d !== 0) };
};
/** |observed - expected| within 5 binomial standard deviations. */
const near = (got: number, n: number, p: number) => expect(Math.abs(got - n * p)).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)) + 1);

describe('timing-error injection in the engine (nn/inject.ts)', () => {
  it('bit-flip model: wrong operations at the model rate, errors made of the modelled bits only', () => {
    const p = Array(32).fill(0);
    p[20] = 0.002;
    p[3] = 0.001;
    const { wrong, diff } = inject(spec({ kind: 'bit-flip', p }));
    near(wrong, opsOf(), 1 - (1 - 0.002) * (1 - 0.001));
    expect(diff.length).toBeGreaterThan(0);
    // Every output error is a sum of +-2^20 and +-2^3 flips.
    for (const d of diff) expect(Math.abs(d) % 8).toBe(0);
    expect(diff.some((d) => Math.abs(d) >= 2 ** 19)).toBe(true);
    // Same seed and batch: the same draw; another batch: another draw.
    expect(inject(spec({ kind: 'bit-flip', p })).acc).toEqual(inject(spec({ kind: 'bit-flip', p })).acc);
    expect(inject(spec({ kind: 'bit-flip', p }), 64).acc).not.toEqual(inject(spec({ kind: 'bit-flip', p })).acc);
  });

  it('rate-histogram model: rate and mean error of the histogram', () => {
    const m: ErrorModel = {
      kind: 'rate-histogram',
      pWrong: 0.004,
      histogram: [
        { error: -5, count: 3 },
        { error: 7, count: 1 },
      ],
    };
    const { wrong, acc } = inject(spec(m));
    near(wrong, opsOf(), 0.004);
    let sum = 0;
    for (let i = 0; i < acc.length; i++) sum += acc[i]! - clean[i]!;
    // E[e] = (3 * -5 + 7) / 4 = -2, Var[e] = (3 * 25 + 49) / 4 - 4 = 27.
    expect(Math.abs(sum - -2 * wrong)).toBeLessThan(5 * Math.sqrt(27 * wrong));
  });

  it('conditional model: per-bucket rates by thinning; the first operation of a fold uses the fallback', () => {
    const p = Array(32).fill(0);
    p[12] = 0.003;
    const zero = Array(32).fill(0);
    const same: ErrorModel = { kind: 'conditional', bucketBits: 4, buckets: Array.from({ length: 20 }, () => ({ ops: 100, p })), fallback: p };
    near(inject(spec(same)).wrong, opsOf(), 0.003);
    // Every bucket silent, the fallback not: only operations m = 0 (one per PE and K-fold) can go wrong.
    const onlyFirst: ErrorModel = {
      kind: 'conditional',
      bucketBits: 4,
      buckets: Array.from({ length: 20 }, () => ({ ops: 100, p: zero })),
      fallback: Array(32)
        .fill(0)
        .map((_, i) => (i === 12 ? 0.5 : 0)),
    };
    near(inject(spec(onlyFirst)).wrong, opsOf() / g.P, 0.5);
  });

  it('adder-signs model: wrong operations at their (sign class, previous class) rate, masks of their class', () => {
    // Class 2: psum_in >= 0, product < 0, sum >= 0. Wrong at 1 % after a class-2 operation, 5 %
    // as a fold's first operation (a new weight), never otherwise (counts large enough that the
    // shrinkage does not matter).
    const big = 1e9;
    const pairs = Array.from({ length: 72 }, () => ({ ops: big, wrong: 0 }));
    pairs[2 * 9 + 2] = { ops: big, wrong: big / 100 };
    pairs[2 * 9 + NEW_WEIGHT] = { ops: big, wrong: big / 20 };
    const classes: AdderSignsModel['classes'] = Array.from({ length: 8 }, () => ({ ops: big, wrong: 0, masks: [] }));
    classes[2] = {
      ops: big,
      wrong: big / 50,
      masks: [
        { mask: 0x80000000, count: 3 },
        { mask: 0xc0000000, count: 1 },
      ],
    };
    const m: AdderSignsModel = { kind: 'adder-signs', classes, pairs };
    const d = drawLayerErrors(spec(m), layer, g, { signed: true }, 0)!;
    // The operations' classes from their products (exact signed cell; padded rows add 0).
    const { K, P, a } = g;
    let mean = 0;
    let variance = 0;
    const canFail = new Set<string>();
    const above = new Float64Array(P);
    for (let n = 0; n < layer.oc; n++)
      for (let kf = 0; kf < Math.ceil(K / R); kf++) {
        above.fill(0);
        for (let k = kf * R; k < (kf + 1) * R; k++) {
          let prevClass = NEW_WEIGHT;
          for (let m = 0; m < P; m++) {
            const prod = k < K ? ((layer.weights[n * K + k]! << 24) >> 24) * ((a[k * P + m]! << 24) >> 24) : 0;
            const cls = ((above[m]! < 0 ? 1 : 0) << 2) | ((prod < 0 ? 1 : 0) << 1) | (above[m]! + prod < 0 ? 1 : 0);
            const p = cls !== 2 ? 0 : prevClass === NEW_WEIGHT ? 0.05 : prevClass === 2 ? 0.01 : 0;
            mean += p;
            variance += p * (1 - p);
            if (p > 0) canFail.add(`${n},${kf},${m}`);
            above[m]! += prod;
            prevClass = cls;
          }
        }
      }
    expect(Math.abs(d.e.length - mean)).toBeLessThan(5 * Math.sqrt(variance) + 1);
    expect(d.e.length).toBeGreaterThan(100);
    for (let i = 0; i < d.e.length; i++) expect(canFail.has(`${d.n[i]},${d.kFold[i]},${d.m[i]}`)).toBe(true);
    // The new-weight context: fold-first operations (m = 0) go wrong at 5 %.
    expect(d.m.filter((x) => x === 0).length).toBeGreaterThan(0);
    // A class-2 word is >= 0: mask 0x80000000 adds -2^31 (wrapped), 0xc0000000 adds -2^30, 3 : 1.
    expect(d.e.every((e) => e === -(2 ** 31) || e === -(2 ** 30))).toBe(true);
    const quarter = d.e.filter((e) => e === -(2 ** 30)).length;
    expect(Math.abs(quarter - d.e.length / 4)).toBeLessThan(5 * Math.sqrt((d.e.length * 3) / 16));
  });

  it('adder-signs fit: rate per class and per (class, previous class) shrunk towards the wider one, masks per class; held-out likelihood picks it when errors follow the signs', () => {
    expect(adderSigns(5, 3, 16)).toBe(0b010);
    expect(adderSigns(0xfff0, 0xfff5, 16)).toBe(0b101);
    expect(adderSigns(-16, -11, 16)).toBe(0b101);
    const next = xorshift32(5);
    const obs: ErrorObservation[] = [];
    let prev = 0;
    for (let i = 0; i < 40_000; i++) {
      const psumIn = (next() % 2001) - 1000;
      const prod = (next() % 201) - 100;
      const own = adderSigns(psumIn, psumIn + prod, 16);
      // Class 2 goes wrong 2 % of the time, 10 % right after another class-2 operation.
      const wrong = own === 2 && next() % 1000 < (prev === 2 ? 100 : 20);
      const correct = (psumIn + prod) & 0xffff;
      obs.push({ correct, captured: wrong ? correct ^ 0xc000 : correct, toggles: next() % 9, signs: signsPair(own, prev) });
      prev = own;
    }
    const f = fitAndChoose(obs, 16);
    expect(f.best).toBe('adder-signs');
    const m = f.models['adder-signs']!;
    const c2 = m.classes[2]!;
    expect(c2.masks).toEqual([{ mask: 0xc000, count: c2.wrong }]);
    expect(m.classes.reduce((s, c) => s + c.ops, 0)).toBe(obs.length);
    expect(m.pairs.reduce((s, c) => s + c.ops, 0)).toBe(obs.length);
    expect(m.classes.filter((_, i) => i !== 2).every((c) => c.wrong === 0)).toBe(true);
    const after2 = m.pairs[2 * 9 + 2]!;
    expect(after2.ops).toBeGreaterThan(10 * PRIOR_OPS);
    near(after2.wrong, after2.ops, 0.1);
    // A well-seen pair: near its own frequency, pulled a little towards its class's rate.
    const own = after2.wrong / after2.ops;
    const cls = adderSignsRate(m, signsPair(2, NEW_WEIGHT));
    const rate = adderSignsRate(m, signsPair(2, 2));
    expect(rate).toBeLessThan(own);
    expect(rate).toBeGreaterThan(own - 0.15 * (own - cls));
    // A pair never seen (no operation has a new weight): its class's rate, itself
    // pulled a little towards the overall one.
    expect(m.pairs[2 * 9 + NEW_WEIGHT]!.ops).toBe(0);
    const all = m.classes.reduce((s, c) => s + c.wrong, 0) / obs.length;
    expect(cls).toBeCloseTo((c2.wrong + PRIOR_OPS * all) / (c2.ops + PRIOR_OPS), 12);
    expect(cls).toBeGreaterThan(all);
    expect(cls).toBeLessThan(c2.wrong / c2.ops);
    expect(adderSignsRate(m, signsPair(0, 0))).toBeLessThan(all / 10);
  });

  it('results do not depend on the worker count; no model, no change', async () => {
    const ds = limitDataset(loadDataset(DEFAULT_DATASET, 'test'), 300);
    const p = Array(32).fill(0);
    p[30] = 2e-4;
    const all = Object.fromEntries(
      placeModel(model, resolveDesign({ rows: R, cols: R, cell: 'exact_s8' })).layers.map((l) => [
        l.layer,
        { rows: R, filterModel: l.filterCells.map(() => 0) },
      ]),
    );
    const cfg = { model, inject: { seed: 3, bits: 32, models: [{ kind: 'bit-flip', p } as ErrorModel], layers: all } };
    const one = await runDataset(cfg, ds, { workers: 1, batch: 100 });
    const two = await runDataset(cfg, ds, { workers: 2, batch: 100 });
    expect([...two.pred]).toEqual([...one.pred]);
    const plain = await runDataset({ model }, ds, { workers: 1, batch: 100 });
    const none = await runDataset({ model, inject: { ...cfg.inject, layers: {} } }, ds, { workers: 1, batch: 100 });
    expect([...none.pred]).toEqual([...plain.pred]);
    expect([...one.pred]).not.toEqual([...plain.pred]);
  });
});

describe('replay through the timed simulator (flow/vos-replay.ts)', () => {
  it('at nominal voltage the replayed layer equals the engine; far below it, words go wrong', async () => {
    const design = resolveDesign({ rows: 4, cols: 4, cell: 'exact_s8' });
    const target = designTargets(design)[0]!;
    const pe = await timedNetlist(target, LIBERTY.osu018);
    const periodNs = closurePeriod(pe.staticNs, 0);
    const f3 = captureOperands({ model }, limitDataset(loadDataset(DEFAULT_DATASET, 'test'), 3).pixels, 3).find((o) => o.layer.name === '/f3/Gemm')!;
    const { engineGemm } = await import('../nn/engine.ts');
    const want = engineGemm({ model }, f3.layer, f3.g);
    const o = { target, netlist: pe, periodNs, rows: 4, bits: design.psumBits };
    const atNominal = want.slice();
    const r1 = await replayLayer({ ...o, delayScale: 1 }, f3.layer, f3.g, atNominal, { signed: true });
    expect(r1.ops).toBe(f3.layer.oc * 84 * 3);
    expect(r1.wrong).toBe(0);
    expect([...atNominal]).toEqual([...want]);
    const vm = defaultVoltageModel(1.8);
    const low = want.slice();
    const r2 = await replayLayer({ ...o, delayScale: voltageScale(1.2, vm).delay }, f3.layer, f3.g, low, { signed: true });
    expect(r2.wrong).toBeGreaterThan(0);
    expect([...low]).not.toEqual([...want]);
  }, 120_000);

  it("a PE's observations carry the adder signs of each operation and of the one before", async () => {
    const design = resolveDesign({ rows: 4, cols: 4, cell: 'exact_s8' });
    const target = designTargets(design)[0]!;
    const pe = await timedNetlist(target, LIBERTY.osu018);
    const periodNs = closurePeriod(pe.staticNs, 0);
    const s = uniformPeStream(3000, 32, 9);
    const stim = targetStimulus(target, pe, s);
    const golden = await runTimedSimFast(pe.tm, stim, { periodNs, delayScale: 0 });
    const timed = await runTimedSimFast(pe.tm, stim, { periodNs, delayScale: voltageScale(1.3, defaultVoltageModel(1.8)).delay });
    const obs = observations(target, timed, golden, stim, inputToggles(stim));
    // Operation u (inputs at vector u) is observation u - 1; its product uses the weight held
    // since the last write, so skip the operation at a weight write (it still uses the old one).
    const s8 = (x: number) => (x << 24) >> 24;
    const cls = (u: number) => {
      const pin = s.psumIn[u]! | 0;
      const prod = s8(s.a[u]!) * s8(s.b[u]!);
      return ((pin < 0 ? 1 : 0) << 2) | ((prod < 0 ? 1 : 0) << 1) | (((pin + prod) | 0) < 0 ? 1 : 0);
    };
    let checked = 0;
    let newWeight = 0;
    for (let u = 3; u < obs.length; u++) {
      if (s.b[u] !== s.b[u - 1]) continue;
      // The weight written at u - 1 multiplies from u: the new-weight context.
      const prev = s.b[u - 1] !== s.b[u - 2] ? NEW_WEIGHT : cls(u - 1);
      if (prev === NEW_WEIGHT) newWeight++;
      expect(obs[u - 1]!.signs).toBe(signsPair(cls(u), prev));
      checked++;
    }
    expect(newWeight).toBeGreaterThan(5);
    expect(checked).toBeGreaterThan(2900);
    // Uniform 32-bit psum_in words: the four classes without a sign change of the sum.
    expect(new Set(obs.map((o) => o.signs! >> 4)).size).toBe(4);
    expect(fitAndChoose(obs, 32).models['adder-signs']).toBeDefined();
  }, 60_000);

  it("injectionSpec: the layer's own fit for the streams' model, else the mixed one; refuses unknown layers and uncharacterized voltages", () => {
    const design = resolveDesign({ rows: R, cols: R, cell: 'exact_s8' });
    const placement = placeModel(model, design);
    const report = {
      subject: 'd',
      nominalVolts: 1.8,
      targets: [
        {
          kind: 'pe',
          cell: 'exact_s8',
          levels: [{ volts: 1.5, fit: { best: 'bit-flip', models: { 'bit-flip': { kind: 'bit-flip', p: Array(32).fill(0) } } } }],
        },
      ],
    } as unknown as VosReport;
    expect(injectionSpec(report, design, placement, { '/f1/Gemm': 1.5, '/c1/Conv': 1.8 }).layers['/c1/Conv']!.filterModel.every((i) => i === -1)).toBe(true);
    expect(() => injectionSpec(report, design, placement, { '/nope': 1.5 })).toThrow(/not a conv\/dense layer/);
    expect(() => injectionSpec(report, design, placement, { '/f1/Gemm': 1.4 })).toThrow(/not characterized at 1.4 V/);
  });

  it('hardwareVolts: filter n draws at the level of column n mod C, as the domains and level registers set it', () => {
    const design = resolveDesign({
      rows: R,
      cols: R,
      cell: 'exact_s8',
      domains: {
        levels: [
          { name: 'nom', volts: 1.8 },
          { name: 'low', volts: 1.5 },
        ],
        domains: [
          { name: 'a', columns: [0, 2] },
          { name: 'b', columns: Array.from({ length: R - 3 }, (_, i) => i + 3).concat([1]) },
        ],
      },
    });
    const placement = placeModel(model, design);
    const v = hardwareVolts(design, placement, [1, 0]);
    expect(v['/f3/Gemm']).toEqual(Array.from({ length: 10 }, (_, n) => (n % R === 0 || n % R === 2 ? 1.5 : 1.8)));
    expect(Object.keys(v)).toEqual(placement.layers.map((p) => p.layer));
    expect(
      Object.values(hardwareVolts(design, placement, [0, 0]))
        .flat()
        .every((x) => x === 1.8),
    ).toBe(true);
  });
});
