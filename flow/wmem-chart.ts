/**
 * Template context of the weight-memory figure (templates/flow/wmem.svg.hbs, bench/wmem.ts): one
 * panel per model, test accuracy over the weight memory's supply, one line per number of
 * protected MSBs.
 */
export interface WmemPoint {
  volts: number;
  protectMsbs: number;
  accuracy: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const PW = 320;
const PH = 220;
const LEFT = 56;

export function wmemChartContext(title: string, models: { name: string; points: WmemPoint[] }[]): object {
  const panels = models.map((m, i) => {
    const volts = [...new Set(m.points.map((p) => p.volts))].sort((a, b) => a - b);
    const vMin = volts[0] ?? 0;
    const vMax = volts.at(-1) ?? 1;
    const xOf = (v: number) => LEFT + (vMax > vMin ? ((v - vMin) / (vMax - vMin)) * PW : PW / 2);
    const yOf = (a: number) => 10 + PH - a * PH;
    const protects = [...new Set(m.points.map((p) => p.protectMsbs))].sort((a, b) => a - b);
    return {
      x: i * (PW + LEFT + 30),
      label: m.name,
      left: LEFT,
      right: LEFT + PW,
      bottom: 10 + PH,
      midX: LEFT + PW / 2,
      // Legend bottom right: accuracy is high at high supply, so that corner stays empty.
      legendX: LEFT + PW - 100,
      plotW: PW,
      plotH: PH,
      yTicks: [0, 0.25, 0.5, 0.75, 1].map((f) => ({ y: yOf(f).toFixed(1), text: `${(100 * f).toFixed(0)} %` })),
      xTicks: volts.map((v) => ({ x: xOf(v).toFixed(1), text: v.toFixed(2) })),
      series: protects.map((k, j) => {
        const pts = m.points
          .filter((p) => p.protectMsbs === k)
          .sort((a, b) => a.volts - b.volts)
          .map((p) => ({ x: xOf(p.volts).toFixed(1), y: yOf(p.accuracy).toFixed(1) }));
        return {
          name: `protect ${k} MSB${k === 1 ? '' : 's'}`,
          color: COLORS[j % COLORS.length],
          points: pts.map((p) => `${p.x},${p.y}`).join(' '),
          dots: pts,
          legendY: PH - 14 * (protects.length - 1 - j),
        };
      }),
    };
  });
  const width = Math.max(1, models.length) * (PW + LEFT + 30);
  return { width, height: PH + 90, half: width / 2, title, panels };
}
