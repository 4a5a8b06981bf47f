import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIBERTY } from '../core/paths.ts';
import { xorshift32 } from '../core/rng.ts';
import {
  calibratedModel,
  characterize,
  designTargets,
  inputToggles,
  layerStream,
  staCrossCheck,
  targetStimulus,
  timedNetlist,
  uniformPeStream,
  vosSubject,
} from '../flow/vos.ts';
import { resolveDesign, writeDesign } from '../generators/array/index.ts';
import { getCell } from '../generators/multipliers/index.ts';
import { buildGateSim, type GateSimStimulus, runGateSim } from '../synth/gatesim.ts';
import { loadLiberty } from '../synth/liberty.ts';
import { uniformStream } from '../synth/operand-stream.ts';
import { cellStimulus, synthesizeCell } from '../synth/power.ts';
import { prepareTimedNative, runTimedSimFast, runTimedSimNative } from '../synth/timed-native.ts';
import { buildTimedModel, runTimedSim, runTimedSimReference, timingBound } from '../synth/timed-sim.ts';
import { defaultVoltageModel, voltageScale } from '../synth/voltage.ts';
import { fitAndChoose } from '../synth/vos-model.ts';
import { runCli } from './helpers/cli.ts';

const lib = loadLiberty(LIBERTY.osu018);
const ELEC = { outputLoadPf: 0, inputSlewNs: 0.1 };

/** Vectors [s, s + len) of a stimulus (one gatesim lane). */
function slice(stim: GateSimStimulus, s: number, len: number): GateSimStimulus {
  const ports: GateSimStimulus['ports'] = {};
  for (const [k, v] of Object.entries(stim.ports))
    ports[k] = 'words' in v ? { words: v.words, data: v.data.subarray(s * v.words, (s + len) * v.words) } : v.subarray(s, s + len);
  return { n: len, ports };
}

const exactPe = () => designTargets(resolveDesign({ rows: 4, cols: 4, cell: 'exact_u8' }))[0]!;

