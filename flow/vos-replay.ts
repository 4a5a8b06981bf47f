import type { PeStream } from '../mapping/streams.ts';
import type { GemmOperands } from '../nn/gemm.ts';
import { addErrors, type ProductSource, productOf } from '../nn/inject.ts';
import type { QConvLayer } from '../nn/qmodel.ts';
import { runTimedSimFast } from '../synth/timed-native.ts';
import { wrapSigned, wrapUnsigned } from '../synth/vos-model.ts';
import { type TimedNetlist, targetStimulus, type VosTarget } from './vos.ts';

/**
 * Replay: every PE operation of a layer's GEMM through the timed gate-level simulator, the
 * reference the statistical injection (nn/inject.ts) is judged against (docs/vos.md, "Model vs
 * replay"). The same conventions as the injection: filter n is a column, reduction index k sits
 * on row k mod R of K-fold floor(k / R) (zero codes past K), a PE's operations stream in the
 * order m = 0..P-1 of the GEMM's columns, fold after fold, with the fault-free partial sum of the
 * rows above as psum_in. One PE (filter n, row r) is one timed run of the PE netlist (its K-folds
 * back to back), so a PE's first operation starts settled, like the characterization's.
 */
export interface ReplayOptions {
  target: VosTarget;
  netlist: TimedNetlist;
  periodNs: number;
  delayScale: number;
  /** PE rows of the layer's tile. */
  rows: number;
  bits: number;
}

export interface ReplayResult {
  ops: number;
  wrong: number;
}

/** Replay a layer's GEMM and add its timing errors to `acc` in place (as injection does). */
export async function replayLayer(o: ReplayOptions, l: QConvLayer, g: GemmOperands, acc: Int32Array, src: ProductSource): Promise<ReplayResult> {
  const R = o.rows;
  const { K, P, a } = g;
  const kFolds = Math.ceil(K / R);
  const n = kFolds * P;
  const err = new Float64Array(l.oc * P);
  const { prod, pad } = productOf(l, src);
  const prodCode = (f: number, k: number, x: number) => (k < K ? prod(f, k, x) : pad(f));
  let wrong = 0;
  const above = new Float64Array(P);
  for (let f = 0; f < l.oc; f++)
    for (let r = 0; r < R; r++) {
      // Vector 0 loads the first weight; vector 1 + i is operation i; the PE writes its weight
      // register one cycle before use (a weight written at vector v multiplies from v + 1), so
      // each vector presents the NEXT vector's weight; trailing vectors let the last word out.
      const lead = 1;
      const len = lead + n + o.target.latency;
      const s: PeStream = { a: new Uint8Array(len), b: new Uint8Array(len), psumIn: new Float64Array(len) };
      const weight = new Uint8Array(len);
      const correct = new Float64Array(n);
      for (let kf = 0; kf < kFolds; kf++) {
        const k = kf * R + r;
        above.fill(0);
        for (let kk = kf * R; kk < k; kk++) for (let m = 0; m < P; m++) above[m]! += prodCode(f, kk, kk < K ? a[kk * P + m]! : 0);
        const w = k < K ? l.weights[f * K + k]! & 0xff : 0;
        for (let m = 0; m < P; m++) {
          const i = kf * P + m;
          const x = k < K ? a[k * P + m]! : 0;
          s.a[lead + i] = x;
          weight[lead + i] = w;
          s.psumIn[lead + i] = wrapUnsigned(above[m]!, o.bits);
          correct[i] = wrapUnsigned(above[m]! + prodCode(f, k, x), o.bits);
        }
      }
      weight[0] = weight[lead]!;
      weight.fill(weight[lead + n - 1]!, lead + n);
      for (let v = 0; v < len; v++) s.b[v] = weight[Math.min(v + 1, len - 1)]!;
      const stim = targetStimulus(o.target, o.netlist, s);
      const res = await runTimedSimFast(o.netlist.tm, stim, { periodNs: o.periodNs, delayScale: o.delayScale });
      const got = res.outputs[o.target.word.port]!;
      for (let i = 0; i < n; i++) {
        const c = got[lead + i + o.target.latency]!;
        if (c === correct[i]) continue;
        wrong++;
        err[f * P + (i % P)]! += wrapSigned(c - correct[i]!, o.bits);
      }
    }
  if (wrong) addErrors(acc, err, l, P, R, o.bits, src);
  return { ops: l.oc * R * n, wrong };
}
