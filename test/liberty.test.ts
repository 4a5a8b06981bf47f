import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.ts';
import { LIBERTY } from '../core/paths.ts';
import { evalBoolExpr, formatBoolExpr, parseBoolExpr } from '../synth/boolexpr.ts';
import { loadLiberty, lookupLoadSlew, parseLiberty } from '../synth/liberty.ts';

const truth = (src: string, vars: string[]) => {
  const e = parseBoolExpr(src);
  const out: number[] = [];
  for (let m = 0; m < 1 << vars.length; m++) out.push(evalBoolExpr(e, (n) => (m >> vars.indexOf(n)) & 1));
  return out.join('');
};

describe('liberty function expressions', () => {
  it('parses operators with Liberty precedence', () => {
    expect(truth('(A&B)|!C', ['A', 'B', 'C'])).toBe(truth("(A*B)+C'", ['A', 'B', 'C']));
    expect(truth('A^B', ['A', 'B'])).toBe('0110');
    expect(truth("A'", ['A'])).toBe('10');
    expect(truth('(A B)', ['A', 'B'])).toBe('0001');
    // Juxtaposition binds tighter than +: S A + !S B is a mux.
    expect(truth('(!((S A) + (!S B)))', ['S', 'A', 'B'])).toBe(truth('!(S&A | !S&B)', ['S', 'A', 'B']));
    // ^ binds tighter than AND: A B^C = A & (B^C).
    expect(truth('A B^C', ['A', 'B', 'C'])).toBe(truth('A&(B^C)', ['A', 'B', 'C']));
    expect(formatBoolExpr(parseBoolExpr('!A&B|C'))).toBe('((!A & B) | C)');
    expect(() => parseBoolExpr('(A&B')).toThrow(/missing/);
    expect(() => parseBoolExpr('A&')).toThrow();
  });
});

