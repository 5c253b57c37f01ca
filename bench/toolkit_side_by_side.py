#!/usr/bin/python3
"""The engine and the Spectrum_Plotting notebook's PyTorch code side by side on one machine, for
the presets `later_training` and `spectrum_at_init`: the engine runs the preset and writes its
file; the notebook's own helpers (copied below as written) then do the notebook's work on the
inputs that file holds (X, X_B, z, q, y, a, W0), in float32 like the notebook and the engine.

later_training: the notebook's "Later in Training Experiments" loop, every epoch: W's rows
renormalised (its Python loop over the rows), get_mu on 10000 fresh samples, r, G, S1, S2, S12,
E, the SVD of R, the SVD of G (on the CPU, as the notebook's `G.cpu()`), 13 of its 200-step power
iterations, the effective ranks of W and G, σ'_perp and its norm, the step W ← W − ηGᵀ.
spectrum_at_init: the notebook's "Setup and Run Triple Index Experiments" cells once per engine
cell (plain, input_noise, gradient_penalty): row renormalisation and ‖W‖, get_mu, r, G (and the
penalty cell's E2, S3, Reg), S1, S2, E, S12, R, the residual check, the five operator norms, the
SVD of R and G's singular values (np.linalg.svd, compute_uv=False). Its "Check Alignment" cells
(a second SVD of G) are left out.

The engine's time is its whole process (its start, drawing the inputs, every series of the file,
the refit, writing the file), with its own per-epoch median from `epoch_seconds`; the notebook's
is its loop or cells alone, not its data generation nor get_y: the comparison favours the notebook.
Afterwards the notebook's values are checked against the file's: as the notebook computes them
(its own fresh μ, its power method), and at epoch 0 with the file's μ, both by the power method
and exactly (torch.linalg.matrix_norm), which tells μ's sampling noise from the power method's.

usage: toolkit_side_by_side.py ENGINE [--exp later_training|spectrum_at_init|both] [--device cpu|cuda]
                               [--threads N] [--epochs E] [--json FILE]
"""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import tomllib
import warnings

import h5py
import numpy as np
import torch

PRESETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "experiments")


# --- the notebook's helper functions, as written there (its "Helper Functions" and "Later in
# Training Experiments" cells; the branches for other activations and losses left out) ----------
def activation(x, act = "relu"):
  if act == "relu":
    return torch.relu(x)
  elif act == "sigmoid":
    return torch.sigmoid(x)
  elif act == "tanh":
    return torch.tanh(x)

def activation_derivative(x, act = "relu"):
  if act == "relu":
    return (x > 0).float()
  elif act == "sigmoid":
    z = activation(x, act = act)
    return z * (1-z)
  elif act == "tanh":
    z = activation(x, act = act)
    return 1 - z**2

def activation_derivative_derivative(x, act="relu"):
    if act == "relu":
        return torch.zeros_like(x) #second derivative of relu is 0 everywhere
    elif act == "sigmoid":
        z = activation(x, act=act)
        return z * (1 - z) * (1 - 2 * z)
    elif act == "tanh":
        z = activation(x, act=act)
        return -2 * z * (1 - z**2)

def gradient_penalization_regularizer(W, X, a, gamma_m, lambda_reg, act="relu"):
    activation_deriv = activation_derivative(W @ X.T, act=act)  # (m, n)
    activation_deriv2 = activation_derivative_derivative(W @ X.T, act=act) # (m, n)
    x_norms_squared = torch.norm(X, dim=1)**2  # (n,)
    regularizer = (lambda_reg * gamma_m**2 / X.shape[0]) * (
        (a**2).reshape(-1, 1) * x_norms_squared.reshape(1, -1)  # (m, n)
        * activation_deriv * activation_deriv2  # (m, n) element-wise multiplication
    )
    return (regularizer).T  # (n,m)

