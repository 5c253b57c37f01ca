#!/usr/bin/python3
"""Independent reference: the seed's formulas in PyTorch, checked against an engine file.

Reads the inputs the engine wrote, retrains every run of the file with the seed's own
train_track arithmetic (network_forward with gamma_nb applied twice, the step W -= lr_nb/gamma_nb
* W.grad, row renormalisation), recomputes every per-epoch metric of SPEC §4 from those
weights with float64 linear algebra (full SVDs, exact operator norms, the seed's
relative_projection_norm and principal_angles), and compares each with the file.

usage: reference_torch.py FILE.h5
"""
import math
import os
import sys

import h5py
import numpy as np
import torch

# The series are discovered from the file, as engine-plot discovers them: each scalar one must
# have a reference below, so that a new series cannot go unchecked.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps", "plot"))
from lowrank_plot.reader import per_epoch_series  # noqa: E402

UNREFERENCED = {"epoch_seconds"}  # a wall time: nothing to recompute
TOLERANCE_KIND = {"train_mse": "loss", "test_mse": "loss", "w_opnorm": "norm"}  # the rest: "align"

# Tolerances: (relative, absolute) per metric, for each working precision. float32 runs are
# retrained here in float32 too, so the two trajectories differ by rounding (different GEMM
# orders), amplified over the epochs; float64 runs agree far more closely.
TOLERANCES = {
    "float32": {"loss": (1e-4, 1e-6), "norm": (1e-4, 1e-6), "align": (0, 1e-5), "sv": (1e-4, 1e-6),
                "vector": (0, 1e-5), "angle": (0, 1e-4), "refit": (1e-3, 1e-6)},
    "float64": {"loss": (1e-9, 1e-12), "norm": (1e-8, 1e-10), "align": (0, 1e-7), "sv": (1e-6, 1e-6),
                "vector": (0, 1e-6), "angle": (0, 1e-6), "refit": (1e-6, 1e-9)},
}


def activation(name):
    return {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[name]


# --- the seed's functions, as written there -------------------------------------------------
def network_forward(X_input, W_layer, a_vec, activation_fn, gamma):
    Z = W_layer @ X_input.T
    H = activation_fn(Z)
    y_pred_transposed = gamma * a_vec.T @ H
    return gamma * y_pred_transposed.T


def relative_projection_norm(W, X, y, q):
    if y.ndim == 1:
        y = y.unsqueeze(1)
    if q.ndim == 1:
        q = q.unsqueeze(1)
    v1 = X.T @ y
    vec_list = [v for v in [v1, q] if torch.linalg.norm(v) > 1e-9]
    basis_mat = torch.cat(vec_list, dim=1)
    Q, _ = torch.linalg.qr(basis_mat, mode="reduced")
    return (torch.linalg.norm(W @ Q) / torch.linalg.norm(W)).item()


def principal_angles(A, B, rtol=1e-12, atol=1e-14):
    A = A.double()
    B = B.double()

    def orthonormal_basis(X):
        U, S, _ = torch.linalg.svd(X, full_matrices=False)
        tau = atol + rtol * S.max()
        r = (S > tau).sum().item()
        return U[:, :r]

    UA, UB = orthonormal_basis(A), orthonormal_basis(B)
    sigma = torch.clamp(torch.linalg.svdvals(UA.T @ UB), 0.0, 1.0)
    return torch.sort(torch.acos(sigma))[0]
# ---------------------------------------------------------------------------------------------


def train_track(inp, run, dtype):
    """The seed's train_track for one run; returns the per-epoch metrics of SPEC §4."""
    X, y = inp["X_train"], inp["y_train"].reshape(-1, 1)
    Xt, yt = inp["X_test"], inp["y_test"].reshape(-1, 1)
    XB, q, a = inp["X_bulk_train"], inp["q"], inp["a"].reshape(-1, 1)
    gamma_nb, lr_nb = run["gamma_nb"], run["lr_nb"]
    act = activation(run["activation"])
    W = inp["W0"].clone().requires_grad_(True)
    out = {k: [] for k in ["train_mse", "test_mse", "w_opnorm", "grad_singular_values", "grad_top_right_vector",
                           "energy", "align_data", "align_residue", "align_initial", "align_residue_step",
                           "align_data_v2", "align_residue_v2"]}
    weights = []
    v_prev, xr_prev = None, None
    for epoch in range(run["epochs"]):
        y_pred = network_forward(X, W, a, act, gamma_nb)
        loss = torch.mean((y_pred - y) ** 2)
        if W.grad is not None:
            W.grad.zero_()
        loss.backward()
        with torch.no_grad():
            r = 2 * (y_pred - y)  # residual at W_t
            grad = W.grad.clone()
            W -= lr_nb / gamma_nb * W.grad
            W /= torch.norm(W, p=2, dim=1, keepdim=True) + 1e-8

            _, S, Vh = torch.linalg.svd(grad.double(), full_matrices=False)
            v = Vh[0]
            if v_prev is None:
                v = v if v[torch.argmax(v.abs())] > 0 else -v
            else:
                v = v if torch.dot(v, v_prev) >= 0 else -v
            Wd = W.double()
            out["train_mse"].append(loss.item())
            out["test_mse"].append(torch.mean((network_forward(Xt, W, a, act, gamma_nb) - yt) ** 2).item())
            out["w_opnorm"].append(torch.linalg.matrix_norm(Wd, ord=2).item())
            out["grad_singular_values"].append(S.numpy())
            out["grad_top_right_vector"].append(v.numpy())
            out["energy"].append(relative_projection_norm(Wd, XB.double(), y.double(), q.double()))
            xbr = (XB.double().T @ r.double()).flatten()
            xr = (X.double().T @ r.double()).flatten()
            out["align_data"].append(abs(torch.dot(v, q.double()).item()))
            out["align_residue"].append(abs(torch.dot(v, xbr).item()) / xbr.norm().item())
            out["align_initial"].append(1.0 if epoch == 0 else abs(torch.dot(v, v0).item()))
            v2 = Vh[1]
            out["align_data_v2"].append(abs(torch.dot(v2, q.double()).item()))
            out["align_residue_v2"].append(abs(torch.dot(v2, xbr).item()) / xbr.norm().item())
            out["align_residue_step"].append(
                math.nan if xr_prev is None else abs(torch.dot(xr, xr_prev).item()) / (xr.norm() * xr_prev.norm()).item())
            if epoch == 0:
                v0 = v
            v_prev, xr_prev = v, xr
            weights.append(W.detach().clone())
    with torch.no_grad():
        gamma = gamma_nb ** 2
        a_star = torch.linalg.pinv(gamma * act(X @ W.T)) @ y
        refit = torch.mean((gamma * act(Xt @ W.T) @ a_star - yt) ** 2).item()
    return out, weights, refit


def compare(label, got, want, tol):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return [f"{label}: shape {got.shape} in the file, {want.shape} in the reference"]
    rel, abs_ = tol
    both_nan = np.isnan(got) & np.isnan(want)
    err = np.abs(got - want)
    bound = abs_ + rel * np.abs(want)
    bad = ~both_nan & ~(err <= bound)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err - bound, -np.inf)), bad.shape)
        return [f"{label}: {bad.sum()} of {bad.size} values outside |err| <= {abs_:g} + {rel:g}|ref|; "
                f"worst at {tuple(int(j) for j in i)}: file {got[i]!r}, reference {want[i]!r}"]
    print(f"  ok {label}: max |err| {np.nanmax(err) if err.size else 0:.3g} (bound {abs_:g} + {rel:g}|ref|)")
    return []