describe('liberty parser', () => {
  it('reads osu018 with units, tables, functions and sequential groups', () => {
    const lib = loadLiberty(LIBERTY.osu018);
    expect(lib.name).toBe('osu018_stdcells');
    expect(lib.cells.size).toBe(32);
    expect(lib.nomVoltage).toBe(1.8);
    // ns / pF / V / nW files: every scale 1; energy unit pF*V^2 = pJ.
    expect(lib.units).toMatchObject({ time: 1, capacitance: 1, voltage: 1, current: 1, leakagePower: 1, energy: 1 });
    const and2 = lib.cells.get('AND2X1')!;
    expect(and2.area).toBe(32);
    expect(and2.leakage).toBeCloseTo(0.0746794, 9);
    expect(and2.pins.get('A')!.capacitance).toBeCloseTo(0.0129077, 9);
    const y = and2.pins.get('Y')!;
    expect(y.function).toBe('(A B)');
    expect(y.timing.map((t) => t.relatedPin)).toEqual(['A', 'B']);
    expect(y.timing[0]!.cellRise!.values).toHaveLength(5);
    expect(y.internalPower.map((p) => p.relatedPin)).toEqual(['A', 'B']);
    const rise = y.internalPower[0]!.rise!;
    expect(rise.variables).toEqual(['total_output_net_capacitance', 'input_transition_time']);
    // Grid point and a midpoint (bilinear), from the file's first rows.
    expect(lookupLoadSlew(rise, 0.005, 0.06)).toBeCloseTo(0.012351, 9);
    expect(lookupLoadSlew(rise, 0.005, 0.12)).toBeCloseTo((0.012351 + 0.01753) / 2, 9);
    const dff = lib.cells.get('DFFPOSX1')!;
    expect(dff.sequential).toMatchObject({ kind: 'ff', iq: 'DS0000', iqn: 'P0002', clockText: 'CLK' });
    expect(dff.pins.get('CLK')!.clock).toBe(true);
    expect(dff.pins.get('CLK')!.internalPower[0]!.relatedPin).toBe('');
    const dffsr = lib.cells.get('DFFSR')!;
    expect(dffsr.sequential?.clear).toBeDefined();
    expect(dffsr.sequential?.preset).toBeDefined();
    expect(lib.cells.get('LATCH')!.sequential?.kind).toBe('latch');
    expect(lib.cells.get('TBUFX1')!.pins.get('Y')!.threeState).toBe('(!EN)');
  });

  it('reads osu035 (3.3 V)', () => {
    const lib = loadLiberty(LIBERTY.osu035);
    expect(lib.cells.size).toBe(39);
    expect(lib.nomVoltage).toBe(3.3);
    expect(lib.cells.get('INVX1')!.pins.get('Y')!.function).toBe('(!A)');
  });

  it('handles comments, continuations, other units and state-dependent leakage', () => {
    const text = `/* header */ library (tiny) {
      time_unit : "1ps"; // trailing comment
      capacitive_load_unit (1, ff);
      leakage_power_unit : "1pW";
      voltage_unit : "1V";
      nom_voltage : 1.2;
      lu_table_template (t2) { variable_1 : total_output_net_capacitance; variable_2 : input_net_transition;
        index_1 ("1, 2"); index_2 ("10, 20"); }
      cell (NAND2) {
        area : 4.5;
        leakage_power () { when : "A&B"; value : 3000; }
        leakage_power () { when : "!A"; value : 1000; }
        pin (A) { direction : input; capacitance : 2; }
        pin (B) { direction : input; capacitance : 2; }
        pin (Y) { direction : output; function : "!(A&B)";
          timing () { related_pin : "A B"; cell_rise (t2) { values ( "1, 2", \\
            "3, 4"); } }
        }
      }
    }`;
    const lib = parseLiberty(text, 'tiny.lib');
    expect(lib.units.time).toBeCloseTo(1e-3);
    expect(lib.units.capacitance).toBeCloseTo(1e-3);
    expect(lib.units.energy).toBeCloseTo(1e-3);
    const c = lib.cells.get('NAND2')!;
    expect(c.pins.get('A')!.capacitance).toBeCloseTo(0.002);
    expect(c.leakageWhen.map((l) => l.value)).toEqual([3, 1]);
    expect(c.leakage).toBeCloseTo(2); // no cell_leakage_power: mean of the when-values
    const arcs = c.pins.get('Y')!.timing;
    expect(arcs.map((a) => a.relatedPin)).toEqual(['A', 'B']);
    // index in fF/ps converted to pF/ns; values ps -> ns
    expect(arcs[0]!.cellRise!.index[0]).toEqual([0.001, 0.002]);
    expect(arcs[0]!.cellRise!.values).toEqual([
      [0.001, 0.002],
      [0.003, 0.004],
    ]);
  });

  it('rejects malformed and truncated files with file:line', () => {
    const full = readFileSync(LIBERTY.osu018, 'utf8');
    const truncated = full.slice(0, Math.floor(full.length / 2));
    expect(() => parseLiberty(truncated, 'cut.lib')).toThrow(UserError);
    expect(() => parseLiberty(truncated, 'cut.lib')).toThrow(/^cut\.lib:\d+: .*truncated/);
    expect(() => parseLiberty('library (x) { nom_voltage : 1; cell (A) { area : 1 pin (Y) { direction : output; } } }', 'bad.lib')).toThrow(/^bad\.lib:1: /);
    expect(() => parseLiberty('library (x) {\n nom_voltage : 1;\n cell (A) {\n area : oops;\n }\n}', 'num.lib')).toThrow(/^num\.lib:4: area is not a number/);
    expect(() => parseLiberty('library (x) {\n nom_voltage : 1;\n cell (A) { pin (Y) { direction : output; function : "A &"; } }\n}', 'fn.lib')).toThrow(
      /^fn\.lib:3: /,
    );
    expect(() => parseLiberty('cell (A) { }', 'nolib.lib')).toThrow(/no 'library/);
    expect(() => parseLiberty('library (x) { nom_voltage : 1; } }', 'extra.lib')).toThrow(/unmatched/);
    expect(() => parseLiberty('library (x) { nom_voltage : 1; /* open', 'cmt.lib')).toThrow(/unterminated comment/);
  });
});
