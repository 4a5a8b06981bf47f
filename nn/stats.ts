import { xorshift32 } from '../core/rng.ts';
import type { GemmOperands } from './gemm.ts';
import { nativeKernels } from './native-load.ts';
import type { QConvLayer } from './qmodel.ts';

/**
 * Per-layer operand statistics (what each multiplier sees) and a seeded sample of (a, b) code
 * pairs per layer, for the energy estimator (synth/operand-stream.ts `.ab` format).
 */
export interface LayerOperandStats {
  name: string;
  macs: number;
  /** Histograms of raw 8-bit codes over all multiplies (a = activation, b = weight). */
  aHist: number[];
  bHist: number[];
  /** Sampled (a, b) pairs, in order. */
  sampleA: number[];
  sampleB: number[];
}

export class StatsCollector {
  readonly layers = new Map<string, LayerOperandStats>();
  private next: () => number;
  constructor(
    readonly samplesPerBatch = 2048,
    readonly maxSamples = 65536,
    private readonly seed = 1,
  ) {
    this.next = xorshift32(seed);
  }

  private batchFirst: number | undefined;

  /**
   * Seed the sampler by the batch whose first image has global index `firstImage` (and, in
   * `observe`, by the layer): the sample then depends only on the images, never on how a run is
   * split over workers or where the sample cap cuts it.
   */
  startBatch(firstImage: number): void {
    this.batchFirst = firstImage;
  }

  private reseed(firstImage: number, layer: number): void {
    // splitmix-style mix of (seed, image, layer) into a non-zero xorshift32 state.
    let x = (Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(firstImage + 1, 0xc2b2ae35) ^ Math.imul(layer + 1, 0x27d4eb2f)) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
    x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
    this.next = xorshift32(x ^ (x >>> 16));
  }

  observe(l: QConvLayer, g: GemmOperands): void {
    let s = this.layers.get(l.name);
    if (!s) {
      s = { name: l.name, macs: 0, aHist: new Array(256).fill(0), bHist: new Array(256).fill(0), sampleA: [], sampleB: [] };
      this.layers.set(l.name, s);
    }
    const { K, P, a } = g;
    s.macs += K * P * l.oc;
    // Every activation code meets all oc filters; every weight code meets all P columns.
    const ah = new Float64Array(256);
    byteHistogram(a.subarray(0, K * P), ah);
    for (let c = 0; c < 256; c++) s.aHist[c]! += ah[c]! * l.oc;
    for (let i = 0; i < l.oc * K; i++) s.bHist[l.weights[i]! & 0xff]! += P;
    const room = this.maxSamples - s.sampleA.length;
    const n = Math.min(room, this.samplesPerBatch);
    if (this.batchFirst !== undefined) this.reseed(this.batchFirst, [...this.layers.keys()].indexOf(l.name));
    for (let i = 0; i < n; i++) {
      const k = this.next() % K;
      const p = this.next() % P;
      const o = this.next() % l.oc;
      s.sampleA.push(a[k * P + p]!);
      s.sampleB.push(l.weights[o * K + k]! & 0xff);
    }
  }

  /** Fold another collector's results in (worker results, in image order: the sample cap keeps the first pairs). */
  merge(other: Iterable<LayerOperandStats>): void {
    for (const o of other) {
      const s = this.layers.get(o.name);
      if (!s) {
        const n = Math.min(o.sampleA.length, this.maxSamples);
        this.layers.set(o.name, { ...o, aHist: [...o.aHist], bHist: [...o.bHist], sampleA: o.sampleA.slice(0, n), sampleB: o.sampleB.slice(0, n) });
        continue;
      }
      s.macs += o.macs;
      for (let c = 0; c < 256; c++) {
        s.aHist[c]! += o.aHist[c]!;
        s.bHist[c]! += o.bHist[c]!;
      }
      const room = this.maxSamples - s.sampleA.length;
      s.sampleA.push(...o.sampleA.slice(0, room));
      s.sampleB.push(...o.sampleB.slice(0, room));
    }
  }
}

/**
 * counts[c] += occurrences of byte c in `bytes`. The code matrix is oc times smaller than the
 * layer's MACs but still the bulk of the statistics' cost, so it runs in the native addon when
 * loaded (templates/nn/kernels.cpp.hbs `histogram`); `byteHistogramJs` is the reference.
 */
export function byteHistogram(bytes: Uint8Array, counts: Float64Array): void {
  const n = nativeKernels();
  if (n) n.histogram(bytes, counts);
  else byteHistogramJs(bytes, counts);
}

export function byteHistogramJs(bytes: Uint8Array, counts: Float64Array): void {
  for (let i = 0; i < bytes.length; i++) counts[bytes[i]!]! += 1;
}

/** Summary numbers for reports. */
export function summarize(s: LayerOperandStats, signed: boolean) {
  const total = s.aHist.reduce((x, y) => x + y, 0) || 1;
  const mean = (h: number[]) => h.reduce((acc, n, c) => acc + n * (signed ? (c << 24) >> 24 : c), 0) / total;
  return {
    name: s.name,
    macs: s.macs,
    aZeroFraction: s.aHist[0]! / total,
    bZeroFraction: s.bHist[0]! / total,
    aMean: mean(s.aHist),
    bMean: mean(s.bHist),
    samples: s.sampleA.length,
  };
}
