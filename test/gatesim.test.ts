import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.ts';
import { LIBERTY } from '../core/paths.ts';
import { getCell } from '../generators/multipliers/index.ts';
import { bankStimulus, gateBank } from '../synth/bank.ts';
import { estimateEnergy } from '../synth/energy.ts';
import { buildGateSim, runGateSim } from '../synth/gatesim.ts';
import { loadLiberty, parseLiberty } from '../synth/liberty.ts';
import { checkCellNetlist, synthesizeCell } from '../synth/power.ts';
import { synthesize } from '../synth/yosys.ts';

const lib = loadLiberty(LIBERTY.osu018);

describe('gate-level simulator', () => {
  // The netlist is the function: exact and approximate cells, unsigned and signed, all pairs.
  for (const id of ['exact_u8', 'drum_k6_u8', 'bam_h0_v8_u8', 'roup_p1_r4_s8', 'exact_s8']) {
    it(`${id}: mapped netlist == cell model on all 65,536 pairs`, async () => {
      const cell = getCell(id);
      const s = await synthesizeCell(cell, LIBERTY.osu018);
      const check = checkCellNetlist(cell, buildGateSim(s.netlist, lib));
      expect(check.pairs).toBe(65536);
      expect(check.first).toBeUndefined();
      expect(check.mismatches).toBe(0);
    });
  }

  it('counts rise and fall transitions exactly (zero delay) on a gate bank', async () => {
    const bank = gateBank(lib, ['INVX1', 'NAND2X1', 'XOR2X1']);
    const s = await synthesize({ top: bank.top, sources: { 'bank.v': bank.verilog }, liberty: LIBERTY.osu018 });
    const m = buildGateSim(s.netlist, lib);
    const n = 4000; // >= 2048 vectors: 32 lanes
    const stim = bankStimulus(bank, n, 3);
    const r = runGateSim(m, stim, { outputs: true });
    const netOf = (port: string) => m.netIndex.get(s.netlist.ports.find((p) => p.name === port)!.bits[0] as number)!;
    // Reference: count transitions of each output between consecutive vectors inside each lane.
    const steps = Math.ceil(n / 32);
    const ref = (f: (i: number) => number) => {
      let rise = 0;
      let fall = 0;
      for (let v = 1; v < n; v++) {
        if (v % steps === 0) continue; // lane boundary: not a counted interval
        const x0 = f(v - 1);
        const x1 = f(v);
        if (x1 > x0) rise++;
        if (x1 < x0) fall++;
      }
      return { rise, fall };
    };
    const p = (name: string) => stim.ports[name] as Uint8Array;
    const cases: [string, (i: number) => number][] = [
      ['g0_INVX1_Y', (i) => 1 - p('g0_INVX1_A')[i]!],
      ['g1_NAND2X1_Y', (i) => 1 - (p('g1_NAND2X1_A')[i]! & p('g1_NAND2X1_B')[i]!)],
      ['g2_XOR2X1_Y', (i) => p('g2_XOR2X1_A')[i]! ^ p('g2_XOR2X1_B')[i]!],
    ];
    for (const [port, f] of cases) {
      const want = ref(f);
      expect({ port, rise: r.rise[netOf(port)], fall: r.fall[netOf(port)] }).toEqual({ port, ...want });
      for (let i = 0; i < n; i++) expect(r.outputs![port]![i]).toBe(f(i));
    }
    expect(r.intervals).toBe(n - 32);
    // A short stream runs in fewer lanes: 10 vectors -> one lane, 9 counted transitions.
    const short = runGateSim(m, bankStimulus(bank, 10, 3));
    expect(short.intervals).toBe(9);
  });

  it('simulates flip-flops from liberty ff groups (one step = one clock cycle)', async () => {
    // 4-bit accumulator q <= q + d: state feeds back, so lanes really run cycle by cycle.
    const src = `module acc4(input clk, input [3:0] d, output reg [3:0] q);
      always @(posedge clk) q <= q + d;
    endmodule`;
    const s = await synthesize({ top: 'acc4', sources: { 'acc4.v': src }, liberty: LIBERTY.osu018 });
    expect(Object.keys(s.cellsByType)).toContain('DFFPOSX1');
    const m = buildGateSim(s.netlist, lib);
    expect(m.clockPorts).toEqual(['clk']);
    expect(m.sequentialCells).toBe(4);
    const n = 32 * 64;
    const d = new Uint8Array(n);
    for (let i = 0; i < n; i++) d[i] = (i * 7 + 3) & 15;
    const r = runGateSim(m, { n, ports: { d } }, { outputs: true });
    const steps = n / 32;
    for (let lane = 0; lane < 32; lane++) {
      let q = 0; // each lane starts from the reset (all-zero) state
      for (let t = 0; t < steps; t++) {
        const v = lane * steps + t;
        expect(r.outputs!.q![v]).toBe(q);
        q = (q + d[v]!) & 15;
      }
    }
  });

  it('weights state-dependent leakage by simulated pin probabilities', () => {
    const tiny = parseLiberty(
      `library (tiny) { nom_voltage : 1.0; leakage_power_unit : "1nW"; capacitive_load_unit (1, pf);
        cell (ND2) { area : 1;
          leakage_power () { when : "A&B"; value : 4; }
          leakage_power () { when : "!A"; value : 2; }
          pin (A) { direction : input; capacitance : 0.01; }
          pin (B) { direction : input; capacitance : 0.01; }
          pin (Y) { direction : output; function : "!(A&B)"; } } }`,
      'tiny.lib',
    );
    const netlist = {
      top: 't',
      ports: [
        { name: 'a', direction: 'input' as const, bits: [2] },
        { name: 'b', direction: 'input' as const, bits: [3] },
        { name: 'y', direction: 'output' as const, bits: [4] },
      ],
      cells: [{ name: 'u0', type: 'ND2', conns: { A: 2, B: 3, Y: 4 } as Record<string, number> }],
      netNames: new Map<number, string>(),
    };
    const m = buildGateSim(netlist, tiny);
    const n = 4096;
    const a = new Uint8Array(n).fill(1); // A always 1: P(A&B) = P(B) = 1/2, P(!A) = 0
    const b = new Uint8Array(n).map((_, i) => i & 1);
    const r = runGateSim(m, { n, ports: { a, b } });
    const e = estimateEnergy(m, r, { clockMHz: 100, outputLoadPf: 0, inputSlewNs: 0.1 });
    expect(e.leakageNw).toBeCloseTo(4 * 0.5, 9);
    expect(r.rise[m.netIndex.get(4)!]! + r.fall[m.netIndex.get(4)!]!).toBe(r.intervals);
  });

  it('rejects netlists it cannot simulate', () => {
    const netlist = {
      top: 't',
      ports: [{ name: 'a', direction: 'input' as const, bits: [2] }],
      cells: [{ name: 'u0', type: 'NOT_A_CELL', conns: { A: 2 } }],
      netNames: new Map<number, string>(),
    };
    expect(() => buildGateSim(netlist, lib)).toThrow(UserError);
    const loop = {
      top: 'loop',
      ports: [{ name: 'y', direction: 'output' as const, bits: [3] }],
      cells: [
        { name: 'u0', type: 'INVX1', conns: { A: 3, Y: 4 } as Record<string, number> },
        { name: 'u1', type: 'INVX1', conns: { A: 4, Y: 3 } as Record<string, number> },
      ],
      netNames: new Map<number, string>(),
    };
    expect(() => buildGateSim(loop, lib)).toThrow(/combinational loop/);
  });
});
