#!/usr/bin/python3
"""engine sweep (SPEC §10) on the CPU: the sweep file opens in xarray as one labelled Dataset;
replicate 0 of a cell is bit for bit the engine's own run of that cell's configuration; the
means and standard errors are numpy's over the replicates; --jobs 2 writes the same file as
--jobs 1, and so do two shards merged (one run as a Slurm array task by data/slurm's script, with
the variables Slurm sets: no Slurm daemons here), and mpirun -np 2 and 3; a sweep killed with SIGKILL and resumed is the
uninterrupted one; epochs = 0 gathers
the metrics at initialisation; bad sweeps are refused, nothing created. Last, a reduced
gradient_alignment_scaling against an independent PyTorch version of the Gradient_Alignment
notebook's create_curve, with its own draws: every mean within four standard errors.

usage: test_sweep.py ENGINE
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
import numpy as np
import xarray as xr

from checks import check, summary
from notebook_create_curve import create_curve
from tiny_config import TINY_AXES, tiny_config

ENGINE = sys.argv[1]
REPO_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "experiments")

BASE = tiny_config()
SWEEP = "[sweep]\nreplicates = {replicates}\n" + TINY_AXES


def sweep(*args, cwd):
    return subprocess.run([ENGINE, "sweep", "--quiet", *args], capture_output=True, text=True, cwd=cwd)


def same_files(a, b):
    """The names of the numeric datasets whose values differ."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        return [k for k in fa if isinstance(fa[k], h5py.Dataset) and fa[k].dtype.kind in "fi"
                and not np.array_equal(fa[k][()], fb[k][()], equal_nan=True)]


def kept_cells(tmp, sweep_file, reference="kept.h5"):
    """The cell files `sweep_file` references, and whether each holds the same status and series
    as the one-process keep_runs sweep's file of the same cell."""
    def names(path):
        with h5py.File(os.path.join(tmp, path), "r") as f:
            return [n.decode() if isinstance(n, bytes) else n for n in f["cell_file"][()].ravel()]
    mine, ones = names(sweep_file), names(reference)
    same = len(mine) == len(ones)
    for name, one in zip(mine, ones):
        with h5py.File(os.path.join(tmp, name), "r") as a, h5py.File(os.path.join(tmp, one), "r") as b:
            same = same and a["status"][()] == b["status"][()] and all(
                np.array_equal(a[f"runs/{run}/{k}"][()], b[f"runs/{run}/{k}"][()], equal_nan=True)
                for run in ("ntk", "mf") for k in ("train_mse", "test_mse", "grad_singular_values"))
    return mine, same


