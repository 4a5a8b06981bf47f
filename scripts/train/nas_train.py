#!/usr/bin/env python3
"""Proxy training of one architecture for `axtpu nas` (nas/train.ts); not run by hand.

  python3 nas_train.py <job dir>

The job dir holds what axtpu wrote: job.json {"net": {...}, "train": {...}, "images": N,
"shape": [C, H, W]} and train.bin (uint8 pixels of the N training images, then
their N labels; the images axtpu's dataset loader read, so every --dataset works). The script
builds the network job.json describes layer by layer (nas/space.ts `networkOf` decides every
size and name; this file only instantiates it), trains it (Adam, cosine schedule to 0, seeded, `threads` torch
threads) and writes model.onnx (opset 13) and result.json; `progress <done> <total> ...` lines
go to stdout.

Wiring (docs/nas.md, Architectures): ReLU after every conv; in a residual stage the output is
relu(first + rest(first)), where rest = the stage's later convs (ReLU between them, none after
the last before the add). Then flatten and the dense layers, ReLU between them. Module names
(from networkOf) become readable ONNX node names: /s1c1/Conv, /fc1/Gemm, /out/Gemm.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """The network nas/space.ts `networkOf` describes: convs per stage and the dense layers."""

    def __init__(self, net):
        super().__init__()
        self.stages = []
        for st in net['stages']:
            for cv in st['convs']:
                setattr(self, cv['name'], nn.Conv2d(cv['cin'], cv['cout'], cv['kernel'], cv['stride'], cv['pad']))
            self.stages.append(([cv['name'] for cv in st['convs']], st['residual']))
        self.dense = []
        for d in net['dense']:
            setattr(self, d['name'], nn.Linear(d['in'], d['out']))
            self.dense.append(d['name'])

    def forward(self, x):
        for names, residual in self.stages:
            x = F.relu(getattr(self, names[0])(x))
            y = x
            for i, name in enumerate(names[1:]):
                y = getattr(self, name)(y)
                if not (residual and i == len(names) - 2):
                    y = F.relu(y)
            x = F.relu(x + y) if residual else y
        x = torch.flatten(x, 1)
        for i, name in enumerate(self.dense):
            x = getattr(self, name)(x)
            if i < len(self.dense) - 1:
                x = F.relu(x)
        return x


def main(job):
    with open(os.path.join(job, 'job.json')) as f:
        spec = json.load(f)
    t = spec['train']
    torch.set_num_threads(t['threads'])
    torch.manual_seed(t['seed'])
    n, shape = spec['images'], spec['shape']
    raw = np.fromfile(os.path.join(job, 'train.bin'), dtype=np.uint8)
    per = shape[0] * shape[1] * shape[2]
    x = torch.from_numpy(raw[:n * per].astype(np.float32) / 255.0).view(n, *shape)
    y = torch.from_numpy(raw[n * per:n * per + n].astype(np.int64))
    model = Net(spec['net'])
    opt = torch.optim.Adam(model.parameters(), t['lr'])
    steps = (n + t['batch'] - 1) // t['batch']
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, t['epochs'] * steps))
    t0, c0 = time.time(), time.process_time()
    epochs = []
    for ep in range(t['epochs']):
        model.train()
        perm = torch.randperm(n)
        total, correct = 0.0, 0
        for s in range(steps):
            idx = perm[s * t['batch']:(s + 1) * t['batch']]
            out = model(x[idx])
            loss = F.cross_entropy(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += (out.argmax(1) == y[idx]).sum().item()
            print(f'progress {ep * steps + s + 1} {t["epochs"] * steps} epoch {ep + 1}', flush=True)
        epochs.append({'epoch': ep + 1, 'loss': total / n, 'trainAccuracy': correct / n, 'seconds': time.time() - t0})
    seconds, cpu = time.time() - t0, time.process_time() - c0
    model.eval()
    torch.onnx.export(model, torch.zeros(1, *shape), os.path.join(job, 'model.onnx'), opset_version=13,
                      input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, do_constant_folding=True)
    result = {'epochs': epochs, 'seconds': seconds, 'cpuSeconds': cpu, 'trainImages': n, 'torch': torch.__version__,
              'params': sum(p.numel() for p in model.parameters())}
    with open(os.path.join(job, 'result.json'), 'w') as f:
        json.dump(result, f)


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: nas_train.py <job dir>')
    main(sys.argv[1])
