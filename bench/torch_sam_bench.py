#!/usr/bin/env python3
"""PyTorch CPU reference for the SAM family: time per optimizer step, side by side.

Run with Debian's python3-torch (1.13, oneDNN 2.6) as /usr/bin/python3:
  /usr/bin/python3 torch_sam_bench.py --model cnn --batch 128 --threads 2 --steps 20 [--precision bf16]
Prints one JSON line per (model, optimizer): median ms/step. --precision bf16 runs each forward under
torch.autocast('cpu', dtype=torch.bfloat16) (PyTorch's CPU mixed precision: convolutions and linear layers in
bf16, weights, gradients and the optimizer in fp32), the counterpart of ./sam4j bench --precision bf16.
"""
import argparse, json, statistics, time
import torch, torch.nn as nn, torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18 (3x3 stem, no max-pool), as used in the SAM papers."""
    def __init__(self, in_ch=1, classes=10, width=64):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(in_ch, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        layers, cin = [], w
        for i, (c, s) in enumerate([(w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)]):
            layers.append(nn.Sequential(BasicBlock(cin, c, s), BasicBlock(c, c, 1)))
            cin = c
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.linear = nn.Linear(8 * w, classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class Mlp(nn.Module):
    """784-256-256-10 ReLU; state_dict names fc1/fc2/fc3."""
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 256), nn.Linear(256, 256), nn.Linear(256, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


class Cnn(nn.Module):
    """conv3x3(1->32)-BN-ReLU-maxpool2, conv3x3(32->64)-BN-ReLU-maxpool2, fc(3136->256)-ReLU, fc(256->10)."""
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
        self.fc1, self.fc2 = nn.Linear(64 * 7 * 7, 256), nn.Linear(256, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def make(model):
    if model == "mlp":
        return Mlp()
    if model == "cnn":
        return Cnn()
    if model == "resnet18":
        return ResNet18()
    raise SystemExit("unknown model " + model)


def grad_norm(params):
    return torch.norm(torch.stack([p.grad.norm(p=2) for p in params if p.grad is not None]), p=2)


def step(kind, model, params, base, x, y, state, bf16=False, rho=0.05, sigma=1.0, lmbda=0.6):
    def loss_grad():
        base.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss
    loss_grad()
    if kind == "sgd":
        base.step()
        return
    with torch.no_grad():
        if kind == "fsam":
            for p in params:
                g = p.grad.clone()
                m = state.get(p)
                if m is None:
                    state[p] = g
                else:
                    p.grad.sub_(m, alpha=sigma)
                    m.mul_(lmbda).add_(g, alpha=1 - lmbda)
        norm = grad_norm(params)
        scale = rho / (norm + 1e-12)
        olds = []
        for p in params:
            e = p.grad * scale
            p.add_(e)
            olds.append(e)
    first_norm = norm
    loss_grad()
    with torch.no_grad():
        for p, e in zip(params, olds):
            p.sub_(e)
        if kind == "stablesam":
            second = grad_norm(params)
            for p in params:
                p.grad.mul_(first_norm / (second + 1e-12))
    base.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--opts", default="sgd,sam,fsam,stablesam")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.randn(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))
    for kind in a.opts.split(","):
        model = make(a.model)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        base = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)
        state, times = {}, []
        for i in range(a.warmup + a.steps):
            t = time.perf_counter()
            step(kind, model, params, base, x, y, state, bf16=a.precision == "bf16")
            if i >= a.warmup:
                times.append((time.perf_counter() - t) * 1e3)
        n = sum(p.numel() for p in params)
        print(json.dumps({"impl": "pytorch-" + torch.__version__, "model": a.model, "precision": a.precision, "opt": kind, "batch": a.batch,
                          "threads": a.threads, "params": n, "ms_step_median": round(statistics.median(times), 2),
                          "ms_step_min": round(min(times), 2)}), flush=True)


if __name__ == "__main__":
    main()
