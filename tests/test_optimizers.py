#!/usr/bin/python3
"""The optimisers (SPEC §11) against torch.optim, an independent reference.

One small file trains seven runs from one W0 and a: gd, sgd (the full batch), momentum,
nesterov momentum without the renormalisation, adam, adam with the loss's L2 term and its own
betas and eps, and adamw with its decoupled decay. PyTorch replays each run in float64 from the
file's inputs alone (W0, a, X, y, the run's attributes): the loss by autograd, the step by
torch.optim.SGD / Adam / AdamW, then the rows renormalised where the run does. The file's
train_mse and its snapshots of W_t must agree to 1e-8 relative in float64 and 3e-4 in float32;
sgd on the full batch is gd bit for bit; the attributes name each optimiser and its values, and
gd's runs have none (the seed's files unchanged).

usage: test_optimizers.py ENGINE
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

from checks import check, summary

EPOCHS = 8
RUNS = {  # name: the run's keys beyond activation, gamma and the inputs
    "gd": 'lr = 0.5',
    "sgd": 'lr = 0.5\noptimizer = "sgd"',
    "momentum": 'lr = 0.2\noptimizer = "momentum"\nmomentum = 0.9',
    "nesterov": 'lr = 0.2\noptimizer = "momentum"\nmomentum = 0.8\nnesterov = true\nnormalize_rows = false',
    "adam": 'lr = 0.02\noptimizer = "adam"',
    "adam_l2": ('lr = 0.02\noptimizer = "adam"\nbeta1 = 0.8\nbeta2 = 0.99\neps = 1e-6\nweight_decay = 0.01\n'
                'normalize_rows = false'),
    "adamw": 'lr = 0.02\noptimizer = "adamw"\ndecoupled_weight_decay = 0.1\nnormalize_rows = false',
}


def config():
    text = f"""experiment = "optimizers_tiny"
seed = 11
epochs = {EPOCHS}
[data]
d = 30
n = 40
[model]
k = 20
[output]
snapshot_every = 1
[[inputs]]
name = "main"
teacher = "sigmoid"
"""
    for name, keys in RUNS.items():
        text += f'\n[[runs]]\nname = "{name}"\nactivation = "tanh"\ngamma = 0.3\n{keys}\n'
    return text


def t64(x):
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def relative(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def torch_optimizer(attrs, W):
    kind = attrs.get("optimizer", "gd")
    lr = float(attrs["lr"])
    if kind in ("gd", "sgd"):
        return torch.optim.SGD([W], lr=lr)
    if kind == "momentum":
        return torch.optim.SGD([W], lr=lr, momentum=float(attrs["momentum"]), nesterov=bool(attrs["nesterov"]))
    betas = (float(attrs["beta1"]), float(attrs["beta2"]))
    if kind == "adam":
        return torch.optim.Adam([W], lr=lr, betas=betas, eps=float(attrs["eps"]))
    return torch.optim.AdamW([W], lr=lr, betas=betas, eps=float(attrs["eps"]),
                             weight_decay=float(attrs["decoupled_weight_decay"]))


def replay(f, name):
    """torch.optim's losses at W_0..W_(E-1) and its weights W_0..W_E for run `name`."""
    g = f[f"runs/{name}"]
    inputs = f[f"inputs/{g.attrs['inputs']}"]
    X, y, a = (t64(inputs[k][()]) for k in ("X_train", "y_train", "a"))
    gamma, decay = float(g.attrs["gamma"]), float(g.attrs.get("weight_decay", 0.0))
    W = t64(g["snapshots/W"][0]).clone().requires_grad_(True)  # W0, as the file holds it
    opt = torch_optimizer(dict(g.attrs), W)
    losses, weights = [], [W.detach().clone()]
    for _ in range(EPOCHS):
        opt.zero_grad()
        F = gamma * torch.tanh(X @ W.T) @ a
        loss = torch.mean((F - y) ** 2) + decay / 2 * torch.sum(W * W)
        loss.backward()
        losses.append(loss.item())
        opt.step()
        if g.attrs["normalize_rows"]:
            with torch.no_grad():
                W /= torch.linalg.norm(W, dim=1, keepdim=True) + 1e-8
        weights.append(W.detach().clone())
    return np.array(losses), torch.stack(weights).numpy()


def main(engine):
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "optimizers.toml")
        with open(path, "w") as out:
            out.write(config())
        for precision, bound in (("float64", 1e-8), ("float32", 3e-4)):
            h5 = os.path.join(tmp, f"{precision}.h5")
            subprocess.run([engine, "--config", path, "--precision", precision, "--device", "cpu", "--threads", "1",
                            "--quiet", "--out", h5], check=True, stdout=subprocess.DEVNULL)
            with h5py.File(h5, "r") as f:
                for name in RUNS:
                    g = f[f"runs/{name}"]
                    losses, weights = replay(f, name)
                    got = g["train_mse"][()]
                    check(bool(np.all(np.diff(losses[:3]) < 0)) or name == "nesterov",
                          f"{precision} {name}: the replay trains (its loss falls over the first epochs)")
                    e_loss = relative(got, losses)
                    e_w = relative(g["snapshots/W"][()], weights)
                    check(e_loss < bound, f"{precision} {name}: train_mse against torch.optim, {e_loss:.1e} < {bound:g}")
                    check(e_w < bound, f"{precision} {name}: W_0..W_E against torch.optim, {e_w:.1e} < {bound:g}")
                    want = {"gd": None, "sgd": "sgd", "momentum": "momentum", "nesterov": "momentum",
                            "adam": "adam", "adam_l2": "adam", "adamw": "adamw"}[name]
                    check(g.attrs.get("optimizer") == want, f"{precision} {name}: attribute optimizer = {want}")
                a, b = f["runs/gd"], f["runs/sgd"]
                check(np.array_equal(a["train_mse"][()], b["train_mse"][()]) and
                      np.array_equal(a["snapshots/W"][()], b["snapshots/W"][()]),
                      f"{precision}: sgd on the full batch is gd bit for bit")
                check(f["runs/nesterov"].attrs["nesterov"] == 1 and f["runs/adam_l2"].attrs["beta1"] == 0.8 and
                      f["runs/adamw"].attrs["decoupled_weight_decay"] == 0.1,
                      f"{precision}: the optimisers' values are the runs' attributes")
                check("beta1" not in f["runs/momentum"].attrs and "momentum" not in f["runs/adam"].attrs,
                      f"{precision}: a run carries only its own optimiser's values")
    return summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
