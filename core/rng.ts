/**
 * The project's seeded generators, defined once. Every stream, stimulus and search that claims
 * "reproducible from its seed" draws from one of these, so the same seed gives the same numbers
 * in every module.
 */

/**
 * xorshift32 (Marsaglia 13/17/5): a uint32 per call. Seed 0 would stick at 0, so it seeds as 1;
 * callers that want a different default for 0 map it before calling.
 */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** mulberry32: a float in [0, 1) per call; the searches in explore/ use it. */
export function makeRng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randInt(rng: () => number, n: number): number {
  return Math.floor(rng() * n);
}
