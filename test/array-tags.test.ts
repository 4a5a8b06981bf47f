import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelsDir } from '../core/paths.ts';
import { lintVerilog } from '../core/verilator.ts';
import { runFlow } from '../flow/run.ts';
import { checkDesignXml, provePeViewsEquivalent } from '../generators/array/check.ts';
import { generateViews, resolveDesign } from '../generators/array/index.ts';
import { cycleModel } from '../mapping/cycle-model.ts';
import { activationMatrix, type Mat8, padBias, toAccumulator, weightMatrix } from '../mapping/gemm.ts';
import { gemmModel } from '../mapping/gemm-model.ts';
import { layerTags, placeModel } from '../mapping/place.ts';
import { type Assignment, resolveAssignment } from '../nn/assign.ts';
import { gemmLut } from '../nn/gemm.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { convLayers } from '../nn/qmodel.ts';
import { ArraySim, harnessSource } from '../sim/array.ts';
import { MIXED_3x5 } from './helpers/designs.ts';
import { seededMat } from './helpers/mat.ts';

/**
 * Per-weight cell select (docs/array.md, Cell set): every PE holds a cell set and each weight a
 * tag naming its cell. Untagged designs must generate exactly the text they did before tags
 * existed; tagged ones are lint-clean, structurally what the config says, RTL == gemmModel with
 * cycles == cycleModel, and a kernel-level assignment on a whole network equals the engine.
 */
const SET = ['exact_s8', 'roup_p1_r4_s8', 'roup_p2_r6_s8'];
/** One design (one harness build) for every RTL case; 8 accumulator rows force M-blocks. */
const TAGGED = { rows: 3, cols: 2, accEntries: 8, cellSet: SET };

/**
 * sha256 over every generated text (synth, sim, gate views with and without activity taps, UPF,
 * both harness sources) of untagged designs covering column maps with domains, runtime modes with
 * tiles, clock gating and the control variate. Recorded at the branch point before tags existed
 * (commit 4d137db); re-recorded at a9ca6ac, whose simulation views and harness gained the
 * timing-error port (inj_add, acc_in_valid) while the synthesis views and UPF stayed identical
 * (their own hash compared before and after); re-recorded again when the simulation views and
 * harness gained the weight-memory fault port (wfault, docs/wmem.md). `synthSha` pins the synthesis
 * views and UPF alone (recorded before wfault, unchanged by it). A change means untagged users get
 * different hardware.
 */
const UNTAGGED: Record<string, { cfg: unknown; sha: string; synthSha: string }> = {
  plain: {
    cfg: { rows: 4, cols: 4, cell: 'exact_u8' },
    sha: '345dadbbb01c24805144f6d0b9cfcf3f99f11d906b0f6f4b044f36b4a28d893d',
    synthSha: '57a94f60b7db8e8d59f99e130931672559bb27af5e573a97ea91445ad2028c4f',
  },
  mixed: {
    cfg: MIXED_3x5,
    sha: '82de55bf4811f06a1fdd2e995f4625da66e7820c484a9b7ecb312dc1f3f4dab6',
    synthSha: 'a986fb2276aad46a69079f43415fc7fc04c117f1409c9b5eb5431ac6eb7505d8',
  },
  modesTiles: {
    cfg: {
      rows: 3,
      cols: 4,
      accEntries: 9,
      tiles: [
        { name: 'a', map: { modes: ['exact_s8', 'roup_p1_r4_s8'] } },
        {
          name: 'b',
          rows: 2,
          cols: 3,
          map: {
            modes: [
              {
                pe: [
                  ['exact_s8', 'roup_p1_r4_s8', 'exact_s8'],
                  ['roup_p1_r4_s8', 'exact_s8', 'exact_s8'],
                ],
              },
              'exact_s8',
            ],
          },
        },
      ],
    },
    sha: '51c97b16123279eca75ed56bf7e64247203f922fafef5ddeb5509743a52234cd',
    synthSha: 'd1dd1a322cef9a9c44ae647d168e2e3cab010c78a7ac091af5ecdbcbe0b52b9c',
  },
  gatedCv: {
    cfg: { rows: 4, cols: 3, cell: 'roup_p1_r4_s8', clockGating: true, controlVariate: {} },
    sha: '669e38d4f2a61e36db11d932eaf0d09db8eecad7b95833e2b7e73ac3b721728f',
    synthSha: '267276912403f51e52ba61141de44524c8e0d4f843d82afc589547ae3e8e5553',
  },
};

/** sha256 over the synthesis views and UPF only (with and without activity taps). */
function synthHash(cfg: unknown): string {
  const d = resolveDesign(cfg);
  const h = createHash('sha256');
  for (const activity of [false, true]) {
    const v = generateViews(d, { activity });
    for (const [n, t] of Object.entries(v.synth)) h.update(`synth/${n}\n${t}\n`);
    h.update(v.upf);
  }
  return h.digest('hex');
}

function textHash(cfg: unknown): string {
  const d = resolveDesign(cfg);
  const h = createHash('sha256');
  for (const activity of [false, true]) {
    const v = generateViews(d, { activity });
    for (const view of ['synth', 'sim', 'gate'] as const) for (const [n, t] of Object.entries(v[view])) h.update(`${view}/${n}\n${t}\n`);
    h.update(v.upf);
    h.update(harnessSource(d, v, activity));
  }
  return h.digest('hex');
}

