import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomic } from '../core/atomic.ts';
import { UserError } from '../core/errors.ts';
import { shortHash } from '../core/hash.ts';
import { markdownTable } from '../core/output.ts';
import { synthReportsDir } from '../core/paths.ts';
import { render } from '../core/templates.ts';
import { type Design, designLayout, loadDesign, resolveDesign } from '../generators/array/index.ts';
import { checkCvRows, foldPlan } from '../mapping/gemm.ts';
import { BUFFER_COUNT_KEYS } from '../mapping/memory.ts';
import { type Placement, placeModel } from '../mapping/place.ts';
import { type Assignment, readAssignment, schemeFor } from '../nn/assign.ts';
import { type CvConfig, parseCvSpec } from '../nn/cv.ts';
import { compensation } from '../nn/cv-calib.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { checkShapes, loadQuantModelFor } from '../nn/load.ts';
import { type PruneResult, type PruneSpec, pruneModel, pruneSummary } from '../nn/prune.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import { CALIBRATION } from '../nn/quantize.ts';
import {
  applyWeightFaults,
  checkWmemOptions,
  loadWmemModel,
  type WeightFaultResult,
  type WmemOptions,
  wmemEnergyScale,
  wmemLine,
  wmemVoltsFor,
} from '../nn/wmem.ts';
import { flipTable } from '../sim/array.ts';
import { type AnalyticalLayer, analyticalRun } from './analytical.ts';
import {
  ENERGY_PARTS,
  type EnergyPart,
  type LayerEnergy,
  layerEnergy,
  OBJECTIVES,
  type Objective,
  type OpEnergies,
  objectiveEnergy,
  opEnergies,
  scaleWeightMemory,
} from './energy.ts';
import { energyStackSvg } from './energy-plot.ts';
import { type LayerTrace, type RtlRunOptions, runRtl } from './rtl.ts';
import type { VosReport } from './vos.ts';
import { hardwareVolts, injectionSpec, type VoltageMap } from './vos-inject.ts';

export interface FlowOptions {
  model: string;
  /** Design directory (rtl-out/<name>) or an inline array config (gen flags). */
  design: string | Record<string, unknown>;
  dataset?: string;
  limit?: number;
  batch?: number;
  mode?: number;
  assign?: string;
  vcd?: RtlRunOptions['vcd'];
  activity?: RtlRunOptions['activity'];
  /** Voltage level index per global voltage domain (default all 0). */
  levels?: number[];
  /**
   * Error injection at the domain outputs: flip probability per level name, one number for every
   * psum bit or one per bit (as `axtpu sim gemm --flip`). Mismatches against the clean software
   * reference are then the injected errors' effect, reported rather than failing the run.
   */
  flip?: Record<string, number | number[]>;
  /**
   * Timing errors of overscaled columns from fitted per-voltage models (flow/vos.ts reports), at
   * the supply the hardware gives each column (its domain's level under `levels`), drawn as the
   * engine draws them (nn/inject.ts) and added to the column results in the RTL (flow/rtl.ts
   * `inject`). Not with `flip`.
   */
  timingErrors?: { report: VosReport; seed: number };
  /** Plain harness processes and batches in flight (flow/rtl.ts defaults: 2 and 2 per harness). */
  harnesses?: number;
  inFlight?: number;
  clockMHz?: number;
  /** A --memory-model file (default models/memory-model.json). */
  memoryModel?: string;
  /** Skip the energy estimate (cycles and equality only). */
  noEnergy?: boolean;
  /** Control-variate compensation (nn/cv.ts `parseCvSpec`) and its default q; the design needs the hardware. */
  cv?: string;
  cvQ?: number;
  /** Magnitude pruning of the quantized model before the run (nn/prune.ts); array and engine run the pruned model. */
  prune?: PruneSpec;
  /**
   * Approximate weight memory (nn/wmem.ts, docs/wmem.md): the weight FIFO's 6T cells at a reduced
   * supply per layer, nominal = the design's level-0 supply. The array reads the faulty bits (RTL
   * wfault hook), the reference engine runs the faulty model, and each layer's weight-FIFO read and
   * write energy scales by `wmemEnergyScale`.
   */
  wmem?: WmemOptions;
  /** Write the report directory (default true). */
  write?: boolean;
  onBatch?: RtlRunOptions['onBatch'];
  onGemm?: RtlRunOptions['onGemm'];
}

