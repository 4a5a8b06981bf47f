#!/usr/bin/env python3
"""Approximation-aware fine-tuning, driven by `axtpu finetune` (nn/finetune.ts); not run by hand.

  python3 finetune.py <job dir>

The job dir holds what axtpu wrote (nn/finetune-plan.ts): plan.json (the network, the tensors'
activation quantization, the run's options), weights.bin (float32 conv/dense weights and biases,
BatchNorm already folded), bank.bin (the cells' product tables, the engine's transposed layout
T[c][w][a], int32), cells.bin (per conv/dense layer and (oc, k): the cell index, uint8),
train.bin / check.bin (uint8 pixels then labels). It writes model.onnx (the fine-tuned float
model), check-scores.bin (float64 scores of the exact forward on the check images, before any
training: axtpu compares them with its engine) and result.json; progress lines go to stdout.

Forward pass = the engine's integer semantics (nn/engine.ts, nn/gemm.ts, nn/fixedpoint.ts,
nn/quantize.ts for the weights), per layer:
  weights: int8 symmetric per output channel from the CURRENT float weights (as axtpu quantize),
  acc = sum_k (a - za)(w - zw)  [exact, float64 GEMM of integers]  + bias_q
        + sum_k E[a_code, w_code]  [cell error = LUT product - exact product, gathered per k]
  out = clamp(zo + MultiplyByQuantizedMultiplier(acc, M, shift)), ReLU clamp at zo.
Activation scales and zero points stay those axtpu calibrated (plan.json). Gradients: straight-
through: each layer's output carries the exact integer result as its value and the gradient of
the float layer (fake-quantized weights, clamped to the output's range).
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
# Per chunk of images: unfolded activations (float32) and bag indices (int64) of at most this many
# elements each (32 / 64 MB). AXTPU_FINETUNE_CHUNK lowers it (the test makes small models chunk).
CHUNK_ELEMENTS = int(os.environ.get('AXTPU_FINETUNE_CHUNK', 1 << 23))


def js_round(x):
    """JavaScript Math.round (half up) on a float64 tensor."""
    return torch.floor(x + 0.5)


# ---- fixed point (nn/fixedpoint.ts, TFLite) on int64 tensors --------------------------------

def quantize_multiplier(real):
    """QuantizeMultiplier per element of a float64 tensor -> (multiplier, shift) int64 tensors."""
    q, e = torch.frexp(real)
    m = torch.floor(q * 2.0 ** 31 + 0.5).to(torch.int64)
    e = e.to(torch.int64)
    top = m == (1 << 31)
    m = torch.where(top, m // 2, m)
    e = torch.where(top, e + 1, e)
    if bool((e > 30).any()):
        raise SystemExit('requantization multiplier too large')
    zero = (real == 0) | (e < -31)
    return torch.where(zero, torch.zeros_like(m), m), torch.where(zero, torch.zeros_like(e), e)


def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul(a, b), b >= 0 (a multiplier)."""
    p = a * b
    nudge = torch.where(p >= 0, torch.full_like(p, 1 << 30), torch.full_like(p, 1 - (1 << 30)))
    return torch.div(p + nudge, 1 << 31, rounding_mode='trunc')


def rounding_divide_by_pot(x, e):
    mask = (torch.ones_like(e) << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0).to(torch.int64)
    return (x >> e) + (rem > thr).to(torch.int64)


def mbqm(x, m, shift):
    """MultiplyByQuantizedMultiplier on int64 x with per-element (broadcast) m, shift."""
    left = torch.clamp(shift, min=0)
    right = torch.clamp(-shift, min=0)
    xs = torch.where(left > 0, torch.clamp(x * (torch.ones_like(left) << left), INT32_MIN, INT32_MAX), x)
    return rounding_divide_by_pot(srdhm(xs, m), right)


def round_div(num, den):
    """nn/engine.ts roundDiv: half away from zero."""
    half = den // 2
    return torch.where(num >= 0, torch.div(num + half, den, rounding_mode='trunc'),
                       torch.div(num - half, den, rounding_mode='trunc'))


# ---- the network ----------------------------------------------------------------------------

