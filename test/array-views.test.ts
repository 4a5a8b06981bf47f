import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lintVerilog } from '../core/verilator.ts';
import { checkDesignXml, provePeViewsEquivalent } from '../generators/array/check.ts';
import { designLayout, generateViews, loadDesign, resolveDesign, writeDesign } from '../generators/array/index.ts';
import { REG } from '../generators/array/regmap.ts';
import { cycleModel } from '../mapping/cycle-model.ts';
import type { Mat8 } from '../mapping/gemm.ts';
import { gemmModel } from '../mapping/gemm-model.ts';
import { ArraySim } from '../sim/array.ts';
import { synthesize } from '../synth/yosys.ts';
import { runCli } from './helpers/cli.ts';
import { MIXED_3x5 } from './helpers/designs.ts';
import { seededMat } from './helpers/mat.ts';

const mat = seededMat;

const PE_8x8 = {
  rows: 8,
  cols: 8,
  map: { pe: Array.from({ length: 8 }, (_, r) => Array.from({ length: 8 }, (_, c) => ['exact_u8', 'drum_k6_u8', 'bam_h0_v8_u8'][(r + 2 * c) % 3]!)) },
};
const TILES = {
  rows: 4,
  cols: 4,
  tiles: [
    { name: 'big', cell: 'exact_u8' },
    {
      name: 'small',
      rows: 2,
      cols: 3,
      cell: 'drum_k4_u8',
      domains: {
        domains: [
          { name: 'a', columns: [0] },
          { name: 'b', columns: [1, 2] },
        ],
      },
    },
  ],
};
const MODES = { rows: 3, cols: 4, map: { modes: ['exact_u8', { column: ['drum_k6_u8', 'exact_u8', 'bam_h0_v8_u8', 'drum_k6_u8'] }] } };
const SIGNED = { rows: 2, cols: 7, psumBits: 16, map: { row: ['roup_p1_r4_s8', 'exact_s8'] } };
const ACC_ODD = { rows: 3, cols: 2, psumBits: 24, accEntries: 13, cell: 'exact_u8' };

describe('generated RTL is lint-clean (verilator --lint-only -Wall; waivers only for the documented spill wires, activity taps and the bodiless accumulator-memory black box)', () => {
  for (const [label, cfg] of Object.entries({ MIXED_3x5, PE_8x8, TILES, MODES, SIGNED, ACC_ODD })) {
    it(label, async () => {
      const design = resolveDesign(cfg);
      const plain = generateViews(design);
      const act = generateViews(design, { activity: true });
      for (const [view, src] of [
        ['synth', plain.synth],
        ['sim', plain.sim],
        ['sim+activity', act.sim],
        ['gate', plain.gate],
      ] as const) {
        const r = await lintVerilog(src, 'axtpu_top');
        expect(r.warnings, `${label} ${view}:\n${r.log}`).toEqual([]);
        expect(r.ok).toBe(true);
      }
    });
  }
});