describe('per-weight cell select', () => {
  it('designs without tags generate exactly the pre-tag RTL and harness text', () => {
    for (const [label, { cfg, sha, synthSha }] of Object.entries(UNTAGGED)) {
      expect(textHash(cfg), label).toBe(sha);
      expect(synthHash(cfg), `${label} synthesis views`).toBe(synthSha);
    }
    // The hash sees the tag hardware: the same array with a cell set is different text.
    expect(textHash(TAGGED)).not.toBe(UNTAGGED.plain!.sha);
  });

  it('tagged design: synthesis and LUT views lint-clean, every PE holds the set, gate-view PE proven equal to synth PE', async () => {
    const design = resolveDesign(TAGGED);
    expect(design.tags).toEqual({ cells: SET, bits: 2 });
    const v = generateViews(design);
    for (const [view, src] of [
      ['synth', v.synth],
      ['sim', v.sim],
    ] as const) {
      const r = await lintVerilog(src, 'axtpu_top');
      expect(r.warnings, `${view}:\n${r.log}`).toEqual([]);
      expect(r.ok).toBe(true);
    }
    // The LUT view reads one ROM per PE and cycle, chosen by the tag; the other views hold the cells.
    expect(v.sim['axtpu_pe0.sv']).toMatch(/assign p = tag == 2'd0 \? axtpu_lut_pkg::LUT_exact_s8\[\{a_in, b\}\]/);
    expect(v.gate['axtpu_pe0.sv']).toMatch(/roup_p2_r6_s8 u_mul2/);
    // The tag FIFO is a memory macro (black box) in synthesis, like the weight FIFO.
    expect(v.synth['axtpu_wtagmem.sv']).toMatch(/\(\* blackbox \*\)\s*module axtpu_wtagmem/);
    const xml = await checkDesignXml(design);
    expect(xml.problems).toEqual([]);
    expect(xml.pesChecked).toBe(6);
    const eq = await provePeViewsEquivalent(design);
    expect(eq.problems).toEqual([]);
    expect(eq.proven).toEqual(['axtpu_pe0']);
  }, 120_000);

  it('RTL == gemmModel with random tags (several K-folds, N-folds, M-blocks); cycles == cycleModel; tags change the products', async () => {
    const design = resolveDesign(TAGGED);
    const sim = await ArraySim.open(design);
    try {
      let changed = 0;
      for (let i = 0; i < 12; i++) {
        const M = 1 + ((i * 7) % 20);
        const K = 1 + ((i * 5) % 11);
        const N = 1 + ((i * 3) % 10);
        const A = seededMat(M, K, i + 1);
        const W = seededMat(K, N, i + 100);
        const T = seededMat(K, N, i + 200);
        T.data.forEach((x, j) => {
          T.data[j] = x % SET.length;
        });
        const run = await sim.gemm(A, W, { tags: T });
        const want = gemmModel(design, A, W, { tags: T });
        expect([...run.out.raw], `case ${i} ${M}x${K}x${N}`).toEqual([...want.raw]);
        expect(run.cycles).toBe(cycleModel(design, M, K, N).cycles);
        if (!gemmModel(design, A, W).raw.every((x, j) => x === want.raw[j])) changed++;
      }
      expect(changed).toBeGreaterThan(8);
    } finally {
      await sim.close();
    }
  }, 120_000);

  it('a kernel-level assignment: tags from the mapping layer, array accumulators == the engine, LeNet-5 RTL run == engine', async () => {
    const { model } = await loadQuantModelFor(join(modelsDir, 'lenet5-fmnist.onnx'), 'signed');
    const convs = convLayers(model);
    // Every (filter, input channel) its own cell, varying within filters and across layers.
    const assign: Assignment = {
      layers: Object.fromEntries(
        convs.map((l, j) => [l.name, { kernels: Array.from({ length: l.oc }, (_, o) => Array.from({ length: l.ic }, (_, ic) => SET[(o + 2 * ic + j) % 3]!)) }]),
      ),
    };
    const design = resolveDesign(TAGGED);
    const placement = placeModel(model, design, { want: assign });
    // GEMM level on conv2 (K = 150 over 6 input channels): the array's accumulators equal the
    // engine's LUT GEMM under the same assignment.
    const l = convs[1]!;
    const p = placement.layers[1]!;
    expect(p.tags).toEqual(layerTags(design, l, p.kernelCells!));
    const P = 9;
    const a = seededMat(l.K, P, 5).data;
    const g = { K: l.K, P, positions: P, batch: 1, a, sumA: undefined };
    const r = resolveAssignment(model, assign);
    const engine = gemmLut(r.rowOffsets[l.name]!, r.table, g, l.oc);
    const A: Mat8 = activationMatrix(g);
    const W = weightMatrix(l);
    const model0 = gemmModel(design, A, W, { tags: p.tags });
    const sim = await ArraySim.open(design);
    let run: Awaited<ReturnType<ArraySim['gemm']>>;
    try {
      run = await sim.gemm(A, W, { tags: p.tags });
    } finally {
      await sim.close();
    }
    expect([...run.out.raw]).toEqual([...model0.raw]);
    expect([...toAccumulator(design, run.out.raw, P, l.oc, padBias(design, 0, 0, l.K, l.oc))]).toEqual([...engine]);
    // Whole network: every layer's accumulators from the tagged array equal the software engine's.
    const flow = await runFlow({
      model: join(modelsDir, 'lenet5-fmnist.onnx'),
      design: TAGGED,
      assign: JSON.stringify(assign),
      limit: 6,
      batch: 6,
      activity: 'off',
      noEnergy: true,
      write: false,
    });
    expect(flow.images).toBe(6);
    expect(flow.layers.map((x) => x.mismatches)).toEqual([0, 0, 0, 0, 0]);
    expect(flow.predMismatches).toBe(0);
    expect(flow.cyclesMatchModel).toBe(true);
    // The run used the kernel map: every cell of the set did multiplies in conv2.
    expect(Object.keys(flow.layers[1]!.macsByCell).sort()).toEqual([...SET].sort());
  }, 180_000);
});
