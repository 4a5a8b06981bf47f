import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.ts';
import { parseAssignment, resolveAssignment, uniformAssignment } from '../nn/assign.ts';
import { type Dataset, limitDataset, loadDataset, loadIdxDir, parseIdx } from '../nn/dataset.ts';
import { runQuantBatch } from '../nn/engine.ts';
import { multiplyByQuantizedMultiplier, quantizeMultiplier, roundingDivideByPOT, saturatingRoundingDoublingHighMul } from '../nn/fixedpoint.ts';
import { pixelsToFloat, runFloat } from '../nn/float.ts';
import { graphFromModel, importOnnx, onnx } from '../nn/onnx.ts';
import { runDataset } from '../nn/parallel.ts';
import { loadQuantModel, saveQuantModel } from '../nn/qio.ts';
import { quantizeGraph } from '../nn/quantize.ts';

const repo = join(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'axtpu-nn-test-'));

// ---------- gemmlowp reference in BigInt ----------
function srdhmRef(a: number, b: number): number {
  if (a === -2147483648 && b === -2147483648) return 2147483647;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return Number((ab + nudge) / (1n << 31n)); // BigInt division truncates toward zero, like C++
}
function rdbpotRef(x: number, e: number): number {
  const mask = (1 << e) - 1;
  const rem = x & mask;
  const th = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > th ? 1 : 0);
}

describe('fixed-point requantization (gemmlowp convention)', () => {
  it('SaturatingRoundingDoublingHighMul matches a 64-bit reference', () => {
    let s = 12345;
    const rnd = () => {
      s = (Math.imul(s, 1103515245) + 12345) | 0;
      return s;
    };
    const specials = [0, 1, -1, 2147483647, -2147483648, 1 << 30, -(1 << 30), 4194303, -4194304, 4194304];
    for (const a of specials) for (const b of specials) expect(saturatingRoundingDoublingHighMul(a, b)).toBe(srdhmRef(a, b));
    for (let i = 0; i < 20000; i++) {
      const a = i % 2 ? rnd() : rnd() >> 10;
      const b = rnd();
      expect(saturatingRoundingDoublingHighMul(a, b)).toBe(srdhmRef(a, b));
    }
  });
  it('RoundingDivideByPOT rounds half away from zero; multipliers reproduce reals', () => {
    expect(roundingDivideByPOT(5, 1)).toBe(3);
    expect(roundingDivideByPOT(-5, 1)).toBe(-3);
    expect(roundingDivideByPOT(-4, 1)).toBe(-2);
    for (let x = -300; x <= 300; x += 7) for (const e of [1, 3, 8]) expect(roundingDivideByPOT(x, e)).toBe(rdbpotRef(x, e));
    for (const real of [0.5, 0.0037, 1e-5, 0.999999, 1.7, 3.25]) {
      const q = quantizeMultiplier(real);
      expect(q.multiplier).toBeGreaterThanOrEqual(2 ** 30);
      expect(q.multiplier).toBeLessThan(2 ** 31);
      expect(Math.abs((q.multiplier * 2 ** (q.shift - 31)) / real - 1)).toBeLessThan(1e-9);
      for (const x of [0, 1000, -1000, 123456, -7654321])
        expect(Math.abs(multiplyByQuantizedMultiplier(x, q.multiplier, q.shift) - x * real)).toBeLessThanOrEqual(0.5 + 1e-6 * Math.abs(x * real) + 1);
    }
  });
});

describe('IDX datasets', () => {
  it('reads gzip IDX and rejects corrupt or missing data with one line', () => {
    const hdr = Buffer.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]);
    const img = Buffer.concat([hdr, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])]);
    const { dims, data } = parseIdx(new Uint8Array(gzipSync(img)), 'x');
    expect(dims).toEqual([2, 2, 2]);
    expect([...data]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(() => parseIdx(new Uint8Array([0x1f, 0x8b, 1, 2, 3]), 'bad.gz')).toThrow(UserError);
    expect(() => parseIdx(new Uint8Array(img.subarray(0, 18)), 'short')).toThrow(/size mismatch/);
    expect(() => loadIdxDir(join(tmp, 'nope'), 'test')).toThrow(/not found/);
  });
});

