import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { shortHash } from '../core/hash.ts';
import { markdownTable } from '../core/output.ts';
import { synthReportsDir } from '../core/paths.ts';
import { render } from '../core/templates.ts';
import { type CellEnergyReport, checkClaim, type NetlistCheck } from './power.ts';
import type { SynthResult } from './yosys.ts';

/** Reports live in `synth-reports/<top>-<design hash>/` (JSON + Markdown, written atomically). */
export function reportDir(top: string, designHash: string): string {
  return join(synthReportsDir(), `${top}-${designHash.slice(0, 12)}`);
}

export function fmt(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 0.01) return Number(x.toPrecision(digits)).toString();
  return x.toExponential(2);
}

export function writeSynthReport(s: SynthResult, check?: NetlistCheck): { dir: string; json: string; md: string } {
  const dir = reportDir(s.top, s.hash);
  const data = {
    top: s.top,
    liberty: s.liberty,
    libraryName: s.libraryName,
    areaUm2: s.areaUm2,
    cellCount: s.cellCount,
    cellsByType: s.cellsByType,
    designHash: s.hash,
    netlistJson: s.netlistJson,
    netlistVerilog: s.netlistVerilog,
    check,
  };
  const json = join(dir, 'synth.json');
  const md = join(dir, 'synth.md');
  writeFileAtomic(json, `${JSON.stringify(data, null, 2)}\n`);
  writeFileAtomic(
    md,
    render('synth/synth-report.md', {
      top: s.top,
      liberty: s.liberty,
      libraryName: s.libraryName,
      area: fmt(s.areaUm2),
      cellCount: s.cellCount,
      check: check ? `netlist == model: ${checkClaim(check)}` : 'not run',
      hash: s.hash,
      netlistJson: s.netlistJson,
      cellCountTable: markdownTable(['cell', 'count'], Object.entries(s.cellsByType)),
    }),
  );
  return { dir, json, md };
}

export function energyRows(r: CellEnergyReport): (string | number)[][] {
  const e = r.energy.perOpPj;
  return [
    ['internal', fmt(e.internal)],
    ['switching (cell-driven nets)', fmt(e.switching)],
    ['input switching (input pins)', fmt(e.inputSwitching)],
    ['clock', fmt(e.clock)],
    ['leakage', fmt(e.leakage)],
    ['**total**', `**${fmt(e.total)}**`],
  ];
}

export function openStaRows(r: CellEnergyReport): (string | number)[][] {
  const o = r.opensta;
  if (!o) return [];
  const e = r.energy.perOpPj;
  const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
  return [
    ['internal', fmt(e.internal), fmt(o.perOpPj.internal), pct(o.relDiff.internal)],
    ['switching', fmt(e.switching), fmt(o.perOpPj.switching), pct(o.relDiff.switching)],
    ['leakage', fmt(e.leakage), fmt(o.perOpPj.leakage), pct(o.relDiff.leakage)],
    ['critical path (ns)', fmt(r.energy.criticalPathNs), o.opensta.criticalPathNs !== undefined ? fmt(o.opensta.criticalPathNs) : '-', ''],
  ];
}

export function streamText(r: CellEnergyReport): string {
  const s = r.stream;
  if (s.kind === 'uniform') return `uniform random, ${s.pairs} pairs, seed ${s.seed}`;
  if (s.kind === 'file') return `${s.path} (${s.pairs} pairs)`;
  return `${s.pairs} pairs`;
}

export function writePowerReport(r: CellEnergyReport): { dir: string; json: string; md: string } {
  const dir = reportDir(r.cell.moduleName, r.designHash);
  const key = shortHash({ stream: r.stream, vdd: r.energy.vdd, clock: r.energy.clockMHz, a: r.energy.assumptions, opensta: Boolean(r.opensta) }, 10);
  const json = join(dir, `power-${key}.json`);
  const md = join(dir, `power-${key}.md`);
  writeFileAtomic(json, `${JSON.stringify(r, null, 2)}\n`);
  writeFileAtomic(
    md,
    render('synth/power-report.md', {
      name: r.cell.id,
      liberty: r.liberty,
      libraryName: r.libraryName,
      area: fmt(r.areaUm2),
      cellCount: r.cellCount,
      stream: streamText(r),
      vdd: fmt(r.energy.vdd),
      vnom: fmt(r.energy.vnom),
      clockMHz: fmt(r.energy.clockMHz),
      criticalPathNs: fmt(r.energy.criticalPathNs),
      maxClockMHz: fmt(r.energy.maxClockMHz),
      togglesPerOp: fmt(r.energy.togglesPerOp),
      energyTable: markdownTable(['component', 'pJ/op'], energyRows(r)),
      opensta: r.opensta
        ? markdownTable(['component', 'axtpu pJ/op', 'OpenSTA pJ/op', 'difference'], openStaRows(r)) +
          '\n\nOpenSTA internal shown halved: sta 2.0.17 charges rise + fall table energy per transition.'
        : '',
    }),
  );
  return { dir, json, md };
}