describe('structure matches the config', () => {
  it('Verilator XML: every PE instantiates its configured cell(s), domains hold their columns', async () => {
    for (const cfg of [MIXED_3x5, PE_8x8, TILES, MODES]) {
      const design = resolveDesign(cfg);
      const r = await checkDesignXml(design);
      expect(r.problems).toEqual([]);
      expect(r.pesChecked).toBe(design.tiles.reduce((s, t) => s + t.rows * t.cols, 0));
      expect(r.domainsChecked).toBe(design.tiles.reduce((s, t) => s + t.domains.length, 0));
    }
    // The check is not vacuous: RTL of a different cell map is caught PE by PE.
    const design = resolveDesign(MIXED_3x5);
    const other = resolveDesign({ ...MIXED_3x5, map: { column: ['exact_u8', 'exact_u8', 'bam_h0_v8_u8', 'mitchell_u8', 'kulkarni_u8'] } });
    const bad = await checkDesignXml(design, generateViews(other).synth);
    expect(bad.problems.length).toBe(3); // column 1's three PEs
    expect(bad.problems[0]).toMatch(/u_col1\.u_pe\d: instantiates \[exact_u8\], config says \[drum_k6_u8\]/);
  });

  it('simulation-view PEs (fast weight mux) are proven equivalent to the synthesis PEs (Yosys equiv)', async () => {
    for (const cfg of [MIXED_3x5, MODES]) {
      const design = resolveDesign(cfg);
      const r = await provePeViewsEquivalent(design);
      expect(r.problems).toEqual([]);
      expect(r.proven.length).toBe(Object.keys(generateViews(design).synth).filter((n) => /^axtpu_pe\d+\.sv$/.test(n)).length);
      expect(r.proven.length).toBeGreaterThan(0);
    }
    // Not vacuous: a sim PE whose mux picks the wrong buffer is caught.
    const design = resolveDesign(MIXED_3x5);
    const sim = { ...generateViews(design).sim };
    sim['axtpu_pe0.sv'] = sim['axtpu_pe0.sv']!.replace('{w1, w0} >>', '{w0, w1} >>');
    expect(sim['axtpu_pe0.sv']).toContain('{w0, w1} >>');
    const bad = await provePeViewsEquivalent(design, sim);
    expect(bad.problems.length).toBe(1);
    expect(bad.problems[0]).toMatch(/^axtpu_pe0: /);
  });

  it('layout without rendering equals the rendered one; the register decoder comes from the register map', () => {
    for (const cfg of [TILES, MODES]) {
      const design = resolveDesign(cfg);
      const v = generateViews(design);
      expect(designLayout(design)).toEqual(v.layout);
      expect(v.layout.accModule).toEqual(design.tiles.map((t) => `axtpu_${t.name}_acc`));
      for (const t of design.tiles) {
        // The memory macro sits beside the accumulator logic in the tile (so the logic synthesizes alone).
        expect(v.synth[`${v.layout.accModule[t.index]}.sv`]).not.toMatch(new RegExp(`${v.layout.accMemModule[t.index]}\\s+u_`));
        expect(v.synth[`axtpu_tile_${t.name}.sv`]).toMatch(new RegExp(`${v.layout.accMemModule[t.index]} u_accmem`));
        expect(v.synth[`${v.layout.accMemModule[t.index]}.sv`]).toMatch(/\(\* blackbox \*\)\s*module/);
        expect(v.sim[`${v.layout.accMemModule[t.index]}.sv`]).toMatch(new RegExp(`mem \\[0:${design.accEntries - 1}\\]`));
      }
      const top = v.synth['axtpu_top.sv']!;
      const hex = (a: number) => a.toString(16).padStart(2, '0');
      expect(top).toContain(`if (cfg_addr == 8'h${hex(REG.kFoldLast.addr)}) kfold_last <=`);
      for (let d = 0; d < v.layout.domains.length; d++) expect(top).toContain(`if (cfg_addr == 8'h${hex(REG.domainLevel.addr + d)}) dom_level[`);
      expect(top.includes(`if (cfg_addr == 8'h${hex(REG.mode.addr)}) mode <=`)).toBe(design.modes > 1);
      expect(top.includes(`if (cfg_addr == 8'h${hex(REG.tile.addr)}) tile_sel <=`)).toBe(design.tiles.length > 1);
    }
  });

  it('UPF names every domain, its supply, levels and member instances', () => {
    for (const cfg of [MIXED_3x5, TILES]) {
      const design = resolveDesign(cfg);
      const v = generateViews(design);
      expect(v.layout.domains.length).toBeGreaterThan(0);
      for (const d of v.layout.domains) {
        const line = v.upf.split('\n').find((l) => l.startsWith(`create_power_domain PD_${d.supply} `));
        expect(line, d.name).toBeDefined();
        for (const m of d.members) expect(line).toContain(m);
        expect(d.members.length).toBe(d.columns.length);
        expect(v.upf).toContain(`create_supply_net  VDD_${d.supply} -domain PD_${d.supply}`);
        expect(v.upf).toContain(`set_domain_supply_net PD_${d.supply} -primary_power_net VDD_${d.supply} -primary_ground_net VSS`);
        for (const l of design.levels) expect(v.upf).toMatch(new RegExp(`add_port_state VDD_${d.supply}.*\\{ ${l.name} ${l.volts} \\}`));
      }
    }
  });

  it('the synthesis view never contains simulation hooks; the written file lists agree', async () => {
    const design = resolveDesign(MIXED_3x5);
    const v = generateViews(design, { activity: true });
    for (const [name, text] of Object.entries(v.synth)) {
      expect(text, name).not.toMatch(/inj_|dbg_|\$readmemh|\$value\$plusargs|axtpu_lut_pkg/);
    }
    expect(Object.values(v.sim).join('\n')).toMatch(/sim-only error-injection hook/);
    const dir = join(mkdtempSync(join(tmpdir(), 'axtpu-array-')), 'd');
    try {
      const w = await writeDesign(design, dir);
      const synthList = readFileSync(join(dir, 'synth.f'), 'utf8').trim().split('\n');
      expect(synthList.length).toBe(Object.keys(v.synth).length);
      for (const f of synthList) expect(readFileSync(join(dir, f), 'utf8')).not.toMatch(/inj_|dbg_|readmemh/);
      expect(readdirSync(join(dir, 'sim')).length).toBe(Object.keys(v.sim).length);
      expect(w.files).toContain(`${design.name}.upf`);
      expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).map.column[1]).toBe('drum_k6_u8');
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });
});

