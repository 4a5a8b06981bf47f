import type { Dataset } from './dataset.ts';
import { argmaxRows } from './float.ts';

/** Float reference: onnxruntime-node runs the ONNX file itself (independent of our import). */
export async function ortPredict(modelPath: string, ds: Dataset, batch = 500): Promise<{ pred: Uint8Array; seconds: number }> {
  // Loaded on use: the native runtime costs every CLI start ~0.15 CPU-s otherwise.
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const inputName = session.inputNames[0]!;
  const per = ds.channels * ds.height * ds.width;
  const pred = new Uint8Array(ds.count);
  const t0 = performance.now();
  for (let start = 0; start < ds.count; start += batch) {
    const n = Math.min(batch, ds.count - start);
    const x = new Float32Array(n * per);
    for (let i = 0; i < n * per; i++) x[i] = ds.pixels[start * per + i]! / 255;
    const res = await session.run({ [inputName]: new ort.Tensor('float32', x, [n, ds.channels, ds.height, ds.width]) });
    const out = res[session.outputNames[0]!]!;
    const classes = (out.dims[1] as number) ?? 10;
    pred.set(argmaxRows(out.data as Float32Array, n, classes), start);
  }
  const seconds = (performance.now() - t0) / 1000;
  await session.release();
  return { pred, seconds };
}