export interface FlowLayerRow extends LayerTrace {
  energy?: LayerEnergy;
}

export interface FlowReport {
  model: string;
  /** The quantized model the run used (a cache entry when --model is an ONNX file). */
  quantizedModel: string;
  design: string;
  designConfig: unknown;
  dataset: string;
  images: number;
  batch: number;
  accuracy: number;
  engineAccuracy: number;
  predMismatches: number;
  layerMismatches: number;
  /** First layer (model order) whose array accumulators differ from the reference's. */
  firstMismatchLayer: string | null;
  /** Error injection was on (mismatches are its effect, not a failure). */
  injection: boolean;
  /** The --flip model of an injection run. */
  flip?: Record<string, number | number[]>;
  /** With --prune: per conv/dense layer the asked sparsity and the zero-weight fraction reached. */
  prune?: PruneResult['layers'];
  /** With --wmem-volts: the fault model, its nominal, protection, seed, and per layer the faulty bits and the weight-FIFO energy factor. */
  wmem?: {
    model: string;
    nominal: number;
    protectMsbs: number;
    seed: number;
    layers: (WeightFaultResult['layers'][number] & { energyScale: number })[];
  };
  /** Fitted timing errors: their seed, the supply map, and the PE operations / column results drawn wrong. */
  timingErrors?: { seed: number; volts: VoltageMap; wrongOps: number; wrongResults: number };
  cyclesPerInference: number;
  modelCyclesPerInference: number;
  /** Every layer's RTL buffer-access counters equal mapping/memory.ts's count. */
  buffersMatchModel: boolean;
  cyclesMatchModel: boolean;
  energy?: {
    vdd: number;
    clockMHz: number;
    pjPerInference: EnergyPerInference;
    pjPerMac: number;
    /** pJ per inference of each objective's scope (multiplier, array, accelerator = total). */
    objectives: Record<Objective, number>;
    ops: OpEnergies;
  };
  macsPerInference: number;
  layers: FlowLayerRow[];
  analytical: AnalyticalLayer[];
  analyticalMatchesRtl: boolean;
  harness: {
    built: boolean;
    buildMs: number;
    cycles: number;
    loopSeconds: number;
    loopCpuSeconds: number;
    cyclesPerSecond: number;
    plainCyclesPerSecond: number | null;
    plainExe?: string;
  };
  seconds: { total: number; rtl: number; energy: number };
  /** VCD written by --vcd. */
  vcd?: string;
  reportDir?: string;
}

/** Per-inference energy by part: each LayerEnergy key without its 'Pj' suffix, plus the total. */
export type EnergyPerInference = { [K in EnergyPart as K extends `${infer P}Pj` ? P : never]: number } & { total: number };

export function perInference(layers: { energy?: LayerEnergy }[], images: number): EnergyPerInference {
  const out: Record<string, number> = {};
  for (const p of ENERGY_PARTS) out[p.key.replace(/Pj$/, '')] = layers.reduce((s, l) => s + (l.energy ? l.energy[p.key] : 0), 0) / images;
  out.total = layers.reduce((s, l) => s + (l.energy ? l.energy.totalPj : 0), 0) / images;
  return out as EnergyPerInference;
}

/** The LayerEnergy parts of a per-inference breakdown (its keys with 'Pj' put back). */
export function partsOfPerInference(e: EnergyPerInference): Record<EnergyPart, number> {
  const r = e as unknown as Record<string, number>;
  return Object.fromEntries(ENERGY_PARTS.map((p) => [p.key, r[p.key.replace(/Pj$/, '')]!])) as Record<EnergyPart, number>;
}

export function designFrom(spec: FlowOptions['design']): Design {
  if (typeof spec === 'string') return loadDesign(spec);
  return resolveDesign(spec, 'array flags');
}

function checkLevels(design: Design, levels: number[] | undefined): void {
  if (!levels) return;
  const nd = designLayout(design).domains.length;
  if (levels.length > nd) throw new UserError(`--levels has ${levels.length} entries but design ${design.name} has ${nd} voltage domain(s)`);
  const bad = levels.find((l) => !Number.isInteger(l) || l < 0 || l >= design.levels.length);
  if (bad !== undefined)
    throw new UserError(
      `--levels: level ${bad} out of range (design ${design.name} has ${design.levels.length} level(s): ${design.levels.map((l) => `${l.name} ${l.volts} V`).join(', ')})`,
    );
}

