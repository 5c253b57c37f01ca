#!/usr/bin/python3
"""Your own data (SPEC §9, [data] source = "file"): the engine trains on X from an HDF5 dataset
or a .npy file, centred and row-normalised as asked, with the spike estimated from it (q the top
right singular vector, ζz = Xq, X_B = X − Xq qᵀ), labels from the file or the teacher; checked
here against numpy. Bad files are refused with a message naming the key, and nothing is created.
The digits recipe (data/own_data) runs.

usage: test_own_data.py ENGINE REPO
"""
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from checks import check, summary

ENGINE, REPO = sys.argv[1], sys.argv[2]

BASE = """experiment = "own"
seed = 3
epochs = 3
precision = "float64"
[data]
source = "file"
{data}
[model]
k = 12
loss = "{loss}"
[decomposition]
every = {every}
[[inputs]]
name = "mine"
teacher = "triple_index"
[[runs]]
name = "run"
inputs = "mine"
activation = "tanh"
gamma = 0.5
lr = 0.3
"""


def config(tmp, data, loss="half_mse", every=1):
    path = os.path.join(tmp, "own.toml")
    with open(path, "w") as f:
        f.write(BASE.format(data=data, loss=loss, every=every))
    return path


def engine(*args, cwd):
    return subprocess.run([ENGINE, "--quiet", *args], capture_output=True, text=True, cwd=cwd)


