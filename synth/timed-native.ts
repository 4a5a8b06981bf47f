import { buildAddon, loadAddon } from '../core/addon.ts';
import { render } from '../core/templates.ts';
import type { GateSimStimulus } from './gatesim.ts';
import { checkRun, newResult, runTimedSim, settle, stimulusBits, type TimedModel, type TimedOptions, type TimedResult } from './timed-sim.ts';

/**
 * The timed simulator's hot loop in C++ (templates/synth/timed_kernel.cpp.hbs, an N-API addon
 * built with g++ on first use and cached, core/addon.ts): the same algorithm and the same
 * floating-point operations as `runTimedSim`, which stays the reference and the fallback
 * (no g++ or Node headers, or AXTPU_TIMED_NATIVE=0). test/timed-sim.test.ts proves them equal.
 */
export interface TimedAddon {
  run(...args: unknown[]): boolean;
}

// No FMA contraction: a*b+c must round like JavaScript's two operations.
const FLAGS = ['-std=c++17', '-O3', '-march=native', '-ffp-contract=off', '-shared', '-fPIC', '-fvisibility=hidden', '-Wall'];
let addon: Promise<TimedAddon | null> | undefined;

export function timedNativeDisabled(): boolean {
  return process.env.AXTPU_TIMED_NATIVE === '0';
}

/** Build (cached) and load the kernel; null when it cannot be built (the JS kernel runs). */
export function prepareTimedNative(): Promise<TimedAddon | null> {
  if (timedNativeDisabled()) return Promise.resolve(null);
  addon ??= buildAddon({ kind: 'timed-native', name: 'axtpu_timed', source: render('synth/timed_kernel.cpp', {}), flags: FLAGS, version: 1 }).then(
    (b) => loadAddon<TimedAddon>(b.path),
    () => null,
  );
  return addon;
}

/** Flat arrays of a model for the kernel, built once per model. */
const packed = new WeakMap<TimedModel, unknown[]>();
function pack(m: TimedModel): unknown[] {
  let p = packed.get(m);
  if (!p) {
    const pwlOff = new Int32Array(m.arcs.length + 1);
    m.arcs.forEach((a, q) => {
      pwlOff[q + 1] = pwlOff[q]! + 5 * a.x.length;
    });
    const pwlData = new Float64Array(pwlOff[m.arcs.length]!);
    m.arcs.forEach((a, q) => {
      [a.x, a.riseD, a.fallD, a.riseS, a.fallS].forEach((arr, k) => {
        pwlData.set(arr, pwlOff[q]! + k * a.x.length);
      });
    });
    const clkq = new Float64Array(4 * m.fD.length);
    m.fClkQ.forEach((c, f) => {
      clkq.set([c.rise, c.fall, c.riseSlew, c.fallSlew], 4 * f);
    });
    p = [
      m.gOut,
      m.gInOff,
      m.gIn,
      new Int32Array(m.gTT.buffer, m.gTT.byteOffset, m.gTT.length),
      Int32Array.from(m.sense),
      m.arcRef,
      pwlOff,
      pwlData,
      m.fD,
      m.fQ,
      m.fQN,
      m.fArcQ,
      m.fArcQN,
      clkq,
      m.inNet,
      m.outNet,
    ];
    packed.set(m, p);
  }
  return p;
}

/** runTimedSim through the native kernel (the JS one when it is unavailable). */
export async function runTimedSimFast(m: TimedModel, stim: GateSimStimulus, o: TimedOptions): Promise<TimedResult> {
  const a = await prepareTimedNative();
  if (!a) return runTimedSim(m, stim, o);
  return runTimedSimNative(a, m, stim, o);
}

export function runTimedSimNative(a: TimedAddon, m: TimedModel, stim: GateSimStimulus, o: TimedOptions): TimedResult {
  const n = stim.n;
  const k = checkRun(n, o);
  const bits = stimulusBits(m, stim);
  const val0 = new Uint8Array(m.nNets);
  settle(m, bits, n, val0);
  const nn = m.gs.netIds.length;
  const r = newResult(m, n);
  const outVals = new Uint8Array(m.outNet.length * n);
  const stats = new Float64Array(2);
  const hdr = Int32Array.from([n, m.nNets, nn, m.gOut.length, m.fD.length, m.inNet.length, m.outNet.length, 0, 0]);
  const fhdr = Float64Array.from([o.periodNs, k, m.inputSlewNs]);
  a.run(hdr, fhdr, ...pack(m), bits, val0, r.rise, r.fall, r.ones, r.arcRise, r.arcFall, outVals, stats);
  r.transitions = stats[0]!;
  r.unsettled = stats[1]!;
  m.gs.outputBits.forEach((ob, q) => {
    const arr = r.outputs[ob.port]!;
    const w = 2 ** ob.bit;
    for (let v = 0; v < n; v++) if (outVals[q * n + v]) arr[v] = arr[v]! + w;
  });
  return r;
}