/**
 * The compensation an RTL run applies (docs/cv.md): fitted on calibration (training) images like
 * `axtpu eval --cv`, checked against the design's hardware (present, enough coefficient rows).
 */
function flowCompensation(model: QuantModel, design: Design, placement: Placement, spec: string, q: number | undefined, dataset: string | undefined): CvConfig {
  if (!design.controlVariate) throw new UserError(`--cv: design ${design.name} has no control-variate hardware (generate it with gen --control-variate)`);
  const plan = parseCvSpec(spec, model, q);
  for (const l of convLayers(model)) {
    const p = placement.layers.find((x) => x.layer === l.name)!;
    if (plan[l.name] !== undefined) checkCvRows(design, foldPlan(design, p.tile, 1, l.K, l.oc));
  }
  const calib = limitDataset(loadDataset(dataset, 'train'), CALIBRATION.images);
  return compensation(model, placement.resolved, plan, { pixels: calib.pixels, count: calib.count }).cv;
}

export async function runFlow(o: FlowOptions): Promise<FlowReport> {
  const t0 = performance.now();
  const design = designFrom(o.design);
  // Weight-memory options are checked before calibration and RTL (layer names once the model is loaded).
  const wm = o.wmem ? loadWmemModel(o.wmem.modelFile) : undefined;
  const nominal = design.levels[0]!.volts;
  if (o.wmem && wm) checkWmemOptions(o.wmem, wm, nominal);
  // Calibrated on the dataset the run evaluates on, as `axtpu eval` and `axtpu explore` do.
  const loaded = await loadQuantModelFor(o.model, schemeFor(design.signed), { dataset: o.dataset });
  const source = loaded.source;
  const pruned = o.prune === undefined ? undefined : pruneModel(loaded.model, o.prune);
  const model = pruned ? pruned.model : loaded.model;
  const faulted =
    o.wmem && wm
      ? applyWeightFaults(model, wmemVoltsFor(model, o.wmem.volts), { seed: o.wmem.seed, protectMsbs: o.wmem.protectMsbs, model: wm, nominal })
      : undefined;
  const want: Assignment | undefined = o.assign ? readAssignment(o.assign) : undefined;
  // The array multiplies what it reads: the LUT rows of the reference follow the faulty weights.
  const placement: Placement = placeModel(faulted ? faulted.model : model, design, { mode: o.mode, want });
  checkLevels(design, o.levels);
  const flip = o.flip === undefined ? undefined : flipTable(design, o.flip);
  if (flip && o.timingErrors) throw new UserError('flip (bit flips) and fitted timing errors cannot be injected in one run');
  const te = o.timingErrors;
  const volts = te ? hardwareVolts(design, placement, o.levels ?? []) : undefined;
  const inject = te ? injectionSpec(te.report, design, placement, volts!, { seed: te.seed, modelName: model.name }) : undefined;
  const ds = limitDataset(loadDataset(o.dataset, 'test'), o.limit);
  checkShapes(model.inputShape, ds, o.model, model.shapes[model.output]?.c);
  const batch = o.batch ?? 250;
  // The compensation is fitted at compile time, on the TRUE weights (their own LUT rows).
  const cvPlacement = faulted ? placeModel(model, design, { mode: o.mode, want }) : placement;
  const cv = o.cv === undefined ? undefined : flowCompensation(model, design, cvPlacement, o.cv, o.cvQ, o.dataset);
  const rtl = await runRtl(faulted ? faulted.model : model, design, placement, ds, {
    weightMemory: faulted ? { stored: model } : undefined,
    cv,
    batch,
    vcd: o.vcd,
    onBatch: o.onBatch,
    onGemm: o.onGemm,
    activity: o.activity,
    levels: o.levels,
    flip,
    inject,
    inFlight: o.inFlight,
    harnesses: o.harnesses,
  });
  const tRtl = performance.now();
  let ops: OpEnergies | undefined;
  if (!o.noEnergy)
    ops = await opEnergies({
      design,
      layers: placement.layers,
      streams: rtl.streams,
      accRows: rtl.accRows,
      cv,
      clockMHz: o.clockMHz,
      memoryModel: o.memoryModel,
    });
  const tEnergy = performance.now();
  // Approximate weight memory: the weight FIFO's read/write energy of each layer at its supply.
  const wmemScale = new Map((faulted?.layers ?? []).map((l) => [l.layer, wmemEnergyScale(l.volts, nominal, o.wmem!.protectMsbs)]));
  const scaleWmem = <T extends { energy?: LayerEnergy }>(row: T, layer: string): T => {
    const k = wmemScale.get(layer);
    return k === undefined || !row.energy ? row : { ...row, energy: scaleWeightMemory(row.energy, k) };
  };
  const analytical = analyticalRun(model, design, placement, ds.count, batch, ops, o.levels).map((a, j) => scaleWmem(a, placement.layers[j]!.layer));
  // Buffer accesses: the RTL's own counters (checked against the mapping layer's count below);
  // activation DRAM traffic is a per-layer residency rule the RTL has no port for, so it comes
  // from mapping/dram.ts, with the weights' share replaced by the RTL's count (docs/memory.md).
  const layers: FlowLayerRow[] = rtl.layers.map((t) => {
    const j = placement.layers.findIndex((x) => x.layer === t.layer);
    const a = analytical[j]!;
    const dramBytes = a.dram.totalBytes - a.buffers.dramWeightBytes + t.buffers.dramWeightBytes;
    return ops
      ? scaleWmem({ ...t, energy: layerEnergy(design, placement.layers[j]!, t, t.macsByCell, ops, { buffers: t.buffers, dramBytes }, o.levels) }, t.layer)
      : { ...t };
  });
  const n = ds.count;
  let correct = 0;
  let engineCorrect = 0;
  for (let i = 0; i < n; i++) {
    if (rtl.pred[i] === ds.labels[i]) correct++;
    if (rtl.enginePred[i] === ds.labels[i]) engineCorrect++;
  }
  const cycles = layers.reduce((s, l) => s + l.cycles, 0);
  const modelCycles = layers.reduce((s, l) => s + l.modelCycles, 0);
  const macs = layers.reduce((s, l) => s + l.macs, 0);
  const analyticalMatchesRtl = analytical.every((a, i) => {
    const r = layers[i]!;
    const sameE = !ops || (a.energy!.totalPj === r.energy!.totalPj && a.energy!.cellPj === r.energy!.cellPj);
    return a.cycles === r.cycles && a.macs === r.macs && sameE && JSON.stringify(a.macsByCell) === JSON.stringify(r.macsByCell);
  });
  const pj = perInference(layers, n);
  const report: FlowReport = {
    model: o.model,
    quantizedModel: source,
    design: design.name,
    designConfig: design.config,
    dataset: ds.name,
    images: n,
    batch,
    accuracy: correct / n,
    engineAccuracy: engineCorrect / n,
    predMismatches: rtl.predMismatches,
    layerMismatches: layers.reduce((s, l) => s + l.mismatches, 0),
    firstMismatchLayer: rtl.firstMismatchLayer,
    injection: rtl.injection,
    flip: o.flip,
    ...(pruned ? { prune: pruned.layers } : {}),
    ...(faulted && o.wmem && wm
      ? {
          wmem: {
            model: wm.name,
            nominal,
            protectMsbs: o.wmem.protectMsbs,
            seed: o.wmem.seed,
            layers: faulted.layers.map((l) => ({ ...l, energyScale: wmemScale.get(l.layer)! })),
          },
        }
      : {}),
    ...(te
      ? {
          timingErrors: {
            seed: te.seed,
            volts: volts!,
            wrongOps: rtl.layers.reduce((s, l) => s + (l.injected?.wrongOps ?? 0), 0),
            wrongResults: rtl.layers.reduce((s, l) => s + (l.injected?.wrongResults ?? 0), 0),
          },
        }
      : {}),
    cyclesPerInference: cycles / n,
    modelCyclesPerInference: modelCycles / n,
    cyclesMatchModel: layers.every((l) => l.cycles === l.modelCycles),
    buffersMatchModel: layers.every((l) => BUFFER_COUNT_KEYS.every((k) => l.buffers[k] === l.modelBuffers[k])),
    energy: ops
      ? {
          vdd: ops.vdd,
          clockMHz: ops.clockMHz,
          pjPerInference: pj,
          pjPerMac: (pj.total * n) / macs,
          objectives: Object.fromEntries(OBJECTIVES.map((k) => [k, objectiveEnergy(partsOfPerInference(pj), k)])) as Record<Objective, number>,
          ops,
        }
      : undefined,
    macsPerInference: macs / n,
    layers,
    analytical,
    analyticalMatchesRtl,
    harness: {
      built: rtl.harness.built,
      buildMs: rtl.harness.buildMs,
      cycles: rtl.harness.cycles,
      loopSeconds: rtl.harness.loopNs / 1e9,
      loopCpuSeconds: rtl.harness.loopCpuNs / 1e9,
      cyclesPerSecond: rtl.harness.cycles / (rtl.harness.loopNs / 1e9),
      plainCyclesPerSecond: rtl.harness.plainNs > 0 ? rtl.harness.plainCycles / (rtl.harness.plainNs / 1e9) : null,
      plainExe: rtl.harness.plainExe,
    },
    seconds: { total: (performance.now() - t0) / 1000, rtl: (tRtl - t0) / 1000, energy: (tEnergy - tRtl) / 1000 },
    vcd: o.vcd?.path,
  };
  if (o.write !== false) report.reportDir = await writeFlowReport(report);
  return report;
}

