#!/usr/bin/python3
"""Independent reference for SPEC §9's decomposition of the gradient and its regularisers.

Writes small triple-index configurations (the Spectrum_Plotting notebook's later-training
setting: half_mse, a binary_unit, γ = 1/k, η = k), runs the engine on them in float64 and in
float32, then re-runs the notebook's later-training loop in PyTorch in the same precision: its
helper functions as written there (get_G, get_S1, get_S2_small, get_E,
activation_derivative_perp, effective_rank, gradient_penalization_regularizer), from the inputs
and the μ the engine wrote, with the engine's step (W ← W − η∇, rows w_j / (‖w_j‖ + 1e-8)). Every
recorded decomposition series is recomputed from those d×k matrices with dense SVDs and compared
with the file; μ itself is checked against σ'(X W_tᵀ) (mu_source = "train") or against its
expectation under the data model (mu_source = "fresh").

usage: reference_decomposition.py ENGINE
"""
import math
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch

# The series SPEC §4 defines are checked by reference_torch.py; every other scalar series in a
# file here must have a reference below, so that a new one cannot go unchecked.
SECTION4 = {"test_mse", "w_opnorm", "energy", "align_data", "align_residue", "align_initial",
            "align_residue_step", "align_data_v2", "align_residue_v2", "epoch_seconds"}

# Tolerances per working precision. float32 runs are retrained here in float32, so the two
# trajectories differ by rounding amplified over the epochs; float64 ones agree far more closely.
# "value": (relative, absolute floor); "vector": absolute, for what is built from a singular vector
# or from V₂ (|cosines| and energies: the signs are arbitrary); "residual": a bound on the file's
# decomposition_residual alone; "mu_train": absolute, μ against σ'(X W_tᵀ)'s column means.
TOLERANCES = {"float64": {"value": (1e-10, 1e-13), "vector": 1e-10, "residual": 1e-12, "mu_train": 1e-12},
              "float32": {"value": (1e-4, 1e-6), "vector": 1e-4, "residual": 1e-5, "mu_train": 1e-5}}
VECTOR_SERIES = {"align_R_u1", "align_R_u2", "R_v1_data", "R_v1_residue", "R_v2_data", "R_v2_residue",
                 "energy_grad_R2", "energy_weights_R2", "align_label", "align_teacher"}
# SPEC §4's bound on each singular value of ∇: 1e-6·σ₁ + 1e-4·σᵢ (the engine takes them from a Gram matrix).
SPECTRUM_TOLERANCE = (1e-4, 1e-6)
# effective_rank_grad is computed from those recorded singular values: where ∇ is rank-deficient
# (binary a leaves many units dead) its exact zeros come out near 1e-8·σ₁, and −p log(p + 1e-8)
# has slope ~18 at p = 0, so the rank carries ~1e-6 relative of the Gram method's rounding.
EFFECTIVE_RANK_GRAD_RELATIVE = 2e-6

# The configurations: the notebook's later-training loop at a small size; each file is run in
# both precisions. Regularisers are model-wide, hence one file each.
N_MU, NU = 2000, 0.75
BASE = f"""experiment = "reference_decomposition"
seed = 7
epochs = 6
pairs = []
[data]
d = 80
n = 60
nu = {NU}
[model]
k = 70
a_init = "binary_unit"
loss = "half_mse"
{{model}}
[decomposition]
every = 1
n_mu = {N_MU}
mu_source = "{{mu_source}}"
[output]
heavy_every = 1
[[inputs]]
name = "main"
teacher = "triple_index"
"""
RUN = """[[runs]]
name = "{name}"
activation = "{act}"
gamma = {{ scale = 1.0, k_power = -1 }}
lr = {{ scale = 1.0, k_power = 1 }}
"""
CONFIGS = {  # name: (model lines, mu_source, {run: activation}, weight_decay, gradient_penalty)
    "plain": ("", "fresh", {"tanh": "tanh", "relu": "relu"}, 0.0, 0.0),
    "penalty": ("gradient_penalty = 0.5", "train", {"tanh_gp": "tanh"}, 0.0, 0.5),
    "decay": ("weight_decay = 0.005", "train", {"sigmoid_wd": "sigmoid"}, 0.005, 0.0),
}


