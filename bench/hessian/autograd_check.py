#!/usr/bin/env python3
"""lambda_max and the Hessian trace of sam4j weights by PyTorch double backward, for `./sam4j sharpness`.

Rebuilds sam4j's mlp or cnn (nn/Models.java: mlp fc1 784->256, fc2 256->256, fc3 256->10 with ReLUs; cnn
conv1 3x3 1->32 no bias, bn1, ReLU, maxpool 2, conv2 3x3 32->64 no bias, bn2, ReLU, maxpool 2, flatten,
fc1 3136->256, ReLU, fc2 256->10), loads a sam4j .safetensors file (PyTorch names; parsed here, no
safetensors package), takes the FIRST n training examples of an IDX data set (Fashion-MNIST) normalised as
sam4j's Normalizer.fit does (one mean and population std of p/255 over every training pixel, in double;
each pixel (p/255 - mean)/std rounded once to float32), and the mean cross-entropy (no label smoothing, no
weight decay) over those n examples as ONE batch, BatchNorm either
  eval   running statistics (sam4j --bn eval), or
  batch  the batch's own statistics, running statistics untouched (sam4j --bn batch; with --batch = --subset
         the n examples are one batch, as here).
Weights and inputs are float32 values; every computation after loading is float64 (--dtype float32 to
change). Then, with Hessian-vector products by double backward:
  lambda_max  Lanczos with full reorthogonalisation from a Gaussian start, until the top Ritz value's
              residual bound beta_k |s_k| is below tol * |theta| (default 1e-5) or --lanczos-max steps;
  trace       Hutchinson with --probes Rademacher probes (default 100): mean and standard error.
Its random vectors are not sam4j's, so traces agree within their standard errors, not to the digit.

  /usr/bin/python3 bench/hessian/autograd_check.py --model cnn --weights w.safetensors \
      --data /usr/share/datasets/fashion-mnist --subset 1000 --bn eval [--probes 100] [--seed 0]
Uses one thread (torch.set_num_threads(1)); prints one JSON line at the end. Needs torch (Debian's
python3-torch 1.13 works) and numpy.
"""
import argparse, gzip, json, math, os, struct, sys, time
import numpy as np, torch, torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in DTYPES:
            raise SystemExit(f"{path}: tensor {name} has dtype {info['dtype']}, not handled")
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
    return out


def read_idx(folder, base):
    for name in (base, base + ".gz"):
        p = os.path.join(folder, name)
        if os.path.isfile(p):
            with (gzip.open(p, "rb") if name.endswith(".gz") else open(p, "rb")) as f:
                raw = f.read()
            magic, = struct.unpack(">I", raw[:4])
            nd = magic & 0xFF
            dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
            return np.frombuffer(raw[4 + 4 * nd:], dtype=np.uint8).reshape(dims)
    raise SystemExit(f"{folder}: no {base}[.gz]")


def load_data(folder, n):
    images = read_idx(folder, "train-images-idx3-ubyte")
    labels = read_idx(folder, "train-labels-idx1-ubyte")
    # Normalizer.fit: 256-bin histogram, mean then population std of p/255, in double.
    hist = np.bincount(images.reshape(-1), minlength=256).astype(np.float64)
    v = np.arange(256) / 255.0
    count = hist.sum()
    mean = (hist * v).sum() / count
    std = math.sqrt((hist * (v - mean) ** 2).sum() / count)
    table = ((v - mean) / std).astype(np.float32)
    x = table[images[:n]].reshape(n, 1, images.shape[1], images.shape[2])
    return x, labels[:n].astype(np.int64), mean, std


PARAMS = {
    "mlp": ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"],
    "cnn": ["conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias",
            "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"],
}


