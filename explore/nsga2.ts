import { makeRng, randInt } from '../core/rng.ts';

/**
 * NSGA-II (Deb et al. 2002) over integer genomes: gene i picks one of `choices[i]` options
 * (a cell for a layer, filter or kernel). Two objectives, both minimized here: callers pass
 * energy and (1 - accuracy) or accuracy loss. Evaluation is delegated (and may be cached/journaled
 * by the caller); identical genomes are evaluated once per run.
 */
export type Genome = number[];

export interface Objectives {
  /** Minimized objectives, e.g. [energy, accuracyLoss]. */
  f: [number, number];
}

export interface Nsga2Options {
  choices: number[];
  populationSize: number;
  generations: number;
  seed: number;
  crossoverRate?: number;
  /** Per-gene mutation probability (default 1/genes). */
  mutationRate?: number;
  /** Genomes to put in the first population (e.g. all-exact, all-most-aggressive). */
  seeds?: Genome[];
  evaluate: (g: Genome) => Promise<Objectives> | Objectives;
  onGeneration?: (gen: number, evaluations: number) => void;
  /** Before the children of generation `gen` (1, 2, ...) are made and evaluated. */
  onGenerationStart?: (gen: number) => void;
}

export interface Individual {
  genome: Genome;
  f: [number, number];
  rank: number;
  crowding: number;
}

export interface Nsga2Result {
  population: Individual[];
  /** Every distinct genome evaluated, in order. */
  evaluated: { genome: Genome; f: [number, number] }[];
  evaluations: number;
}

const key = (g: Genome) => g.join(',');

function dominatesMin(a: [number, number], b: [number, number]): boolean {
  return a[0] <= b[0] && a[1] <= b[1] && (a[0] < b[0] || a[1] < b[1]);
}

/** Fast non-dominated sort; returns fronts of indices and sets each individual's rank. */
export function nonDominatedSort(pop: { f: [number, number]; rank: number }[]): number[][] {
  const n = pop.length;
  const dominated: number[][] = Array.from({ length: n }, () => []);
  const count = new Array<number>(n).fill(0);
  const fronts: number[][] = [[]];
  for (let p = 0; p < n; p++) {
    for (let q = 0; q < n; q++) {
      if (p === q) continue;
      if (dominatesMin(pop[p]!.f, pop[q]!.f)) dominated[p]!.push(q);
      else if (dominatesMin(pop[q]!.f, pop[p]!.f)) count[p]!++;
    }
    if (count[p] === 0) {
      pop[p]!.rank = 0;
      fronts[0]!.push(p);
    }
  }
  for (let i = 0; fronts[i]!.length > 0; i++) {
    const next: number[] = [];
    for (const p of fronts[i]!) {
      for (const q of dominated[p]!) {
        count[q]!--;
        if (count[q] === 0) {
          pop[q]!.rank = i + 1;
          next.push(q);
        }
      }
    }
    fronts.push(next);
  }
  fronts.pop();
  return fronts;
}

export function crowdingDistance(pop: Individual[], front: number[]): void {
  for (const i of front) pop[i]!.crowding = 0;
  for (const m of [0, 1] as const) {
    const sorted = [...front].sort((a, b) => pop[a]!.f[m] - pop[b]!.f[m]);
    const lo = pop[sorted[0]!]!.f[m];
    const hi = pop[sorted[sorted.length - 1]!]!.f[m];
    pop[sorted[0]!]!.crowding = Infinity;
    pop[sorted[sorted.length - 1]!]!.crowding = Infinity;
    if (hi === lo) continue;
    for (let k = 1; k < sorted.length - 1; k++) {
      pop[sorted[k]!]!.crowding += (pop[sorted[k + 1]!]!.f[m] - pop[sorted[k - 1]!]!.f[m]) / (hi - lo);
    }
  }
}

export async function nsga2(o: Nsga2Options): Promise<Nsga2Result> {
  const rng = makeRng(o.seed);
  const genes = o.choices.length;
  const pc = o.crossoverRate ?? 0.9;
  const pm = o.mutationRate ?? 1 / Math.max(1, genes);
  const memo = new Map<string, [number, number]>();
  const evaluated: Nsga2Result['evaluated'] = [];
  const evaluate = async (g: Genome): Promise<[number, number]> => {
    const k = key(g);
    const hit = memo.get(k);
    if (hit) return hit;
    const f = (await o.evaluate(g)).f;
    memo.set(k, f);
    evaluated.push({ genome: [...g], f });
    return f;
  };
  const randomGenome = () => o.choices.map((c) => randInt(rng, c));
  let pop: Individual[] = [];
  for (const s of o.seeds ?? []) if (pop.length < o.populationSize) pop.push({ genome: [...s], f: await evaluate(s), rank: 0, crowding: 0 });
  while (pop.length < o.populationSize) {
    const g = randomGenome();
    pop.push({ genome: g, f: await evaluate(g), rank: 0, crowding: 0 });
  }
  const assign = (p: Individual[]) => {
    for (const front of nonDominatedSort(p)) crowdingDistance(p, front);
  };
  assign(pop);
  const better = (a: Individual, b: Individual) => a.rank < b.rank || (a.rank === b.rank && a.crowding > b.crowding);
  const tournament = () => {
    const a = pop[randInt(rng, pop.length)]!;
    const b = pop[randInt(rng, pop.length)]!;
    return better(a, b) ? a : b;
  };
  for (let gen = 0; gen < o.generations; gen++) {
    o.onGenerationStart?.(gen + 1);
    const children: Individual[] = [];
    while (children.length < o.populationSize) {
      const p1 = tournament().genome;
      const p2 = tournament().genome;
      let c1 = [...p1];
      let c2 = [...p2];
      if (rng() < pc) {
        // Uniform crossover: layers are independent decisions.
        c1 = p1.map((v, i) => (rng() < 0.5 ? v : p2[i]!));
        c2 = p2.map((v, i) => (rng() < 0.5 ? v : p1[i]!));
      }
      for (const c of [c1, c2]) {
        for (let i = 0; i < genes; i++) if (rng() < pm) c[i] = randInt(rng, o.choices[i]!);
        if (children.length < o.populationSize) children.push({ genome: c, f: await evaluate(c), rank: 0, crowding: 0 });
      }
    }
    // Elitist survival over parents + children, deduplicated by genome.
    const seen = new Set<string>();
    const merged = [...pop, ...children].filter((ind) => {
      const k = key(ind.genome);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    const fronts = nonDominatedSort(merged);
    const next: Individual[] = [];
    for (const front of fronts) {
      crowdingDistance(merged, front);
      if (next.length + front.length <= o.populationSize) next.push(...front.map((i) => merged[i]!));
      else {
        const rest = [...front].sort((a, b) => merged[b]!.crowding - merged[a]!.crowding);
        next.push(...rest.slice(0, o.populationSize - next.length).map((i) => merged[i]!));
        break;
      }
    }
    pop = next;
    assign(pop);
    o.onGeneration?.(gen + 1, evaluated.length);
  }
  return { population: pop, evaluated, evaluations: evaluated.length };
}
