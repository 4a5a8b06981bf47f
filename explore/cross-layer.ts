import { UserError } from '../core/errors.ts';
import { geneName, parseGene, type UnitPlan } from '../mapping/units.ts';
import type { Assignment } from '../nn/assign.ts';
import { pruneLayerTo } from '../nn/prune.ts';
import type { QConvLayer, QuantModel } from '../nn/qmodel.ts';
import { applyWeightFaults, checkWmemVolts, type WeightFaultOptions } from '../nn/wmem.ts';
import { type EnergyTable, unitEnergies, unitShares } from './energy.ts';
import type { ObjectiveModel } from './objective.ts';

/**
 * The cross-layer knobs of exploration (docs/explore.md, "Cross-layer knobs"; Sarwar et al.,
 * JETCAS 2018): per layer a magnitude-pruning sparsity (`/p<s>`, nn/prune.ts) and a supply of the
 * weight memory that holds the layer's weights (`/m<V>`, nn/wmem.ts), beside the layer's cell.
 * A gene `drum_k4_u8/p0.5/m1.3` is that cell on a layer pruned to 50 % whose weights sit in
 * weight memory at 1.3 V.
 */

/** What a pruning or weight-memory saving counts and what it does not (every report states it). */
export const CROSS_LAYER_SCOPE =
  "Pruning: the unit's cells and the rest of its PEs switch less on zero weights (both priced on the pruned model's own operand streams, plain PEs); zeros are still stored, fetched from DRAM and multiplied (no sparse format). Weight memory at a lowered supply: the weight FIFO's reads and writes of the unit's weights scale by nn/wmem.ts wmemEnergyScale (protected MSBs at nominal); its leakage, DRAM, level shifters and the robust cells' extra area are not counted.";

/** `--sparsities` default: the levels bench/zero-skip.ts and docs/prune.md measure. */
export const DEFAULT_SPARSITIES = [0.25, 0.5, 0.75];

/** `--wmem-levels`: weight-memory supplies below nominal inside the bit-error model's range, highest first. */
export function wmemSearchLevels(levels: number[], w: WeightFaultOptions): number[] {
  if (!levels.length) throw new UserError('--knobs wmem needs --wmem-levels (weight-memory supplies below nominal, e.g. 1.5,1.4)');
  for (const v of levels) checkWmemVolts(w.model, v, w.nominal, '--wmem-levels');
  const below = [...new Set(levels.filter((v) => v < w.nominal - 1e-9))].sort((a, b) => b - a);
  if (!below.length) throw new UserError(`--wmem-levels: no level below the weight memory's nominal ${w.nominal} V`);
  return below;
}

/** Sparsities below 1 and at least one; sorted ascending, 0 dropped (dense is always a choice). */
export function sparsityLevels(levels: number[]): number[] {
  for (const s of levels) if (!(s >= 0 && s < 1)) throw new UserError(`--sparsities: ${s} is outside [0, 1) (a layer keeps at least one weight)`);
  const out = [...new Set(levels.filter((s) => s > 0))].sort((a, b) => a - b);
  if (!out.length) throw new UserError('--sparsities: give at least one sparsity above 0 (e.g. 0.25,0.5,0.75)');
  return out;
}

/** Per sparsity level: the cells' energy per op and the rest of the PE per layer, on the model pruned uniformly at that level. */
export interface PrunedEnergy {
  sparsity: number;
  perOp: EnergyTable['perOp'];
  layerPePj: Record<string, number>;
}

/**
 * Add the cross-layer twins of every gene: each sparsity level (or dense) x each weight-memory
 * level (or nominal), except the gene itself. Per unit:
 *   cells     the unit's multiplies x the cell's energy per op on the pruned model's stream;
 *   rest of PE  + (the layer's PE energy on the pruned model - on the dense one);
 *   memory    + the layer's weight-FIFO reads and writes x (wmemScale(V) - 1) (accelerator only).
 * Leakage stays the cell's. Returns the twins' names.
 */
export function addCrossLayerTwins(
  plan: UnitPlan,
  genes: string[],
  o: { pruned: PrunedEnergy[]; wmemLevels: number[]; wmemScale: (volts: number) => number },
  multUnitE: Record<string, number>[],
  om: ObjectiveModel,
): string[] {
  om.unitPeDelta ??= plan.units.map((): Record<string, number> => ({}));
  om.unitMemDelta ??= plan.units.map((): Record<string, number> => ({}));
  const peDelta = om.unitPeDelta;
  const memDelta = om.unitMemDelta;
  // Per unit, once: the dense rest of PE and weight-FIFO traffic, and per sparsity the cells' and
  // the rest of PE's energy on the pruned streams.
  const cells = [...new Set(genes.map((id) => parseGene(id).cell))];
  const densePe = unitShares(plan, om.layerPePj);
  const wbuf = unitShares(plan, om.layerWbufPj);
  const pruned = o.pruned.map((p) => ({ sparsity: p.sparsity, mult: unitEnergies(plan, p, cells), pe: unitShares(plan, p.layerPePj) }));
  const twins: string[] = [];
  for (const p of [undefined, ...pruned])
    for (const v of [undefined, ...o.wmemLevels]) {
      if (p === undefined && v === undefined) continue;
      for (const id of genes) {
        const gene = parseGene(id);
        const twin = geneName({ ...gene, ...(p ? { sparsity: p.sparsity } : {}), ...(v === undefined ? {} : { wmem: v }) });
        twins.push(twin);
        plan.units.forEach((_, i) => {
          multUnitE[i]![twin] = p ? p.mult[i]![gene.cell]! : multUnitE[i]![id]!;
          om.unitLeakage[i]![twin] = om.unitLeakage[i]![id]!;
          peDelta[i]![twin] = (peDelta[i]![id] ?? 0) + (p ? p.pe[i]! - densePe[i]! : 0);
          memDelta[i]![twin] = v === undefined ? 0 : wbuf[i]! * (o.wmemScale(v) - 1);
        });
      }
    }
  return twins;
}

/**
 * The model an assignment's cross-layer genes leave: each layer pruned to its sparsity, then read
 * from weight memory at its supply (faults drawn by nn/wmem.ts with `wmem`'s seed and protection).
 * Memoized per (layer, sparsity, supply): a search visits the same few levels per layer many times.
 */
export function knobWeights(model: QuantModel, wmem?: WeightFaultOptions): (a: Assignment) => QuantModel {
  const memo = new Map<string, QConvLayer>();
  return (a) => {
    if (!a.prune && !a.wmem) return model;
    if (a.wmem && !wmem) throw new Error('knobWeights: an assignment with wmem needs the fault options');
    const layers = model.layers.map((l) => {
      const s = a.prune?.[l.name] ?? 0;
      const v = a.wmem?.[l.name];
      if (l.op !== 'conv' || (!s && v === undefined)) return l;
      const k = `${l.name}:${s}:${v ?? ''}`;
      let out = memo.get(k);
      if (!out) {
        out = s ? pruneLayerTo(l, s) : l;
        if (v !== undefined) out = applyWeightFaults({ ...model, layers: [out] }, { [l.name]: v }, wmem!).model.layers[0] as QConvLayer;
        memo.set(k, out);
      }
      return out;
    });
    return { ...model, layers };
  };
}
