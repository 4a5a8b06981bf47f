import { UserError } from '../core/errors.ts';

/**
 * Supply-voltage model for the per-neuron voltage domains (documented in docs/synth.md).
 *
 * - Dynamic energy (internal + switching) scales with (V / Vnom)^2 (tables and C V^2 alike).
 * - Delay follows the alpha-power law (Sakurai-Newton): t_d ∝ V / (V - Vth)^alpha.
 * - Leakage current follows DIBL: I_leak ∝ exp(sigma (V - Vnom) / (n vT)); P_leak = V I_leak.
 *
 * Defaults (alpha 1.3, Vth 0.45 V for the 0.18 um library, sigma 0.1, n 1.5, vT 25.85 mV) are
 * textbook values, not fitted to these libraries; every one is overridable.
 */
export interface VoltageModel {
  vnom: number;
  alpha: number;
  vth: number;
  dibl: number;
  slopeFactor: number;
  thermalVoltage: number;
}

export function defaultVoltageModel(vnom: number, overrides: Partial<VoltageModel> = {}): VoltageModel {
  // 0.35 um processes have a higher threshold; 0.6 V is an assumption for osu035 (3.3 V).
  const vth = vnom >= 3 ? 0.6 : 0.45;
  return { vnom, alpha: 1.3, vth, dibl: 0.1, slopeFactor: 1.5, thermalVoltage: 0.02585, ...overrides };
}

export interface VoltageScale {
  vdd: number;
  dynamic: number;
  leakagePower: number;
  delay: number;
}

/**
 * Dynamic energy at `vdd` relative to `vref`: (V / Vref)^2. Internal-power tables and 1/2 C V^2
 * switching both scale this way at a fixed clock; the one place the square is written.
 */
export function dynamicEnergyScale(vdd: number, vref: number): number {
  return (vdd / vref) ** 2;
}

export function voltageScale(vdd: number, m: VoltageModel): VoltageScale {
  if (!(vdd > m.vth)) throw new UserError(`--vdd ${vdd} V is at or below the threshold voltage ${m.vth} V of the delay model`);
  const dynamic = dynamicEnergyScale(vdd, m.vnom);
  const delayAt = (v: number) => v / (v - m.vth) ** m.alpha;
  const delay = delayAt(vdd) / delayAt(m.vnom);
  const leakI = Math.exp((m.dibl * (vdd - m.vnom)) / (m.slopeFactor * m.thermalVoltage));
  return { vdd, dynamic, leakagePower: (vdd / m.vnom) * leakI, delay };
}
