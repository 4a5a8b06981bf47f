import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUTPUT_MARKER, writeFileAtomic } from '../core/atomic.ts';
import { render } from '../core/templates.ts';
import { niceTicks } from '../explore/report.ts';
import type { FinalResult } from './final.ts';
import type { NasResult } from './run.ts';

/**
 * Output folder of `axtpu nas`:
 *   summary.json   everything (NasResult + the winner as hardware when asked for)
 *   front.svg      architectures: accelerator energy vs validation accuracy, each with its cells
 *   report.html    the front, every candidate (search time included), the winner's layers and cells
 *   journal.jsonl  every finished candidate (resume)
 *   candidates/    each candidate's exploration journal; final/ the winner's
 * SVG geometry is computed here; the markup comes from templates/ (the explore scatter partial).
 */
const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const pct = (x: number, d = 2) => f(100 * x, d);

/** Mark the folder as axtpu's before anything is written into it (core/atomic.ts, checkOutputDir). */
export function markOutput(dir: string): void {
  writeFileSync(join(dir, OUTPUT_MARKER), 'axtpu output folder: replaced whole when regenerated\n');
}

export function frontSvg(r: NasResult): string {
  const width = 760;
  const height = 380;
  const box = { x: 70, y: 15, w: width - 90, h: height - 70 };
  const pts = r.candidates.map((c) => ({ key: c.key, e: c.approx.energyPj / 1e3, a: 100 * c.approx.valAccuracy, tip: tipOf(c) }));
  let [eLo, eHi] = [Math.min(...pts.map((p) => p.e)), Math.max(...pts.map((p) => p.e))];
  let [aLo, aHi] = [Math.min(...pts.map((p) => p.a)), Math.max(...pts.map((p) => p.a))];
  if (eHi === eLo) [eLo, eHi] = [eLo * 0.95, eHi * 1.05 + 1e-9];
  if (aHi === aLo) [aLo, aHi] = [aLo - 1, aHi + 1];
  const [padE, padA] = [(eHi - eLo) * 0.05, (aHi - aLo) * 0.05];
  [eLo, eHi, aLo, aHi] = [eLo - padE, eHi + padE, aLo - padA, aHi + padA];
  const X = (e: number) => box.x + ((e - eLo) / (eHi - eLo)) * box.w;
  const Y = (a: number) => box.y + box.h - ((a - aLo) / (aHi - aLo)) * box.h;
  const onFront = new Set(r.front.map((p) => p.key));
  const at = (p: (typeof pts)[number]) => ({ x: f(X(p.e)), y: f(Y(p.a)), tip: p.tip });
  const front = pts.filter((p) => onFront.has(p.key)).sort((a, b) => a.e - b.e);
  return render('explore/partials/scatter.svg', {
    title: `architectures with their cells: ${r.objective} energy vs validation accuracy (${r.search})`,
    width,
    height,
    box,
    xticks: niceTicks(eLo, eHi).map((v) => ({ x: f(X(v)), y: box.y + box.h, label_y: box.y + box.h + 14, label: String(+v.toPrecision(4)) })),
    yticks: niceTicks(aLo, aHi).map((v) => ({ x: box.x + box.w, y: f(Y(v)), label_x: box.x - 6, label: String(+v.toPrecision(4)) })),
    budgetLine: false,
    points: pts.filter((p) => !onFront.has(p.key)).map((p) => ({ ...at(p), color: '#999' })),
    front: front.map(at),
    frontPath: front.map((p) => `${f(X(p.e))},${f(Y(p.a))}`).join(' '),
    winner: at(pts.find((p) => p.key === r.winner)!),
    xlabel: { x: box.x + box.w / 2, y: height - 18, text: `${r.objective} energy per inference (nJ), with the candidate's cells` },
    ylabel: { x: 18, y: box.y + box.h / 2, text: 'validation accuracy (%), with its cells' },
  });
}

const tipOf = (c: NasResult['candidates'][number]) =>
  `${c.label}: ${f(c.approx.energyPj / 1e3, 1)} nJ, val ${pct(c.approx.valAccuracy)} % (exact ${pct(c.exact.valAccuracy)} %) | ${c.approx.cells.join(' ')}`;

export function renderNasHtml(r: NasResult, final: FinalResult | null, svg: string): string {
  const w = r.candidates.find((c) => c.key === r.winner)!;
  const onFront = new Set(r.front.map((p) => p.key));
  return render('nas/report.html', {
    r,
    svg,
    budget: pct(r.budget),
    macLo: f(r.space.macRange[0] / 1e6, 3),
    macHi: f(r.space.macRange[1] / 1e6, 3),
    total: f(r.seconds.total, 1),
    perCandidate: f(r.seconds.perCandidate, 1),
    perFresh: f(r.seconds.perFreshCandidate, 1),
    candidates: r.candidates.map((c, i) => ({
      n: i + 1,
      label: c.label,
      front: onFront.has(c.key),
      winner: c.key === r.winner,
      generation: c.generation,
      macs: f(c.macs / 1e6, 3),
      params: c.params,
      trainS: c.fromJournal ? 'journal' : `${f(c.seconds.train, 1)}${c.train.cached ? ' (cached)' : ''}`,
      cellsS: c.fromJournal ? 'journal' : f(c.seconds.explore, 1),
      exactVal: pct(c.exact.valAccuracy),
      exactNj: f(c.exact.energyPj / 1e3, 1),
      cycles: f(c.exact.cyclesPerInference, 0),
      val: pct(c.approx.valAccuracy),
      test: pct(c.approx.testAccuracy),
      nj: f(c.approx.energyPj / 1e3, 1),
      saving: pct(c.approx.saving, 1),
    })),
    winner: {
      label: w.label,
      val: pct(w.approx.valAccuracy),
      test: pct(w.approx.testAccuracy),
      nj: f(w.approx.energyPj / 1e3, 1),
      layers: w.approx.layers.map((l, i) => ({ layer: l, cell: w.approx.cells[i] })),
    },
    final: final
      ? {
          ...final,
          trainS: f(final.train.seconds, 1),
          exactVal: pct(final.exact.valAccuracy),
          exactTest: pct(final.exact.testAccuracy),
          exactNj: f(final.exact.energyPj / 1e3, 1),
          val: pct(final.winner.valAccuracy),
          test: pct(final.winner.testAccuracy),
          nj: f(final.winner.energyPj / 1e3, 1),
          saving: pct(final.winner.saving, 1),
          layers: final.winner.layers.map((l, i) => ({ layer: l, cell: final.winner.cells[i] })),
          rtlText: final.rtl
            ? `RTL (${final.rtl.designDir}, ${final.rtl.images} test images): ${pct(final.rtl.rtlAccuracy)} % vs engine ${pct(final.rtl.softwareEstimate)} % -> ${final.rtl.equal ? 'EQUAL' : 'DIFFERENT'}, ${f(final.rtl.cyclesPerInference, 0)} cycles/inference`
            : `RTL: not run (${final.rtlNote})`,
        }
      : false,
  });
}

export function writeNasOutputs(dir: string, r: NasResult, final: FinalResult | null): Record<string, string> {
  const paths = { summary: join(dir, 'summary.json'), svg: join(dir, 'front.svg'), html: join(dir, 'report.html') };
  const svg = frontSvg(r);
  writeFileAtomic(paths.summary, `${JSON.stringify({ ...r, final }, null, 2)}\n`);
  writeFileAtomic(paths.svg, svg);
  writeFileAtomic(paths.html, renderNasHtml(r, final, svg));
  return paths;
}
