#!/usr/bin/python3
"""Hostile input and concurrent use, one table of cases. Each case prepares a fresh folder, runs
the engine there and asserts: the exit code; a message naming the problem; no crash (signal,
sanitizer report) and no hang (60 s); every file that was in the folder before is byte for byte
the same after, and no file is new. Families: --set values, configuration files, output paths,
resume files damaged in every way the engine used to miss, flags, concurrent use (a second
resume, a resume beside a live writer, two runs to one --out), sweep tables, and sweep files
damaged for engine sweep's --resume and --merge.

usage: test_hostile.py ENGINE [SUBSTRING]   (SUBSTRING: run only the cases whose name holds it)
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import h5py
import numpy as np

from tiny_config import tiny_config

ENGINE = os.path.abspath(sys.argv[1])
ONLY = sys.argv[2] if len(sys.argv) > 2 else ""
SIZES = ["--set", "data.n=40", "--set", "data.d=30", "--set", "model.k=20"]
QUIET = ["--quiet", "--device", "cpu", "--threads", "1"]
TINY = [*SIZES, "--epochs", "3", *QUIET]
RUN = ["--exp", "ntk_vs_mf", *TINY]
HANG_SECONDS = 60
LONG_EPOCHS = "100000"  # runs that are stopped by a signal, never finished
ROOT = os.geteuid() == 0
GPU = os.path.exists("/dev/nvidia0")


@dataclass
class Case:
    name: str
    args: List[str]
    message: str                              # a regular expression stderr must match
    code: int = 2
    setup: Optional[Callable[[str], None]] = None   # prepares the case's folder
    background: Optional[Callable[[str], Callable[[], List[str]]]] = None  # starts a process; returns its stopper
    volatile: List[str] = field(default_factory=list)  # files the background process may change
    skip: str = ""                            # why this case cannot run here ("" runs it)


# ---------------------------------------------------------------------------------------------
# Helpers

def write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def snapshot(folder):
    """Every entry under `folder` (not following links): its kind and content."""
    seen = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            st = os.lstat(path)
            if os.path.islink(path):
                seen[rel] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    seen[rel] = ("file", hashlib.sha256(f.read()).hexdigest())
            else:
                seen[rel] = ("other", st.st_mode & 0o170000)
    return seen


def engine(args, cwd, timeout=HANG_SECONDS):
    return subprocess.run([ENGINE, *args], cwd=cwd, capture_output=True, text=True, errors="replace",
                          stdin=subprocess.DEVNULL, timeout=timeout)


def text(ds):
    return ds[()].decode().rstrip("\0")


def wait_for(predicate, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def rows(path, run="mf"):
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as f:
            return f[f"runs/{run}/train_mse"].shape[0]
    except (OSError, KeyError):
        return -1


def holds_lock(path):
    """Whether an engine holds `path`'s lock: its lock file names a process."""
    try:
        with open(path + ".lock") as f:
            return f.read().startswith("process ")
    except OSError:
        return False


