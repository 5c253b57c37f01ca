#!/usr/bin/python3
"""State from a file ([[inputs]] W0, a, q, beta = "FILE.h5:/path" or "FILE.npy"): training E2
epochs from an earlier file's snapshot of W_(E1) gives, bit for bit on this machine, the
E1 + E2-epoch run's epochs after E1 (gradient descent has no other state: every series that does
not look back past its own epoch, and the later snapshots); a .npy W0 and a, q and beta from
files are what the inputs hold (in the working precision), X_train = X_B + zeta z q^T is built
on the given q, and the file says where each came from.

usage: test_state_from_file.py ENGINE
"""
import os
import subprocess
import sys
import tempfile
import tomllib

import h5py
import numpy as np

from checks import check, summary

SIZES = ["--set", "data.n=40", "--set", "data.d=30", "--set", "model.k=20"]
E1, E2 = 3, 4
# Series that look back past their epoch (v_0, X^T r_(t-1)) or start from an earlier epoch's vector
# (the operator norm's Lanczos start, the sign of v_t): not the continued run's to repeat.
LOOK_BACK = {"align_initial", "align_residue_step", "w_opnorm", "grad_top_right_vector", "epoch_seconds"}


def engine(path, out, epochs, *sets):
    args = [path, "--exp", "ntk_vs_mf", *SIZES, "--epochs", str(epochs), "--device", "cpu", "--threads", "1", "--quiet",
            "--out", out]
    for s in sets:
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True)


def main(path):
    with tempfile.TemporaryDirectory() as tmp:
        whole = os.path.join(tmp, "whole.h5")
        r = engine(path, whole, E1 + E2, "output.snapshot_every=1")
        check(r.returncode == 0, f"the {E1 + E2}-epoch run {r.stderr.strip()}")
        later = os.path.join(tmp, "later.h5")
        source = f"{whole}:/runs/mf/snapshots/W"
        r = engine(path, later, E2, f'inputs.sigmoid_teacher.W0="{source}"', f"inputs.sigmoid_teacher.W0_epoch={E1}",
                   "output.snapshot_every=1")
        check(r.returncode == 0, f"{E2} epochs from its snapshot at epoch {E1} {r.stderr.strip()}")
        with h5py.File(whole, "r") as w, h5py.File(later, "r") as l:
            g, h = w["runs/mf"], l["runs/mf"]
            inputs = l["inputs/sigmoid_teacher"]
            check(inputs.attrs["W0_source"] == source and inputs.attrs["W0_epoch"] == E1,
                  f"the inputs say where W0 came from ({dict(inputs.attrs)})")
            check(np.array_equal(inputs["W0"][()], w["runs/mf/snapshots/W"][E1]), "W0 is the snapshot of W_3")
            names = [n for n in h if isinstance(h[n], h5py.Dataset) and h[n].ndim >= 1 and "epoch" in
                     [s.name.rsplit("/", 1)[-1] for s in h[n].dims[0].values()] and n not in LOOK_BACK]
            differ = [n for n in names if not np.array_equal(h[n][()], g[n][E1:], equal_nan=True)]
            check(len(names) >= 8 and not differ,
                  f"its {len(names)} series equal the whole run's epochs {E1}..{E1 + E2 - 1} bit for bit {differ}")
            opnorm = np.max(np.abs(h["w_opnorm"][()] / g["w_opnorm"][E1:] - 1))
            check(opnorm < 1e-5, f"w_opnorm within its tolerance (a Lanczos start of its own): {opnorm:.1e}")
            check(np.array_equal(l["runs/mf/snapshots/W"][()], w["runs/mf/snapshots/W"][E1:]),
                  "and its snapshots are the whole run's from epoch 3 on")

        # A .npy W0, and a, q, beta from another file's inputs: what the inputs hold.
        rng = np.random.default_rng(7)
        W0 = rng.standard_normal((20, 30))
        np.save(os.path.join(tmp, "w0.npy"), W0)
        q = rng.standard_normal(30)
        q /= np.linalg.norm(q)
        with h5py.File(os.path.join(tmp, "vectors.h5"), "w") as f:
            f["q"], f["beta"], f["a"] = q, np.roll(q, 1), rng.standard_normal(20)
        own = os.path.join(tmp, "own.h5")
        v = os.path.join(tmp, "vectors.h5")
        r = engine(path, own, 2, f'inputs.sigmoid_teacher.W0="{os.path.join(tmp, "w0.npy")}"',
                   f'inputs.sigmoid_teacher.q="{v}:/q"', f'inputs.sigmoid_teacher.beta="{v}:/beta"',
                   f'inputs.sigmoid_teacher.a="{v}:/a"')
        check(r.returncode == 0, f"W0 from a .npy, q, beta and a from an HDF5 file {r.stderr.strip()}")
        with h5py.File(own, "r") as f, h5py.File(v, "r") as src:
            g = f["inputs/sigmoid_teacher"]
            f32 = lambda x: np.asarray(x, np.float32)
            check(np.array_equal(g["W0"][()], f32(W0)) and np.array_equal(g["q"][()], f32(q)) and
                  np.array_equal(g["beta"][()], f32(src["beta"][()])) and np.array_equal(g["a"][()], f32(src["a"][()])),
                  "the inputs hold the given W0, q, beta and a")
            data = tomllib.loads(f.attrs["config"])["data"]
            zeta = data["n"] ** data["nu"]
            built = g["X_bulk_train"][()].astype(np.float64) + zeta * np.outer(g["z_train"][()], q)
            err = np.max(np.abs(g["X_train"][()] - built))
            check(err < 1e-5, f"X_train = X_B + zeta z q^T with the given q ({err:.1e})")
            check(g.attrs["q_source"] == f"{v}:/q" and "W0_epoch" not in g.attrs, "the file says where each came from")
    return summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
