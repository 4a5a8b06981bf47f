import type { Design } from '../generators/array/config.ts';
import { type LayerCost, layerCosts } from '../mapping/layer-cost.ts';
import type { Placement } from '../mapping/place.ts';
import { type CellStreams, DEFAULT_STREAM_PAIRS, sampleLayerStreams } from '../mapping/streams.ts';
import type { Dataset } from '../nn/dataset.ts';
import type { QuantModel } from '../nn/qmodel.ts';
import { type LayerEnergy, layerEnergy, type OpEnergies, opEnergies } from './energy.ts';
import { batchOperands } from './host.ts';

/**
 * The RTL run without RTL: mapping/layer-cost.ts's cycles and multiplies per cell (the same GEMM
 * decomposition as the RTL run) priced with the same per-op energies. `axtpu run` checks that this
 * equals the RTL run's measured cycles; exploration prices candidates by multiplier energy alone
 * (explore/energy.ts) and does not use it yet.
 */
export interface AnalyticalLayer extends LayerCost {
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
  return layerCosts(model, design, placement, images, batch).map((c, j) => {
    const out: AnalyticalLayer = { ...c };
    if (e) out.energy = layerEnergy(design, placement.layers[j]!, c, c.macsByCell, e, levels);
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
  o: { clockMHz?: number; liberty?: string; levels?: number[]; streamPairs?: number } = {},
): Promise<{ layers: AnalyticalLayer[]; ops: OpEnergies }> {
  const perImage = ds.channels * ds.height * ds.width;
  const setup = { model, table: placement.resolved.table, rowOffsets: placement.resolved.rowOffsets, pixels: ds.pixels, perImage };
  const streams: Record<string, CellStreams> = {};
  for (const { layer: l, g } of batchOperands(setup, 0, Math.min(batch, ds.count))) {
    const p = placement.layers.find((x) => x.layer === l.name)!;
    streams[l.name] = sampleLayerStreams(l, g, p.filterCells, design.tiles[p.tile]!.rows, o.streamPairs ?? DEFAULT_STREAM_PAIRS);
  }
  const ops = await opEnergies({ design, layers: placement.layers, streams, clockMHz: o.clockMHz, liberty: o.liberty });
  return { layers: analyticalRun(model, design, placement, ds.count, batch, ops, o.levels), ops };
}
