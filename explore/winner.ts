import { join } from 'node:path';
import { rtlOutDir } from '../core/paths.ts';
import { Progress } from '../core/progress.ts';
import type { Objective } from '../flow/energy.ts';
import { type EnergyPerInference, type FlowOptions, runFlow } from '../flow/run.ts';
import { resolveDesign, writeDesign } from '../generators/array/index.ts';
import { domainLevels } from '../mapping/units.ts';
import { ENGINE_BATCH } from '../nn/parallel.ts';
import type { GroupResult } from './run.ts';

/**
 * The chosen design as hardware: the array config that realizes the winner's assignment is
 * written to rtl-out/<name>/ (generators/array), then the whole test split runs through the
 * generated RTL (flow/, Verilator, LUT cells) with per-op energies from synthesized cells and
 * PEs. The RTL accuracy must equal the software estimate measured during the search.
 *
 * A winner below nominal voltage runs twice: clean (level registers set, no timing errors), which
 * must equal the clean engine; and with the fitted timing errors drawn exactly as the search's
 * engine drew them (same models, seed and batches of ENGINE_BATCH, so the same draws), added to
 * the column results in the RTL (flow/rtl.ts), which must equal the search's test estimate.
 */
export interface WinnerRtl {
  designDir: string;
  designName: string;
  rtlAccuracy: number;
  engineAccuracy: number;
  softwareEstimate: number;
  equal: boolean;
  predMismatches: number;
  layerMismatches: number;
  images: number;
  cyclesPerInference: number;
  energy?: { pjPerInference: EnergyPerInference; objectives: Record<Objective, number>; pjPerMac: number; vdd: number; clockMHz: number };
  /** Sum over all PEs of the synthesized multiplier cells' area (um^2; a tagged PE counts its whole set). */
  multiplierAreaUm2: number;
  exactMultiplierAreaUm2: number;
  flowReportDir?: string;
  /** The winner runs below nominal: `rtlAccuracy` is the clean RTL run, compared with the clean engine. */
  clean: boolean;
  /** Below nominal: the RTL run with the search's timing-error draws, compared with its estimate. */
  injected?: { rtlAccuracy: number; engineAccuracy: number; predMismatches: number; layerMismatches: number; wrongOps: number; wrongResults: number };
  seconds: number;
}

export async function verifyWinner(
  g: GroupResult,
  o: { model: string; dataset?: string; testImages: number; batch?: number; noEnergy?: boolean; memoryModel?: string; wmemModel?: string },
): Promise<WinnerRtl> {
  const t0 = performance.now();
  const design = resolveDesign(g.winnerDesign, 'explore winner');
  // Voltage knob: the level registers set to each domain's supply; the RTL runs clean (judged
  // against the clean engine) and with the search's timing-error draws (judged against its estimate).
  const lowered = g.winnerAssignment.volts !== undefined;
  if (lowered && !g.voltage) throw new Error("verifyWinner: a winner below nominal needs the group's voltage summary (models, seed)");
  const dir = join(rtlOutDir(), design.name);
  await writeDesign(design, dir);
  const flow = (what: string, batch: number | undefined, extra: Partial<FlowOptions>) => {
    const p = new Progress(`RTL-in-the-loop (winner${what}, test split)`, Math.ceil(o.testImages / (batch ?? 250)));
    let last = 0;
    return runFlow({
      model: o.model,
      design: dir,
      dataset: o.dataset,
      limit: o.testImages,
      batch,
      noEnergy: o.noEnergy,
      memoryModel: o.memoryModel,
      // The layers the winner compensates (control variate, docs/cv.md).
      ...(g.winnerAssignment.cv?.length ? { cv: g.winnerAssignment.cv.join(',') } : {}),
      ...(lowered ? { levels: domainLevels(design) } : {}),
      // A tagged (kernel-level) design holds any assignment over its cell set: the weights' tags
      // carry the winner's, so the run is given it (and checks every multiply against it).
      ...(design.tags ? { assign: JSON.stringify(cellsOnly(g.winnerAssignment)) } : {}),
      // Cross-layer knobs: array and engine run the pruned model (and read its weights as the winner's weight memory does).
      ...(g.winnerAssignment.prune ? { prune: g.winnerAssignment.prune } : {}),
      ...(g.winnerAssignment.wmem
        ? { wmem: { volts: g.winnerAssignment.wmem, protectMsbs: g.crossLayer!.protectMsbs!, seed: g.crossLayer!.wmemSeed!, modelFile: o.wmemModel } }
        : {}),
      // One Verilator build (no activity taps): the energy streams come from the operands anyway.
      activity: 'off',
      onBatch: (done) => {
        p.tick(done - last);
        last = done;
      },
      ...extra,
    });
  };
  const r = await flow('', o.batch, {});
  // The search's draws: same models, seed and engine batches (so the same first image per batch).
  const ri = lowered
    ? await flow(' with timing errors', ENGINE_BATCH, {
        noEnergy: true,
        // At the supplies the hardware's domains and level registers give the columns (which must
        // be the search's, or the run differs from the estimate).
        timingErrors: { report: g.voltage!.models, seed: g.voltage!.seed },
      })
    : undefined;
  let area = 0;
  let exactArea = 0;
  for (const t of design.tiles)
    for (const row of t.cells[0]!)
      for (const id of row) {
        // A tagged PE holds every cell of its set.
        for (const c of design.tags ? design.tags.cells : [id]) area += g.energy.area[c] ?? 0;
        exactArea += g.energy.area[g.exact] ?? 0;
      }
  const est = g.winner.testAccuracy ?? NaN;
  return {
    designDir: dir,
    designName: design.name,
    rtlAccuracy: r.accuracy,
    engineAccuracy: r.engineAccuracy,
    softwareEstimate: est,
    equal:
      (lowered ? r.accuracy === r.engineAccuracy : r.accuracy === est) &&
      r.predMismatches === 0 &&
      (!ri || (ri.accuracy === est && ri.predMismatches === 0 && ri.layerMismatches === 0)),
    clean: lowered,
    ...(ri
      ? {
          injected: {
            rtlAccuracy: ri.accuracy,
            engineAccuracy: ri.engineAccuracy,
            predMismatches: ri.predMismatches,
            layerMismatches: ri.layerMismatches,
            wrongOps: ri.timingErrors!.wrongOps,
            wrongResults: ri.timingErrors!.wrongResults,
          },
        }
      : {}),
    predMismatches: r.predMismatches,
    layerMismatches: r.layerMismatches,
    images: r.images,
    cyclesPerInference: r.cyclesPerInference,
    energy: r.energy
      ? {
          pjPerInference: r.energy.pjPerInference,
          objectives: r.energy.objectives,
          pjPerMac: r.energy.pjPerMac,
          vdd: r.energy.vdd,
          clockMHz: r.energy.clockMHz,
        }
      : undefined,
    multiplierAreaUm2: area,
    exactMultiplierAreaUm2: exactArea,
    flowReportDir: r.reportDir,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The assignment's cells (what a tagged design's weights carry); pruning and weight memory go to the run as their own options. */
function cellsOnly(a: GroupResult['winnerAssignment']): GroupResult['winnerAssignment'] {
  const { prune: _p, wmem: _w, ...cells } = a;
  return cells;
}
