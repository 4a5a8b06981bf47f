#!/usr/bin/env python3
"""Maintainer step (not part of setup or CI): train the shipped float models on Fashion-MNIST
with Debian's python3-torch and export them as ONNX (opset 13) into models/.

  /usr/bin/python3 scripts/train/train.py [lenet5|resnet8|mlp ...] [--width W] [--epochs N] [--out DIR]

Inputs are pixels / 255 in [0, 1] (no mean/std normalization), which is what the axtpu
engine feeds (nn/dataset.ts). Float test accuracy is written next to each model as
models/<name>.json and collected in models/README.md by hand.

--width W (default 1) scales every channel count and hidden width by W (rounded half up, see
scaled()); the model is written as <name>-w<W>.onnx/.json (e.g. lenet5-fmnist-w0.5.onnx) with the
same layer names as the 1.0x model, and the 1.0x model's .json gets a "variants" manifest
{"<width>": "<file>"} listing every variant present (nn/variants.ts reads it). A family's
variants train with the recipe of its 1.0x model (RECIPES), so they compare fairly.
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


def scaled(n, width):
    """Channel count n at width `width`, rounded half up (6 x 0.75 = 4.5 -> 5), at least 1."""
    return max(1, int(n * width + 0.5))


class LeNet5(nn.Module):
    def __init__(self, width=1.0):
        super().__init__()
        c1, c2, h1, h2 = (scaled(n, width) for n in (6, 16, 120, 84))
        self.c1 = nn.Conv2d(1, c1, 5, padding=2)
        self.c2 = nn.Conv2d(c1, c2, 5)
        self.f1 = nn.Linear(c2 * 25, h1)
        self.f2 = nn.Linear(h1, h2)
        self.f3 = nn.Linear(h2, 10)

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
    def __init__(self, width=1.0):
        super().__init__()
        a, b, c = (scaled(n, width) for n in (16, 32, 64))
        self.stem = nn.Conv2d(1, a, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(a)
        self.s1 = Block(a, a, 1)
        self.s2 = Block(a, b, 2)
        self.s3 = Block(b, c, 2)
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.s3(self.s2(self.s1(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class MLP(nn.Module):
    def __init__(self, width=1.0):
        super().__init__()
        h1, h2 = scaled(256, width), scaled(128, width)
        self.f1 = nn.Linear(784, h1)
        self.f2 = nn.Linear(h1, h2)
        self.f3 = nn.Linear(h2, 10)

    def forward(self, x):
        x = x.reshape(-1, 784)  # exported as an ONNX Reshape with a constant shape
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


SPECS = {
    'lenet5': (LeNet5, 'lenet5-fmnist'),
    'resnet8': (ResNet8, 'resnet8-fmnist'),
    'mlp': (MLP, 'mlp-fmnist'),
}

# Per family: epochs and Adam learning rate (cosine schedule to 0, batch 128, seed 1). Every
# width of a family uses its family's recipe.
RECIPES = {
    'lenet5': {'epochs': 10, 'lr': 2e-3},
    'resnet8': {'epochs': 4, 'lr': 1e-3},
    'mlp': {'epochs': 6, 'lr': 1e-3},
}


def width_tag(width):
    """'0.5' for 0.5, '1' for 1.0: the width as the file names and the manifest spell it."""
    return f'{width:g}'


def file_stem(name, width):
    return name if width == 1 else f'{name}-w{width_tag(width)}'


def macs(model):
    """Multiply-accumulates per image of the conv and linear layers (what axtpu eval counts)."""
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            total[0] += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            total[0] += mod.in_features * mod.out_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for h in hs:
        h.remove()
    return total[0]


def update_manifest(out, name):
    """The 1.0x model's .json lists every width variant of its family present in `out`."""
    base = os.path.join(out, name + '.json')
    if not os.path.exists(base):
        return
    variants = {'1': name + '.onnx'}
    prefix = name + '-w'
    for f in sorted(os.listdir(out)):
        if f.startswith(prefix) and f.endswith('.onnx') and os.path.exists(os.path.join(out, f[:-5] + '.json')):
            with open(os.path.join(out, f[:-5] + '.json')) as j:
                variants[width_tag(json.load(j)['width'])] = f
    with open(base) as f:
        info = json.load(f)
    if len(variants) > 1:
        info['variants'] = dict(sorted(variants.items(), key=lambda kv: -float(kv[0])))  # widest first
    else:
        info.pop('variants', None)
    with open(base, 'w') as f:
        json.dump(info, f, indent=2)
        f.write('\n')


def accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def train(key, epochs=None, width=1.0, out=MODELS):
    cls, name = SPECS[key]
    recipe = RECIPES[key]
    epochs = epochs or recipe['epochs']
    torch.manual_seed(1)
    xtr, ytr = load('train')
    xte, yte = load('t10k')
    model = cls(width)
    stem = file_stem(name, width)
    opt = torch.optim.Adam(model.parameters(), recipe['lr'])
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
        print(f'{stem} epoch {ep + 1}/{epochs} loss {loss.item():.3f} test {accuracy(model, xte, yte):.4f} '
              f'({time.time() - t0:.0f} s)', flush=True)
    model.eval()
    acc = accuracy(model, xte, yte)
    seconds = round(time.time() - t0)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, stem + '.onnx')
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13, input_names=['input'],
                      output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
                      do_constant_folding=True)
    info = {'model': stem + '.onnx', 'dataset': 'fashion-mnist', 'input': '[N,1,28,28] pixels/255',
            'floatTestAccuracy': acc, 'testImages': len(xte), 'width': width, 'epochs': epochs,
            'lr': recipe['lr'], 'trainSeconds': seconds, 'threads': torch.get_num_threads(),
            'torch': torch.__version__, 'params': sum(p.numel() for p in model.parameters()),
            'macsPerImage': macs(model)}
    if width != 1:
        info['family'] = name + '.onnx'
    jpath = os.path.join(out, stem + '.json')
    if width == 1 and os.path.exists(jpath):
        with open(jpath) as f:
            old = json.load(f)
        if 'variants' in old:
            info['variants'] = old['variants']
    with open(jpath, 'w') as f:
        json.dump(info, f, indent=2)
        f.write('\n')
    update_manifest(out, name)
    print(json.dumps(info), flush=True)


if __name__ == '__main__':
    torch.set_num_threads(int(os.environ.get('TRAIN_THREADS', '2')))
    argv, opts = sys.argv[1:], {}
    for flag in ('--epochs', '--width', '--out'):
        if flag in argv:
            i = argv.index(flag)
            opts[flag] = argv[i + 1]
            del argv[i:i + 2]
    ep = int(opts['--epochs']) if '--epochs' in opts else None
    width = float(opts.get('--width', '1'))
    if not 0 < width <= 1:
        sys.exit(f'--width must be in (0, 1], got {width}')
    for key in argv or list(SPECS):
        train(key, ep, width, opts.get('--out', MODELS))
