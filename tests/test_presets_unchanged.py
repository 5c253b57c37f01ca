#!/usr/bin/python3
"""The seed's presets give the same file as before the paper's toolkit (SPEC §9) was added: with
every new knob off, nothing changes. tests/data/*_before_toolkit.h5 were written by the engine
at commit d377e4e (before the toolkit) with the arguments below; this runs today's engine with the
same arguments and compares the files: the same datasets with the same types and shapes, every
value bit for bit (but the wall times and the memory peaks), and the same attributes on every
group (but the root's command line, creation time and resolved configuration, whose text now
lists the new keys at their defaults, and the new attributes naming the toolkit's knobs, which
must hold their defaults).

usage: test_presets_unchanged.py ENGINE
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
SMALL = ["--set", "data.n=40", "--set", "data.d=30", "--set", "model.k=50", "--threads", "2", "--quiet"]
CASES = {"ntk_vs_mf": ["--exp", "ntk_vs_mf", "--epochs", "4", *SMALL],
         "relu_vs_sigmoid": ["--exp", "relu_vs_sigmoid", "--cells", "sig1,relu3", "--epochs", "3", *SMALL]}
VOLATILE_DATASETS = {"epoch_seconds", "peak_host_bytes", "peak_device_bytes"}
VOLATILE_ROOT_ATTRS = {"command_line", "created_utc", "config"}
# Attributes the toolkit added, naming its knobs: allowed on a group only at these defaults.
NEW_ATTRS = {"w_init": "unit_rows", "beta_init": "unit"}


def tree(f):
    datasets, groups = {}, {"/": f}
    f.visititems(lambda name, obj: (datasets if isinstance(obj, h5py.Dataset) else groups).__setitem__(name, obj))
    return datasets, groups


def attrs(obj, skip=()):
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items() if k not in skip}


def compare(before_path, after_path):
    problems = []
    with h5py.File(before_path, "r") as before, h5py.File(after_path, "r") as after:
        (b_sets, b_groups), (a_sets, a_groups) = tree(before), tree(after)
        if set(b_sets) != set(a_sets):
            problems.append(f"datasets differ: only before {sorted(set(b_sets) - set(a_sets))}, "
                            f"only now {sorted(set(a_sets) - set(b_sets))}")
        for name in sorted(set(b_sets) & set(a_sets)):
            b, a = b_sets[name], a_sets[name]
            if (b.dtype, b.shape) != (a.dtype, a.shape):
                problems.append(f"{name}: {b.dtype}{b.shape} before, {a.dtype}{a.shape} now")
            elif name.split("/")[-1] not in VOLATILE_DATASETS and b[()].tobytes() != a[()].tobytes():
                problems.append(f"{name}: values differ")
        for name in sorted(set(b_groups) & set(a_groups)):
            skip = VOLATILE_ROOT_ATTRS if name == "/" else ()
            b, a = attrs(b_groups[name], skip), attrs(a_groups[name], skip)
            added = {k: a.pop(k) for k in set(a) - set(b) if k in NEW_ATTRS}
            if b != a or any(NEW_ATTRS[k] != v for k, v in added.items()):
                problems.append(f"{name}: attributes {b} before, {a} now, added {added}")
    return problems


def main(engine):
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for preset, args in CASES.items():
            out = os.path.join(tmp, f"{preset}.h5")
            subprocess.run([engine, *args, "--out", out], check=True, stdout=subprocess.DEVNULL)
            problems = compare(os.path.join(DATA, f"{preset}_before_toolkit.h5"), out)
            for p in problems:
                print(f"FAIL {preset}: {p}")
            print(f"{'ok  ' if not problems else 'FAIL'} {preset}: the file equals the one written before the toolkit")
            failures += bool(problems)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
