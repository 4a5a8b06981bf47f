import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ensureDir, writeDirAtomic } from '../core/atomic.ts';
import { render } from '../core/templates.ts';
import { niceTicks } from '../explore/report.ts';
import type { Outcome } from './outcome.ts';
import { jobLabel, type Sweep, type SweepJob } from './spec.ts';

/**
 * A sweep's output folder (written whole, atomically, when the sweep ends):
 *   summary.csv, summary.json   one row per job
 *   summary.html                the table and every explore job's Pareto front overlaid (SVG)
 *   <job id>/result.json        the job's options, its record and the command's full report
 *   <job id>/...                explore jobs: summary.json, front.csv, front.json, report.html, journal.jsonl
 */
export interface SummaryRow {
  id: string;
  kind: string;
  job: string;
  status: 'done' | 'failed';
  attempts: number;
  images: number | null;
  accuracy: number | null;
  /** eval/run: none / RTL energy per inference (accelerator); explore: the winner's energy under the job's objective (in its label). */
  energyPj: number | null;
  /** explore: the winner's saving vs exact under the job's objective. */
  saving: number | null;
  seconds: number | null;
  host: string | null;
  message: string;
}

type ExploreGroupRecord = {
  scheme: string;
  baseline: { energyPj: number; valAccuracy: number };
  winner: { energyPj: number; saving: number; valAccuracy: number; testAccuracy: number | null };
  front: { cells: string[]; energyPj: number; valAccuracy: number }[];
};

export function summaryRow(job: SweepJob, oc: Outcome): SummaryRow {
  const base = { id: job.id, kind: job.options.kind, job: jobLabel(job), attempts: oc.attempts };
  if (oc.status === 'failed')
    return { ...base, status: 'failed', images: null, accuracy: null, energyPj: null, saving: null, seconds: null, host: null, message: oc.message };
  const r = oc.result;
  const rec = r.record as Record<string, unknown>;
  const seconds = (r.endedAt - r.startedAt) / 1000;
  const row: SummaryRow = {
    ...base,
    status: 'done',
    images: null,
    accuracy: null,
    energyPj: null,
    saving: null,
    seconds,
    host: `${r.host}:${r.pid}`,
    message: '',
  };
  if (r.kind === 'eval' || r.kind === 'run') {
    row.images = rec.images as number;
    row.accuracy = rec.accuracy as number;
    const e = rec.energyPjPerInference as { total: number } | null | undefined;
    row.energyPj = e ? e.total : null;
  } else {
    const groups = rec.groups as ExploreGroupRecord[];
    const w = groups[rec.winnerGroup as number]!.winner;
    row.accuracy = w.testAccuracy;
    row.energyPj = w.energyPj;
    row.saving = w.saving;
  }
  return row;
}

const HEADERS = ['id', 'kind', 'job', 'status', 'attempts', 'images', 'accuracy', 'energy_pj', 'saving', 'seconds', 'host', 'message'] as const;

function cells(r: SummaryRow): string[] {
  const n = (x: number | null, d: number) => (x === null ? '' : x.toFixed(d));
  return [
    r.id,
    r.kind,
    r.job,
    r.status,
    String(r.attempts),
    r.images === null ? '' : String(r.images),
    n(r.accuracy, 6),
    n(r.energyPj, 1),
    n(r.saving, 6),
    n(r.seconds, 2),
    r.host ?? '',
    r.message,
  ];
}

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

export function summaryCsv(rows: SummaryRow[]): string {
  return `${[HEADERS.join(','), ...rows.map((r) => cells(r).map(csvField).join(','))].join('\n')}\n`;
}

const COLORS = ['#1f5fa8', '#d62', '#2a9d4b', '#8a4fbf', '#c9a000', '#17a2b8', '#e377c2', '#7f7f7f'];