def forward(model, p, buf, x, bn):
    if model == "mlp":
        h = x.flatten(1)
        h = F.relu(F.linear(h, p["fc1.weight"], p["fc1.bias"]))
        h = F.relu(F.linear(h, p["fc2.weight"], p["fc2.bias"]))
        return F.linear(h, p["fc3.weight"], p["fc3.bias"])

    def norm(h, i):
        if bn == "eval":
            return F.batch_norm(h, buf[f"bn{i}.running_mean"], buf[f"bn{i}.running_var"], p[f"bn{i}.weight"],
                                p[f"bn{i}.bias"], training=False, eps=1e-5)
        return F.batch_norm(h, None, None, p[f"bn{i}.weight"], p[f"bn{i}.bias"], training=True, eps=1e-5)

    h = F.max_pool2d(F.relu(norm(F.conv2d(x, p["conv1.weight"], padding=1), 1)), 2)
    h = F.max_pool2d(F.relu(norm(F.conv2d(h, p["conv2.weight"], padding=1), 2)), 2)
    h = F.relu(F.linear(h.flatten(1), p["fc1.weight"], p["fc1.bias"]))
    return F.linear(h, p["fc2.weight"], p["fc2.bias"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(PARAMS), required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--subset", type=int, default=1000)
    ap.add_argument("--bn", choices=["eval", "batch"], default="eval")
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--lanczos-max", type=int, default=60)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    a = ap.parse_args()
    torch.set_num_threads(1)
    dt = getattr(torch, a.dtype)
    t0 = time.time()

    st = read_safetensors(a.weights)
    names = PARAMS[a.model]
    missing = [k for k in names if k not in st]
    if missing:
        raise SystemExit(f"{a.weights}: missing {missing}")
    params = [torch.tensor(st[k].astype(np.float64), dtype=dt).requires_grad_(True) for k in names]
    buf = {k: torch.tensor(v.astype(np.float64), dtype=dt) for k, v in st.items() if "running_" in k}
    D = sum(q.numel() for q in params)
    x_np, y_np, mean, std = load_data(a.data, a.subset)
    x, y = torch.tensor(x_np.astype(np.float64), dtype=dt), torch.tensor(y_np)
    if a.model == "mlp" and a.bn == "batch":
        print("note: the mlp has no BatchNorm; --bn batch changes nothing", file=sys.stderr)

    def loss_fn(ps):
        return F.cross_entropy(forward(a.model, dict(zip(names, ps)), buf, x, a.bn), y)

    loss = loss_fn(params)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_g = torch.cat([g.reshape(-1) for g in grads])
    gnorm = flat_g.detach().norm().item()
    products = [0]

    def hvp(v):  # one double backward through the retained first-order graph
        products[0] += 1
        hv = torch.autograd.grad(flat_g, params, grad_outputs=v, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]).detach()

    t_setup = time.time() - t0
    gen = torch.Generator().manual_seed(a.seed)

    # Lanczos, full reorthogonalisation.
    t1 = time.time()
    q = torch.randn(D, generator=gen, dtype=dt)
    q /= q.norm()
    Q, alphas, betas = [q], [], []
    theta, prev, steps, resid = float("nan"), float("nan"), 0, float("inf")
    for k in range(a.lanczos_max):
        w = hvp(Q[-1])
        alpha = torch.dot(w, Q[-1]).item()
        alphas.append(alpha)
        for _ in range(2):
            for qq in Q:
                w -= torch.dot(w, qq) * qq
        beta = w.norm().item()
        T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        ev, evec = np.linalg.eigh(T)
        theta, lam_min = ev[-1], ev[0]
        resid = beta * abs(evec[-1, -1])
        steps = k + 1
        if resid <= a.tol * abs(theta) or beta < 1e-12:
            break
        betas.append(beta)
        Q.append(w / beta)
    del Q
    t_lanczos = time.time() - t1

    # Hutchinson, Rademacher probes.
    t2 = time.time()
    vals = []
    for _ in range(a.probes):
        z = (torch.randint(0, 2, (D,), generator=gen) * 2 - 1).to(dt)
        vals.append(torch.dot(z, hvp(z)).item())
    vals = np.array(vals)
    tr, se = float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else float("nan")
    t_trace = time.time() - t2

    res = dict(model=a.model, bn=a.bn, subset=a.subset, params=D, dtype=a.dtype, threads=1,
               norm_mean=mean, norm_std=std, loss=loss.item(), grad_norm=gnorm,
               lambda_max=float(theta), lambda_min_ritz=float(lam_min), lanczos_steps=steps,
               lanczos_residual_rel=float(resid / abs(theta)), trace=tr, trace_se=se, probes=len(vals),
               seconds=dict(setup=round(t_setup, 1), lanczos=round(t_lanczos, 1), trace=round(t_trace, 1),
                            total=round(time.time() - t0, 1)),
               torch=torch.__version__)
    print(f"{a.model} bn={a.bn} n={a.subset} D={D:,} {a.dtype}: loss {res['loss']:.6f} lambda_max {theta:.6g} "
          f"({steps} Lanczos steps, rel. residual {res['lanczos_residual_rel']:.1e}) trace {tr:.4g} +- {se:.2g} "
          f"({len(vals)} probes), {res['seconds']['total']} s", file=sys.stderr)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
