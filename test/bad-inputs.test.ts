/**
 * The bad-input corpus (issue 13): realistic mistakes across every command. Each case must exit 2
 * with exactly one line on stderr, no stack trace, and leave every folder around it exactly as it
 * was (names, sizes, mtimes, content hashes), with no scratch folder left in $TMPDIR. The first
 * group are data-loss and hang regressions: they fail on the code before this suite existed.
 * The CLI runs as a subprocess; only one case (signedness) builds a Verilator model.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelsDir } from '../core/paths.ts';
import { getCell, lutBytes } from '../generators/multipliers/index.ts';
import { onnx } from '../nn/onnx.ts';
import { runCli } from './helpers/cli.ts';
import { evoStyleFromBuiltin } from './helpers/evo.ts';
import { snapshotTree } from './helpers/snapshot.ts';

interface Case {
  name: string;
  args: string[];
  /** Extra environment (paths may use {root}, {work}). */
  env?: Record<string, string>;
  /** The one stderr line must match. */
  msg: RegExp;
}

/** The template sandbox; every case runs in its own copy of it (exact attribution when run concurrently). */
const template = mkdtempSync(join(tmpdir(), 'axtpu-bad-'));
const root = template;
const work = join(root, 'work');
/** Caches a failing tool run may create: outside the snapshotted tree. */
const outsideCache = mkdtempSync(join(tmpdir(), 'axtpu-bad-cache-'));
const lenet = join(modelsDir, 'lenet5-fmnist.onnx');
const w = (rel: string) => join(work, rel);
/** `run` of LeNet-5 on a 4x4 exact_s8 array generated on the fly, with more flags. */
const run4x4 = (...rest: string[]) => ['run', '--model', lenet, '--rows', '4', '--cols', '4', '--cell', 'exact_s8', ...rest];
/** `run` on a 4x4 exact_s8 array whose one voltage domain 'all' has levels nom (1.8 V) and low. */
const domainRun = (lowVolts: number, ...rest: string[]) =>
  run4x4(
    '--domains',
    JSON.stringify({
      levels: [
        { name: 'nom', volts: 1.8 },
        { name: 'low', volts: lowVolts },
      ],
      domains: [{ name: 'all', columns: [0, 1, 2, 3] }],
    }),
    ...rest,
  );
/** LeNet-5 conv2 (16 filters x 6 input channels) with two cells inside every filter: kernel level. */
const KERNEL_MAP = JSON.stringify({
  default: 'exact_s8',
  layers: { '/c2/Conv': { kernels: Array.from({ length: 16 }, () => ['exact_s8', 'exact_s8', 'exact_s8', 'roup_p2_r6_s8', 'exact_s8', 'exact_s8']) } },
});

function idx(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt8(0x08, 2);
  head.writeUInt8(dims.length, 3);
  for (const [i, d] of dims.entries()) head.writeUInt32BE(d, 4 + 4 * i);
  return Buffer.concat([head, Buffer.from(data)]);
}

/** A copy of the shipped LeNet-5 with one thing broken. */
function craftOnnx(path: string, edit: (m: InstanceType<typeof onnx.ModelProto>) => void): void {
  const m = onnx.ModelProto.decode(readModel());
  edit(m);
  writeFileSync(path, onnx.ModelProto.encode(m).finish());
}
let modelBytes: Buffer | undefined;
function readModel(): Buffer {
  modelBytes ??= readFileSync(lenet);
  return modelBytes;
}

