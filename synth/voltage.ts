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

/**
 * Calibration hook: fit the alpha-power delay law to the same netlist's delay at two or more
 * liberty corners (the same library characterized at different supplies). Two corners give one
 * delay ratio, so alpha is fitted with Vth kept; three or more fit Vth too (least squares on log
 * ratios to the nominal corner). One corner leaves the model as it is (textbook alpha and Vth, not
 * fitted): the caller reports `calibration: default`.
 */
export function fitDelayModel(corners: { vdd: number; delayNs: number }[], base: VoltageModel): VoltageModel {
  if (corners.length < 2) return base;
  const ref = corners.reduce((a, b) => (Math.abs(a.vdd - base.vnom) <= Math.abs(b.vdd - base.vnom) ? a : b));
  const others = corners.filter((c) => c !== ref);
  const err = (alpha: number, vth: number) => {
    const m = { ...base, alpha, vth };
    return others.reduce((s, c) => {
      if (!(c.vdd > vth) || !(ref.vdd > vth)) return Number.POSITIVE_INFINITY;
      const model = Math.log(voltageScale(c.vdd, m).delay / voltageScale(ref.vdd, m).delay);
      return s + (model - Math.log(c.delayNs / ref.delayNs)) ** 2;
    }, 0);
  };
  const bestAlpha = (vth: number) => {
    let lo = 0.5;
    let hi = 3;
    // err is unimodal in alpha for fixed Vth: golden-section search.
    for (let i = 0; i < 100; i++) {
      const a = lo + (hi - lo) * 0.382;
      const b = lo + (hi - lo) * 0.618;
      if (err(a, vth) <= err(b, vth)) hi = b;
      else lo = a;
    }
    return (lo + hi) / 2;
  };
  if (others.length === 1) return { ...base, alpha: bestAlpha(base.vth) };
  let best = { alpha: base.alpha, vth: base.vth, e: Number.POSITIVE_INFINITY };
  const vmax = Math.min(...corners.map((c) => c.vdd));
  for (let k = 1; k < 100; k++) {
    const vth = (vmax * k) / 100;
    const alpha = bestAlpha(vth);
    const e = err(alpha, vth);
    if (e < best.e) best = { alpha, vth, e };
  }
  return { ...base, alpha: best.alpha, vth: best.vth };
}