def gen_data(n, d, zeta, q, alpha = 0, return_all = False):
  Sigma = torch.diag(torch.arange(1,d+1) ** (-1*alpha/2))
  X_B = torch.randn(n,d) @ Sigma
  z = torch.randn(n,1)
  if not return_all:
    return X_B + zeta * z @ q.T
  else:
    return X_B + zeta * z @ q.T, z, X_B, zeta * z @ q.T

def loss_derivative(X, W, a, y, gamma, act = "relu", loss_type = "MSE"):
  F = gamma * a.T @ activation(W @ X.T, act = act)
  if loss_type == "MSE":
    return (F - y)

def get_mu(zeta, q, W, alpha, gamma, act = "sigmoid", loss_type = "MSE", n = 10000):
  d = q.shape[0]
  X = gen_data(n, d, zeta, q, alpha)
  Z = activation_derivative(W @ X.T, act = act)
  return Z.mean(dim = 1)

def activation_derivative_perp(X, W, mu, act = "relu"):
  return activation_derivative(X @ W.T, act = act) - mu.view(1,-1)

def get_S1(X, r, a, mu):
  return X.T @ r @ (a * mu).T / X.shape[0]

def get_G(X, W, y, r, a, act = "relu", loss_type = "MSE"):
  sigma_prime = activation_derivative(X @ W.T, act = act)
  G = X.T @ ((r @ a.T) * sigma_prime)
  return G / X.shape[0]

def get_S2_small(X, X_S, mu, r, W, a, y, alpha, act = "relu", loss_type = "MSE"):
  d = q.shape[0]  # the notebook's global q: set by the functions below
  sigma_prime_perp = activation_derivative_perp(X, W, mu, act = act)
  return X_S.T @ ((r @ a.T) * sigma_prime_perp) / X_S.shape[0]

def get_E(X, X_B, W, mu, a, r, y, act = "relu", loss_type = "MSE"):
  sigma_prime_perp = activation_derivative_perp(X, W, mu, act = act)
  return X_B.T @ ((r @ a.T) * sigma_prime_perp) / X_B.shape[0]

def operator_norm(A):
  return largest_singular_value(A)

def largest_singular_value(A, num_iterations=200):
    v = torch.randn(A.shape[1], device=A.device)  # Random initialization
    v = v / torch.norm(v)
    for _ in range(num_iterations):
        u = A @ v
        v = A.T @ u
        v = v / torch.norm(v)
    return torch.norm(u)  # Largest singular value approximation

def effective_rank(matrix):
  s = torch.linalg.svdvals(matrix)
  normalized_s = s / torch.sum(s)
  entropy = -torch.sum(normalized_s * torch.log(normalized_s + 1e-8))
  return torch.exp(entropy)
# ---------------------------------------------------------------------------------------------

q = None  # the notebook's global, read by get_S2_small


def sync():
    if torch.cuda.is_available() and torch.ones(0).is_cuda:  # the default device is the GPU
        torch.cuda.synchronize()


def load(f, run):
    """The inputs of a run of the engine file `f`, as the notebook's tensors (float32, columns)."""
    global q
    g = f["runs"][run]
    inp = {k: torch.tensor(np.asarray(v), dtype=torch.float32) for k, v in f["inputs"][g.attrs["inputs"]].items()}
    cfg = tomllib.loads(f.attrs["config"])
    zeta = int(g.attrs["n"]) ** cfg["data"]["nu"]
    q = inp["q"].view(-1, 1)
    z = inp["z_train"].view(-1, 1)
    return {"X": inp["X_train"], "X_B": inp["X_bulk_train"], "X_S": zeta * z @ q.T, "z": z, "q": q,
            "y": inp["y_train"], "a": inp["a"].view(-1, 1), "W": inp["W0"].clone(), "zeta": zeta,
            "alpha": cfg["data"]["alpha"], "n_mu": cfg["decomposition"]["n_mu"], "act": g.attrs["activation"],
            "gamma": float(g.attrs["gamma"]), "eta": float(g.attrs["lr"]),
            "lam": float(g.attrs.get("gradient_penalty", 0.0)), "file_mu": g["mu"][0]}


