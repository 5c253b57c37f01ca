#!/usr/bin/python3
"""The engine and the seed's PyTorch code side by side on one machine, in one call: the engine
runs `--exp ntk_vs_mf` and writes its file; the seed's own functions (seed_ntk_vs_mf.py) then
train on the inputs that file holds. Prints per-epoch and end-to-end times and their ratios.

The engine's end-to-end time is its whole process (drawing the inputs, writing the file, the
refit); the seed's is train_track for both runs and the principal angles of every epoch, not
its data generation: the comparison favours the seed.

usage: side_by_side.py ENGINE [--device cpu|cuda] [--threads N] [--epochs E] [--json FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_ntk_vs_mf import time_seed  # noqa: E402


def run_engine(engine, out, device, threads, *extra):
    """Runs `engine --exp ntk_vs_mf` (with `extra` arguments) into `out`; returns its wall time,
    where it went (the summary's `time:` line), what the file says of it, and each run's
    epoch_seconds."""
    args = [engine, "--exp", "ntk_vs_mf", "--device", device, "--out", out, "--force", "--quiet", *extra]
    if threads:
        args += ["--threads", str(threads)]
    t0 = time.perf_counter()
    summary = subprocess.run(args, check=True, stdout=subprocess.PIPE, text=True).stdout
    wall = time.perf_counter() - t0
    times = next((line for line in summary.splitlines() if line.startswith("time: ")), "")
    with h5py.File(out, "r") as f:
        return {"wall_s": wall, "times": times, "device": f.attrs["device"],
                "epochs": int(f["runs/ntk/epoch"].shape[0]),
                "epoch_seconds": {r: f[f"runs/{r}/epoch_seconds"][()] for r in ("ntk", "mf")},
                "peak_host_bytes": int(f["peak_host_bytes"][()]), "peak_device_bytes": int(f["peak_device_bytes"][()])}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("engine")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for both (default: all cores)")
    p.add_argument("--epochs", type=int, default=0, help="default: the preset's 50")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ntk_vs_mf.h5")
        engine = run_engine(args.engine, out, args.device, args.threads,
                            *(["--epochs", str(args.epochs)] if args.epochs else []))
        seed = time_seed(out, args.device, args.threads, engine["epochs"])
    seconds = np.concatenate(list(engine.pop("epoch_seconds").values()))
    engine["run_epoch_mean_s"], engine["run_epoch_median_s"] = float(seconds.mean()), float(np.median(seconds))

    e = engine["epochs"]
    seed_run_epoch = seed["train_track_s"] / (2 * e)
    seed_total = seed["train_track_s"] + seed["angles_s"]
    rows = [
        ("per run-epoch (mean)", engine["run_epoch_mean_s"], seed_run_epoch),
        ("per run-epoch (engine median)", engine["run_epoch_median_s"], seed_run_epoch),
        ("whole ntk_vs_mf", engine["wall_s"], seed_total),
    ]
    print(f"ntk_vs_mf, {e} epochs, on {engine['device']} (seed: PyTorch, {seed['threads']} threads, {args.device})")
    print(f"{'':32s} {'engine':>12s} {'seed':>12s} {'seed/engine':>12s}")
    for name, mine, theirs in rows:
        print(f"{name:32s} {mine * 1e3:10.2f}ms {theirs * 1e3:10.2f}ms {theirs / mine:11.1f}x")
    print(f"seed's principal angles: {seed['angles_s'] / e * 1e3:.1f} ms per epoch; "
          f"engine peak memory: host {engine['peak_host_bytes'] / 2**30:.2f} GiB"
          + (f", device {engine['peak_device_bytes'] / 2**30:.2f} GiB" if engine["peak_device_bytes"] > 0 else ""))
    print(f"engine {engine['times']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"engine": engine, "seed": seed, "device": args.device}, f, indent=1)


if __name__ == "__main__":
    main()
