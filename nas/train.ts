import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { cached } from '../core/cache.ts';
import { repoRoot } from '../core/paths.ts';
import { Progress } from '../core/progress.ts';
import { spawnTool, toolErrorFor } from '../core/runner.ts';
import { pythonPath, torchStatus } from '../core/tools.ts';
import type { Dataset } from '../nn/dataset.ts';
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

/** Images then labels, one file (the script splits them by the input shape). */
function imagesFile(ds: Dataset): Uint8Array {
  const out = new Uint8Array(ds.pixels.length + ds.count);
  out.set(ds.pixels);
  out.set(ds.labels.subarray(0, ds.count), ds.pixels.length);
  return out;
}

export async function trainProxy(net: Network, train: Dataset, o: ProxyOptions, label: string): Promise<ProxyResult> {
  const images = imagesFile(train);
  const inputs = {
    v: 1,
    net,
    train: o,
    images: createHash('sha256').update(images).digest('hex'),
    script: createHash('sha256').update(readFileSync(SCRIPT)).digest('hex'),
    torch: torchStatus().version ?? '',
  };
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
      await runScript(dir, label);
    } finally {
      rmSync(join(dir, 'train.bin'), { force: true });
    }
    if (!existsSync(join(dir, 'model.onnx'))) throw new Error(`nas: ${SCRIPT} ended without writing model.onnx`);
  });
  const r = JSON.parse(readFileSync(join(res.dir, 'result.json'), 'utf8')) as Omit<ProxyResult, 'onnx' | 'hit'>;
  return { ...r, onnx: join(res.dir, 'model.onnx'), hit: res.hit };
}

/** Run the script on a job folder; its `progress <done> <total> ...` lines drive a progress bar. */
async function runScript(job: string, label: string): Promise<void> {
  const run = { tool: pythonPath(), args: [SCRIPT, job], logFile: join(job, 'train.log') };
  const proc = spawnTool(run);
  (proc.stdin as Writable).end();
  let progress: Progress | undefined;
  let pending = '';
  (proc.stdout as Readable).on('data', (b: Buffer) => {
    pending += b.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^progress (\d+) (\d+) (.*)$/.exec(line);
      if (!m) continue;
      progress ??= new Progress(`train ${label}`, Number(m[2]));
      progress.tick(1, m[3]);
    }
  });
  const r = await proc;
  if (r.exitCode !== 0) throw toolErrorFor(run, r.exitCode === undefined ? `killed by ${r.signal ?? '?'}` : `exit code ${r.exitCode}`);
}