def later_training(f, epochs):
    """The notebook's later-training loop on the run `tanh`; returns its seconds per epoch and
    its recorded series (named as the engine's)."""
    I = load(f, "tanh")
    X, X_B, X_S, z, q, y, a, W = (I[k] for k in ("X", "X_B", "X_S", "z", "q", "y", "a", "W"))
    m, M = W.shape[0], epochs
    zeta, alpha, gamma, eta, act, loss_type = I["zeta"], I["alpha"], I["gamma"], I["eta"], I["act"], "MSE"  # zeta: n**nu
    S1_norm, S2_norm, S12_norm, E_norm, R_norm, W_norm, SPP_norm, avg_error, energy_G, energy_W, betas, \
        mu_min, mu_max, mu_norm, r_max, r_norm, effective_rank_W, effective_rank_G, \
        u1_alignment, u2_alignment, u3_alignment, S1_E, S2_E, S12_E = (torch.zeros(M) for _ in range(24))
    seconds = []
    sync()
    for t in range(M):
      t0 = time.perf_counter()
      for i in range(m):
        W[i,:] /= torch.norm(W[i,:])
      mu = get_mu(zeta, q, W, alpha, gamma, act = act, n = I["n_mu"]).view(-1,1)
      r = loss_derivative(X, W, a, y, gamma, act = act, loss_type = loss_type).view(-1,1)
      G = gamma * get_G(X, W, y, r, a, act = act, loss_type = loss_type)
      S1 = gamma * get_S1(X_B, r, a, mu)
      S2 = gamma * get_S2_small(X, X_S, mu, r, W, a, y, alpha, act = act, loss_type = loss_type)
      S12 = gamma * get_S1(X_S, r, a, mu)
      E = gamma * get_E(X, X_B, W, mu, a, r, y, act = act, loss_type = loss_type)
      R = S1+S12+S2
      U,S,Vh = torch.linalg.svd(R)
      R_norm[t] = S[0]  # (not the notebook's: the engine's opnorm_R, for the check)
      u1 = (X_B.T @ r)/(torch.norm(X_B.T @ r))
      u2 = q
      u3 = (X_B.T @ y.view(-1,1))/ (torch.norm(X_B.T @ y.view(-1,1)))
      energy_G[t] = (U[:,:2] @ U[:,:2].T @ G).norm()/G.norm()
      energy_W[t] = (U[:,:2] @ U[:,:2].T @ W.T).norm()/W.norm()
      u = torch.linalg.svd(G.cpu())[0][:,0]
      u1_alignment[t] = (u.T @ u1.cpu()).abs()
      u2_alignment[t] = (u.T @ u2.cpu()).abs()
      u3_alignment[t] = (u.T @ u3.cpu()).abs()
      S1_E[t] = (operator_norm(S1)/operator_norm(E)).cpu()
      S12_E[t] = (operator_norm(S12)/operator_norm(E)).cpu()
      S2_E[t] = (operator_norm(S2)/operator_norm(E)).cpu()
      betas[t] += (z.T @ r / (torch.norm(r)*torch.norm(z))).abs().item()
      mu_min[t] = mu.abs().min()
      mu_max[t] = mu.abs().max()
      mu_norm[t] = mu.norm()
      r_max[t] = r.abs().max()
      r_norm[t] = r.norm()
      S1_norm[t] = operator_norm(S1)
      S2_norm[t] = operator_norm(S2)
      S12_norm[t] = operator_norm(S12)
      E_norm[t] = operator_norm(E)
      W_norm[t] = operator_norm(W)
      effective_rank_W[t] = effective_rank(W)
      effective_rank_G[t] = effective_rank(G)
      spp = activation_derivative_perp(X, W, mu, act = act)
      SPP_norm[t] = operator_norm(spp)
      avg_error[t] = (operator_norm(G - S1 - S12 - S2))
      W = W - eta*G.T
      sync()
      seconds.append(time.perf_counter() - t0)
    series = {"opnorm_S1": S1_norm, "opnorm_S2": S2_norm, "opnorm_S12": S12_norm, "opnorm_E": E_norm,
              "opnorm_R": R_norm, "w_opnorm": W_norm[1:], "opnorm_sigma_prime_perp": SPP_norm,
              "effective_rank_weights": effective_rank_W, "effective_rank_grad": effective_rank_G,
              "mu_norm": mu_norm, "mu_abs_min": mu_min, "mu_abs_max": mu_max, "residual_norm": r_norm,
              "residual_max": r_max, "cos_z_residual": betas, "energy_grad_R2": energy_G,
              "energy_weights_R2": energy_W, "align_residue": u1_alignment, "align_data": u2_alignment,
              "align_label": u3_alignment}
    return seconds, {k: v.cpu().double().numpy() for k, v in series.items()}