def main():
    tmp = tempfile.mkdtemp()
    rng = np.random.default_rng(5)
    n, d, n_test = 30, 9, 11
    X = rng.normal(size=(n, d)) + 3.0  # off-centre on purpose
    X_test = rng.normal(size=(n_test, d)) + 3.0
    with h5py.File(os.path.join(tmp, "data.h5"), "w") as f:
        f["emb/X"], f["emb/X_test"] = X, X_test.astype(np.float32)
        f["labels"] = np.tanh(X[:, 0])
        f["words"] = np.array([b"a", b"b"])
        f["vector"] = X[:, 0]
        bad = X.copy()
        bad[4, 2] = np.nan
        f["with_nan"] = bad
    np.save(os.path.join(tmp, "X.npy"), X.astype(np.float32))
    np.save(os.path.join(tmp, "y.npy"), np.tanh(X[:, 1]))
    np.save(os.path.join(tmp, "fortran.npy"), np.asfortranarray(X))
    with open(os.path.join(tmp, "X.npy"), "rb") as f:
        head = f.read(200)
    with open(os.path.join(tmp, "short.npy"), "wb") as f:
        f.write(head)

    # HDF5, centred and row-normalised, the teacher's labels (τ = 0: exactly the teacher's values).
    cfg = config(tmp, 'x = "data.h5:/emb/X"\nx_test = "data.h5:/emb/X_test"\ncenter = true\nunit_rows = true\ntau = 0.0')
    r = engine("--config", cfg, "--out", "a.h5", cwd=tmp)
    check(r.returncode == 0, f"HDF5 data: runs ({r.stderr.strip()})")
    with h5py.File(os.path.join(tmp, "a.h5"), "r") as f:
        g = f["inputs/mine"]
        mean = X.mean(axis=0)
        want = X - mean
        want /= np.linalg.norm(want, axis=1, keepdims=True)
        want_test = X_test.astype(np.float32).astype(np.float64) - mean
        want_test /= np.linalg.norm(want_test, axis=1, keepdims=True)
        check(np.allclose(g["X_train"][()], want, atol=1e-14), "X centred by its column means, rows unit")
        check(np.allclose(g["X_test"][()], want_test, atol=1e-14), "X_test centred by the training means, rows unit")
        q = g["q"][()]
        v = np.linalg.svd(want)[2][0]
        check(abs(abs(q @ v) - 1) < 1e-10 and q[np.argmax(np.abs(q))] > 0,
              "q is X's top right singular vector, its largest entry positive")
        Xq = want @ q
        zeta = np.linalg.norm(Xq) / np.sqrt(n)
        check(np.allclose(g["z_train"][()] * zeta, Xq, atol=1e-12), "zeta z = X q, zeta = |Xq|/sqrt(n)")
        check(np.allclose(g["X_bulk_train"][()], want - np.outer(Xq, q), atol=1e-12), "X_B = X - Xq q^T")
        b1, b2, b3 = g["beta"][()], g["beta_2"][()], g["beta_3"][()]
        teacher = lambda A: 1 / (1 + np.exp(-A @ b1)) + np.tanh(A @ b2) + np.maximum(A @ b3, 0)  # noqa: E731
        check(np.allclose(g["y_train"][()], teacher(want), atol=1e-12) and
              np.allclose(g["y_test"][()], teacher(want_test), atol=1e-12), "labels: the triple-index teacher's")
        check(np.all(np.isfinite(f["runs/run/opnorm_E"][()])) and f["runs/run/decomposition_residual"][0] < 1e-12,
              "the decomposition runs on it (mu over the training X)")
    # The resolved configuration resumes and repeats the run: the same file.
    r = engine("--config", cfg, "--out", "b.h5", "--epochs", "3", cwd=tmp)
    with h5py.File(os.path.join(tmp, "a.h5"), "r") as a, h5py.File(os.path.join(tmp, "b.h5"), "r") as b:
        check(np.array_equal(a["runs/run/train_mse"][()], b["runs/run/train_mse"][()]), "the same data, the same run")

    # .npy with labels from a file; no x_test: the test set is the training set.
    cfg = config(tmp, 'x = "X.npy"\ny = "y.npy"')
    r = engine("--config", cfg, "--out", "c.h5", cwd=tmp)
    check(r.returncode == 0, f".npy data with labels: runs ({r.stderr.strip()})")
    with h5py.File(os.path.join(tmp, "c.h5"), "r") as f:
        g = f["inputs/mine"]
        check(np.array_equal(g["X_train"][()], X.astype(np.float32).astype(np.float64)) and
              np.allclose(g["y_train"][()], np.tanh(X[:, 1]), atol=0) and
              np.array_equal(g["X_test"][()], g["X_train"][()]) and np.array_equal(g["y_test"][()], g["y_train"][()]),
              "the file's X and y; without x_test the test set is the training set")

    # Bad input: exit 2, a message naming what is wrong, nothing written.
    bad = [
        ("missing file", 'x = "nope.h5:/X"', r"'data\.x' = .*nope\.h5.*: does not exist"),
        ("a link loop", 'x = "loop.npy"', r"'data\.x' = .*loop\.npy: is a symbolic link loop"),
        ("a dangling link", 'x = "gone.npy"', r"'data\.x' = .*gone\.npy: is a symbolic link to 'nowhere\.npy', which does not exist"),
        ("a folder", 'x = "sub.npy"', r"'data\.x' = sub\.npy: is a folder, not a file"),
        ("missing dataset", 'x = "data.h5:/emb/Y"', r"'data\.x' = .*data\.h5:/emb/Y: no dataset '/emb/Y' in the file"),
        ("not HDF5", 'x = "own.toml.h5:/X"', r"does not exist"),
        ("a vector as X", 'x = "data.h5:/vector"', r"'data\.x' must be a matrix n x d .* its shape is \(30\)"),
        ("strings", 'x = "data.h5:/words"', r"'data\.x' = .*: the dataset holds no numbers"),
        ("NaN", 'x = "data.h5:/with_nan"', r"'data\.x' = .*with_nan: value 38 \(row-major\) is not finite"),
        ("y of another length", 'x = "data.h5:/emb/X_test"\ny = "y.npy"',
         r"'data\.y' must hold 11 labels, one per row of its X; its shape is \(30\)"),
        ("x_test of another width", 'x = "data.h5:/emb/X"\nx_test = "data.h5:/labels"', r"'data\.x_test' must be a matrix with d = 9"),
        ("y_test without x_test", 'x = "X.npy"\ny = "y.npy"\ny_test = "y.npy"', r"'data\.y_test' needs 'data\.x_test'"),
        ("Fortran order", 'x = "fortran.npy"', r"Fortran order"),
        ("truncated .npy", 'x = "short.npy"', r"shorter than its header's shape says"),
        ("neither npy nor HDF5", 'x = "X.csv"', r"must name a \.npy file or an HDF5 dataset"),
        ("no x", 'center = true', r"data\.source = \"file\" needs 'data\.x'"),
        ("a model key", 'x = "X.npy"\nnu = 0.5', r"'data\.nu' does not apply with data\.source = \"file\""),
        ("fresh mu", 'x = "X.npy"\n[decomposition]\nmu_source = "fresh"', r"needs the data model"),
    ]
    os.symlink("loop.npy", os.path.join(tmp, "loop.npy"))
    os.symlink("nowhere.npy", os.path.join(tmp, "gone.npy"))
    os.mkdir(os.path.join(tmp, "sub.npy"))
    for name, data, message in bad:
        text = BASE.format(data=data, loss="half_mse", every=1)
        if "[decomposition]" in data:
            text = text.replace("[decomposition]\nevery = 1\n", "", 1).replace("mu_source", "every = 1\nmu_source")
        path = os.path.join(tmp, "bad.toml")
        with open(path, "w") as f:
            f.write(text)
        before = set(os.listdir(tmp))
        r = engine("--config", path, "--out", "bad.h5", cwd=tmp)
        check(r.returncode == 2 and re.search(message, r.stderr) and set(os.listdir(tmp)) == before,
              f"refused, nothing created: {name} ({r.returncode}: {r.stderr.strip()[:160]})")
    # q from a file does not apply to your own data: q is then the data's own.
    text = BASE.format(data='x = "X.npy"', loss="half_mse", every=1).replace(
        'teacher = "triple_index"', 'teacher = "triple_index"\nq = "q.npy"')
    with open(os.path.join(tmp, "bad.toml"), "w") as f:
        f.write(text)
    before = set(os.listdir(tmp))
    r = engine("--config", os.path.join(tmp, "bad.toml"), "--out", "bad.h5", cwd=tmp)
    check(r.returncode == 2 and "'inputs.mine.q' does not apply with data.source = \"file\"" in r.stderr and
          set(os.listdir(tmp)) == before, f"refused, nothing created: q from a file with your own data ({r.stderr.strip()[:160]})")
    # Labels the loss cannot take: bce's outside [0, 1] (found with the values, before the file).
    with h5py.File(os.path.join(tmp, "data.h5"), "a") as f:
        f["signed"] = np.sign(X[:, 0] - 3)
    path = config(tmp, 'x = "data.h5:/emb/X"\ny = "data.h5:/signed"', loss="bce")
    before = set(os.listdir(tmp))
    r = engine("--config", path, "--out", "bad.h5", cwd=tmp)
    check(r.returncode == 2 and "is not in [0, 1], which model.loss = \"bce\" takes" in r.stderr and
          set(os.listdir(tmp)) == before, f"bce labels outside [0, 1] refused, nothing created ({r.stderr.strip()})")

    # The digits recipe of data/own_data.
    make = os.path.join(REPO, "data", "own_data", "make_digits.py")
    r = subprocess.run([sys.executable, make, "digits.h5"], capture_output=True, text=True, cwd=tmp)
    check(r.returncode == 0, f"make_digits.py writes digits.h5 ({r.stderr.strip()})")
    r = engine("--config", os.path.join(REPO, "data", "own_data", "digits_triple_index.toml"), "--epochs", "12",
               "--out", "digits_run.h5", cwd=tmp)
    check(r.returncode == 0, f"the digits recipe trains ({r.stderr.strip()})")
    with h5py.File(os.path.join(tmp, "digits_run.h5"), "r") as f:
        x = f["inputs/digits/X_train"][()]
        check(x.shape == (1500, 64) and np.allclose(np.linalg.norm(x, axis=1), 1), "digits: 1500 x 64, unit rows")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