class Net:
    def __init__(self, job):
        self.job = job
        with open(os.path.join(job, 'plan.json')) as f:
            self.plan = json.load(f)
        p = self.plan
        self.signed = p['scheme'] == 'signed'
        self.qmin, self.qmax = (-128, 127) if self.signed else (0, 255)
        self.tensors = p['tensors']
        blob = np.fromfile(os.path.join(job, 'weights.bin'), dtype='<f4')
        cells = np.fromfile(os.path.join(job, 'cells.bin'), dtype=np.uint8)
        bank = torch.from_numpy(np.fromfile(os.path.join(job, 'bank.bin'), dtype='<i4').astype(np.int32))
        n_cells = len(p['cells'])
        # Error bank E[c][w][a] = product - exact product of the VALUES the codes stand for.
        codes = torch.arange(256, dtype=torch.int32)
        vals = ((codes << 24) >> 24) if self.signed else codes
        exact = vals.view(256, 1) * vals.view(1, 256)  # [w][a]
        err = bank.view(n_cells, 256, 256) - exact.view(1, 256, 256)
        cell_exact = [(err[c] == 0).all().item() for c in range(n_cells)]
        # err_rows[c * 256 + w][a]; and [a][c * 256 + w] (activation code first, so a layer's bag
        # table is one column gather) split into 2^6 * hi + lo parts, as float32.
        self.err_rows = err.reshape(n_cells * 256, 256).contiguous()
        et = err.permute(2, 0, 1).reshape(256, n_cells * 256)
        self.err_hi = torch.div(et, 64, rounding_mode='floor').to(torch.float32).contiguous()
        self.err_lo = torch.remainder(et, 64).to(torch.float32).contiguous()
        self.params = []
        for l in p['layers']:
            if l['op'] != 'conv':
                continue
            K = l['ic'] * l['kh'] * l['kw']
            w = torch.from_numpy(blob[l['weight']:l['weight'] + l['oc'] * K].copy()).view(l['oc'], l['ic'], l['kh'], l['kw'])
            b = torch.from_numpy(blob[l['bias']:l['bias'] + l['oc']].copy())
            l['w'] = w.requires_grad_(True)
            l['b'] = b.requires_grad_(True)
            l['K'] = K
            cidx = torch.from_numpy(cells[l['cells']:l['cells'] + l['oc'] * K].astype(np.int64)).view(l['oc'], K)
            l['cellRow'] = cidx * 256
            l['kRange'] = torch.arange(K, dtype=torch.float32).view(1, K, 1)
            used = set(cidx.flatten().tolist())
            l['approx'] = not all(cell_exact[c] for c in used)
            if K >= 4096:
                raise SystemExit(f"layer {l['name']}: K = {K}; the exact float32 sums need K < 4096")
            self.params += [l['w'], l['b']]

    def q(self, name):
        t = self.tensors[name]
        return t['scale'], t['zeroPoint']

    def real(self, v, name):
        s, z = self.q(name)
        return ((v - z).to(torch.float64) * s).to(torch.float32)

    def quantize_input(self, pixels):
        """nn/engine.ts quantizeInput: one lookup per pixel value."""
        s, z = self.q(self.plan['input'])
        p = torch.arange(256, dtype=torch.float64)
        lut = torch.clamp(js_round(p / 255 / s) + z, self.qmin, self.qmax).to(torch.int64)
        return lut[pixels.to(torch.int64)]

    def products(self, l, v_in, za, wq, rows):
        """sum_k CELL(a, w) - (zero-point terms) = sum_k (a - za)(w - zw) + E[a_code, w_code], int64 B x oc x P."""
        oc, K = l['oc'], l['K']
        stride, pads = tuple(l['stride']), (l['pads'][0], l['pads'][1])
        B = v_in.shape[0]
        # Activation values minus the zero point, |x| <= 255: exact in float32 (pads = 0 = za).
        cols = F.unfold((v_in - za).to(torch.float32), (l['kh'], l['kw']), padding=pads, stride=stride)  # B x K x P
        P = cols.shape[2]
        # Exact integer GEMM in float32: weights split as 16 * hi + lo (|hi| <= 8, 0 <= lo < 16)
        # keep every partial sum below 2^24 for K < 4096 (checked in __init__).
        whi = torch.div(wq, 16, rounding_mode='floor')
        acc = torch.matmul(whi.to(torch.float32).view(1, oc, K), cols).round().to(torch.int64) * 16
        acc += torch.matmul((wq - 16 * whi).to(torch.float32).view(1, oc, K), cols).round().to(torch.int64)
        if not l['approx']:
            return acc
        # Cell errors E[a, w] summed over k for every output. Raw activation codes: pads are za,
        # signed values wrap to two's complement.
        codes = cols + za if not self.signed else torch.remainder(cols, 256)  # B x K x P
        if B * P < 256:
            # Few outputs (dense layers): one (oc x 256) table per k, gathered and summed in int32.
            idx = codes.permute(1, 0, 2).reshape(K, B * P).to(torch.int64)
            e = torch.zeros(oc, B * P, dtype=torch.int32)
            for k in range(K):
                e += self.err_rows.index_select(0, rows[:, k]).index_select(1, idx[k])
            return acc + e.view(oc, B, P).permute(1, 0, 2).to(torch.int64)
        # table[a * K + k][oc] = E[a, w[oc][k]]: a float32 embedding_bag sums each output's K
        # errors. Split as 64 * hi + lo (|hi| < 2^11, 0 <= lo < 64 for 16-bit products), every
        # partial sum stays below 2^24 for K < 4096: exact.
        ridx = rows.t().reshape(-1)
        idx = torch.empty(B, P, K, dtype=torch.int64)
        idx.copy_(torch.add(l['kRange'], codes, alpha=K).permute(0, 2, 1))
        idx = idx.view(B * P, K)
        bag = lambda t: F.embedding_bag(idx, t.index_select(1, ridx).view(256 * K, oc), mode='sum')
        e = bag(self.err_hi).round().to(torch.int64) * 64 + bag(self.err_lo).round().to(torch.int64)
        return acc + e.view(B, P, oc).permute(0, 2, 1)

    def conv(self, l, v_in, r_in, is_out):
        sa, za = self.q(l['input'])
        so, zo = self.q(l['output'])
        w = l['w']
        oc, K = l['oc'], l['K']
        wd = w.detach().to(torch.float64).view(oc, K)
        m = wd.abs().max(1).values
        sw = torch.where(m > 0, m / 127, torch.ones_like(m))
        wq = torch.clamp(js_round(wd / sw.view(oc, 1)), -127, 127)  # value - zero point
        zw = 0 if self.signed else 128
        bias_q = torch.clamp(js_round(l['b'].detach().to(torch.float64) / (sa * sw)), INT32_MIN, INT32_MAX).to(torch.int64)
        stride, pads = tuple(l['stride']), (l['pads'][0], l['pads'][1])
        B = v_in.shape[0]
        with torch.no_grad():
            # Whole images per chunk, so the unfolded activations and the bag indices hold at most
            # CHUNK_ELEMENTS elements (one image if one alone is larger): bounded memory at any batch.
            oh, ow = self.plan['shapes'][l['output']]['h'], self.plan['shapes'][l['output']]['w']
            step = max(1, CHUNK_ELEMENTS // (K * oh * ow))
            rows = l['cellRow'] + ((wq.to(torch.int64) + zw) & 0xff)  # oc x K bank rows
            acc = torch.cat([self.products(l, v_in[b:b + step], za, wq, rows) for b in range(0, B, step)])
            acc += bias_q.view(1, oc, 1)
            acc = acc.view(B, oc, oh, ow)
            if is_out:
                scores = acc.to(torch.float64) * (sa * sw).view(1, oc, 1, 1)
                v_out = None
            else:
                mult, shift = quantize_multiplier((sa * sw) / so)
                y = zo + mbqm(acc, mult.view(1, oc, 1, 1), shift.view(1, oc, 1, 1))
                lo = max(self.qmin, zo) if l['relu'] else self.qmin
                v_out = torch.clamp(y, lo, self.qmax)
        # Straight-through: the float layer with fake-quantized weights carries the gradient.
        w_fq = w + ((wq * sw.view(oc, 1)).view_as(w).to(torch.float32) - w).detach()
        sur = F.conv2d(r_in, w_fq, l['b'], stride=stride, padding=pads)
        if is_out:
            return None, sur + (scores.to(torch.float32) - sur).detach(), scores
        lo = max(self.qmin, zo) if l['relu'] else self.qmin
        sur = torch.clamp(sur, so * (lo - zo), so * (self.qmax - zo))
        return v_out, sur + (self.real(v_out, l['output']) - sur).detach(), None

    def pool(self, l, v_in, r_in):
        _, z = self.q(l['input'])
        k, stride, pads = (l['kh'], l['kw']), tuple(l['stride']), (l['pads'][0], l['pads'][1])
        with torch.no_grad():
            if l['op'] == 'maxpool':
                y = F.max_pool2d(v_in.to(torch.float64), k, stride, pads).to(torch.int64)
            else:
                num = F.avg_pool2d((v_in - z).to(torch.float64), k, stride, pads, count_include_pad=True, divisor_override=1)
                den = F.avg_pool2d(torch.ones_like(v_in[:1, :1], dtype=torch.float64), k, stride, pads, count_include_pad=False, divisor_override=1)
                y = z + round_div(num.round().to(torch.int64), den.round().to(torch.int64))
            if l['relu']:
                y = torch.clamp(y, min=z)
        sur = F.max_pool2d(r_in, k, stride, pads) if l['op'] == 'maxpool' else F.avg_pool2d(r_in, k, stride, pads, count_include_pad=False)
        if l['relu']:
            sur = F.relu(sur)
        return y, sur + (self.real(y, l['output']) - sur).detach()

    def add(self, l, va, ra, vb, rb):
        z0 = self.q(l['inputs'][0])[1]
        z1 = self.q(l['inputs'][1])[1]
        so, zo = self.q(l['output'])
        f = 1 << l['leftShift']
        t = lambda fm: (torch.tensor(fm['multiplier'], dtype=torch.int64), torch.tensor(fm['shift'], dtype=torch.int64))
        with torch.no_grad():
            t0 = mbqm((va - z0) * f, *t(l['in0']))
            t1 = mbqm((vb - z1) * f, *t(l['in1']))
            y = zo + mbqm(t0 + t1, *t(l['out']))
            lo = max(self.qmin, zo) if l['relu'] else self.qmin
            y = torch.clamp(y, lo, self.qmax)
        sur = ra + rb
        sur = torch.clamp(sur, so * (lo - zo), so * (self.qmax - zo))
        return y, sur + (self.real(y, l['output']) - sur).detach()

    def forward(self, pixels):
        """pixels: B x C x H x W uint8. Returns (training logits with STE, exact scores float64)."""
        p = self.plan
        v = self.quantize_input(pixels)
        vals = {p['input']: (v, self.real(v, p['input']))}
        scores = None
        logits = None
        for l in p['layers']:
            op = l['op']
            if op == 'conv':
                vi, ri = vals[l['input']]
                is_out = l['output'] == p['output']
                vo, ro, sc = self.conv(l, vi, ri, is_out)
                if is_out:
                    logits, scores = ro, sc
                vals[l['output']] = (vo, ro)
            elif op in ('maxpool', 'avgpool'):
                vals[l['output']] = self.pool(l, *vals[l['input']])
            elif op == 'add':
                vals[l['output']] = self.add(l, *vals[l['inputs'][0]], *vals[l['inputs'][1]])
            elif op == 'relu':
                vi, ri = vals[l['input']]
                _, z = self.q(l['input'])
                y = torch.clamp(vi, min=z)
                sur = F.relu(ri)
                vals[l['output']] = (y, sur + (self.real(y, l['output']) - sur).detach())
            elif op == 'reshape':
                vi, ri = vals[l['input']]
                s = p['shapes'][l['output']]
                vals[l['output']] = (vi.reshape(-1, s['c'], s['h'], s['w']), ri.reshape(-1, s['c'], s['h'], s['w']))
            else:
                raise SystemExit(f'unknown op {op}')
        if scores is None:
            v_out, r_out = vals[p['output']]
            s, z = self.q(p['output'])
            scores = (v_out - z).to(torch.float64) * s
            logits = r_out
        B = pixels.shape[0]
        return logits.reshape(B, -1), scores.reshape(B, -1)


# ---- export: the same network in float, as ONNX the axtpu importer reads ---------------------

class FloatModule(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.plan = net.plan
        self.ws = torch.nn.ParameterList()
        for l in self.plan['layers']:
            if l['op'] == 'conv':
                w = l['w'].detach().clone()
                if l['kind'] == 'dense':
                    w = w.view(l['oc'], l['ic'])
                self.ws.append(torch.nn.Parameter(w))
                self.ws.append(torch.nn.Parameter(l['b'].detach().clone()))

    def forward(self, x):
        vals = {self.plan['input']: x}
        i = 0
        for l in self.plan['layers']:
            op = l['op']
            if op == 'conv':
                y = vals[l['input']]
                w, b = self.ws[i], self.ws[i + 1]
                i += 2
                if l['kind'] == 'dense':
                    y = F.linear(torch.flatten(y, 1) if y.dim() > 2 else y, w, b)
                else:
                    y = F.conv2d(y, w, b, stride=tuple(l['stride']), padding=(l['pads'][0], l['pads'][1]))
                vals[l['output']] = F.relu(y) if l['relu'] else y
            elif op in ('maxpool', 'avgpool'):
                y = vals[l['input']]
                k, stride, pads = (l['kh'], l['kw']), tuple(l['stride']), (l['pads'][0], l['pads'][1])
                if op == 'maxpool':
                    y = F.max_pool2d(y, k, stride, pads)
                elif k == tuple(y.shape[2:]) and pads == (0, 0):
                    y = F.adaptive_avg_pool2d(y, 1)  # exports as GlobalAveragePool
                else:
                    y = F.avg_pool2d(y, k, stride, pads, count_include_pad=False)
                vals[l['output']] = F.relu(y) if l['relu'] else y
            elif op == 'add':
                y = vals[l['inputs'][0]] + vals[l['inputs'][1]]
                vals[l['output']] = F.relu(y) if l['relu'] else y
            elif op == 'relu':
                vals[l['output']] = F.relu(vals[l['input']])
            elif op == 'reshape':
                vals[l['output']] = torch.flatten(vals[l['input']], 1)
        y = vals[self.plan['output']]
        return torch.flatten(y, 1) if y.dim() > 2 else y


def read_images(job, name, shape):
    raw = np.fromfile(os.path.join(job, name), dtype=np.uint8)
    c, h, w = shape['c'], shape['h'], shape['w']
    n = raw.size // (c * h * w + 1)
    x = torch.from_numpy(raw[:n * c * h * w].copy()).view(n, c, h, w)
    y = torch.from_numpy(raw[n * c * h * w:].astype(np.int64))
    return x, y


def main():
    job = sys.argv[1]
    net = Net(job)
    opts = net.plan['train']
    torch.set_num_threads(opts['threads'])
    torch.manual_seed(opts['seed'])
    shape = net.plan['inputShape']
    t0 = time.time()
    c0 = time.process_time()

    # Check: the exact forward on the check images, before any training (axtpu compares).
    cx, _ = read_images(job, 'check.bin', shape)
    with torch.no_grad():
        _, sc = net.forward(cx)
    sc.numpy().astype('<f8').tofile(os.path.join(job, 'check-scores.bin'))
    print('check', flush=True)  # axtpu compares now and stops this process on a mismatch

    x, y = read_images(job, 'train.bin', shape)
    n, batch, epochs = x.shape[0], opts['batch'], opts['epochs']
    steps = (n + batch - 1) // batch
    opt = torch.optim.Adam(net.params, opts['lr'])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps)
    history = []
    for ep in range(epochs):
        perm = torch.randperm(n)
        total, correct, seen = 0.0, 0, 0
        for s in range(steps):
            i = perm[s * batch:(s + 1) * batch]
            logits, scores = net.forward(x[i])
            loss = F.cross_entropy(logits, y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(i)
            correct += (scores.argmax(1) == y[i]).sum().item()
            seen += len(i)
            print(f'progress {ep * steps + s + 1} {epochs * steps} epoch {ep + 1} loss {total / seen:.4f} '
                  f'train-acc {correct / seen:.4f}', flush=True)
        history.append({'epoch': ep + 1, 'loss': total / seen, 'trainAccuracy': correct / seen,
                        'seconds': round(time.time() - t0, 1), 'cpuSeconds': round(time.process_time() - c0, 1)})

    model = FloatModule(net).eval()
    c, h, w = shape['c'], shape['h'], shape['w']
    torch.onnx.export(model, torch.zeros(1, c, h, w), os.path.join(job, 'model.onnx'), opset_version=13,
                      input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, do_constant_folding=True)
    with open(os.path.join(job, 'result.json'), 'w') as f:
        json.dump({'epochs': history, 'trainImages': n, 'seconds': round(time.time() - t0, 1),
                   'torch': torch.__version__}, f, indent=2)


if __name__ == '__main__':
    main()
