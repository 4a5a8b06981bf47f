import { analyticalEstimate } from '../flow/analytical.ts';
import { ENERGY_PARTS, type EnergyPart, OBJECTIVES, type Objective, objectiveEnergy } from '../flow/energy.ts';
import { resolveDesign } from '../generators/array/index.ts';
import { placeModel } from '../mapping/place.ts';
import { exactArrayConfig, parseGene, type UnitPlan } from '../mapping/units.ts';
import type { CvConfig } from '../nn/cv.ts';
import type { Dataset } from '../nn/dataset.ts';
import type { QuantModel } from '../nn/qmodel.ts';
import type { EnergyTable } from './energy.ts';

/**
 * The search's energy under an objective (docs/explore.md, Objectives), pJ per inference:
 *   multiplier   sum over units of the unit's multiplies x its cell's dynamic energy
 *                (explore/energy.ts, what the search has always ranked by);
 *   array        + the cells' leakage (per unit: its PEs x the cycles of its tile's layers, so a
 *                cell that leaks more can lose to one that switches more) + everything else of
 *                the array: rest of the PE, accumulator logic and memory, the PEs' own leakage;
 *   accelerator  + activation buffer, weight FIFO and DRAM.
 * What does not depend on the cells ("fixed") comes from the analytical path (flow/analytical.ts)
 * on the all-exact design the search starts from: the same cycles, buffer counts, DRAM traffic
 * and per-op energies the winner's RTL run uses, minus the exact cells' own dynamic energy and
 * leakage, which the candidate replaces with its own.
 */
export interface ObjectiveModel {
  /** Per inference, every part of the exact design's energy (the analytical estimate). */
  exactParts: Record<EnergyPart, number>;
  /** unitLeakage[u][cell]: pJ per inference of the cells' leakage when unit u holds that cell. */
  unitLeakage: Record<string, number>[];
  /** The exact cells' leakage (pJ per inference), inside exactParts.leakagePj. */
  exactCellLeakage: number;
  /** Per conv/dense layer: the rest of the PE's dynamic energy (pJ per inference, exact design). */
  layerPePj: Record<string, number>;
  /**
   * With the voltage knob: unitPeDelta[u][gene], the change of the rest of unit u's PEs' dynamic
   * energy when the gene lowers their supply (explore/voltage.ts); absent = 0.
   */
  unitPeDelta?: Record<string, number>[];
  /** Per conv/dense layer: the weight FIFO's reads + writes (pJ per inference, exact design). */
  layerWbufPj: Record<string, number>;
  /**
   * With the wmem knob: unitMemDelta[u][gene], the change of the weight FIFO's read and write
   * energy of unit u's weights at the gene's weight-memory supply (explore/cross-layer.ts); absent = 0.
   */
  unitMemDelta?: Record<string, number>[];
  /** Per objective: pJ per inference beyond the candidate's own cells. */
  fixed: Record<Objective, number>;
  /** Node, supply and the memory model the estimate used. */
  memory: { nodeNm: number; volts: number; extrapolated: boolean; model: string };
  /**
   * With the control-variate knob: what the hardware adds once any unit compensates (per
   * objective, and by part), priced on the exact design with the hardware and coefficients that
   * compensate every layer (explore/objective.ts cvOverhead).
   */
  cv?: { fixed: Record<Objective, number>; parts: Record<EnergyPart, number> };
  images: number;
  batch: number;
}

