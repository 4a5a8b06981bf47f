import { basename, join } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { registerPartial, render } from '../core/templates.ts';
import { energyStackSvg } from '../flow/energy-plot.ts';
import { type ExplorePoint, type ExploreResult, type GroupResult, groupLabel } from './run.ts';
import type { WinnerRtl } from './winner.ts';

/**
 * Output directory of `axtpu explore`:
 *   summary.json   everything (ExploreResult + the RTL verification of the winner)
 *   front.json     Pareto front points (validation accuracy; test accuracy where measured)
 *   front.csv      the same as CSV
 *   report.html    self-contained report with SVG plots (templates/explore/)
 *   journal.jsonl  every evaluated point (resume)
 * SVG geometry is computed here; the markup comes from templates/explore/partials/.
 */
const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const pct = (x: number | undefined, d = 2) => (x === undefined ? '-' : f(100 * x, d));

export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(v);
  return out;
}

const tip = (p: ExplorePoint) =>
  `#${p.id} ${p.source}: ${f(p.energyPj / 1e3, 1)} nJ, val ${pct(p.valAccuracy)} %${p.testAccuracy !== undefined ? `, test ${pct(p.testAccuracy)} %` : ''} | ${p.cells.join(' ')}`;

export function frontPlot(g: GroupResult, budget: number, objective = 'accelerator') {
  const width = 760;
  const height = 380;
  const box = { x: 70, y: 15, w: width - 90, h: height - 70 };
  const pts = g.points;
  const es = pts.map((p) => p.energyPj / 1e3);
  const as = pts.map((p) => 100 * p.valAccuracy);
  const floor = 100 * (g.baseline.valAccuracy - budget);
  let eLo = Math.min(...es);
  let eHi = Math.max(...es);
  let aLo = Math.min(...as, floor);
  let aHi = Math.max(...as);
  if (eHi === eLo) [eLo, eHi] = [eLo * 0.95, eHi * 1.05 + 1e-9];
  if (aHi === aLo) [aLo, aHi] = [aLo - 1, aHi + 1];
  const padE = (eHi - eLo) * 0.05;
  const padA = (aHi - aLo) * 0.05;
  eLo -= padE;
  eHi += padE;
  aLo -= padA;
  aHi += padA;
  const X = (e: number) => box.x + ((e - eLo) / (eHi - eLo)) * box.w;
  const Y = (a: number) => box.y + box.h - ((a - aLo) / (aHi - aLo)) * box.h;
  const at = (p: ExplorePoint) => ({ x: f(X(p.energyPj / 1e3)), y: f(Y(100 * p.valAccuracy)), tip: tip(p) });
  const onFront = new Set(g.front.map((p) => p.id));
  return {
    title: `energy vs validation accuracy (${groupLabel(g)})`,
    width,
    height,
    box,
    xticks: niceTicks(eLo, eHi).map((v) => ({ x: f(X(v)), y: box.y + box.h, label_y: box.y + box.h + 14, label: String(+v.toPrecision(4)) })),
    yticks: niceTicks(aLo, aHi).map((v) => ({ x: box.x + box.w, y: f(Y(v)), label_x: box.x - 6, label: String(+v.toPrecision(4)) })),
    budgetLine: { y: f(Y(floor)), x2: box.x + box.w, ty: f(Y(floor) - 4), label: `budget: ${f(floor)} %` },
    points: pts.filter((p) => !onFront.has(p.id)).map((p) => ({ ...at(p), color: p.feasible ? '#5a9' : '#999' })),
    front: g.front.map(at),
    frontPath: g.front.map((p) => `${f(X(p.energyPj / 1e3))},${f(Y(100 * p.valAccuracy))}`).join(' '),
    winner: at(g.winner),
    xlabel: { x: box.x + box.w / 2, y: height - 18, text: `${objective} energy per inference (nJ)` },
    ylabel: { x: 18, y: box.y + box.h / 2, text: 'validation accuracy (%)' },
  };
}

interface Series {
  label: string;
  color: string;
}

