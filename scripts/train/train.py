#!/usr/bin/env python3
"""Maintainer step (not part of setup or CI): train the shipped float models on Fashion-MNIST
with Debian's python3-torch and export them as ONNX (opset 13) into models/.

  /usr/bin/python3 scripts/train/train.py [lenet5|resnet8|mlp ...] [--epochs N]

Inputs are pixels / 255 in [0, 1] (no mean/std normalization), which is what the axtpu
engine feeds (nn/dataset.ts). Float test accuracy is written next to each model as
models/<name>.json and collected in models/README.md by hand.
"""
import gzip, json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = '/usr/share/datasets/fashion-mnist'
MODELS = os.path.join(ROOT, 'models')


def idx(path):
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    x = idx(f'{DATA}/{split}-images-idx3-ubyte.gz').astype(np.float32) / 255.0
    y = idx(f'{DATA}/{split}-labels-idx1-ubyte.gz').astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1 = nn.Linear(400, 120)
        self.f2 = nn.Linear(120, 84)
        self.f3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = torch.flatten(x, 1)
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


class Block(nn.Module):
    """ResNet basic block; 1x1 conv + BN shortcut when the shape changes (MAx-DNN ResNet-8)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (self.sc(x) if self.sc is not None else x))


class ResNet8(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.s1 = Block(16, 16, 1)
        self.s2 = Block(16, 32, 2)
        self.s3 = Block(32, 64, 2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.s3(self.s2(self.s1(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.f1 = nn.Linear(784, 256)
        self.f2 = nn.Linear(256, 128)
        self.f3 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.reshape(-1, 784)  # exported as an ONNX Reshape with a constant shape
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


SPECS = {
    'lenet5': (LeNet5, 'lenet5-fmnist', 6),
    'resnet8': (ResNet8, 'resnet8-fmnist', 4),
    'mlp': (MLP, 'mlp-fmnist', 6),
}


def accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def train(key, epochs=None):
    cls, name, default_epochs = SPECS[key]
    epochs = epochs or default_epochs
    torch.manual_seed(1)
    xtr, ytr = load('train')
    xte, yte = load('t10k')
    model = cls()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * (len(xtr) // 128))
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr) - 127, 128):
            idx_ = perm[i:i + 128]
            loss = F.cross_entropy(model(xtr[idx_]), ytr[idx_])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f'{name} epoch {ep + 1}/{epochs} loss {loss.item():.3f} test {accuracy(model, xte, yte):.4f} '
              f'({time.time() - t0:.0f} s)', flush=True)
    model.eval()
    acc = accuracy(model, xte, yte)
    path = os.path.join(MODELS, name + '.onnx')
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13, input_names=['input'],
                      output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
                      do_constant_folding=True)
    info = {'model': name + '.onnx', 'dataset': 'fashion-mnist', 'input': '[N,1,28,28] pixels/255',
            'floatTestAccuracy': acc, 'testImages': len(xte), 'epochs': epochs,
            'trainSeconds': round(time.time() - t0), 'torch': torch.__version__,
            'params': sum(p.numel() for p in model.parameters())}
    with open(os.path.join(MODELS, name + '.json'), 'w') as f:
        json.dump(info, f, indent=2)
        f.write('\n')
    print(json.dumps(info), flush=True)


if __name__ == '__main__':
    torch.set_num_threads(int(os.environ.get('TRAIN_THREADS', '2')))
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    ep = None
    if '--epochs' in sys.argv:
        ep = int(sys.argv[sys.argv.index('--epochs') + 1])
        args = [a for a in args if a != str(ep)]
    for key in args or list(SPECS):
        train(key, ep)