const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

export function layerRows(r: FlowReport): (string | number)[][] {
  const n = r.images;
  return r.layers.map((l) => [
    l.layer,
    l.kind,
    `t${l.tile}/m${l.mode}`,
    Object.keys(l.macsByCell).join(' '),
    Math.round(l.macs / n),
    f(l.cycles / n, 1),
    f(l.fillCycles / n, 1),
    f(l.drainCycles / n, 1),
    f(l.stallCycles / n, 1),
    f(100 * l.mappingEfficiency, 1),
    f(100 * l.utilization, 1),
    l.energy ? f(l.energy.cellPj / n, 1) : '-',
    l.energy ? f(l.energy.pePj / n, 1) : '-',
    l.energy ? f(l.energy.accPj / n, 1) : '-',
    l.energy ? f((l.energy.cvColumnPj + l.energy.cvCorrectionPj) / n, 1) : '-',
    l.energy ? f(l.energy.leakagePj / n, 1) : '-',
    l.energy ? f((l.energy.accMemReadPj + l.energy.accMemWritePj + l.energy.accMemLeakagePj) / n, 1) : '-',
    l.energy ? f((l.energy.ubReadPj + l.energy.ubWritePj + l.energy.ubLeakagePj) / n, 1) : '-',
    l.energy ? f((l.energy.wbufReadPj + l.energy.wbufWritePj + l.energy.wbufLeakagePj) / n, 1) : '-',
    l.energy ? f(l.energy.dramPj / n, 1) : '-',
    l.energy ? f(l.energy.totalPj / n, 1) : '-',
    l.mismatches,
  ]);
}

