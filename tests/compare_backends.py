#!/usr/bin/python3
"""A whole ntk_vs_mf run on the CPU and the CUDA backend, compared: the inputs bit for bit,
every per-epoch metric of both runs and of the pair within stated tolerances, in float64 and
float32; then the same with the decomposition every 2nd epoch and both regularisers. Exits 77
(skipped) where no CUDA device is present.

usage: compare_backends.py ENGINE [EPOCHS]
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

# The series are discovered from the file, as engine-plot discovers them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps", "plot"))
from lowrank_plot.reader import per_epoch_series  # noqa: E402

# (relative, absolute) per metric and precision: the two backends sum in different orders.
TOLERANCES = {
    "float64": {"default": (1e-9, 1e-10), "grad_singular_values": (1e-8, 1e-9), "grad_top_right_vector": (0, 1e-8),
                "pair_mean_angle_deg": (0, 1e-6),
                # From the spectrum's values, whose zero tail each backend leaves at its own rounding.
                "effective_rank_grad": (1e-4, 0)},
    "float32": {"default": (1e-3, 1e-5), "grad_singular_values": (1e-3, 1e-4), "grad_top_right_vector": (0, 1e-3),
                "pair_mean_angle_deg": (0, 1e-2)},
}


# The variants: the preset as it is, and with SPEC §9's decomposition and regularisers.
VARIANTS = {"plain": [], "decomposed": ["--set", "decomposition.every=2", "--set", "decomposition.n_mu=2000", "--set",
                                        "runs.mf.gradient_penalty=0.5", "--set", "runs.ntk.weight_decay=0.01"]}


def run(engine, out, device, precision, epochs, extra):
    return subprocess.run([engine, "--exp", "ntk_vs_mf", "--epochs", str(epochs), "--precision", precision,
                           "--device", device, "--quiet", "--out", out, *extra], capture_output=True, text=True)


def main(engine, epochs):
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for variant, precision in [(v, p) for v in VARIANTS for p in ("float64", "float32")]:
            cpu, gpu = (os.path.join(tmp, f"{device}-{variant}-{precision}.h5") for device in ("cpu", "gpu"))
            g = run(engine, gpu, "cuda", precision, epochs, VARIANTS[variant])
            if g.returncode == 2 and "no CUDA device" in g.stderr:
                print("skipped: no CUDA device present")
                return 77
            assert g.returncode == 0, g.stderr
            c = run(engine, cpu, "cpu", precision, epochs, VARIANTS[variant])
            assert c.returncode == 0, c.stderr
            with h5py.File(cpu, "r") as fc, h5py.File(gpu, "r") as fg:
                print(f"{variant}, {precision}: cpu device {fc.attrs['device']}, gpu device {fg.attrs['device']}")
                for name, ds in fc["inputs/sigmoid_teacher"].items():
                    same = np.array_equal(ds[()], fg["inputs/sigmoid_teacher"][name][()])
                    failures += not same
                    print(f"  inputs/{name}: {'bit-identical' if same else 'DIFFERENT'}")
                pairs = [(f"runs/{r}/{m}", m) for r in ("ntk", "mf")
                         for m in [*per_epoch_series(fc[f"runs/{r}"]), "refit_test_mse"] if m != "epoch_seconds"]
                pairs.append(("pairs/ntk__mf/pair_mean_angle_deg", "pair_mean_angle_deg"))
                for path, metric in pairs:
                    x, y = np.asarray(fg[path][()], np.float64), np.asarray(fc[path][()], np.float64)
                    rel, abs_ = TOLERANCES[precision].get(metric, TOLERANCES[precision]["default"])
                    err = np.abs(x - y)
                    ok = np.all((err <= abs_ + rel * np.abs(y)) | (np.isnan(x) & np.isnan(y)))
                    failures += not ok
                    print(f"  {'ok  ' if ok else 'FAIL'} {path}: max |gpu - cpu| {np.nanmax(err):.3g}"
                          f" (bound {abs_:g} + {rel:g}|cpu|)")
    print(f"{failures} comparison(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10))