// ---------- tiny ONNX models built with onnx-proto ----------
type Init = { name: string; dims: number[]; data: number[]; int64?: boolean };
function tensor(t: Init) {
  const T = onnx.TensorProto;
  return t.int64
    ? T.create({ name: t.name, dims: t.dims, dataType: T.DataType.INT64, int64Data: t.data })
    : T.create({ name: t.name, dims: t.dims, dataType: T.DataType.FLOAT, floatData: t.data });
}
function vinfo(name: string, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
}
function attr(name: string, v: number | number[] | string) {
  const A = onnx.AttributeProto;
  if (Array.isArray(v)) return A.create({ name, ints: v, type: A.AttributeType.INTS });
  if (typeof v === 'string') return A.create({ name, s: new TextEncoder().encode(v), type: A.AttributeType.STRING });
  return Number.isInteger(v) ? A.create({ name, i: v, type: A.AttributeType.INT }) : A.create({ name, f: v, type: A.AttributeType.FLOAT });
}
function node(op: string, name: string, inputs: string[], outputs: string[], attrs: Record<string, number | number[] | string> = {}) {
  return onnx.NodeProto.create({ opType: op, name, input: inputs, output: outputs, attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)) });
}
function seq(n: number, seed: number, scale = 0.5): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 16807) % 2147483647;
    return ((s / 2147483647) * 2 - 1) * scale;
  });
}
/** 1x6x6 input: Conv+BN+Relu, Conv, residual Add+Relu, MaxPool, AveragePool, GAP, Reshape, MatMul+Add, Relu, Gemm. */
function tinyModel(extra?: { op: string }): Uint8Array {
  const inits: Init[] = [
    { name: 'w1', dims: [2, 1, 3, 3], data: seq(18, 3) },
    { name: 'b1', dims: [2], data: [0.1, -0.05] },
    { name: 'g', dims: [2], data: [1.2, 0.8] },
    { name: 'be', dims: [2], data: [0.05, 0.1] },
    { name: 'mu', dims: [2], data: [0.02, -0.03] },
    { name: 'var', dims: [2], data: [0.5, 1.5] },
    { name: 'w2', dims: [2, 2, 3, 3], data: seq(36, 5) },
    { name: 'shape', dims: [2], data: [-1, 2], int64: true },
    { name: 'wm', dims: [2, 4], data: seq(8, 7, 1) },
    { name: 'bm', dims: [4], data: [0.1, 0.2, -0.1, 0] },
    { name: 'wg', dims: [3, 4], data: seq(12, 11, 1) },
    { name: 'bg', dims: [3], data: [0.01, -0.02, 0.03] },
  ];
  const nodes = [
    node('Conv', 'c1', ['x', 'w1', 'b1'], ['t0'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
    node('BatchNormalization', 'bn1', ['t0', 'g', 'be', 'mu', 'var'], ['t1'], { epsilon: 1e-5 }),
    node('Relu', 'r1', ['t1'], ['t2']),
    node('Conv', 'c2', ['t2', 'w2'], ['t3'], { pads: [1, 1, 1, 1] }),
    node('Add', 'res', ['t2', 't3'], ['t4']),
    node('Relu', 'r2', ['t4'], ['t5']),
    node('MaxPool', 'mp', ['t5'], ['t6'], { kernel_shape: [2, 2], strides: [2, 2] }),
    node('AveragePool', 'ap', ['t6'], ['t7'], { kernel_shape: [2, 2], strides: [1, 1] }),
    node('GlobalAveragePool', 'gap', ['t7'], ['t8']),
    node('Reshape', 'rs', ['t8', 'shape'], ['t9']),
    node('MatMul', 'mm', ['t9', 'wm'], ['t10']),
    node('Add', 'mmb', ['t10', 'bm'], ['t11']),
    node('Relu', 'r3', ['t11'], ['t12']),
    node('Gemm', 'fc', ['t12', 'wg', 'bg'], [extra ? 't13' : 'y'], { transB: 1 }),
  ];
  if (extra) nodes.push(node(extra.op, 'weird_node', ['t13'], ['y']));
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'tiny', node: nodes, initializer: inits.map(tensor), input: [vinfo('x', ['N', 1, 6, 6])], output: [vinfo('y', ['N', 3])] },
  });
  return onnx.ModelProto.encode(model).finish();
}

function randomImages(n: number, seed: number): Dataset {
  const px = Uint8Array.from(seq(n * 36, seed, 1), (v) => Math.round((v + 1) * 127.5));
  return { name: 'random', count: n, channels: 1, height: 6, width: 6, pixels: px, labels: new Uint8Array(n) };
}