export const LAYER_HEADERS = [
  'layer',
  'kind',
  'tile/mode',
  'cells',
  'MACs/inf',
  'cycles/inf',
  'fill',
  'drain',
  'stall',
  'map eff %',
  'util %',
  'cell pJ',
  'PE pJ',
  'acc pJ',
  'CV pJ',
  'leak pJ',
  'acc mem pJ',
  'UB pJ',
  'WFIFO pJ',
  'DRAM pJ',
  'total pJ',
  'mismatch',
];

export function activityRows(r: FlowReport): (string | number)[][] {
  const rows: (string | number)[][] = [];
  for (const l of r.layers) for (const [id, a] of Object.entries(l.activity?.perCell ?? {})) rows.push([l.layer, id, a.pes, f(a.a, 3), f(a.b, 3), f(a.p, 3)]);
  return rows;
}

/** One line: accelerator total, the three objectives, pJ/MAC, supply and clock. */
export function energySummary(e: NonNullable<FlowReport['energy']>): string {
  const u = (pj: number) => `${f(pj / 1e6, 3)} uJ`;
  return (
    `${u(e.pjPerInference.total)}/inference accelerator (array ${u(e.objectives.array)}, multipliers ${u(e.objectives.multiplier)}), ` +
    `${f(e.pjPerMac, 3)} pJ/MAC at ${e.vdd} V, ${e.clockMHz} MHz`
  );
}