def spectrum_at_init(f):
    """The notebook's triple-index cells once per engine cell; returns the seconds of each and the
    values (named as the engine's series, at epoch 0)."""
    seconds, values = {}, {}
    for run in (r["name"] for r in tomllib.loads(f.attrs["config"])["runs"]):  # the preset's order
        I = load(f, run)
        X, X_B, X_S, q, y, a, W = (I[k] for k in ("X", "X_B", "X_S", "q", "y", "a", "W"))
        m = W.shape[0]
        zeta, alpha, gamma, act, loss_type = I["zeta"], I["alpha"], I["gamma"], I["act"], "MSE"  # zeta: n**nu
        sync()
        t0 = time.perf_counter()
        for i in range(m):
          W[i,:] /= torch.norm(W[i,:])
        operator_norm(W)
        mu = get_mu(zeta, q, W, alpha, gamma, act = act, n = I["n_mu"]).view(-1,1)
        r = loss_derivative(X, W, a, y, gamma, act = act, loss_type = loss_type).view(-1,1)
        G = gamma * get_G(X, W, y, r, a, act = act, loss_type = loss_type)
        if I["lam"]:  # its "Uncomment for gradient penalty regularization" cell (λ: its noise_level)
          E2 = X_B.T @ gradient_penalization_regularizer(W, X, a, gamma, I["lam"], act = act)
          S3 = X_S.T @ gradient_penalization_regularizer(W, X, a, gamma, I["lam"], act = act)
          Reg = X.T @ gradient_penalization_regularizer(W, X, a, gamma, I["lam"], act = act)
          G = G + Reg
        S1 = gamma * get_S1(X_B, r, a, mu)
        S2 = gamma * get_S2_small(X, X_S, mu, r, W, a, y, alpha, act = act, loss_type = loss_type)
        E = gamma * get_E(X, X_B, W, mu, a, r, y, act = act, loss_type = loss_type)
        S12 = gamma * get_S1(X_S, r, a, mu)
        R = S1+S12+S2
        (G - R - E).norm()/G.norm()
        norms = [operator_norm(A).cpu().item() for A in (G, S1, S12, S2, E)]
        R = S1+S12+S2 + (S3 if I["lam"] else 0)
        U,S,Vh = torch.linalg.svd(R)
        G_singular_values = np.linalg.svd(G.cpu().numpy(), compute_uv=False)
        sync()
        seconds[run] = time.perf_counter() - t0
        values[run] = dict(zip(("grad_sv0", "opnorm_S1", "opnorm_S12", "opnorm_S2", "opnorm_E"), norms),
                           opnorm_R=S[0].item(),
                           grad_sv0_svd=float(G_singular_values[0]))
    return seconds, values