def main():
    tmp = tempfile.mkdtemp()
    for name, replicates in (("sweep.toml", 3), ("long.toml", 40)):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(BASE + SWEEP.format(replicates=replicates))
    with open(os.path.join(tmp, "base.toml"), "w") as f:
        f.write(BASE)

    r = sweep("--config", "sweep.toml", "--out", "one.h5", cwd=tmp)
    check(r.returncode == 0, f"a 2 x 2 cell sweep, 3 replicates, runs ({r.stderr.strip()})")
    ds = xr.open_dataset(os.path.join(tmp, "one.h5"), engine="h5netcdf")
    check(ds.train_mse.dims == ("run", "size", "act", "replicate", "epoch") and ds.sizes["replicate"] == 3
          and list(ds.run.values) == ["ntk", "mf"] and list(ds["runs.ntk.activation"].values) == ["relu", "tanh"]
          and list(ds["data.n"].values) == [40, 60], "xarray opens it as one labelled Dataset")
    check(bool((ds.cell_status == 1).all()), "every cell complete")
    check(ds.cell_device.dims == ds.cell_status.dims and bool((ds.cell_device == -1).all()),
          "cell_device: -1 (the CPU) for every cell")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps", "plot"))
    import lowrank_plot
    check(lowrank_plot.open(os.path.join(tmp, "one.h5")).train_mse_mean.identical(ds.train_mse_mean),
          "lowrank_plot.open reads a sweep file too")
    values = ds.train_mse.values
    with np.errstate(invalid="ignore"):
        want_mean = values.mean(axis=3)
        want_se = values.std(axis=3, ddof=1) / np.sqrt(3)
    check(np.allclose(ds.train_mse_mean.values, want_mean, rtol=1e-12) and
          np.allclose(ds.train_mse_stderr.values, want_se, rtol=1e-9), "mean and standard error over the replicates")
    # Replicate 0 of cell (size 1, act tanh) is the engine's own run of that configuration.
    subprocess.run([ENGINE, "--config", "base.toml", "--set", "data.n=60", "--set", "model.k=40", "--set",
                    "runs.ntk.activation=tanh", "--threads", "1", "--quiet", "--out", "cell.h5"], check=True, cwd=tmp,
                   stdout=subprocess.DEVNULL)
    with h5py.File(os.path.join(tmp, "cell.h5"), "r") as f:
        check(all(np.array_equal(ds[s].sel(run=run, size=1, act=1, replicate=0).values, f[f"runs/{run}/{s}"][()])
                  for run in ("ntk", "mf") for s in ("train_mse", "test_mse", "align_residue", "w_opnorm")),
              "replicate 0 of a cell is bit for bit the engine's run of its configuration")
    check(not np.array_equal(ds.train_mse.values[:, :, :, 0], ds.train_mse.values[:, :, :, 1]),
          "replicates draw their own data")

    # engine-plot on a sweep: each series' mean ± standard error against each axis.
    plot_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps", "plot")
    r = subprocess.run([sys.executable, "-m", "lowrank_plot", os.path.join(tmp, "one.h5"), "--out",
                        os.path.join(tmp, "figs")], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=plot_dir))
    series = [v[: -len("_mean")] for v in ds.data_vars if v.endswith("_mean")]
    drawn = sorted(os.listdir(os.path.join(tmp, "figs"))) if r.returncode == 0 else []
    check(drawn == sorted(f"{s}-vs-{a}.png" for s in series for a in ("size", "act")),
          f"engine-plot draws every series against every axis ({len(drawn)} figures) {r.stderr.strip()}")
    from lowrank_plot import sweep_figures
    fig = sweep_figures.series_against_axis(ds.load(), "train_mse", "size")
    bars = fig.axes[0].containers
    want = [(run, act) for run in ("ntk", "mf") for act in (0, 1)]
    check(len(bars) == 4 and all(
        np.array_equal(b.lines[0].get_xdata(), [40, 60]) and
        np.array_equal(b.lines[0].get_ydata(), ds.train_mse_mean.sel(run=run, act=act).isel(epoch=-1).values)
        for b, (run, act) in zip(bars, want)), "the curves are the means at the last epoch, against data.n")

    # keep_runs: each cell's replicate also writes its engine file, referenced from the sweep file;
    # the gathered values are the same.
    r = sweep("--config", "sweep.toml", "--set", "sweep.keep_runs=true", "--out", "kept.h5", cwd=tmp)
    kept = xr.open_dataset(os.path.join(tmp, "kept.h5"), engine="h5netcdf")
    files = [os.path.join(tmp, name) for name in kept.cell_file.values.ravel()]
    complete = all(os.path.exists(p) for p in files)
    if complete:
        with h5py.File(files[-1], "r") as f:
            complete = (f["status"][()].rstrip(b"\0") == b"complete" and np.array_equal(
                f["runs/mf/train_mse"][()], kept.train_mse.sel(run="mf").values[-1, -1, -1]))
    check(r.returncode == 0 and len(files) == 12 and complete and not same_files(os.path.join(tmp, "one.h5"),
                                                                                 os.path.join(tmp, "kept.h5")),
          "keep_runs: every cell's engine file written and referenced, the same gathered values")

    # keep_runs in shards: each shard keeps its cells; the merged file references them, from its
    # own folder, and holds the one-process values.
    os.makedirs(os.path.join(tmp, "shards"), exist_ok=True)
    rs = [sweep("--config", "sweep.toml", "--set", "sweep.keep_runs=true", "--shard", f"{i}/2", "--out",
                f"shards/kshard{i}.h5", cwd=tmp) for i in (0, 1)]
    r = sweep("--merge", "--out", "kmerged.h5", "shards/kshard0.h5", "shards/kshard1.h5", cwd=tmp)
    diff = same_files(os.path.join(tmp, "kept.h5"), os.path.join(tmp, "kmerged.h5"))
    ran = r.returncode == 0 and all(x.returncode == 0 for x in rs)
    names, same_cells = kept_cells(tmp, "kmerged.h5") if ran else ([], False)
    check(same_cells and len(names) == 12 and all(n.startswith("shards/kshard") for n in names) and not diff,
          f"keep_runs in two shards, merged: references to the shards' cell files, the one-process values {diff}")

    r = sweep("--config", "sweep.toml", "--out", "two.h5", "--jobs", "2", cwd=tmp)
    diff = same_files(os.path.join(tmp, "one.h5"), os.path.join(tmp, "two.h5"))
    check(r.returncode == 0 and not diff, f"--jobs 2 writes the same file as --jobs 1 {diff}")

    # Shards: a static share each (one as a Slurm array task, through the sbatch script with the
    # variables Slurm sets), merged: the one-process file.
    r0 = sweep("--config", "sweep.toml", "--shard", "0/2", "--out", "shard0.h5", cwd=tmp)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "slurm", "sweep_array.sbatch")
    env = dict(os.environ, ENGINE=ENGINE, SHARDS="slurm", SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2",
               SLURM_ARRAY_TASK_MIN="0", SLURM_CPUS_PER_TASK="2")
    r1 = subprocess.run(["bash", script, "--config", "sweep.toml", "--quiet"], capture_output=True, text=True, cwd=tmp,
                        env=env)
    r = sweep("--merge", "--out", "merged.h5", "slurm/shard-1.h5", "shard0.h5", cwd=tmp)
    diff = same_files(os.path.join(tmp, "one.h5"), os.path.join(tmp, "merged.h5"))
    check(r0.returncode == 0 and r1.returncode == 0 and r.returncode == 0 and not diff,
          f"two shards (one a Slurm array task) merged: the one-process file {diff} ({r1.stderr.strip()})")
    r = sweep("--config", "sweep.toml", "--set", "sweep.replicates=4", "--shard", "1/2", "--out", "other.h5", cwd=tmp)
    for what, args, message in (
            ("shard i >= N", ["--config", "sweep.toml", "--shard", "2/2", "--out", "bad.h5"], r"--shard 2/2: i must be below N"),
            ("--shard auto outside Slurm", ["--config", "sweep.toml", "--shard", "auto", "--out", "bad.h5"],
             r"SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT are not set"),
            ("merging shards of different sweeps", ["--merge", "--out", "bad.h5", "shard0.h5", "other.h5"],
             r"is a shard of another sweep"),
            ("a missing shard", ["--merge", "--out", "bad.h5", "shard0.h5"], r"shard\(s\) 1 of 2 missing"),
            ("a shard twice", ["--merge", "--out", "bad.h5", "shard0.h5", "shard0.h5"], r"shard0\.h5 is given twice")):
        before = set(os.listdir(tmp))
        r = subprocess.run([ENGINE, "sweep", "--quiet", *args], capture_output=True, text=True, cwd=tmp,
                           env={k: v for k, v in os.environ.items() if not k.startswith("SLURM_")})
        check(r.returncode == 2 and re.search(message, r.stderr) and set(os.listdir(tmp)) == before,
              f"refused, nothing created: {what} ({r.stderr.strip()[:120]})")

    # MPI: rank 0 hands the cells out to the other ranks; the same file (mpirun refuses root
    # without --allow-run-as-root; --oversubscribe: more ranks than this machine's cores).
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        print("skip MPI: no mpirun (Debian's openmpi-bin) on this machine")
    else:
        for ranks in (2, 3):
            r = subprocess.run([mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), ENGINE, "sweep",
                                "--quiet", "--config", "sweep.toml", "--out", f"mpi{ranks}.h5"], capture_output=True,
                               text=True, cwd=tmp)
            diff = same_files(os.path.join(tmp, "one.h5"), os.path.join(tmp, f"mpi{ranks}.h5"))
            check(r.returncode == 0 and not diff, f"mpirun -np {ranks}: the --jobs 1 file {diff} ({r.stderr.strip()[-200:]})")
        # keep_runs under mpirun: the ranks write the cells' files (each its own process and HDF5);
        # the same files' values and references as the one-process keep_runs sweep.
        r = subprocess.run([mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "3", ENGINE, "sweep", "--quiet",
                            "--config", "sweep.toml", "--set", "sweep.keep_runs=true", "--out", "kept_mpi.h5"],
                           capture_output=True, text=True, cwd=tmp)
        diff = same_files(os.path.join(tmp, "kept.h5"), os.path.join(tmp, "kept_mpi.h5"))
        names, same_cells = kept_cells(tmp, "kept_mpi.h5") if r.returncode == 0 else ([], False)
        check(same_cells and all(n.startswith("kept_mpi-cells/") for n in names) and len(names) == 12 and not diff,
              f"keep_runs under mpirun -np 3: the ranks write every cell's file, as one process does {diff} "
              f"({r.stderr.strip()[-200:]})")
        # At the preset's sizes (to n = 800) OpenBLAS would split products over threads: every rank
        # must train on one, as the pool does.
        scaling = ["--exp", "gradient_alignment_scaling", "--set", "sweep.replicates=2", "--quiet"]
        r1 = sweep(*scaling[:-1], "--jobs", "2", "--out", "scaling_pool.h5", cwd=tmp)
        r = subprocess.run([mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "3", ENGINE, "sweep", *scaling,
                            "--out", "scaling_mpi.h5"], capture_output=True, text=True, cwd=tmp)
        diff = same_files(os.path.join(tmp, "scaling_pool.h5"), os.path.join(tmp, "scaling_mpi.h5"))
        check(r1.returncode == 0 and r.returncode == 0 and not diff,
              f"gradient_alignment_scaling to n = 800: mpirun -np 3 = --jobs 2 {diff}")
        with open(os.path.join(tmp, "bad.toml"), "w") as f:
            f.write(BASE + '[sweep]\n[[sweep.axes]]\nname = "a"\nkey = "data.nn"\nvalues = [1]\n')
        before = set(os.listdir(tmp))
        r = subprocess.run([mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2", ENGINE, "sweep", "--config",
                            "bad.toml", "--out", "bad.h5"], capture_output=True, text=True, cwd=tmp)
        check(r.returncode == 2 and "unknown key 'data.nn'" in r.stderr + r.stdout and set(os.listdir(tmp)) == before,
              "mpirun: a bad sweep is refused by rank 0, every rank ends, nothing created")

    # SIGKILL mid-sweep, then --resume: the uninterrupted sweep's file.
    r = sweep("--config", "long.toml", "--out", "full.h5", "--jobs", "2", cwd=tmp)
    killed = os.path.join(tmp, "killed.h5")
    p = subprocess.Popen([ENGINE, "sweep", "--quiet", "--config", "long.toml", "--out", killed], cwd=tmp,
                         stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    done = 0
    while time.time() < deadline and done < 20:
        time.sleep(0.1)
        try:
            with h5py.File(killed, "r", libver="latest", swmr=True) as f:
                done = int((f["cell_status"][()] > 0).sum())
        except (OSError, KeyError):
            pass
    p.send_signal(signal.SIGKILL)
    p.wait()
    with h5py.File(killed, "r", libver="latest", swmr=True) as f:
        left = int((f["cell_status"][()] == 0).sum())
    check(done >= 20 and left > 0, f"killed mid-sweep ({left} of 160 cells left)")
    # A copy without cell_device (a file of an engine before it) resumes too, and stays without it.
    older = os.path.join(tmp, "older.h5")
    shutil.copy(killed, older)
    subprocess.run(["h5clear", "-s", older], check=True)
    with h5py.File(older, "r+") as f:
        del f["cell_device"]
    r = sweep("--resume", older, cwd=tmp)
    with h5py.File(older, "r") as f:
        check(r.returncode == 0 and "cell_device" not in f and bool((f["cell_status"][()] > 0).all()),
              f"a sweep file without cell_device (an older engine's) resumes ({r.stderr.strip()[:200]})")
    r = sweep("--resume", killed, "--jobs", "2", cwd=tmp)
    diff = same_files(os.path.join(tmp, "full.h5"), killed)
    with h5py.File(killed, "r") as f:
        status = f["status"][()].rstrip(b"\0").decode()
    check(r.returncode == 0 and not diff and status == "complete",
          f"resumed after SIGKILL: the uninterrupted sweep's file {diff} ({r.stderr.strip()})")
    r = sweep("--resume", killed, cwd=tmp)
    check(r.returncode == 0 and not same_files(os.path.join(tmp, "full.h5"), killed), "a complete sweep resumes to itself")

    # epochs = 0: the metrics at initialisation, the series taken at W_0 only.
    r = sweep("--config", "sweep.toml", "--set", "sweep.epochs=0", "--out", "init.h5", cwd=tmp)
    init = xr.open_dataset(os.path.join(tmp, "init.h5"), engine="h5netcdf")
    check(r.returncode == 0 and init.sizes["epoch"] == 1 and "train_mse" in init and "test_mse" not in init
          and np.array_equal(init.train_mse.values[..., 0], ds.train_mse.values[..., 0]),
          "epochs = 0: one epoch, the entering series only, the same values as epoch 0")
    # Gathering only ||grad||_2 and v_t's alignments, an initialisation sweep takes them by Lanczos
    # on the gradient (float32 here, as the default) rather than from every singular value.
    top = ["opnorm_grad", "align_data", "align_residue", "align_label", "align_teacher"]
    runs = {}
    for name, gather in (("all", []), ("top", top)):
        gather_set = ["--set", "sweep.gather=[" + ", ".join(f'"{g}"' for g in gather) + "]"] if gather else []
        r = sweep("--config", "sweep.toml", "--set", "sweep.epochs=0", "--set", "output.alignments=true", *gather_set,
                  "--out", f"init_{name}.h5", cwd=tmp)
        runs[name] = xr.open_dataset(os.path.join(tmp, f"init_{name}.h5"), engine="h5netcdf") if r.returncode == 0 else None
    both = runs["all"] is not None and runs["top"] is not None
    check(both and all(np.allclose(runs["top"][g].values, runs["all"][g].values, rtol=1e-5, atol=1e-6) for g in top)
          and not np.array_equal(runs["top"].opnorm_grad.values, runs["all"].opnorm_grad.values),
          "epochs = 0 gathering ||grad||_2 and v_t's alignments only: by Lanczos, within float32 of the full spectrum's")

    # A sweep over a regulariser's strength gathers its term as 0 where it is off (not NaN: the
    # series is not recorded there), in a pool and from the kept cells' files alike.
    wd = BASE + '[sweep]\ngather = ["loss_weight_decay", "train_mse"]\nepochs = 2\n[[sweep.axes]]\nname = "wd"\n' \
                'key = "runs.mf.weight_decay"\nvalues = [0.0, 0.001]\n'
    with open(os.path.join(tmp, "wd.toml"), "w") as f:
        f.write(wd)
    terms = {}
    for name, extra in (("pool", []), ("kept", ["--set", "sweep.keep_runs=true"])):
        r = sweep("--config", "wd.toml", *extra, "--out", f"wd_{name}.h5", cwd=tmp)
        terms[name] = (xr.open_dataset(os.path.join(tmp, f"wd_{name}.h5"), engine="h5netcdf").loss_weight_decay
                       if r.returncode == 0 else None)
    ok = all(t is not None for t in terms.values())
    if ok:
        t = terms["pool"].isel(replicate=0)
        ok = (bool((t.sel(run="ntk") == 0).all()) and bool((t.sel(run="mf").isel(wd=0) == 0).all())
              and bool((t.sel(run="mf").isel(wd=1) > 0).all()) and terms["pool"].identical(terms["kept"]))
    check(ok, "a sweep over weight_decay gathers its term as 0 where it is off, in a pool and from kept cells")

    # Bad sweeps: exit 2, a message naming the problem, nothing created.
    bad = {
        "unknown key on an axis": ('[[sweep.axes]]\nname = "a"\nkey = "data.nn"\nvalues = [1]', r"unknown key 'data\.nn'"),
        "empty axis": ('[[sweep.axes]]\nname = "a"\nkey = "data.n"\nvalues = []', r"'sweep\.axes\.a\.values' must be a non-empty array"),
        "mismatched lengths": ('[[sweep.axes]]\nname = "a"\nkeys = ["data.n", "data.d"]\nvalues = [[40, 30], [50]]',
                               r"'sweep\.axes\.a\.values\[1\]' must hold 2 values"),
        "a bad value on an axis": ('[[sweep.axes]]\nname = "a"\nkey = "data.n"\nvalues = [40, -1]',
                                   r"sweep cell 1 \(data\.n=-1\).*'data\.n' = -1 must be"),
        "an unknown series": ('gather = ["nope"]\n[[sweep.axes]]\nname = "a"\nkey = "data.n"\nvalues = [40]',
                              r"'sweep\.gather' names 'nope', which no cell records"),
        "a reserved axis name": ('[[sweep.axes]]\nname = "epoch"\nkey = "data.n"\nvalues = [40]', r"is already the name of one of its own datasets in the sweep file"),
        "no axes": ("replicates = 2", r"'sweep\.axes' must list at least one axis"),
        "no replicates": ('replicates = 0\n[[sweep.axes]]\nname = "a"\nkey = "data.n"\nvalues = [40]',
                          r"'sweep\.replicates' = 0 must be an integer from 1"),
        "negative epochs": ('epochs = -1\n[[sweep.axes]]\nname = "a"\nkey = "data.n"\nvalues = [40]',
                            r"'sweep\.epochs' must be an integer from 0"),
        "keep_runs not a boolean": ('keep_runs = "yes"\n[[sweep.axes]]\nname = "a"\nkey = "data.n"\nvalues = [40]',
                                    r"'sweep\.keep_runs' must be true or false"),
        "an unknown sweep key": ('jobs = 2\n[[sweep.axes]]\nname = "a"\nkey = "data.n"\nvalues = [40]',
                                 r"unknown key 'sweep\.jobs'"),
    }
    for what, (table, message) in bad.items():
        with open(os.path.join(tmp, "bad.toml"), "w") as f:
            f.write(BASE + "[sweep]\n" + table + "\n")
        before = set(os.listdir(tmp))
        r = sweep("--config", "bad.toml", "--out", "bad.h5", cwd=tmp)
        check(r.returncode == 2 and re.search(message, r.stderr) and set(os.listdir(tmp)) == before,
              f"refused, nothing created: {what} ({r.stderr.strip()[:150]})")
    for what, args, message in (("--jobs 0", ["--config", "sweep.toml", "--jobs", "0", "--out", "bad.h5"],
                                  r"--jobs '0' must be an integer from 1"),
                                 ("--merge without --out", ["--merge", "one.h5"], r"--merge: give the merged file as --out"),
                                 ("--resume of a missing file", ["--resume", "nope.h5"], r"nope\.h5")):
        before = set(os.listdir(tmp))
        r = sweep(*args, cwd=tmp)
        check(r.returncode == 2 and re.search(message, r.stderr) and set(os.listdir(tmp)) == before,
              f"refused, nothing created: {what} ({r.stderr.strip()[:120]})")
    r = subprocess.run([ENGINE, "--config", "sweep.toml", "--out", "x.h5"], capture_output=True, text=True, cwd=tmp)
    check(r.returncode == 2 and "run it with `engine sweep`" in r.stderr, "the engine points a sweep to `engine sweep`")
    r = sweep("--config", "base.toml", cwd=tmp)
    check(r.returncode == 2 and "no [sweep] table" in r.stderr, "a configuration without [sweep] is refused")
    r = sweep("--resume", "cell.h5", cwd=tmp)
    check(r.returncode == 2 and "not a sweep file" in r.stderr, "--resume of an engine file is refused")

    # relu_vs_sigmoid as a sweep: replicate 0 of each cell is the preset's run of that cell.
    small = ["--set", "data.n=40", "--set", "data.d=30", "--set", "model.k=50"]
    r = sweep("--exp", "relu_vs_sigmoid_sweep", *small, "--set", "sweep.epochs=3", "--out", "rvs_sweep.h5", cwd=tmp)
    subprocess.run([ENGINE, "--exp", "relu_vs_sigmoid", "--cells", "sig1,relu3", *small, "--epochs", "3", "--threads", "1",
                    "--quiet", "--out", "rvs.h5"], check=True, cwd=tmp, stdout=subprocess.DEVNULL)
    rvs = xr.open_dataset(os.path.join(tmp, "rvs_sweep.h5"), engine="h5netcdf")
    with h5py.File(os.path.join(tmp, "rvs.h5"), "r") as f:
        same = all(np.array_equal(rvs[k].sel(run=run, cell=index, replicate=0).values, f[f"runs/{cell}_{run}/{k}"][()])
                   for cell, index in (("sig1", 0), ("relu3", 6)) for run in ("relu", "sigmoid")
                   for k in ("train_mse", "test_mse", "align_residue", "align_data", "w_opnorm", "energy"))
    check(r.returncode == 0 and same, "relu_vs_sigmoid_sweep: cells sig1 and relu3 are the preset's runs, bit for bit")

    # beta_estimation, small: beta_hat = -2 x the log-log slope of the mean |cos(z, r)| against n,
    # per run and combination of the other axes, as numpy fits it; its histogram drawn.
    r = sweep("--exp", "beta_estimation", "--set", "sweep.axes.size.values=[[30, 40, 50], [60, 80, 100], [90, 120, 150]]",
              "--set", "sweep.replicates=2", "--jobs", "2", "--out", "beta.h5", cwd=tmp)
    beta = xr.open_dataset(os.path.join(tmp, "beta.h5"), engine="h5netcdf")
    logn = np.log(beta["data.n"].values)
    mean = beta.cos_z_residual_mean.isel(epoch=0).transpose("run", "activation", "loss", "nu", "alpha", "size").values
    want = -2 * np.apply_along_axis(lambda y: np.polyfit(logn, np.log(y), 1)[0], -1, mean)
    check(r.returncode == 0 and beta.beta_hat.dims == ("run", "activation", "loss", "nu", "alpha", "epoch")
          and np.allclose(beta.beta_hat.isel(epoch=0).values, want, rtol=1e-10),
          f"beta_estimation: beta_hat is -2 x numpy's log-log slope for all {want.size} combinations")
    r = subprocess.run([sys.executable, "-m", "lowrank_plot", os.path.join(tmp, "beta.h5"), "--out",
                        os.path.join(tmp, "beta_figs")], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=plot_dir))
    check(r.returncode == 0 and os.path.exists(os.path.join(tmp, "beta_figs", "beta_hat-histogram.png")),
          "engine-plot draws beta_hat's histogram")
    for what, slope, message in (
            ("a slope of a series not gathered", 'series = "train_mse"', r"'sweep\.slopes\[0\]\.series' = \"train_mse\" is not a gathered"),
            ("a slope along no axis", 'series = "cos_z_residual"\naxis = "width"', r"is not an axis of the sweep"),
            ("a slope against a non-numeric key", 'series = "cos_z_residual"\naxis = "loss"',
             r"the values of 'model\.loss' must be positive numbers")):
        with open(os.path.join(REPO_DATA, "beta_estimation.toml")) as f:
            text = f.read().split("[[sweep.slopes]]")[0] + '[[sweep.slopes]]\nname = "b"\n' + slope + "\n"
        with open(os.path.join(tmp, "bad.toml"), "w") as f:
            f.write(text)
        before = set(os.listdir(tmp))
        r = sweep("--config", "bad.toml", "--out", "bad.h5", cwd=tmp)
        check(r.returncode == 2 and re.search(message, r.stderr) and set(os.listdir(tmp)) == before,
              f"refused, nothing created: {what} ({r.stderr.strip()[:120]})")

    check_create_curve(tmp)
    return summary()


