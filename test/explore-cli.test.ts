import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dominates } from '../explore/pareto.ts';
import type { ExploreResult } from '../explore/run.ts';
import { runCli } from './helpers/cli.ts';

const LENET = 'models/lenet5-fmnist.onnx';
const CELLS = 'drum_k4_u8,drum_k6_u8,bam_h0_v8_u8,trunc_a2_b2_u8';
const env = { AXTPU_QUIET: '1' };

describe('axtpu explore (LeNet-5, small candidate set, 300 validation images)', () => {
  const out = mkdtempSync(join(tmpdir(), 'axtpu-explore-'));
  const args = [
    'explore',
    '--model',
    LENET,
    '--cells',
    CELLS,
    '--budget',
    '1%',
    '--granularity',
    'layer',
    '--val-images',
    '300',
    '--test-images',
    '300',
    '--calib-images',
    '16',
    '--out',
    out,
    '--no-rtl',
    '--json',
  ];

  it('finds a front within budget, writes the report, and resumes from its journal', async () => {
    const r1 = await runCli(args, env);
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    const s1 = JSON.parse(r1.stdout) as ExploreResult & { outputs: Record<string, string> };
    const g = s1.groups[0]!;
    expect(g.scheme).toBe('unsigned');
    // Budget holds on the validation split the search used.
    expect(g.winner.valLoss).toBeLessThanOrEqual(0.01 + 1e-12);
    // ...and so does its paired upper confidence bound (the decision rule), over all 300 images.
    expect(s1.confidence).toBe(0.9);
    expect(g.winner.valLossUpper).toBeLessThanOrEqual(0.01 + 1e-12);
    expect(g.winner.valLossUpper).toBeGreaterThanOrEqual(g.winner.valLoss);
    expect(g.winner.valImages).toBe(300);
    expect(g.winner.feasible).toBe(true);
    // The hold-out is the tail of the train split, disjoint from both calibration sets.
    expect(s1.splits).toEqual({ quantCalibration: 'train[0, 256)', xaiCalibration: 'train[0, 16)', validation: 'train[59700, 60000)', test: 'test[0, 300)' });
    // Every infeasible point is either screened out on the first 75 images or over budget at 90 %.
    for (const p of g.points) if (!p.feasible) expect(p.valImages === 75 || p.valLossUpper > 0.01).toBe(true);
    expect(g.evaluations.screenedOut).toBe(g.points.filter((p) => p.valImages === 75).length);
    expect(g.winner.energyPj).toBeLessThanOrEqual(g.baseline.energyPj);
    // Ranked by the default objective (accelerator); every objective's energy nests in the next.
    expect(s1.objective).toBe('accelerator');
    expect(g.winner.energyPj).toBe(g.winner.energies.accelerator);
    expect(g.winner.energies.multiplier).toBeLessThan(g.winner.energies.array);
    expect(g.winner.energies.array).toBeLessThan(g.winner.energies.accelerator);
    // Parts of the accelerator energy sum to the winner's accelerator energy.
    const sum = Object.values(g.accelerator.winnerParts).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(g.winner.energies.accelerator, 3);
    expect(g.winner.testAccuracy).toBeTypeOf('number');
    // The front is non-dominated among every fully measured point, and sorted by energy.
    for (const p of g.front)
      for (const q of g.points.filter((x) => x.valImages === 300))
        expect(dominates({ energy: q.energyPj, accuracy: q.valAccuracy }, { energy: p.energyPj, accuracy: p.valAccuracy })).toBe(false);
    for (let i = 1; i < g.front.length; i++) expect(g.front[i]!.energyPj).toBeGreaterThan(g.front[i - 1]!.energyPj);
    // XAI vs sensitivity measured for every layer.
    expect(g.layers).toHaveLength(5);
    expect(Number.isFinite(g.spearman.conductance)).toBe(true);
    // Error-aware criticality checked on the screening images for the probe (first) and more cells.
    const cc = g.criticalityCheck;
    expect(cc.images).toBe(75);
    expect(cc.cells[0]!.cell).toBe(g.probe);
    expect(cc.cells.length).toBeGreaterThanOrEqual(Math.min(3, g.candidates.length));
    for (const c of cc.cells) for (const x of c.vsKl) expect(x.spearmanCi[0]).toBeLessThanOrEqual(x.spearmanCi[1]);
    expect(cc.used).toBe('noise-kl');
    expect(g.units.map((u) => u.criticality)).toEqual(cc.cells[0]!.estimates['noise-kl']);
    // The default greedy walks the measured (surrogate) path: bisection probes measured on all 300
    // images, every design it judged is a point, and the winner is the last accepted one.
    const gp = g.greedyPath!;
    expect(gp.order).toBe('surrogate');
    expect(gp.steps.length).toBeGreaterThan(0);
    // Each step moves one unit to a cheaper cell; the surrogate ran once per design it scored.
    expect(gp.surrogate!.runs).toBeGreaterThanOrEqual(gp.steps.length);
    expect(gp.surrogate!.replays).toBe(0);
    expect(readFileSync(join(out, 'surrogate.jsonl'), 'utf8').trim().split('\n').length).toBe(gp.surrogate!.runs);
    const byKey = new Map(g.points.map((p) => [p.cells.join('|'), p]));
    for (const t of gp.trials) {
      const p = byKey.get(t.cells.join('|'))!;
      expect(p.feasible).toBe(t.fits);
      if (t.phase === 'bisect') expect(p.valImages).toBe(300);
    }
    expect(g.evaluations.search).toBe(gp.trials.length);
    expect(g.winner.cells).toEqual(gp.trials.filter((t) => t.fits).at(-1)!.cells);
    expect(s1.journal.fresh).toBeGreaterThan(0);
    // Output files.
    for (const f of ['summary.json', 'front.json', 'front.csv', 'report.html', 'journal.jsonl']) expect(existsSync(join(out, f))).toBe(true);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect((html.match(/<svg /g) ?? []).length).toBe(4);
    expect(html).toContain('exact vs winner, accelerator energy per inference');
    expect(html).toContain('energy vs validation accuracy');
    expect(html).toContain('per-layer multiplier energy');
    expect(html).toContain('XAI criticality vs measured sensitivity');
    expect(html).toContain('Does the criticality predict the damage?');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/); // self-contained
    const csv = readFileSync(join(out, 'front.csv'), 'utf8').trim().split('\n');
    expect(csv.length).toBe(g.front.length + 1);
    const journalLines = readFileSync(join(out, 'journal.jsonl'), 'utf8').trim().split('\n').length;

    // Second run: everything comes from the journal.
    const r2 = await runCli(args, env);
    expect(r2.code).toBe(0);
    const s2 = JSON.parse(r2.stdout) as ExploreResult;
    expect(s2.journal.fresh).toBe(0);
    expect(readFileSync(join(out, 'journal.jsonl'), 'utf8').trim().split('\n').length).toBe(journalLines);
    expect(s2.groups[0]!.winner.cells).toEqual(g.winner.cells);
    // ...the surrogate's runs too (surrogate.jsonl).
    expect(s2.groups[0]!.greedyPath!.surrogate).toMatchObject({ runs: 0, replays: gp.surrogate!.runs });
  });
});