def epoch0_check(f, run):
    """The decomposition at W0 with the file's μ (epoch 0): by the notebook's power method and
    exactly, so that the file's values can be told from μ's sampling noise. (The file's w_opnorm
    is ‖W1‖, after the step and the renormalisation, as the seed's; the penalty's gradient, zero
    for relu, is left out of that step.)"""
    I = load(f, run)
    X, X_B, X_S, y, a, W, gamma, act = (I[k] for k in ("X", "X_B", "X_S", "y", "a", "W", "gamma", "act"))
    W = W / torch.norm(W, dim=1, keepdim=True)
    mu = torch.tensor(I["file_mu"]).view(-1, 1)
    r = loss_derivative(X, W, a, y, gamma, act=act).view(-1, 1)
    S1, S12 = gamma * get_S1(X_B, r, a, mu), gamma * get_S1(X_S, r, a, mu)
    S2 = gamma * get_S2_small(X, X_S, mu, r, W, a, y, 0, act=act)
    E = gamma * get_E(X, X_B, W, mu, a, r, y, act=act)
    W1 = W - I["eta"] * gamma * get_G(X, W, y, r, a, act=act).T
    mats = {"opnorm_S1": S1, "opnorm_S12": S12, "opnorm_S2": S2, "opnorm_E": E, "opnorm_R": S1 + S12 + S2,
            "w_opnorm": W1 / torch.norm(W1, dim=1, keepdim=True),
            "opnorm_sigma_prime_perp": activation_derivative_perp(X, W, mu, act=act)}
    return ({k: operator_norm(A).item() for k, A in mats.items()},
            {k: torch.linalg.matrix_norm(A.double(), 2).item() for k, A in mats.items()})


def compare(label, file_series, columns):
    """Prints the largest relative difference |notebook − file| / |file| over the epochs of each
    series, one column each; returns them."""
    out = {}
    print(f"{label}: max |notebook - file| / |file|")
    print(f"  {'series':26s}" + "".join(f"{c:>24s}" for c in columns))
    for key in next(iter(columns.values())):
        want = np.atleast_1d(file_series(key)).astype(np.float64)
        rel = {c: float(np.max(np.abs(np.atleast_1d(v[key]) - want) / np.abs(want), initial=0))
               for c, v in columns.items() if key in v}
        print(f"  {key:26s}" + "".join(f"{rel[c]:24.2e}" if c in rel else f"{'':24s}" for c in columns))
        out[key] = rel
    return out


