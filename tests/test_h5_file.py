#!/usr/bin/python3
"""The engine's HDF5 file after a short run: every dataset, shape, attribute and dimension
scale of SPEC §6, read with h5py and xarray; finite values; the same command gives the same file.

usage: test_h5_file.py ENGINE
"""
import math
import os
import subprocess
import sys
import tempfile
import tomllib

import h5py
import numpy as np
import xarray as xr

# The series are discovered from the file, as engine-plot discovers them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps", "plot"))
from lowrank_plot.reader import per_epoch_series  # noqa: E402

N, D, K, EPOCHS = 40, 30, 50, 6
# SPEC §4's per-epoch scalars: each must be in the file (the engine may record more).
SPEC_SCALARS = {"train_mse", "test_mse", "w_opnorm", "energy", "align_data", "align_residue", "align_initial",
                "align_residue_step", "epoch_seconds"}
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL", what)


def run(engine, out, *extra):
    args = [engine, "--exp", "ntk_vs_mf", "--set", f"data.n={N}", "--set", f"data.d={D}", "--set", f"model.k={K}",
            "--epochs", str(EPOCHS), "--threads", "2", "--quiet", "--out", out, *extra]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def text(ds):
    return ds[()].decode().rstrip("\0")


def check_file(path, precision):
    dtype = np.float32 if precision == "float32" else np.float64
    with h5py.File(path, "r") as f:
        a = f.attrs
        check(a["format"] == "lowrank-engine/1", "format attribute")
        for key in ["engine_version", "created_utc", "command_line", "experiment", "device", "precision", "seed",
                    "config"]:
            check(key in a, f"root attribute {key}")
        check(a["experiment"] == "ntk_vs_mf" and a["device"] == "cpu" and a["precision"] == precision,
              "experiment, device, precision")
        check(a["seed"] == 42, "seed")
        check("--exp ntk_vs_mf" in a["command_line"], "command_line")
        config = tomllib.loads(a["config"])
        check(config["model"]["k"] == K and config["data"]["n"] == N, "config is the resolved TOML")
        check(text(f["status"]) == "complete", "status complete")
        check(f["peak_host_bytes"][()] > 0 and f["peak_device_bytes"][()] == 0, "peak memory recorded (CPU: no device)")

        inp = f["inputs/sigmoid_teacher"]
        shapes = {"X_train": (N, D), "y_train": (N,), "X_test": (N, D), "y_test": (N,), "X_bulk_train": (N, D),
                  "z_train": (N,), "q": (D,), "beta": (D,), "a": (K,), "W0": (K, D)}
        for name, shape in shapes.items():
            check(inp[name].shape == shape and inp[name].dtype == dtype, f"inputs/{name} shape and dtype")
            check(np.isfinite(inp[name][()]).all(), f"inputs/{name} finite")
        check(abs(np.linalg.norm(inp["q"][()]) - 1) < 1e-6, "q is a unit vector")

        for run_name in ["ntk", "mf"]:
            g = f["runs"][run_name]
            for key in ["inputs", "activation", "loss", "gamma", "lr", "epochs", "a_init", "normalize_rows",
                        "gamma_nb", "lr_nb", "k", "d", "n"]:
                check(key in g.attrs, f"{run_name} attribute {key}")
            check(g.attrs["inputs"] == "sigmoid_teacher", f"{run_name} names its inputs")
            check(math.isclose(g.attrs["gamma"], g.attrs["gamma_nb"] ** 2), f"{run_name} gamma = gamma_nb^2")
            check(text(g["status"]) == "complete" and g["diverged_epoch"][()] == -1, f"{run_name} status")
            check(np.isfinite(g["refit_test_mse"][()]), f"{run_name} refit_test_mse finite")
            check(list(g["epoch"][()]) == list(range(EPOCHS)), f"{run_name} epoch coordinate")
            check(list(g["singular_index"][()]) == list(range(min(K, D))), f"{run_name} singular_index")
            check(list(g["input_index"][()]) == list(range(D)), f"{run_name} input_index")
            series = per_epoch_series(g)
            scalars = [name for name, ds in series.items() if ds.ndim == 1]
            check(SPEC_SCALARS <= set(scalars), f"{run_name}: SPEC §4's scalars {sorted(SPEC_SCALARS - set(scalars))} "
                  "missing")
            for name, ds in series.items():
                for attr in ("long_name", "units", "taken_at"):
                    check(isinstance(ds.attrs.get(attr), str) and ds.attrs[attr], f"{run_name}/{name} has {attr}")
                check(ds.attrs.get("taken_at") in ("W_t", "W_(t+1)", "W_t to W_(t+1)"), f"{run_name}/{name} taken_at")
            check(g["epoch_seconds"].attrs.get("units") == "s" and g["train_mse"].attrs.get("units") == "1",
                  f"{run_name}: units of epoch_seconds and train_mse")
            for name in scalars:
                check(g[name].shape == (EPOCHS,), f"{run_name}/{name} shape")
                check(g[name].dims[0][0].name == g.name + "/epoch", f"{run_name}/{name} epoch scale attached")
                values = g[name][()]
                check(np.isfinite(values[1:] if name == "align_residue_step" else values).all(),
                      f"{run_name}/{name} finite")
            check(math.isnan(g["align_residue_step"][0]), f"{run_name} align_residue_step[0] is NaN")
            for name in ["energy", "align_data", "align_residue", "align_initial"]:
                check(((g[name][()] >= 0) & (g[name][()] <= 1 + 1e-9)).all(), f"{run_name}/{name} in [0, 1]")
            check(abs(g["align_initial"][0] - 1) < 1e-6, f"{run_name} align_initial[0] = 1")
            sv, v = g["grad_singular_values"], g["grad_top_right_vector"]
            check(sv.shape == (EPOCHS, min(K, D)) and sv.dtype == dtype, f"{run_name} spectrum shape")
            check(v.shape == (EPOCHS, D) and v.dtype == dtype, f"{run_name} vector shape")
            check(sv.dims[1][0].name.endswith("singular_index") and v.dims[1][0].name.endswith("input_index"),
                  f"{run_name} second-axis scales")
            s = sv[()]
            check((np.diff(s, axis=1) <= 0).all() and (s >= 0).all(), f"{run_name} spectrum descending")
            check(np.allclose(np.linalg.norm(v[()], axis=1), 1, atol=1e-5), f"{run_name} unit vectors")
            check((np.sum(v[1:] * v[:-1], axis=1) >= 0).all(), f"{run_name} vector signs follow the previous epoch")

        p = f["pairs/ntk__mf"]
        check(p.attrs["run_a"] == "ntk" and p.attrs["run_b"] == "mf", "pair attributes")
        angle = p["pair_mean_angle_deg"][()]
        check(angle.shape == (EPOCHS,) and ((angle >= 0) & (angle <= 90)).all(), "pair angles in [0, 90]")
        check(p["pair_mean_angle_deg"].dims[0][0].name == p.name + "/epoch", "pair epoch scale")

    # xarray sees labelled arrays through the dimension scales.
    ds = xr.open_dataset(path, engine="h5netcdf", group="runs/ntk")
    check(ds["train_mse"].dims == ("epoch",), "xarray: train_mse over epoch")
    check(ds["grad_singular_values"].dims == ("epoch", "singular_index"), "xarray: spectrum dims")
    check(ds["grad_top_right_vector"].dims == ("epoch", "input_index"), "xarray: vector dims")
    check(list(ds["epoch"].values) == list(range(EPOCHS)), "xarray: epoch coordinate")
    with h5py.File(path, "r") as f:
        check(np.array_equal(ds["w_opnorm"].values, f["runs/ntk/w_opnorm"][()]), "xarray values equal h5py's")
    ds.close()