/** Horizontal grouped bars: rows x series, each series scaled to its own maximum. */
export function barsPlot(title: string, series: Series[], rows: { label: string; values: number[]; texts: string[] }[], sharedScale = false) {
  const width = 760;
  const labelX = 150;
  const barH = 12;
  const rowH = series.length * barH + 10;
  const top = 28;
  const maxW = width - labelX - 120;
  const perSeries = series.map((_, s) => Math.max(1e-30, ...rows.map((r) => Math.abs(r.values[s]!))));
  const max = sharedScale ? perSeries.map(() => Math.max(...perSeries)) : perSeries;
  return {
    title,
    width,
    height: top + rows.length * rowH + 6,
    labelX: labelX - 8,
    legend: series.map((s, i) => ({ x: labelX + i * 220, tx: labelX + i * 220 + 16, color: s.color, label: s.label })),
    rows: rows.map((r, i) => {
      const y0 = top + i * rowH;
      return {
        label: r.label,
        ly: y0 + (series.length * barH) / 2,
        bars: series.map((s, j) => {
          const w = (Math.max(0, r.values[j]!) / max[j]!) * maxW;
          return {
            x: labelX,
            y: y0 + j * barH,
            w: f(w),
            h: barH - 2,
            color: s.color,
            tip: `${s.label}: ${r.texts[j]}`,
            tx: f(labelX + w + 4),
            ty: y0 + j * barH + (barH - 2) / 2,
            text: r.texts[j],
          };
        }),
      };
    }),
  };
}

/**
 * Supply of every PE column of every tile (the winner of a voltage search) as a heat map:
 * rows = tiles, columns = array columns; darker = lower supply.
 */
export function voltageHeatmap(v: NonNullable<GroupResult['voltage']>) {
  const cols = Math.max(...v.map.map((t) => t.volts.length));
  const labelX = 170;
  const cw = Math.max(22, Math.min(40, Math.floor(560 / cols)));
  const ch = 20;
  const top = 22;
  const levels = [v.nominal, ...v.levels].sort((a, b) => b - a);
  const lo = Math.min(...levels);
  const shade = (volts: number) => {
    // nominal: light grey; the lowest level: dark blue.
    const t = v.nominal > lo ? (v.nominal - volts) / (v.nominal - lo) : 0;
    const mix = (a: number, b: number) => Math.round(a + (b - a) * t);
    return { color: `rgb(${mix(235, 20)},${mix(235, 60)},${mix(235, 140)})`, ink: t > 0.5 ? '#fff' : '#222' };
  };
  const legendY = top + v.map.length * ch + 14;
  return {
    title: 'supply voltage per PE column (winner)',
    width: labelX + cols * cw + 20,
    height: legendY + 24,
    labelX: labelX - 8,
    colLabels: Array.from({ length: cols }, (_, c) => ({ x: f(labelX + c * cw + cw / 2, 1), text: String(c) })),
    rows: v.map.map((t, i) => ({
      label: t.layers.length > 28 ? `${t.layers.slice(0, 27)}...` : t.layers,
      ly: top + i * ch + ch / 2,
      cells: t.volts.map((volts, c) => ({
        x: labelX + c * cw,
        y: top + i * ch,
        w: cw,
        h: ch,
        ...shade(volts),
        tip: `tile ${t.tile} (${t.layers}) column ${c}: ${volts} V${t.cells[c] ? `, ${t.cells[c]}` : ''}`,
        tx: f(labelX + c * cw + cw / 2, 1),
        ty: top + i * ch + ch / 2,
        text: volts.toFixed(2),
      })),
    })),
    legend: levels.map((volts, i) => ({
      x: labelX + i * 90,
      y: legendY,
      tx: labelX + i * 90 + 18,
      ty: legendY + 10,
      ...shade(volts),
      label: `${volts} V${volts === v.nominal ? ' (nominal)' : ''}`,
    })),
  };
}

export function frontCsv(r: ExploreResult): string {
  const lines = ['scheme,width,objective,id,source,energy_pj,saving,val_accuracy,val_loss,val_loss_upper,val_images,test_accuracy,test_loss,feasible,cells'];
  for (const g of r.groups)
    for (const p of g.front)
      lines.push(
        [
          g.scheme,
          g.width,
          r.objective,
          p.id,
          p.source,
          f(p.energyPj, 3),
          f(p.saving, 6),
          f(p.valAccuracy, 6),
          f(p.valLoss, 6),
          f(p.valLossUpper, 6),
          p.valImages,
          p.testAccuracy === undefined ? '' : f(p.testAccuracy, 6),
          p.testLoss === undefined ? '' : f(p.testLoss, 6),
          p.feasible,
          p.cells.join(' '),
        ].join(','),
      );
  return `${lines.join('\n')}\n`;
}

const nj = (e: Record<string, number>) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, f(v / 1e3, 1)]));

let partialsReady = false;

