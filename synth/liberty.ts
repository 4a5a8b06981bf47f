import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { UserError } from '../core/errors.ts';
import { type BoolExpr, BoolExprError, parseBoolExpr } from './boolexpr.ts';
import { attr, groupsOf, type LibGroup, parseLibertySyntax } from './liberty-syntax.ts';

/**
 * A Liberty library with the parts axtpu's energy estimator uses, normalised to one unit
 * system: time ns, capacitance pF, voltage V, power nW (leakage), energy pJ (internal power
 * tables; Liberty's energy unit is capacitive_load_unit x voltage_unit^2, so pF*V^2 = pJ).
 */
export interface Table {
  /** Template variable names (e.g. total_output_net_capacitance, input_transition_time). */
  variables: string[];
  /** Axes in normalised units (ns / pF); index[0] is index_1. Scalar tables have no axes. */
  index: number[][];
  /** Row-major: values[i1][i2] (1-D tables have a single row). Normalised units. */
  values: number[][];
}

export interface TimingArc {
  relatedPin: string;
  timingType: string;
  timingSense: string;
  when?: string;
  cellRise?: Table;
  cellFall?: Table;
  riseTransition?: Table;
  fallTransition?: Table;
}

export interface InternalPower {
  /** Empty for a passive (input pin / clock) table. */
  relatedPin: string;
  when?: string;
  rise?: Table;
  fall?: Table;
}

export interface LibPin {
  name: string;
  direction: 'input' | 'output' | 'inout' | 'internal';
  capacitance: number;
  riseCapacitance?: number;
  fallCapacitance?: number;
  maxCapacitance?: number;
  clock: boolean;
  function?: string;
  functionExpr?: BoolExpr;
  threeState?: string;
  timing: TimingArc[];
  internalPower: InternalPower[];
}

export interface SequentialGroup {
  kind: 'ff' | 'latch';
  /** State variable names, e.g. IQ, IQN. */
  iq: string;
  iqn: string;
  /** ff: next_state / clocked_on; latch: data_in / enable. */
  next: BoolExpr;
  clock: BoolExpr;
  clockText: string;
  clear?: BoolExpr;
  preset?: BoolExpr;
}

export interface LibCell {
  name: string;
  area: number;
  /** nW */
  leakage: number;
  leakageWhen: { when?: string; whenExpr?: BoolExpr; value: number }[];
  pins: Map<string, LibPin>;
  sequential?: SequentialGroup;
  dontUse: boolean;
  /** I/O pad (pad_cell : true): never a logic gate. */
  isPad: boolean;
  line: number;
}

export interface LibertyUnits {
  /** Multiply a file value by these to get ns, pF, V, uA, nW. */
  time: number;
  capacitance: number;
  voltage: number;
  current: number;
  leakagePower: number;
  /** File energy unit -> pJ. */
  energy: number;
  text: Record<string, string>;
}

export interface Library {
  name: string;
  file: string;
  /** sha256 of the file text (cache keys). */
  hash: string;
  units: LibertyUnits;
  nomVoltage: number;
  templates: Map<string, { variables: string[]; index: number[][] }>;
  cells: Map<string, LibCell>;
}

const TIME: Record<string, number> = { s: 1e9, ms: 1e6, us: 1e3, ns: 1, ps: 1e-3, fs: 1e-6 };
const CAP: Record<string, number> = { f: 1e12, mf: 1e9, uf: 1e6, nf: 1e3, pf: 1, ff: 1e-3 };
const VOLT: Record<string, number> = { v: 1, mv: 1e-3 };
const CURR: Record<string, number> = { a: 1e6, ma: 1e3, ua: 1, na: 1e-3, pa: 1e-6 };
const POWER: Record<string, number> = { w: 1e9, mw: 1e6, uw: 1e3, nw: 1, pw: 1e-3, fw: 1e-6 };

function unitScale(text: string, table: Record<string, number>, what: string, file: string, line: number): number {
  const m = /^\s*([\d.eE+-]*)\s*([A-Za-z]+)\s*$/.exec(text);
  const mult = m?.[1] ? Number(m[1]) : 1;
  const s = m ? table[m[2]!.toLowerCase()] : undefined;
  if (s === undefined || !Number.isFinite(mult)) throw new UserError(`${file}:${line}: unknown ${what} unit "${text}"`);
  return mult * s;
}

function num(text: string, file: string, line: number, what: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || text.trim() === '') throw new UserError(`${file}:${line}: ${what} is not a number: "${text}"`);
  return v;
}

