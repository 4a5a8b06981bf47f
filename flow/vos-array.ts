import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { cachedJson } from '../core/cache.ts';
import { defaultLiberty } from '../core/paths.ts';
import { resolveDesign } from '../generators/array/index.ts';
import { characterize, closurePeriod, DEFAULT_VOS_OPS, designTargets, timedNetlist, type VosReport, type VosSubject } from './vos.ts';

export interface ArrayVosOptions {
  /** Cells whose PEs the array may hold (one PE target each). */
  cells: string[];
  rows: number;
  cols: number;
  /** The ONNX model whose layer streams drive the PEs. */
  model: string;
  /** Supply levels below nominal. */
  levels: number[];
  ops?: number;
  margin?: number;
  liberty?: string;
  onCell?: (cell: string) => void;
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/**
 * Error models of an array's PEs for the voltage search (`explore --knobs cells,voltage`,
 * docs/vos.md "Voltage search"): one report with the PE of every candidate cell, each driven by
 * the model's own layer streams (the cell on a rows x cols array) and fitted per layer, all at
 * ONE clock: the array's, closed on its slowest PE at nominal voltage (plus margin), so a faster
 * approximate PE runs with the slack it would have in silicon. Cached by content hash.
 */
export async function arrayVosModels(o: ArrayVosOptions): Promise<VosReport> {
  const liberty = resolve(o.liberty ?? defaultLiberty());
  const ops = o.ops ?? DEFAULT_VOS_OPS;
  const margin = o.margin ?? 0;
  const cells = [...new Set(o.cells)].sort();
  // v: 2 since the fits include adder-signs (synth/vos-model.ts).
  const key = { v: 2, cells, rows: o.rows, cols: o.cols, model: sha(o.model), levels: o.levels, ops, margin, liberty: sha(liberty) };
  return cachedJson('vos-array-models', key, async () => {
    const subjects: VosSubject[] = cells.map((cell) => {
      const design = resolveDesign({ name: `vos_${cell}`, rows: o.rows, cols: o.cols, cell }, `voltage search array of ${cell}`);
      return { label: design.name, design, targets: designTargets(design) };
    });
    let slowest = 0;
    for (const s of subjects) for (const t of s.targets) slowest = Math.max(slowest, (await timedNetlist(t, liberty)).staticNs);
    const periodNs = closurePeriod(slowest, margin);
    const reports: VosReport[] = [];
    for (const [i, s] of subjects.entries()) {
      o.onCell?.(cells[i]!);
      reports.push(await characterize(s, { levels: o.levels, stream: 'layer', margin, ops, liberty, model: o.model, opensta: false, periodNs }));
    }
    return { ...reports[0]!, subject: `${o.rows}x${o.cols} array (${cells.join(', ')})`, targets: reports.flatMap((r) => r.targets) };
  });
}