export async function objectiveModel(
  q: QuantModel,
  plan: UnitPlan,
  exact: string,
  ds: Dataset,
  table: EnergyTable,
  cells: string[],
  o: { batch?: number; memoryModel?: string } = {},
): Promise<ObjectiveModel> {
  const batch = o.batch ?? 250;
  const design = resolveDesign(exactArrayConfig(plan, exact, 'explore_exact'), 'explore exact design');
  const placement = placeModel(q, design);
  const est = await analyticalEstimate(q, design, placement, ds, batch, { clockMHz: table.clockMHz, liberty: table.liberty, memoryModel: o.memoryModel });
  const n = ds.count;
  const exactParts = Object.fromEntries(ENERGY_PARTS.map((p) => [p.key, est.layers.reduce((s, l) => s + l.energy![p.key], 0) / n])) as Record<
    EnergyPart,
    number
  >;
  // Cycles per inference of each tile's layers: every PE of the tile leaks through them.
  const tileCycles = new Map<number, number>();
  est.layers.forEach((l, j) => {
    const t = placement.layers[j]!.tile;
    tileCycles.set(t, (tileCycles.get(t) ?? 0) + l.cycles / n);
  });
  // Kernel granularity: every PE holds every cell of the set whatever the genes, so the cells'
  // leakage is part of the tagged PE's figure (fixed), not a per-unit choice.
  const unitLeakage = plan.units.map((u) => {
    const pes = plan.granularity === 'kernel' ? 0 : plan.rows * (u.column === null ? plan.cols : 1);
    const cyc = tileCycles.get(u.tile) ?? 0;
    return Object.fromEntries(cells.map((id) => [id, table.leakage[id]! * pes * cyc]));
  });
  const exactLeak = unitLeakage.reduce((s, x) => s + x[exact]!, 0);
  const layerPePj = Object.fromEntries(est.layers.map((l, j) => [placement.layers[j]!.layer, l.energy!.pePj / n]));
  const layerWbufPj = Object.fromEntries(est.layers.map((l, j) => [placement.layers[j]!.layer, (l.energy!.wbufReadPj + l.energy!.wbufWritePj) / n]));
  const fixed = Object.fromEntries(
    OBJECTIVES.map((k) => [k, k === 'multiplier' ? 0 : objectiveEnergy(exactParts, k) - exactParts.cellPj - exactLeak]),
  ) as Record<Objective, number>;
  const m = est.ops.memory;
  return {
    exactParts,
    unitLeakage,
    exactCellLeakage: exactLeak,
    layerPePj,
    layerWbufPj,
    fixed,
    memory: { nodeNm: m.nodeNm, volts: m.volts, extrapolated: m.extrapolated, model: m.model },
    images: n,
    batch,
  };
}

/**
 * Per-unit energies the search ranks by, per objective: the multiplier table plus, for array and
 * accelerator, each cell's leakage on that unit. A gene vector's energy is the sum over units
 * plus `fixed[objective]` (energyOf). With the voltage knob the array's share includes the
 * change of the rest of the PE's dynamic energy at the unit's supply.
 */
export function objectiveUnitEnergies(unitE: Record<string, number>[], om: ObjectiveModel): Record<Objective, Record<string, number>[]> {
  const withLeak = unitE.map((e, u) =>
    Object.fromEntries(Object.entries(e).map(([id, v]) => [id, v + om.unitLeakage[u]![id]! + (om.unitPeDelta?.[u]?.[id] ?? 0)])),
  );
  const withMemory = om.unitMemDelta
    ? withLeak.map((e, u) => Object.fromEntries(Object.entries(e).map(([id, v]) => [id, v + (om.unitMemDelta![u]![id] ?? 0)])))
    : withLeak;
  return { multiplier: unitE, array: withLeak, accelerator: withMemory };
}

const usesCv = (cells: string[]) => cells.some((c) => parseGene(c).cv);

/** pJ per inference of a gene vector under one objective (control-variate hardware once if any unit compensates). */
export function energyOf(tables: Record<Objective, Record<string, number>[]>, om: Pick<ObjectiveModel, 'fixed' | 'cv'>, o: Objective, cells: string[]): number {
  return cells.reduce((s, id, u) => s + tables[o][u]![id]!, 0) + om.fixed[o] + (om.cv && usesCv(cells) ? om.cv.fixed[o] : 0);
}

/** pJ per inference of a gene vector under every objective. */
export function energiesOf(
  tables: Record<Objective, Record<string, number>[]>,
  om: Pick<ObjectiveModel, 'fixed' | 'cv'>,
  cells: string[],
): Record<Objective, number> {
  return Object.fromEntries(OBJECTIVES.map((o) => [o, energyOf(tables, om, o, cells)])) as Record<Objective, number>;
}

