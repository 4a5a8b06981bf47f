import { describe, expect, it } from 'vitest';
import { makeRng, randInt, xorshift32 } from '../core/rng.ts';

describe('core/rng: the shared seeded generators', () => {
  it("xorshift32 reproduces Marsaglia's published sequence", () => {
    // Marsaglia, "Xorshift RNGs" (2003): xor32 from y = 2463534242 first returns 723471715.
    const next = xorshift32(2463534242);
    expect(next()).toBe(723471715);
  });

  it('xorshift32 seeds 0 as 1 (a zero state would stay zero) and stays in uint32', () => {
    const z = xorshift32(0);
    const one = xorshift32(1);
    for (let i = 0; i < 100; i++) {
      const v = z();
      expect(v).toBe(one());
      expect(v).toBeGreaterThan(0);
      expect(v).toBeLessThan(2 ** 32);
    }
  });

  it('makeRng gives floats in [0, 1) and randInt stays in range, reproducibly', () => {
    const r1 = makeRng(5);
    const r2 = makeRng(5);
    for (let i = 0; i < 1000; i++) {
      const x = r1();
      expect(x).toBe(r2());
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
    const r = makeRng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(randInt(r, 7));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
