import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.ts';
import { lintVerilog } from '../core/verilator.ts';
import { ANALYTICAL_MAX_DIM, checkRtlSize, RTL_MAX_DIM } from '../generators/array/config.ts';
import { generateViews, resolveDesign, writeDesign } from '../generators/array/index.ts';
import { PRESETS, preset } from '../generators/array/presets.ts';
import { layerCosts } from '../mapping/layer-cost.ts';
import { placeModel } from '../mapping/place.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { runCli } from './helpers/cli.ts';

/**
 * Scale (docs/array.md, Scale): the analytical path takes arrays up to 256x256, RTL generation
 * up to 128x128, and the tpu-v4 preset. The full 128x128 lint, build and GEMM run are in
 * bench/scale.ts (minutes); here the RTL at the 128 extremes of each dimension is linted.
 */
const repo = join(import.meta.dirname, '..');

describe('scale', () => {
  it('limits: the schema takes 256, RTL generation stops at 128 with one clear error', async () => {
    expect(ANALYTICAL_MAX_DIM).toBe(256);
    expect(RTL_MAX_DIM).toBe(128);
    const big = resolveDesign({ rows: 256, cols: 256, cell: 'exact_s8' });
    expect(big.tiles[0]!.rows).toBe(256);
    expect(() => resolveDesign({ rows: 257, cols: 4, cell: 'exact_s8' })).toThrow(/must be <= 256/);
    expect(() => checkRtlSize(big)).toThrow(UserError);
    expect(() => checkRtlSize(big)).toThrow(/256x256 array is beyond RTL generation \(at most 128x128\); the analytical path accepts up to 256x256/);
    expect(() => checkRtlSize(resolveDesign({ rows: 128, cols: 128, cell: 'exact_s8' }))).not.toThrow();
    // A tile beyond the limit is caught too, and nothing is written.
    const out = mkdtempSync(join(tmpdir(), 'axtpu-scale-'));
    try {
      const tiles = resolveDesign({ rows: 4, cols: 4, tiles: [{ cell: 'exact_u8' }, { rows: 130, cell: 'exact_u8' }] });
      await expect(writeDesign(tiles, join(out, 'x'))).rejects.toThrow(/130x4 array is beyond RTL generation/);
      expect(existsSync(join(out, 'x'))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('tpu-v4 preset: one MXU of a TPU v4 (published figures), flags override it', async () => {
    const v4 = preset('tpu-v4');
    expect(v4.config).toEqual({ rows: 128, cols: 128, ubKiB: 4096, wbufKiB: 64, dramBytesPerCycle: 143, accEntries: 4096 });
    for (const k of Object.keys(v4.config).filter((k) => k !== 'cols')) expect(v4.sources[k as keyof typeof v4.sources], k).toBeTruthy();
    const d = resolveDesign({ ...PRESETS['tpu-v4'].config, cell: 'exact_u8' });
    expect(d.memory).toMatchObject({ ubKiB: 4096, wbufKiB: 64, dramBytesPerCycle: 143, ubWordBytes: 128 });
    const out = mkdtempSync(join(tmpdir(), 'axtpu-scale-cli-'));
    try {
      const r = await runCli([
        'gen',
        '--preset',
        'tpu-v4',
        '--rows',
        '8',
        '--cols',
        '8',
        '--cell',
        'exact_u8',
        '--clock-gating',
        '--json',
        '--out',
        join(out, 'd'),
      ]);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.tiles[0]).toMatchObject({ rows: 8, cols: 8 });
      expect(j.memory).toMatchObject({ ubKiB: 4096, wbufKiB: 64, dramBytesPerCycle: 143 });
      expect(j.clockGating).toBe(true);
      expect(j.accEntries).toBe(4096);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('analytical path at 256x256 and on the tpu-v4 preset: LeNet-5 and ResNet-8 layer costs', async () => {
    for (const config of [
      { rows: 256, cols: 256, cell: 'exact_s8' },
      { ...PRESETS['tpu-v4'].config, cell: 'exact_s8' },
    ]) {
      const design = resolveDesign(config);
      const { rows: R, cols: C } = design.tiles[0]!;
      for (const name of ['lenet5', 'resnet8']) {
        const { model: q } = await loadQuantModelFor(join(repo, `models/${name}-fmnist.onnx`), 'signed');
        const costs = layerCosts(q, design, placeModel(q, design), 100, 50);
        for (const l of costs) {
          // Every activation row streams once per weight tile, then drains through R + C - 1 stages.
          expect(l.cycles, `${name} ${l.layer}`).toBeGreaterThanOrEqual(l.streamCycles + R + C - 1);
          expect(l.peCycles).toBe(R * C * l.cycles);
          expect(l.utilization).toBeLessThanOrEqual(l.mappingEfficiency);
        }
        // LeNet-5 conv1 (K = 25, N = 6) fills 150 of R x C weight slots.
        if (name === 'lenet5') expect(costs[0]!.mappingEfficiency).toBeCloseTo(150 / (R * C), 12);
      }
    }
  });

  it('RTL at the 128 extremes (2x128, 128x2, clock-gated) is lint-clean; 128x128 generates', async () => {
    for (const [rows, cols] of [
      [2, 128],
      [128, 2],
    ] as const) {
      const v = generateViews(resolveDesign({ rows, cols, cell: 'exact_u8', clockGating: true }));
      const r = await lintVerilog(v.sim, 'axtpu_top');
      expect(r.warnings, `${rows}x${cols}:\n${r.log}`).toEqual([]);
      expect(r.ok).toBe(true);
    }
    const v = generateViews(resolveDesign({ ...PRESETS['tpu-v4'].config, cell: 'exact_u8', clockGating: true }));
    expect(v.layout.totalPe).toBe(128 * 128);
    expect(v.layout.colGateBits).toBe(8);
    expect(Object.keys(v.synth).filter((f) => /_col\d+\.sv$/.test(f))).toHaveLength(128);
  });
});
