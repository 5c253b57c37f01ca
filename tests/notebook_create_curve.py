"""The Gradient_Alignment notebook's create_curve, as written there, for tests/test_sweep.py (its
means against gradient_alignment_scaling's) and bench/sweep_side_by_side.py (its time)."""
import numpy as np
import torch


def create_curve(ns, T, seed):
    """The Gradient_Alignment notebook's create_curve, as written there (float32, its own draws):
    per n, beta ~ N(0, I/d) once; per draw a ~ N(0, 1/N), W ~ N(0, 1/d), X ~ N(0, 1),
    y = sigmoid(X beta) + N(0, 1); G (NTK) and G2 (mean field) of the relu network."""
    torch.manual_seed(seed)
    sigma, dsigma = (lambda x: x.relu()), (lambda x: (x > 0).float())
    get_G = lambda a, W, X, y: X.T @ ((y - sigma(X @ W) @ a) @ a.T * dsigma(X @ W))  # noqa: E731
    get_G2 = lambda a, W, X, y, N: X.T @ ((y - sigma(X @ W) / np.sqrt(N) @ a) @ a.T * dsigma(X @ W))  # noqa: E731
    out = {k: np.zeros((len(ns), T)) for k in ("norms", "fnorms", "prod", "prod2", "prod3", "fprod", "fprod2", "fprod3")}
    cos = lambda v, u: float((v * u).sum().abs() / (torch.norm(v) * torch.norm(u)))  # noqa: E731
    for i, n in enumerate(ns):
        d, N = n // 2, n // 3
        beta = torch.randn(d, 1) / np.sqrt(d)
        for t in range(T):
            a = torch.randn(N, 1) / np.sqrt(N)
            W = torch.randn(d, N) / np.sqrt(d)
            X = torch.randn(n, d)
            y = (X @ beta).sigmoid() + torch.randn(n, 1)
            G, G2 = get_G(a, W, X, y) / n, get_G2(a, W, X, y, N) / n
            u1, u2 = torch.linalg.svd(G)[0][:, 0], torch.linalg.svd(G2)[0][:, 0]
            d1, d2 = (X.T @ y).flatten(), (X.T @ (y - sigma(X @ W) @ a)).flatten()
            d4 = (X.T @ (y - sigma(X @ W) / np.sqrt(N) @ a)).flatten()
            out["norms"][i, t] = float(torch.linalg.svdvals(G).max())
            out["fnorms"][i, t] = float(torch.linalg.svdvals(G2).max())
            out["prod"][i, t], out["prod2"][i, t], out["prod3"][i, t] = cos(d1, u1), cos(d2, u1), cos(beta.flatten(), u1)
            out["fprod"][i, t], out["fprod2"][i, t], out["fprod3"][i, t] = cos(d1, u2), cos(d4, u2), cos(beta.flatten(), u2)
    return out
