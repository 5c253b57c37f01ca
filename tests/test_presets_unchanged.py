#!/usr/bin/python3
"""The seed's presets give the same file as before the paper's toolkit (SPEC §9) was added: with
every new knob off, nothing changes. tests/data/*_before_toolkit.h5 were written by the engine
at commit d377e4e (before the toolkit) with the arguments below, on one machine; this runs
today's engine with the same arguments and compares the files.

What must hold on any x86-64 machine:
- the same datasets with the same types and shapes, and the same attributes on every group (but
  the root's command line, creation time and resolved configuration, whose text now lists the
  new keys at their defaults, and the new attributes naming the toolkit's knobs, which must hold
  their defaults);
- bit for bit: the inputs (drawn by Philox and libm, no BLAS), every integer and string dataset,
  and where the NaNs and infinities are;
- every other value within a bound. OpenBLAS picks its kernels by CPU (Haswell, SkylakeX and
  Sandybridge sum in different orders), so the float32 products differ by rounding: about
  sqrt(50) x 6e-8 = 4e-7 relative at these sizes (k, d, n <= 50), carried over 3-4 epochs of
  gradient descent (the largest seen: 2e-5 relative). The bounds are the float32 PyTorch
  reference's (tests/reference_torch.py), which a retraining in another library meets over 10
  epochs at the seed's full sizes: a changed default (another stream, normalisation or learning
  rate) moves these values by far more.
The checkpoints now keep a dataset per tensor of the run's state table (v0, v_prev, xr_prev,
opnorm_start were rows of one `vectors` dataset, in that order) and the readout `a` too, which
must be the inputs' a; runs/<run>/refit_a is new (tests/test_snapshots.py checks its values), with
its scale neuron_index in every run.
And on this machine, bit for bit: the same build run again, with the toolkit's knobs written out
at their defaults, writes the same values as with them left out.

usage: test_presets_unchanged.py ENGINE
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from checks import check, summary

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
SMALL = ["--set", "data.n=40", "--set", "data.d=30", "--set", "model.k=50", "--threads", "2", "--quiet"]
CASES = {"ntk_vs_mf": ["--exp", "ntk_vs_mf", "--epochs", "4", *SMALL],
         "relu_vs_sigmoid": ["--exp", "relu_vs_sigmoid", "--cells", "sig1,relu3", "--epochs", "3", *SMALL]}
# The toolkit's knobs at their defaults, written out.
DEFAULT_KNOBS = ["model.loss=\"mse\"", "model.w_init=\"unit_rows\"", "model.weight_decay=0",
                 "model.gradient_penalty=0", "data.spike=true", "data.input_noise=0", "decomposition.every=0",
                 "output.alignments=false"]
VOLATILE_DATASETS = {"epoch_seconds", "peak_host_bytes", "peak_device_bytes"}
VOLATILE_ROOT_ATTRS = {"command_line", "created_utc", "config"}
# Attributes the toolkit added, naming its knobs: allowed on a group only at these defaults.
NEW_ATTRS = {"w_init": "unit_rows", "beta_init": "unit"}
# (relative, absolute as a fraction of the dataset's largest |value|): reference_torch.py's float32
# bounds, by the kind of value.
BOUNDS = {"loss": (1e-4, 1e-6), "align": (0, 1e-5), "sv": (1e-4, 1e-6), "vector": (0, 1e-5), "angle": (0, 1e-4),
          "refit": (1e-3, 1e-6)}


def kind(name):
    leaf = name.split("/")[-1]
    if leaf.startswith("align") or leaf == "energy":
        return "align"
    if leaf == "grad_singular_values":
        return "sv"
    if leaf in ("grad_top_right_vector", "W", "vectors"):
        return "vector"
    if leaf == "pair_mean_angle_deg":
        return "angle"
    if leaf == "refit_test_mse":
        return "refit"
    return "loss"  # train_mse, test_mse, w_opnorm


def exact(name, dataset):
    return name.startswith("inputs/") or dataset.dtype.kind not in "f"


# The rows of the earlier checkpoints' `vectors` dataset, in order: a dataset each now.
EARLIER_VECTORS = ["v0", "v_prev", "xr_prev", "opnorm_start"]


def split_vectors(sets):
    """The datasets of a file written before the state table, its checkpoints' `vectors` split into
    the datasets that hold them now (2 x runs x d x 1 each)."""
    out = {}
    for name, ds in sets.items():
        if name.startswith("checkpoints/") and name.endswith("/vectors"):
            for row, tensor in enumerate(EARLIER_VECTORS):
                out[name[: -len("vectors")] + tensor] = ds[()][:, :, row, :, None]
        else:
            out[name] = ds
    return out


def tree(f):
    datasets, groups = {}, {"/": f}
    f.visititems(lambda name, obj: (datasets if isinstance(obj, h5py.Dataset) else groups).__setitem__(name, obj))
    return datasets, groups


def attrs(obj, skip=()):
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items() if k not in skip}


def compare(before_path, after_path):
    """The problems of the file at `after_path` against `before_path`, and the largest use of a
    bound (|err| / bound) over the values compared within one."""
    problems, margin = [], 0.0
    with h5py.File(before_path, "r") as before, h5py.File(after_path, "r") as after:
        (b_sets, b_groups), (a_sets, a_groups) = tree(before), tree(after)
        b_sets = split_vectors(b_sets)
        inputs_a = after[f"inputs/{next(iter(after['inputs']))}/a"][()]
        new_sets = [n for n in a_sets if n.endswith("/refit_a") or (n.startswith("checkpoints/") and n.endswith("/a"))
                    or (n.endswith("/neuron_index") and n not in b_sets)]
        for name in new_sets:
            new = a_sets.pop(name)[()]
            if name.endswith("/neuron_index"):  # now in every run, as refit_a's scale
                ok = np.array_equal(new, np.arange(len(inputs_a)))
            elif name.endswith("/refit_a"):
                ok = new.shape == inputs_a.shape and np.all(np.isfinite(new))
            else:  # the written slots hold the inputs' a, for every run; the others are zeros
                written = after[name[: -len("a")] + "epoch"][()] >= 0
                ok = np.array_equal(new[written][..., 0], np.broadcast_to(inputs_a, new[written].shape[:-1])) and \
                    not np.any(new[~written])
            if not ok:
                problems.append(f"{name}: not the readout it should hold")
        if set(b_sets) != set(a_sets):
            problems.append(f"datasets differ: only before {sorted(set(b_sets) - set(a_sets))}, "
                            f"only now {sorted(set(a_sets) - set(b_sets))}")
        for name in sorted(set(b_sets) & set(a_sets)):
            b, a = b_sets[name], a_sets[name]
            if (b.dtype, b.shape) != (a.dtype, a.shape):
                problems.append(f"{name}: {b.dtype}{b.shape} before, {a.dtype}{a.shape} now")
                continue
            if name.split("/")[-1] in VOLATILE_DATASETS:
                continue
            if exact(name, b):
                if b[()].tobytes() != a[()].tobytes():
                    problems.append(f"{name}: values differ (compared bit for bit)")
                continue
            want, got = np.asarray(b[()], dtype=np.float64), np.asarray(a[()], dtype=np.float64)
            finite = np.isfinite(want)
            if not np.array_equal(finite, np.isfinite(got)) or not np.array_equal(want[~finite], got[~finite],
                                                                                    equal_nan=True):
                problems.append(f"{name}: NaN or an infinity where there was none, or none where there was")
                continue
            rel, abs_ = BOUNDS[kind(name)]
            scale = np.max(np.abs(want[finite]), initial=0.0)
            bound = rel * np.abs(want[finite]) + abs_ * max(scale, 1e-30)
            err = np.abs(got[finite] - want[finite])
            use = float(np.max(err / bound, initial=0.0))
            margin = max(margin, use)
            if use > 1:
                problems.append(f"{name}: max |err| {err.max():.3g}, {use:.2f}x its bound "
                                f"({rel:g}|value| + {abs_:g} x max |value|)")
        for name in sorted(set(b_groups) & set(a_groups)):
            skip = VOLATILE_ROOT_ATTRS if name == "/" else ()
            b, a = attrs(b_groups[name], skip), attrs(a_groups[name], skip)
            added = {k: a.pop(k) for k in set(a) - set(b) if k in NEW_ATTRS}
            if b != a or any(NEW_ATTRS[k] != v for k, v in added.items()):
                problems.append(f"{name}: attributes {b} before, {a} now, added {added}")
    return problems, margin


def same_bits(path_a, path_b):
    """The numeric datasets (but the volatile ones) whose bits differ between two files."""
    with h5py.File(path_a, "r") as fa, h5py.File(path_b, "r") as fb:
        sets, _ = tree(fa)
        return [n for n, ds in sets.items() if n.split("/")[-1] not in VOLATILE_DATASETS and ds.dtype.kind in "fi"
                and ds[()].tobytes() != fb[n][()].tobytes()]


def main(engine):
    with tempfile.TemporaryDirectory() as tmp:
        for preset, args in CASES.items():
            out, knobs = os.path.join(tmp, f"{preset}.h5"), os.path.join(tmp, f"{preset}-knobs.h5")
            subprocess.run([engine, *args, "--out", out], check=True, stdout=subprocess.DEVNULL)
            problems, margin = compare(os.path.join(DATA, f"{preset}_before_toolkit.h5"), out)
            for p in problems:
                print(f"  {preset}: {p}")
            check(not problems, f"{preset}: the file written before the toolkit, the inputs bit for bit, every other "
                                f"value within its bound (largest use of a bound {margin:.3f})")
            set_knobs = [a for knob in DEFAULT_KNOBS for a in ("--set", knob)]
            subprocess.run([engine, *args, *set_knobs, "--out", knobs], check=True, stdout=subprocess.DEVNULL)
            differ = same_bits(out, knobs)
            check(not differ, f"{preset}: the toolkit's knobs written out at their defaults, the same bits on this "
                              f"machine {differ}")
    return summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