/**
 * A gene vector's energy by part (per inference): the exact design's parts with the cells'
 * dynamic energy and their leakage (inside logic leakage) replaced by the candidate's. Sums to
 * energyOf(..., 'accelerator', cells).
 */
export function objectivePartsOf(om: ObjectiveModel, multUnitE: Record<string, number>[], cells: string[]): Record<EnergyPart, number> {
  const parts: Record<EnergyPart, number> = {
    ...om.exactParts,
    cellPj: cells.reduce((s, id, u) => s + multUnitE[u]![id]!, 0),
    leakagePj: om.exactParts.leakagePj - om.exactCellLeakage + cells.reduce((s, id, u) => s + om.unitLeakage[u]![id]!, 0),
    pePj: om.exactParts.pePj + cells.reduce((s, id, u) => s + (om.unitPeDelta?.[u]?.[id] ?? 0), 0),
  };
  // Weight memory: reads and writes scale alike, so the change splits in the exact design's proportion.
  const mem = cells.reduce((s, id, u) => s + (om.unitMemDelta?.[u]?.[id] ?? 0), 0);
  const wbuf = om.exactParts.wbufReadPj + om.exactParts.wbufWritePj;
  if (mem !== 0 && wbuf > 0) {
    parts.wbufReadPj += (mem * om.exactParts.wbufReadPj) / wbuf;
    parts.wbufWritePj += (mem * om.exactParts.wbufWritePj) / wbuf;
  }
  if (om.cv && usesCv(cells)) for (const p of ENERGY_PARTS) parts[p.key] += om.cv.parts[p.key];
  return parts;
}

/**
 * The control-variate hardware's energy (docs/cv.md): the exact design with the hardware and
 * coefficients `cv` on every layer, minus the same design without it, per objective and by
 * part. Charged once to any gene vector that compensates a unit (a conservative price: the
 * correction stage runs on every layer with non-zero coefficients).
 */
export async function cvOverhead(
  q: QuantModel,
  plan: UnitPlan,
  exact: string,
  ds: Dataset,
  table: EnergyTable,
  om: ObjectiveModel,
  cv: CvConfig,
  o: { memoryModel?: string } = {},
): Promise<NonNullable<ObjectiveModel['cv']>> {
  // Every layer on one tile named like the exact design's first: a layer's energy does not depend
  // on the other tiles (idle tiles are power-gated), and the tile's modules (PE, accumulators,
  // the correction stage) are synthesized once instead of once per tile.
  const base = exactArrayConfig(plan, exact, 'explore_exact_cv') as { tiles: { name: string }[] };
  const single = { name: 'explore_exact_cv', rows: plan.rows, cols: plan.cols, tiles: [{ name: base.tiles[0]!.name, cell: exact }] };
  const folds = Math.max(...plan.layers.map((l) => Math.ceil(l.oc / plan.cols)));
  const perInference = async (config: Record<string, unknown>, withCv: boolean) => {
    const design = resolveDesign(config, 'explore exact design (control-variate price)');
    const est = await analyticalEstimate(q, design, placeModel(q, design), ds, om.batch, {
      clockMHz: table.clockMHz,
      liberty: table.liberty,
      memoryModel: o.memoryModel,
      ...(withCv ? { cv, applyCv: false } : {}),
    });
    return Object.fromEntries(ENERGY_PARTS.map((p) => [p.key, est.layers.reduce((s, l) => s + l.energy![p.key], 0) / ds.count])) as Record<EnergyPart, number>;
  };
  const plain = await perInference(single, false);
  const withHw = await perInference({ ...single, controlVariate: { folds } }, true);
  const parts = Object.fromEntries(ENERGY_PARTS.map((p) => [p.key, withHw[p.key] - plain[p.key]])) as Record<EnergyPart, number>;
  const fixed = Object.fromEntries(OBJECTIVES.map((k) => [k, objectiveEnergy(parts, k)])) as Record<Objective, number>;
  return { fixed, parts };
}