describe('ONNX import', () => {
  const bytes = tinyModel();
  const path = join(tmp, 'tiny.onnx');
  beforeAll(() => writeFileSync(path, bytes));

  it('float path equals onnxruntime on every supported op (BN folded, ReLU fused)', async () => {
    const g = importOnnx(path);
    expect(g.layers.map((l) => l.op)).toEqual(['conv', 'conv', 'add', 'maxpool', 'avgpool', 'avgpool', 'reshape', 'conv', 'conv']);
    const n = 16;
    const x = Float32Array.from(seq(n * 36, 99, 1));
    const ours = runFloat(g, x, n);
    const s = await ort.InferenceSession.create(bytes);
    const res = await s.run({ x: new ort.Tensor('float32', x, [n, 1, 6, 6]) });
    const ref = res.y!.data as Float32Array;
    expect(ours.length).toBe(ref.length);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(ours[i]! - ref[i]!)).toBeLessThan(1e-5);
  });

  it('unsupported op and corrupt files are one-line UserErrors', () => {
    const bad = onnx.ModelProto.decode(tinyModel({ op: 'Sigmoid' }));
    expect(() => graphFromModel(bad, 'm', 'm.onnx')).toThrow(/unsupported op Sigmoid \(node weird_node\)/);
    const corrupt = join(tmp, 'corrupt.onnx');
    writeFileSync(corrupt, Buffer.from('this is not a protobuf at all \xff\xff\xff\xff'));
    expect(() => importOnnx(corrupt)).toThrow(UserError);
  });

  it('quantized engine: exact cells reproduce plain integer arithmetic bit for bit (both schemes)', async () => {
    const g = importOnnx(path);
    const calib = randomImages(64, 1);
    const test = randomImages(40, 2);
    for (const [scheme, cell] of [
      ['signed', 'exact_s8'],
      ['unsigned', 'exact_u8'],
    ] as const) {
      const q = quantizeGraph(g, calib, { method: 'max', scheme });
      const r = resolveAssignment(q, uniformAssignment(cell));
      const lut = runQuantBatch({ model: q, table: r.table, rowOffsets: r.rowOffsets }, test.pixels, test.count);
      const exact = runQuantBatch({ model: q }, test.pixels, test.count);
      expect([...lut.scores]).toEqual([...exact.scores]);
      // Quantized scores track the float ones.
      const f = runFloat(g, pixelsToFloat(test.pixels), test.count);
      let err = 0;
      let mag = 0;
      for (let i = 0; i < f.length; i++) {
        err += Math.abs(f[i]! - lut.scores[i]!);
        mag += Math.abs(f[i]!);
      }
      expect(err / mag).toBeLessThan(0.1);
      // Save / load round trip gives the same integers and the same results.
      const dir = join(tmp, `q-${scheme}`);
      await saveQuantModel(dir, q);
      const q2 = loadQuantModel(dir);
      const r2 = resolveAssignment(q2, uniformAssignment(cell));
      expect([...runQuantBatch({ model: q2, table: r2.table, rowOffsets: r2.rowOffsets }, test.pixels, test.count).scores]).toEqual([...lut.scores]);
    }
  });

  it('percentile calibration clips ranges below max calibration', () => {
    const g = importOnnx(path);
    const calib = randomImages(64, 1);
    const qmax = quantizeGraph(g, calib, { method: 'max', scheme: 'unsigned' });
    const qp = quantizeGraph(g, calib, { method: 'percentile', percentile: 99, scheme: 'unsigned' });
    const names = Object.keys(qmax.tensors);
    for (const t of names) expect(qp.tensors[t]!.scale).toBeLessThanOrEqual(qmax.tensors[t]!.scale * (1 + 1e-12));
    expect(names.some((t) => qp.tensors[t]!.scale < qmax.tensors[t]!.scale * 0.999)).toBe(true);
    expect(qp.calibration).toMatchObject({ method: 'percentile', percentile: 99 });
  });

  it('assignment granularity: filter/kernel forms equal the layer form; mixing changes results', () => {
    const g = importOnnx(path);
    const q = quantizeGraph(g, randomImages(64, 1), { method: 'max', scheme: 'unsigned' });
    const test = randomImages(40, 3);
    const run = (a: unknown) => {
      const r = resolveAssignment(q, parseAssignment(a, 'test'));
      return [...runQuantBatch({ model: q, table: r.table, rowOffsets: r.rowOffsets }, test.pixels, test.count).scores];
    };
    const layer = run({ default: 'exact_u8', layers: { c2: 'mitchell_u8' } });
    expect(run({ default: 'exact_u8', layers: { c2: { filters: ['mitchell_u8', 'mitchell_u8'] } } })).toEqual(layer);
    expect(
      run({
        default: 'exact_u8',
        layers: {
          c2: {
            kernels: [
              ['mitchell_u8', 'mitchell_u8'],
              ['mitchell_u8', 'mitchell_u8'],
            ],
          },
        },
      }),
    ).toEqual(layer);
    const mixed = run({
      default: 'exact_u8',
      layers: {
        c2: {
          kernels: [
            ['mitchell_u8', 'exact_u8'],
            ['exact_u8', 'exact_u8'],
          ],
        },
      },
    });
    expect(mixed).not.toEqual(layer);
    expect(mixed).not.toEqual(run({ default: 'exact_u8' }));
    expect(() => run({ default: 'exact_u8', layers: { nope: 'exact_u8' } })).toThrow(/layer 'nope'/);
    expect(() => run({ default: 'exact_u8', layers: { c2: { filters: ['exact_u8'] } } })).toThrow(/2 output channels/);
    expect(() => run({ default: 'no_such_cell_u8' })).toThrow(UserError);
    expect(() => run({ default: 'exact_s8' })).toThrow(/unsigned scheme/);
  });

  it('worker threads give the same predictions and operand statistics as one thread', async () => {
    const g = importOnnx(path);
    const q = quantizeGraph(g, randomImages(64, 1), { method: 'max', scheme: 'unsigned' });
    const r = resolveAssignment(q, uniformAssignment('drum_k4_u8'));
    const ds = randomImages(300, 4);
    const cfg = { model: q, table: r.table, rowOffsets: r.rowOffsets };
    const one = await runDataset(cfg, ds, { workers: 1, batch: 50, stats: true });
    const two = await runDataset(cfg, ds, { workers: 2, batch: 50, stats: true });
    expect(two.workers).toBe(2);
    expect([...two.pred]).toEqual([...one.pred]);
    expect(two.stats!.map((s) => s.aHist)).toEqual(one.stats!.map((s) => s.aHist));
    expect(two.stats!.map((s) => s.macs)).toEqual(one.stats!.map((s) => s.macs));
  });
});