# --- the notebook's helper functions, as written there (G is d×m: the engine's ∇ transposed) --
def activation(x, act="relu"):
    return {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[act](x)


def activation_derivative(x, act="relu"):
    if act == "relu":
        return (x > 0).to(x.dtype)  # the notebook's .float() would drop float64 to float32
    z = activation(x, act=act)
    return z * (1 - z) if act == "sigmoid" else 1 - z ** 2


def activation_derivative_derivative(x, act="relu"):
    if act == "relu":
        return torch.zeros_like(x)
    z = activation(x, act=act)
    return z * (1 - z) * (1 - 2 * z) if act == "sigmoid" else -2 * z * (1 - z ** 2)


def gradient_penalization_regularizer(W, X, a, gamma_m, lambda_reg, act="relu"):
    activation_deriv = activation_derivative(W @ X.T, act=act)  # (m, n)
    activation_deriv2 = activation_derivative_derivative(W @ X.T, act=act)  # (m, n)
    x_norms_squared = torch.norm(X, dim=1) ** 2  # (n,)
    regularizer = (lambda_reg * gamma_m ** 2 / X.shape[0]) * (
        (a ** 2).reshape(-1, 1) * x_norms_squared.reshape(1, -1) * activation_deriv * activation_deriv2)
    return regularizer.T  # (n, m); its gradient is X.T @ this


def loss_derivative(X, W, a, y, gamma, act="relu"):  # loss_type "MSE": the half MSE's F − y
    F = gamma * a.T @ activation(W @ X.T, act=act)
    return F - y


def activation_derivative_perp(X, W, mu, act="relu"):
    return activation_derivative(X @ W.T, act=act) - mu.view(1, -1)


def get_S1(X, r, a, mu):
    return X.T @ r @ (a * mu).T / X.shape[0]


def get_G(X, W, y, r, a, act="relu"):
    return X.T @ ((r @ a.T) * activation_derivative(X @ W.T, act=act)) / X.shape[0]


def get_S2_small(X, X_S, mu, r, W, a, act="relu"):
    return X_S.T @ ((r @ a.T) * activation_derivative_perp(X, W, mu, act=act)) / X_S.shape[0]


def get_E(X, X_B, W, mu, a, r, act="relu"):
    return X_B.T @ ((r @ a.T) * activation_derivative_perp(X, W, mu, act=act)) / X_B.shape[0]


def effective_rank(matrix):
    s = torch.linalg.svdvals(matrix)
    normalized_s = s / torch.sum(s)
    entropy = -torch.sum(normalized_s * torch.log(normalized_s + 1e-8))
    return torch.exp(entropy)
# ---------------------------------------------------------------------------------------------


def gradient_penalty(W, X, a, gamma, lam, act):
    """SPEC §9's penalty (λγ²/2n) Σ_i ‖x_i‖² Σ_j a_j² σ'(w_jᵀx_i)², whose gradient the notebook's
    regularizer gives."""
    sp = activation_derivative(X @ W.T, act)  # (n, m)
    return lam * gamma ** 2 / (2 * X.shape[0]) * ((X ** 2).sum(1) @ (sp ** 2 @ a.view(-1) ** 2))


def fresh_mu_moments(W, q, zeta, act):
    """E and Var of σ'(wᵀx) for x of the data model (α = 0, no input noise): wᵀx ~ N(0, s²) with
    s² = ‖w‖² + ζ²(wᵀq)²; by the trapezoid rule on a fine grid of the standard normal."""
    g = torch.linspace(-10, 10, 40001, dtype=torch.float64)
    phi = torch.exp(-g ** 2 / 2) / math.sqrt(2 * math.pi) * (g[1] - g[0])
    s = torch.sqrt((W ** 2).sum(1) + zeta ** 2 * (W @ q) ** 2)
    sp = activation_derivative(s[:, None] * g[None, :], act)
    mean = sp @ phi
    return mean, (sp ** 2) @ phi - mean ** 2


def notebook_loop(inp, run, mus, dtype):
    """The notebook's later-training loop for one run; returns {series: per-epoch values}."""
    X, y, XB, q = inp["X_train"], inp["y_train"].view(1, -1), inp["X_bulk_train"], inp["q"]
    z, beta, a, W = inp["z_train"].view(-1, 1), inp["beta"], inp["a"].view(-1, 1), inp["W0"].clone()
    X_S = X - XB  # ζ z qᵀ, as the engine built X
    act, gamma, eta, wd, gp = run["activation"], run["gamma"], run["lr"], run["weight_decay"], run["gradient_penalty"]
    out, v_prev = {}, None
    for t in range(run["epochs"]):
        mu = torch.tensor(mus[t], dtype=dtype).view(-1, 1)  # the engine's μ at W_t
        r = loss_derivative(X, W, a, y, gamma, act=act).view(-1, 1)
        G = gamma * get_G(X, W, y, r, a, act=act)
        Reg = X.T @ gradient_penalization_regularizer(W, X, a, gamma, gp, act=act) + wd * W.T
        G = G + Reg
        S1 = gamma * get_S1(XB, r, a, mu)
        S2 = gamma * get_S2_small(X, X_S, mu, r, W, a, act=act)
        S12 = gamma * get_S1(X_S, r, a, mu)
        E = gamma * get_E(X, XB, W, mu, a, r, act=act)
        R = S1 + S12 + S2  # SPEC §9: the penalty's S3 stays out of R (the notebook's comment adds it)
        U, S, _ = torch.linalg.svd(R)
        UG, SG, _ = torch.linalg.svd(G)
        u = UG[:, 0]  # v_t, in the engine's sign convention (SPEC §4)
        u = u if (torch.dot(u, v_prev) >= 0 if v_prev is not None else u[u.abs().argmax()] > 0) else -u
        v_prev = u
        spp = activation_derivative_perp(X, W, mu, act=act)
        xbr, xby = (XB.T @ r).flatten(), (XB.T @ y.view(-1, 1)).flatten()
        penalty = gradient_penalty(W, X, a, gamma, gp, act)
        vals = {
            "mu_abs_min": mu.abs().min(), "mu_abs_max": mu.abs().max(), "mu_norm": mu.norm(),
            "opnorm_S1": torch.linalg.matrix_norm(S1, 2), "opnorm_S12": torch.linalg.matrix_norm(S12, 2),
            "opnorm_S2": torch.linalg.matrix_norm(S2, 2), "opnorm_E": torch.linalg.matrix_norm(E, 2),
            "opnorm_R": S[0], "sigma2_R": S[1], "opnorm_grad": torch.linalg.matrix_norm(G, 2),
            "energy_grad_R2": (U[:, :2] @ U[:, :2].T @ G).norm() / G.norm(),
            "energy_weights_R2": (U[:, :2] @ U[:, :2].T @ W.T).norm() / W.norm(),
            "effective_rank_grad": effective_rank(G), "effective_rank_weights": effective_rank(W),
            "residual_max": r.abs().max(), "residual_norm": r.norm(),
            "cos_z_residual": (z.T @ r / (torch.norm(r) * torch.norm(z))).abs().squeeze(),
            "opnorm_sigma_prime_perp": torch.linalg.matrix_norm(spp, 2),
            "align_label": (u @ xby).abs() / xby.norm(), "align_teacher": (u @ beta).abs() / beta.norm(),
            "align_R_u1": (u @ U[:, 0]).abs(), "align_R_u2": (u @ U[:, 1]).abs(),
            "R_v1_data": (U[:, 0] @ q).abs(), "R_v1_residue": (U[:, 0] @ xbr).abs() / xbr.norm(),
            "R_v2_data": (U[:, 1] @ q).abs(), "R_v2_residue": (U[:, 1] @ xbr).abs() / xbr.norm(),
            "train_mse": ((r ** 2).mean() / 2 + wd / 2 * W.norm() ** 2 + penalty),
            "loss_weight_decay": wd / 2 * W.norm() ** 2, "loss_gradient_penalty": penalty,
            "decomposition_residual": (G - R - E - Reg).norm() / G.norm(),
            "grad_singular_values": SG, "grad_top_right_vector": u,
        }
        if run["mu_source"] == "train":
            vals["mu_train"] = activation_derivative(X @ W.T, act).mean(0)
        else:
            vals["mu_expect"], vals["mu_var"] = fresh_mu_moments(W.double(), q.double(), run["zeta"], act)
        if t == 0 and gp > 0:  # the notebook's penalty gradient is the penalty's gradient (autograd)
            Wg = W.clone().requires_grad_(True)
            gradient_penalty(Wg, X, a, gamma, gp, act).backward()
            vals["penalty_autograd"] = (Wg.grad.T - (Reg - wd * W.T)).norm() / max(Wg.grad.norm(), 1e-300)
        for key, v in vals.items():
            out.setdefault(key, []).append(v.detach().double().numpy() if torch.is_tensor(v) else v)
        W = W - eta * G.T  # the engine's step and row normalisation
        W = W / (torch.norm(W, dim=1, keepdim=True) + 1e-8)
    return {key: np.array(v) for key, v in out.items()}


def compare(label, got, want, rel, abs_):
    """Elementwise |got − want| <= abs_ + rel·|want| (abs_ may be an array); prints the max errors."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return [f"{label}: shape {got.shape} in the file, {want.shape} in the reference"]
    err, bound = np.abs(got - want), abs_ + rel * np.abs(want)
    nonzero = np.abs(want) > 0
    relerr = np.max(err[nonzero] / np.abs(want[nonzero]), initial=0)
    line = f"{label}: max |err| {err.max():.3g}, max rel err {relerr:.3g} (tolerance {np.max(abs_):.3g} + {rel:g}|ref|)"
    if not (err <= bound).all():
        i = np.unravel_index(np.argmax(np.where(err <= bound, -np.inf, err - bound)), err.shape)
        return [f"{line}; worst at {tuple(int(j) for j in i)}: file {got[i]!r}, reference {want[i]!r}"]
    print("  ok", line)
    return []


def check_file(path, precision, cfg):
    _, mu_source, _, wd, gp = cfg
    tol = TOLERANCES[precision]
    rel, abs_ = tol["value"]
    dtype = torch.float64 if precision == "float64" else torch.float32
    failures = []
    with h5py.File(path, "r") as f:
        for name, g in f["runs"].items():
            inp = {k: torch.tensor(np.asarray(v), dtype=dtype) for k, v in f["inputs"][g.attrs["inputs"]].items()}
            run = {"activation": g.attrs["activation"], "gamma": float(g.attrs["gamma"]), "lr": float(g.attrs["lr"]),
                   "epochs": int(g["train_mse"].shape[0]), "weight_decay": wd, "gradient_penalty": gp,
                   "mu_source": mu_source, "zeta": inp["X_train"].shape[0] ** NU}
            label = lambda key: f"{precision}.{name}.{key}"  # noqa: E731
            print(f"{precision} run {name}: {run['activation']}, mu_source {mu_source}, weight_decay {wd}, "
                  f"gradient_penalty {gp}")
            # The stored inputs are one spiked data set: X − X_B = ζ z qᵀ.
            X_S = run["zeta"] * torch.outer(inp["z_train"], inp["q"])
            failures += compare(label("X_train - X_bulk_train (= zeta z q^T)"),
                                (inp["X_train"] - inp["X_bulk_train"] - X_S).norm() / X_S.norm(), 0, 0,
                                100 * torch.finfo(dtype).eps)
            mu = g["mu"][()]  # (epochs, k): output.heavy_every = 1
            ref = notebook_loop(inp, run, mu, dtype)
            for key, ds in g.items():  # every scalar per-epoch series of the run
                if not (isinstance(ds, h5py.Dataset) and ds.maxshape and ds.maxshape[0] is None and ds.ndim == 1
                        and ds.attrs.get("CLASS") != b"DIMENSION_SCALE") or key in SECTION4:
                    continue
                if key not in ref:
                    failures.append(f"{label(key)}: in the file, but no reference here computes it")
                elif key == "decomposition_residual":  # rounding: a bound, not a comparison
                    failures += compare(label(key), ds[()], np.zeros(ds.shape), 0, tol["residual"])
                elif key in VECTOR_SERIES:
                    failures += compare(label(key), ds[()], ref[key], 0, tol["vector"])
                elif key == "effective_rank_grad":
                    failures += compare(label(key), ds[()], ref[key], max(rel, EFFECTIVE_RANK_GRAD_RELATIVE), abs_)
                elif key == "sigma2_R":  # a singular value: within rel·σ₁(R) as well as rel·σ₂
                    failures += compare(label(key), ds[()], ref[key], rel, abs_ + rel * ref["opnorm_R"])
                else:
                    failures += compare(label(key), ds[()], ref[key], rel, abs_)
            for key, lam in (("loss_weight_decay", wd), ("loss_gradient_penalty", gp)):
                if lam > 0 and key not in g:
                    failures.append(f"{label(key)}: missing with the regulariser on")
            # ∇'s spectrum (regularisers included) within SPEC §4's bound, and its vector v_t.
            sv = ref["grad_singular_values"]
            failures += compare(label("grad_singular_values"), g["grad_singular_values"][()], sv,
                                SPECTRUM_TOLERANCE[0], SPECTRUM_TOLERANCE[1] * sv[:, :1])
            failures += compare(label("grad_top_right_vector"), g["grad_top_right_vector"][()],
                                ref["grad_top_right_vector"], 0, tol["vector"])
            if gp > 0:  # internal: the notebook's penalty gradient is the penalty's gradient (autograd)
                failures += compare(label("penalty gradient (notebook vs autograd)"), ref["penalty_autograd"],
                                    np.zeros(1), 0, 1e-12 if precision == "float64" else 1e-5)
            # μ: within σ''s range; "train": the column means of σ'(X W_tᵀ); "fresh": the means over
            # n_mu = 2000 samples of the data model, each within 5 standard errors of its expectation
            # (this also tells them from the training set's means, n = 60, which miss it by ~√(2000/60)
            # ≈ 6 standard errors; for relu E σ' = ½ whatever ζ, the tanh run checks the spike).
            lo, hi = {"relu": (0, 1), "tanh": (0, 1), "sigmoid": (0, 0.25)}[run["activation"]]
            if not ((mu >= lo) & (mu <= hi)).all():
                failures.append(f"{label('mu')}: outside σ''s range [{lo}, {hi}]: {mu.min()} .. {mu.max()}")
            if mu_source == "train":
                failures += compare(label("mu (training-set means)"), mu, ref["mu_train"], 0, tol["mu_train"])
            else:
                zscore = np.abs(mu - ref["mu_expect"]) / np.sqrt(ref["mu_var"] / N_MU)
                line = f"{label('mu (fresh)')}: max |μ − E μ| / s.e. {zscore.max():.3g} (tolerance 5)"
                if zscore.max() > 5:
                    failures.append(line)
                else:
                    print("  ok", line)
    return failures


def main(engine):
    torch.set_num_threads(2)
    failures = []
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for cname, cfg in CONFIGS.items():
            model, mu_source, runs, _, _ = cfg
            toml = os.path.join(tmp, f"{cname}.toml")
            with open(toml, "w") as f:
                f.write(BASE.format(model=model, mu_source=mu_source)
                        + "".join(RUN.format(name=r, act=act) for r, act in runs.items()))
            for precision in ("float64", "float32"):
                path = os.path.join(tmp, f"{cname}_{precision}.h5")
                proc = subprocess.run([engine, "--config", toml, "--precision", precision, "--out", path,
                                       "--quiet", "--checkpoint-every", "0"], capture_output=True, text=True)
                if proc.returncode != 0:
                    failures.append(f"{cname} {precision}: engine exit {proc.returncode}: {proc.stderr.strip()}")
                    continue
                failures += check_file(path, precision, cfg)
    for line in failures:
        print("FAIL", line)
    print(f"{len(failures)} check(s) failed ({time.time() - start:.1f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