describe('axtpu explore: bad input -> one line, exit 2', () => {
  const base = ['explore', '--model', LENET, '--out', join(tmpdir(), 'axtpu-explore-bad')];
  const cases: [string, string[], RegExp][] = [
    ['budget above 100 %', ['--budget', '150%'], /--budget 150%: out of range/],
    ['budget of zero', ['--budget', '0'], /out of range/],
    ['budget not a number', ['--budget', 'lots'], /--budget 'lots'/],
    ['glob matching nothing', ['--cells', 'nosuchfamily_*'], /matches no 8-bit cell/],
    ['only exact cells', ['--cells', 'exact_u8'], /no approximate 8-bit cell/],
    // Kernel level is realized by per-weight cell select: the PE holds exact + at most 3 candidates.
    [
      'kernel granularity with more candidates than a PE holds',
      ['--granularity', 'kernel'],
      /--granularity kernel: every PE holds exact_[su]8 plus the candidates \(at most 4 cells, 2 tag bits\)/,
    ],
    ['input groups without kernel granularity', ['--input-groups', '2'], /--input-groups needs --granularity kernel/],
    ['validation split overlapping calibration', ['--val-images', '59800'], /--val-images 59800: .*overlap the 256 calibration images; at most 59744/],
    ['confidence out of range', ['--confidence', '1'], /--confidence must be in 0.5..0.9999/],
    ['unknown granularity', ['--granularity', 'pixel'], /expected layer, filter or kernel/],
    ['unknown search', ['--search', 'random'], /expected xai-greedy, nsga2 or exhaustive/],
    ['unknown greedy order', ['--greedy-order', 'random'], /--greedy-order 'random': expected criticality, per-energy, path/],
    ['unknown objective', ['--objective', 'chip'], /--objective 'chip': expected multiplier, array, accelerator/],
  ];
  for (const [name, extra, re] of cases)
    it(name, async () => {
      const r = await runCli([...base, ...extra], env);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    });
});
