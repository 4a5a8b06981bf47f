import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { xorshift32 } from '../core/rng.ts';
import { lintVerilog } from '../core/verilator.ts';
import { analyticalEstimate } from '../flow/analytical.ts';
import { synthesizeClockGate } from '../flow/gating.ts';
import { runFlow } from '../flow/run.ts';
import { checkDesignXml } from '../generators/array/check.ts';
import { generateViews, resolveDesign } from '../generators/array/index.ts';
import { REG } from '../generators/array/regmap.ts';
import { clockedColumnCycles } from '../mapping/clock-gating.ts';
import { foldPlan, gemmRegisterWrites, type Mat8 } from '../mapping/gemm.ts';
import { gemmModel } from '../mapping/gemm-model.ts';
import { placeModel } from '../mapping/place.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { ArraySim } from '../sim/array.ts';

/**
 * Clock gating (docs/array.md, Clock gating): outputs and cycles are those of the ungated array,
 * padding columns never clock, a busy column clocks exactly in the cycles mapping/clock-gating.ts
 * counts (checked on the RTL's own VCD), and the energy of LeNet-5 conv1 on 16x16 drops.
 */
const repo = join(import.meta.dirname, '..');
const sims: ArraySim[] = [];
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

function mat(rows: number, cols: number, next: () => number): Mat8 {
  return { rows, cols, data: Uint8Array.from({ length: rows * cols }, () => next() & 0xff) };
}

/** Values of the named signals (matched by scope-path suffix) at every VCD timestamp. */
function vcdSignals(text: string, wanted: string[]): Map<string, Map<number, number>> {
  const ids = new Map<string, string[]>();
  const scope: string[] = [];
  const lines = text.split('\n');
  let i = 0;
  for (; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l.startsWith('$scope')) scope.push(l.split(/\s+/)[2]!);
    else if (l.startsWith('$upscope')) scope.pop();
    else if (l.startsWith('$var')) {
      const f = l.split(/\s+/);
      const path = [...scope, f[4]!].join('.');
      const w = wanted.find((x) => path.endsWith(x));
      if (w) ids.set(f[3]!, [...(ids.get(f[3]!) ?? []), w]);
    } else if (l.startsWith('$enddefinitions')) break;
  }
  const cur = new Map<string, number>();
  const out = new Map<string, Map<number, number>>(wanted.map((w) => [w, new Map()]));
  let time = -1;
  const flush = () => {
    if (time >= 0) for (const w of wanted) out.get(w)!.set(time, cur.get(w) ?? 0);
  };
  for (; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (!l) continue;
    if (l[0] === '#') {
      flush();
      time = Number(l.slice(1));
    } else if (l[0] === 'b') {
      const [v, id] = l.slice(1).split(' ');
      for (const w of ids.get(id!) ?? []) cur.set(w, Number.parseInt(v!.replace(/[xz]/g, '0'), 2));
    } else if (l[0] === '0' || l[0] === '1') for (const w of ids.get(l.slice(1)) ?? []) cur.set(w, Number(l[0]));
  }
  flush();
  return out;
}