describe('simulation hooks', () => {
  // One activity build serves both tests (it carries the injection hook too).
  it('error injection: none at nominal level, reproducible per seed, only in the low-level domain', async () => {
    const design = resolveDesign(MIXED_3x5);
    const sim = await ArraySim.open(design, { activity: true });
    try {
      const pw = design.psumBits;
      await sim.setInjection([new Array(pw).fill(0), new Array(pw).fill(0.01)]);
      const A = mat(30, 7, 11);
      const W = mat(7, 10, 12);
      const ref = gemmModel(design, A, W);
      const nominal = await sim.gemm(A, W, { inject: true, levels: [0, 0], seed: 5 });
      expect(Array.from(nominal.out.raw)).toEqual(Array.from(ref.raw));
      const low1 = await sim.gemm(A, W, { inject: true, levels: [1, 0], seed: 5 });
      const low2 = await sim.gemm(A, W, { inject: true, levels: [1, 0], seed: 5 });
      const low3 = await sim.gemm(A, W, { inject: true, levels: [1, 0], seed: 6 });
      expect(Array.from(low1.out.raw)).toEqual(Array.from(low2.out.raw));
      expect(Array.from(low1.out.raw)).not.toEqual(Array.from(low3.out.raw));
      let flipped = 0;
      for (let i = 0; i < ref.raw.length; i++) {
        if (ref.raw[i] === low1.out.raw[i]) continue;
        flipped++;
        // Domain 'hi' = columns 0, 2, 4 of the 5-column array (output column n runs on n % 5).
        expect([0, 2, 4]).toContain((i % 10) % 5);
      }
      expect(flipped).toBeGreaterThan(10);
      expect(low1.cycles).toBe(nominal.cycles);
      // Without the inject flag the model is back to exact.
      const off = await sim.gemm(A, W, { levels: [1, 1], seed: 5 });
      expect(Array.from(off.out.raw)).toEqual(Array.from(ref.raw));
    } finally {
      await sim.close();
    }
  });

  it('activity counters: a delayed copy along rows, zero product toggles for zero activations', async () => {
    const design = resolveDesign(MIXED_3x5);
    const sim = await ArraySim.open(design, { activity: true });
    try {
      const r = await sim.gemm(mat(50, 3, 3), mat(3, 5, 4), { activity: true });
      const act = r.activity!;
      for (let row = 0; row < 3; row++)
        for (let c = 1; c < 5; c++) {
          expect(act.a[row]![c]).toBeGreaterThan(0);
          // Column c sees column 0's activations c cycles later; only the window edges differ.
          expect(Math.abs(act.a[row]![c]! - act.a[row]![0]!)).toBeLessThanOrEqual(8 * c);
        }
      for (let c = 0; c < 5; c++) expect(act.p[0]![c]).toBeGreaterThan(0);
      expect(act.b[0]![0]).toBeGreaterThan(0);
      // All-zero activations: no activation or product toggles (every cell maps (0, w) to 0).
      const zeros: Mat8 = { rows: 50, cols: 3, data: new Uint8Array(150) };
      const z = await sim.gemm(zeros, mat(3, 5, 4), { activity: true });
      expect(z.activity!.a.flat().every((x) => x === 0)).toBe(true);
      expect(z.activity!.p.flat().every((x) => x === 0)).toBe(true);
      expect(Array.from(z.out.raw).every((x) => x === 0)).toBe(true);
    } finally {
      await sim.close();
    }
  });

  it('VCD window from the trace build; gate-level view equals the LUT model', async () => {
    const design = resolveDesign({ rows: 2, cols: 2, map: { column: ['exact_u8', 'drum_k6_u8'] } });
    const dir = mkdtempSync(join(tmpdir(), 'axtpu-vcd-'));
    const A = mat(12, 5, 21);
    const W = mat(5, 4, 22);
    const ref = gemmModel(design, A, W);
    try {
      const traced = await ArraySim.open(design, { trace: true });
      const path = join(dir, 'w.vcd');
      const r = await traced.gemm(A, W, { trace: { from: 5, to: 15, path } });
      await traced.close();
      expect(Array.from(r.out.raw)).toEqual(Array.from(ref.raw));
      const vcd = readFileSync(path, 'utf8');
      expect(vcd).toContain('$enddefinitions');
      const stamps = [...vcd.matchAll(/^#(\d+)$/gm)].map((m) => Number(m[1]));
      expect(Math.min(...stamps)).toBe(10);
      expect(Math.max(...stamps)).toBe(29);
      const gate = await ArraySim.open(design, { view: 'gate' });
      const g = await gate.gemm(A, W);
      await gate.close();
      expect(Array.from(g.out.raw)).toEqual(Array.from(ref.raw));
      expect(g.cycles).toBe(cycleModel(design, 12, 5, 4).cycles);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cycle model', () => {
  it('double buffering beats SCALE-Sim by about R cycles per fold; efficiency definitions', () => {
    const design = resolveDesign({ rows: 16, cols: 16, cell: 'exact_u8' });
    const r = cycleModel(design, 256, 64, 64);
    expect(r.folds).toBe(16);
    // Steady state: one fold per max(M, R) cycles; plus the first block's buffer load (256 rows
    // x 4 K-folds, one word per cycle; SCALE-Sim assumes operands already on chip) and the drain.
    expect(r.cycles).toBe(256 * 4 + 16 * 256 + 31);
    expect(r.scaleSimCycles - (r.cycles - 256 * 4)).toBeGreaterThan(16 * 16);
    expect(r.mappingEfficiency).toBe(1);
    // 256 x 64 x 64 MACs on 256 PEs in 5151 cycles.
    expect(r.utilization).toBeCloseTo(4096 / 5151, 12);
    const partial = cycleModel(design, 8, 20, 20);
    expect(partial.mappingEfficiency).toBeCloseTo(400 / (4 * 256), 12);
  });
});

describe('synthesis (Yosys, synth/ flow)', () => {
  it('4x4 mixed-cell array synthesizes; area per PE reported', async () => {
    const design = resolveDesign({ rows: 4, cols: 4, map: { column: ['exact_u8', 'drum_k6_u8', 'bam_h0_v8_u8', 'mitchell_u8'] } });
    const v = generateViews(design);
    const r = await synthesize({ top: 'axtpu_top', sources: v.synth, flatten: false });
    const mult = ['exact_u8', 'drum_k6_u8', 'bam_h0_v8_u8', 'mitchell_u8'];
    for (const m of mult) expect(r.moduleAreas[m], m).toBeGreaterThan(1000);
    // Approximate cells are smaller than the exact one, synthesized the same way.
    expect(r.moduleAreas.bam_h0_v8_u8!).toBeLessThan(r.moduleAreas.exact_u8!);
    expect(r.areaUm2 / 16).toBeGreaterThan(r.moduleAreas.exact_u8! * 0.5);
    // The accumulator's adders and counters are synthesized; its memory stays a black-box macro.
    expect(r.moduleAreas[v.layout.accModule[0]!]).toBeGreaterThan(0);
    expect(r.moduleAreas[v.layout.accMemModule[0]!]).toBeUndefined();
    // So do the activation buffer and the weight FIFO; their controller is logic.
    expect(r.moduleAreas[v.layout.ubModule]).toBeUndefined();
    expect(r.moduleAreas[v.layout.wbufModule]).toBeUndefined();
    // (a parameterized module: Yosys names it $paramod\axtpu_memctl\HALF=...)
    const memctl = Object.entries(r.moduleAreas).find(([m]) => m.includes('axtpu_memctl'));
    expect(memctl?.[1]).toBeGreaterThan(0);
    const perPe = Object.fromEntries(mult.map((m) => [m, Math.round((r.moduleAreas.axtpu_pe0 ?? 0) + r.moduleAreas[m]!)]));
    console.log(`4x4 mixed array: total ${Math.round(r.areaUm2)} um^2, ${Math.round(r.areaUm2 / 16)} um^2 per PE overall; PE (regs+adder+mux) + cell:`, perPe);
  });
});

describe('CLI', () => {
  it('bad input -> one line, exit 2', async () => {
    const out = mkdtempSync(join(tmpdir(), 'axtpu-gen-'));
    try {
      const cases: [string[], RegExp][] = [
        [['gen', '--rows', '1', '--cols', '4', '--cell', 'exact_u8'], /--rows must be in 2..256/],
        [['gen', '--rows', '4', '--cols', '257', '--cell', 'exact_u8'], /--cols must be in 2..256/],
        [['gen', '--rows', '4', '--cols', '129', '--cell', 'exact_u8'], /4x129 array is beyond RTL generation \(at most 128x128\)/],
        [['gen', '--rows', '4', '--cols', '4', '--cell', 'nosuch_u8'], /unknown cell/],
        [['gen', '--rows', '4', '--cols', '4', '--map', '{"column":["exact_u8"]}'], /column map has 1 entries but the array has 4 columns/],
        [['gen', '--rows', '4', '--cols', '4', '--cell', 'exact_u8', '--domains', '{"domains":[{"name":"a","columns":[0,1,2,9]}]}'], /names column 9/],
        [['gen', '--rows', '4', '--cols', '4', '--map', '{bad'], /not valid JSON/],
        [['gen', '--rows', '4', '--cols', '4', '--map', '{"column":["exact_u8","exact_s8","exact_u8","exact_u8"]}'], /signedness/],
        [['sim', 'gemm', join(out, 'none'), '--M', '4', '--K', '4', '--N', '4'], /not a design directory/],
        [['gen', '--rows', '4', '--cols', '4', '--cell', 'exact_u8', '--acc-entries', '4'], /--acc-entries must be in 8\.\.65536/],
      ];
      for (const [args, msg] of cases) {
        const full = args[0] === 'gen' ? [...args, '--out', join(out, 'x')] : args;
        const r = await runCli(full, { AXTPU_RTL_OUT: out });
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr.trim().split('\n').length, r.stderr).toBe(1);
        expect(r.stderr).toMatch(msg);
        expect(existsSync(join(out, 'x')), 'no half-written output').toBe(false);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('gen writes a design; sim gemm reports equality and cycles', async () => {
    const out = mkdtempSync(join(tmpdir(), 'axtpu-gen-'));
    try {
      const dir = join(out, 'mixed');
      const g = await runCli([
        '--json',
        'gen',
        '--rows',
        '3',
        '--cols',
        '5',
        '--psum-bits',
        '20',
        '--map',
        JSON.stringify(MIXED_3x5.map),
        '--domains',
        JSON.stringify(MIXED_3x5.domains),
        '--out',
        dir,
      ]);
      // Same design as the injection/activity tests above, so --activity reuses their build.
      expect(g.code, g.stderr).toBe(0);
      expect(JSON.parse(g.stdout).tiles[0].domains).toEqual(['hi', 'lo']);
      expect(existsSync(join(dir, 'synth.f'))).toBe(true);
      const s = await runCli(['--json', 'sim', 'gemm', dir, '--M', '64', '--K', '100', '--N', '40', '--seed', '3', '--activity']);
      expect(s.code, s.stderr).toBe(0);
      const r = JSON.parse(s.stdout);
      expect(r.outputsEqual).toBe(true);
      expect(r.cyclesEqual).toBe(true);
      expect(r.cycles).toBe(r.cycleModel);
      expect(r.utilization).toBeGreaterThan(0.5);
      expect(r.activity).toHaveLength(5);

      // The folder must hold exactly what config.json generates: an edited .sv is refused, not ignored.
      expect(loadDesign(dir).name).toBe(r.design);
      const file = join(dir, 'sim', 'axtpu_top.sv');
      const original = readFileSync(file, 'utf8');
      appendFileSync(file, '// edited\n');
      const edited = await runCli(['sim', 'gemm', dir, '--M', '4', '--K', '4', '--N', '4']);
      expect(edited.code).toBe(2);
      expect(edited.stderr.trim().split('\n')).toEqual([expect.stringMatching(/sim\/axtpu_top\.sv differs/)]);
      writeFileSync(file, original);
      writeFileSync(join(dir, 'synth', 'extra.sv'), 'module extra; endmodule\n');
      expect(() => loadDesign(dir)).toThrow(/synth\/extra\.sv is not a generated file/);
      rmSync(join(dir, 'synth', 'extra.sv'));
      rmSync(join(dir, 'manifest.json'));
      expect(() => loadDesign(dir)).toThrow(/manifest\.json is missing/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
