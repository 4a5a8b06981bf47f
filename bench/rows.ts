import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../core/atomic.ts';

/**
 * A bench's results file of rows keyed by (model, run, budget): the rows this invocation
 * re-measures are dropped, the others kept, so one invocation per model or run is fine.
 */
export type Row = Record<string, unknown> & { model: string; run: string; budget: number };

export function benchRows(out: string, redo: { models: string[]; runs: string[]; budgets: number[] }) {
  const previous: Row[] = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as { results: Row[] }).results : [];
  const results = previous.filter((p) => !(redo.models.includes(p.model) && redo.runs.includes(p.run) && redo.budgets.includes(p.budget)));
  return {
    results,
    /** Rewrite the file with `head` fields first (atomic: a stopped bench leaves the last complete file). */
    write: (head: Record<string, unknown>) => writeFileAtomic(out, `${JSON.stringify({ ...head, results }, null, 2)}\n`),
  };
}