function numberList(args: string[], file: string, line: number, what: string): number[] {
  const out: number[] = [];
  for (const a of args) for (const part of a.split(/[\s,]+/)) if (part !== '') out.push(num(part, file, line, what));
  return out;
}

const libCache = new Map<string, Library>();

/** Load (and memoise per path+mtime) a liberty file. Bad or truncated file -> UserError file:line. */
export function loadLiberty(path: string): Library {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UserError(`liberty file not found: ${path}`);
  const key = `${path}:${statSync(path).mtimeMs}`;
  const hit = libCache.get(key);
  if (hit) return hit;
  const text = readFileSync(path, 'utf8');
  const lib = parseLiberty(text, path);
  libCache.set(key, lib);
  return lib;
}

export function parseLiberty(text: string, file = 'liberty'): Library {
  const g = parseLibertySyntax(text, file);
  const a = (name: string) => attr(g, name);
  const unitAttr = (name: string, table: Record<string, number>, what: string, dflt: number) => {
    const x = a(name);
    return x ? unitScale(x.value, table, what, file, x.line) : dflt;
  };
  const capC = g.complex.find((c) => c.name === 'capacitive_load_unit');
  let capacitance = 1;
  if (capC) {
    if (capC.args.length !== 2) throw new UserError(`${file}:${capC.line}: capacitive_load_unit needs (value, unit)`);
    capacitance = num(capC.args[0]!, file, capC.line, 'capacitive_load_unit') * unitScale(capC.args[1]!, CAP, 'capacitance', file, capC.line);
  }
  const units: LibertyUnits = {
    time: unitAttr('time_unit', TIME, 'time', 1),
    capacitance,
    voltage: unitAttr('voltage_unit', VOLT, 'voltage', 1),
    current: unitAttr('current_unit', CURR, 'current', 1),
    leakagePower: unitAttr('leakage_power_unit', POWER, 'leakage power', 1),
    energy: 0,
    text: Object.fromEntries(
      ['time_unit', 'voltage_unit', 'current_unit', 'leakage_power_unit']
        .map((n) => [n, a(n)?.value ?? ''] as [string, string])
        .concat([['capacitive_load_unit', capC ? capC.args.join(',') : '']]),
    ),
  };
  // Energy in a power table = C * V^2 in library units; pF * V^2 = pJ.
  units.energy = units.capacitance * units.voltage * units.voltage;
  const nomV = a('nom_voltage');
  const nomVoltage = nomV ? num(nomV.value, file, nomV.line, 'nom_voltage') * units.voltage : NaN;
  if (!Number.isFinite(nomVoltage)) throw new UserError(`${file}:${g.line}: library has no nom_voltage`);

  const templates = new Map<string, { variables: string[]; index: number[][] }>();
  for (const t of [...groupsOf(g, 'lu_table_template'), ...groupsOf(g, 'power_lut_template')]) {
    const variables: string[] = [];
    const index: number[][] = [];
    for (let k = 1; k <= 3; k++) {
      const v = attr(t, `variable_${k}`);
      if (v) variables.push(v.value);
      const ix = t.complex.find((c) => c.name === `index_${k}`);
      if (ix) index.push(numberList(ix.args, file, ix.line, `index_${k}`));
    }
    templates.set(t.args[0] ?? '', { variables, index });
  }

  const scaleFor = (variable: string): number => {
    if (/capacitance/.test(variable)) return units.capacitance;
    if (/transition|time/.test(variable)) return units.time;
    return 1;
  };
  const table = (tg: LibGroup, valueScale: number): Table => {
    const tplName = tg.args[0] ?? 'scalar';
    const tpl = tplName === 'scalar' ? { variables: [], index: [] } : templates.get(tplName);
    if (!tpl) throw new UserError(`${file}:${tg.line}: table uses unknown template '${tplName}'`);
    const index: number[][] = [];
    for (let k = 1; k <= tpl.variables.length; k++) {
      const ix = tg.complex.find((c) => c.name === `index_${k}`);
      const raw = ix ? numberList(ix.args, file, ix.line, `index_${k}`) : tpl.index[k - 1];
      if (!raw) throw new UserError(`${file}:${tg.line}: table has no index_${k}`);
      const s = scaleFor(tpl.variables[k - 1]!);
      index.push(raw.map((x) => x * s));
    }
    const vc = tg.complex.find((c) => c.name === 'values');
    if (!vc) throw new UserError(`${file}:${tg.line}: table '${tg.type}' has no values`);
    const rows = vc.args.map((r) => numberList([r], file, vc.line, 'values').map((x) => x * valueScale));
    const n1 = index[0]?.length ?? 1;
    const n2 = index[1]?.length ?? 1;
    if (index.length <= 1) {
      const flat = rows.flat();
      if (flat.length !== n1) throw new UserError(`${file}:${vc.line}: table has ${flat.length} values, expected ${n1}`);
      return { variables: tpl.variables, index, values: [flat] };
    }
    if (rows.length !== n1 || rows.some((r) => r.length !== n2)) throw new UserError(`${file}:${vc.line}: table is not ${n1}x${n2}`);
    return { variables: tpl.variables, index, values: rows };
  };
  const expr = (text: string, line: number): BoolExpr => {
    try {
      return parseBoolExpr(text);
    } catch (err) {
      if (err instanceof BoolExprError) throw new UserError(`${file}:${line}: ${err.message}`);
      throw err;
    }
  };

  const cells = new Map<string, LibCell>();
  for (const cg of groupsOf(g, 'cell')) {
    const name = cg.args[0];
    if (!name) throw new UserError(`${file}:${cg.line}: cell without a name`);
    const areaA = attr(cg, 'area');
    const leakA = attr(cg, 'cell_leakage_power');
    const cell: LibCell = {
      name,
      area: areaA ? num(areaA.value, file, areaA.line, 'area') : 0,
      leakage: leakA ? num(leakA.value, file, leakA.line, 'cell_leakage_power') * units.leakagePower : 0,
      leakageWhen: [],
      pins: new Map(),
      dontUse: attr(cg, 'dont_use')?.value === 'true',
      isPad: attr(cg, 'pad_cell')?.value === 'true',
      line: cg.line,
    };
    for (const lg of groupsOf(cg, 'leakage_power')) {
      const v = attr(lg, 'value');
      const w = attr(lg, 'when');
      if (!v) throw new UserError(`${file}:${lg.line}: leakage_power without value`);
      cell.leakageWhen.push({
        when: w?.value,
        whenExpr: w ? expr(w.value, w.line) : undefined,
        value: num(v.value, file, v.line, 'leakage_power value') * units.leakagePower,
      });
    }
    if (!leakA && cell.leakageWhen.length) {
      // No cell_leakage_power: use the mean of the state-dependent values.
      cell.leakage = cell.leakageWhen.reduce((s, x) => s + x.value, 0) / cell.leakageWhen.length;
    }
    for (const kind of ['ff', 'latch'] as const) {
      for (const sg of groupsOf(cg, kind)) {
        const [iq, iqn] = sg.args;
        const nextA = attr(sg, kind === 'ff' ? 'next_state' : 'data_in');
        const clkA = attr(sg, kind === 'ff' ? 'clocked_on' : 'enable');
        if (!iq || !iqn || !nextA || !clkA)
          throw new UserError(`${file}:${sg.line}: ${kind} group needs two state names, ${kind === 'ff' ? 'next_state and clocked_on' : 'data_in and enable'}`);
        const clr = attr(sg, 'clear');
        const pre = attr(sg, 'preset');
        cell.sequential = {
          kind,
          iq,
          iqn,
          next: expr(nextA.value, nextA.line),
          clock: expr(clkA.value, clkA.line),
          clockText: clkA.value,
          clear: clr ? expr(clr.value, clr.line) : undefined,
          preset: pre ? expr(pre.value, pre.line) : undefined,
        };
      }
    }
    const pinGroups: LibGroup[] = [...groupsOf(cg, 'pin')];
    for (const bg of groupsOf(cg, 'bus')) pinGroups.push(...groupsOf(bg, 'pin'));
    for (const pg of pinGroups) {
      for (const pinName of pg.args) {
        const dir = attr(pg, 'direction')?.value;
        if (dir !== 'input' && dir !== 'output' && dir !== 'inout' && dir !== 'internal')
          throw new UserError(`${file}:${pg.line}: pin ${name}.${pinName} has no valid direction`);
        const capOf = (n: string) => {
          const x = attr(pg, n);
          return x ? num(x.value, file, x.line, n) * units.capacitance : undefined;
        };
        const fn = attr(pg, 'function');
        const pin: LibPin = {
          name: pinName,
          direction: dir,
          capacitance: capOf('capacitance') ?? 0,
          riseCapacitance: capOf('rise_capacitance'),
          fallCapacitance: capOf('fall_capacitance'),
          maxCapacitance: capOf('max_capacitance'),
          clock: attr(pg, 'clock')?.value === 'true',
          function: fn?.value,
          functionExpr: fn ? expr(fn.value, fn.line) : undefined,
          threeState: attr(pg, 'three_state')?.value,
          timing: [],
          internalPower: [],
        };
        for (const tg of groupsOf(pg, 'timing')) {
          const sub = (n: string) => {
            const x = groupsOf(tg, n)[0];
            return x ? table(x, units.time) : undefined;
          };
          const related = attr(tg, 'related_pin')?.value ?? '';
          for (const rp of related.split(/\s+/).filter(Boolean)) {
            pin.timing.push({
              relatedPin: rp,
              timingType: attr(tg, 'timing_type')?.value ?? 'combinational',
              timingSense: attr(tg, 'timing_sense')?.value ?? 'non_unate',
              when: attr(tg, 'when')?.value,
              cellRise: sub('cell_rise'),
              cellFall: sub('cell_fall'),
              riseTransition: sub('rise_transition'),
              fallTransition: sub('fall_transition'),
            });
          }
        }
        for (const ig of groupsOf(pg, 'internal_power')) {
          const rise = groupsOf(ig, 'rise_power')[0] ?? groupsOf(ig, 'power')[0];
          const fall = groupsOf(ig, 'fall_power')[0] ?? groupsOf(ig, 'power')[0];
          const related = attr(ig, 'related_pin')?.value ?? '';
          const rps = related.split(/\s+/).filter(Boolean);
          for (const rp of rps.length ? rps : ['']) {
            pin.internalPower.push({
              relatedPin: rp,
              when: attr(ig, 'when')?.value,
              rise: rise ? table(rise, units.energy) : undefined,
              fall: fall ? table(fall, units.energy) : undefined,
            });
          }
        }
        cell.pins.set(pinName, pin);
      }
    }
    cells.set(name, cell);
  }
  if (cells.size === 0) throw new UserError(`${file}:${g.line}: library defines no cells`);
  return {
    name: g.args[0] ?? '',
    file,
    hash: createHash('sha256').update(text).digest('hex'),
    units,
    nomVoltage,
    templates,
    cells,
  };
}