export function renderHtml(r: ExploreResult, rtl: WinnerRtl | null, rtlNote: string): string {
  if (!partialsReady) {
    registerPartial('explore/partials/scatter.svg');
    registerPartial('explore/partials/bars.svg');
    registerPartial('explore/partials/heatmap.svg');
    partialsReady = true;
  }
  const groups = r.groups.map((g) => ({
    scheme: groupLabel(g),
    exact: g.exact,
    baseline: nj(g.baseline.energies),
    winner: nj(g.winner.energies),
    saving: Object.fromEntries(Object.entries(g.winner.savings).map(([k, v]) => [k, pct(v, 1)])),
    stackPlot: energyStackSvg('exact vs winner, accelerator energy per inference', [
      { label: `exact (${g.exact})`, parts: g.accelerator.exactParts },
      { label: 'winner', parts: g.accelerator.winnerParts },
    ]),
    accImages: g.accelerator.images,
    accBatch: g.accelerator.batch,
    memNode: g.accelerator.memory.nodeNm,
    memVolts: g.accelerator.memory.volts,
    memExtrapolated: g.accelerator.memory.extrapolated,
    baselineVal: pct(g.baseline.valAccuracy),
    baselineTest: pct(g.baseline.testAccuracy),
    winnerVal: pct(g.winner.valAccuracy),
    winnerTest: pct(g.winner.testAccuracy),
    winnerCells: g.winner.cells.join(' '),
    evaluations: g.evaluations,
    candidateCount: g.candidates.length,
    droppedCount: g.dropped.length,
    dropped: g.dropped,
    hv: f(g.hypervolume, 1),
    probe: g.probe,
    rhoCond: f(g.spearman.conductance, 3),
    check: checkContext(g),
    rhoGxa: f(g.spearman.gradTimesActivation, 3),
    frontPlot: frontPlot(g, r.budget, r.objective),
    voltage: g.voltage ? { ...g.voltage, heatmap: voltageHeatmap(g.voltage) } : false,
    referenceText: g.reference
      ? `Width ${g.width} variant (${g.model}): losses and savings are against the full-width model's exact design (validation ${pct(g.reference.valAccuracy, 2)} %, test ${pct(g.reference.testAccuracy, 2)} %, ${f(g.reference.energies.accelerator / 1e3, 1)} nJ/inference accelerator)${g.winner.feasible ? '' : '; no design of this width is within the budget (the row shows its most accurate one)'}.`
      : '',
    crossLayer: g.crossLayer
      ? {
          ...g.crossLayer,
          sparsitiesText: g.crossLayer.sparsities.join(', ') || 'none (dense)',
          wmemText: g.crossLayer.wmemLevels.length
            ? `${g.crossLayer.wmemLevels.join(', ')} V under ${g.crossLayer.wmemNominal} V (${g.crossLayer.wmemModel}, ${g.crossLayer.protectMsbs} MSBs protected, fault seed ${g.crossLayer.wmemSeed})`
            : 'at nominal',
        }
      : false,
    assignRows: g.winnerLayers.map((l) => ({
      layer: l.layer,
      tile: g.layers.find((x) => x.layer === l.layer)?.tile ?? '-',
      macs: g.layers.find((x) => x.layer === l.layer)?.macsPerImage ?? '-',
      cells: Object.entries(l.cells)
        .map(([id, n]) => `${id} x${n}`)
        .join(', '),
      e: f(l.energyPj, 0),
      ex: f(l.exactEnergyPj, 0),
    })),
    energyPlot: barsPlot(
      'per-layer multiplier energy (pJ per inference)',
      [
        { label: 'exact', color: '#999' },
        { label: 'winner', color: '#1f5fa8' },
      ],
      g.winnerLayers.map((l) => {
        const m = Math.max(l.exactEnergyPj, l.energyPj);
        return { label: l.layer, values: [l.exactEnergyPj / m, l.energyPj / m].map((v) => v * m), texts: [f(l.exactEnergyPj, 0), f(l.energyPj, 0)] };
      }),
      true,
    ),
    xaiPlot: barsPlot(
      'XAI criticality vs measured sensitivity',
      [
        { label: 'conductance', color: '#7a5195' },
        { label: 'grad x activation', color: '#ef5675' },
        { label: 'sensitivity (acc. loss)', color: '#ffa600' },
      ],
      g.layers.map((l) => ({
        label: l.layer,
        values: [l.conductance, l.gradTimesActivation, l.sensitivity],
        texts: [f(l.conductance, 2), f(l.gradTimesActivation, 2), `${pct(l.sensitivity)} pp`],
      })),
    ),
    frontRows: g.front.map((p) => ({
      id: p.id,
      source: p.source,
      e: f(p.energyPj, 0),
      saving: pct(p.saving, 1),
      val: pct(p.valAccuracy),
      test: p.testAccuracy === undefined ? '-' : `${pct(p.testAccuracy)} %`,
      cells: p.cells.join(' '),
    })),
  }));
  const rtlCtx = rtl
    ? {
        designDir: rtl.designDir,
        images: rtl.images,
        rtlPct: pct(rtl.rtlAccuracy),
        swPct: pct(rtl.softwareEstimate),
        clean: rtl.clean,
        injected: rtl.injected,
        injectedPct: rtl.injected ? pct(rtl.injected.rtlAccuracy) : '',
        enginePct: pct(rtl.engineAccuracy),
        equal: rtl.equal,
        predMismatches: rtl.predMismatches,
        cycles: f(rtl.cyclesPerInference, 0),
        energyText: rtl.energy
          ? `${f(rtl.energy.pjPerInference.total / 1e3, 1)} nJ accelerator (array ${f(rtl.energy.objectives.array / 1e3, 1)}, multipliers ${f(rtl.energy.objectives.multiplier / 1e3, 1)}), ${f(rtl.energy.pjPerMac, 3)} pJ/MAC at ${rtl.energy.vdd} V, ${rtl.energy.clockMHz} MHz`
          : 'not estimated',
        areaText: `${f(rtl.multiplierAreaUm2, 0)} / ${f(rtl.exactMultiplierAreaUm2, 0)} um^2`,
      }
    : false;
  return render('explore/report.html', {
    modelName: basename(r.model),
    budgetPct: f(100 * r.budget, 2),
    confidencePct: f(100 * r.confidence, 0),
    granularity: r.granularity,
    search: r.search,
    objective: r.objective,
    rows: r.rows,
    cols: r.cols,
    valImages: r.valImages,
    testImages: r.testImages,
    dataset: r.dataset,
    calibImages: r.calibImages,
    splits: r.splits,
    screenImages: r.screenImages,
    xaiMetric: r.xaiMetric,
    seconds: f(r.seconds, 1),
    journal: r.journal,
    rtl: rtlCtx,
    rtlNote,
    groups,
  });
}

