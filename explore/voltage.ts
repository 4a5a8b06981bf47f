import { UserError } from '../core/errors.ts';
import { geneName, parseGene, type UnitPlan } from '../mapping/units.ts';
import { dynamicEnergyScale, type VoltageModel, voltageScale } from '../synth/voltage.ts';
import { unitShares } from './energy.ts';
import type { ObjectiveModel } from './objective.ts';

/**
 * The voltage knob of exploration (docs/vos.md, "Voltage search"): a unit's PEs (a layer's tile,
 * or one column of it) run at a supply level below nominal at the nominal clock, and their timing
 * errors come from per-voltage error models (flow/vos-array.ts) drawn into the engine's
 * accumulators (nn/inject.ts).
 */

/** What a voltage saving counts and what it does not (every report states it). */
export const VOLTAGE_SCOPE =
  "Energy at a lowered supply: the unit's multiplier cells and the rest of its PEs switch with (V/Vnom)^2, the cells leak by the synth/voltage.ts model; accumulators, memories and the PEs' non-multiplier leakage stay at nominal; level shifters on signals entering a higher-voltage domain are not counted.";

/** `--levels`: the supplies below nominal the search may choose (nominal itself is always a choice). */
export function voltageLevels(levels: number[], nominal: number): number[] {
  if (!levels.length) throw new UserError('--levels: give at least one supply voltage below nominal');
  for (const v of levels)
    if (!(v > 0) || v > nominal + 1e-9) throw new UserError(`--levels: ${v} V is above the library's nominal ${nominal} V (overscaling lowers the supply)`);
  const below = [...new Set(levels.filter((v) => v < nominal - 1e-9))].sort((a, b) => b - a);
  if (!below.length) throw new UserError(`--levels: no level below the library's nominal ${nominal} V`);
  return below;
}

/**
 * Add a twin `<gene>@<V>` of every gene at every level: the unit's cells' dynamic energy scaled by
 * (V / Vnom)^2 and their leakage by the leakage model of synth/voltage.ts, and the rest of the
 * unit's PEs' dynamic energy by the same square (om.unitPeDelta). Not scaled (so not saved): the
 * non-multiplier leakage of the PEs, and the accumulators and memories, which stay at nominal.
 * Level shifters on signals that cross into a higher-voltage domain are not counted.
 */
export function addVoltageTwins(
  plan: UnitPlan,
  genes: string[],
  levels: number[],
  nominal: number,
  vm: VoltageModel,
  multUnitE: Record<string, number>[],
  om: ObjectiveModel,
): string[] {
  // Rest of the PE's dynamic energy of each unit.
  const unitPe = unitShares(plan, om.layerPePj);
  om.unitPeDelta ??= plan.units.map((): Record<string, number> => ({}));
  const delta = om.unitPeDelta;
  const twins: string[] = [];
  for (const volts of levels) {
    const dyn = dynamicEnergyScale(volts, nominal);
    const leak = voltageScale(volts, vm).leakagePower;
    for (const id of genes) {
      const twin = geneName({ ...parseGene(id), volts });
      twins.push(twin);
      plan.units.forEach((_, u) => {
        multUnitE[u]![twin] = multUnitE[u]![id]! * dyn;
        om.unitLeakage[u]![twin] = om.unitLeakage[u]![id]! * leak;
        delta[u]![twin] = unitPe[u]! * (dyn - 1);
      });
    }
  }
  return twins;
}
