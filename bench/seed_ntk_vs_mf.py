#!/usr/bin/python3
"""Times the seed's own code for the work of `engine --exp ntk_vs_mf`, on the same inputs.

The seed's run_exp_and_plot_ntk: train_track for the NTK and the MF run (forward, backward,
step, renormalisation, full SVD of the gradient, 200-step power iteration for ||W||, test loss,
relative_projection_norm each epoch, the pinv refit), then angles_plot's principal_angles for
every epoch. The functions are the seed's, copied unchanged but for the plotting and the
`.to('cuda')`; inputs come from an engine file so both programs do the same work.

usage: seed_ntk_vs_mf.py ENGINE_FILE.h5 [--threads N] [--device cpu|cuda]
"""
import argparse
import time

import h5py
import numpy as np
import torch


def network_forward(X_input, W_layer, a_vec, activation_fn, gamma):
    Z = W_layer @ X_input.T
    H = activation_fn(Z)
    y_pred_transposed = gamma * a_vec.T @ H
    y_pred = y_pred_transposed.T
    return gamma * y_pred


def largest_singular_value(A, num_iterations=200):
    v = torch.randn(A.shape[1], device=A.device)
    v = v / torch.norm(v)
    for _ in range(num_iterations):
        u = A @ v
        v = A.T @ u
        v = v / torch.norm(v)
    return torch.norm(u)


def relative_projection_norm(W, X, y, q):
    if y.ndim == 1:
        y = y.unsqueeze(1)
    if q.ndim == 1:
        q = q.unsqueeze(1)
    v1 = X.T @ y
    vec_list = [v for v in [v1, q] if torch.linalg.norm(v) > 1e-9]
    basis_mat = torch.cat(vec_list, dim=1)
    Q, _ = torch.linalg.qr(basis_mat, mode="reduced")
    norm_proj = torch.linalg.norm(W @ Q)
    norm_W = torch.linalg.norm(W)
    return (norm_proj / norm_W).item() if norm_W > 1e-9 else 0.0


def principal_angles(A, B, *, rtol=1e-12, atol=1e-14):
    if A.dtype == torch.float32:
        A = A.double()
        B = B.double()

    def orthonormal_basis(X):
        U, S, _ = torch.linalg.svd(X, full_matrices=False)
        tau = atol + rtol * S.max()
        r = (S > tau).sum().item()
        return U[:, :r]

    UA, UB = map(orthonormal_basis, (A, B))
    C = UA.conj().T @ UB
    sigma = torch.clamp(torch.linalg.svdvals(C), 0.0, 1.0)
    return torch.sort(torch.acos(sigma))[0]


def train_track(X, y, Xtst, ytst, W, a, act, gamma, lr, epochs, X_B, q, device):
    losses, operator_norms, spectrum, leading_right_svs, Ws, test_losses, energy = [], [], [], [], [], [], []
    for epoch in range(epochs):
        y_pred = network_forward(X, W, a, act, gamma=gamma)
        loss = torch.mean((y_pred - y) ** 2)
        if W.grad is not None:
            W.grad.zero_()
        loss.backward()
        with torch.no_grad():
            W -= lr / gamma * W.grad
            W_norms = torch.norm(W, p=2, dim=1, keepdim=True)
            W /= W_norms + 1e-8
            U, S, Vh = torch.linalg.svd(W.grad, full_matrices=False)
            op_norm = largest_singular_value(W)
            operator_norms.append(op_norm.detach().cpu())
            spectrum.append(S.clone().detach().cpu())
            Ws.append(W.clone().detach().cpu())
            leading_right_svs.append(Vh[0, :].clone().detach().cpu())
            test_loss = torch.mean((network_forward(Xtst, W, a, act, gamma=gamma) - ytst) ** 2)
            test_losses.append(test_loss.detach().cpu().item())
        losses.append(loss.detach().cpu().item())
        energy.append(relative_projection_norm(Ws[-1].to(device), X_B, y, q))
        W.grad.zero_()
    a = torch.linalg.pinv(act(X @ W.T)) @ y
    torch.mean((network_forward(Xtst, W, a, act, gamma=gamma) - ytst) ** 2).item()
    return losses, Ws


def time_seed(path, device="cpu", threads=0, epochs=0):
    """Runs the seed's ntk_vs_mf work on the inputs of the engine file `path`; returns the seconds
    of train_track (both runs), of the principal angles, and the epoch count."""
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    with h5py.File(path, "r") as f:
        inp = f["inputs"][f["runs/ntk"].attrs["inputs"]]
        t = {k: torch.tensor(np.asarray(v), dtype=torch.float32, device=dev) for k, v in inp.items()}
        epochs = epochs or int(f["runs/ntk"].attrs["epochs"])
        lr = float(f["runs/ntk"].attrs["lr_nb"])
        k = int(f["runs/ntk"].attrs["k"])
    X, y, Xtst, ytst = t["X_train"], t["y_train"].reshape(-1, 1), t["X_test"], t["y_test"]
    W, a = t["W0"], t["a"].reshape(-1, 1)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    sync()
    t0 = time.perf_counter()
    _, Ws_ntk = train_track(X, y, Xtst, ytst, W.clone().requires_grad_(True), a, torch.sigmoid, 1.0, lr, epochs,
                            t["X_bulk_train"], t["q"], dev)
    _, Ws_mf = train_track(X, y, Xtst, ytst, W.clone().requires_grad_(True), a, torch.sigmoid, 1 / np.sqrt(k), lr,
                           epochs, t["X_bulk_train"], t["q"], dev)
    sync()
    t1 = time.perf_counter()
    for i in range(epochs):
        torch.rad2deg(principal_angles(Ws_ntk[i], Ws_mf[i])).mean()
    sync()
    t2 = time.perf_counter()
    return {"train_track_s": t1 - t0, "angles_s": t2 - t1, "epochs": epochs, "threads": torch.get_num_threads()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--epochs", type=int, default=0, help="default: the file's")
    args = p.parse_args()
    r = time_seed(args.file, args.device, args.threads, args.epochs)
    e = r["epochs"]
    print(f"seed ntk_vs_mf on {args.device} ({r['threads']} threads), {e} epochs: "
          f"train_track {r['train_track_s']:.2f} s ({r['train_track_s'] / (2 * e):.3f} s per run-epoch), "
          f"principal angles {r['angles_s']:.2f} s ({r['angles_s'] / e:.3f} s per epoch), "
          f"total {r['train_track_s'] + r['angles_s']:.2f} s")


if __name__ == "__main__":
    main()
