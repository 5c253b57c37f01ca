#!/usr/bin/python3
"""Time per epoch against size: the engine's own epoch_seconds for ntk_vs_mf's two runs at
k = d = n = N (no pair: the angles are timed by bench_backend_ops), with the full spectrum and
with the truncated one (top 16), on one device. Writes the medians as JSON; with --figure, plots
every JSON given (both backends on one log-log figure) with the slope of each line read off
by least squares over N ≥ 512 and between the largest two sizes, beside the n·k·d ∝ N³ of the
GEMMs.

usage: scaling.py ENGINE --device cpu --sizes 256,512,1024,2048,4096 --json cpu.json
       scaling.py --figure scaling.png cpu.json [cuda.json]
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import run_engine  # noqa: E402


def measure(engine, device, sizes, epochs, threads, full_max):
    points = []
    for method in ("full", "truncated"):
        for N in sizes:
            if method == "full" and N > full_max:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                run = run_engine(engine, os.path.join(tmp, "s.h5"), device, threads, "--epochs", str(epochs),
                                 "--set", f"data.n={N}", "--set", f"data.d={N}", "--set", f"model.k={N}",
                                 "--set", "pairs=[]", "--set", f"spectrum.method={method}")
            # Epoch 0 warms caches, allocators and (truncated) the subspace: left out.
            s = np.concatenate([seconds[1:] for seconds in run["epoch_seconds"].values()])
            point = {"N": N, "method": method, "epoch_s": float(np.median(s)), "wall_s": run["wall_s"],
                     "peak_host_bytes": run["peak_host_bytes"], "peak_device_bytes": run["peak_device_bytes"],
                     "device": run["device"]}
            print(f"{device} {method:9s} N={N:6d}: {point['epoch_s'] * 1e3:10.2f} ms per epoch, "
                  f"peak host {point['peak_host_bytes'] / 2**30:.2f} GiB", flush=True)
            points.append(point)
    return points


def slope(points, smallest=512):
    xs = [p["N"] for p in points if p["N"] >= smallest]
    ys = [p["epoch_s"] for p in points if p["N"] >= smallest]
    if len(xs) < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def figure(path, files):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5))
    styles = {"full": "-o", "truncated": "--s"}
    largest = None  # the N³ guide goes through the largest measured point
    for name in files:
        with open(name) as f:
            data = json.load(f)
        for method in ("full", "truncated"):
            pts = sorted((p for p in data["points"] if p["method"] == method), key=lambda p: p["N"])
            if not pts:
                continue
            top = slope(pts, pts[-2]["N"]) if len(pts) > 1 else float("nan")
            label = f"{pts[0]['device']}, {method} spectrum: slope {slope(pts):.2f} (N ≥ 512), {top:.2f} (top two)"
            ax.loglog([p["N"] for p in pts], [p["epoch_s"] for p in pts], styles[method], label=label)
            if largest is None or pts[-1]["N"] > largest["N"]:
                largest = pts[-1]
    if largest:
        ns = np.array([256, largest["N"]])
        ax.loglog(ns, largest["epoch_s"] * (ns / largest["N"]) ** 3, ":", color="gray",
                  label="slope 3 (the GEMMs' n·k·d)")
    ax.set_xlabel("N = k = d = n")
    ax.set_ylabel("seconds per epoch (median, one run)")
    ax.set_title("lowrank-engine: time per epoch against size (float32)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("engine", nargs="?")
    p.add_argument("files", nargs="*", help="with --figure: the JSON files to plot")
    p.add_argument("--device", default="cpu")
    p.add_argument("--sizes", default="256,512,1024,2048,4096")
    p.add_argument("--full-max", type=int, default=2048, help="largest N for the full spectrum")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json")
    p.add_argument("--figure")
    args = p.parse_args()
    if args.figure:
        figure(args.figure, ([args.engine] if args.engine else []) + args.files)
        return
    points = measure(args.engine, args.device, [int(s) for s in args.sizes.split(",")], args.epochs, args.threads,
                     args.full_max)
    for method in ("full", "truncated"):
        pts = [q for q in points if q["method"] == method]
        if pts:
            top = slope(pts, pts[-2]["N"]) if len(pts) > 1 else float("nan")
            print(f"{method}: slope {slope(pts):.2f} over N >= 512, {top:.2f} between the largest two")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "epochs": args.epochs, "points": points}, f, indent=1)


if __name__ == "__main__":
    main()
