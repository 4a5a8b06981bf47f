import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../explore/journal.ts';

describe('evaluation journal', () => {
  it('an interrupted run resumes without redoing finished points', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'axtpu-journal-')), 'points.jsonl');
    let computed = 0;
    const j1 = new Journal<{ acc: number }>(path);
    for (const k of ['a', 'b', 'c']) await j1.through(k, () => ({ acc: ++computed }));
    // Simulate a kill in the middle of writing the next record.
    appendFileSync(path, '{"key":"d","val');
    const j2 = new Journal<{ acc: number }>(path);
    expect(j2.size).toBe(3);
    for (const k of ['a', 'b', 'c', 'd']) await j2.through(k, () => ({ acc: ++computed }));
    expect(computed).toBe(4);
    expect(j2.get('b')).toEqual({ acc: 2 });
    expect(j2.get('d')).toEqual({ acc: 4 });
    expect(readFileSync(path, 'utf8')).toContain('"key":"d","value"');
  });
});
