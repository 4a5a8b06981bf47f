import { appendFileSync, existsSync, readFileSync, truncateSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensureDir } from '../core/atomic.ts';

/**
 * Append-only journal of evaluated points (JSON Lines). Each line is one completed evaluation,
 * written with a single append so an interrupted run loses at most the point in flight; on
 * restart the journal is replayed and those points are not evaluated again. A torn tail (killed
 * mid-write, disk full) is cut off on open, so the next append starts on a clean line.
 */
export class Journal<V> {
  private readonly done = new Map<string, V>();

  constructor(readonly path: string) {
    if (existsSync(path)) {
      const text = readFileSync(path);
      // Byte offset just past the last line that parsed: everything after it is a torn tail.
      let good = 0;
      let start = 0;
      while (start < text.length) {
        const nl = text.indexOf(0x0a, start);
        const end = nl < 0 ? text.length : nl + 1;
        const line = text.subarray(start, nl < 0 ? text.length : nl).toString('utf8');
        if (line.trim()) {
          try {
            const rec = JSON.parse(line) as { key: string; value: V };
            if (nl >= 0 && typeof rec.key === 'string') {
              this.done.set(rec.key, rec.value);
              good = end;
            }
          } catch {
            /* a torn line: cut below if nothing valid follows it */
          }
        } else if (good === start) good = end;
        start = end;
      }
      if (good < text.length) truncateSync(path, good);
    } else ensureDir(dirname(path));
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