function setup(): void {
  mkdirSync(join(work, 'user', 'sub'), { recursive: true });
  writeFileSync(w('notes.txt'), 'my notes\n');
  writeFileSync(w('user/a.txt'), 'precious\n');
  writeFileSync(w('user/sub/b.txt'), 'also precious\n');
  writeFileSync(w('user/model.json'), '{"mine":true}\n');
  writeFileSync(w('file.txt'), 'a file\n');
  symlinkSync('user', w('userlink'));
  symlinkSync('nosuch-target', w('dangling.ab'));
  mkdirSync(w('cfgdir'));
  mkdirSync(w('noverilog'));
  writeFileSync(w('noverilog/readme.txt'), 'no verilog here\n');
  mkdirSync(w('baddesign'));
  writeFileSync(w('baddesign/top.v'), 'module top(input a, output y);\n  assign y = a &;\nendmodule\n');
  mkdirSync(w('gooddesign'));
  writeFileSync(w('gooddesign/cell.v'), getCell('exact_u4').verilog());
  writeFileSync(
    w('loop.v'),
    'module loopy(input [7:0] A, input [7:0] B, output [15:0] O);\n  wire [15:0] x;\n  assign x = {x[14:0], x[15]} ^ {A, B};\n  assign O = x;\nendmodule\n',
  );
  writeFileSync(w('clocked.v'), 'module clk8(input [7:0] A, input [7:0] B, output reg [15:0] O);\n  always @(posedge A[0]) O <= A * B;\nendmodule\n');
  writeFileSync(w('mul8_dup.v'), evoStyleFromBuiltin('trunc_a1_b1_u8', 'mul8_dup'));
  writeFileSync(w('mul8s_exact.v'), evoStyleFromBuiltin('exact_s8', 'mul8s_exact'));
  writeFileSync(w('narrow.v'), 'module narrow(input [3:0] A, input [7:0] B, output [15:0] O);\n  assign O = A * B;\nendmodule\n');
  writeFileSync(w('bad.lib'), 'garbage here {{{\n');
  const mem = JSON.parse(readFileSync(join(modelsDir, 'memory-model.json'), 'utf8'));
  mem.sram.anchors[1].readPj = -20;
  writeFileSync(w('memmodel-neg.json'), `${JSON.stringify(mem)}\n`);
  writeFileSync(w('memmodel-garbage.json'), '{"format": "axtpu-memory-model-1", \n');
  writeFileSync(w('odd.ab'), Buffer.from([1, 2, 3]));
  writeFileSync(w('ok.ab'), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
  writeFileSync(w('lut.bin'), lutBytes(getCell('exact_u8')));
  writeFileSync(w('garbage.onnx'), 'not a model at all');
  // Timing-error models: one valid report characterized at 1.6 V only, one without targets.
  const zero = Array(32).fill(0);
  const fit = {
    best: 'bit-flip',
    models: {
      'bit-flip': { kind: 'bit-flip', p: zero },
      'rate-histogram': { kind: 'rate-histogram', pWrong: 0, histogram: [] },
      conditional: { kind: 'conditional', bucketBits: 4, buckets: [], fallback: zero },
    },
  };
  const vos = {
    schema: 'axtpu-vos-models/1',
    subject: 's',
    nominalVolts: 1.8,
    stream: {},
    targets: [{ kind: 'pe', cell: 'exact_s8', levels: [{ volts: 1.6, fit }] }],
  };
  writeFileSync(w('vos-1p6.json'), JSON.stringify(vos));
  writeFileSync(w('vos-empty.json'), JSON.stringify({ ...vos, targets: [] }));
  craftOnnx(w('big.onnx'), (m) => {
    m.graph!.initializer![0]!.dims = [100_000_000_000];
    m.graph!.initializer![0]!.rawData = new Uint8Array(0);
  });
  craftOnnx(w('neg.onnx'), (m) => {
    m.graph!.initializer![1]!.dims = [-6];
  });
  craftOnnx(w('pool0.onnx'), (m) => {
    const pool = m.graph!.node!.find((n) => n.opType === 'MaxPool')!;
    pool.attribute!.find((a) => a.name === 'kernel_shape')!.ints = [0, 0];
  });
  craftOnnx(w('convstride0.onnx'), (m) => {
    const conv = m.graph!.node!.find((n) => n.opType === 'Conv')!;
    conv.attribute!.find((a) => a.name === 'strides')!.ints = [0, 0];
  });
  // IDX data set whose labels run past the model's 10 classes.
  mkdirSync(w('idx'));
  for (const split of ['train', 't10k']) {
    const n = 50;
    writeFileSync(w(`idx/${split}-images-idx3-ubyte`), idx([n, 28, 28], new Uint8Array(n * 784).fill(7)));
    writeFileSync(
      w(`idx/${split}-labels-idx1-ubyte`),
      idx(
        [n],
        Uint8Array.from({ length: n }, (_, i) => (i < 48 ? i % 10 : 200)),
      ),
    );
  }
  // Sweep files: one valid, the rest each broken in one way.
  const sweep = (name: string, data: unknown) => writeFileSync(w(name), typeof data === 'string' ? data : JSON.stringify(data));
  sweep('sweep-ok.json', { jobs: [{ kind: 'eval', model: lenet, cell: 'exact_u8', limit: 10 }] });
  sweep('sweep-badkey.json', { jobs: [{ kind: 'eval', model: lenet, cell: 'exact_u8', bogus: 1 }] });
  sweep('sweep-badcell.json', { grid: [{ kind: 'eval', model: lenet, cell: ['exact_u8', 'nosuch_cell'] }] });
  sweep('sweep-nomodel.json', { jobs: [{ kind: 'run', model: 'missing.onnx', rows: 4, cols: 4, cell: 'exact_u8' }] });
  sweep('sweep-kind.json', { jobs: [{ kind: 'train', model: lenet }] });
  sweep('sweep-empty.json', {});
  sweep('sweep-notjson.json', '{"jobs": [');
  sweep('sweep.yaml', 'jobs:\n  - kind: eval\n');
  sweep('sweep-broken.yml', 'jobs: [\n  - kind\n');
  // nas search spaces: empty, a gene without choices, a network that cannot be built, a sane one.
  const stage = { depth: [1], width: [4], kernel: [3], stride: [2], residual: [false] };
  sweep('space-nostages.json', { stages: [], hidden: [0] });
  sweep('space-nochoice.json', { stages: [{ ...stage, width: [] }], hidden: [0] });
  sweep('space-collapse.json', { stages: [stage, stage, stage, { ...stage, kernel: [5] }], hidden: [0] });
  sweep('space-ok.json', { stages: [stage], hidden: [0] });
  // An imported cell that already exists (for the re-import case).
  const cells = join(root, 'cells');
  mkdirSync(join(cells, 'mul8_dup'), { recursive: true });
  writeFileSync(join(cells, 'mul8_dup', 'meta.json'), `${JSON.stringify({ id: 'ext:mul8_dup', bits: 8, signed: false, source: 'lut', importedFrom: '/x' })}\n`);
  writeFileSync(join(cells, 'mul8_dup', 'lut.bin'), lutBytes(getCell('exact_u8')));
  writeFileSync(join(cells, 'mul8_dup', 'cell.v'), '// placeholder\n');
  // A private axtpu cache inside a folder of the user's, and a folder that is no cache at all.
  const cache = join(root, 'cacheparent', 'axtpu');
  mkdirSync(join(cache, 'verilator', '0123456789abcdef01234567'), { recursive: true });
  writeFileSync(join(cache, 'verilator', '0123456789abcdef01234567', 'key.json'), '{}\n');
  writeFileSync(join(root, 'cacheparent', 'precious.txt'), 'not a cache entry\n');
  mkdirSync(join(root, 'userdocs', 'verilator'), { recursive: true });
  writeFileSync(join(root, 'userdocs', 'thesis.tex'), '\\documentclass{article}\n');
  mkdirSync(join(root, 'rtl-out'));
  mkdirSync(join(root, 'synth-reports'));
}

const nodeOnlyPath = () => {
  const bin = join(root, 'bin');
  mkdirSync(bin, { recursive: true });
  try {
    symlinkSync(process.execPath, join(bin, 'node'));
  } catch {
    /* made by an earlier case */
  }
  return bin;
};

const CACHE = '{root}/cacheparent/axtpu';

/** Data loss, hangs and wrong passes of the issue: each fails on the branch point's code. */
const REGRESSIONS: Case[] = [
  { name: 'gen --out a folder of user files', args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--out', 'user'], msg: /not written by axtpu/ },
  { name: 'gen --out . (the current folder)', args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--out', '.'], msg: /current folder/ },
  { name: 'gen --out a regular file', args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--out', 'file.txt'], msg: /is a file/ },
  { name: 'gen --out a symlink to user files', args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--out', 'userlink'], msg: /symlink/ },
  {
    name: 'gen --out user files with --force',
    args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--out', 'user', '--force'],
    msg: /not written by axtpu/,
  },
  { name: 'quantize --out a folder of user files', args: ['quantize', '--model', lenet, '--out', 'user', '--calib-images', '16'], msg: /not written by axtpu/ },
  { name: 'quantize --out .', args: ['quantize', '--model', lenet, '--out', '.', '--calib-images', '16'], msg: /current folder/ },
  { name: 'quantize --out a regular file', args: ['quantize', '--model', lenet, '--out', 'notes.txt', '--calib-images', '16'], msg: /is a file/ },
  { name: 'clean --kind ..', args: ['clean', '--kind', '..'], env: { AXTPU_CACHE: CACHE }, msg: /unknown cache kind '\.\.'/ },
  { name: 'clean --kind ../..', args: ['clean', '--kind', '../..'], env: { AXTPU_CACHE: CACHE }, msg: /unknown cache kind/ },
  { name: 'clean --kind nosuchkind', args: ['clean', '--kind', 'nosuchkind'], env: { AXTPU_CACHE: CACHE }, msg: /unknown cache kind 'nosuchkind'/ },
  { name: 'AXTPU_CACHE=<user folder> clean', args: ['clean'], env: { AXTPU_CACHE: '{root}/userdocs' }, msg: /not an axtpu cache/ },
  {
    name: 'AXTPU_CACHE=<user folder> clean --kind verilator',
    args: ['clean', '--kind', 'verilator'],
    env: { AXTPU_CACHE: '{root}/userdocs' },
    msg: /not an axtpu cache/,
  },
  {
    name: 'gen --out under /proc (hang)',
    args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--out', '/proc/axtpu-x/y'],
    msg: /\/proc\/axtpu-x/,
  },
  { name: 'AXTPU_CACHE under /proc (hang)', args: ['mult', 'verify', 'exact_u4'], env: { AXTPU_CACHE: '/proc/axtpu-x' }, msg: /\/proc\/axtpu-x/ },
  { name: 'mult lut --out under /proc (hang)', args: ['mult', 'lut', 'exact_u8', '--out', '/proc/axtpu-x/y.bin'], msg: /\/proc\/axtpu-x/ },
  {
    name: 'power of a 16-bit cell from an 8-bit stream',
    args: ['power', 'exact_u16', '--stream', 'ok.ab'],
    msg: /16-bit but the operand stream holds 8-bit codes/,
  },
  { name: 'signed cell imported without --signed', args: ['mult', 'import', 'mul8s_exact.v'], msg: /behaves as a signed/ },
  { name: 're-import under an existing name', args: ['mult', 'import', 'mul8_dup.v'], msg: /already exists.*--force/ },
  {
    name: 'labels past the model classes',
    args: ['eval', '--model', lenet, '--dataset', '{work}/idx', '--no-float', '--cell', 'exact_u8'],
    msg: /label 200 of image 48/,
  },
  { name: 'ONNX initializer dims 1e11', args: ['eval', '--model', 'big.onnx', '--no-float'], msg: /too large/ },
  { name: 'ONNX negative initializer dims', args: ['eval', '--model', 'neg.onnx', '--no-float'], msg: /invalid dimension -6/ },
  { name: 'ONNX MaxPool kernel_shape [0,0]', args: ['eval', '--model', 'pool0.onnx', '--no-float'], msg: /kernel \[0,0\] must be positive/ },
  { name: 'combinational loop in an imported cell', args: ['mult', 'import', 'loop.v', '--module', 'loopy'], msg: /combinational loop/ },
  {
    name: 'missing tool (verilator)',
    args: ['mult', 'verify', 'exact_u4'],
    env: { PATH: '{nodeOnly}', AXTPU_CACHE: `${outsideCache}/a` },
    msg: /verilator: not found on PATH; run `make setup`/,
  },
  { name: 'missing tool (yosys)', args: ['synth', 'exact_u4'], env: { PATH: '{nodeOnly}', AXTPU_CACHE: `${outsideCache}/b` }, msg: /yosys: not found on PATH/ },
  { name: 'AXTPU_CACHE is a file', args: ['mult', 'verify', 'exact_u4'], env: { AXTPU_CACHE: '{work}/file.txt' }, msg: /is a file, not a folder/ },
  { name: 'synth --top of a module that does not exist', args: ['synth', 'gooddesign', '--top', 'nosuch'], msg: /top module 'nosuch' is not declared/ },
  { name: 'synth of a missing folder', args: ['synth', './nosuch_dir'], msg: /no such design folder/ },
  {
    name: 'gen --name with a path',
    args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--name', '../../evil'],
    msg: /^axtpu: gen: invalid name '\.\.\/\.\.\/evil'/,
  },
  { name: 'mult lut --out a folder (EISDIR)', args: ['mult', 'lut', 'exact_u8', '--out', 'user'], msg: /user/ },
  { name: 'gen --out below a file (ENOTDIR)', args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--out', 'file.txt/sub'], msg: /file\.txt/ },
  { name: 'AXTPU_CELLS_DIR is a file', args: ['mult', 'list'], env: { AXTPU_CELLS_DIR: '{work}/file.txt' }, msg: /file\.txt/ },
];

/** The rest of the corpus: one clear line for ordinary mistakes, command by command. */
const CASES: Case[] = [
  { name: 'unknown command', args: ['frobnicate'], msg: /unknown command 'frobnicate'/ },
  { name: 'doctor with an unknown flag', args: ['doctor', '--bogus'], msg: /unknown option '--bogus'/ },
  { name: 'clean --kind with a slash', args: ['clean', '--kind', 'verilator/x'], env: { AXTPU_CACHE: CACHE }, msg: /unknown cache kind/ },
  { name: 'clean with AXTPU_CACHE a file', args: ['clean'], env: { AXTPU_CACHE: '{work}/file.txt' }, msg: /is a file/ },
  { name: 'synth an unknown cell', args: ['synth', 'nosuch_cell'], msg: /unknown cell id 'nosuch_cell'/ },
  { name: 'synth a file', args: ['synth', 'file.txt'], msg: /is a file; give a cell id/ },
  { name: 'synth a folder without Verilog', args: ['synth', 'noverilog'], msg: /no \.v\/\.sv files/ },
  { name: 'synth a design with a syntax error', args: ['synth', 'baddesign'], msg: /design top: .*syntax error/ },
  { name: 'synth a glob matching nothing', args: ['synth', 'ext:zz*'], msg: /'ext:zz\*' matches no cell/ },
  { name: 'synth with a garbage liberty', args: ['synth', 'exact_u4', '--liberty', 'bad.lib'], msg: /bad\.lib:1/ },
  { name: 'synth with a folder as liberty', args: ['synth', 'exact_u4', '--liberty', 'user'], msg: /liberty file not found/ },
  { name: 'power without cells', args: ['power'], msg: /give cell ids or --all/ },
  { name: 'power --all with ids', args: ['power', '--all', 'exact_u8'], msg: /not both/ },
  { name: 'power with an odd-length stream', args: ['power', 'exact_u8', '--stream', 'odd.ab'], msg: /odd length 3 bytes/ },
  { name: 'power with a folder as stream', args: ['power', 'exact_u8', '--stream', 'user'], msg: /operand stream not found/ },
  { name: 'power with a dangling symlink as stream', args: ['power', 'exact_u8', '--stream', 'dangling.ab'], msg: /operand stream not found/ },
  { name: 'power --uniform 1', args: ['power', 'exact_u8', '--uniform', '1'], msg: /--uniform must be in 2\.\./ },
  { name: 'power --uniform x', args: ['power', 'exact_u8', '--uniform', 'x'], msg: /--uniform must be an integer/ },
  { name: 'power --vdd -1', args: ['power', 'exact_u8', '--vdd', '-1'], msg: /--vdd must be in/ },
  { name: 'power --stream and --uniform', args: ['power', 'exact_u8', '--stream', 'ok.ab', '--uniform', '8'], msg: /either --uniform N or --stream/ },
  { name: 'power a glob matching nothing', args: ['power', 'nomatch*'], msg: /matches no cell/ },
  { name: 'mult show an unknown id', args: ['mult', 'show', 'nosuch'], msg: /unknown cell id 'nosuch'/ },
  { name: 'mult show a width out of range', args: ['mult', 'show', 'exact_u99'], msg: /exact_u99/ },
  { name: 'mult verify without ids', args: ['mult', 'verify'], msg: /give cell ids or --all/ },
  { name: 'mult verify a 16-bit cell', args: ['mult', 'verify', 'exact_u16'], msg: /wider than 8 bits/ },
  { name: 'mult verify a glob matching nothing', args: ['mult', 'verify', 'ext:zz*'], msg: /matches no cell/ },
  { name: 'mult import a missing file', args: ['mult', 'import', 'missing.v', '--module', 'x'], msg: /no such file or folder: missing\.v/ },
  { name: 'mult import a missing module', args: ['mult', 'import', 'loop.v', '--module', 'nosuch'], msg: /module 'nosuch' not found/ },
  { name: 'mult import clocked logic', args: ['mult', 'import', 'clocked.v', '--module', 'clk8'], msg: /clocked logic/ },
  { name: 'mult import a 4-bit operand port', args: ['mult', 'import', 'narrow.v', '--module', 'narrow'], msg: /must be 8 bits wide, is 4/ },
  { name: 'mult import a LUT without --as', args: ['mult', 'import', 'lut.bin'], msg: /--as <name> is required/ },
  { name: 'mult import a LUT under a bad name', args: ['mult', 'import', 'lut.bin', '--as', 'bad-name!'], msg: /must match/ },
  { name: 'mult import a LUT of the wrong size', args: ['mult', 'import', 'odd.ab', '--as', 'x'], msg: /module '?x'? not found|cannot tell|no \.v/ },
  { name: 'mult import a folder without Verilog', args: ['mult', 'import', 'noverilog'], msg: /holds no \.v\/\.sv files/ },
  { name: 'mult import --signed and --unsigned', args: ['mult', 'import', 'loop.v', '--signed', '--unsigned'], msg: /not both/ },
  { name: 'mult import --ports garbage', args: ['mult', 'import', 'loop.v', '--module', 'loopy', '--ports', 'q=1'], msg: /--ports: expected/ },
  { name: 'mult import --as with several files', args: ['mult', 'import', 'loop.v', 'narrow.v', '--as', 'x'], msg: /apply to a single file/ },
  { name: 'mult lut of a 4-bit cell', args: ['mult', 'lut', 'exact_u4', '--out', 'x.bin'], msg: /TFApprox LUTs are 8x8/ },
  { name: 'gen --rows 1', args: ['gen', '--rows', '1', '--cols', '2', '--cell', 'exact_u8'], msg: /--rows must be in 2\.\.256/ },
  {
    name: 'gen --rows 256 (analytical only)',
    args: ['gen', '--rows', '256', '--cols', '2', '--cell', 'exact_u8'],
    msg: /beyond RTL generation \(at most 128x128\)/,
  },
  { name: 'gen without a size', args: ['gen', '--cell', 'exact_u8'], msg: /give --rows and --cols \(or --preset <name>\)/ },
  { name: 'gen --preset unknown', args: ['gen', '--preset', 'tpu-v9', '--cell', 'exact_u8'], msg: /unknown preset 'tpu-v9' \(known: tpu-v4\)/ },
  { name: 'gen --ub-kib 0', args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--ub-kib', '0'], msg: /--ub-kib must be in 1\.\./ },
  { name: 'gen with an unknown cell', args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'nosuch'], msg: /nosuch/ },
  {
    name: 'gen --dram-bytes-per-cycle 0',
    args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--dram-bytes-per-cycle', '0'],
    msg: /--dram-bytes-per-cycle must be in 1\.\.4096/,
  },
  { name: 'gen --wbuf-kib not a number', args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--wbuf-kib', 'big'], msg: /--wbuf-kib/ },
  { name: 'gen --map bad JSON', args: ['gen', '--rows', '2', '--cols', '2', '--map', '{bad'], msg: /--map: not valid JSON/ },
  { name: 'gen --map a missing file', args: ['gen', '--rows', '2', '--cols', '2', '--map', 'nosuch.json'], msg: /--map: not inline JSON and no such file/ },
  { name: 'gen --map a folder', args: ['gen', '--rows', '2', '--cols', '2', '--map', 'cfgdir'], msg: /cfgdir/ },
  { name: 'gen --psum-bits 99', args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--psum-bits', '99'], msg: /--psum-bits must be in/ },
  {
    name: 'gen --cell-set with one cell',
    args: ['gen', '--rows', '2', '--cols', '2', '--cell-set', 'exact_s8'],
    msg: /cellSet: a cell set needs at least 2 cells/,
  },
  {
    name: 'gen --cell-set with --cell',
    args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_s8', '--cell-set', 'exact_s8,roup_p1_r4_s8'],
    msg: /a cellSet is the whole array's cells; give no cell, map or tiles with it/,
  },
  {
    name: 'run: a kernel map naming a cell not in the PE cell set',
    args: ['run', '--model', lenet, '--rows', '4', '--cols', '4', '--cell-set', 'exact_s8,roup_p1_r4_s8', '--assign', KERNEL_MAP],
    msg: /names cell roup_p2_r6_s8, which is not in the PE's cell set \[exact_s8, roup_p1_r4_s8\]/,
  },
  {
    name: 'run: per-kernel cells on a design without tag bits',
    args: run4x4('--assign', KERNEL_MAP),
    msg: /uses 2 cells across its input channels \(kernel level\), which needs per-weight cell-select tags \(gen --cell-set\)/,
  },
  {
    name: 'explore --granularity kernel with more candidates than the PE holds',
    args: ['explore', '--model', lenet, '--out', 'x', '--granularity', 'kernel', '--cells', 'roup_p1_r4_s8,roup_p2_r6_s8,roup_p1_r6_s8,roup_p2_r4_s8'],
    msg: /--granularity kernel: every PE holds exact_s8 plus the candidates \(at most 4 cells, 2 tag bits\); 4 signed candidates given/,
  },
  { name: 'eval --model a folder', args: ['eval', '--model', 'user', '--no-float'], msg: /user/ },
  { name: 'eval with a missing model', args: ['eval', '--model', 'nosuch.onnx', '--no-float'], msg: /--model: no such file or directory: .*nosuch\.onnx/ },
  { name: 'eval with a garbage model', args: ['eval', '--model', 'garbage.onnx', '--no-float'], msg: /not a valid ONNX file/ },
  { name: 'eval with a Conv stride of 0', args: ['eval', '--model', 'convstride0.onnx', '--no-float'], msg: /strides \[0,0\]/ },
  { name: 'eval --assign inline with an unknown cell', args: ['eval', '--model', lenet, '--no-float', '--assign', '{"default":"nosuch"}'], msg: /nosuch/ },
  { name: 'eval --assign bad inline JSON', args: ['eval', '--model', lenet, '--no-float', '--assign', '{bad'], msg: /--assign: not valid JSON/ },
  { name: 'eval --cell and --assign', args: ['eval', '--model', lenet, '--cell', 'exact_u8', '--assign', '{}'], msg: /either --cell or --assign/ },
  {
    name: 'eval --cv on a pooling layer',
    args: ['eval', '--model', lenet, '--no-float', '--cell', 'perf_j0_k3_u8', '--cv', '/MaxPool'],
    msg: /'\/MaxPool' is a maxpool layer; compensation applies to conv\/dense layers/,
  },
  {
    name: 'eval --cv-q 16',
    args: ['eval', '--model', lenet, '--no-float', '--cell', 'perf_j0_k3_u8', '--cv', 'all', '--cv-q', '16'],
    msg: /--cv-q must be in 0\.\.15, got 16/,
  },
  {
    name: 'eval --cv with q -1',
    args: ['eval', '--model', lenet, '--no-float', '--cell', 'perf_j0_k3_u8', '--cv', '{"/c1/Conv": -1}'],
    msg: /--cv: invalid \/c1\/Conv: q must be in 0\.\.15/,
  },
  {
    name: 'eval --prune 1 (sparsity outside [0, 1))',
    args: ['eval', '--model', lenet, '--no-float', '--prune', '1'],
    msg: /--prune: invalid: sparsity must be < 1/,
  },
  {
    name: 'run --prune an unknown layer',
    args: run4x4('--zero-skip', '--prune', '{"/c9/Conv": 0.5}'),
    msg: /--prune names layer '\/c9\/Conv' which is not a conv\/dense layer/,
  },
  {
    name: 'eval --wmem-volts below the weight-memory model range',
    args: ['eval', '--model', lenet, '--no-float', '--wmem-volts', '0.5'],
    msg: /--wmem-volts \(every layer\): 0\.5 V is below the range of weight-memory model 8T-6T-style \(0\.9 V = 0\.5 x 1\.8 V\)/,
  },
  {
    name: 'eval --wmem-volts above nominal',
    args: ['eval', '--model', lenet, '--no-float', '--wmem-volts', '{"/c1/Conv": 2}'],
    msg: /--wmem-volts \/c1\/Conv: 2 V is above the weight memory's nominal 1\.8 V/,
  },
  {
    name: 'eval --wmem-volts an unknown layer',
    args: ['eval', '--model', lenet, '--no-float', '--wmem-volts', '{"/c9/Conv": 1.2}'],
    msg: /--wmem-volts names layer '\/c9\/Conv' which is not a conv\/dense layer/,
  },
  {
    name: 'eval --protect-msbs 9',
    args: ['eval', '--model', lenet, '--no-float', '--wmem-volts', '1.2', '--protect-msbs', '9'],
    msg: /--protect-msbs must be in 0\.\.8, got 9/,
  },
  {
    name: 'eval --protect-msbs without --wmem-volts',
    args: ['eval', '--model', lenet, '--no-float', '--protect-msbs', '2'],
    msg: /--protect-msbs needs --wmem-volts/,
  },
  {
    name: 'run --wmem-model not a weight-memory model',
    args: run4x4('--wmem-volts', '1.2', '--wmem-model', join(modelsDir, 'memory-model.json')),
    msg: /--wmem-model .*memory-model\.json: invalid format/,
  },
  {
    name: 'run --wmem-volts below the range',
    args: run4x4('--wmem-volts', '0.3'),
    msg: /0\.3 V is below the range of weight-memory model/,
  },
  {
    name: 'gen --zero-skip with unsigned cells',
    args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--zero-skip'],
    msg: /zeroSkip needs signed cells/,
  },
  {
    name: 'eval --cv an unknown layer',
    args: ['eval', '--model', lenet, '--no-float', '--cell', 'perf_j0_k3_u8', '--cv', 'conv9'],
    msg: /--cv: no layer 'conv9'/,
  },
  {
    name: 'finetune --assign names a layer the model lacks',
    args: ['finetune', '--model', lenet, '--out', 'ft', '--assign', '{"layers":{"conv9":"drum_k5_u8"},"default":"drum_k5_u8"}'],
    msg: /assignment names layer 'conv9' which is not a conv\/dense layer/,
  },
  {
    name: 'finetune --assign filters that do not match the layer',
    args: ['finetune', '--model', lenet, '--out', 'ft', '--assign', '{"layers":{"/c1/Conv":{"filters":["drum_k5_u8","exact_u8"]}},"default":"exact_u8"}'],
    msg: /filters has 2 entries, layer has 6 output channels/,
  },
  {
    name: 'finetune without PyTorch',
    args: ['finetune', '--model', lenet, '--out', 'ft', '--cell', 'drum_k5_u8'],
    env: { AXTPU_PYTHON: '/nonexistent/python3' },
    msg: /finetune needs PyTorch \(Debian python3-torch\) in \/nonexistent\/python3: python not found; run `make setup`/,
  },
  {
    name: 'nas with a space without stages',
    args: ['nas', '--space', 'space-nostages.json', '--out', 'n'],
    msg: /--space space-nostages\.json: invalid stages: the space needs at least one stage/,
  },
  {
    name: 'nas with a gene without choices',
    args: ['nas', '--space', 'space-nochoice.json', '--out', 'n'],
    msg: /invalid stages\.0\.width: a gene needs at least one choice/,
  },
  {
    name: 'nas with a space giving an invalid network',
    args: ['nas', '--space', 'space-collapse.json', '--out', 'n'],
    msg: /stage 4 kernel 5 does not fit its 4x4 input \(after stride 2, 2, 2 in stages 1-3\); that architecture is not a valid network/,
  },
  { name: 'nas --budget 0', args: ['nas', '--space', 'space-ok.json', '--out', 'n', '--budget', '0'], msg: /--budget 0: out of range/ },
  {
    name: 'nas --budget not a number',
    args: ['nas', '--space', 'space-ok.json', '--out', 'n', '--budget', 'some'],
    msg: /--budget 'some': expected a percentage/,
  },
  {
    name: 'nas with a validation hold-out overlapping the proxy-training images',
    args: ['nas', '--space', 'space-ok.json', '--out', 'n', '--train-images', '59500', '--val-images', '1000'],
    msg: /--train-images 59500 \+ --val-images 1000: the validation hold-out .* would overlap the proxy-training images; at most 60000 together/,
  },
  {
    name: 'nas --xai-share with --search nsga2',
    args: ['nas', '--space', 'space-ok.json', '--out', 'n', '--search', 'nsga2', '--xai-share', '0.3'],
    msg: /--xai-share needs --search xai/,
  },
  { name: 'nas --no-rtl without the final step', args: ['nas', '--space', 'space-ok.json', '--out', 'n', '--no-rtl'], msg: /--no-rtl needs --final-epochs/ },
  {
    name: 'nas without PyTorch',
    args: ['nas', '--space', 'space-ok.json', '--out', 'n', '--cells', 'drum_k4_u8'],
    env: { AXTPU_PYTHON: '/nonexistent/python3' },
    msg: /nas needs PyTorch \(Debian python3-torch\) in \/nonexistent\/python3: python not found; run `make setup`/,
  },
  { name: 'finetune --epochs 0', args: ['finetune', '--model', lenet, '--out', 'ft', '--epochs', '0'], msg: /--epochs must be in 1\.\.1000, got 0/ },
  {
    name: 'eval with a missing dataset folder',
    args: ['eval', '--model', lenet, '--no-float', '--dataset', '/nonexistent/ds'],
    msg: /dataset directory not found/,
  },
  {
    name: 'explore --knobs unknown',
    args: ['explore', '--model', lenet, '--out', 'x', '--knobs', 'cells,volts'],
    msg: /--knobs: unknown knob 'volts' \(known: cells, cv, voltage, prune, wmem, width\)/,
  },
  {
    name: 'explore --knobs voltage with a level above nominal',
    args: ['explore', '--model', lenet, '--out', 'x', '--knobs', 'cells,voltage', '--levels', '1.6,2.0'],
    msg: /--levels: 2 V is above the library's nominal 1\.8 V/,
  },
  {
    name: 'explore --knobs voltage per kernel',
    args: ['explore', '--model', lenet, '--out', 'x', '--knobs', 'cells,voltage', '--levels', '1.6', '--granularity', 'kernel'],
    msg: /--knobs voltage decides a supply per layer or per column/,
  },
  {
    name: 'explore --knobs voltage without --levels',
    args: ['explore', '--model', lenet, '--out', 'x', '--knobs', 'cells,voltage'],
    msg: /--knobs voltage needs --levels/,
  },
  {
    name: 'eval --assign with supplies (timing errors eval does not draw)',
    args: ['eval', '--model', lenet, '--no-float', '--assign', '{"default":"exact_s8","volts":{"/c1/Conv":1.5}}'],
    msg: /'volts' .* is not used by eval, run or finetune/,
  },
  {
    name: 'explore --levels without the voltage knob',
    args: ['explore', '--model', lenet, '--out', 'x', '--levels', '1.6'],
    msg: /--levels needs --knobs with 'voltage'/,
  },
  {
    name: 'explore --knobs cv per filter',
    args: ['explore', '--model', lenet, '--out', 'x', '--knobs', 'cells,cv', '--granularity', 'filter'],
    msg: /--knobs cv decides per layer and needs --granularity layer/,
  },
  {
    name: 'explore --sparsities at 1 (no weight left)',
    args: ['explore', '--model', lenet, '--out', 'x', '--knobs', 'cells,prune', '--sparsities', '0.5,1'],
    msg: /--sparsities: 1 is outside \[0, 1\)/,
  },
  {
    name: 'explore --wmem-levels below the bit-error model',
    args: ['explore', '--model', lenet, '--out', 'x', '--knobs', 'cells,wmem', '--wmem-levels', '1.4,0.5'],
    msg: /--wmem-levels: 0\.5 V is below the range of weight-memory model/,
  },
  {
    name: 'explore --knobs width on a model without variants',
    args: ['explore', '--model', join(modelsDir, 'mlp-fmnist.onnx'), '--out', 'x', '--knobs', 'cells,width'],
    msg: /--knobs width: .* has no width variants/,
  },
  {
    name: 'explore --widths naming a width the family lacks',
    args: ['explore', '--model', lenet, '--out', 'x', '--knobs', 'cells,width', '--widths', '0.6'],
    msg: /--widths: unknown width variant 0\.6 of .*lenet5-fmnist\.onnx \(have: 1, 0\.75, 0\.5\)/,
  },
  {
    name: 'explore --knobs prune with voltage',
    args: ['explore', '--model', lenet, '--out', 'x', '--knobs', 'cells,prune,voltage', '--levels', '1.6'],
    msg: /--knobs prune does not combine with voltage yet/,
  },
  {
    name: 'explore --wmem-levels without the wmem knob',
    args: ['explore', '--model', lenet, '--out', 'x', '--wmem-levels', '1.4'],
    msg: /--wmem-levels needs --knobs with 'wmem'/,
  },
  {
    name: 'gen --cv-folds without --control-variate',
    args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--cv-folds', '2'],
    msg: /--cv-folds needs --control-variate/,
  },
  {
    name: 'gen --cv-folds 0',
    args: ['gen', '--rows', '2', '--cols', '2', '--cell', 'exact_u8', '--control-variate', '--cv-folds', '0'],
    msg: /--cv-folds must be in 1\.\.64/,
  },
  { name: 'quantize with a bad scheme', args: ['quantize', '--model', lenet, '--out', 'q', '--scheme', 'weird'], msg: /--scheme must be signed or unsigned/ },
  { name: 'quantize with a garbage model', args: ['quantize', '--model', 'garbage.onnx', '--out', 'q'], msg: /not a valid ONNX file/ },
  { name: 'run with a missing design folder', args: ['run', '--model', lenet, '--design', 'nosuch_design'], msg: /nosuch_design/ },
  {
    name: 'run --vos-models without targets',
    args: run4x4('--vos-models', 'vos-empty.json'),
    msg: /--vos-models .*vos-empty\.json: invalid targets/,
  },
  {
    name: 'run at a level the timing-error models do not cover',
    args: domainRun(1.5, '--levels', 'low', '--vos-models', 'vos-1p6.json'),
    msg: /exact_s8 was not characterized at 1\.5 V \(have 1\.6\)/,
  },
  {
    name: 'run --levels @named on domains not named after levels',
    args: domainRun(1.6, '--levels', '@named'),
    msg: /--levels @named: domain 'all' .* has no level of that name/,
  },
  { name: 'run with a folder that is no design', args: ['run', '--model', lenet, '--design', 'user'], msg: /not a design directory/ },
  {
    name: 'run --memory-model with a negative SRAM energy',
    args: ['run', '--model', lenet, '--rows', '4', '--cols', '4', '--cell', 'exact_u8', '--memory-model', 'memmodel-neg.json'],
    msg: /--memory-model .*memmodel-neg\.json: invalid sram\.anchors\.1\.readPj/,
  },
  {
    name: 'explore --memory-model that is not JSON',
    args: ['explore', '--model', lenet, '--out', 'x', '--memory-model', 'memmodel-garbage.json'],
    msg: /--memory-model .*memmodel-garbage\.json: not valid JSON/,
  },
  { name: 'sim gemm of a folder that is no design', args: ['sim', 'gemm', 'user', '--M', '2', '--K', '2', '--N', '2'], msg: /not a design directory/ },
  { name: 'explore without --out', args: ['explore', '--model', lenet], msg: /--out/ },
  { name: 'explore with a bad budget', args: ['explore', '--model', lenet, '--budget', 'abc', '--out', 'x'], msg: /budget/ },
  {
    name: 'explore with an unknown criticality estimator',
    args: ['explore', '--model', lenet, '--criticality', 'magic', '--out', 'x'],
    msg: /--criticality 'magic'/,
  },
  {
    name: 'explore with cells matching nothing',
    args: ['explore', '--model', lenet, '--budget', '1%', '--cells', 'nomatch*', '--out', 'x'],
    msg: /matches no 8-bit cell/,
  },
  { name: 'sweep without --out', args: ['sweep', 'sweep-ok.json'], msg: /--out/ },
  { name: 'sweep of a missing file', args: ['sweep', 'nosuch.json', '--out', 'x'], msg: /sweep file not found: nosuch\.json/ },
  { name: 'sweep file that is not JSON', args: ['sweep', 'sweep-notjson.json', '--out', 'x'], msg: /sweep-notjson\.json: not valid JSON/ },
  { name: 'sweep file in YAML without a model', args: ['sweep', 'sweep.yaml', '--out', 'x'], msg: /sweep\.yaml: jobs\.0: invalid model: Required/ },
  { name: 'sweep file that is not YAML', args: ['sweep', 'sweep-broken.yml', '--out', 'x'], msg: /sweep-broken\.yml: not valid YAML/ },
  { name: 'sweep file without jobs', args: ['sweep', 'sweep-empty.json', '--out', 'x'], msg: /give at least one entry in jobs or grid/ },
  { name: 'sweep job with an unknown option', args: ['sweep', 'sweep-badkey.json', '--out', 'x'], msg: /jobs\.0.*Unrecognized key.*bogus/ },
  {
    name: 'sweep job of an unknown kind',
    args: ['sweep', 'sweep-kind.json', '--out', 'x'],
    msg: /jobs\.0: invalid kind: Invalid discriminator value\. Expected 'eval' \| 'run' \| 'explore'/,
  },
  { name: 'sweep grid with an unknown cell', args: ['sweep', 'sweep-badcell.json', '--out', 'x'], msg: /grid\.0 combination 1: unknown cell id 'nosuch_cell'/ },
  { name: 'sweep job with a missing model', args: ['sweep', 'sweep-nomodel.json', '--out', 'x'], msg: /jobs\.0: model not found: .*missing\.onnx/ },
  { name: 'sweep --out a folder of user files', args: ['sweep', 'sweep-ok.json', '--out', 'user'], msg: /not written by axtpu/ },
  {
    name: 'sweep --queue not a redis URL',
    args: ['sweep', 'sweep-ok.json', '--out', 'x', '--queue', 'http://localhost:6379'],
    msg: /expected a redis:\/\/host:port URL/,
  },
  {
    name: 'sweep --queue with a dead Redis',
    args: ['sweep', 'sweep-ok.json', '--out', 'x', '--queue', 'redis://127.0.0.1:1'],
    msg: /redis:\/\/127\.0\.0\.1:1: cannot reach Redis \(connect ECONNREFUSED/,
  },
  { name: 'worker with a dead Redis', args: ['worker', '--queue', 'redis://127.0.0.1:1'], msg: /cannot reach Redis \(connect ECONNREFUSED/ },
  { name: 'worker --queue with a bad database', args: ['worker', '--queue', 'redis://127.0.0.1:6379/x'], msg: /database 'x' must be a number/ },
  { name: 'worker without --queue', args: ['worker'], msg: /--queue/ },
  {
    name: 'nas --queue with a dead Redis',
    args: ['nas', '--space', 'space-ok.json', '--out', 'n', '--cells', 'drum_k4_u8', '--queue', 'redis://127.0.0.1:1'],
    msg: /redis:\/\/127\.0\.0\.1:1: cannot reach Redis \(connect ECONNREFUSED/,
  },
  {
    name: 'explore --queue not a redis URL',
    args: ['explore', '--model', lenet, '--out', 'x', '--queue', 'ftp://host'],
    msg: /expected a redis:\/\/host:port URL/,
  },
  {
    name: 'vos at the threshold voltage',
    args: ['vos', 'characterize', 'exact_u8', '--levels', '1.8,0.45', '--out', 'v'],
    msg: /--levels: 0\.45 V is at or below the threshold/,
  },
  { name: 'vos of an unknown cell', args: ['vos', 'characterize', 'nosuch_u8', '--levels', '1.8', '--out', 'v'], msg: /nosuch_u8/ },
  { name: 'vos of a folder with no PE netlist', args: ['vos', 'characterize', 'user', '--levels', '1.8', '--out', 'v'], msg: /no PE netlist/ },
  {
    name: 'vos with a negative clock margin',
    args: ['vos', 'characterize', 'exact_u8', '--levels', '1.8', '--clock-margin', '-0.1', '--out', 'v'],
    msg: /--clock-margin must be >= 0/,
  },
  { name: 'power --timed of a folder that is no design', args: ['power', '--timed', 'user'], msg: /not a design directory/ },
  {
    name: 'eval --width a width the model has no variant of',
    args: ['eval', '--model', lenet, '--no-float', '--width', '0.6'],
    msg: /unknown width variant 0\.6 of .*lenet5-fmnist\.onnx \(have: 1, 0\.75, 0\.5\)$/,
  },
  {
    name: 'eval --width not a number',
    args: ['eval', '--model', lenet, '--no-float', '--width', 'half'],
    msg: /--width must be a number, got 'half'/,
  },
  {
    name: 'run --width 0',
    args: ['run', '--model', lenet, '--width', '0', '--rows', '4', '--cols', '4', '--cell', 'exact_s8'],
    msg: /--width must be in \(0, 1\], got 0/,
  },
];

beforeAll(() => {
  setup();
  nodeOnlyPath();
});

let caseNo = 0;

async function check(c: Case): Promise<void> {
  // A private copy of the sandbox: the snapshot compares this case's world only.
  const box = join(tmpdir(), `axtpu-bad-case-${process.pid}-${caseNo++}`);
  cpSync(template, box, { recursive: true, verbatimSymlinks: true });
  const sub = (v: string) => v.replaceAll('{root}', box).replaceAll('{work}', join(box, 'work')).replaceAll('{nodeOnly}', join(box, 'bin'));
  const before = snapshotTree(box);
  // Its own $TMPDIR (to see leftovers), sharing tsx's compile cache so the CLI starts fast.
  const tmp = mkdtempSync(join(tmpdir(), 'axtpu-bad-tmp-'));
  const tsxCache = join(tmpdir(), `tsx-${process.getuid?.() ?? 0}`);
  if (existsSync(tsxCache)) symlinkSync(tsxCache, join(tmp, basename(tsxCache)));
  try {
    await checkIn(c, box, sub, before, tmp);
  } finally {
    rmSync(box, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function checkIn(c: Case, box: string, expand: (v: string) => string, before: Record<string, string>, scratchTmp: string): Promise<void> {
  const env: Record<string, string> = {
    AXTPU_CELLS_DIR: join(box, 'cells'),
    AXTPU_RTL_OUT: join(box, 'rtl-out'),
    AXTPU_SYNTH_REPORTS: join(box, 'synth-reports'),
    TMPDIR: scratchTmp,
  };
  for (const [k, v] of Object.entries(c.env ?? {})) env[k] = expand(v);
  const r = await runCli(c.args.map(expand), env, { cwd: join(box, 'work'), timeoutMs: 120_000 });
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  expect(r.timedOut, `${c.name}: hung`).toBe(false);
  expect({ code: r.code, lines: lines.length }, `${c.name}: ${r.stderr}`).toEqual({ code: 2, lines: 1 });
  expect(lines[0]).toMatch(/^axtpu: /);
  expect(lines[0]).not.toMatch(/^axtpu: (axtpu|internal error)|\bat .*\.ts:\d+/);
  expect(lines[0]).toMatch(c.msg);
  expect(snapshotTree(box), `${c.name}: changed files around it`).toEqual(before);
  const leftovers = readdirSync(scratchTmp).filter((n) => n.startsWith('axtpu-'));
  expect(leftovers, `${c.name}: scratch left in TMPDIR`).toEqual([]);
}

describe('bad inputs: data loss, hangs and false passes (regressions)', () => {
  for (const c of REGRESSIONS) it.concurrent(c.name, () => check(c));
});

describe('bad inputs: one line, exit 2, nothing changed', () => {
  it('the corpus has at least 60 cases', () => {
    expect(REGRESSIONS.length + CASES.length).toBeGreaterThanOrEqual(60);
  });
  for (const c of CASES) it.concurrent(c.name, () => check(c));
});