describe('timed gate-level simulator', () => {
  it('with every delay zero it reproduces the zero-delay simulator exactly (cell over 32 lanes, PE)', async () => {
    const cell = getCell('exact_u8');
    const gs = buildGateSim((await synthesizeCell(cell, LIBERTY.osu018)).netlist, lib);
    const tm = buildTimedModel(gs, ELEC);
    const n = 4096;
    const stim = cellStimulus(cell, uniformStream(n, 5));
    const zd = runGateSim(gs, stim, { outputs: true });
    // gatesim runs 32 lanes of consecutive vectors, each starting settled: run each lane alone.
    const steps = n / 32;
    const rise = new Float64Array(gs.netIds.length);
    const fall = new Float64Array(gs.netIds.length);
    for (let lane = 0; lane < 32; lane++) {
      const r = runTimedSim(tm, slice(stim, lane * steps, steps), { periodNs: 5, delayScale: 0 });
      for (let i = 0; i < rise.length; i++) {
        rise[i] = rise[i]! + r.rise[i]!;
        fall[i] = fall[i]! + r.fall[i]!;
      }
      for (let v = 0; v < steps; v++) expect(r.outputs.p![v]).toBe(zd.outputs!.p![lane * steps + v]);
    }
    expect(Array.from(rise)).toEqual(Array.from(zd.rise));
    expect(Array.from(fall)).toEqual(Array.from(zd.fall));
    expect(zd.rise.reduce((a, b) => a + b, 0)).toBeGreaterThan(10_000);

    // A PE: flip-flops, weight registers and the psum adder, one lane (< 128 vectors).
    const t = exactPe();
    const pe = await timedNetlist(t, LIBERTY.osu018);
    const ps = targetStimulus(t, pe, uniformPeStream(120, t.psumBits, 3));
    const g = runGateSim(pe.gs, ps, { outputs: true });
    const z = runTimedSim(pe.tm, ps, { periodNs: 10, delayScale: 0 });
    expect(Array.from(z.rise)).toEqual(Array.from(g.rise));
    expect(Array.from(z.fall)).toEqual(Array.from(g.fall));
    expect(Array.from(z.ones)).toEqual(Array.from(g.ones));
    for (const port of Object.keys(g.outputs!)) expect(Array.from(z.outputs[port]!)).toEqual(Array.from(g.outputs![port]!));
    expect(pe.gs.sequentialCells).toBeGreaterThan(40);
  }, 120_000);

  it('the fast kernel equals the event-queue reference transition for transition, settled or not', async () => {
    for (const id of ['exact_u8', 'drum_k6_u8']) {
      const cell = getCell(id);
      const gs = buildGateSim((await synthesizeCell(cell, LIBERTY.osu018)).netlist, lib);
      const tm = buildTimedModel(gs, ELEC);
      const stim = cellStimulus(cell, uniformStream(300, 9));
      const bound = timingBound(tm).criticalPathNs;
      for (const f of [1.2, 0.7, 0.35]) {
        const a = runTimedSim(tm, stim, { periodNs: bound * f, delayScale: 1 });
        const b = runTimedSimReference(tm, stim, { periodNs: bound * f, delayScale: 1 });
        expect({ id, f, t: a.transitions, u: a.unsettled }).toEqual({ id, f, t: b.transitions, u: b.unsettled });
        expect(Array.from(a.rise)).toEqual(Array.from(b.rise));
        expect(Array.from(a.fall)).toEqual(Array.from(b.fall));
        expect(Array.from(a.arcRise)).toEqual(Array.from(b.arcRise));
        expect(Array.from(a.outputs.p!)).toEqual(Array.from(b.outputs.p!));
        if (f < 1) expect(a.unsettled).toBeGreaterThan(0);
      }
    }
    // The PE (flip-flop launch, carry-over between windows) at a period where it fails.
    const t = exactPe();
    const pe = await timedNetlist(t, LIBERTY.osu018);
    const ps = targetStimulus(t, pe, uniformPeStream(200, t.psumBits, 4));
    // Random operands rarely run the psum adder's whole carry chain: the PE settles well inside
    // its static bound, so the failing period is far below it.
    const a = runTimedSim(pe.tm, ps, { periodNs: pe.staticNs * 0.3 });
    const b = runTimedSimReference(pe.tm, ps, { periodNs: pe.staticNs * 0.3 });
    expect(Array.from(a.rise)).toEqual(Array.from(b.rise));
    expect(Array.from(a.outputs.psum_out!)).toEqual(Array.from(b.outputs.psum_out!));
    expect(a.unsettled).toBeGreaterThan(0);
    // The native kernel (C++ addon): the same transitions, arcs, samples and outputs.
    const addon = await prepareTimedNative();
    expect(addon).not.toBeNull();
    for (const f of [1, 0.3]) {
      const js = runTimedSim(pe.tm, ps, { periodNs: pe.staticNs * f });
      const nat = runTimedSimNative(addon!, pe.tm, ps, { periodNs: pe.staticNs * f });
      expect({ t: nat.transitions, u: nat.unsettled }).toEqual({ t: js.transitions, u: js.unsettled });
      for (const key of ['rise', 'fall', 'ones', 'arcRise', 'arcFall'] as const) expect(Array.from(nat[key])).toEqual(Array.from(js[key]));
      expect(Array.from(nat.outputs.psum_out!)).toEqual(Array.from(js.outputs.psum_out!));
    }
  }, 120_000);

  it('the clock at timing closure agrees with OpenSTA report_checks within 5 % (PE and cell)', async () => {
    const t = exactPe();
    const pe = await timedNetlist(t, LIBERTY.osu018);
    const c = await staCrossCheck(pe, LIBERTY.osu018);
    expect(Math.abs(c.relDiff)).toBeLessThan(0.05);
    expect(c.oursNs).toBeGreaterThan(1);
    const cc = await staCrossCheck(await timedNetlist(vosSubject('drum_k6_u8').targets[0]!, LIBERTY.osu018), LIBERTY.osu018);
    expect(Math.abs(cc.relDiff)).toBeLessThan(0.05);
  }, 180_000);

  it('at nominal voltage and the default clock: no error on LeNet-5 layer streams (exact and two approximate PEs)', async () => {
    for (const id of ['exact_u8', 'drum_k6_u8', 'bam_h0_v8_u8']) {
      const design = resolveDesign({ rows: 16, cols: 16, cell: id });
      const t = designTargets(design)[0]!;
      const n = await timedNetlist(t, LIBERTY.osu018);
      const stim = targetStimulus(t, n, await layerStream(id, design, 20_000));
      const golden = await runTimedSimFast(n.tm, stim, { periodNs: n.staticNs, delayScale: 0 });
      const timed = await runTimedSimFast(n.tm, stim, { periodNs: n.staticNs, delayScale: 1 });
      let wrong = 0;
      for (let v = 0; v < stim.n; v++) if (timed.outputs.psum_out![v] !== golden.outputs.psum_out![v]) wrong++;
      expect({ id, wrong }).toEqual({ id, wrong: 0 });
      expect(timed.transitions).toBeGreaterThan(golden.transitions);
    }
  }, 240_000);

  it('sound against static timing over a 10-step sweep; error rate monotone and MSBs first', async () => {
    const r = await characterize('exact_u8', {
      levels: [1.8, 1.74, 1.68, 1.62, 1.56, 1.5, 1.44, 1.38, 1.32, 1.26],
      stream: 'uniform',
      margin: 0.1,
      ops: 6000,
      liberty: LIBERTY.osu018,
      opensta: false,
    });
    const lv = r.targets[0]!.levels;
    for (const l of lv) if (l.staticFits) expect({ v: l.volts, wrong: l.wrongOps }).toEqual({ v: l.volts, wrong: 0 });
    expect(lv.filter((l) => l.staticFits).length).toBeGreaterThanOrEqual(3);
    expect(lv[lv.length - 1]!.wrongOps).toBeGreaterThan(20);
    // Monotone within sampling noise: a drop of more than 3 binomial sigmas fails.
    for (let i = 1; i < lv.length; i++) {
      const p = lv[i - 1]!.errorRate;
      const sigma = Math.sqrt(Math.max(p, 1 / lv[i]!.ops) / lv[i]!.ops);
      expect(lv[i]!.errorRate).toBeGreaterThanOrEqual(p - 3 * sigma);
    }
    // The first voltage with errors: every flipped bit is in the upper half of the product.
    const first = lv.find((l) => l.wrongOps > 0)!;
    const flipped = first.bitFlip.flatMap((p, i) => (p > 0 ? [i] : []));
    expect(Math.min(...flipped)).toBeGreaterThanOrEqual(8);
  }, 120_000);

  it('calibration: a second liberty corner fits the alpha-power law; one corner keeps the defaults', async () => {
    // The corner: osu018 re-characterized "at 1.5 V" by scaling every delay table by what the
    // alpha-power law with alpha 1.6 predicts there (slews kept, so the path scales exactly).
    const vm = defaultVoltageModel(1.8);
    const f = voltageScale(1.5, { ...vm, alpha: 1.6 }).delay;
    const text = readFileSync(LIBERTY.osu018, 'utf8')
      .replace(/nom_voltage\s*:\s*1\.8\s*;/, 'nom_voltage : 1.5;')
      .replace(
        /(cell_(?:rise|fall)\s*\([^)]*\)\s*\{[^}]*?values\s*\()([^;]*)(\);)/g,
        (_m, a: string, body: string, c: string) => a + body.replace(/\d+\.?\d*(?:e-?\d+)?/gi, (x) => String(Number(x) * f)) + c,
      );
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-corner-'));
    const corner = join(dir, 'osu018_1v5.lib');
    writeFileSync(corner, text);
    try {
      const n = await timedNetlist(vosSubject('exact_u8').targets[0]!, LIBERTY.osu018);
      const fit = calibratedModel(n, lib, [corner], vm);
      expect(fit.fitted).toBe(true);
      expect(fit.model.alpha).toBeCloseTo(1.6, 2);
      expect(calibratedModel(n, lib, [], vm)).toEqual({ model: vm, fitted: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('vos characterize (CLI): table, models JSON with the documented schema, SVG, atomic output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-vos-cli-'));
    try {
      const out = join(dir, 'vos');
      const r = await runCli(['vos', 'characterize', 'exact_u8', '--levels', '1.8,1.2', '--stream', 'uniform', '--ops', '1500', '--no-opensta', '--out', out]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/best model/);
      const j = JSON.parse(readFileSync(join(out, 'vos-models.json'), 'utf8'));
      expect(j.schema).toBe('axtpu-vos-models/1');
      expect(j.calibration).toBe('default');
      const t = j.targets[0];
      expect(t.word).toEqual({ port: 'p', bits: 16, signed: false });
      expect(t.levels.map((l: { volts: number }) => l.volts)).toEqual([1.8, 1.2]);
      expect(t.levels[0].wrongOps).toBe(0);
      expect(t.levels[1].wrongOps).toBeGreaterThan(0);
      expect(Object.keys(t.levels[1].fit.models).sort()).toEqual(['bit-flip', 'conditional', 'rate-histogram']);
      expect(readFileSync(join(out, 'vos.svg'), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*<polyline[\s\S]*<\/svg>\s*$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('power --timed of a design (CLI): per distinct PE, timed vs zero-delay energy on its layer stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-pe-glitch-'));
    try {
      const d = join(dir, 'd');
      await writeDesign(resolveDesign({ rows: 2, cols: 2, map: { column: ['exact_u8', 'drum_k6_u8'] } }), d);
      const r = await runCli(['power', '--timed', d, '--ops', '600', '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.stream).toEqual({ kind: 'layer', ops: 600 });
      expect(j.rows.map((x: { cell: string }) => x.cell)).toEqual(['exact_u8', 'drum_k6_u8']);
      expect(new Set(j.rows.map((x: { module: string }) => x.module)).size).toBe(2);
      for (const x of j.rows) {
        // Clocked at its own closure at nominal: no wrong word, and glitches only add transitions.
        expect(x.periodNs).toBe(x.criticalPathNs);
        expect(x.wrongOps).toBe(0);
        expect(x.transitionsPerOp).toBeGreaterThan(x.zeroDelayTransitionsPerOp);
        expect(x.zeroDelayPj).toBeGreaterThan(0);
        expect(x.timedPj).toBeGreaterThan(x.zeroDelayPj);
        expect(x.glitchShare).toBeCloseTo((x.timedPj - x.zeroDelayPj) / x.timedPj, 12);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('error models: held-out log-likelihood picks a model; toggles count input bits', () => {
    const obs = [];
    // Bit 12 flips in 5 % of operations, independently of everything: bit-flip or histogram fit.
    const next = xorshift32(7);
    for (let i = 0; i < 4000; i++) {
      const c = next() & 0xffff;
      obs.push({ correct: c, captured: next() % 20 === 0 ? c ^ (1 << 12) : c, toggles: next() % 9 });
    }
    const f = fitAndChoose(obs, 16);
    expect(f.models['bit-flip'].p[12]).toBeCloseTo(0.05, 2);
    expect(f.models['bit-flip'].p[3]).toBe(0);
    expect(f.heldOutLogLik[f.best]).toBeGreaterThanOrEqual(Math.max(...Object.values(f.heldOutLogLik)));
    const t = inputToggles({ n: 3, ports: { a: Uint8Array.from([0, 3, 1]), b: Uint8Array.from([0, 0, 255]) } });
    expect(Array.from(t)).toEqual([0, 2, 9]);
  });
});
