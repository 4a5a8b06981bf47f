import type { Design } from '../generators/array/config.ts';
import { type LayerDram, layerDramTraffic } from '../mapping/dram.ts';
import { type LayerCost, layerCosts } from '../mapping/layer-cost.ts';
import type { Placement } from '../mapping/place.ts';
import type { CellStreams } from '../mapping/streams.ts';
import { tapLayers } from '../nn/capture.ts';
import type { CvConfig } from '../nn/cv.ts';
import type { Dataset } from '../nn/dataset.ts';
import type { QuantModel } from '../nn/qmodel.ts';
import { type AccRows, type LayerEnergy, layerEnergy, layerEnergySample, type OpEnergies, opEnergies } from './energy.ts';

/**
 * The RTL run without RTL: mapping/layer-cost.ts's cycles and multiplies per cell (the same GEMM
 * decomposition as the RTL run) priced with the same per-op energies. `axtpu run` checks that this
 * equals the RTL run's measured cycles; exploration prices the exact design with it to get the
 * array and accelerator parts of its objectives (explore/energy.ts).
 */
export interface AnalyticalLayer extends LayerCost {
  dram: LayerDram;
  energy?: LayerEnergy;
}

export function analyticalRun(
  model: QuantModel,
  design: Design,
  placement: Placement,
  images: number,
  batch: number,
  e?: OpEnergies,
  levels: number[] = [],
): AnalyticalLayer[] {
  const costs = layerCosts(model, design, placement, images, batch);
  const dram = layerDramTraffic(model, design, costs, images, batch);
  return costs.map((c, j) => {
    const out: AnalyticalLayer = { ...c, dram: dram[j]! };
    if (e) out.energy = layerEnergy(design, placement.layers[j]!, c, c.macsByCell, e, { buffers: c.buffers, dramBytes: dram[j]!.totalBytes }, levels);
    return out;
  });
}

/**
 * Energy of a design on a model with no RTL at all: the software engine's operands of the first batch give
 * the per-(layer, cell) streams (the same sampler and the same batch the RTL run uses, so the
 * per-op energies are the same cached numbers), then `analyticalRun`.
 */
export async function analyticalEstimate(
  model: QuantModel,
  design: Design,
  placement: Placement,
  ds: Dataset,
  batch: number,
  o: {
    clockMHz?: number;
    liberty?: string;
    levels?: number[];
    streamPairs?: number;
    memoryModel?: string;
    /** Control-variate coefficients: applied by the engine and priced in the correction stage. */
    cv?: CvConfig;
    /** false: price the correction stage with `cv` but run the engine without it (explore's overhead estimate). */
    applyCv?: boolean;
  } = {},
): Promise<{ layers: AnalyticalLayer[]; ops: OpEnergies }> {
  const perImage = ds.channels * ds.height * ds.width;
  const engine = { model, table: placement.resolved.table, rowOffsets: placement.resolved.rowOffsets, cv: o.applyCv === false ? undefined : o.cv };
  const n = Math.min(batch, ds.count);
  const streams: Record<string, CellStreams> = {};
  const accRows: Record<string, AccRows> = {};
  // The engine's accumulators equal the array's (the RTL run checks it word for word).
  tapLayers(engine, ds.pixels.subarray(0, n * perImage), n, (l, g, acc) => {
    const e = layerEnergySample(design, placement.layers.find((x) => x.layer === l.name)!, l, g, acc, o.streamPairs);
    streams[l.name] = e.streams;
    accRows[l.name] = e.accRows;
  });
  const ops = await opEnergies({
    design,
    layers: placement.layers,
    streams,
    accRows,
    cv: o.cv,
    clockMHz: o.clockMHz,
    liberty: o.liberty,
    memoryModel: o.memoryModel,
  });
  return { layers: analyticalRun(model, design, placement, ds.count, batch, ops, o.levels), ops };
}
