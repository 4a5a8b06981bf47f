import { join } from 'node:path';
import { explore, type GroupResult } from '../explore/run.ts';
import { verifyWinner, type WinnerRtl } from '../explore/winner.ts';
import { type Dataset, limitDataset } from '../nn/dataset.ts';
import { type CandidateRecord, cellSearchOptions, OBJECTIVE } from './candidate.ts';
import { cellSearchOf, type NasOptions } from './run.ts';
import { networkOf } from './space.ts';
import { trainProxy } from './train.ts';

/**
 * The search's winner as hardware (docs/nas.md, The winner as hardware): its architecture trained
 * again for `epochs` on `trainImages` (the proxy recipe otherwise; the validation hold-out stays
 * unseen), its cells chosen again by exploration on those final weights (the same cell search as
 * the candidates, on the whole validation hold-out), then the array realizing them generated and
 * the test split run through the RTL (explore/winner.ts), which must equal the engine.
 */
export interface FinalOptions {
  epochs: number;
  trainImages: number;
  testImages: number;
  rtl: boolean;
}

export interface FinalResult {
  label: string;
  onnx: string;
  train: { epochs: number; images: number; seconds: number; cached: boolean };
  exact: { cell: string; valAccuracy: number; testAccuracy: number; energyPj: number };
  winner: { layers: string[]; cells: string[]; valAccuracy: number; testAccuracy: number; energyPj: number; saving: number; feasible: boolean };
  rtl: WinnerRtl | null;
  rtlNote: string;
  seconds: number;
}

export async function finalWinner(rec: CandidateRecord, train: Dataset, o: NasOptions, f: FinalOptions): Promise<FinalResult> {
  const t0 = performance.now();
  const net = networkOf(rec.arch, o.space.input, o.space.classes);
  const proxy = await trainProxy(net, limitDataset(train, f.trainImages), { ...o.proxy, epochs: f.epochs }, `final ${rec.label}`);
  const r = await explore(cellSearchOptions({ ...o, cellSearch: cellSearchOf(o.search) }, proxy.onnx, join(o.out, 'final'), f.testImages));
  const g: GroupResult = r.groups[r.winnerGroup]!;
  let rtl: WinnerRtl | null = null;
  let rtlNote = '';
  if (!f.rtl) rtlNote = '--no-rtl';
  else if (g.winner.cells.every((c) => c === g.exact)) rtlNote = 'no approximate assignment fits the budget; the winner is the exact design';
  else rtl = await verifyWinner(g, { model: proxy.onnx, dataset: o.dataset, testImages: r.testImages });
  return {
    label: rec.label,
    onnx: proxy.onnx,
    train: { epochs: f.epochs, images: proxy.trainImages, seconds: proxy.seconds, cached: proxy.hit },
    exact: { cell: g.exact, valAccuracy: g.baseline.valAccuracy, testAccuracy: g.baseline.testAccuracy, energyPj: g.baseline.energies[OBJECTIVE] },
    winner: {
      layers: g.units.map((u) => u.name),
      cells: g.winner.cells,
      valAccuracy: g.winner.valAccuracy,
      testAccuracy: g.winner.testAccuracy ?? Number.NaN,
      energyPj: g.winner.energies[OBJECTIVE],
      saving: g.winner.savings[OBJECTIVE],
      feasible: g.winner.feasible,
    },
    rtl,
    rtlNote,
    seconds: (performance.now() - t0) / 1000,
  };
}
