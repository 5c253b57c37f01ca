#!/usr/bin/python3
"""engine-plot on real engine files: every figure of each preset (short runs) exists, has the
expected size and is not blank, and its curves and heat map carry the file's numbers; --watch follows a file another process is writing and stops
when it completes; partial, foreign, damaged and missing files get a message, not a traceback.
Sweep files too: one being written and one killed plot (and open) the replicates done; one
without cell_status still plots; FIFOs, link loops and other non-files are refused at once,
nothing created.

usage: test_plot.py ENGINE PLOT_PACKAGE_DIR
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import matplotlib.image
import numpy as np

from checks import check, summary
from tiny_config import TINY_AXES, tiny_config

ENGINE, PACKAGE = sys.argv[1], sys.argv[2]
SMALL = ["--set", "data.n=40", "--set", "data.d=30", "--set", "model.k=50"]
SIZES = {"loss": (500, 1200), "norms": (500, 1200), "alignment": (900, 1200), "energy": (600, 1000),
         "spectrum": (600, 1100), "singular-values": (600, 1100)}
DECOMPOSITION_SIZES = {"decomposition-spectrum": (600, 1000), "decomposition": (900, 2000)}
# A 2 x 2 cell sweep of two series (tests/test_sweep.py's, gathering less).
SWEEP = tiny_config(epochs=10) + '[sweep]\nreplicates = 3\ngather = ["train_mse", "w_opnorm"]\n' + TINY_AXES
SWEEP_FIGURES = sorted(f"{s}-vs-{a}.png" for s in ("train_mse", "w_opnorm") for a in ("size", "act"))

def plot(*args, **kw):
    env = dict(os.environ, PYTHONPATH=PACKAGE)
    return subprocess.run([sys.executable, "-m", "lowrank_plot", *args], capture_output=True, text=True, env=env, **kw)


def engine(*args):
    subprocess.run([ENGINE, "--quiet", *args], check=True, stdout=subprocess.DEVNULL)


def check_figures(out, runs, pairs, extra=None):
    for run in runs:
        for name, (h, w) in {**SIZES, **(extra or {})}.items():
            path = os.path.join(out, f"{run}-{name}.png")
            if not os.path.exists(path):
                check(False, f"{path} exists")
                continue
            image = matplotlib.image.imread(path)
            check(image.shape[:2] == (h, w), f"{run}-{name}.png is {w}×{h} (got {image.shape[1]}×{image.shape[0]})")
            check(float(np.std(image[..., :3])) > 0.02, f"{run}-{name}.png is not blank")
    for pair in pairs:
        path = os.path.join(out, f"{pair}-angle.png")
        check(os.path.exists(path) and np.std(matplotlib.image.imread(path)[..., :3]) > 0.02, f"{pair}-angle.png drawn")


def check_drawn_data(path, epochs=None):
    """Every curve and the heat map of each figure carry the file's numbers at the file's epochs,
    read here with h5py: a figure with its axes and titles but the wrong (or no) data fails."""
    sys.path.insert(0, PACKAGE)
    from lowrank_plot import figures, reader

    def curves(fig):
        return [(np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float))
                for ax in fig.axes for line in ax.get_lines()]

    def same(a, b):
        return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)

    def drawn_as(got, want):  # want: (x, y) per curve, in drawing order
        return len(got) == len(want) and all(same(gx, wx) and same(gy, wy) for (gx, gy), (wx, wy) in zip(got, want))

    engine_file = reader.read(path)
    with h5py.File(path, "r") as f:
        for run in engine_file.runs:
            g = f["runs/" + run.name]
            epoch = g["epoch"][()]
            heavy_epoch = g["spectrum_epoch"][()] if "spectrum_epoch" in g else epoch
            sv = g["grad_singular_values"][()]
            want = {"loss": [(epoch, g["train_mse"][()]), (epoch, g["test_mse"][()])],
                    "norms": [(heavy_epoch, sv[:, 0]), (epoch, g["w_opnorm"][()])],
                    "alignment": [(epoch, g[k][()]) for k in ("align_residue", "align_data", "align_initial",
                                                              "align_residue_step")],
                    "energy": [(epoch, g["energy"][()])]}
            for name, draw in (("loss", figures.loss), ("norms", figures.norms),
                               ("alignment", figures.alignment), ("energy", figures.energy)):
                fig = draw(run)
                check(drawn_as(curves(fig), want[name]), f"{run.name}-{name}: its curves are the file's series")
                check(all(ax.get_xlim()[0] == 0 for ax in fig.axes), f"{run.name}-{name}: epoch axes start at 0")
                figures.plt.close(fig)
            rank = min(g.attrs["n"], g.attrs["k"], g.attrs["d"], sv.shape[1])
            fig = figures.spectrum_heatmap(run)
            image = fig.axes[0].get_images()[0]
            caption = " ".join(t.get_text() for t in fig.texts)
            check(image.get_extent()[3] == rank - 0.5 and f"rank is at most min(n, k, d) = {rank}" in caption,
                  f"{run.name}-spectrum: up to index {rank}, and the caption says why")
            every = heavy_epoch[1] - heavy_epoch[0] if len(heavy_epoch) > 1 else 1
            with np.errstate(divide="ignore"):
                shown = sv[:, :rank]  # the heat map stops at the gradient's largest possible rank
                check(same(np.ma.filled(image.get_array(), np.nan), np.log10(np.where(shown > 0, shown, np.nan)).T)
                      and same(image.get_extent()[:2], [heavy_epoch[0] - every / 2, heavy_epoch[-1] + every / 2]),
                      f"{run.name}-spectrum: the heat map is log10 of the file's singular values, on its epochs")
            figures.plt.close(fig)
            fig = figures.singular_values(run, epochs)
            got = curves(fig)
            recorded = list(heavy_epoch)
            if epochs is not None:  # the epochs asked for that were recorded, in order
                rows = [recorded.index(t) for t in epochs if t in recorded]
                ok = drawn_as(got, [(np.arange(1, sv.shape[1] + 1), sv[i]) for i in rows])
            else:  # the first and the last recorded epoch and a few between, in order
                rows = [next((i for i in range(len(sv)) if same(y, sv[i])), -1) for _, y in got]
                ok = (len(rows) >= min(2, len(sv)) and rows[0] == 0 and rows[-1] == len(sv) - 1
                      and rows == sorted(set(rows)))
            check(ok, f"{run.name}-singular-values: its curves are the recorded spectra asked for, in order "
                      f"(rows {rows})")
            figures.plt.close(fig)
            if "opnorm_E" in g:
                check_decomposition_figures(run, g, figures, curves, same, drawn_as)
        for pair in engine_file.pairs:
            fig = figures.pair_angle(pair, {r.name: r for r in engine_file.runs})
            p = f["pairs/" + pair.name]
            check(drawn_as(curves(fig), [(p["epoch"][()], p["pair_mean_angle_deg"][()])]),
                  f"{pair.name}-angle: its curve is the file's angles")
            figures.plt.close(fig)


def check_decomposition_figures(run, g, figures, curves, same, drawn_as):
    """The decomposition's figures carry the file's numbers: R's singular values as the lines of
    the spectrum scatter, labelled by the larger of their vectors' alignments, and every curve of
    the over-epochs figure at the epochs the decomposition ran."""
    epoch, sv = g["epoch"][()], g["grad_singular_values"][()]
    ran = np.isfinite(g["opnorm_E"][()])
    t = int(epoch[ran][0])
    fig = figures.decomposition_spectrum(run)
    ax = fig.axes[0]
    rank = min(g.attrs["n"], g.attrs["k"], g.attrs["d"], sv.shape[1])
    dots = ax.collections[0].get_offsets()
    kinds = ["data" if g[f"R_v{i}_data"][t] > g[f"R_v{i}_residue"][t] else "residue" for i in (1, 2)]
    lines = [(line.get_ydata()[0], line.get_label()) for line in ax.get_lines()]
    check(same(dots[:, 1], sv[t, :rank]) and same(dots[:, 0], np.arange(1, rank + 1)),
          f"{run.name}-decomposition-spectrum: the dots are epoch {t}'s singular values")
    check(len(lines) == 2 and same([v for v, _ in lines], [g["opnorm_R"][t], g["sigma2_R"][t]])
          and all(k in label for k, (_, label) in zip(kinds, lines)),
          f"{run.name}-decomposition-spectrum: the lines are sigma(R), labelled {kinds}")
    figures.plt.close(fig)
    if run.epochs_done < 2:
        return
    x = epoch[ran]
    d = {k: g[k][()][ran] for k in g if isinstance(g[k], h5py.Dataset) and g[k].ndim == 1 and g[k].shape == epoch.shape}
    want = [(x, d[k]) for k in ("opnorm_S1", "opnorm_S12", "opnorm_S2", "opnorm_R", "opnorm_E")]
    want += [(x, d[k] / d["opnorm_E"]) for k in ("opnorm_S1", "opnorm_S12", "opnorm_S2")]
    want += [(x, d[k]) for k in ("energy_grad_R2", "energy_weights_R2", "mu_abs_min", "mu_abs_max")]
    want += [(x, d["residual_max"] / d["residual_norm"])]
    want += [(x, d[k]) for k in ("effective_rank_grad", "effective_rank_weights", "align_residue", "align_data",
                                 "align_label", "decomposition_residual")]
    fig = figures.decomposition_over_epochs(run)
    check(drawn_as(curves(fig), want), f"{run.name}-decomposition: its curves are the file's series at epochs {list(x)}")
    figures.plt.close(fig)


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def check_dataset(path):
    """lowrank_plot.open: every per-epoch series of every run, and every pair's angles, as labelled
    variables whose values are the file's (read here with h5py; NaN past a run's own end), with
    the file's long_name and units, and the runs' settings as coordinates."""
    sys.path.insert(0, PACKAGE)
    import lowrank_plot
    ds = lowrank_plot.open(path)
    name = os.path.basename(path)
    ok, problems = True, []
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        for run, g in f["runs"].items():
            epochs = min(v.shape[0] for v in g.values()
                         if isinstance(v, h5py.Dataset) and v.ndim == 1 and v.maxshape[0] is None
                         and v.attrs.get("CLASS") != b"DIMENSION_SCALE")
            for key, v in g.items():
                if not (isinstance(v, h5py.Dataset) and v.maxshape and v.maxshape[0] is None
                        and v.attrs.get("CLASS") != b"DIMENSION_SCALE"):
                    continue
                got = ds[key].sel(run=run).values
                want = v[()].astype(np.float64)
                if v.ndim == 1:
                    want = want[:epochs]
                rows = min(len(want), got.shape[0])
                if not (np.array_equal(got[:rows], want[:rows], equal_nan=True) and np.all(np.isnan(got[rows:]))
                        and ds[key].attrs.get("long_name") == text(v.attrs["long_name"])):
                    problems.append(f"{run}/{key}")
            if ds["activation"].sel(run=run).item() != text(g.attrs["activation"]):
                problems.append(f"{run}: activation coordinate")
        for pair, g in f["pairs"].items():
            n = g["pair_mean_angle_deg"].shape[0]
            if not np.array_equal(ds["pair_mean_angle_deg"].sel(pair=pair).values[:n], g["pair_mean_angle_deg"][()]):
                problems.append(f"pair {pair}")
        ok = not problems and ds.attrs.get("experiment") == text(f.attrs["experiment"])
    check(ok, f"lowrank_plot.open({name}): every series, pair and setting labelled as in the file {problems}")
    return ds


def sweep_figures_drawn(out):
    """Every series against every axis, none blank."""
    names = sorted(os.listdir(out)) if os.path.isdir(out) else []
    return names == SWEEP_FIGURES and all(np.std(matplotlib.image.imread(os.path.join(out, n))[..., :3]) > 0.02
                                          for n in names)


def replicates_done(path):
    """The cells' replicates done, read as the engine's SWMR reader (0 before the file has them)."""
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as f:
            return int((f["cell_status"][()] > 0).sum())
    except (OSError, KeyError):
        return 0


# Replicates (of 4 cells each) enough that the sweep still runs when the plot of its first ones is
# done; it is killed then.
REPLICATES = 3000


def check_partial_sweeps(tmp):
    """A sweep being written, then killed with SIGKILL (its file keeps HDF5's writer flags, which a
    plain open refuses): each plots the replicates done and says how many; lowrank_plot.open gives
    them as the file holds them."""
    path = os.path.join(tmp, "partial-sweep.h5")
    p = subprocess.Popen([ENGINE, "sweep", "--quiet", "--config", os.path.join(tmp, "sweep.toml"), "--set",
                          f"sweep.replicates={REPLICATES}", "--out", path], stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and replicates_done(path) < 100:
        time.sleep(0.05)
    r = plot(path, "--out", os.path.join(tmp, "live-sweep"), timeout=120)
    running = p.poll() is None
    check(running and r.returncode == 0 and re.search(rf"\(sweep, \d+ of {4 * REPLICATES} replicates done\)", r.stdout)
          and sweep_figures_drawn(os.path.join(tmp, "live-sweep")),
          f"a sweep being written plots ({r.stdout.strip()} {r.stderr.strip()})")
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = replicates_done(path)
    try:
        h5py.File(path, "r").close()
        flagged = False
    except OSError:
        flagged = True
    r = plot(path, "--out", os.path.join(tmp, "killed-sweep"), timeout=120)
    check(flagged and 0 < done < 4 * REPLICATES and r.returncode == 0 and f"(sweep, {done} of {4 * REPLICATES} replicates done)" in r.stdout
          and sweep_figures_drawn(os.path.join(tmp, "killed-sweep")),
          f"a killed sweep plots, its writer flags set ({r.stdout.strip()} {r.stderr.strip()})")
    sys.path.insert(0, PACKAGE)
    import lowrank_plot
    from lowrank_plot import sweep_figures
    ds = lowrank_plot.open(path)
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        same = all(np.array_equal(ds[k].values, f[k][()], equal_nan=True)
                   for k in ("cell_status", "train_mse", "train_mse_mean", "w_opnorm_stderr"))
    complete = ds.cell_status.values == 1
    finite = np.isfinite(ds.train_mse.values).all(axis=(0, 4))  # over run and epoch
    check(same and int(complete.sum()) == done and finite[complete].all(),
          f"open: a killed sweep's {done} replicates done, as the file holds them")
    fig = sweep_figures.series_against_axis(ds, "train_mse", "size")
    title = fig.axes[0].get_title()
    sweep_figures.plt.close(fig)
    check(f"{done} of {4 * REPLICATES} replicates done" in title, f"its titles say so: '{title.splitlines()[0]}'")


def check_sweep_without_status(tmp):
    """A sweep file without cell_status (damaged) still plots, its axes taken from the means."""
    path = os.path.join(tmp, "no-status.h5")
    subprocess.run([ENGINE, "sweep", "--quiet", "--config", os.path.join(tmp, "sweep.toml"), "--out", path], check=True)
    with h5py.File(path, "a") as f:
        del f["cell_status"]
    r = plot(path, "--out", os.path.join(tmp, "no-status"), timeout=120)
    check(r.returncode == 0 and "(sweep)" in r.stdout and sweep_figures_drawn(os.path.join(tmp, "no-status")),
          f"a sweep without cell_status plots ({r.stdout.strip()} {r.stderr.strip()})")
    sys.path.insert(0, PACKAGE)
    import lowrank_plot
    ds = lowrank_plot.open(path)
    check("cell_status" not in ds and ds.train_mse_mean.dims == ("run", "size", "act", "epoch"),
          "open: a sweep without cell_status")


def plot_refused(path, out):
    """engine-plot on a bad file: its exit code and message, within a minute (a FIFO must not hang it)."""
    try:
        r = plot(path, "--out", out, timeout=60)
    except subprocess.TimeoutExpired:
        return None, "still running after 60 s"
    return r.returncode, r.stderr.strip()


def open_refused(path):
    """lowrank_plot.open on a bad file, in a child within a minute: FileError's message, else what
    it printed."""
    code = ("import sys, lowrank_plot\nfrom lowrank_plot.reader import FileError\ntry:\n"
            "    lowrank_plot.open(sys.argv[1])\nexcept FileError as e:\n    print(e)")
    try:
        r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=PACKAGE))
    except subprocess.TimeoutExpired:
        return "still running after 60 s"
    return r.stdout.strip() or r.stderr.strip()


def main():
    tmp = tempfile.mkdtemp()
    try:
        ntk = os.path.join(tmp, "ntk.h5")
        engine("--exp", "ntk_vs_mf", *SMALL, "--epochs", "6", "--out", ntk)
        r = plot(ntk, "--out", os.path.join(tmp, "ntk"))
        check(r.returncode == 0, f"ntk_vs_mf plotted: {r.stdout.strip()} {r.stderr.strip()}")
        check_figures(os.path.join(tmp, "ntk"), ["ntk", "mf"], ["ntk__mf"])
        check_drawn_data(ntk)
        ds = check_dataset(ntk)
        check(ds.train_mse.dims == ("run", "epoch") and ds.grad_singular_values.dims == ("run", "epoch", "singular_index")
              and ds.grad_top_right_vector.dims == ("run", "epoch", "input_index"), "open: the dimensions are named")
        # n < min(k, d): the gradient's rank is at most n, and the heat map stops there.
        few = os.path.join(tmp, "few.h5")
        engine("--exp", "ntk_vs_mf", "--set", "data.n=12", "--set", "data.d=30", "--set", "model.k=50", "--epochs", "4",
               "--out", few)
        check_drawn_data(few)

        rvs = os.path.join(tmp, "rvs.h5")
        engine("--exp", "relu_vs_sigmoid", "--cells", "sig1,relu3", *SMALL, "--epochs", "4", "--out", rvs)
        r = plot(rvs, "--out", os.path.join(tmp, "rvs"), "--epochs", "0,3")
        check(r.returncode == 0, "relu_vs_sigmoid plotted")
        check_figures(os.path.join(tmp, "rvs"), ["sig1_relu", "sig1_sigmoid", "relu3_relu", "relu3_sigmoid"],
                      ["sig1_relu__sig1_sigmoid", "relu3_relu__relu3_sigmoid"])

        # The truncated spectrum, recorded every 3rd epoch: the spectrum figures on their own epochs.
        sparse = os.path.join(tmp, "sparse.h5")
        engine("--exp", "ntk_vs_mf", *SMALL, "--epochs", "10", "--set", "spectrum.method=truncated",
               "--set", "spectrum.rank=6", "--set", "output.heavy_every=3", "--out", sparse)
        r = plot(sparse, "--out", os.path.join(tmp, "sparse"), "--epochs", "0,4,9")
        check(r.returncode == 0, f"truncated, every 3rd epoch: plotted {r.stderr.strip()}")
        check_figures(os.path.join(tmp, "sparse"), ["ntk", "mf"], ["ntk__mf"])
        check_drawn_data(sparse, epochs=[0, 4, 9])
        ds = check_dataset(sparse)
        check(list(ds.spectrum_epoch.values) == [0, 3, 6, 9] and ds.grad_singular_values.dims[1] == "spectrum_epoch",
              "open: every 3rd epoch's spectrum over spectrum_epoch")
        # Runs of different lengths share the epoch axis, the shorter padded with NaN.
        uneven = os.path.join(tmp, "uneven.h5")
        engine("--exp", "relu_vs_sigmoid", "--cells", "sig1", *SMALL, "--set", "runs.sig1_relu.epochs=3",
               "--set", "runs.sig1_sigmoid.epochs=5", "--out", uneven)
        ds = check_dataset(uneven)
        check(ds.sizes["epoch"] == 5 and np.isnan(ds.train_mse.sel(run="sig1_relu").values[3:]).all(),
              "open: a 3-epoch and a 5-epoch run over 5 epochs, NaN past the shorter one's end")

        # The decomposition's presets, small: its figures, at the epochs it ran (every 2nd).
        later = os.path.join(tmp, "later.h5")
        engine("--exp", "later_training", *SMALL, "--set", "decomposition.n_mu=500", "--set", "decomposition.every=2",
               "--epochs", "7", "--out", later)
        r = plot(later, "--out", os.path.join(tmp, "later"))
        check(r.returncode == 0, f"later_training plotted {r.stderr.strip()}")
        check_figures(os.path.join(tmp, "later"), ["tanh"], [], DECOMPOSITION_SIZES)
        check_drawn_data(later)
        ds = check_dataset(later)
        check(ds.mu.dims == ("run", "epoch", "neuron_index") and np.isnan(ds.opnorm_E.values[0, 1]),
              "open: mu over neuron_index, NaN at epochs without the decomposition")
        at_init = os.path.join(tmp, "at_init.h5")
        engine("--exp", "spectrum_at_init", *SMALL, "--set", "decomposition.n_mu=500", "--out", at_init)
        r = plot(at_init, "--out", os.path.join(tmp, "at_init"))
        drawn = sorted(os.listdir(os.path.join(tmp, "at_init")))
        check(r.returncode == 0 and os.path.exists(os.path.join(tmp, "at_init", "input_noise-decomposition-spectrum.png"))
              and os.path.exists(os.path.join(tmp, "at_init", "plain-singular-values.png"))
              and all(n.endswith(("-singular-values.png", "-decomposition-spectrum.png")) for n in drawn),
              f"spectrum_at_init (epochs = 0) plotted: its spectra and the scatter, no one-point curve {drawn}")
        check_drawn_data(at_init)

        r = plot(ntk, "--out", os.path.join(tmp, "pdf"), "--format", "pdf")
        with open(os.path.join(tmp, "pdf", "mf-loss.pdf"), "rb") as f:
            check(r.returncode == 0 and f.read(4) == b"%PDF", "--format pdf writes PDF")

        # --watch: redraws while another process writes, stops once the file is complete.
        live = os.path.join(tmp, "live.h5")
        writer = subprocess.Popen([ENGINE, "--quiet", "--exp", "ntk_vs_mf", "--set", "data.n=200", "--set",
                                   "data.d=300", "--set", "model.k=400", "--epochs", "200", "--out", live],
                                  stdout=subprocess.DEVNULL)
        while not os.path.exists(live):
            time.sleep(0.05)
        time.sleep(0.5)
        r = plot(live, "--out", os.path.join(tmp, "live"), "--watch", "--interval", "0.3", timeout=300)
        writer.wait(timeout=300)
        lines = r.stdout.strip().splitlines()
        check(r.returncode == 0, f"--watch exits 0 ({r.stderr.strip()})")
        check(any("file running" in l for l in lines) and "file complete" in lines[-1],
              f"--watch redrew while running and stopped at completion ({len(lines)} redraws)")
        check_figures(os.path.join(tmp, "live"), ["ntk", "mf"], ["ntk__mf"])

        # A run killed mid-way: the file plots what it holds and says so.
        killed = os.path.join(tmp, "killed.h5")
        p = subprocess.Popen([ENGINE, "--quiet", "--exp", "ntk_vs_mf", "--set", "data.n=200", "--set", "data.d=300",
                              "--set", "model.k=400", "--epochs", "500", "--out", killed], stdout=subprocess.DEVNULL)
        time.sleep(3)
        p.send_signal(signal.SIGKILL)
        p.wait()
        r = plot(killed, "--out", os.path.join(tmp, "killed"))
        check(r.returncode == 0 and "file running" in r.stdout, f"a killed run's file plots ({r.stdout.strip()})")
        sys.path.insert(0, PACKAGE)
        from lowrank_plot import reader
        state = reader.read(killed).runs[0].state()
        check(state.startswith("running: ") and state.endswith("of 500 epochs"), f"its titles say '{state}'")
        ds = check_dataset(killed)
        check(ds.attrs["status"] == "running" and ds.sizes["epoch"] < 500, "open: a killed run's epochs, as far as written")

        # Sweep files: partial ones, and one without cell_status.
        with open(os.path.join(tmp, "sweep.toml"), "w") as f:
            f.write(SWEEP)
        check_partial_sweeps(tmp)
        check_sweep_without_status(tmp)

        # Bad files: a message naming the problem, exit 2, no traceback, nothing created.
        foreign = os.path.join(tmp, "foreign.h5")
        with h5py.File(foreign, "w") as f:
            f["x"] = np.arange(3)
        older = os.path.join(tmp, "older.h5")
        shutil.copy(ntk, older)
        with h5py.File(older, "a") as f:
            f.attrs["format"] = "lowrank-engine/0"
        text = os.path.join(tmp, "notes.txt")
        with open(text, "w") as f:
            f.write("not hdf5\n")
        truncated = os.path.join(tmp, "truncated.h5")
        with open(ntk, "rb") as src, open(truncated, "wb") as dst:
            dst.write(src.read(os.path.getsize(ntk) // 3))
        no_means = os.path.join(tmp, "no-means.h5")
        shutil.copy(os.path.join(tmp, "no-status.h5"), no_means)
        with h5py.File(no_means, "a") as f:
            for name in [k for k in f if k.endswith("_mean")]:
                del f[name]
        fifo, loop, dangling = (os.path.join(tmp, name) for name in ("fifo.h5", "loop.h5", "dangling.h5"))
        os.mkfifo(fifo)
        os.symlink("loop.h5", loop)
        os.symlink("nowhere.h5", dangling)
        cases = {os.path.join(tmp, "missing.h5"): "no such file", text: "not a readable HDF5 file",
                 foreign: "not a lowrank-engine file", older: "this tool reads 'lowrank-engine/1'",
                 truncated: "not a readable HDF5 file", no_means: "sweep file without a '<series>_mean' variable",
                 fifo: "is a FIFO, not a regular file", loop: "is a symbolic link loop",
                 dangling: "is a symbolic link to nowhere.h5, which does not exist",
                 os.path.join(tmp, "ntk"): "is a directory, not a regular file"}
        out = os.path.join(tmp, "bad")
        for path, message in cases.items():
            code, said = plot_refused(path, out)
            check(code == 2 and said.startswith(f"engine-plot: {path}: ") and message in said
                  and "Traceback" not in said and not os.path.exists(out),
                  f"{os.path.basename(path)}: exit {code}, '{said}', nothing created")
            said = open_refused(path)
            check(said.startswith(f"{path}: ") and message in said,
                  f"open({os.path.basename(path)}): FileError '{said}'")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
