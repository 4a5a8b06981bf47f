import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultLiberty } from '../core/paths.ts';
import { loadDesign } from '../generators/array/index.ts';
import { DEFAULT_ELECTRICAL } from '../synth/energy.ts';
import { type CellEnergyOptions, delayScaleAt, type GlitchEnergy, glitchEnergy } from '../synth/power.ts';
import { DEFAULT_VOS_OPS, designTargets, layerStream, type StreamKind, targetStimulus, timedNetlist, uniformPeStream } from './vos.ts';

/**
 * Glitch share of the dynamic energy of every PE of a design (`axtpu power --timed <design dir>`,
 * docs/vos.md): each distinct PE module (cell, mode) as `vos characterize` sees it (synthesized,
 * clocked at timing closure unless a clock is given, driven by the design's LeNet-5 layer stream
 * or a uniform PE stream), through synth/power.ts glitchEnergy: timed vs every delay zero, both
 * priced alike. One operation = one PE cycle (a MAC into the psum register).
 */
export interface PeGlitchOptions extends Omit<CellEnergyOptions, 'stream' | 'streamFile' | 'uniform'> {
  peStream: StreamKind;
  /** Vectors of the stream (PE cycles); default DEFAULT_VOS_OPS. */
  ops?: number;
  /** ONNX model of the layer stream (default models/lenet5-fmnist.onnx). */
  model?: string;
}

export interface PeGlitchRow extends GlitchEnergy {
  module: string;
  cell: string;
  mode: number;
  gates: number;
}

export interface PeGlitchReport {
  design: string;
  liberty: string;
  stream: { kind: StreamKind; ops: number };
  /** Supply (null: the library nominal) and its delay factor; the clock given (null: each PE's closure). */
  vdd: number | null;
  delayScale: number;
  clockMHz: number | null;
  rows: PeGlitchRow[];
}

/** A `power` argument naming a design directory rather than a cell id (ids never hold a '/'). */
export function isDesignArg(spec: string): boolean {
  return spec.includes('/') || (existsSync(spec) && statSync(spec).isDirectory());
}

export async function peGlitchEnergy(dir: string, o: PeGlitchOptions): Promise<PeGlitchReport> {
  const design = loadDesign(dir);
  const targets = designTargets(design);
  const liberty = resolve(o.liberty ?? defaultLiberty());
  const ops = o.ops ?? DEFAULT_VOS_OPS;
  const delayScale = delayScaleAt(liberty, o);
  const elec = { outputLoadPf: o.outputLoadPf ?? DEFAULT_ELECTRICAL.outputLoadPf, inputSlewNs: o.inputSlewNs ?? DEFAULT_ELECTRICAL.inputSlewNs };
  const rows: PeGlitchRow[] = [];
  for (const t of targets) {
    const n = await timedNetlist(t, liberty, elec);
    const periodNs = o.clockMHz !== undefined ? 1000 / o.clockMHz : n.staticNs;
    const s = o.peStream === 'layer' ? await layerStream(t.cell, design, ops, o.model) : uniformPeStream(ops, t.psumBits, o.seed);
    const stim = targetStimulus(t, n, s);
    const g = await glitchEnergy(n.syn, n.gs, n.tm, stim, { periodNs, delayScale, port: t.word.port }, { ...o, clockMHz: 1000 / periodNs });
    rows.push({ module: t.top, cell: t.cell, mode: t.mode, gates: n.syn.netlist.cells.length, ...g });
  }
  return { design: design.name, liberty, stream: { kind: o.peStream, ops }, vdd: o.vdd ?? null, delayScale, clockMHz: o.clockMHz ?? null, rows };
}
