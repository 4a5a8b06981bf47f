import { createHash } from 'node:crypto';
import { cachedJson } from '../core/cache.ts';
import { cellEnergy } from './power.ts';

/**
 * Energy per multiply (pJ) and area of one cell on one operand stream, cached. The cell sees only
 * its a and b operands, so only those key the cache. Shared by the RTL flow's energy
 * (flow/energy.ts) and exploration's energy table (explore/energy.ts), so both price a multiply
 * the same way.
 */
export async function cellStreamEnergy(
  id: string,
  s: { a: Uint8Array; b: Uint8Array },
  o: { vdd?: number; clockMHz: number; liberty: string },
): Promise<{ dynamic: number; leakage: number; area: number }> {
  const stream = createHash('sha256').update(s.a).update(s.b).digest('hex');
  return cachedJson('cell-stream-energy', { v: 1, id, stream, ...o }, async () => {
    const r = await cellEnergy(id, { stream: { a: s.a, b: s.b }, ...o });
    return { dynamic: r.energy.perOpPj.dynamic, leakage: r.energy.perOpPj.leakage, area: r.areaUm2 };
  });
}
