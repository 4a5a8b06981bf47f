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
  addon ??= buildAddon({ kind: 'timed-native', name: 'axtpu_timed', source: render('synth/timed_kernel.cpp', {}), flags: FLAGS, version: 2 }).then(
    (b) => loadAddon<TimedAddon>(b.path),
    () => null,
  );
  return addon;
}

/** Flat arrays of a model for the kernel, built once per model. */
const packed = new WeakMap<TimedModel, { model: unknown[]; out: unknown[] }>();
function pack(m: TimedModel): { model: unknown[]; out: unknown[] } {
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
    const model = [
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
    // Output bit q adds outWeight[q] = 2^bit to the word of port outPort[q] (outPorts order).
    const ports = outPorts(m);
    const out = [Int32Array.from(m.gs.outputBits, (ob) => ports.indexOf(ob.port)), Float64Array.from(m.gs.outputBits, (ob) => 2 ** ob.bit)];
    p = { model, out };
    packed.set(m, p);
  }
  return p;
}

/** Output ports in newResult's order: the rows of the kernel's output words. */
function outPorts(m: TimedModel): string[] {
  return [...new Set(m.gs.outputBits.map((ob) => ob.port))];
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
  const ports = outPorts(m);
  const outWords = new Float64Array(ports.length * n);
  const stats = new Float64Array(2);
  const hdr = Int32Array.from([n, m.nNets, nn, m.gOut.length, m.fD.length, m.inNet.length, m.outNet.length, 0, 0]);
  const fhdr = Float64Array.from([o.periodNs, k, m.inputSlewNs]);
  const p = pack(m);
  a.run(hdr, fhdr, ...p.model, bits, val0, r.rise, r.fall, r.ones, r.arcRise, r.arcFall, ...p.out, outWords, stats);
  r.transitions = stats[0]!;
  r.unsettled = stats[1]!;
  ports.forEach((port, row) => {
    r.outputs[port] = outWords.subarray(row * n, (row + 1) * n);
  });
  return r;
}