def start_long_run(folder, out, extra=()):
    return subprocess.Popen([ENGINE, "--exp", "ntk_vs_mf", *SIZES, *QUIET, "--epochs", LONG_EPOCHS, "--checkpoint-every", "4",
                             "--out", out, *extra],
                            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(p, what):
    """SIGINT to a background engine: it must end with 130 and a file h5py opens plainly."""
    p.send_signal(signal.SIGINT)
    try:
        err = p.communicate(timeout=HANG_SECONDS)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        return [f"{what} did not stop on SIGINT"]
    return [] if p.returncode == 130 else [f"{what} ended with {p.returncode}: {err.strip()[-300:]}"]


def readable(path):
    try:
        with h5py.File(path, "r") as f:
            return text(f["status"])
    except OSError as e:
        return f"unreadable ({e})"


# ---------------------------------------------------------------------------------------------
# The files the resume cases damage: an interrupted run (100000 epochs planned, stopped by
# SIGINT with a few checkpoints written) and a complete one.

BASE = tempfile.mkdtemp(prefix="hostile-base-")
INTERRUPTED = os.path.join(BASE, "interrupted.h5")
COMPLETE = os.path.join(BASE, "complete.h5")


def make_bases():
    p = start_long_run(BASE, INTERRUPTED)
    ok = wait_for(lambda: rows(INTERRUPTED) >= 14)
    problems = stop(p, "the base run")
    if not ok or problems or readable(INTERRUPTED) != "interrupted":
        sys.exit(f"cannot make the interrupted base file: {problems} {readable(INTERRUPTED)}")
    os.remove(INTERRUPTED + ".lock") if os.path.exists(INTERRUPTED + ".lock") else None
    subprocess.run([ENGINE, *RUN, "--checkpoint-every", "1", "--out", COMPLETE], check=True, capture_output=True)
    with h5py.File(INTERRUPTED, "r") as f:
        return int(f["checkpoints/group0/epoch"][()].max()), f["runs/mf/train_mse"].shape[0]


CHECKPOINT, BASE_ROWS = make_bases()
assert CHECKPOINT >= 12 and BASE_ROWS >= CHECKPOINT, (CHECKPOINT, BASE_ROWS)


def damaged(edit, base=INTERRUPTED, name="r.h5"):
    """A setup: a copy of `base` as `name`, then `edit(h5py.File)` applied to it."""
    def setup(folder):
        path = os.path.join(folder, name)
        shutil.copy(base, path)
        if edit:
            with h5py.File(path, "r+") as f:
                edit(f)
    return setup


def config_edit(pattern, replacement):
    def edit(f):
        config = f.attrs["config"]
        new, count = re.subn(pattern, replacement, config, flags=re.M)
        assert count, (pattern, config)
        f.attrs["config"] = new
    return edit


def replace(name, **kwargs):
    def edit(f):
        del f[name]
        f.create_dataset(name, **kwargs)
    return edit


def resize(name, n):
    return lambda f: f[name].resize(n, axis=0)


def set_value(name, value):
    def edit(f):
        f[name][...] = value
    return edit


def delete(name):
    def edit(f):
        del f[name]
    return edit


def chain(*steps):
    """The steps (edits of a file, or setups of a folder) one after another."""
    def run(target):
        for step in steps:
            step(target)
    return run


# ---------------------------------------------------------------------------------------------
# Setups of the other families

def files(contents):
    """A setup writing files {name: content (bytes or str)}."""
    def setup(folder):
        for name, data in contents.items():
            write(os.path.join(folder, name), data)
    return setup


def arrays(contents):
    """A setup writing NumPy files {name: array} (.npy) and HDF5 files {name: {dataset: array}}."""
    def setup(folder):
        for name, value in contents.items():
            if name.endswith(".npy"):
                np.save(os.path.join(folder, name), value)
            else:
                with h5py.File(os.path.join(folder, name), "w") as f:
                    for dataset, data in value.items():
                        f[dataset] = data
    return setup


def links(targets):
    """A setup making symbolic links {name: target}."""
    def setup(folder):
        for name, target in targets.items():
            os.symlink(target, os.path.join(folder, name))
    return setup


def fifo(name):
    return lambda folder: os.mkfifo(os.path.join(folder, name))


def folder(name):
    return lambda folder_: os.mkdir(os.path.join(folder_, name))


def held_lock(name):
    """A setup starting a process that holds `name`'s lock (flock on name.lock) as an engine would."""
    def background(folder_):
        lock = os.path.join(folder_, name + ".lock")
        holder = subprocess.Popen(
            ["/usr/bin/python3", "-c",
             "import fcntl, os, sys, time\n"
             "f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX); f.write('process %d on here' % os.getpid());"
             " f.flush(); print('held', flush=True); time.sleep(600)", lock],
            stdout=subprocess.PIPE, text=True)
        holder.stdout.readline()

        def stopper():
            holder.kill()
            holder.wait()
            return []
        return stopper
    return background


def live_writer(out, resume=False):
    """A background engine writing `out` (fresh, or resuming the damaged() copy there)."""
    def background(folder_):
        if resume:
            p = subprocess.Popen([ENGINE, "--resume", out, "--quiet", "--threads", "1"], cwd=folder_,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        else:
            p = start_long_run(folder_, out)
        path = os.path.join(folder_, out)
        started = wait_for(lambda: holds_lock(path) and rows(path) > (BASE_ROWS if resume else 2))

        def stopper():
            problems = [] if started else ["the live writer never got going"]
            problems += stop(p, "the live writer")
            status = readable(path)
            if status != "interrupted":
                problems.append(f"the live writer's file: status {status}")
            if os.path.exists(path + ".lock"):
                problems.append("the live writer's lock file is left behind")
            return problems
        return stopper
    return background


def tmpfs(size):
    """A setup mounting a tmpfs of `size` on the folder 'small' (root only)."""
    def setup(folder_):
        os.mkdir(os.path.join(folder_, "small"))
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", os.path.join(folder_, "small")],
                       check=True)
    return setup


def read_only_mount(folder_):
    os.mkdir(os.path.join(folder_, "ro"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", os.path.join(folder_, "ro")], check=True)


def can_mount():
    if not ROOT:
        return False
    d = tempfile.mkdtemp()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", d])
    os.rmdir(d)
    return ok


MOUNT_SKIP = "" if can_mount() else "needs root and a mountable tmpfs"
LONG = "n" * 300
BIG_TOML = "experiment = \"big\"\n" + "# padding\n" * (500 * 1024)


# ---------------------------------------------------------------------------------------------
# The table

def set_cases():
    bad = [  # (name, --set value, message)
        ("n_zero", "data.n=0", r"'data\.n' = 0 must be a positive integer"),
        ("n_negative", "data.n=-5", r"'data\.n' = -5 must be a positive integer"),
        ("n_fraction", "data.n=1.5", r"'data\.n' must be an integer"),
        ("n_exponent", "data.n=1e11", r"'data\.n' must be an integer"),
        ("n_beyond_int64", "data.n=99999999999999999999", r"'data\.n' must be an integer"),
        ("n_boolean", "data.n=true", r"'data\.n' must be an integer"),
        ("n_quoted", 'data.n="40"', r"'data\.n' must be an integer"),
        ("n_array", "data.n=[40]", r"'data\.n' must be an integer"),
        ("n_too_large_for_memory", "data.n=100000000000", r"these sizes need about .* of host memory"),
        ("d_zero", "data.d=0", r"'data\.d' = 0 must be a positive integer"),
        ("n_test_zero", "data.n_test=0", r"'data\.n_test' = 0 must be a positive integer"),
        ("k_zero", "model.k=0", r"'model\.k' = 0 must be a positive integer"),
        ("k_2_to_62", "model.k=4611686018427387904", r"of host memory"),
        ("alpha_negative", "data.alpha=-1", r"'data\.alpha' must be >= 0"),
        ("alpha_nan", "data.alpha=nan", r"'data\.alpha' must be finite"),
        ("nu_infinite", "data.nu=inf", r"'data\.nu' must be finite"),
        ("nu_overflows", "data.nu=1000", r"'data\.nu' = 1000\.0 makes the spike strength n\^nu overflow"),
        ("tau_negative", "data.tau=-0.5", r"'data\.tau' = -0\.5 must be >= 0"),
        ("tau_nan", "data.tau=nan", r"'data\.tau' must be finite"),
        ("a_init_unknown", "model.a_init=uniform", r"allowed: normal, rademacher, seed_binary"),
        ("loss_unknown", "model.loss=cross_entropy",
         r"'model\.loss' = \"cross_entropy\" is not allowed; allowed: mse, half_mse, bce, hinge"),
        ("loss_not_string", "model.loss=2", r"'model\.loss' must be a string"),
        ("w_init_unknown", "model.w_init=orthogonal", r"'model\.w_init' = \"orthogonal\" is not allowed; allowed: unit_rows"),
        ("w_scale_zero", "model.w_scale=0", r"'model\.w_scale' = 0\.0 must be > 0"),
        ("w_scale_infinite", "model.w_scale=inf", r"'model\.w_scale' must be finite"),
        ("input_noise_negative", "data.input_noise=-1", r"'data\.input_noise' = -1\.0 must be >= 0"),
        ("input_noise_nan", "data.input_noise=nan", r"'data\.input_noise' must be finite"),
        ("spike_not_boolean", "data.spike=1", r"'data\.spike' must be true or false"),
        ("inputs_input_noise_negative", "inputs.sigmoid_teacher.input_noise=-3",
         r"'inputs\.sigmoid_teacher\.input_noise' = -3\.0 must be >= 0"),
        ("weight_decay_negative", "model.weight_decay=-1e-3", r"'model\.weight_decay' = -0\.001 must be >= 0 \(0 is off\)"),
        ("weight_decay_nan", "runs.ntk.weight_decay=nan", r"'runs\.ntk\.weight_decay' must be finite"),
        ("gradient_penalty_negative", "runs.mf.gradient_penalty=-2", r"'runs\.mf\.gradient_penalty' = -2\.0 must be >= 0"),
        ("gradient_penalty_string", "model.gradient_penalty=strong", r"'model\.gradient_penalty' must be a number"),
        ("optimizer_unknown", "model.optimizer=lion",
         r"'model\.optimizer' = \"lion\" is not allowed; allowed: gd, sgd, momentum, adam, adamw"),
        ("momentum_one", "runs.ntk.optimizer=momentum\0runs.ntk.momentum=1", r"'runs\.ntk\.momentum' = 1\.0 must be in \[0, 1\)"),
        ("beta1_negative", "runs.mf.optimizer=adam\0runs.mf.beta1=-0.25", r"'runs\.mf\.beta1' = -0\.25 must be in \[0, 1\)"),
        ("beta2_one", "model.optimizer=adam\0model.beta2=1", r"'model\.beta2' = 1\.0 must be in \[0, 1\)"),
        ("eps_negative", "runs.ntk.optimizer=adam\0runs.ntk.eps=-0.5", r"'runs\.ntk\.eps' = -0\.5 must be >= 0"),
        ("decoupled_decay_negative", "runs.ntk.optimizer=adamw\0runs.ntk.decoupled_weight_decay=-1",
         r"'runs\.ntk\.decoupled_weight_decay' = -1\.0 must be >= 0"),
        ("optimizer_key_of_another", "runs.ntk.optimizer=momentum\0runs.ntk.beta1=0.5",
         r"'runs\.ntk\.beta1' applies to adam and adamw, not to optimizer = \"momentum\""),
        ("optimizer_default_unused", "model.momentum=0.5", r"'model\.momentum' applies to momentum, and no run trains with it"),
        ("nesterov_without_momentum", "runs.ntk.optimizer=momentum\0runs.ntk.momentum=0\0runs.ntk.nesterov=true",
         r"run 'ntk': nesterov = true needs momentum > 0"),
        ("nesterov_not_boolean", "runs.ntk.optimizer=momentum\0runs.ntk.nesterov=yes",
         r"'runs\.ntk\.nesterov' must be true or false"),
        ("decomposition_every_negative", "decomposition.every=-2", r"'decomposition\.every' = -2 must be an integer from 0"),
        ("decomposition_every_fraction", "decomposition.every=1.5", r"'decomposition\.every' must be an integer"),
        ("n_mu_zero", "decomposition.n_mu=0", r"'decomposition\.n_mu' = 0 must be a positive integer"),
        ("n_mu_huge", "decomposition.every=1\0decomposition.n_mu=100000000000",
         r"these sizes need about .* GiB of host memory"),
        ("mu_source_unknown", "decomposition.mu_source=test", r"'decomposition\.mu_source' = \"test\" is not allowed; allowed: fresh, train"),
        ("decomposition_unknown_key", "decomposition.rank=2", r"unknown key 'decomposition\.rank'; allowed here: every, mu_source, n_mu"),
        ("teacher_unknown", "inputs.sigmoid_teacher.teacher=quadruple",
         r"'inputs\.sigmoid_teacher\.teacher' = \"quadruple\" is not allowed; allowed: .*swish, gelu, triple_index"),
        ("beta_init_unknown", "inputs.sigmoid_teacher.beta_init=sparse", r"allowed: unit, gaussian"),
        ("bce_with_triple_index", "model.loss=bce\0inputs.sigmoid_teacher.teacher=triple_index",
         r"'model\.loss' = \"bce\" takes labels in \[0, 1\], but inputs 'sigmoid_teacher' has the teacher 'triple_index'"),
        ("normalize_rows_not_boolean", "model.normalize_rows=maybe", r"'model\.normalize_rows' must be true or false"),
        ("spectrum_method_unknown", "spectrum.method=lanczos", r"allowed: full, truncated"),
        ("spectrum_rank_zero", "spectrum.rank=0", r"'spectrum\.rank' = 0 must be a positive integer"),
        ("heavy_every_zero", "output.heavy_every=0", r"'output\.heavy_every' = 0 must be an integer from 1"),
        ("heavy_every_huge", "output.heavy_every=1000000001", r"'output\.heavy_every' = 1000000001 must be"),
        ("snapshot_every_negative", "output.snapshot_every=-1", r"'output\.snapshot_every' = -1 must be an integer from 0 to 1000000000"),
        ("snapshot_every_fraction", "output.snapshot_every=2.5", r"'output\.snapshot_every' must be an integer"),
        ("snapshot_every_huge", "output.snapshot_every=1000000001", r"'output\.snapshot_every' = 1000000001 must be"),
        ("snapshot_rank_zero", "output.snapshot_every=1\0output.snapshot_rank=0", r"'output\.snapshot_rank' = 0 must be an integer from 1 to 20"),
        ("snapshot_rank_above_k", "output.snapshot_every=1\0output.snapshot_rank=21", r"'output\.snapshot_rank' = 21 must be an integer from 1 to 20"),
        ("snapshot_unknown_key", "output.snapshots=1", r"unknown key 'output\.snapshots'; allowed here: alignments, heavy_every, snapshot_every, snapshot_rank"),
        ("seed_negative", "seed=-1", r"'seed' = -1 must be an integer from 0 to 9223372036854775807"),
        ("seed_exponent", "seed=1e23", r"'seed' must be an integer"),
        ("seed_2_to_64", "seed=18446744073709551616", r"'seed' must be an integer"),
        ("precision_unknown", "precision=float16", r"allowed: float32, float64"),
        ("epochs_negative", "epochs=-1", r"'epochs' = -1 must be an integer from 0 to 1000000000"),
        ("epochs_huge", "epochs=1000000001", r"'epochs' = 1000000001 must be an integer from 0"),
        ("run_epochs_negative", "runs.ntk.epochs=-1", r"'runs\.ntk\.epochs' = -1 must be an integer from 0"),
        ("run_epochs_int64_max", "runs.ntk.epochs=9223372036854775807", r"'runs\.ntk\.epochs' = 9223372036854775807 must be"),
        ("gamma_nb_zero", "runs.ntk.gamma_nb=0", r"'runs\.ntk\.gamma_nb' = 0\.0 must be > 0"),
        ("gamma_nb_nan", "runs.ntk.gamma_nb=nan", r"'runs\.ntk\.gamma_nb' = nan must be > 0"),
        ("lr_nb_negative", "runs.ntk.lr_nb=-1", r"'runs\.ntk\.lr_nb' must give a learning rate > 0"),
        ("lr_and_lr_nb", "runs.ntk.lr=1", r"run 'ntk' needs exactly one of 'lr'"),
        ("gamma_scale_not_number", 'runs.ntk.gamma_nb={scale="x"}', r"'runs\.ntk\.gamma_nb\.scale' must be a number"),
        ("gamma_table_extra_key", "runs.ntk.gamma_nb={scale=1,k_power=1,extra=2}", r"unknown key 'runs\.ntk\.gamma_nb\.extra'"),
        ("activation_unknown", "runs.ntk.activation=mish", r"'runs\.ntk\.activation' = \"mish\" is not allowed"),
        ("run_inputs_unknown", "runs.ntk.inputs=nowhere", r"'runs\.ntk\.inputs' = \"nowhere\" names no \[\[inputs\]\] entry"),
        ("run_unknown", "runs.nope.epochs=3", r"no entry named 'nope' in 'runs'"),
        ("run_named_dot", "runs.ntk.name=.", r"'runs\[0\]\.name' = \"\.\" must start with a letter, digit or '_'"),
        ("run_named_dot_dot", "runs.ntk.name=..", r"'runs\[0\]\.name' = \"\.\.\" must start"),
        ("run_named_like_an_option", "runs.ntk.name=-x", r"'runs\[0\]\.name' = \"-x\" must start"),
        ("run_named_with_slash", "runs.ntk.name=a/b", r"'runs\[0\]\.name' = \"a/b\" must start"),
        ("run_named_empty", 'runs.ntk.name=""', r"'runs\[0\]\.name' = \"\" must start"),
        ("run_named_with_pair_joint", "runs.ntk.name=a__b", r"no '__', which joins pair names"),
        ("run_name_too_long", "runs.ntk.name=" + "r" * 101, r"\(101 characters\) must start"),
        ("run_name_taken", "runs.ntk.name=mf", r"two runs are named 'mf'"),
        ("cell_named_with_slash", 'runs.ntk.cell="../x"', r"'runs\.ntk\.cell' = \"\.\./x\" must start"),
        ("pair_twice", 'pairs=[["ntk","mf"],["ntk","mf"]]', r"'pairs\[1\]' repeats the pair of 'ntk' and 'mf'"),
        ("pair_twice_reversed", 'pairs=[["mf","ntk"],["ntk","mf"]]', r"'pairs\[1\]' repeats the pair"),
        ("pair_with_itself", 'pairs=[["ntk","ntk"]]', r"'pairs\[0\]' pairs run 'ntk' with itself"),
        ("pair_of_one", 'pairs=[["ntk"]]', r"'pairs\[0\]' must be two run names"),
        ("pair_unknown_run", 'pairs=[["ntk","zz"]]', r"'pairs\[0\]' names unknown run 'zz'"),
        ("pairs_not_array", "pairs=5", r"'pairs' must be an array"),
        ("experiment_empty", 'experiment=""', r"'experiment' = \"\" must start"),
        ("experiment_too_long", "experiment=" + "e" * 300, r"'experiment' = \"e+\.\.\.\" \(300 characters\) must start"),
        ("experiment_with_slash", 'experiment="a/b"', r"'experiment' = \"a/b\" must start"),
        ("experiment_dot", 'experiment="."', r"'experiment' = \"\.\" must start"),
        ("experiment_with_newline", 'experiment="a\\nb"', r"'experiment' = \"a\nb\" must start"),
        ("data_not_table", "data=5", r"'data' must be a table"),
        ("through_a_value", "data.n.x=5", r"--set 'data\.n\.x=5': 'n' is not a table"),
        ("no_runs", "runs=[]", r"no runs: add at least one \[\[runs\]\] table"),
        ("runs_not_array", "runs=5", r"'runs' must be an array"),
        ("inputs_not_array", "inputs=5", r"'inputs' must be an array"),
        ("inputs_twice", 'inputs=[{name="a"},{name="a"}]', r"two \[\[inputs\]\] are named 'a'"),
        ("unknown_top_key", "foo=1", r"unknown key 'foo'; allowed here:"),
        ("unknown_data_key", "data.dd=5", r"unknown key 'data\.dd'; allowed here:"),
        ("no_equals", "data.n", r"--set 'data\.n': expected key=value"),
        ("no_key", "=5", r"--set '=5': expected key=value"),
        ("empty_component", "data..n=5", r"--set 'data\.\.n=5': empty key component"),
        ("leading_dot", ".n=5", r"--set '\.n=5': empty key component"),
        ("description_not_string", "description=5", r"'description' must be a string"),
    ]
    # A value with NUL bytes is several --set options.
    return [Case(f"set/{name}", [*RUN, *[a for v in value.split("\0") for a in ("--set", v)], "--out", "out.h5"], message)
            for name, value, message in bad] + [
        # 10^9 epochs of 20×30 snapshots: terabytes, refused before any work with the estimate.
        Case("set/snapshots_exceed_disk", ["--exp", "ntk_vs_mf", *SIZES, *QUIET, "--epochs", "1000000000", "--set",
                                           "output.snapshot_every=1", "--out", "out.h5"],
             r"output\.snapshot_every = 1: the snapshots will need about \d+\.\d+ GiB in 'out\.h5' and its folder's disk "
             r"has .* GiB free; raise output\.snapshot_every or lower output\.snapshot_rank")]


def state_file_cases():
    """[[inputs]] W0, a, q, beta from files: each bad one refused naming the key and the file."""
    def case(name, sets, content, message):
        args = [*RUN, *[a for v in sets for a in ("--set", v)], "--out", "out.h5"]
        return Case(f"state_file/{name}", args, message, setup=arrays(content))
    key = "inputs.sigmoid_teacher."
    W0 = np.zeros((20, 30))
    nan = W0.copy()
    nan[2, 5] = np.nan
    stack = {"runs/mf/snapshots/W": np.zeros((3, 20, 30)), "runs/mf/snapshots/epoch": np.array([0, 5, 9])}
    return [
        case("missing_file", [key + 'W0="gone.npy"'], {}, r"'inputs\.sigmoid_teacher\.W0' = gone\.npy: does not exist"),
        case("wrong_shape", [key + 'W0="w.npy"'], {"w.npy": np.zeros((5, 30))},
             r"'inputs\.sigmoid_teacher\.W0' = \"w\.npy\" must be 20 x 30 \(model\.k x data\.d\) or a stack of such arrays; its shape is 5 x 30"),
        case("a_wrong_length", [key + 'a="a.npy"'], {"a.npy": np.zeros(21)},
             r"'inputs\.sigmoid_teacher\.a' = \"a\.npy\" must be 20 \(model\.k\)"),
        case("q_not_numbers", [key + 'q="v.h5:/q"'], {"v.h5": {"q": np.array([b"x"] * 30)}},
             r"'inputs\.sigmoid_teacher\.q' = v\.h5:/q: the dataset holds no numbers"),
        case("beta_no_dataset", [key + 'beta="v.h5:/nothing"'], {"v.h5": {"q": np.zeros(30)}},
             r"'inputs\.sigmoid_teacher\.beta' = v\.h5:/nothing: no dataset '/nothing' in the file"),
        case("nan_value", [key + 'W0="w.npy"'], {"w.npy": nan},
             r"'inputs\.sigmoid_teacher\.W0' = w\.npy: value 65 \(row-major\) is not finite"),
        case("stack_without_epoch", [key + 'W0="r.h5:/runs/mf/snapshots/W"'], {"r.h5": stack},
             r"is a stack of 3 arrays; say which with 'inputs\.sigmoid_teacher\.W0_epoch' \(its epochs: 0, 5, 9\)"),
        case("epoch_not_in_stack", [key + 'W0="r.h5:/runs/mf/snapshots/W"', key + "W0_epoch=4"], {"r.h5": stack},
             r"'inputs\.sigmoid_teacher\.W0_epoch' = 4: \"r\.h5:/runs/mf/snapshots/W\" holds the epochs 0, 5, 9"),
        case("epoch_of_one_array", [key + 'W0="w.npy"', key + "W0_epoch=0"], {"w.npy": W0},
             r"'inputs\.sigmoid_teacher\.W0_epoch' applies to a stack of snapshots; \"w\.npy\" holds one array"),
        case("epoch_without_file", [key + "W0_epoch=3"], {},
             r"'inputs\.sigmoid_teacher\.W0_epoch' needs 'inputs\.sigmoid_teacher\.W0'"),
        case("npy_stack", [key + 'W0="s.npy"'], {"s.npy": np.zeros((2, 20, 30))}, r"a \.npy stack has no epochs"),
        case("stack_without_epochs", [key + 'W0="r.h5:/W"'], {"r.h5": {"W": np.zeros((2, 20, 30))}},
             r"'inputs\.sigmoid_teacher\.W0' = r\.h5:/epoch: no dataset '/epoch' in the file"),
        case("not_an_array_source", [key + 'W0="w.txt"'], {},
             r"'inputs\.sigmoid_teacher\.W0' = \"w\.txt\" must name a \.npy file or an HDF5 dataset"),
    ]


def flag_cases():
    rows_ = [
        ("epochs_negative", ["--epochs", "-3"], r"--epochs '-3' must be an integer from 0 to 1000000000$"),
        ("epochs_2_to_63", ["--epochs", "9223372036854775808"], r"--epochs '9223372036854775808' must be .* \(it is out of range\)"),
        ("epochs_past_limit", ["--epochs", "1000000001"], r"--epochs '1000000001' must be an integer from 0 to 1000000000"),
        ("epochs_fraction", ["--epochs", "1.5"], r"--epochs '1\.5' .* \(it is not a whole number\)"),
        ("epochs_word", ["--epochs", "abc"], r"--epochs 'abc' .* not a whole number"),
        ("epochs_empty", ["--epochs", ""], r"--epochs '' .* not a whole number"),
        ("epochs_exponent", ["--epochs", "1e3"], r"--epochs '1e3' .* not a whole number"),
        ("epochs_plus", ["--epochs", "+5"], r"--epochs '\+5' .* not a whole number"),
        ("epochs_twice", ["--epochs", "2", "--epochs", "3"], r"--epochs: At Most 1 required but received 2"),
        ("seed_negative", ["--seed", "-1"], r"--seed '-1' must be an integer from 0 to 9223372036854775807"),
        ("seed_2_to_64", ["--seed", "18446744073709551616"], r"--seed '18446744073709551616' .* out of range"),
        ("seed_exponent", ["--seed", "1e23"], r"--seed '1e23' .* not a whole number"),
        ("seed_hex", ["--seed", "0x10"], r"--seed '0x10' .* not a whole number"),
        ("threads_zero", ["--threads", "0"], r"--threads '0' must be an integer from 1 to 1024$"),
        ("threads_too_many", ["--threads", "1025"], r"--threads '1025' must be an integer from 1 to 1024"),
        ("threads_negative", ["--threads", "-1"], r"--threads '-1' must be an integer from 1 to 1024"),
        ("checkpoint_negative", ["--checkpoint-every", "-1"], r"--checkpoint-every '-1' must be an integer from 0"),
        ("checkpoint_huge", ["--checkpoint-every", "1000000001"], r"--checkpoint-every '1000000001' must be"),
        ("device_unknown", ["--device", "tpu"], r"--device: tpu not in \{auto,cpu,cuda\}"),
        ("precision_unknown", ["--precision", "float16"], r"--precision: float16 not in \{float32,float64\}"),
        ("typo_in_option", ["--epoch", "3"], r"not expected: .*--epoch"),
        ("stray_argument", ["extra"], r"not expected: extra"),
        ("set_without_value", ["--set"], r"--set: 1 required TEXT missing"),
        ("out_twice", ["--out", "a.h5", "--out", "b.h5"], r"--out: At Most 1 required but received 2"),
        ("exp_and_config", ["--config", "x.toml"], r"--exp excludes --config|--config excludes --exp"),
    ]
    base = ["--exp", "ntk_vs_mf", *SIZES, "--quiet"]
    cases = [Case(f"flags/{name}", [*base, *args], message) for name, args, message in rows_]
    cases += [
        Case("flags/nothing_to_run", ["--quiet"], r"nothing to run: give --exp NAME, --config FILE or --resume FILE"),
        Case("flags/force_alone", ["--force"], r"nothing to run"),
        Case("flags/exp_unknown", ["--exp", "nope"], r"--exp: unknown preset 'nope'; presets in .*: .*ntk_vs_mf"),
        Case("flags/exp_empty", ["--exp", ""], r"--exp: unknown preset ''"),
        Case("flags/config_empty", ["--config", ""], r"--config: the path is empty"),
        Case("flags/exp_is_a_path", ["--exp", "../../etc/passwd"], r"--exp: unknown preset '\.\./\.\./etc/passwd'"),
        Case("flags/cells_unknown", ["--exp", "relu_vs_sigmoid", *TINY, "--cells", "sig9"], r"--cells: unknown cell 'sig9'"),
        Case("flags/cells_empty", ["--exp", "relu_vs_sigmoid", *TINY, "--cells", ""], r"--cells '': an empty cell name"),
        Case("flags/cells_only_a_comma", ["--exp", "relu_vs_sigmoid", *TINY, "--cells", ",", "--out", "f.h5"],
             r"--cells ',': an empty cell name; give the names separated by commas"),
        Case("flags/cells_a_trailing_comma", ["--exp", "relu_vs_sigmoid", *TINY, "--cells", "sig1,", "--out", "f.h5"],
             r"--cells 'sig1,': an empty cell name"),
        Case("flags/cells_without_cells", [*RUN, "--cells", "a"], r"--cells: experiment 'ntk_vs_mf' has no cells"),
        Case("flags/resume_with_epochs", ["--resume", "x.h5", "--epochs", "3"], r"--resume excludes --epochs|--epochs excludes --resume"),
        Case("flags/resume_with_set", ["--resume", "x.h5", "--set", "data.n=3"], r"--set excludes --resume|--resume excludes --set"),
        Case("flags/resume_with_out", ["--resume", "x.h5", "--out", "y.h5"], r"--out excludes --resume|--resume excludes --out"),
        Case("flags/cuda_without_gpu", ["--exp", "ntk_vs_mf", *SIZES, "--device", "cuda"], r"--device cuda: no CUDA device is present",
             skip="a GPU is present" if GPU else ""),
    ]
    return cases


def config_cases():
    good = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "experiments", "ntk_vs_mf.toml")).read()
    runs = '[[runs]]\nname = "a"\ngamma = 1.0\nlr = 1.0\n'

    def cfg(name, setup, message, path="c.toml", args=()):
        return Case(f"config/{name}", ["--config", path, *SIZES, "--quiet", *args], message, setup=setup)

    return [
        cfg("missing", None, r"--config 'c\.toml' cannot be read: it does not exist"),
        cfg("folder", folder("c.toml"), r"--config 'c\.toml' is a folder, not a file"),
        cfg("fifo", fifo("c.toml"), r"--config 'c\.toml' is a FIFO, not a file"),
        cfg("dev_zero", None, r"--config '/dev/zero' is a character device, not a file", path="/dev/zero"),
        cfg("dev_null", None, r"--config '/dev/null' is a character device, not a file", path="/dev/null"),
        cfg("link_loop", links({"c.toml": "c.toml"}), r"--config 'c\.toml' is a symbolic link loop"),
        cfg("link_chain_loop", chain(links({"c.toml": "d.toml"}), links({"d.toml": "c.toml"})), r"--config 'c\.toml' is a symbolic link loop"),
        cfg("dangling_link", links({"c.toml": "nowhere.toml"}), r"--config 'c\.toml' is a symbolic link to 'nowhere\.toml', which does not exist"),
        cfg("link_to_fifo", chain(fifo("f"), links({"c.toml": "f"})), r"--config 'c\.toml' is a FIFO, not a file"),
        cfg("link_to_folder", chain(folder("d"), links({"c.toml": "d"})), r"--config 'c\.toml' is a folder, not a file"),
        cfg("name_300_characters", None, r"--config 'c+\.\.\. \(300 characters\)' cannot be read: it is too long a name",
            path="c" * 300),
        cfg("through_a_file", files({"f": "x"}), r"--config 'f/c\.toml' cannot be read: it has a file, not a folder, on its path",
            path="f/c.toml"),
        cfg("too_big", files({"c.toml": BIG_TOML}), r"--config 'c\.toml' is \d+ bytes; at most 4194304 are read"),
        cfg("empty", files({"c.toml": ""}), r"c\.toml: no runs: add at least one \[\[runs\]\] table"),
        cfg("binary_garbage", files({"c.toml": bytes(range(256)) * 4}), r"c\.toml: line \d+, column \d+"),
        cfg("invalid_utf8", files({"c.toml": b'experiment = "\xff\xfe"\n'}), r"c\.toml: line 1, column \d+"),
        cfg("nul_bytes", files({"c.toml": b"experiment = \"a\"\0\n"}), r"c\.toml: line 1, column \d+"),
        cfg("unterminated_table", files({"c.toml": "experiment = \"x\"\n[data\nn = 3\n"}), r"c\.toml: line 2, column \d+"),
        cfg("key_twice", files({"c.toml": "seed = 1\nseed = 2\n" + runs}), r"c\.toml: line 2, column \d+"),
        cfg("table_twice", files({"c.toml": "[data]\nn = 5\n[data]\nd = 5\n" + runs}), r"c\.toml: line 3, column \d+"),
        cfg("nested_arrays", files({"c.toml": "x = " + "[" * 100000 + "]" * 100000 + "\n"}), r"c\.toml: line 1, column \d+"),
        cfg("integer_overflow", files({"c.toml": "[data]\nn = 99999999999999999999\n" + runs}), r"c\.toml: line 2, column \d+"),
        cfg("long_unknown_key", files({"c.toml": "a" * 100000 + " = 1\n" + runs}), r"unknown key 'a{100000}'"),
        cfg("runs_not_array", files({"c.toml": "runs = 1\n"}), r"c\.toml: 'runs' must be an array"),
        cfg("runs_not_tables", files({"c.toml": "runs = [1, 2]\n"}), r"c\.toml: 'runs\[0\]' must be a table"),
        cfg("run_without_name", files({"c.toml": "[[runs]]\ngamma = 1.0\nlr = 1.0\n"}), r"'runs\[0\]\.name' = \"\" must start"),
        cfg("runs_same_name", files({"c.toml": runs + runs}), r"two runs are named 'a'"),
        cfg("run_unknown_inputs", files({"c.toml": runs + 'inputs = "zz"\n'}), r"'runs\.a\.inputs' = \"zz\" names no \[\[inputs\]\] entry"),
        cfg("inputs_twice", files({"c.toml": '[[inputs]]\nname = "i"\n[[inputs]]\nname = "i"\n' + runs}), r"two \[\[inputs\]\] are named 'i'"),
        cfg("inputs_as_table", files({"c.toml": '[inputs]\nname = "i"\n' + runs}), r"'inputs' must be an array"),
        cfg("pair_twice", files({"c.toml": 'pairs = [["a", "b"], ["b", "a"]]\n' + runs + runs.replace('"a"', '"b"')}),
            r"'pairs\[1\]' repeats the pair of 'b' and 'a'"),
        cfg("experiment_dot", files({"c.toml": 'experiment = "."\n' + runs}), r"'experiment' = \"\.\" must start"),
        cfg("experiment_200_characters", files({"c.toml": f'experiment = "{"x" * 200}"\n' + runs}),
            r"'experiment' = \"x+\.\.\.\" \(200 characters\) must start"),
        cfg("epochs_negative", files({"c.toml": "epochs = -2\n" + runs}), r"'epochs' = -2 must be an integer from 0"),
        cfg("size_infinite", files({"c.toml": "[data]\nn_test = inf\n" + runs}), r"'data\.n_test' must be an integer"),
        cfg("default_output_exists", files({"c.toml": 'experiment = "mine"\n' + runs, "mine.h5": "precious"}),
            r"--out 'mine\.h5' exists; pass --force to replace it"),
        cfg("preset_text_with_bad_set", files({"c.toml": good}), r"'data\.n' = 0 must be a positive integer",
            args=("--set", "data.n=0")),
    ]


def out_cases():
    def out(name, target, message, setup=None, force=False, skip="", code=2, args=RUN, volatile=(), background=None):
        return Case(f"out/{name}", [*args, "--out", target, *(["--force"] if force else [])], message, setup=setup,
                    skip=skip, code=code, volatile=list(volatile), background=background)

    small_run = ["--exp", "ntk_vs_mf", "--set", "data.n=300", "--set", "data.d=300", "--set", "model.k=400",
                 "--epochs", "3", "--quiet", "--device", "cpu", "--threads", "1"]
    return [
        out("exists", "taken.h5", r"--out 'taken\.h5' exists; pass --force to replace it", files({"taken.h5": "precious"})),
        out("default_exists", "ntk_vs_mf.h5", r"--out 'ntk_vs_mf\.h5' exists; pass --force", files({"ntk_vs_mf.h5": "precious"})),
        out("folder", "sub", r"--out 'sub' is a folder; give a file name", folder("sub")),
        out("folder_force", "sub", r"--out 'sub' is a folder; give a file name", folder("sub"), force=True),
        out("trailing_slash", "new/", r"--out 'new/' names a folder; give a file name"),
        out("dot", ".", r"--out '\.' names a folder"),
        out("dot_dot", "..", r"--out '\.\.' names a folder"),
        out("empty", "", r"--out: the path is empty; give a file name"),
        out("folder_missing", "nowhere/x.h5", r"--out 'nowhere/x\.h5' cannot be written: its folder 'nowhere' does not exist"),
        out("through_a_file", "taken.h5/x.h5", r"--out 'taken\.h5/x\.h5' cannot be written: 'taken\.h5' is not a folder",
            files({"taken.h5": "precious"})),
        out("dangling_link", "d.h5", r"--out 'd\.h5' is a symbolic link to 'nowhere\.h5', which does not exist",
            links({"d.h5": "nowhere.h5"})),
        out("dangling_link_force", "d.h5", r"is a symbolic link to 'nowhere\.h5', which does not exist",
            links({"d.h5": "nowhere.h5"}), force=True),
        out("link_loop", "l.h5", r"--out 'l\.h5' is a symbolic link loop", links({"l.h5": "l.h5"})),
        out("link_loop_force", "l.h5", r"--out 'l\.h5' is a symbolic link loop", links({"l.h5": "l.h5"}), force=True),
        out("link_chain_loop", "l.h5", r"--out 'l\.h5' is a symbolic link loop", chain(links({"l.h5": "m.h5"}), links({"m.h5": "l.h5"}))),
        out("link_to_folder", "l.h5", r"--out 'l\.h5' is a folder", chain(folder("d"), links({"l.h5": "d"}))),
        out("link_to_file", "l.h5", r"--out 'l\.h5' exists; pass --force", chain(files({"f.h5": "precious"}), links({"l.h5": "f.h5"}))),
        out("name_300_characters", LONG + ".h5", r"--out 'n+\.\.\. \(303 characters\)' is too long a name for the file system"),
        out("name_255_characters", "n" * 252 + ".h5", r"has a file name of 255 bytes: this file system takes names of at most 255"),
        out("name_251_characters", "n" * 248 + ".h5", r"has a file name of 251 bytes: .* so at most 250"),
        out("under_proc", "/proc/x.h5", r"--out '/proc/x\.h5' cannot be written: its folder '/proc' is on the kernel's proc file system"),
        out("under_proc_self", "/proc/self/x.h5", r"its folder '/proc/self' is on the kernel's proc file system"),
        out("under_sys", "/sys/x.h5", r"--out '/sys/x\.h5' cannot be written: its folder '/sys' is on the kernel's sysfs file system"),
        out("dev_null", "/dev/null", r"--out '/dev/null' exists and is a character device, not a file the engine may replace",
            force=True),
        out("fifo", "f.h5", r"--out 'f\.h5' exists and is a FIFO", fifo("f.h5"), force=True),
        out("lock_held_by_another", "x.h5", r"--out 'x\.h5' is in use: process \d+ on here holds its lock 'x\.h5\.lock'",
            background=held_lock("x.h5"), volatile=["x.h5.lock"]),
        out("lock_file_is_a_link", "x.h5", r"its lock file 'x\.h5\.lock' cannot be used: it is a symbolic link",
            links({"x.h5.lock": "elsewhere"})),
        out("name_ends_in_lock", "x.h5.lock", r"--out 'x\.h5\.lock' ends in '\.lock', which the engine keeps"),
        out("name_ends_in_part", "x.h5.part", r"--out 'x\.h5\.part' ends in '\.part', which the engine keeps"),
        out("lock_file_is_a_folder", "x.h5", r"its lock file 'x\.h5\.lock' cannot be created \(Is a directory\)",
            folder("x.h5.lock")),
        out("read_only_file_system", "ro/x.h5", r"its folder 'ro' is on a read-only file system", read_only_mount,
            skip=MOUNT_SKIP),
        # --force replaces a file only once the new one is set up: a pair listed twice fails the
        # checks, and a disk too small fails the set-up; the old file stays either way.
        out("force_with_a_bad_configuration", "taken.h5", r"'pairs\[1\]' repeats the pair",
            files({"taken.h5": "precious"}), force=True, args=[*RUN, "--set", 'pairs=[["ntk","mf"],["ntk","mf"]]']),
        out("force_onto_a_full_disk", "small/old.h5", r"failed: HDF5", code=1, force=True, args=small_run,
            setup=chain(tmpfs("1m"), files({"small/old.h5": "precious" * 10000})), skip=MOUNT_SKIP),
    ]


def resume_cases():
    ckpt, last = CHECKPOINT, BASE_ROWS
    resume = ["--resume", "r.h5", "--quiet", "--threads", "1"]
    damage = "--resume 'r\\.h5' is damaged: "

    def case(name, edit, message, base=INTERRUPTED, code=2, path_setup=None, args=resume):
        setup = path_setup if path_setup else damaged(edit, base)
        return Case(f"resume/{name}", list(args), message, setup=setup, code=code)

    half = lambda folder_: write(os.path.join(folder_, "r.h5"), open(INTERRUPTED, "rb").read()[: os.path.getsize(INTERRUPTED) // 2])

    def repacked(folder_):  # the interrupted file rewritten by h5repack in its default (older) format
        subprocess.run(["h5repack", INTERRUPTED, os.path.join(folder_, "r.h5")], check=True)

    def foreign(folder_):
        with h5py.File(os.path.join(folder_, "r.h5"), "w") as f:
            f["x"] = np.arange(3)

    return [
        case("missing", None, r"--resume: no such file 'r\.h5'", path_setup=lambda d: None),
        case("folder", None, r"--resume 'r\.h5' is a folder, not a file", path_setup=folder("r.h5")),
        case("fifo", None, r"--resume 'r\.h5' is a FIFO, not a file", path_setup=fifo("r.h5")),
        case("dev_zero", None, r"--resume '/dev/zero' is a character device", path_setup=lambda d: None,
             args=["--resume", "/dev/zero"]),
        case("link_loop", None, r"--resume 'r\.h5' is a symbolic link loop", path_setup=links({"r.h5": "r.h5"})),
        case("dangling_link", None, r"--resume 'r\.h5' is a symbolic link to 'gone\.h5', which does not exist",
             path_setup=links({"r.h5": "gone.h5"})),
        case("name_300_characters", None, r"--resume 'n+\.\.\. \(300 characters\)' is too long a name",
             path_setup=lambda d: None, args=["--resume", LONG]),
        case("text_file", None, r"--resume 'r\.h5' is not a readable HDF5 file", path_setup=files({"r.h5": "hello\n"})),
        case("empty_file", None, r"--resume 'r\.h5' is not a readable HDF5 file", path_setup=files({"r.h5": ""})),
        case("first_half", None, r"--resume 'r\.h5' is not a readable HDF5 file|is damaged", path_setup=half),
        case("foreign_hdf5", None, r"--resume 'r\.h5' is not a lowrank-engine file \(no attribute 'format'\)",
             path_setup=foreign),
        case("older_format", lambda f: f.attrs.__setitem__("format", "lowrank-engine/0"),
             r"has format 'lowrank-engine/0'; this engine resumes 'lowrank-engine/1'"),
        case("format_integer", lambda f: f.attrs.__setitem__("format", np.int64(1)), damage + r"its attribute 'format' is not a string"),
        case("format_array", lambda f: f.attrs.__setitem__("format", ["lowrank-engine/1"] * 3), damage + r"its attribute 'format' is not a string"),
        case("no_config", lambda f: f.attrs.__delitem__("config"), r"not a lowrank-engine file \(no attribute 'config'\)"),
        case("config_garbage", lambda f: f.attrs.__setitem__("config", "[data\n"), r"r\.h5 \(its config attribute\): line 1"),
        case("config_integer", lambda f: f.attrs.__setitem__("config", np.int64(7)), damage + r"its attribute 'config' is not a string"),
        case("config_n_1e11", config_edit(r"^n = 40$", "n = 100000000000"),
             damage + r"inputs/sigmoid_teacher/X_train is 40×30, not 100000000000×30"),
        case("config_n_41", config_edit(r"^n = 40$", "n = 41"), damage + r"inputs/sigmoid_teacher/X_train is 40×30, not 41×30"),
        case("config_k_zero", config_edit(r"^k = 20$", "k = 0"), r"its config attribute\): 'model\.k' = 0 must be a positive integer"),
        case("config_unknown_key", config_edit(r"^\[data\]$", "[data]\nfoo = 1"), r"unknown key 'data\.foo'"),
        case("config_pair_twice", config_edit(r"^pairs = \[\['ntk', 'mf'\]\]$", "pairs = [['ntk', 'mf'], ['mf', 'ntk']]"),
             r"'pairs\[1\]' repeats the pair"),
        case("config_run_named_dot", config_edit(r"^name = 'ntk'$", "name = '.'"), r"'runs\[0\]\.name' = \"\.\" must start"),
        case("config_seed_changed", config_edit(r"^seed = 42$", "seed = 43"),
             r"--resume 'r\.h5': the inputs drawn from the file's configuration differ from those in it"),
        case("config_precision_changed", config_edit(r'^precision = "float32"$', 'precision = "float64"'),
             r"--resume 'r\.h5': the inputs drawn from the file's configuration differ"),
        case("config_heavy_every_changed", config_edit(r"^heavy_every = 1$", "heavy_every = 2"),
             damage + r"runs/ntk/spectrum_epoch is missing"),
        case("config_truncated_spectrum", chain(config_edit(r'^method = "full"$', 'method = "truncated"'),
                                                config_edit(r"^rank = 16$", "rank = 4")),
             damage + r"runs/ntk/grad_singular_values is \d+×20, not E×4"),
        case("config_epochs_fewer_than_rows", config_edit(r"^epochs = 100000$", "epochs = 5"),
             damage + r"runs/ntk holds more rows than the run's 5 epochs"),
        case("no_device", lambda f: f.attrs.__delitem__("device"), r"no attribute 'device'"),
        case("resumed_integer", lambda f: f.attrs.__setitem__("resumed", np.int64(1)), damage + r"its attribute 'resumed' is not a string"),
        case("checkpoint_every_string", lambda f: f.attrs.__setitem__("checkpoint_every", "4"),
             damage + r"its attribute 'checkpoint_every' is not an integer"),
        case("checkpoint_every_negative", lambda f: f.attrs.__setitem__("checkpoint_every", np.int64(-5)),
             damage + r"its attribute 'checkpoint_every' is -5"),
        case("status_missing", delete("status"), damage + r"status is missing"),
        case("status_integer", replace("status", data=np.int64(1)), damage + r"status holds integers, not a string"),
        case("status_array", replace("status", data=np.array([b"running"] * 1000, dtype="S32")), damage + r"status is 1000, not a scalar"),
        case("status_unknown", set_value("status", b"banana"), damage + r"status is 'banana', none of running, complete"),
        case("no_checkpoints", delete("checkpoints"), r"has no checkpoints \(written with --checkpoint-every 0"),
        case("checkpoint_epoch_1e18", set_value("checkpoints/group0/epoch", np.array([10 ** 18, -1])),
             damage + r"checkpoints/group0/epoch holds 1000000000000000000 in slot 0"),
        case("checkpoint_epoch_negative", set_value("checkpoints/group0/epoch", np.array([-5, -1])),
             damage + r"checkpoints/group0/epoch holds -5 in slot 0"),
        case("checkpoint_epoch_zero", set_value("checkpoints/group0/epoch", np.array([0, ckpt])),
             damage + r"checkpoints/group0/epoch holds 0 in slot 0"),
        case("checkpoint_past_the_rows", set_value("checkpoints/group0/epoch", np.array([last + 2, -1])),
             damage + rf"runs/ntk holds {last} rows in its shortest per-epoch dataset, fewer than its checkpoint at epoch {last + 2} needs"),
        case("checkpoint_epoch_missing", delete("checkpoints/group0/epoch"), damage + r"checkpoints/group0/epoch is missing"),
        case("checkpoint_W_missing", delete("checkpoints/group0/W"), damage + r"checkpoints/group0/W is missing"),
        case("checkpoint_W_narrow", replace("checkpoints/group0/W", data=np.zeros((2, 2, 20, 29), np.float32)),
             damage + r"checkpoints/group0/W is 2×2×20×29, not 2×2×20×30"),
        case("checkpoint_v_prev_integers", replace("checkpoints/group0/v_prev", data=np.zeros((2, 2, 30, 1), np.int32)),
             damage + r"checkpoints/group0/v_prev holds integers, not floating-point numbers"),
        case("checkpoint_a_missing", delete("checkpoints/group0/a"), damage + r"checkpoints/group0/a is missing"),
        case("checkpoint_earlier_layout", lambda f: f.create_dataset("checkpoints/group0/vectors", data=np.zeros((2, 2, 4, 30))),
             r"--resume 'r\.h5' was written by an earlier engine, whose checkpoints kept a run's vectors in one dataset"),
        case("refit_a_missing", delete("runs/ntk/refit_a"), damage + r"runs/ntk/refit_a is missing"),
        case("config_snapshots_added", config_edit(r"^snapshot_every = 0$", "snapshot_every = 5"),
             damage + r"runs/ntk/snapshots/epoch is missing"),
        case("checkpoint_group_missing", delete("checkpoints/group0"), damage + r"checkpoints/group0/W is missing"),
        case("run_missing", delete("runs/mf"), damage + r"runs/mf/status is missing"),
        case("runs_missing", delete("runs"), damage + r"runs/ntk/status is missing"),
        case("run_is_a_dataset", chain(delete("runs/mf"), lambda f: f.create_dataset("runs/mf", data=1)),
             damage + r"runs/mf/status is missing"),
        case("spectrum_deleted", delete("runs/mf/grad_singular_values"), damage + r"runs/mf/grad_singular_values is missing"),
        case("energy_5_rows", resize("runs/mf/energy", 5),
             damage + rf"runs/mf holds 5 rows in its shortest per-epoch dataset, fewer than its checkpoint at epoch {ckpt} needs"),
        case("train_mse_no_rows", resize("runs/ntk/train_mse", 0), damage + r"runs/ntk holds 0 rows"),
        case("epoch_scale_short", resize("runs/ntk/epoch", 3), damage + r"runs/ntk holds 3 rows"),
        case("vector_short", resize("runs/mf/grad_top_right_vector", 2), damage + r"runs/mf holds 2 rows"),
        case("energy_past_the_epochs", resize("runs/mf/energy", 100005), damage + r"runs/mf holds more rows than the run's 100000 epochs"),
        case("vector_narrow", replace("runs/mf/grad_top_right_vector", data=np.zeros((last, 29)), maxshape=(None, 29)),
             damage + rf"runs/mf/grad_top_right_vector is {last}×29, not E×30"),
        case("energy_fixed_size", replace("runs/ntk/energy", data=np.zeros(last)), damage + r"runs/ntk/energy cannot grow"),
        case("energy_two_dimensional", replace("runs/mf/energy", data=np.zeros((last, 1)), maxshape=(None, 1)),
             damage + rf"runs/mf/energy is {last}×1, not E"),
        case("energy_strings", replace("runs/mf/energy", data=np.array([b"x"] * last), maxshape=(None,)),
             damage + r"runs/mf/energy holds a string, not floating-point numbers"),
        case("energy_a_link_to_train_mse", chain(delete("runs/mf/energy"),
                                                 lambda f: f.__setitem__("runs/mf/energy", h5py.SoftLink("/runs/mf/train_mse"))),
             damage + r"runs/mf/energy is another name of a dataset checked before"),
        case("run_a_link_to_another", chain(delete("runs/mf"), lambda f: f.__setitem__("runs/mf", h5py.SoftLink("/runs/ntk"))),
             damage + r"runs/mf/status is another name of a dataset checked before"),
        case("epoch_scale_floats", replace("runs/mf/epoch", data=np.zeros(last), maxshape=(None,)),
             damage + r"runs/mf/epoch holds floating-point numbers, not integers"),
        case("run_status_missing", delete("runs/mf/status"), damage + r"runs/mf/status is missing"),
        case("run_status_unknown", set_value("runs/mf/status", b"banana"), damage + r"runs/mf/status is 'banana', none of"),
        case("diverged_epoch_missing", delete("runs/ntk/diverged_epoch"), damage + r"runs/ntk/diverged_epoch is missing"),
        case("diverged_epoch_without_divergence", set_value("runs/mf/diverged_epoch", 5),
             damage + r"runs/mf/diverged_epoch is 5 for a run whose status is 'interrupted'"),
        case("diverged_without_epoch", set_value("runs/mf/status", b"diverged"),
             damage + r"runs/mf/diverged_epoch is -1 for a run whose status is 'diverged'"),
        case("diverged_epoch_array", replace("runs/mf/diverged_epoch", data=np.zeros(1000, np.int64)),
             damage + r"runs/mf/diverged_epoch is 1000, not a scalar"),
        case("refit_missing", delete("runs/mf/refit_test_mse"), damage + r"runs/mf/refit_test_mse is missing"),
        case("complete_but_short", set_value("runs/mf/status", b"complete"),
             damage + rf"the run 'mf' is complete after 100000 epochs, but its per-epoch datasets hold from {last}"),
        case("diverged_but_long", chain(set_value("runs/ntk/status", b"diverged"), set_value("runs/ntk/diverged_epoch", 3)),
             damage + rf"the run 'ntk' is diverged after 3 epochs, but its per-epoch datasets hold from {last}"),
        case("pair_missing", delete("pairs/ntk__mf"), damage + r"pairs/ntk__mf/epoch is missing"),
        case("pair_short", resize("pairs/ntk__mf/pair_mean_angle_deg", 2),
             damage + rf"pairs/ntk__mf holds 2 rows, but the checkpoint its runs continue from is at epoch {ckpt}"),
        case("inputs_missing", delete("inputs"), damage + r"inputs/sigmoid_teacher/X_train is missing"),
        case("inputs_W0_missing", delete("inputs/sigmoid_teacher/W0"), damage + r"inputs/sigmoid_teacher/W0 is missing"),
        case("inputs_X_narrow", replace("inputs/sigmoid_teacher/X_train", data=np.zeros((40, 29), np.float32)),
             damage + r"inputs/sigmoid_teacher/X_train is 40×29, not 40×30"),
        case("inputs_X_altered", lambda f: f["inputs/sigmoid_teacher/X_train"].__setitem__((0, 0), 123.0),
             r"--resume 'r\.h5': the inputs drawn from the file's configuration differ from those in it"),
        case("peak_array", replace("peak_host_bytes", data=np.zeros(1000, np.int64)), damage + r"peak_host_bytes is 1000, not a scalar"),
        # Found by fuzz_resume: the writer opened both peaks when the first was there (exit 1, after
        # the series were cut); a pair's series far past the epochs made HDF5's cut visit every chunk.
        case("peak_device_missing", delete("peak_device_bytes"), damage + r"peak_device_bytes is missing"),
        case("pair_far_past_the_epochs", resize("pairs/ntk__mf/epoch", 10 ** 12),
             damage + r"pairs/ntk__mf holds more rows than its runs' 100000 epochs"),
        case("older_superblock", None, r"--resume 'r\.h5' was rewritten in an older HDF5 format \(superblock version [012]\)",
             path_setup=repacked),
        case("lock_file_is_a_link", None, r"--resume 'r\.h5': its lock file 'r\.h5\.lock' cannot be used: it is a symbolic link",
             path_setup=chain(damaged(None), links({"r.h5.lock": "elsewhere"}))),
        case("complete_needs_nothing", None, r"r\.h5 is complete; nothing to resume", code=0,
             path_setup=damaged(None, COMPLETE)),
    ]


def concurrent_cases():
    return [
        Case("concurrent/second_resume", ["--resume", "r.h5", "--quiet"],
             r"--resume 'r\.h5' is in use: process \d+ on \S+ holds its lock 'r\.h5\.lock'; wait for it to end",
             setup=damaged(None), background=live_writer("r.h5", resume=True), volatile=["r.h5", "r.h5.lock"]),
        Case("concurrent/resume_beside_the_writer", ["--resume", "w.h5", "--quiet"],
             r"--resume 'w\.h5' is in use: process \d+ on \S+ holds its lock 'w\.h5\.lock'",
             background=live_writer("w.h5"), volatile=["w.h5", "w.h5.lock"]),
        Case("concurrent/force_onto_a_live_file", [*RUN, "--out", "w.h5", "--force"],
             r"--out '\S*w\.h5' is in use: process \d+ on \S+ holds its lock",
             background=live_writer("w.h5"), volatile=["w.h5", "w.h5.lock"]),
        Case("concurrent/second_run_to_a_live_file", [*RUN, "--out", "w.h5"], r"--out 'w\.h5' exists; pass --force",
             background=live_writer("w.h5"), volatile=["w.h5", "w.h5.lock"]),
        Case("concurrent/lock_held_by_another_program", ["--resume", "r.h5", "--quiet"],
             r"--resume 'r\.h5' is in use: process \d+ on here holds its lock 'r\.h5\.lock'",
             setup=damaged(None), background=held_lock("r.h5"), volatile=["r.h5.lock"]),
    ]


# ---------------------------------------------------------------------------------------------
# engine sweep: its tables checked whole before any work, and its --resume and --merge checking the
# whole file first. The resume cases damage a sweep killed by SIGKILL (its writer flags cleared, so
# that h5py can edit the copy) with about a third of its replicates done.

SWEEP_BASE = tiny_config(k=20)
SWEEP_AXIS = '[[sweep.axes]]\nname = "size"\nkey = "data.n"\nvalues = [40, 50]\n'
KILLED_SWEEP = os.path.join(BASE, "killed-sweep.h5")


def make_killed_sweep():
    write(os.path.join(BASE, "s.toml"), SWEEP_BASE + "[sweep]\nreplicates = 3000\n" + SWEEP_AXIS)
    p = subprocess.Popen([ENGINE, "sweep", "--config", "s.toml", "--out", KILLED_SWEEP, "--quiet"], cwd=BASE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def done():
        try:
            with h5py.File(KILLED_SWEEP, "r", libver="latest", swmr=True) as f:
                return (f["cell_status"][()] > 0).sum() >= 200
        except (OSError, KeyError):
            return False
    ok = wait_for(done)
    p.kill()
    p.wait()
    if not ok:
        sys.exit("cannot make the killed sweep file")
    for leftover in (KILLED_SWEEP + ".lock",):
        if os.path.exists(leftover):
            os.remove(leftover)
    subprocess.run(["h5clear", "-s", KILLED_SWEEP], check=True)


make_killed_sweep()


def sweep_cases():
    def case(name, table, message, code=2):
        return Case(f"sweep/{name}", ["sweep", "--config", "s.toml", "--out", "o.h5", "--quiet"], message, code=code,
                    setup=files({"s.toml": SWEEP_BASE + "[sweep]\n" + table}))
    slope = '[[sweep.slopes]]\nname = "{}"\nseries = "train_mse"\naxis = "size"\n'
    axis = '[[sweep.axes]]\nname = "{}"\nkey = "{}"\nvalues = [{}]\n'
    many = ", ".join(str(40 + i) for i in range(100000))
    return [
        case("slope_named_as_a_series", SWEEP_AXIS + slope.format("train_mse"),
             r"'sweep\.slopes\[0\]\.name' = \"train_mse\" is already the name of the series train_mse"),
        case("slope_named_as_a_mean", SWEEP_AXIS + slope.format("test_mse_mean"),
             r"is already the name of the series test_mse"),
        case("two_slopes_one_name", SWEEP_AXIS + slope.format("b") + slope.format("b"),
             r"'sweep\.slopes\[1\]\.name' = \"b\" is already the name of the slope b"),
        case("slope_named_as_an_axis", SWEEP_AXIS + slope.format("size"), r"is already the name of axis 'size'"),
        case("slope_scale_not_a_number", SWEEP_AXIS + slope.format("b") + 'scale = "x"\n',
             r"'sweep\.slopes\[0\]\.scale' must be a finite number"),
        case("slope_key_not_a_string", SWEEP_AXIS + slope.format("b") + "key = 3\n",
             r"'sweep\.slopes\[0\]\.key' must be a string"),
        case("axis_name_with_a_slash", axis.format("a/b", "data.n", "40"),
             r"'sweep\.axes\[0\]\.name' = \"a/b\" must start with a letter"),
        case("axis_name_not_a_string", '[[sweep.axes]]\nname = 3\nkey = "data.n"\nvalues = [40]\n',
             r"'sweep\.axes\[0\]\.name' must be a string"),
        case("axis_named_as_a_series", axis.format("train_mse", "data.n", "40"),
             r"is already the name of the series train_mse"),
        case("axis_named_as_a_key", axis.format("data.n", "data.n", "40"), r"is already the name of axis 'data\.n'"),
        case("two_axes_one_key", SWEEP_AXIS + axis.format("other", "data.n", "60"),
             r"'sweep\.axes\.other': the key 'data\.n' is set by axis 'size' too"),
        case("one_key_twice_on_an_axis", '[[sweep.axes]]\nname = "a"\nkeys = ["data.n", "data.n"]\nvalues = [[40, 50]]\n',
             r"the key 'data\.n' is set by axis 'a' twice"),
        case("axis_over_a_run_name", axis.format("names", "runs.ntk.name", '"ntk", "other"'),
             r"every cell must have the same runs"),
        case("ten_billion_cells", axis.format("a", "data.n", many) + axis.format("b", "data.d", many),
             r"the axes make more than 1000000 cells \(100000 x 100000"),
        case("values_beyond_memory", "replicates = 1000000\nepochs = 100000\n" + SWEEP_AXIS,
             r"this sweep's values \(2 cells x 1000000 replicates x 100000 epochs\).* need about .* of host memory"),
        case("epochs_beyond_a_chunk", "epochs = 600000000\n" + SWEEP_AXIS, r"a sweep file holds at most 536870911"),
        case("run_of_zero_epochs", axis.format("e", "runs.ntk.epochs", "0, 3"),
             r"its run 'ntk' has 0 epochs; a sweep measures at initialisation with sweep\.epochs = 0"),
        Case("sweep/nan_in_a_data_file", ["sweep", "--config", "s.toml", "--out", "o.h5", "--quiet"],
             r"'data\.x' = X\.npy: value 3 \(row-major\) is not finite", setup=chain(
                 files({"s.toml": SWEEP_BASE.replace("[data]\nd = 30\nn = 40\n", '[data]\nsource = "file"\nx = "X.npy"\n')
                        + '[sweep]\n[[sweep.axes]]\nname = "lr"\nkey = "runs.mf.lr"\nvalues = [1.0, 2.0]\n'}),
                 lambda d: np.save(os.path.join(d, "X.npy"), np.where(np.arange(60) == 3, np.nan, 1.0).reshape(20, 3)))),
    ]


def sweep_resume_cases():
    damage = r"--resume 'r\.h5' is damaged: "

    def case(name, edit, message, args=("sweep", "--resume", "r.h5", "--quiet"), base=KILLED_SWEEP):
        return Case(f"sweep_resume/{name}", list(args), message, setup=damaged(edit, base))

    def config_replicates(f):
        f.attrs["config"] = f.attrs["config"].replace("replicates = 3000", "replicates = 3001")

    def repacked(folder_):
        subprocess.run(["h5repack", KILLED_SWEEP, os.path.join(folder_, "r.h5")], check=True)

    def hard_link(f):
        del f["test_mse"]
        f["test_mse"] = f["train_mse"]

    def rename_run(f):
        del f["run"]
        f.create_dataset("run", data=["ntk", "other"], dtype=h5py.string_dtype())

    return [
        case("cell_status_deleted", delete("cell_status"), damage + "cell_status is missing"),
        case("series_deleted", delete("align_data"), damage + "align_data is missing"),
        case("mean_deleted", delete("train_mse_mean"), damage + "train_mse_mean is missing"),
        case("series_of_another_shape", replace("train_mse", data=np.zeros((2, 2, 3000, 2))),
             damage + r"train_mse is 2×2×3000×2, not 2×2×3000×3"),
        case("series_of_strings", replace("train_mse", data=np.full((2, 2, 3000, 3), "x", dtype=h5py.string_dtype())),
             damage + "train_mse holds a string, not floating-point numbers"),
        case("series_a_hard_link_to_another", hard_link, damage + "test_mse is another name of a dataset checked before"),
        case("garbage_statuses", set_value("cell_status", 7), damage + r"cell_status holds 7 for cell 0, replicate 0"),
        case("altered_config", config_replicates, damage + r"its attribute 'replicates' is 3000, its config's 3001"),
        case("axis_coordinate_deleted", delete("data.n"), damage + r"data\.n is missing"),
        case("axis_coordinate_altered", set_value("data.n", [40, 60]),
             damage + r"data\.n does not hold the values of axis 'size' in its config"),
        case("axis_scale_deleted", delete("size"), damage + "size is missing"),
        case("run_renamed", rename_run, damage + "run does not hold the runs of its config"),
        case("status_garbage", set_value("status", np.bytes_("banana")), damage + "status is 'banana', none of"),
        case("shard_an_integer", lambda f: f.attrs.__setitem__("shard", 3), damage + "its attribute 'shard' is not a string"),
        case("shard_out_of_range", lambda f: f.attrs.__setitem__("shard", "5/3"),
             damage + r"its attribute 'shard' is '5/3', not a share i/N of the cells"),
        case("engine_file", None, r"--resume 'r\.h5': not a sweep file of this engine", base=INTERRUPTED),
        Case("sweep_resume/repacked", ["sweep", "--resume", "r.h5", "--quiet"],
             r"--resume 'r\.h5' was rewritten in an older HDF5 format", setup=repacked),
        case("merge_of_an_engine_file", None, r"--merge 'r\.h5': not a sweep file of this engine",
             args=("sweep", "--merge", "r.h5", "--out", "m.h5", "--quiet"), base=INTERRUPTED),
        case("merge_of_a_damaged_shard", delete("cell_status"), r"--merge 'r\.h5' is damaged: cell_status is missing",
             args=("sweep", "--merge", "r.h5", "--out", "m.h5", "--quiet")),
        case("merge_with_a_set", None, r"--merge takes no --set \(sweep\.replicates=2\)",
             args=("sweep", "--merge", "r.h5", "--out", "m.h5", "--set", "sweep.replicates=2", "--quiet")),
    ]


def table():
    return (set_cases() + state_file_cases() + flag_cases() + config_cases() + out_cases() + resume_cases() + concurrent_cases() +
            sweep_cases() + sweep_resume_cases())


# ---------------------------------------------------------------------------------------------

def run_case(case, workdir):
    folder_ = os.path.join(workdir, case.name.replace("/", "-"))
    os.mkdir(folder_)
    if case.setup:
        case.setup(folder_)
    stopper = case.background(folder_) if case.background else None
    before = {k: v for k, v in snapshot(folder_).items() if k not in case.volatile}
    problems = []
    try:
        r = engine(case.args, folder_)
    except subprocess.TimeoutExpired:
        r = None
        problems.append(f"hung: no exit within {HANG_SECONDS} s")
    if stopper:
        problems += stopper()
    if r is not None:
        err = r.stderr.strip()
        if r.returncode < 0:
            problems.append(f"crashed: signal {-r.returncode}: {err[-400:]}")
        elif re.search(r"Sanitizer|runtime error:|terminate called", err):
            problems.append(f"sanitizer or terminate report: {err[-600:]}")
        elif r.returncode != case.code:
            problems.append(f"exit {r.returncode}, want {case.code}: {err[-400:]}")
        if not re.search(case.message, err, flags=re.M):
            problems.append(f"stderr does not match /{case.message}/: {err[-400:]!r}")
    after = {k: v for k, v in snapshot(folder_).items() if k not in case.volatile}
    for name in sorted(set(before) | set(after)):
        if name not in after:
            problems.append(f"{name} was removed")
        elif name not in before:
            problems.append(f"{name} was created")
        elif before[name] != after[name]:
            problems.append(f"{name} was changed")
    for mount in ("small", "ro"):
        if os.path.ismount(os.path.join(folder_, mount)):
            subprocess.run(["umount", os.path.join(folder_, mount)])
    return problems


def simultaneous_start(workdir):
    """Two engines started at once on one new --out: one writes it, the other is refused (exit 2);
    the file is whole and nothing else is left in the folder."""
    folder_ = os.path.join(workdir, "concurrent-simultaneous_start")
    os.mkdir(folder_)
    problems = []
    for attempt in range(3):
        out = f"y{attempt}.h5"
        ps = [subprocess.Popen([ENGINE, *RUN, "--out", out], cwd=folder_, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=HANG_SECONDS), p.stderr.read()) for p in ps]
        codes = sorted(code for code, _ in results)
        if codes != [0, 2]:
            problems.append(f"attempt {attempt}: exits {codes}, want one 0 and one 2: {[e.strip()[-200:] for _, e in results]}")
        elif not re.search(r"is in use: .* holds its lock|exists; pass --force", [e for c, e in results if c == 2][0]):
            problems.append(f"attempt {attempt}: the refusal does not say why: {results}")
        if readable(os.path.join(folder_, out)) != "complete":
            problems.append(f"attempt {attempt}: {out} is {readable(os.path.join(folder_, out))}")
    left = sorted(set(os.listdir(folder_)) - {f"y{i}.h5" for i in range(3)})
    if left:
        problems.append(f"left behind: {left}")
    return problems


def main():
    workdir = tempfile.mkdtemp(prefix="hostile-")
    cases = [c for c in table() if ONLY in c.name]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names repeat"
    failures, skipped = [], 0
    for case in cases:
        if case.skip:
            print(f"skip {case.name}: {case.skip}")
            skipped += 1
            continue
        problems = run_case(case, workdir)
        print(("ok   " if not problems else "FAIL ") + case.name + "".join("\n     " + p for p in problems))
        if problems:
            failures.append(case.name)
    if ONLY in "concurrent/simultaneous_start":
        problems = simultaneous_start(workdir)
        print(("ok   " if not problems else "FAIL ") + "concurrent/simultaneous_start" +
              "".join("\n     " + p for p in problems))
        if problems:
            failures.append("concurrent/simultaneous_start")
        cases.append(None)
    print(f"{len(cases) - skipped} case(s) run, {skipped} skipped, {len(failures)} failed")
    if not failures:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(BASE, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
