#!/usr/bin/env python3
"""Exact second-order fixtures for sam4j's tests, by PyTorch double backward (float64 throughout).

Tiny versions of sam4j's architectures (same layer kinds and state_dict names as the Java test builds):
  mlp    Flatten, fc1 Linear(36->16), ReLU, fc2 Linear(16->10)                      on 1x6x6
  cnn    conv1 3x3(1->4, no bias), bn1, ReLU, MaxPool 2, conv2 3x3(4->8), bn2, ReLU,
         MaxPool 2, Flatten, fc1 (32->16), ReLU, fc2 (16->10); label smoothing 0.1 on 1x8x8
  resnet conv1 3x3(3->4) bn1 ReLU, layer1 BasicBlock(4,1), layer2 BasicBlock(6,2) (projection),
         block3 PreActBlock(6,1), block4 PreActBlock(6,2) (projection), GAP, linear(6->10)     on 3x6x6
Weights are PyTorch's default init (BatchNorm affine and running statistics randomised so that eval and
train differ), rounded to float32, as are the 12 inputs and the direction v; everything after is float64.
For each model and BatchNorm mode (eval: running statistics; train: the batch's statistics, momentum 0) it
stores v, Hv and Gv (Gauss-Newton, J^T H_z J v) and, from the explicit Hessian, lambda_max, lambda_min,
the top 5 and the trace.

  /usr/bin/python3 bench/hessian/make_fixtures.py src/test/resources/hessian [mlp cnn resnet]
writes <model>.safetensors (weights + "fixture.*" tensors, all F32) and <model>.json (the scalars).
Needs torch (Debian's python3-torch 1.13 works) and numpy; the Java tests need neither.
"""
import json, struct, sys
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from torch.nn.utils.stateless import functional_call

torch.manual_seed(0)
DT = torch.float64


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class PreActBlock(nn.Module):  # xternalz/WideResNet-pytorch, dropout 0
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin); self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout); self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.equal = cin == cout and stride == 1
        self.convShortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return out + (x if self.equal else self.convShortcut(a))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__(); self.fc1, self.fc2 = nn.Linear(36, 16), nn.Linear(16, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.fc1, self.fc2 = nn.Linear(32, 16), nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, 1, 1, bias=False), nn.BatchNorm2d(4)
        self.layer1, self.layer2 = BasicBlock(4, 4, 1), BasicBlock(4, 6, 2)
        self.block3, self.block4 = PreActBlock(6, 6, 1), PreActBlock(6, 6, 2)
        self.linear = nn.Linear(6, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.block4(self.block3(self.layer2(self.layer1(x))))
        return self.linear(x.mean((2, 3)))


MODELS = {"mlp": (Mlp, (1, 6, 6), 0.0, ["eval"]), "cnn": (Cnn, (1, 8, 8), 0.1, ["eval", "train"]),
          "resnet": (ResNet, (3, 6, 6), 0.0, ["eval", "train"])}
N = 12


def f32(t):
    return t.float().double()


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        b = t.detach().float().contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h); [f.write(b) for b in blobs]


def main(out, only=None):
    for name, (cls, shape, ls, modes) in MODELS.items():
        if only and name not in only: continue
        model = cls().to(DT)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.3, 0.3)
                    m.running_mean.uniform_(-0.3, 0.3); m.running_var.uniform_(0.5, 2.0); m.momentum = 0.0
            for p in model.state_dict().values():
                if p.is_floating_point(): p.copy_(f32(p))
        names = [k for k, _ in model.named_parameters()]
        P = dict(model.named_parameters())
        x = f32(torch.randn(N, *shape, dtype=DT)); y = torch.randint(0, 10, (N,))
        D = sum(p.numel() for p in P.values())
        tensors = {k: v for k, v in model.state_dict().items()}
        tensors["fixture.x"] = x; tensors["fixture.y"] = y.double()
        scalars = {"examples": N, "label_smoothing": ls, "parameters": D}
        for mode in modes:
            model.train(mode == "train")

            def loss_of(params):
                return F.cross_entropy(functional_call(model, params, (x,)), y, label_smoothing=ls)

            def hvp(vec):
                g = torch.autograd.grad(loss_of(P), list(P.values()), create_graph=True)
                vs = [t.view_as(p) for t, p in zip(vec.split([p.numel() for p in P.values()]), P.values())]
                return torch.cat([h.flatten() for h in torch.autograd.grad(g, list(P.values()), grad_outputs=vs)])

            def gvp(vec):
                vs = tuple(t.view_as(p) for t, p in zip(vec.split([p.numel() for p in P.values()]), P.values()))
                z_of = lambda *ps: functional_call(model, dict(zip(names, ps)), (x,))
                z, jv = torch.autograd.functional.jvp(z_of, tuple(P.values()), vs)
                p = torch.softmax(z, 1)
                rdz = (p * jv - p * (p * jv).sum(1, keepdim=True)) / N
                z = z_of(*P.values())
                return torch.cat([g.flatten() for g in torch.autograd.grad(z, list(P.values()), grad_outputs=rdz)])

            v = f32(torch.randn(D, dtype=DT))
            H = torch.stack([hvp(e) for e in torch.eye(D, dtype=DT)])
            H = (H + H.T) / 2
            ev = np.linalg.eigvalsh(H.numpy())
            tensors[f"fixture.v.{mode}"] = v
            tensors[f"fixture.hv.{mode}"] = hvp(v)
            tensors[f"fixture.gv.{mode}"] = gvp(v)
            scalars[mode] = {"lambda_max": float(ev[-1]), "lambda_min": float(ev[0]),
                             "top5": [float(e) for e in ev[::-1][:5]], "trace": float(np.trace(H.numpy())),
                             "loss": float(loss_of(P))}
            print(name, mode, D, scalars[mode])
        write_safetensors(f"{out}/{name}.safetensors", tensors)
        with open(f"{out}/{name}.json", "w") as f:
            json.dump(scalars, f, indent=1); f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".", sys.argv[2:])