def check_truncated(path, full_path, rank, every):
    """A run with the truncated spectrum and the heavy series every `every`-th epoch, against the
    same run with the full spectrum: the same scalars, the top `rank` values within SPEC §4's bound."""
    heavy_epochs = list(range(0, EPOCHS, every))
    with h5py.File(path, "r") as f, h5py.File(full_path, "r") as full:
        check(tomllib.loads(f.attrs["config"])["spectrum"] == {"method": "truncated", "rank": rank}, "config: spectrum")
        for run_name in ("ntk", "mf"):
            g, h = f["runs/" + run_name], full["runs/" + run_name]
            check(list(g["spectrum_epoch"][()]) == heavy_epochs, f"{run_name} spectrum_epoch coordinate")
            check(list(g["singular_index"][()]) == list(range(rank)), f"{run_name} singular_index of the top r")
            sv, v = g["grad_singular_values"], g["grad_top_right_vector"]
            check(sv.shape == (len(heavy_epochs), rank) and v.shape == (len(heavy_epochs), D), f"{run_name} heavy shapes")
            check(sv.dims[0][0].name == g.name + "/spectrum_epoch", f"{run_name} spectrum_epoch scale attached")
            check(g["train_mse"].dims[0][0].name == g.name + "/epoch", f"{run_name} scalars keep the epoch scale")
            ref = h["grad_singular_values"][heavy_epochs, :rank].astype(float)
            tol = 1e-6 * ref[:, :1] + 1e-4 * ref
            check((np.abs(sv[()] - ref) <= tol).all(), f"{run_name} top {rank} values within SPEC §4 of the full spectrum")
            check(np.allclose(v[()], h["grad_top_right_vector"][heavy_epochs], atol=1e-4), f"{run_name} top vectors agree")
            for name in ["train_mse", "test_mse", "w_opnorm", "align_data", "align_residue"]:
                check(np.allclose(g[name][()], h[name][()], rtol=1e-4, atol=1e-6), f"{run_name}/{name} as with the full spectrum")
    ds = xr.open_dataset(path, engine="h5netcdf", group="runs/ntk")
    check(ds["grad_singular_values"].dims == ("spectrum_epoch", "singular_index"), "xarray: spectrum over spectrum_epoch")
    check(list(ds["spectrum_epoch"].values) == heavy_epochs, "xarray: spectrum_epoch values")
    ds.close()


