/**
 * Unit checks behind issue 13 that need no subprocess: the journal's torn-tail repair, honest
 * netlist-check claims and streams for cells wider than 8 bits, signedness evidence of a LUT.
 */
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../explore/journal.ts';
import { signednessEvidence } from '../generators/multipliers/importer.ts';
import { getCell, lutBytes } from '../generators/multipliers/index.ts';
import { uniformStream } from '../synth/operand-stream.ts';
import { cellStimulus, checkClaim, checkOperands } from '../synth/power.ts';

describe('journal torn tail', () => {
  it('is cut on open, so the next record lands on its own line and is not lost on the next resume', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'axtpu-journal-')), 'points.jsonl');
    const j1 = new Journal<number>(path);
    await j1.through('a', () => 1);
    appendFileSync(path, '{"key":"b","val');
    const j2 = new Journal<number>(path);
    expect(readFileSync(path, 'utf8')).toBe('{"key":"a","value":1}\n');
    let computed = 0;
    await j2.through('b', () => ++computed);
    const j3 = new Journal<number>(path);
    await j3.through('b', () => ++computed);
    expect(computed).toBe(1);
    expect(j3.entries()).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
  });
});

describe('cells wider than 8 bits', () => {
  it('a uniform stream at the cell width toggles every operand bit; a byte stream is refused', () => {
    const s = uniformStream(4096, 1, 16);
    let orA = 0;
    let orB = 0;
    for (let i = 0; i < 4096; i++) {
      orA |= s.a[i]!;
      orB |= s.b[i]!;
    }
    expect([orA, orB]).toEqual([0xffff, 0xffff]);
    expect(cellStimulus(getCell('exact_u16'), s).ports.a).toBe(s.a);
    expect(() => cellStimulus(getCell('exact_u16'), uniformStream(64, 1))).toThrow(/16-bit but the operand stream holds 8-bit codes/);
  });

  it('the netlist check is exhaustive up to 8 bits and says "sampled" above, with the full operand range applied', () => {
    expect(checkOperands(8).exhaustive).toBe(true);
    expect(checkOperands(8).a.length).toBe(65536);
    const wide = checkOperands(12);
    expect(wide.exhaustive).toBe(false);
    expect(wide.a.reduce((m, x) => Math.max(m, x), 0)).toBe(4095);
    expect(wide.b.reduce((m, x) => Math.max(m, x), 0)).toBe(4095);
    expect(checkClaim({ pairs: wide.a.length, exhaustive: false, space: 2 ** 24, mismatches: 0 })).toBe('yes (262144 sampled of 2^24 pairs)');
    expect(checkClaim({ pairs: 65536, exhaustive: true, space: 65536, mismatches: 0 })).toBe('yes (all 65536 pairs)');
  });
});

describe('signedness evidence', () => {
  it('an exact signed LUT reads far better as signed, an unsigned one as unsigned', () => {
    const s = signednessEvidence(lutBytes(getCell('exact_s8')));
    expect(s.signedMae).toBe(0);
    expect(s.unsignedMae).toBeGreaterThan(30000);
    const u = signednessEvidence(lutBytes(getCell('drum_k6_u8')));
    expect(u.unsignedMae).toBeLessThan(u.signedMae);
  });
});
