"""The figures: every plot the seed notebook draws, per run and per pair, plus the gradient
spectrum as a heat map and the singular values at chosen epochs with the top two classified."""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 100


def run_title(run, what):
    a = run.attrs
    title = f"{run.name}: {what} — γ={a.get('gamma', float('nan')):.3g}, η={a.get('lr', float('nan')):.3g}, " \
            f"{a.get('activation', '?')}"
    if "lr_nb" in a and "gamma_nb" in a:
        title += f" (seed lr={a['lr_nb']:.3g}, gamma={a['gamma_nb']:.3g})"
    if run.state():
        title += f"\n[{run.state()}]"
    return title


def _save(fig, out_dir, name, fmt):
    path = os.path.join(out_dir, f"{name}.{fmt}")
    tmp = path + ".tmp." + fmt  # written whole, then renamed: a watcher never leaves half a figure
    fig.savefig(tmp, dpi=DPI, format=fmt)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _epoch_axis(ax, n, log=False):
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.4)
    if log and n > 2:
        ax.set_xscale("symlog", linthresh=1)  # logarithmic past epoch 1, and epoch 0 still shown
    ax.set_xlim(left=0)  # the axis starts at epoch 0: no margin with ticks at negative epochs


def loss(run):
    fig, axs = plt.subplots(1, 2, figsize=(12, 5))
    e = np.arange(run.epochs_done)
    for ax, key, label in zip(axs, ("train_mse", "test_mse"), ("train MSE", "test MSE")):
        ax.plot(e, run.data[key], marker="." if len(e) < 60 else None)
        ax.set_ylabel(label)
        _epoch_axis(ax, len(e))
    fig.suptitle(run_title(run, "loss"))
    fig.tight_layout()
    return fig


def norms(run):
    fig, axs = plt.subplots(1, 2, figsize=(12, 5))
    e = np.arange(run.epochs_done)
    sv = run.spectrum
    axs[0].plot(run.spectrum_epochs, sv[:, 0] if sv.size else [])
    axs[0].set_ylabel("gradient operator norm σ₁(∇_W L)")
    axs[1].plot(e, run.data["w_opnorm"])
    axs[1].set_ylabel("weight operator norm ‖W‖₂")
    for ax in axs:
        _epoch_axis(ax, len(e))
    fig.suptitle(run_title(run, "operator norms"))
    fig.tight_layout()
    return fig