describe('axtpu eval / quantize CLI', () => {
  const cli = (args: string[]) => execa('node', [join(repo, 'bin/axtpu.js'), ...args], { reject: false, cwd: repo });
  it('bad inputs: one line, exit 2', async () => {
    const tiny = join(tmp, 'cli-tiny.onnx');
    writeFileSync(tiny, tinyModel());
    const unsupported = join(tmp, 'cli-unsupported.onnx');
    writeFileSync(unsupported, tinyModel({ op: 'Sigmoid' }));
    const corrupt = join(tmp, 'cli-corrupt.onnx');
    writeFileSync(corrupt, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]));
    const badLayer = join(tmp, 'assign-layer.json');
    writeFileSync(badLayer, JSON.stringify({ default: 'exact_s8', layers: { '/nope/Conv': 'exact_s8' } }));
    const badCell = join(tmp, 'assign-cell.json');
    writeFileSync(badCell, JSON.stringify({ default: 'exact_s8', layers: { '/c1/Conv': 'warp_drive_s8' } }));
    const lenet = join(repo, 'models/lenet5-fmnist.onnx');
    const cases: [string[], RegExp][] = [
      [['eval', '--model', corrupt, '--limit', '5'], /not a valid ONNX file/],
      [['eval', '--model', unsupported, '--limit', '5'], /unsupported op Sigmoid \(node weird_node\)/],
      [['eval', '--model', tiny, '--limit', '5'], /shape mismatch/],
      [['eval', '--model', lenet, '--assign', badLayer, '--limit', '5'], /layer '\/nope\/Conv'/],
      [['eval', '--model', lenet, '--assign', badCell, '--limit', '5'], /warp_drive_s8/],
      [['eval', '--model', lenet, '--dataset', join(tmp, 'no-such-dir'), '--limit', '5'], /dataset directory not found/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    results.forEach((r, i) => {
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
  });

  it('quantize writes model.json + model.bin that eval reads', async () => {
    const out = join(tmp, 'lenet-q');
    const q = await cli([
      '--json',
      'quantize',
      '--model',
      join(repo, 'models/lenet5-fmnist.onnx'),
      '--out',
      out,
      '--scheme',
      'unsigned',
      '--calib-images',
      '64',
    ]);
    expect(q.exitCode, q.stderr).toBe(0);
    expect(JSON.parse(q.stdout).layers).toHaveLength(5);
    const meta = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect(meta.scheme).toBe('unsigned');
    const streams = join(tmp, 'streams');
    const e = await cli(['--json', 'eval', '--model', out, '--cell', 'drum_k6_u8', '--limit', '200', '--streams', streams, '--workers', '1']);
    expect(e.exitCode, e.stderr).toBe(0);
    const rep = JSON.parse(e.stdout);
    expect(rep.images).toBe(200);
    expect(rep.accuracy).toBeGreaterThan(0.75);
    expect(rep.layers[0].macsPerImage).toBe(117600);
    // Rows are labels: each row holds exactly that label's images (a transposed matrix would not).
    const labels = limitDataset(loadDataset('fmnist', 'test'), 200).labels;
    expect(rep.confusion.map((row: number[]) => row.reduce((x, y) => x + y, 0))).toEqual(
      rep.confusion.map((_: number[], c: number) => labels.filter((l) => l === c).length),
    );
    const ab = readFileSync(rep.layers[1].stream);
    expect(ab.length % 2).toBe(0);
    expect(ab.length).toBeGreaterThan(1000);
  });
});
