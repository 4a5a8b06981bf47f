/**
 * Energy/accuracy trade-off points. Energy is minimized, accuracy maximized.
 */
export interface TradeoffPoint {
  energy: number;
  accuracy: number;
}

/** a dominates b: no worse in both objectives and strictly better in one. */
export function dominates(a: TradeoffPoint, b: TradeoffPoint): boolean {
  return a.energy <= b.energy && a.accuracy >= b.accuracy && (a.energy < b.energy || a.accuracy > b.accuracy);
}

/** Non-dominated subset, sorted by increasing energy. Duplicates (same objectives) keep the first. */
export function paretoFront<T extends TradeoffPoint>(points: T[]): T[] {
  const sorted = [...points].sort((x, y) => x.energy - y.energy || y.accuracy - x.accuracy);
  const front: T[] = [];
  let bestAcc = -Infinity;
  for (const p of sorted) {
    if (p.accuracy > bestAcc) {
      front.push(p);
      bestAcc = p.accuracy;
    }
  }
  return front;
}

/**
 * The hypervolume reference of a search against its exact design: the exact design's energy (x
 * 1.0001, so designs at the exact energy still count) and its accuracy minus `drop`.
 */
export function exactReference(exact: TradeoffPoint, drop: number): TradeoffPoint {
  return { energy: exact.energy * 1.0001, accuracy: exact.accuracy - drop };
}

/**
 * 2-D hypervolume dominated by `points` relative to a reference point (refEnergy, refAccuracy) that
 * is worse than every point (higher energy, lower accuracy). Points outside the box add nothing.
 */
export function hypervolume(points: TradeoffPoint[], ref: TradeoffPoint): number {
  const front = paretoFront(points.filter((p) => p.energy < ref.energy && p.accuracy > ref.accuracy));
  // Sweep by increasing energy: each front point owns the slab up to the next point's energy.
  let hv = 0;
  for (let i = 0; i < front.length; i++) {
    const p = front[i]!;
    const nextE = i + 1 < front.length ? front[i + 1]!.energy : ref.energy;
    hv += (nextE - p.energy) * (p.accuracy - ref.accuracy);
  }
  return hv;
}
