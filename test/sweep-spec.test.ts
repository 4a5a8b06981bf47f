/**
 * Sweep files (sweep/spec.ts): grid expansion order, content-hash job ids (by model content, not
 * path; defaults filled in; equal budgets spelled differently; the code fingerprint), duplicates
 * run once.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { modelsDir } from '../core/paths.ts';
import { expandSweep, jobId, loadSweep } from '../sweep/spec.ts';

const LENET = join(modelsDir, 'lenet5-fmnist.onnx');
const tmp = mkdtempSync(join(tmpdir(), 'axtpu-sweep-spec-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = join(tmp, 'sweep.json');

describe('sweep files', () => {
  it('a YAML file is the same sweep as its JSON twin (same jobs, same ids)', () => {
    const spec = { defaults: { model: LENET }, grid: [{ kind: 'eval', cell: ['exact_u8', 'drum_k6_u8'], limit: [100, 200] }] };
    writeFileSync(join(tmp, 'twin.json'), JSON.stringify(spec));
    writeFileSync(
      join(tmp, 'twin.yaml'),
      ['defaults:', `  model: ${LENET}`, 'grid:', '  - kind: eval', '    cell: [exact_u8, drum_k6_u8]', '    limit: [100, 200]', ''].join('\n'),
    );
    const fromJson = loadSweep(join(tmp, 'twin.json')).jobs.map((j) => j.id);
    expect(fromJson).toHaveLength(4);
    expect(loadSweep(join(tmp, 'twin.yaml')).jobs.map((j) => j.id)).toEqual(fromJson);
  });

  it('a grid expands in the order its fields are written, the last varying fastest', () => {
    const s = expandSweep({ defaults: { model: LENET }, grid: [{ kind: 'eval', cell: ['exact_u8', 'drum_k6_u8', 'bam_h0_v8_u8'], limit: [100, 200] }] }, file);
    expect(s.jobs.map((j) => j.options.kind === 'eval' && [j.options.cell, j.options.limit])).toEqual([
      ['exact_u8', 100],
      ['exact_u8', 200],
      ['drum_k6_u8', 100],
      ['drum_k6_u8', 200],
      ['bam_h0_v8_u8', 100],
      ['bam_h0_v8_u8', 200],
    ]);
    expect(new Set(s.jobs.map((j) => j.id)).size).toBe(6);
  });

  it('job ids hash the options and the model content, not its path; duplicates run once', () => {
    const copy = join(tmp, 'same-model.onnx');
    copyFileSync(LENET, copy);
    const s = expandSweep(
      {
        jobs: [
          { kind: 'eval', model: LENET, limit: 100 },
          // relative to the sweep file's folder; the same bytes; the default cell spelled out
          { kind: 'eval', model: 'same-model.onnx', limit: 100, cell: 'exact_s8' },
          { kind: 'eval', model: LENET, limit: 101 },
          { kind: 'explore', model: LENET, cells: 'drum_k6_u8', budget: '1%' },
          { kind: 'explore', model: LENET, cells: 'drum_k6_u8', budget: 0.01 },
          // the default objective spelled out: the same job; another objective: another job
          { kind: 'explore', model: LENET, cells: 'drum_k6_u8', budget: '1%', objective: 'accelerator' },
          { kind: 'explore', model: LENET, cells: 'drum_k6_u8', budget: '1%', objective: 'multiplier' },
        ],
      },
      file,
    );
    expect(s.jobs.length).toBe(4);
    expect(s.jobs.map((j) => j.options.kind === 'eval' && j.options.limit)).toEqual([100, 101, false, false]);
    expect(s.jobs.map((j) => j.options.kind === 'explore' && j.options.objective)).toEqual([false, false, 'accelerator', 'multiplier']);
    const again = expandSweep({ jobs: [{ kind: 'eval', model: copy, limit: 100 }] }, join(tmpdir(), 'elsewhere.json'));
    expect(again.jobs[0]!.id).toBe(s.jobs[0]!.id);
    expect(again.jobs[0]!.id).toMatch(/^[0-9a-f]{16}$/);
    // Other code, another job: results of other code are never reused.
    const j = s.jobs[0]!;
    expect(jobId(j.options, j.modelSha, j.code)).toBe(j.id);
    expect(jobId(j.options, j.modelSha, '0'.repeat(16))).not.toBe(j.id);
  });
});