export function energyPartRows(pj: EnergyPerInference): (string | number)[][] {
  const parts = partsOfPerInference(pj);
  return ENERGY_PARTS.map((p) => [p.label, f(parts[p.key], 1), f((100 * parts[p.key]) / pj.total, 2)]);
}

function memorySummary(ops: OpEnergies): string {
  const m = ops.memory;
  const s = (x: { bytes: number; wordBits: number; readPj: number; writePj: number; leakageNw: number }) =>
    `${x.bytes / 1024} KiB x ${x.wordBits}-bit words: read ${f(x.readPj, 1)} pJ, write ${f(x.writePj, 1)} pJ, leakage ${f(x.leakageNw / 1e3, 1)} uW`;
  return [
    `memory model ${m.model} at ${m.nodeNm} nm, ${m.volts} V${m.extrapolated ? ' (node scaling EXTRAPOLATED beyond the Stillmaker-Baas table)' : ''}:`,
    `activation buffer ${s(m.ub)}; weight FIFO ${s(m.wbuf)}; accumulator memory (tile 0) ${s(m.acc[0]!)}; DRAM ${f(m.dramPjPerByte, 1)} pJ/byte.`,
  ].join(' ');
}

/** The run report's stacked bar: every layer and the whole inference, per inference. */
export function runEnergySvg(r: FlowReport): string {
  const n = r.images;
  const rows = r.layers
    .filter((l) => l.energy)
    .map((l) => ({ label: l.layer, parts: Object.fromEntries(ENERGY_PARTS.map((p) => [p.key, l.energy![p.key] / n])) as Record<EnergyPart, number> }));
  rows.push({ label: 'inference', parts: partsOfPerInference(r.energy!.pjPerInference) });
  return energyStackSvg(`accelerator energy per inference by part (${r.design})`, rows);
}

async function writeFlowReport(r: FlowReport): Promise<string> {
  const hash = shortHash({
    model: r.model,
    design: r.designConfig,
    images: r.images,
    batch: r.batch,
    dataset: r.dataset,
    ...(r.flip ? { flip: r.flip } : {}),
    ...(r.prune ? { prune: r.prune } : {}),
    ...(r.wmem ? { wmem: r.wmem } : {}),
    ...(r.timingErrors ? { timingErrors: r.timingErrors } : {}),
  });
  const dir = join(synthReportsDir(), `run-${hash}`);
  const md = render('flow/report.md', {
    ...r,
    accuracyPct: f(100 * r.accuracy),
    engineAccuracyPct: f(100 * r.engineAccuracy),
    cycles: f(r.cyclesPerInference, 1),
    modelCycles: f(r.modelCyclesPerInference, 1),
    pruneText: r.prune ? pruneSummary(r.prune) : '',
    wmemText: r.wmem ? wmemText(r.wmem) : '',
    energyText: r.energy ? energySummary(r.energy) : 'not estimated (--no-energy)',
    energyParts: r.energy ? markdownTable(['part', 'pJ / inference', 'share %'], energyPartRows(r.energy.pjPerInference)) : '',
    memoryText: r.energy ? memorySummary(r.energy.ops) : '',
    layerTable: markdownTable(LAYER_HEADERS, layerRows(r)),
    activityTable: markdownTable(['layer', 'cell', 'PEs', 'a toggles/PE/cycle', 'b', 'p'], activityRows(r)),
    cps: f(r.harness.cyclesPerSecond / 1e6, 3),
  });
  await writeDirAtomic(dir, (tmp) => {
    writeFileSync(join(tmp, 'run.json'), `${JSON.stringify(r, null, 2)}\n`);
    writeFileSync(join(tmp, 'run.md'), md);
    if (r.energy) writeFileSync(join(tmp, 'energy.svg'), runEnergySvg(r));
  });
  return dir;
}

/** The weight-memory line of the run report: faults per layer and the energy scope. */
export function wmemText(w: NonNullable<FlowReport['wmem']>): string {
  return (
    `${wmemLine(w.layers, w.protectMsbs, w.seed)}; model ${w.model}, nominal ${w.nominal} V; weight-FIFO read/write energy x ` +
    `${w.layers.map((l) => `${l.layer} ${l.energyScale.toFixed(3)}`).join(', ')} (6T columns (V/Vnom)^2, protected MSB columns at nominal; leakage and DRAM not scaled)`
  );
}
