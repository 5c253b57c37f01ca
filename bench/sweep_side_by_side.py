#!/usr/bin/python3
"""gradient_alignment_scaling, the whole preset (8 sizes x R replicates, each the NTK and the
mean-field gradient at initialisation), timed on this machine: `engine sweep --jobs J` for each J
given, against the Gradient_Alignment notebook's create_curve as written (PyTorch on
torch.get_num_threads() threads, the same 8 sizes x R draws; tests/notebook_create_curve.py).
The engine's time is the whole process (start, the inputs, the sweep file); the notebook's is
create_curve alone. Prints a Markdown table and writes it as JSON.

usage: sweep_side_by_side.py ENGINE [--replicates 500] [--jobs 1,2] [--threads 2] [--json out.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from notebook_create_curve import create_curve  # noqa: E402

SIZES = [100, 200, 300, 400, 500, 600, 700, 800]  # the preset's n; d = n // 2, k = n // 3


def time_engine(engine, replicates, jobs):
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([engine, "sweep", "--exp", "gradient_alignment_scaling", "--set", f"sweep.replicates={replicates}",
                        "--jobs", str(jobs), "--out", os.path.join(tmp, "scaling.h5")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("engine")
    p.add_argument("--replicates", type=int, default=500)
    p.add_argument("--jobs", default="1,2")
    p.add_argument("--threads", type=int, default=2, help="the notebook's torch threads")
    p.add_argument("--json")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cells = len(SIZES) * a.replicates
    rows = [(f"engine sweep, `--jobs {j}`", time_engine(a.engine, a.replicates, int(j))) for j in a.jobs.split(",")]
    start = time.perf_counter()
    create_curve(SIZES, a.replicates, seed=7)
    notebook = time.perf_counter() - start
    rows.append((f"notebook `create_curve` ({a.threads} threads)", notebook))
    print(f"gradient_alignment_scaling: 8 sizes x {a.replicates} replicates = {cells} cells (draws)\n")
    print("| | time | cells per second | against the notebook |\n|---|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} s | {cells / seconds:.0f} | {notebook / seconds:.1f}x |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"replicates": a.replicates, "cells": cells, "seconds": dict(rows)}, f, indent=1)


if __name__ == "__main__":
    main()