def check_layout(engine, tmp):
    """Chunks of about 256 KiB; past 4 MiB a run's heavy series are compressed, a row per chunk."""
    small, large = os.path.join(tmp, "small.h5"), os.path.join(tmp, "large.h5")
    run(engine, small)
    with h5py.File(small, "r") as f:
        v = f["runs/ntk/grad_top_right_vector"]
        check(v.compression is None and v.chunks == (EPOCHS, D), f"small file: chunks {v.chunks}, not compressed")
    # float64 rows of 2048 values (16 KiB) for 300 epochs: 4.7 MiB.
    subprocess.run([engine, "--exp", "ntk_vs_mf", "--set", "data.n=16", "--set", "data.d=2048", "--set", "model.k=20",
                    "--epochs", "300", "--precision", "float64", "--threads", "2", "--quiet", "--out", large],
                   check=True, stdout=subprocess.DEVNULL)
    with h5py.File(large, "r") as f:
        v = f["runs/ntk/grad_top_right_vector"]
        check(v.compression == "gzip" and v.shuffle and v.chunks == (1, 2048), f"large file: chunks {v.chunks}, gzip")
        check(v.shape == (300, 2048) and np.allclose(np.linalg.norm(v[()], axis=1), 1), "large file: unit vectors read back")


def same_file(p, q):
    """Every dataset equal (but epoch_seconds) and every attribute (but created_utc, command_line)."""
    with h5py.File(p, "r") as a, h5py.File(q, "r") as b:
        names = []
        a.visit(names.append)
        for name in names:
            if isinstance(a[name], h5py.Dataset) and not name.endswith("epoch_seconds") and not name.startswith("peak_"):
                x, y = a[name][()], b[name][()]
                equal = np.array_equal(x, y, equal_nan=True) if np.asarray(x).dtype.kind == "f" else np.array_equal(x, y)
                check(equal, f"reproducible: {name}")
        for key in a.attrs:
            if key not in ("created_utc", "command_line"):
                check(a.attrs[key] == b.attrs[key], f"reproducible: attribute {key}")


def main(engine):
    with tempfile.TemporaryDirectory() as tmp:
        first, second, wide = (os.path.join(tmp, n) for n in ("a.h5", "b.h5", "f64.h5"))
        run(engine, first)
        run(engine, second)
        check_file(first, "float32")
        same_file(first, second)
        run(engine, wide, "--precision", "float64")
        check_file(wide, "float64")
        truncated = os.path.join(tmp, "truncated.h5")
        run(engine, truncated, "--set", "spectrum.method=truncated", "--set", "spectrum.rank=5",
            "--set", "output.heavy_every=4")
        check_truncated(truncated, first, 5, 4)
        check_layout(engine, tmp)
    print(f"{len(failures)} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
