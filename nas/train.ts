import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cached } from '../core/cache.ts';
import { repoRoot } from '../core/paths.ts';
import { torchStatus } from '../core/tools.ts';
import type { Dataset } from '../nn/dataset.ts';
import { runTorchScript } from '../nn/finetune.ts';
import { imagesFile } from '../nn/finetune-plan.ts';
import type { Network } from './space.ts';

/**
 * Proxy training of one candidate network by PyTorch (scripts/train/nas_train.py), cached by
 * content hash of (network, training options, training images, script source, torch version):
 * a resumed or repeated search never retrains a network it has trained.
 */
export interface ProxyOptions {
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  threads: number;
}

export interface ProxyResult {
  /** The trained float model (inside the cache entry). */
  onnx: string;
  /** True when the cache already held it (no training ran). */
  hit: boolean;
  epochs: { epoch: number; loss: number; trainAccuracy: number; seconds: number }[];
  /** Training wall and CPU seconds (when it was trained, also on a hit). */
  seconds: number;
  cpuSeconds: number;
  trainImages: number;
  params: number;
  torch: string;
}

export const SCRIPT = join(repoRoot, 'scripts', 'train', 'nas_train.py');

/** What trains a proxy besides its inputs: the script's source and the torch version (cache and journal keys). */
export function trainerIdentity(): { script: string; torch: string } {
  return { script: createHash('sha256').update(readFileSync(SCRIPT)).digest('hex'), torch: torchStatus().version ?? '' };
}

export async function trainProxy(net: Network, train: Dataset, o: ProxyOptions, label: string): Promise<ProxyResult> {
  const images = imagesFile(train);
  const inputs = { v: 1, net, train: o, images: createHash('sha256').update(images).digest('hex'), ...trainerIdentity() };
  const res = await cached({ kind: 'nas-proxy', inputs }, async (dir) => {
    const job = {
      net,
      train: o,
      images: train.count,
      shape: [train.channels, train.height, train.width],
    };
    writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
    writeFileSync(join(dir, 'train.bin'), images);
    try {
      await runTorchScript(SCRIPT, dir, `train ${label}`);
    } finally {
      rmSync(join(dir, 'train.bin'), { force: true });
    }
    if (!existsSync(join(dir, 'model.onnx'))) throw new Error(`nas: ${SCRIPT} ended without writing model.onnx`);
  });
  const r = JSON.parse(readFileSync(join(res.dir, 'result.json'), 'utf8')) as Omit<ProxyResult, 'onnx' | 'hit'>;
  return { ...r, onnx: join(res.dir, 'model.onnx'), hit: res.hit };
}