def alignment(run):
    fig, axs = plt.subplots(2, 2, figsize=(12, 9))
    e = np.arange(run.epochs_done)
    panels = [("align_residue", "residue alignment |cos(v_t, X_Bᵀ r_t)|", True),
              ("align_data", "data alignment |⟨v_t, q⟩|", True),
              ("align_initial", "initial alignment |⟨v_t, v_0⟩|", False),
              ("align_residue_step", "successive residue alignment |cos(Xᵀr_t, Xᵀr_{t−1})|", True)]
    for ax, (key, label, log) in zip(axs.flat, panels):
        ax.plot(e, run.data[key], marker="." if len(e) < 60 else None)
        ax.set_ylabel(label, fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        _epoch_axis(ax, len(e), log=log)
    fig.suptitle(run_title(run, "alignment of the leading right singular vector"))
    fig.tight_layout()
    return fig


def energy(run):
    fig, ax = plt.subplots(figsize=(10, 6))
    e = np.arange(run.epochs_done)
    ax.plot(e, run.data["energy"], marker="." if len(e) < 60 else None)
    ax.set_ylabel("‖W P‖_F / ‖W‖_F, P onto span(X_Bᵀy, q)")
    _epoch_axis(ax, len(e))
    ax.set_title(run_title(run, "energy in the rank-two subspace"))
    fig.tight_layout()
    return fig


def gradient_rank_bound(run):
    """min(n, k, d): no singular value of the gradient past this index is non-zero."""
    a = run.attrs
    return int(min(a.get("n", np.inf), a.get("k", np.inf), a.get("d", np.inf), run.spectrum.shape[1]))


def spectrum_heatmap(run):
    fig, ax = plt.subplots(figsize=(11, 6))
    rank = gradient_rank_bound(run)
    sv, se = run.spectrum[:, :rank], run.spectrum_epochs
    with np.errstate(divide="ignore"):
        logs = np.log10(np.where(sv > 0, sv, np.nan))
    finite = logs[np.isfinite(logs)]
    low = np.percentile(finite, 1) if finite.size else 0
    every = se[1] - se[0] if len(se) > 1 else 1  # output.heavy_every
    first, last = (se[0], se[-1]) if len(se) else (0, -1)
    image = ax.imshow(logs.T, aspect="auto", origin="lower", cmap="viridis", vmin=low,
                      extent=(first - every / 2, last + every / 2, -0.5, sv.shape[1] - 0.5), interpolation="nearest")
    ax.set_xlabel("epoch")
    ax.set_ylabel("singular value index i")
    fig.colorbar(image, ax=ax, label="log₁₀ σ_i(∇_W L)")
    ax.set_title(run_title(run, "gradient spectrum"))
    fig.text(0.5, 0.01, f"σ_1 … σ_{rank} shown: the gradient's rank is at most min(n, k, d) = {rank}",
             ha="center", fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def default_epochs(n):
    """First, last and a few log-spaced epochs between."""
    if n == 0:
        return []
    picks = {0, n - 1} | {int(round(x)) for x in np.geomspace(1, max(n - 1, 1), num=4)}
    return sorted(p for p in picks if 0 <= p < n)


def singular_values(run, epochs=None):
    fig, ax = plt.subplots(figsize=(11, 6))
    sv, se = run.spectrum, list(run.spectrum_epochs)
    # Epochs whose spectrum was recorded (every output.heavy_every-th).
    wanted = epochs if epochs is not None else [se[i] for i in default_epochs(len(se))]
    epochs = [t for t in wanted if t in se]
    colors = plt.cm.plasma(np.linspace(0, 0.85, max(len(epochs), 1)))
    marked = set()
    for color, t in zip(colors, epochs):
        index = np.arange(1, sv.shape[1] + 1)
        row = se.index(t)
        ax.plot(index, sv[row], color=color, lw=1, label=f"epoch {t}")
        # The top two: residue- or spike-aligned, whichever alignment of the vector is larger.
        for j, (data_key, residue_key) in enumerate((("align_data", "align_residue"),
                                                     ("align_data_v2", "align_residue_v2"))):
            if data_key not in run.data or not np.isfinite(run.data[data_key][t]):
                continue
            spike = run.data[data_key][t] > run.data[residue_key][t]
            kind = "spike-aligned (|⟨u,q⟩| larger)" if spike else "residue-aligned (|⟨u,X_Bᵀr⟩| larger)"
            ax.scatter([j + 1], [sv[row, j]], s=90, marker="^" if spike else "o", facecolor="none",
                       edgecolor="crimson" if spike else "navy", linewidths=2,
                       label=kind if kind not in marked else None, zorder=3)
            marked.add(kind)
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("index i")
    ax.set_ylabel("σ_i(∇_W L)")
    ax.grid(True, alpha=0.4, which="both")
    ax.legend(fontsize=8)
    ax.set_title(run_title(run, "singular values, top two classified"))
    fig.tight_layout()
    return fig


def pair_angle(pair, runs_by_name):
    fig, ax = plt.subplots(figsize=(10, 6))
    e = np.arange(len(pair.angle))
    ax.plot(e, pair.angle, marker="." if len(e) < 60 else None)
    ax.set_ylabel("mean principal angle between col(W_a), col(W_b) (degrees)")
    _epoch_axis(ax, len(e))
    states = [f"{n}: {runs_by_name[n].state()}" for n in (pair.run_a, pair.run_b)
              if n in runs_by_name and runs_by_name[n].state()]
    title = f"{pair.run_a} vs {pair.run_b}: mean principal angle"
    if states:
        title += "\n[" + "; ".join(states) + "]"
    ax.set_title(title)
    fig.tight_layout()
    return fig


RUN_FIGURES = [("loss", loss), ("norms", norms), ("alignment", alignment), ("energy", energy),
               ("spectrum", spectrum_heatmap), ("singular-values", None)]


def draw_all(engine_file, out_dir, fmt="png", epochs=None):
    """Draws every figure of the file into out_dir; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for run in engine_file.runs:
        if run.epochs_done == 0:
            continue
        for name, draw in RUN_FIGURES:
            fig = singular_values(run, epochs) if draw is None else draw(run)
            written.append(_save(fig, out_dir, f"{run.name}-{name}", fmt))
    runs_by_name = {r.name: r for r in engine_file.runs}
    for pair in engine_file.pairs:
        if len(pair.angle):
            written.append(_save(pair_angle(pair, runs_by_name), out_dir, f"{pair.name}-angle", fmt))
    return written