def run_engine(engine, exp, out, device, threads, *extra):
    """Runs `engine --exp EXP` into `out`; returns its wall time, its thread count (its first line),
    the summary's `time:` line and each run's epoch_seconds."""
    args = [engine, "--exp", exp, "--device", device, "--out", out, "--force", "--threads", str(threads), *extra]
    t0 = time.perf_counter()
    p = subprocess.run(args, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    m = re.search(r" on (\S+) \((\d+) threads\)", p.stderr)
    with h5py.File(out, "r") as f:
        return {"wall_s": wall, "device": f.attrs["device"], "threads": int(m.group(2)) if m else None,
                "times": next((ln for ln in p.stdout.splitlines() if ln.startswith("time: ")), ""),
                "epoch_seconds": {r: f[f"runs/{r}/epoch_seconds"][()].tolist() for r in f["runs"]}}


def row(name, mine, theirs):
    print(f"{name:34s} {mine * 1e3:10.1f}ms {theirs * 1e3:10.1f}ms {theirs / mine:11.1f}x")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("engine")
    p.add_argument("--exp", default="both", choices=("later_training", "spectrum_at_init", "both"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for both (default: all cores)")
    p.add_argument("--epochs", type=int, default=0, help="later_training's epochs (default: the preset's 100)")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()

    warnings.filterwarnings("ignore", message="The use of `x.T`")  # the notebook's u.T on a vector
    torch.set_num_threads(args.threads)
    if args.device == "cuda":  # the notebook's torch.set_default_device('cuda')
        if hasattr(torch, "set_default_device"):
            torch.set_default_device("cuda")
        else:
            torch.set_default_tensor_type(torch.cuda.FloatTensor)
    torch.manual_seed(0)
    report = {"device": args.device, "threads": args.threads, "torch_threads": torch.get_num_threads()}
    header = f"{'':34s} {'engine':>12s} {'notebook':>12s} {'nb/engine':>12s}"
    with tempfile.TemporaryDirectory() as tmp:
        if args.exp in ("later_training", "both"):
            out = os.path.join(tmp, "later_training.h5")
            eng = run_engine(args.engine, "later_training", out, args.device, args.threads,
                             *(["--epochs", str(args.epochs)] if args.epochs else []))
            with h5py.File(out, "r") as f:
                e = int(f["runs/tanh/epoch"].shape[0])
                seconds, series = later_training(f, e)
                # the file's w_opnorm[t] is ‖W_{t+1}‖ (after the step): the notebook's W_norm[t + 1]
                check = compare("later_training, every epoch (notebook: its fresh mu, its power method)",
                                lambda k: f[f"runs/tanh/{k}"][:e - (k == "w_opnorm")], {"as run": series})
                power, exact = epoch0_check(f, "tanh")
                check0 = compare("later_training, epoch 0 with the file's mu",
                                 lambda k: f[f"runs/tanh/{k}"][0], {"power (200 steps)": power, "exact": exact})
            es, ns = np.median(eng["epoch_seconds"]["tanh"]), np.median(seconds)
            preset = tomllib.load(open(os.path.join(PRESETS, "later_training.toml"), "rb"))["epochs"]
            proj_e, proj_n = eng["wall_s"] + (preset - e) * es, ns * preset
            print(f"\nlater_training, {e} epochs, engine on {eng['device']} ({eng['threads']} threads); "
                  f"notebook: PyTorch, {torch.get_num_threads()} threads, {args.device}")
            print(header)
            row("per epoch (median)", es, ns)
            row(f"whole ({e} epochs; engine: process)", eng["wall_s"], sum(seconds))
            if e != preset:
                row(f"projected to {preset} epochs", proj_e, proj_n)
            print(f"engine {eng['times']}")
            report["later_training"] = {"epochs": e, "engine": eng, "notebook_epoch_seconds": seconds,
                                        "engine_epoch_median_s": es, "notebook_epoch_median_s": ns,
                                        "projected": {"epochs": preset, "engine_s": proj_e, "notebook_s": proj_n},
                                        "check": check, "check_epoch0_file_mu": check0}
        if args.exp in ("spectrum_at_init", "both"):
            out = os.path.join(tmp, "spectrum_at_init.h5")
            eng = run_engine(args.engine, "spectrum_at_init", out, args.device, args.threads)
            with h5py.File(out, "r") as f:
                seconds, values = spectrum_at_init(f)
                check = {}
                for run in values:
                    sv = lambda k: f[f"runs/{run}/grad_singular_values"][0, 0] if k.startswith("grad_sv0") \
                        else f[f"runs/{run}/{k}"][0]  # noqa: E731
                    power, exact = epoch0_check(f, run)
                    check[run] = compare(f"spectrum_at_init, cell {run}", sv,
                                         {"as run": values[run], "power, file mu": power, "exact, file mu": exact})
            cells = list(seconds.values())
            print(f"\nspectrum_at_init, {len(cells)} cells, engine on {eng['device']} ({eng['threads']} threads); "
                  f"notebook: PyTorch, {torch.get_num_threads()} threads, {args.device}")
            print(header)
            es = [s[0] for s in eng["epoch_seconds"].values()]
            row("per cell (median; engine: its epoch)", np.median(es), np.median(cells))
            row("whole (engine: process)", eng["wall_s"], sum(cells))
            print(f"engine {eng['times']}")
            report["spectrum_at_init"] = {"engine": eng, "notebook_cell_seconds": seconds, "check": check}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=float)


if __name__ == "__main__":
    main()