/** The criticality check as table rows: per cell x estimator, Spearman / Kendall with intervals vs each measure. */
function checkContext(g: GroupResult) {
  const c = g.criticalityCheck;
  const ci = (x: { spearman: number; spearmanCi: [number, number] }) => `${f(x.spearman)} [${f(x.spearmanCi[0])}, ${f(x.spearmanCi[1])}]`;
  const ki = (x: { kendall: number; kendallCi: [number, number] }) => `${f(x.kendall)} [${f(x.kendallCi[0])}, ${f(x.kendallCi[1])}]`;
  const rows = c.cells.flatMap((cell) =>
    cell.vsKl.map((x, i) => ({
      cell: cell.cell,
      estimator: x.estimator,
      used: x.estimator === c.used,
      kl: ci(x),
      klTau: ki(x),
      loss: ci(cell.vsLoss[i]!),
      acc: ci(cell.vsAccuracy[i]!),
    })),
  );
  const filters = c.filters
    ? {
        n: c.filters.filters.length,
        cell: c.filters.cell,
        rows: c.filters.vsKl.map((x, i) => ({ estimator: x.estimator, kl: ci(x), klTau: ki(x), loss: ci(c.filters!.vsLoss[i]!) })),
      }
    : false;
  return {
    images: c.images,
    estimatorImages: c.estimatorImages,
    bootstrap: c.bootstrap,
    levelPct: f(100 * c.level, 0),
    used: c.used,
    chosen: c.chosen,
    runs: c.engineRuns.measured + c.engineRuns.noise,
    seconds: f(c.seconds.estimators + c.seconds.measured, 1),
    rows,
    filters,
  };
}

export function writeOutputs(dir: string, r: ExploreResult, rtl: WinnerRtl | null, rtlNote: string): Record<string, string> {
  const paths: Record<string, string> = {
    summary: join(dir, 'summary.json'),
    frontJson: join(dir, 'front.json'),
    frontCsv: join(dir, 'front.csv'),
    html: join(dir, 'report.html'),
  };
  // The voltage knob's error models go to their own file (the schema `axtpu vos characterize` writes).
  const groups = r.groups.map((g) => {
    if (!g.voltage) return g;
    const { models, ...voltage } = g.voltage;
    const file = join(dir, `vos-models-${g.scheme}.json`);
    paths[`vosModels_${g.scheme}`] = file;
    writeFileAtomic(file, `${JSON.stringify(models, null, 2)}\n`);
    return { ...g, voltage };
  });
  writeFileAtomic(paths.summary!, `${JSON.stringify({ ...r, groups, rtl, rtlNote }, null, 2)}\n`);
  writeFileAtomic(
    paths.frontJson!,
    `${JSON.stringify(
      r.groups.map((g) => ({ scheme: g.scheme, exact: g.exact, baseline: g.baseline, units: g.units.map((u) => u.name), front: g.front })),
      null,
      2,
    )}\n`,
  );
  writeFileAtomic(paths.frontCsv!, frontCsv(r));
  writeFileAtomic(paths.html!, renderHtml(r, rtl, rtlNote));
  return paths;
}