def main(path):
    failures = []
    with h5py.File(path, "r") as f:
        precision = f.attrs["precision"]
        tol = TOLERANCES[precision]
        dtype = torch.float32 if precision == "float32" else torch.float64
        print(f"{path}: precision {precision}, status {f['status'][()].decode().rstrip(chr(0))}")
        results = {}
        for name, g in f["runs"].items():
            inp = {k: torch.tensor(np.asarray(v), dtype=dtype) for k, v in f["inputs"][g.attrs["inputs"]].items()}
            run = {"gamma_nb": float(g.attrs["gamma_nb"]), "lr_nb": float(g.attrs["lr_nb"]),
                   "activation": g.attrs["activation"], "epochs": int(g["train_mse"].shape[0])}
            # The seed's mapping: γ = gamma_nb², η = lr_nb / gamma_nb.
            failures += compare(f"{name}.gamma", g.attrs["gamma"], run["gamma_nb"] ** 2, (1e-15, 0))
            failures += compare(f"{name}.lr", g.attrs["lr"], run["lr_nb"] / run["gamma_nb"], (1e-15, 0))
            print(f"run {name}: {run['epochs']} epochs, gamma_nb {run['gamma_nb']:.6g}, lr_nb {run['lr_nb']:.6g}")
            ref, weights, refit = train_track(inp, run, dtype)
            results[name] = weights
            for key, ds in per_epoch_series(g).items():
                if ds.ndim != 1 or key in UNREFERENCED:
                    continue
                if key not in ref:
                    failures.append(f"{name}.{key}: in the file, but no reference here computes it")
                    continue
                failures += compare(f"{name}.{key}", ds[()], ref[key], tol[TOLERANCE_KIND.get(key, "align")])
            sv_ref = np.stack(ref["grad_singular_values"])
            sv = g["grad_singular_values"][()]
            # SPEC §4: each σ_i within 1e-6·σ₁ + 1e-4·σ_i (here widened by the trajectory tolerance).
            rel, abs_ = tol["sv"]
            failures += compare(f"{name}.grad_singular_values", sv / sv_ref[:, :1], sv_ref / sv_ref[:, :1],
                                (max(rel, 1e-4), max(abs_, 1e-6)))
            failures += compare(f"{name}.grad_top_right_vector", g["grad_top_right_vector"][()],
                                np.stack(ref["grad_top_right_vector"]), tol["vector"])
            failures += compare(f"{name}.refit_test_mse", g["refit_test_mse"][()], refit, tol["refit"])
        for name, g in f["pairs"].items():
            a, b = g.attrs["run_a"], g.attrs["run_b"]
            want = [torch.rad2deg(principal_angles(wa, wb)).mean().item() for wa, wb in zip(results[a], results[b])]
            failures += compare(f"{name}.pair_mean_angle_deg", g["pair_mean_angle_deg"][()], want, tol["angle"])
    for line in failures:
        print("FAIL", line)
    print(f"{len(failures)} metric(s) outside tolerance")
    return 1 if failures else 0


if __name__ == "__main__":
    torch.set_num_threads(2)
    sys.exit(main(sys.argv[1]))