describe('clock gating', () => {
  it('registers: 0x03 holds the first padding column only when N < C', () => {
    const d = resolveDesign({ rows: 4, cols: 6, cell: 'exact_u8', clockGating: true });
    const w = (N: number) => gemmRegisterWrites(d, foldPlan(d, 0, 10, 9, N), { tile: 0, mode: 0, nDomains: 1 }).filter((x) => x.addr === REG.colGateFrom.addr);
    expect(w(2)).toEqual([{ addr: REG.colGateFrom.addr, data: 2 }]);
    expect(w(6)).toEqual([]);
    expect(w(13)).toEqual([]);
    const plain = resolveDesign({ rows: 4, cols: 6, cell: 'exact_u8' });
    expect(gemmRegisterWrites(plain, foldPlan(plain, 0, 10, 9, 2), { tile: 0, mode: 0, nDomains: 1 }).some((x) => x.addr === REG.colGateFrom.addr)).toBe(false);
    // The gate is its own module in every view; the ungated design has none.
    const v = generateViews(d);
    for (const view of [v.synth, v.sim, v.gate]) expect(view['axtpu_clkgate.sv']).toContain('always_latch');
    expect(generateViews(plain).synth['axtpu_clkgate.sv']).toBeUndefined();
  });

  it('gated designs are lint-clean in every view (two tiles, 2 domains, 3 modes)', async () => {
    const configs = [
      {
        rows: 4,
        cols: 4,
        tiles: [
          { name: 'big', cell: 'exact_u8' },
          { name: 'small', rows: 2, cols: 3, cell: 'drum_k4_u8' },
        ],
      },
      {
        rows: 3,
        cols: 5,
        map: { modes: ['exact_u8', 'kulkarni_u8', 'drum_k6_u8'] },
        domains: {
          domains: [
            { name: 'hi', columns: [0, 2, 4] },
            { name: 'lo', columns: [1, 3] },
          ],
        },
      },
    ];
    for (const cfg of configs) {
      const design = resolveDesign({ ...cfg, clockGating: true });
      const plain = generateViews(design);
      for (const [view, src] of [
        ['synth', plain.synth],
        ['sim', plain.sim],
        ['sim+activity', generateViews(design, { activity: true }).sim],
        ['gate', plain.gate],
      ] as const) {
        const r = await lintVerilog(src, 'axtpu_top');
        expect(r.warnings, `${view}:\n${r.log}`).toEqual([]);
        expect(r.ok).toBe(true);
      }
      // The gate does not hide a PE from the structure check (every PE still holds its cells).
      const xml = await checkDesignXml(design);
      expect(xml.problems).toEqual([]);
      expect(xml.pesChecked).toBe(design.tiles.reduce((n, t) => n + t.rows * t.cols, 0));
    }
  });

  it('gated RTL == gemmModel and the ungated RTL (outputs, cycles); padding columns never clock; busy columns clock as counted', async () => {
    // test/array.test.ts's runtime-mode design (its ungated build is shared through the cache).
    const base = { rows: 3, cols: 4, map: { modes: ['exact_u8', { column: ['drum_k6_u8', 'exact_u8', 'bam_h0_v8_u8', 'drum_k6_u8'] }, 'kulkarni_u8'] } };
    const gated = resolveDesign({ ...base, clockGating: true });
    const plain = resolveDesign(base);
    const [g, p] = await Promise.all([ArraySim.open(gated, { trace: true }), ArraySim.open(plain)]);
    sims.push(g, p);
    const next = xorshift32(0x9a7e);
    let padded = 0;
    for (let i = 0; i < 24; i++) {
      const mode = i % 3;
      const M = 1 + (next() % 20);
      const K = 1 + (next() % 11);
      const N = 1 + (next() % 11);
      if (N < 4) padded++;
      const A = mat(M, K, next);
      const W = mat(K, N, next);
      const [rg, rp] = await Promise.all([g.gemm(A, W, { mode }), p.gemm(A, W, { mode })]);
      const ref = gemmModel(gated, A, W, { mode });
      const where = `case ${i} mode ${mode} M=${M} K=${K} N=${N}`;
      expect(Array.from(rg.out.raw), where).toEqual(Array.from(ref.raw));
      expect(rg.cycles, where).toBe(rp.cycles);
    }
    expect(padded).toBeGreaterThanOrEqual(6);

    // One GEMM with 2 real and 2 padding columns and 3 K-folds, traced whole.
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-cg-'));
    try {
      const A = mat(12, 7, next);
      const W = mat(7, 2, next);
      const path = join(dir, 'g.vcd');
      const r = await g.gemm(A, W, { trace: { from: 0, to: 100_000, path } });
      expect(Array.from(r.out.raw)).toEqual(Array.from(gemmModel(gated, A, W).raw));
      const names = ['u_tile0.a_fire', 'u_tile0.we_c0', ...Array.from({ length: 4 }, (_, c) => `u_col${c}.gclk`)];
      const sig = vcdSignals(readFileSync(path, 'utf8'), names);
      const at = (s: string, t: number) => sig.get(s)!.get(t) ?? 0;
      // Cycle c: combinational values at time 2c (clock low), the clock edge at 2c + 1.
      const fires: number[] = [];
      const writes: number[] = [];
      for (let c = 0; c < r.cycles; c++) {
        if (at('u_tile0.a_fire', 2 * c)) fires.push(c);
        if (at('u_tile0.we_c0', 2 * c)) writes.push(c);
      }
      expect(fires.length).toBe(3 * 12);
      // The RTL's fold runs (contiguous fires) as the cycle model describes them.
      const streamStart: number[] = [];
      const streamEnd: number[] = [];
      for (const f of fires) {
        if (streamEnd.length && f === streamEnd[streamEnd.length - 1]! + 1) streamEnd[streamEnd.length - 1] = f;
        else {
          streamStart.push(f);
          streamEnd.push(f);
        }
      }
      const expected = clockedColumnCycles({ streamStart, streamEnd, weightRowTaken: Float64Array.from(writes) }, 3);
      const edges = (c: number) => {
        let n = 0;
        for (let t = 0; t < r.cycles; t++) if (at(`u_col${c}.gclk`, 2 * t + 1) && !at(`u_col${c}.gclk`, 2 * t)) n++;
        return n;
      };
      expect(edges(0)).toBe(expected);
      expect(edges(1)).toBe(expected);
      for (let c = 2; c < 4; c++) expect(edges(c), `padding column ${c}`).toBe(0);
      expect(expected).toBeLessThan(r.cycles);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('LeNet-5 on 16x16: gated RTL == engine; conv1 energy drops; gate area reported', async () => {
    const model = join(repo, 'models/lenet5-fmnist.onnx');
    const config = { rows: 16, cols: 16, cell: 'exact_s8' };
    const r = await runFlow({ model, design: { ...config, clockGating: true }, limit: 20, batch: 20, activity: 'off', noEnergy: true, write: false });
    expect(r.images).toBe(20);
    expect(r.layerMismatches).toBe(0);
    expect(r.predMismatches).toBe(0);
    const ds = limitDataset(loadDataset('fmnist', 'test'), 20);
    const energy = async (clockGating: boolean) => {
      const design = resolveDesign({ ...config, clockGating });
      const { model: q } = await loadQuantModelFor(model, 'signed');
      return analyticalEstimate(q, design, placeModel(q, design), ds, 20);
    };
    const [off, on] = [await energy(false), await energy(true)];
    const c1Off = off.layers[0]!;
    const c1On = on.layers[0]!;
    expect(c1On.layer).toBe('/c1/Conv');
    expect(c1On.cycles).toBe(c1Off.cycles);
    // conv1: 6 filters on 16 columns, 10 padding columns gated for the whole layer.
    expect(c1On.clockedColumnCycles).toBeLessThan((6 / 16) * c1Off.clockedColumnCycles);
    expect(c1On.energy!.cellPj).toBe(c1Off.energy!.cellPj);
    expect(c1On.energy!.totalPj).toBeLessThan(0.8 * c1Off.energy!.totalPj);
    expect(c1On.energy!.clockGatePj).toBeGreaterThan(0);
    const g = on.ops.gating!['/c1/Conv']!;
    expect(g.gatedPe).toBeGreaterThanOrEqual(0);
    expect(g.gateOn).toBeGreaterThan(g.gateOff);
    // Every layer at least as cheap gated (clock gates cost less than the idle clock they stop).
    on.layers.forEach((l, i) => {
      expect(l.energy!.totalPj).toBeLessThanOrEqual(off.layers[i]!.energy!.totalPj);
    });
    const gate = await synthesizeClockGate(on.ops.liberty);
    expect(gate.cellsByType).toMatchObject({ LATCH: 1, AND2X1: 1 });
    expect(g.gateAreaUm2).toBe(gate.areaUm2);
  });
});
