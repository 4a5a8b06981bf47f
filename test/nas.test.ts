/**
 * `axtpu nas` end to end with the real PyTorch and the real engine: a two-architecture space,
 * 1-epoch proxies on 2,000 training images, cells chosen by exploration. Checks that each
 * candidate's accuracy with its cells is the engine's own (re-measured here with `evaluate`),
 * that the front and winner follow from the candidates, and that a second run resumes from the
 * journal and that `--search nsga2` on the same space takes the trained models from the cache
 * instead of training them again.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NasResult } from '../nas/run.ts';
import { evaluate } from '../nn/evaluate.ts';
import { importOnnx } from '../nn/onnx.ts';
import { runCli } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'axtpu-nas-'));
const space = join(dir, 'space.json');
writeFileSync(space, JSON.stringify({ stages: [{ depth: [1], width: [4, 8], kernel: [3], stride: [2], residual: [false] }], hidden: [0] }));
const out = join(dir, 'out');
const TEST_IMAGES = 300;
const args = [
  '--json',
  'nas',
  '--space',
  space,
  '--cells',
  'drum_k4_u8,drum_k6_u8',
  '--population',
  '2',
  '--generations',
  '0',
  '--proxy-epochs',
  '1',
  '--train-images',
  '2000',
  '--val-images',
  '300',
  '--test-images',
  String(TEST_IMAGES),
  '--out',
  out,
];
const env = { AXTPU_QUIET: '1' };
type Run = NasResult & { outputs: Record<string, string> };

describe('axtpu nas (PyTorch proxies, engine accuracy, analytical energy)', () => {
  it('searches two architectures with their cells, reports the front, and resumes without retraining', async () => {
    const r1 = await runCli(args, env);
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    const a = JSON.parse(r1.stdout) as Run;
    expect(a.candidates.map((c) => c.label).sort()).toEqual(['1x4k3s2', '1x8k3s2']);
    expect(a.journal.fresh).toBe(2);
    for (const c of a.candidates) {
      // Readable layer names from the script, and the network nas/space.ts described.
      const g = importOnnx(c.onnx);
      expect(g.layers.filter((l) => l.op === 'conv').map((l) => l.name)).toEqual(['/s1c1/Conv', '/out/Gemm']);
      expect(c.approx.layers).toEqual(['/s1c1/Conv', '/out/Gemm']);
      expect(c.train.images).toBe(2000);
      expect(c.train.epochs).toBe(1);
      // The candidate's point is the engine's accuracy with the chosen cells, on the same test images.
      const assign = JSON.stringify({ default: c.exact.cell, layers: Object.fromEntries(c.approx.layers.map((l, i) => [l, c.approx.cells[i]])) });
      const ev = await evaluate({ model: c.onnx, assign, limit: TEST_IMAGES, noFloat: true });
      expect(ev.accuracy).toBe(c.approx.testAccuracy);
      expect(c.approx.energyPj).toBeLessThanOrEqual(c.exact.energyPj);
      expect(c.exact.cyclesPerInference).toBeGreaterThan(0);
      // A proxy that learned something: well above chance (10 %) on the validation hold-out.
      expect(c.exact.valAccuracy).toBeGreaterThan(0.3);
    }
    // --search xai (default, --xai-share 0.5): only the less critical of the two layers may be approximate.
    for (const c of a.candidates) expect(c.approx.cells.filter((x) => x !== c.exact.cell).length).toBeLessThanOrEqual(1);
    // The front: no candidate dominates a front point; the winner is the least energy within budget of the best.
    const pts = a.candidates.map((c) => ({ key: c.key, e: c.approx.energyPj, acc: c.approx.valAccuracy }));
    for (const f of a.front) expect(pts.some((p) => p.e <= f.energyPj && p.acc >= f.accuracy && (p.e < f.energyPj || p.acc > f.accuracy))).toBe(false);
    const best = Math.max(...pts.map((p) => p.acc));
    const within = pts.filter((p) => p.acc >= best - 0.01 - 1e-12).sort((x, y) => x.e - y.e);
    expect(a.winner).toBe(within[0]!.key);
    for (const f of ['summary.json', 'front.svg', 'report.html', 'journal.jsonl', '.axtpu-output']) expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, 'front.svg'), 'utf8')).toContain('<svg');
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain(a.candidates[0]!.label);

    // Resume: every candidate from the journal, same points.
    const r2 = await runCli(args, env);
    expect(r2.code).toBe(0);
    const b = JSON.parse(r2.stdout) as Run;
    expect(b.journal.fresh).toBe(0);
    expect(b.candidates.every((c) => c.fromJournal)).toBe(true);
    expect(b.front).toEqual(a.front);

    // --search nsga2 (EvoApproxNAS-style baseline): other candidates' records (new journal keys),
    // but the same trained models from the cache, not retrained; every layer open to every cell,
    // so its cell search tries at least as many designs per candidate.
    // (One of the two architectures: the point is the cache and the cell search, not the front.)
    const one = join(dir, 'space-one.json');
    writeFileSync(one, JSON.stringify({ stages: [{ depth: [1], width: [4], kernel: [3], stride: [2], residual: [false] }], hidden: [0] }));
    const nsgaArgs = args.map((x) => (x === space ? one : x));
    const r4 = await runCli([...nsgaArgs.slice(0, -1), join(dir, 'out-nsga2'), '--search', 'nsga2'], env);
    expect(r4.code).toBe(0);
    const d = JSON.parse(r4.stdout) as Run;
    expect(d.cellSearch).toBe('full');
    expect(d.candidates.map((x) => x.label)).toEqual(['1x4k3s2']);
    for (const x of d.candidates) {
      expect(x.train.cached && !x.fromJournal).toBe(true);
      const y = a.candidates.find((z) => z.label === x.label)!;
      expect(x.exact.valAccuracy).toBe(y.exact.valAccuracy);
      expect(x.evaluations).toBeGreaterThanOrEqual(y.evaluations);
    }
  });
});