/** Every finished explore job's fronts on one plot: relative energy vs validation loss (pp). */
export function frontsPlot(jobs: SweepJob[], outcomes: Outcome[]) {
  const series: { label: string; pts: { e: number; l: number; tip: string }[] }[] = [];
  outcomes.forEach((oc, i) => {
    if (oc.status !== 'done' || oc.result.kind !== 'explore') return;
    for (const g of (oc.result.record as { groups: ExploreGroupRecord[] }).groups) {
      const pts = g.front.map((p) => {
        const e = (100 * p.energyPj) / g.baseline.energyPj;
        const l = 100 * (g.baseline.valAccuracy - p.valAccuracy);
        return { e, l, tip: `${e.toFixed(1)} % energy, loss ${l.toFixed(2)} pp | ${p.cells.join(' ')}` };
      });
      series.push({ label: `${oc.id.slice(0, 8)} ${g.scheme}: ${jobLabel(jobs[i]!)}`, pts });
    }
  });
  if (series.length === 0) return null;
  const width = 900;
  const legendH = 14 * series.length + 10;
  const height = 380 + legendH;
  const box = { x: 70, y: 15, w: width - 100, h: 310 };
  const es = series.flatMap((s) => s.pts.map((p) => p.e));
  const ls = series.flatMap((s) => s.pts.map((p) => p.l));
  let [eLo, eHi] = [Math.min(...es, 100), Math.max(...es, 100)];
  let [lLo, lHi] = [Math.min(...ls, 0), Math.max(...ls, 0)];
  if (eHi === eLo) [eLo, eHi] = [eLo - 1, eHi + 1];
  if (lHi === lLo) [lLo, lHi] = [lLo - 0.5, lHi + 0.5];
  [eLo, eHi] = [eLo - 0.05 * (eHi - eLo), eHi + 0.05 * (eHi - eLo)];
  [lLo, lHi] = [lLo - 0.05 * (lHi - lLo), lHi + 0.05 * (lHi - lLo)];
  const X = (e: number) => box.x + ((e - eLo) / (eHi - eLo)) * box.w;
  const Y = (l: number) => box.y + box.h - ((l - lLo) / (lHi - lLo)) * box.h;
  const f = (x: number) => x.toFixed(2);
  return {
    title: 'Pareto fronts of the sweep',
    width,
    height,
    box,
    xticks: niceTicks(eLo, eHi).map((v) => ({ x: f(X(v)), y: box.y + box.h, label_y: box.y + box.h + 14, label: String(+v.toPrecision(4)) })),
    yticks: niceTicks(lLo, lHi).map((v) => ({ x: box.x + box.w, y: f(Y(v)), label_x: box.x - 6, label: String(+v.toPrecision(4)) })),
    series: series.map((s, i) => ({
      label: s.label,
      color: COLORS[i % COLORS.length],
      path: s.pts.map((p) => `${f(X(p.e))},${f(Y(p.l))}`).join(' '),
      points: s.pts.map((p) => ({ x: f(X(p.e)), y: f(Y(p.l)), tip: p.tip })),
      legend: { x: box.x, y: box.y + box.h + 34 + 14 * i, tx: box.x + 14, ty: box.y + box.h + 43 + 14 * i },
    })),
    xlabel: { x: box.x + box.w / 2, y: box.y + box.h + 28, text: "energy under each job's objective, % of its exact design" },
    ylabel: { x: 18, y: box.y + box.h / 2, text: 'validation accuracy loss vs exact (pp)' },
  };
}

export interface SweepRunInfo {
  runner: string;
  seconds: number;
}

/** Write the whole output folder atomically (core/atomic.ts; `force` as for other commands). */
export async function writeSweepOutputs(dir: string, sweep: Sweep, outcomes: Outcome[], info: SweepRunInfo, force: boolean): Promise<SummaryRow[]> {
  const rows = sweep.jobs.map((j, i) => summaryRow(j, outcomes[i]!));
  const done = rows.filter((r) => r.status === 'done').length;
  await writeDirAtomic(
    dir,
    (out) => {
      writeFileSync(join(out, 'summary.csv'), summaryCsv(rows));
      writeFileSync(join(out, 'summary.json'), `${JSON.stringify({ file: sweep.file, ...info, jobs: rows }, null, 2)}\n`);
      writeFileSync(
        join(out, 'summary.html'),
        render('sweep/summary.html', {
          name: basename(sweep.file),
          file: sweep.file,
          jobs: rows.length,
          done,
          failed: rows.length - done,
          runner: info.runner,
          seconds: info.seconds.toFixed(1),
          plot: frontsPlot(sweep.jobs, outcomes),
          headers: HEADERS,
          rows: rows.map(cells),
        }),
      );
      sweep.jobs.forEach((job, i) => {
        const oc = outcomes[i]!;
        const jd = join(out, job.id);
        ensureDir(jd);
        if (oc.status === 'failed') {
          writeFileSync(join(jd, 'failure.json'), `${JSON.stringify({ options: job.options, attempts: oc.attempts, message: oc.message }, null, 2)}\n`);
          return;
        }
        const r = oc.result;
        writeFileSync(join(jd, 'result.json'), `${JSON.stringify({ id: job.id, options: job.options, record: r.record, report: r.report }, null, 2)}\n`);
        for (const [name, text] of Object.entries(r.files)) writeFileSync(join(jd, basename(name)), text);
      });
    },
    { force },
  );
  return rows;
}
