import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Append-only journal of evaluated points (JSON Lines). Each line is one completed evaluation,
 * written with a single append so an interrupted run loses at most the point in flight; on
 * restart the journal is replayed and those points are not evaluated again. A torn last line
 * (killed mid-write) is ignored.
 */
export class Journal<V> {
  private readonly done = new Map<string, V>();

  constructor(readonly path: string) {
    if (existsSync(path)) {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const rec = JSON.parse(line) as { key: string; value: V };
          if (typeof rec.key === 'string') this.done.set(rec.key, rec.value);
        } catch {
          /* torn final line from an interrupted run: skip it */
        }
      }
    } else mkdirSync(dirname(path), { recursive: true });
  }

  get size(): number {
    return this.done.size;
  }

  get(key: string): V | undefined {
    return this.done.get(key);
  }

  entries(): [string, V][] {
    return [...this.done.entries()];
  }

  record(key: string, value: V): void {
    if (this.done.has(key)) return;
    this.done.set(key, value);
    appendFileSync(this.path, `${JSON.stringify({ key, value })}\n`);
  }

  /** Memoize an evaluation through the journal. */
  async through(key: string, compute: () => Promise<V> | V): Promise<V> {
    const hit = this.done.get(key);
    if (hit !== undefined) return hit;
    const v = await compute();
    this.record(key, v);
    return v;
  }
}