/**
 * Table lookup with (bi)linear interpolation, extrapolating linearly outside the axes like
 * OpenSTA does. `x` maps template variable names to values (ns / pF).
 */
export function lookup(t: Table, x: (variable: string) => number): number {
  if (t.index.length === 0) return t.values[0]?.[0] ?? 0;
  const seg = (axis: number[], v: number): [number, number] => {
    if (axis.length === 1) return [0, 0];
    let i = 0;
    while (i < axis.length - 2 && v > axis[i + 1]!) i++;
    const a0 = axis[i]!;
    const a1 = axis[i + 1]!;
    return [i, a1 === a0 ? 0 : (v - a0) / (a1 - a0)];
  };
  const ax0 = t.index[0]!;
  const [i, fi] = seg(ax0, x(t.variables[0] ?? ''));
  const row = (r: number[]) => (ax0.length === 1 ? r[0]! : r[i]! + fi * (r[i + 1]! - r[i]!));
  if (t.index.length === 1) return row(t.values[0]!);
  const ax1 = t.index[1]!;
  const [j, fj] = seg(ax1, x(t.variables[1] ?? ''));
  const at = (ii: number, jj: number) => t.values[ii]![jj]!;
  const along = (ii: number) => (ax1.length === 1 ? at(ii, 0) : at(ii, j) + fj * (at(ii, j + 1) - at(ii, j)));
  if (ax0.length === 1) return along(0);
  return along(i) + fi * (along(i + 1) - along(i));
}

/** Lookup for tables indexed by (load capacitance, input slew), whatever the variable order. */
export function lookupLoadSlew(t: Table, loadPf: number, slewNs: number): number {
  return lookup(t, (v) => (/capacitance/.test(v) ? loadPf : /transition|time/.test(v) ? slewNs : 0));
}

export function outputPins(c: LibCell): LibPin[] {
  return [...c.pins.values()].filter((p) => p.direction === 'output' || p.direction === 'inout');
}

export function inputPins(c: LibCell): LibPin[] {
  return [...c.pins.values()].filter((p) => p.direction === 'input');
}
