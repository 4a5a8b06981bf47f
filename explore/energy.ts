import { resolve } from 'node:path';
import { defaultLiberty } from '../core/paths.ts';
import { sampleLayerStreams } from '../mapping/streams.ts';
import type { UnitPlan } from '../mapping/units.ts';
import { captureOperands } from '../nn/capture.ts';
import type { Dataset } from '../nn/dataset.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import { cellStreamEnergy } from '../synth/cell-energy.ts';

/**
 * Multiplier energy of a candidate, the search's energy objective (pJ per inference):
 *   E = sum over layers, filters of  MACs(filter) x e(layer, cell of the filter)
 * with e(layer, cell) the cell's dynamic energy per multiply from synth/ `cellEnergy`
 * (Yosys netlist, bit-parallel gate simulation, liberty tables) driven by THIS layer's operand
 * stream as a weight-stationary PE sees it (mapping/streams.ts `sampleLayerStreams`, the same
 * sampler the RTL flow's energy uses). The table is computed once per (layer, cell) and cached,
 * so a candidate's energy is a sum, free next to its accuracy.
 *
 * This is the multiplier objective; the array and accelerator objectives add the cells' leakage
 * and the parts that do not depend on the cells (explore/objective.ts). The winner's full energy
 * comes from the RTL flow (flow/energy.ts), which prices each multiply with the same
 * `cellStreamEnergy` (synth/cell-energy.ts).
 */
export interface EnergyTable {
  /** pJ per multiply: perOp[layer][cell]. */
  perOp: Record<string, Record<string, number>>;
  /** Area of each cell (um^2, from the same synthesis). */
  area: Record<string, number>;
  /** Leakage of each cell, pJ per cycle at clockMHz (the array objective charges it per PE-cycle). */
  leakage: Record<string, number>;
  clockMHz: number;
  liberty: string;
  pairs: number;
}

export async function energyTable(
  m: QuantModel,
  plan: UnitPlan,
  ds: Dataset,
  cells: string[],
  opts: { images?: number; pairs?: number; clockMHz?: number; liberty?: string; onCell?: () => void } = {},
): Promise<EnergyTable> {
  const pairs = opts.pairs ?? 8192;
  const clockMHz = opts.clockMHz ?? 100;
  const liberty = resolve(opts.liberty ?? defaultLiberty());
  // The exact engine's operands of the first few images (a cell's stream, not its products).
  const n = Math.min(opts.images ?? 8, ds.count);
  const ops = new Map(captureOperands({ model: m }, ds.pixels.subarray(0, n * ds.channels * ds.height * ds.width), n).map((c) => [c.layer.name, c]));
  const perOp: EnergyTable['perOp'] = {};
  const area: EnergyTable['area'] = {};
  const leakage: EnergyTable['leakage'] = {};
  for (const l of convLayers(m)) {
    const { g } = ops.get(l.name)!;
    // The stream's a/b do not depend on the cell (only psumIn does), so one stream per layer.
    const s = sampleLayerStreams(
      l,
      g,
      Array.from({ length: l.oc }, () => [cells[0]!]),
      plan.rows,
      pairs,
    )[cells[0]!]!;
    perOp[l.name] = {};
    for (const id of cells) {
      const r = await cellStreamEnergy(id, s, { clockMHz, liberty });
      perOp[l.name]![id] = r.dynamic;
      area[id] = r.area;
      leakage[id] = r.leakage;
      opts.onCell?.();
    }
  }
  return { perOp, area, leakage, clockMHz, liberty, pairs };
}

/** unitEnergy[u][cell] = pJ per inference of unit u's multiplies on that cell. */
export function unitEnergies(plan: UnitPlan, table: Pick<EnergyTable, 'perOp'>, cells: string[]): Record<string, number>[] {
  return plan.units.map((u) => {
    const e: Record<string, number> = {};
    for (const id of cells) {
      let s = 0;
      for (const [layer, macs] of Object.entries(u.macs)) s += macs * table.perOp[layer]![id]!;
      e[id] = s;
    }
    return e;
  });
}

/**
 * Each unit's share of a per-layer figure (pJ per inference): a layer's figure split by the
 * multiplies the unit performs (a column's PEs do that share of the layer's work).
 */
export function unitShares(plan: UnitPlan, perLayer: Record<string, number>): number[] {
  return plan.units.map((u) =>
    Object.entries(u.macs).reduce((s, [layer, macs]) => {
      const l = plan.layers.find((x) => x.name === layer)!;
      return s + ((perLayer[layer] ?? 0) * macs) / l.macsPerImage;
    }, 0),
  );
}

/** Energy of a gene vector (plus the fixed energy of columns that are not decisions: none). */
export function candidateEnergy(unitE: Record<string, number>[], cells: string[]): number {
  let s = 0;
  cells.forEach((id, u) => {
    s += unitE[u]![id]!;
  });
  return s;
}

/** Per-layer multiplier energy of a gene vector (for the report's bars), from its cell grids (mapping/units.ts cellGrids). */
export function layerEnergies(plan: UnitPlan, table: EnergyTable, grids: Record<string, string[][]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of plan.layers) {
    let s = 0;
    for (const row of grids[l.name]!) for (const id of row) s += (l.positions * l.K * table.perOp[l.name]![id]!) / row.length;
    out[l.name] = s;
  }
  return out;
}
