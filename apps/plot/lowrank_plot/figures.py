"""The figures: every plot the seed notebook draws, per run and per pair, plus the gradient
spectrum as a heat map and the singular values at chosen epochs with the top two classified,
and, for runs with the decomposition, Spectrum_Plotting's spectrum scatter and later-training plots."""
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


def has_decomposition(run):
    return "opnorm_E" in run.data


def _decomposition_epoch(run):
    """The first epoch with both the decomposition and a recorded spectrum."""
    for row, t in enumerate(run.spectrum_epochs):
        if t < run.epochs_done and np.isfinite(run.data["opnorm_R"][t]):
            return row, int(t)
    return None, None


def decomposition_spectrum(run):
    """The notebook's spectrum scatter: every singular value of the gradient at the first
    decomposed epoch, with R's two singular values drawn as lines, each labelled by the direction
    its right singular vector is closer to: the data spike q (S2's) or the residue X_Bᵀr (S1's)."""
    fig, ax = plt.subplots(figsize=(10, 6))
    row, t = _decomposition_epoch(run)
    if row is None:
        ax.text(0.5, 0.5, "no epoch with both the decomposition and the spectrum", ha="center", transform=ax.transAxes)
        return fig
    sv = run.spectrum[row, :gradient_rank_bound(run)]
    ax.scatter(np.arange(1, len(sv) + 1), sv, s=8, color="0.3", label=f"σ_i(∇_W L), epoch {t}")
    ax.set_yscale("log")  # the notebook's linear axis flattens the bulk against zero
    d = run.data
    for i, (value, data_key, residue_key) in enumerate(((d["opnorm_R"][t], "R_v1_data", "R_v1_residue"),
                                                        (d["sigma2_R"][t], "R_v2_data", "R_v2_residue"))):
        spike = d[data_key][t] > d[residue_key][t]
        ax.axhline(value, color="tab:blue" if spike else "tab:red", linestyle="-." if spike else "--", linewidth=2,
                   label=f"σ_{i + 1}(R): " + ("data (S2, |⟨v,q⟩| larger)" if spike else
                                              "residue (S1, |cos(v,X_Bᵀr)| larger)"))
    ax.set_xlabel("singular index")
    ax.set_ylabel("singular value")
    ax.grid(True, linestyle="--", alpha=0.5)
    ax.legend(fontsize=9)
    ax.set_title(run_title(run, "gradient spectrum and R = S1 + S12 + S2"))
    fig.text(0.5, 0.01, f"‖S1‖={d['opnorm_S1'][t]:.4g}  ‖S12‖={d['opnorm_S12'][t]:.4g}  ‖S2‖={d['opnorm_S2'][t]:.4g}  "
             f"‖E‖={d['opnorm_E'][t]:.4g}  residual check {d['decomposition_residual'][t]:.2g}",
             ha="center", fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def decomposition_over_epochs(run):
    """The notebook's later-training plots in one figure, at the epochs the decomposition ran."""
    fig, axs = plt.subplots(2, 4, figsize=(20, 9))
    d = run.data
    e = np.arange(run.epochs_done)
    ok = np.isfinite(d["opnorm_E"])
    x = e[ok]
    marker = "." if ok.sum() < 60 else None

    def lines(ax, keys_labels, ylabel, log=False):
        for key, label in keys_labels:
            ax.plot(x, d[key][ok], marker=marker, label=label)
        ax.set_ylabel(ylabel, fontsize=9)
        if log:
            ax.set_yscale("log")
        if len(keys_labels) > 1:
            ax.legend(fontsize=8)
        _epoch_axis(ax, len(e))

    lines(axs[0, 0], [("opnorm_S1", "‖S1‖"), ("opnorm_S12", "‖S12‖"), ("opnorm_S2", "‖S2‖"), ("opnorm_R", "‖R‖"),
                      ("opnorm_E", "‖E‖")], "operator norms", log=True)
    for key, label in (("opnorm_S1", "‖S1‖/‖E‖"), ("opnorm_S12", "‖S12‖/‖E‖"), ("opnorm_S2", "‖S2‖/‖E‖")):
        axs[0, 1].plot(x, d[key][ok] / d["opnorm_E"][ok], marker=marker, label=label)
    axs[0, 1].set_ylabel("ratios to ‖E‖", fontsize=9)
    axs[0, 1].legend(fontsize=8)
    _epoch_axis(axs[0, 1], len(e))
    lines(axs[0, 2], [("energy_grad_R2", "gradient ∇"), ("energy_weights_R2", "weights W_t")],
          "energy in R's top-two right space ‖A V₂‖_F/‖A‖_F")
    lines(axs[0, 3], [("mu_abs_min", "min |μ_j|"), ("mu_abs_max", "max |μ_j|")], "μ = E[σ'(Wx)]")
    axs[1, 0].plot(x, d["residual_max"][ok] / d["residual_norm"][ok], marker=marker)
    axs[1, 0].set_ylabel("‖r‖_∞ / ‖r‖₂", fontsize=9)
    _epoch_axis(axs[1, 0], len(e))
    lines(axs[1, 1], [("effective_rank_grad", "gradient ∇"), ("effective_rank_weights", "weights W_t")],
          "effective rank exp(H(σ/Σσ))")
    lines(axs[1, 2], [("align_residue", "X_Bᵀr"), ("align_data", "q"), ("align_label", "X_Bᵀy")],
          "alignment of v_t with")
    lines(axs[1, 3], [("decomposition_residual", "")], "check ‖∇−R−E−reg‖_F/‖∇‖_F", log=True)
    for ax in axs[1, 2:3]:
        ax.set_ylim(-0.02, 1.02)
    fig.suptitle(run_title(run, "decomposition of the gradient over training"))
    fig.tight_layout()
    return fig


# Each with the fewest epoch rows it is drawn for: a curve over epochs needs two (a file of
# epochs = 0, a measurement at W0, has one row and gets its spectra alone).
RUN_FIGURES = [("loss", loss, 2), ("norms", norms, 2), ("alignment", alignment, 2), ("energy", energy, 2),
               ("spectrum", spectrum_heatmap, 2), ("singular-values", None, 1)]
# Drawn where the run has the decomposition: the scatter for any, the epochs' figure past one epoch.
DECOMPOSITION_FIGURES = [("decomposition-spectrum", decomposition_spectrum, 1),
                         ("decomposition", decomposition_over_epochs, 2)]


def draw_all(engine_file, out_dir, fmt="png", epochs=None):
    """Draws every figure of the file into out_dir; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for run in engine_file.runs:
        if run.epochs_done == 0:
            continue
        for name, draw, least in RUN_FIGURES:
            if run.epochs_done >= least:
                fig = singular_values(run, epochs) if draw is None else draw(run)
                written.append(_save(fig, out_dir, f"{run.name}-{name}", fmt))
        if has_decomposition(run):
            for name, draw, least in DECOMPOSITION_FIGURES:
                if run.epochs_done >= least:
                    written.append(_save(draw(run), out_dir, f"{run.name}-{name}", fmt))
    runs_by_name = {r.name: r for r in engine_file.runs}
    for pair in engine_file.pairs:
        if len(pair.angle) >= 2:
            written.append(_save(pair_angle(pair, runs_by_name), out_dir, f"{pair.name}-angle", fmt))
    return written
