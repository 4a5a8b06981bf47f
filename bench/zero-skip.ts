/**
 * Zero skipping (run: node --import tsx bench/zero-skip.ts [images] [cells] [layers]): LeNet-5 on a
 * 16x16 array, one layer at a time pruned to 50 % (default /c2/Conv, then /f1/Gemm), per cell (default exact_s8, booth_s8,
 * roup_p1_r4_s8) four `axtpu run` flows (RTL in the loop, the flow's gate-level energy):
 * unpruned / pruned x plain PEs / zero-skipping PEs. Per run: the layer's pJ per inference
 * (cells, rest of PE, logic leakage), accumulator words and predictions differing from the engine.
 * Per cell also the cell's energy per multiply on the pruned layer's own PE stream (the flow's
 * sample) split into runs with a non-zero and with a zero stationary weight, the zero runs once as
 * the plain PE's multiplier sees them and once isolated, and the PE's area both ways (Yosys,
 * osu018). Writes bench/results/zero-skip.json.
 */
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../core/atomic.ts';
import { defaultLiberty, repoRoot } from '../core/paths.ts';
import { peSources } from '../flow/energy.ts';
import { runFlow } from '../flow/run.ts';
import { generateViews, resolveDesign } from '../generators/array/index.ts';
import { cellGrid, placeModel } from '../mapping/place.ts';
import { DEFAULT_STREAM_PAIRS, isolatedStream, type PeStream, sampleLayerStreams } from '../mapping/streams.ts';
import { captureOperands } from '../nn/capture.ts';
import { limitDataset, loadDataset } from '../nn/dataset.ts';
import { loadQuantModelFor } from '../nn/load.ts';
import { pruneModel } from '../nn/prune.ts';
import { convLayers } from '../nn/qmodel.ts';
import { cellStreamEnergy } from '../synth/cell-energy.ts';
import { synthesize } from '../synth/yosys.ts';

const images = Number(process.argv[2] ?? 300);
const cells = (process.argv[3] ?? 'exact_s8,booth_s8,roup_p1_r4_s8').split(',');
const layers = (process.argv[4] ?? '/c2/Conv,/f1/Gemm').split(',');
const batch = 100;
const model = join(repoRoot, 'models/lenet5-fmnist.onnx');
const liberty = resolve(defaultLiberty());
const out: Record<string, unknown> = { date: new Date().toISOString(), images, batch, layers, sparsity: 0.5, array: '16x16', runs: [], streams: [] };

const { model: q } = await loadQuantModelFor(model, 'signed');
const first = limitDataset(loadDataset('fmnist', 'test'), batch);

/** The runs of a stream (RUN_LENGTH pairs each, one weight) whose weight is zero / non-zero. */
function split(s: PeStream, zero: boolean): PeStream {
  const keep = Array.from(s.b, (b) => (b === 0) === zero);
  const pick = <T extends Uint8Array | Float64Array>(x: T): T => x.filter((_, i) => keep[i]) as T;
  return { a: pick(s.a), b: pick(s.b), psumIn: pick(s.psumIn) };
}

for (const layer of layers) {
  const prune = { [layer]: 0.5 };
  const pruned = pruneModel(q, prune).model;
  for (const cell of cells) {
    for (const sparse of [false, true])
      for (const zeroSkip of [false, true]) {
        const design = { rows: 16, cols: 16, cell, ...(zeroSkip ? { zeroSkip } : {}) };
        const t0 = performance.now();
        const r = await runFlow({ model, design, limit: images, batch, activity: 'off', write: false, ...(sparse ? { prune } : {}) });
        const l = r.layers.find((x) => x.layer === layer)!;
        const e = l.energy!;
        const n = r.images;
        const row = {
          layer,
          cell,
          pruned: sparse,
          zeroSkip,
          accuracy: r.accuracy,
          engineAccuracy: r.engineAccuracy,
          layerMismatches: r.layerMismatches,
          predMismatches: r.predMismatches,
          cyclesMatchModel: r.cyclesMatchModel,
          layerPjPerInference: { cells: e.cellPj / n, restOfPe: e.pePj / n, logicLeakage: e.leakagePj / n, sum: (e.cellPj + e.pePj + e.leakagePj) / n },
          perOp: { cellDynamic: r.energy!.ops.cell[layer]![cell]!.dynamic, peActive: r.energy!.ops.pe[layer]!.active, peIdle: r.energy!.ops.pe[layer]!.idle },
          seconds: (performance.now() - t0) / 1000,
          load: loadavg()[0],
        };
        (out.runs as unknown[]).push(row);
        console.log(JSON.stringify(row));
      }
    // The pruned layer's PE stream as the flow samples it (first batch, 16 rows), split by weight.
    const design = resolveDesign({ rows: 16, cols: 16, cell });
    const p = placeModel(pruned, design).layers.find((x) => x.layer === layer)!;
    const g = captureOperands({ model: pruned }, first.pixels, first.count).find((x) => x.layer.name === layer)!.g;
    const s = sampleLayerStreams(convLayers(pruned).find((x) => x.name === layer)!, g, cellGrid(p), 16, DEFAULT_STREAM_PAIRS)[cell]!;
    const zeroRuns = split(s, true);
    const opts = { vdd: design.levels[0]!.volts, clockMHz: 100, liberty };
    const area: Record<string, number> = {};
    for (const zeroSkip of [false, true]) {
      const d = resolveDesign({ rows: 16, cols: 16, cell, zeroSkip });
      const src = peSources(d, generateViews(d), 0, 0, cell)!;
      area[zeroSkip ? 'zeroSkip' : 'plain'] = (await synthesize({ top: src.module, sources: src.sources, liberty })).areaUm2;
    }
    const row = {
      layer,
      cell,
      pairs: s.a.length,
      zeroWeightShare: zeroRuns.a.length / s.a.length,
      cellPjPerOp: {
        nonZeroWeight: (await cellStreamEnergy(cell, split(s, false), opts)).dynamic,
        zeroWeightPlain: (await cellStreamEnergy(cell, zeroRuns, opts)).dynamic,
        zeroWeightIsolated: (await cellStreamEnergy(cell, isolatedStream(zeroRuns), opts)).dynamic,
      },
      peAreaUm2: area,
    };
    (out.streams as unknown[]).push(row);
    console.log(JSON.stringify(row));
  }
}
writeFileAtomic(join(repoRoot, 'bench/results/zero-skip.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log('wrote bench/results/zero-skip.json');
