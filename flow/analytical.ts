import type { Design } from '../generators/array/config.ts';
import type { Dataset } from '../nn/dataset.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import { type LayerEnergy, layerEnergy, type OpEnergies, opEnergies } from './energy.ts';
import { batchOperands } from './host.ts';
import type { Placement } from './placement.ts';
import { type CellStreams, DEFAULT_STREAM_PAIRS, sampleLayerStreams } from './streams.ts';
import { addTiming, emptyTiming, gemmTiming, type LayerTiming } from './timing.ts';

/**
 * The fast path exploration uses: the same GEMM decomposition as the RTL run (batches of
 * `batch` images, M = images x output positions), cycles from `cycleModel`, MACs per cell from
 * the placement, energy from the same per-op numbers. No RTL, no data.
 */
export interface AnalyticalLayer extends LayerTiming {
  layer: string;
  macsByCell: Record<string, number>;
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
  return convLayers(model).map((l) => {
    const p = placement.layers.find((x) => x.layer === l.name)!;
    const positions = model.shapes[l.output]!.h * model.shapes[l.output]!.w;
    const t = emptyTiming();
    for (let s = 0; s < images; s += batch) addTiming(t, gemmTiming(design, p.tile, Math.min(batch, images - s) * positions, l.K, l.oc));
    const macsByCell: Record<string, number> = {};
    for (const id of p.filterCells) macsByCell[id] = (macsByCell[id] ?? 0) + images * positions * l.K;
    const out: AnalyticalLayer = { layer: l.name, ...t, macsByCell };
    if (e) out.energy = layerEnergy(design, p, t, macsByCell, e, levels);
    return out;
  });
}

/**
 * Exploration entry point, no RTL at all: the software engine's operands of the first batch give
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
