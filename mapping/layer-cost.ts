import type { Design } from '../generators/array/config.ts';
import { convLayers, type QuantModel } from '../nn/qmodel.ts';
import { addCycles, emptyCycles, gemmCycles, type LayerCycles } from './cycles.ts';
import { foldPlan } from './gemm.ts';
import { addBufferCounts, type BufferCounts, emptyBufferCounts, gemmBufferCounts } from './memory.ts';
import { cellGrid, type LayerPlacement, type Placement } from './place.ts';

/**
 * Per-layer cost of a model on a design without running anything: the same GEMM decomposition
 * the RTL run uses (batches of `batch` images, M = images x output positions per GEMM), cycles
 * from the cycle model, multiplies per cell from the placement, buffer accesses from
 * mapping/memory.ts (summed over the layer's GEMMs). The RTL flow adds measured cycles and energy
 * on top; its "analytical path equals the RTL run" check compares against this.
 */
export interface LayerCost extends LayerCycles {
  layer: string;
  /** Useful multiplies per cell id over all images. */
  macsByCell: Record<string, number>;
  /** Every buffer access of the layer's GEMMs (gemmBufferCounts summed). */
  buffers: BufferCounts;
}

/** The run's batches: [first image, images] pairs covering `images` in steps of `batch`. */
export function batches(images: number, batch: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < images; s += batch) out.push([s, Math.min(batch, images - s)]);
  return out;
}

/**
 * Add the multiplies of `rows` output positions x K per filter to the cells of a cell grid
 * (mapping/place.ts cellGrid: filter f's K indices split evenly over cells[f]).
 */
export function addMacsByCell(into: Record<string, number>, cells: string[][], rows: number, K: number): void {
  for (const row of cells) for (const id of row) into[id] = (into[id] ?? 0) + (rows * K) / row.length;
}

/** Output positions (pixels) of a conv/dense layer per image. */
export function layerPositions(model: QuantModel, layer: { output: string }): number {
  const o = model.shapes[layer.output]!;
  return o.h * o.w;
}

export function layerCosts(model: QuantModel, design: Design, placement: Placement, images: number, batch: number): LayerCost[] {
  return convLayers(model).map((l, j) => {
    const p: LayerPlacement = placement.layers[j]!;
    const positions = layerPositions(model, l);
    const cycles = emptyCycles();
    const macsByCell: Record<string, number> = {};
    const buffers = emptyBufferCounts();
    for (const [, n] of batches(images, batch)) {
      addCycles(cycles, gemmCycles(design, p.tile, n * positions, l.K, l.oc));
      addMacsByCell(macsByCell, cellGrid(p), n * positions, l.K);
      addBufferCounts(buffers, gemmBufferCounts(foldPlan(design, p.tile, n * positions, l.K, l.oc)));
    }
    return { layer: l.name, ...cycles, macsByCell, buffers };
  });
}