def check_create_curve(tmp):
    ns, T = [100, 200, 300], 30
    r = sweep("--exp", "gradient_alignment_scaling", "--set", "sweep.replicates=30", "--set",
              "sweep.axes.size.values=[[100, 50, 33], [200, 100, 66], [300, 150, 100]]", "--jobs", "2", "--out",
              "scaling.h5", cwd=tmp)
    check(r.returncode == 0, f"gradient_alignment_scaling, n <= 300, 30 replicates ({r.stderr.strip()})")
    ds = xr.open_dataset(os.path.join(tmp, "scaling.h5"), engine="h5netcdf").isel(epoch=0)
    ref = create_curve(ns, T, seed=7)
    k = np.array([n // 3 for n in ns])
    pairs = {  # notebook quantity: (engine series, run, scale)
        "norms": ("opnorm_grad", "ntk", 1), "fnorms": ("opnorm_grad", "mf", np.sqrt(k)),
        "prod": ("align_label", "ntk", 1), "prod2": ("align_residue", "ntk", 1), "prod3": ("align_teacher", "ntk", 1),
        "fprod": ("align_label", "mf", 1), "fprod2": ("align_residue", "mf", 1), "fprod3": ("align_teacher", "mf", 1),
    }
    for name, (series, run, scale) in pairs.items():
        engine_values = ds[series].sel(run=run).values * (scale[:, None] if np.ndim(scale) else scale)
        m1, m2 = engine_values.mean(axis=1), ref[name].mean(axis=1)
        se = np.sqrt(engine_values.var(axis=1, ddof=1) / T + ref[name].var(axis=1, ddof=1) / T)
        z = np.abs(m1 - m2) / se
        check(np.all(z < 4), f"create_curve's {name} = the sweep's {series} ({run}{', x sqrt(k)' if np.ndim(scale) else ''}): "
                             f"means {np.round(m1, 4)} vs {np.round(m2, 4)}, |z| {np.round(z, 2)} < 4")


if __name__ == "__main__":
    sys.exit(main())
