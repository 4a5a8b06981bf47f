import { render } from '../core/templates.ts';
import { ENERGY_PARTS, type EnergyPart } from './energy.ts';

/**
 * Stacked horizontal bars of the accelerator energy by part (templates/flow/energy-stack.svg):
 * one bar per row (a layer, or a design), one segment per ENERGY_PARTS entry in its order, all
 * bars on one scale. Used by the run report and the explore report.
 */
const COLORS: Record<EnergyPart, string> = {
  cellPj: '#d62728',
  pePj: '#ff7f0e',
  accPj: '#e6b800',
  accMemReadPj: '#2ca02c',
  accMemWritePj: '#74c476',
  accMemLeakagePj: '#c7e9c0',
  cvColumnPj: '#e377c2',
  cvCorrectionPj: '#f7b6d2',
  leakagePj: '#8c8c8c',
  ubReadPj: '#1f5fa8',
  ubWritePj: '#6baed6',
  ubLeakagePj: '#c6dbef',
  wbufReadPj: '#6a3d9a',
  wbufWritePj: '#9e9ac8',
  wbufLeakagePj: '#dadaeb',
  dramPj: '#3b3b3b',
};

export interface StackRow {
  label: string;
  parts: Record<EnergyPart, number>;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

function unitText(pj: number): string {
  if (pj >= 1e6) return `${(pj / 1e6).toFixed(2)} uJ`;
  if (pj >= 1e3) return `${(pj / 1e3).toFixed(1)} nJ`;
  return `${pj.toFixed(1)} pJ`;
}

export function energyStackSvg(title: string, rows: StackRow[]): string {
  const labelX = 110;
  const barW = 520;
  const barH = 18;
  const legendCols = 3;
  const legendRows = Math.ceil(ENERGY_PARTS.length / legendCols);
  const legend = ENERGY_PARTS.map((p, i) => {
    const x = labelX + (i % legendCols) * 190;
    const y = 24 + Math.floor(i / legendCols) * 14;
    return { x, y, tx: x + 14, ty: y + 9, color: COLORS[p.key], label: p.label };
  });
  const y0 = 24 + legendRows * 14 + 10;
  const totals = rows.map((r) => ENERGY_PARTS.reduce((s, p) => s + Math.max(0, r.parts[p.key]), 0));
  const max = Math.max(1e-12, ...totals);
  const out = rows.map((r, i) => {
    const y = y0 + i * (barH + 6);
    let x = labelX + 4;
    const segments = ENERGY_PARTS.filter((p) => r.parts[p.key] > 0).map((p) => {
      const w = (r.parts[p.key] / max) * barW;
      const s = {
        x: r1(x),
        y,
        w: r1(w),
        h: barH,
        color: COLORS[p.key],
        tip: `${p.label}: ${unitText(r.parts[p.key])} (${((100 * r.parts[p.key]) / totals[i]!).toFixed(1)} %)`,
      };
      x += w;
      return s;
    });
    return { label: r.label, ly: y + barH / 2, segments, tx: r1(x + 4), total: unitText(totals[i]!) };
  });
  return render('flow/energy-stack.svg', {
    title,
    width: labelX + barW + 90,
    height: y0 + rows.length * (barH + 6) + 8,
    labelX,
    legend,
    rows: out,
  });
}
