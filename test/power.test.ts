import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIBERTY } from '../core/paths.ts';
import { gateBankCrossCheck } from '../synth/crosscheck.ts';
import { uniformStream, writeOperandStream } from '../synth/operand-stream.ts';
import { cellEnergy } from '../synth/power.ts';
import { defaultVoltageModel, voltageScale } from '../synth/voltage.ts';

const energyOf = async (id: string, opts = {}) => (await cellEnergy(id, { liberty: LIBERTY.osu018, ...opts })).energy.perOpPj.total;

describe('energy estimator', () => {
  it('exact 8x8 unsigned on osu018: plausible area and energy (~11,000 um^2, ~14 pJ/op)', async () => {
    const r = await cellEnergy('exact_u8', { liberty: LIBERTY.osu018 });
    // Measured: 10,812 um^2, 294 cells, 14.37 pJ/op (uniform 65,536 pairs, seed 1, 1.8 V).
    expect(r.areaUm2).toBeGreaterThan(10_000);
    expect(r.areaUm2).toBeLessThan(12_000);
    expect(r.energy.perOpPj.total).toBeGreaterThan(12);
    expect(r.energy.perOpPj.total).toBeLessThan(17);
    const e = r.energy.perOpPj;
    expect(e.internal).toBeGreaterThan(0);
    expect(e.switching).toBeGreaterThan(0);
    expect(e.inputSwitching).toBeGreaterThan(0);
    expect(e.clock).toBe(0);
    // At 100 MHz in 0.18 um, leakage is a sliver of the energy per op, but not zero.
    expect(e.leakage).toBeGreaterThan(0);
    expect(e.leakage).toBeLessThan(0.01 * e.total);
    // Twice the clock: the same switching per op, twice the dynamic power; the same leakage
    // power spread over half the period, so half the leakage energy per op.
    const fast = await cellEnergy('exact_u8', { liberty: LIBERTY.osu018, clockMHz: 200 });
    expect(fast.energy.perOpPj.dynamic).toBeCloseTo(e.dynamic, 9);
    expect(fast.energy.powerMw.internal).toBeCloseTo(2 * r.energy.powerMw.internal, 9);
    expect(fast.energy.powerMw.leakage).toBeCloseTo(r.energy.powerMw.leakage, 12);
    expect(fast.energy.perOpPj.leakage).toBeCloseTo(e.leakage / 2, 12);
    expect(r.energy.criticalPathNs).toBeGreaterThan(1);
    expect(r.energy.criticalPathNs).toBeLessThan(10);
    expect(r.stream).toEqual({ kind: 'uniform', pairs: 65536, seed: 1 });
  });

  it('energy falls as a family gets more aggressive (DRUM k 7->3, BAM v 4->10)', async () => {
    const drum = [];
    for (const k of [7, 6, 5, 4, 3]) drum.push(await energyOf(`drum_k${k}_u8`));
    for (let i = 1; i < drum.length; i++) expect(drum[i]!).toBeLessThan(drum[i - 1]!);
    const bam = [];
    for (const v of [4, 6, 8, 10]) bam.push(await energyOf(`bam_h0_v${v}_u8`));
    for (let i = 1; i < bam.length; i++) expect(bam[i]!).toBeLessThan(bam[i - 1]!);
  });

  it('scales with supply voltage by the documented model', async () => {
    const nom = await cellEnergy('drum_k6_u8', { liberty: LIBERTY.osu018 });
    const low = await cellEnergy('drum_k6_u8', { liberty: LIBERTY.osu018, vdd: 1.2 });
    const s = voltageScale(1.2, defaultVoltageModel(1.8));
    expect(low.energy.perOpPj.dynamic / nom.energy.perOpPj.dynamic).toBeCloseTo((1.2 / 1.8) ** 2, 9);
    expect(low.energy.criticalPathNs / nom.energy.criticalPathNs).toBeCloseTo(s.delay, 9);
    expect(s.delay).toBeGreaterThan(1.3);
    expect(low.energy.leakageNw).toBeLessThan(nom.energy.leakageNw);
    const alpha2 = await cellEnergy('drum_k6_u8', { liberty: LIBERTY.osu018, vdd: 1.2, voltageModel: { alpha: 2 } });
    expect(alpha2.energy.criticalPathNs).toBeGreaterThan(low.energy.criticalPathNs);
  });

  it('replays a stream file exactly like the same pairs given in memory; workload matters', async () => {
    const s = uniformStream(4096, 9);
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-power-'));
    const file = join(dir, 'w.ab');
    writeOperandStream(file, s);
    const a = await cellEnergy('exact_u8', { liberty: LIBERTY.osu018, stream: s });
    const b = await cellEnergy('exact_u8', { liberty: LIBERTY.osu018, streamFile: file });
    expect(b.stream).toMatchObject({ kind: 'file', pairs: 4096 });
    expect(b.energy.perOpPj).toEqual(a.energy.perOpPj);
    // Small activations (4-bit) toggle far less than uniform 8-bit codes.
    const small = { a: s.a.map((x) => x & 15), b: s.b };
    const c = await cellEnergy('exact_u8', { liberty: LIBERTY.osu018, stream: small });
    expect(c.energy.perOpPj.total).toBeLessThan(0.7 * a.energy.perOpPj.total);
    rmSync(dir, { recursive: true, force: true });
  });

  it('works on osu035 (3.3 V) too', async () => {
    const r = await cellEnergy('exact_u8', { liberty: LIBERTY.osu035 });
    expect(r.libraryName).toBe('osu035_stdcells');
    expect(r.energy.vdd).toBe(3.3);
    expect(r.areaUm2).toBeGreaterThan(30_000);
    expect(r.energy.perOpPj.total).toBeGreaterThan(20);
  });

  for (const [name, lib] of [
    ['osu018', LIBERTY.osu018],
    ['osu035', LIBERTY.osu035],
  ] as const) {
    it(`agrees with OpenSTA within 2 % on a gate bank without reconvergent fan-out (${name})`, async () => {
      const x = await gateBankCrossCheck({ liberty: lib });
      expect(x.cells.length).toBeGreaterThanOrEqual(10);
      expect(Math.abs(x.compare.internal.rel)).toBeLessThan(0.02);
      expect(Math.abs(x.compare.switching.rel)).toBeLessThan(0.02);
      expect(Math.abs(x.compare.leakage.rel)).toBeLessThan(0.02);
      expect(x.compare.internal.ours).toBeGreaterThan(0);
      expect(x.compare.switching.ours).toBeGreaterThan(0);
    });
  }

  it('--opensta path: runs sta on a multiplier netlist and reports both', async () => {
    const r = await cellEnergy('exact_u8', { liberty: LIBERTY.osu018, opensta: true, uniform: 8192 });
    const o = r.opensta!;
    expect(o.opensta.totalMw).toBeGreaterThan(0);
    // Same leakage model; dynamic parts differ (probabilistic vs simulated) but stay close here.
    expect(Math.abs(o.relDiff.leakage)).toBeLessThan(1e-3);
    expect(Math.abs(o.relDiff.switching)).toBeLessThan(0.25);
    expect(o.opensta.criticalPathNs).toBeGreaterThan(1);
  });
});
