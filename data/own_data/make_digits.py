#!/usr/bin/python3
"""Writes scikit-learn's bundled handwritten digits (1797 images of 8x8 pixels, no download) as
an engine data file: the rows centred (the training set's column means subtracted from both
sets) and scaled to unit norm, the notebook's embedding recipe, then split 1500 / 297.

usage: make_digits.py OUT.h5      (then: engine --config data/own_data/digits_triple_index.toml)
Datasets: /X (1500 x 64), /X_test (297 x 64), /digit and /digit_test (the classes, for reference:
the engine's triple-index teacher labels X itself).
"""
import os
import sys

import h5py
import numpy as np
from sklearn.datasets import load_digits

TRAIN = 1500


def main(out):
    if os.path.exists(out):
        sys.exit(f"make_digits.py: {out} exists; remove it first or name another file")
    digits = load_digits()
    X, digit = digits.data.astype(np.float64), digits.target
    train, test = X[:TRAIN], X[TRAIN:]
    mean = train.mean(axis=0)
    train, test = train - mean, test - mean
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    test /= np.linalg.norm(test, axis=1, keepdims=True)
    tmp = out + ".part"
    with h5py.File(tmp, "w") as f:
        f["X"], f["X_test"] = train, test
        f["digit"], f["digit_test"] = digit[:TRAIN], digit[TRAIN:]
        f.attrs["source"] = "sklearn.datasets.load_digits, centred (training means) and row-normalised"
    os.replace(tmp, out)  # whole or not at all
    print(f"{out}: X {train.shape}, X_test {test.shape}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
