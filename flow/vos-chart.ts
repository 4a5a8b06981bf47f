import type { VosReport } from './vos.ts';

/**
 * Template context of the `vos characterize` figure (templates/flow/vos.svg.hbs): two panels over
 * the supply voltage, error rate (share of operations with a wrong captured word) and dynamic
 * energy per operation (timed activity, glitches included), one line per target.
 */
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const PW = 320;
const PH = 220;
const LEFT = 56;

export function vosChartContext(r: VosReport): object {
  const volts = [...new Set(r.targets.flatMap((t) => t.levels.map((l) => l.volts)))].sort((a, b) => a - b);
  const vMin = volts[0]!;
  const vMax = volts[volts.length - 1]!;
  const xOf = (v: number) => LEFT + (vMax > vMin ? ((v - vMin) / (vMax - vMin)) * PW : PW / 2);
  const panel = (i: number, label: string, pick: (l: VosReport['targets'][number]['levels'][number]) => number, fmt: (x: number) => string) => {
    const ys = r.targets.flatMap((t) => t.levels.map(pick));
    const yMax = Math.max(...ys, 0) || 1;
    const yOf = (y: number) => 10 + PH - (y / yMax) * PH;
    return {
      x: i * (PW + LEFT + 30),
      label,
      left: LEFT,
      right: LEFT + PW,
      bottom: 10 + PH,
      midX: LEFT + PW / 2,
      plotW: PW,
      plotH: PH,
      yTicks: [0, 0.25, 0.5, 0.75, 1].map((f) => ({ y: yOf(f * yMax).toFixed(1), text: fmt(f * yMax) })),
      xTicks: volts.map((v) => ({ x: xOf(v).toFixed(1), text: String(v) })),
      series: r.targets.map((t, k) => {
        const pts = [...t.levels].sort((a, b) => a.volts - b.volts).map((l) => ({ x: xOf(l.volts).toFixed(1), y: yOf(pick(l)).toFixed(1) }));
        return {
          name: `${t.kind} ${t.cell}`,
          color: COLORS[k % COLORS.length],
          points: pts.map((p) => `${p.x},${p.y}`).join(' '),
          dots: pts,
          legendY: 26 + 14 * k,
        };
      }),
    };
  };
  const panels = [
    panel(
      0,
      'error rate (wrong words / operations)',
      (l) => l.errorRate,
      (x) => (x === 0 ? '0' : x.toExponential(1)),
    ),
    panel(
      1,
      'energy per operation (pJ, timed)',
      (l) => l.energyPj,
      (x) => x.toFixed(1),
    ),
  ];
  const width = 2 * (PW + LEFT + 30);
  return { width, height: PH + 90, half: width / 2, title: `${r.subject}: ${r.library}, ${r.stream.kind} stream`, panels };
}
