#!/usr/bin/python3
"""Snapshots (SPEC §6, [output] snapshot_every) against an independent PyTorch reference.

From each snapshot of W_t alone (and the file's inputs), float64 PyTorch recomputes what the file
says of epoch t: the training loss, the gradient (by autograd, not the engine's formula), its
singular values and vectors, the alignments of its top right vector with q and with X_B^T r, and
(taken at W_t, so in the row of epoch t - 1) the test loss and ||W||_2. Consecutive snapshots are
one gradient-descent step apart (W_{t+1} = rows of W_t - eta grad_t, renormalised), the last one is
W_E after the last step, and refit_a is pinv(gamma sigma(X W_E^T)) y. A snapshot every 3rd epoch
lands in rows 0, 3, 6 and E, and xarray reads the group with its labelled axes. epochs = 0 measures at
W0: the 1-epoch run's row 0 of every series taken at W_t, NaN at W_(t+1), a snapshot of W0, its refit.

usage: test_snapshots.py ENGINE
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch
import xarray as xr

from checks import check, summary

EPOCHS, RANK = 7, 4
SIZES = ["--set", "data.n=40", "--set", "data.d=30", "--set", "model.k=20"]


def run(engine, out, *extra, epochs=EPOCHS):
    subprocess.run([engine, "--exp", "ntk_vs_mf", *SIZES, "--epochs", str(epochs), "--precision", "float64",
                    "--device", "cpu", "--threads", "1", "--quiet", "--out", out, *extra], check=True,
                   stdout=subprocess.DEVNULL)


def text(ds):
    return ds[()].decode().rstrip("\0")


def t64(x):
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def relative(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def check_run(f, name):
    g = f[f"runs/{name}"]
    inputs = f[f"inputs/{g.attrs['inputs']}"]
    X, y, Xt, yt = (t64(inputs[k][()]) for k in ("X_train", "y_train", "X_test", "y_test"))
    X_B, q, a0 = t64(inputs["X_bulk_train"][()]), t64(inputs["q"][()]), inputs["a"][()]
    act = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[g.attrs["activation"]]
    gamma, lr = float(g.attrs["gamma"]), float(g.attrs["lr"])
    normalize = bool(g.attrs["normalize_rows"])
    s = g["snapshots"]
    epochs = s["epoch"][()]
    check(list(epochs) == list(range(EPOCHS + 1)), f"{name}: a snapshot at every epoch 0..E ({list(epochs)})")
    check(np.array_equal(s["a"][()], np.tile(a0, (len(epochs), 1))), f"{name}: the snapshots' a is the inputs' a")

    worst = {"loss": 0.0, "grad": 0.0, "sv": 0.0, "align": 0.0, "vectors": 0.0, "leaving": 0.0, "step": 0.0}
    for row, t in enumerate(epochs):
        W = t64(s["W"][row]).requires_grad_(True)
        F = gamma * act(X @ W.T) @ t64(a0)
        loss = torch.mean((F - y) ** 2)
        loss.backward()
        grad = W.grad.detach()
        W = W.detach()
        worst["grad"] = max(worst["grad"], relative(s["grad"][row], grad.numpy()))
        U, S, Vh = torch.linalg.svd(grad, full_matrices=False)
        # |<u_i, u_i'>| = 1 for the pairs whose value is separated from its neighbours.
        for i in range(RANK):
            gap = min(abs(S[i] - S[j]).item() for j in range(len(S)) if j != i) / S[0].item()
            if gap > 1e-6:
                cos_u = abs(float(t64(s["grad_left"][row, i]) @ U[:, i]))
                cos_v = abs(float(t64(s["grad_right"][row, i]) @ Vh[i]))
                worst["vectors"] = max(worst["vectors"], 1 - cos_u, 1 - cos_v)
        # The pair (u_i, v_i) keeps its sign together: u_i^T grad v_i = sigma_i > 0.
        for i in range(RANK):
            sigma = float(t64(s["grad_left"][row, i]) @ grad @ t64(s["grad_right"][row, i]))
            worst["vectors"] = max(worst["vectors"], abs(sigma - S[i].item()) / S[0].item())
        if t == EPOCHS:  # W_E: after the last step, no epoch row of its own
            final_W = W
            break
        worst["loss"] = max(worst["loss"], relative(g["train_mse"][t], loss.item()))
        worst["sv"] = max(worst["sv"], relative(g["grad_singular_values"][t], S.numpy()))
        v = Vh[0]
        r = 2 * (F.detach() - y)
        xbr = X_B.T @ r
        worst["align"] = max(worst["align"], abs(abs(float(v @ q)) - g["align_data"][t]),
                             abs(abs(float(v @ xbr)) / float(torch.linalg.norm(xbr)) - g["align_residue"][t]))
        check(float(t64(s["grad_right"][row, 0]) @ t64(g["grad_top_right_vector"][t])) > 1 - 1e-9,
              f"{name}: epoch {t}: grad_right's v_1 has grad_top_right_vector's sign")
        if t > 0:  # W_t leaves epoch t - 1
            test = torch.mean((gamma * act(Xt @ W.T) @ t64(a0) - yt) ** 2).item()
            worst["leaving"] = max(worst["leaving"], relative(g["test_mse"][t - 1], test),
                                   relative(g["w_opnorm"][t - 1], torch.linalg.matrix_norm(W, 2).item()))
        stepped = W - lr * grad
        if normalize:
            stepped = stepped / (torch.linalg.norm(stepped, dim=1, keepdim=True) + 1e-8)
        worst["step"] = max(worst["step"], relative(s["W"][row + 1], stepped.numpy()))
    bounds = {"loss": 1e-10, "grad": 1e-10, "sv": 1e-8, "align": 1e-8, "vectors": 1e-8, "leaving": 1e-8, "step": 1e-12}
    for kind, bound in bounds.items():
        check(worst[kind] <= bound, f"{name}: {kind} from the snapshots within {bound:g} (worst {worst[kind]:.2e})")
    H = gamma * act(X @ final_W.T)
    a_star = torch.linalg.pinv(H) @ y
    refit = torch.mean((gamma * act(Xt @ final_W.T) @ a_star - yt) ** 2).item()
    check(relative(g["refit_a"][()], a_star.numpy()) < 1e-6 and relative(g["refit_test_mse"][()], refit) < 1e-6,
          f"{name}: refit_a and refit_test_mse are pinv(gamma sigma(X W_E^T)) y's "
          f"({relative(g['refit_a'][()], a_star.numpy()):.2e}, {relative(g['refit_test_mse'][()], refit):.2e})")


def main(engine):
    with tempfile.TemporaryDirectory() as tmp:
        every = os.path.join(tmp, "every.h5")
        run(engine, every, "--set", "output.snapshot_every=1", "--set", f"output.snapshot_rank={RANK}")
        with h5py.File(every, "r") as f:
            for name in f["runs"]:
                check_run(f, name)

        third = os.path.join(tmp, "third.h5")
        run(engine, third, "--set", "output.snapshot_every=3")
        with h5py.File(third, "r") as f, h5py.File(every, "r") as e:
            s = f["runs/mf/snapshots"]
            check(list(s["epoch"][()]) == [0, 3, 6, 7], f"every 3rd epoch: rows 0, 3, 6 and E ({list(s['epoch'][()])})")
            check(np.array_equal(s["W"][()], e["runs/mf/snapshots/W"][[0, 3, 6, 7]]),
                  "every 3rd epoch: the same W_t as the snapshots of every epoch")
            check(s["grad_left"].shape == (4, 4, 20) and s["grad_right"].shape == (4, 4, 30),
                  f"the default snapshot_rank is 4 ({s['grad_left'].shape}, {s['grad_right'].shape})")
            check(s["W"].attrs["long_name"] and s["grad"].attrs["taken_at"] == "W_t", "the stacks say what they are")
        ds = xr.open_dataset(third, engine="h5netcdf", group="runs/mf/snapshots")
        check(ds["W"].dims == ("epoch", "neuron_index", "input_index") and list(ds["epoch"].values) == [0, 3, 6, 7],
              f"xarray: W over (epoch, neuron_index, input_index) {ds['W'].dims}")
        top4 = np.linalg.svd(ds["W"].values, compute_uv=False)[:, :4]  # the README's example
        check(top4.shape == (4, 4) and np.all(np.diff(top4, axis=1) <= 0), "the top-4 singular values of W_t over epochs")
        ds.close()

        # epochs = 0: one row at W0 (the 1-epoch run's row 0 in every series taken at W_t, bit for
        # bit), NaN in those taken at W_(t+1), one snapshot of W0, the refit of W0.
        at_w0, one = os.path.join(tmp, "at_w0.h5"), os.path.join(tmp, "one.h5")
        run(engine, at_w0, "--set", "output.snapshot_every=1", epochs=0)
        run(engine, one, epochs=1)
        with h5py.File(at_w0, "r") as f, h5py.File(one, "r") as o:
            g, h = f["runs/mf"], o["runs/mf"]
            entering = [n for n in g if isinstance(g[n], h5py.Dataset) and g[n].attrs.get("taken_at") == "W_t"]
            leaving = [n for n in g if isinstance(g[n], h5py.Dataset) and g[n].attrs.get("taken_at") == "W_(t+1)"]
            check(g["train_mse"].shape == (1,) and list(g["epoch"][()]) == [0] and len(entering) >= 8,
                  f"epochs = 0: one row, epoch 0, of the {len(entering)} series taken at W_t")
            same = [n for n in entering if np.array_equal(g[n][()], h[n][()], equal_nan=True)]
            check(same == entering, f"epochs = 0: every series at W_t is the 1-epoch run's ({sorted(set(entering) - set(same))} differ)")
            check(leaving and all(np.isnan(g[n][()]).all() for n in leaving), f"epochs = 0: NaN at W_(t+1) {leaving}")
            W0 = f[f"inputs/{g.attrs['inputs']}/W0"][()]
            check(list(g["snapshots/epoch"][()]) == [0] and np.array_equal(g["snapshots/W"][0], W0),
                  "epochs = 0: one snapshot, of W0")
            check(np.isnan(f["pairs/ntk__mf/pair_mean_angle_deg"][()]).all(), "epochs = 0: no pair angle (taken at W_(t+1))")
            X, y = (t64(f[f"inputs/{g.attrs['inputs']}/{k}"][()]) for k in ("X_train", "y_train"))
            a_star = torch.linalg.pinv(float(g.attrs["gamma"]) * torch.sigmoid(X @ t64(W0).T)) @ y
            check(relative(g["refit_a"][()], a_star.numpy()) < 1e-6, "epochs = 0: the refit is of W0")
            check(text(f["runs/mf/status"]) == "complete", "epochs = 0: the run is complete")

        plain = os.path.join(tmp, "plain.h5")
        run(engine, plain)
        with h5py.File(plain, "r") as f:
            check("snapshots" not in f["runs/mf"] and f["runs/mf/refit_a"].shape == (20,),
                  "off by default: no snapshots group; refit_a is always written")
    return summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
