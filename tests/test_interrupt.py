#!/usr/bin/python3
"""Nothing lost: SIGINT and SIGTERM stop after the epoch in flight (exit 130 / 143, status
interrupted, file closed); SIGKILL at random moments leaves a file h5py opens (SWMR) whose every
complete epoch equals the uninterrupted run's; `--resume` after SIGKILL or SIGINT finishes a file
equal to the uninterrupted run's, bit for bit; a run that ended before the checkpoint keeps its
summary, a resume on another device warns, and each resumption is recorded in the file's
`resumed` attribute; --resume refuses foreign, older, damaged files;
a diverging run stops at its epoch while the other run of its pair completes (exit 3).

usage: test_interrupt.py ENGINE
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

from checks import check, summary

ENGINE = sys.argv[1]
# On the CPU: under a second for the 60 epochs on 2 cores; the kills below land mid-run (checked).
ARGS = ["--exp", "ntk_vs_mf", "--set", "data.n=150", "--set", "data.d=200", "--set", "model.k=250", "--epochs", "60",
        "--device", "cpu", "--threads", "2", "--quiet", "--checkpoint-every", "4"]
SKIP = ("epoch_seconds",)

def text(ds):
    return ds[()].decode().rstrip("\0")


def series(f, group):
    return {k: v for k, v in f[group].items() if isinstance(v, h5py.Dataset) and v.ndim >= 1 and k not in SKIP
            and v.maxshape[0] is None}


def complete_epochs(f, group):
    return min(ds.shape[0] for ds in series(f, group).values())


def same_prefix(f, ref, group, n):
    """Rows 0..n−1 of every growing dataset of `group` equal the reference's, bit for bit."""
    for name, ds in series(f, group).items():
        a, b = ds[:n], ref[group][name][:n]
        if not np.array_equal(a, b, equal_nan=True):
            return f"{group}/{name} differs"
    return ""


def wait_for_epochs(path, count, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with h5py.File(path, "r", libver="latest", swmr=True) as f:
                if f["runs/mf/train_mse"].shape[0] >= count:
                    return True
        except (OSError, KeyError):
            pass
        time.sleep(0.05)
    return False


def stopped_mid_run(path):
    """Whether the file a stopped run left is unfinished, so that resuming it has work to do."""
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        return text(f["status"]) != "complete" and f["runs/mf/train_mse"].shape[0] < 60


def main():
    tmp = tempfile.mkdtemp()
    reference = os.path.join(tmp, "reference.h5")
    subprocess.run([ENGINE, *ARGS, "--out", reference], check=True, stdout=subprocess.DEVNULL)
    ref = h5py.File(reference, "r")
    groups = ["runs/ntk", "runs/mf", "pairs/ntk__mf"]

    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        path = os.path.join(tmp, f"stopped-{sig.name}.h5")
        p = subprocess.Popen([ENGINE, *ARGS, "--out", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        check(wait_for_epochs(path, 3), f"{sig.name}: the run got going")
        p.send_signal(sig)
        err = p.communicate(timeout=120)[1]
        check(p.returncode == code, f"{sig.name}: exit {p.returncode} (want {code}); {err.strip()}")
        with h5py.File(path, "r") as f:  # closed properly: a plain open works
            check(text(f["status"]) == "interrupted", f"{sig.name}: file status {text(f['status'])}")
            for run in ("ntk", "mf"):
                check(text(f[f"runs/{run}/status"]) == "interrupted", f"{sig.name}: run {run} interrupted")
            lengths = {g: {n: ds.shape[0] for n, ds in series(f, g).items()} for g in groups}
            epochs = {n for g in lengths.values() for n in g.values()}
            check(len(epochs) == 1 and 3 <= min(epochs) < 60,
                  f"{sig.name}: every series stops at the same finished epoch ({sorted(epochs)})")
            for g in groups:
                diff = same_prefix(f, ref, g, min(epochs))
                check(not diff, f"{sig.name}: {g} equals the uninterrupted run {diff}")

    rng = random.Random(20261127)
    for attempt in range(4):
        path = os.path.join(tmp, f"killed-{attempt}.h5")
        p = subprocess.Popen([ENGINE, *ARGS, "--out", path], stdout=subprocess.DEVNULL)
        # After a random epoch, at a random moment of the next ones (mid-write or not): a kill
        # timed from the start could outlast the run, whose speed depends on the machine's load.
        wait_for_epochs(path, rng.randint(1, 20))
        time.sleep(rng.uniform(0.0, 0.05))
        p.kill()
        p.wait()
        try:
            with h5py.File(path, "r", libver="latest", swmr=True) as f:
                kept = []
                for g in groups:
                    n = complete_epochs(f, g)
                    kept.append(n)
                    diff = same_prefix(f, ref, g, n)
                    check(not diff, f"SIGKILL #{attempt}: {g}'s {n} complete epochs equal the uninterrupted run {diff}")
                check(text(f["status"]) == "running", f"SIGKILL #{attempt}: the kill landed mid-run, epochs {kept}")
        except OSError as e:
            check(False, f"SIGKILL #{attempt}: h5py (swmr=True) opens the file ({e})")

    # --resume: after SIGKILL at random moments and after SIGINT, the finished file is the
    # uninterrupted run's (every dataset but epoch_seconds, checkpoints included).
    def same_file(path, reference_file=ref):
        with h5py.File(path, "r") as f:
            names = []
            f.visit(names.append)
            for name in names:
                if isinstance(f[name], h5py.Dataset) and not name.endswith(SKIP) and not name.startswith("peak_"):
                    x, y = f[name][()], reference_file[name][()]
                    kind = np.asarray(x).dtype.kind
                    if not (np.array_equal(x, y, equal_nan=True) if kind == "f" else np.array_equal(x, y)):
                        return f"{name} differs"
            return "" if text(f["status"]) == "complete" else f"status {text(f['status'])}"

    for attempt, stop in enumerate(["kill", "kill", "interrupt"]):
        path = os.path.join(tmp, f"resumed-{attempt}.h5")
        p = subprocess.Popen([ENGINE, *ARGS, "--out", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        check(wait_for_epochs(path, rng.randint(2, 20)), f"resume after {stop} #{attempt}: the run got going")
        if stop == "kill":
            p.kill()
        else:
            p.send_signal(signal.SIGINT)
        p.wait()
        check(stopped_mid_run(path), f"resume after {stop} #{attempt}: the run was stopped before its end")
        r = subprocess.run([ENGINE, "--resume", path, "--threads", "2", "--quiet"], capture_output=True, text=True)
        check(r.returncode == 0, f"resume after {stop} #{attempt}: exit {r.returncode} {r.stderr.strip()}")
        diff = same_file(path)
        check(not diff, f"resume after {stop} #{attempt}: the file equals the uninterrupted run {diff}")
    r = subprocess.run([ENGINE, "--resume", reference], capture_output=True, text=True)
    check(r.returncode == 0 and "nothing to resume" in r.stderr, "resume of a complete file: nothing to do")

    # A run that ended before the checkpoint (ntk, 8 epochs, beside mf's 400) is not retrained: the
    # resumed summary shows it as the uninterrupted run's did. The file claims another device, so
    # the resume warns; stopped and resumed once more, the file's `resumed` attribute has a line
    # per resumption, and its datasets are the uninterrupted run's.
    def summary_row(stdout, run):
        rows = [line.split() for line in stdout.splitlines() if line.split()[:1] == [run]]
        return rows[0] if len(rows) == 1 else None

    def mf_rows(path):
        with h5py.File(path, "r", libver="latest", swmr=True) as f:
            return f["runs/mf/train_mse"].shape[0]

    at = ARGS.index("--epochs")
    early = ARGS[:at] + ARGS[at + 2:] + ["--set", "runs.ntk.epochs=8", "--set", "runs.mf.epochs=400"]
    early_reference = os.path.join(tmp, "early-reference.h5")
    whole = subprocess.run([ENGINE, *early, "--out", early_reference], capture_output=True, text=True, check=True)
    path = os.path.join(tmp, "early.h5")
    p = subprocess.Popen([ENGINE, *early, "--out", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check(wait_for_epochs(path, 14), "ended run: the run got going")
    p.send_signal(signal.SIGINT)  # closed properly, so that h5py can write the device below
    p.wait()
    with h5py.File(path, "a") as f:
        check(text(f["status"]) == "interrupted" and f["runs/mf/train_mse"].shape[0] < 400,
              "ended run: stopped before mf's end")
        check(text(f["runs/ntk/status"]) == "complete" and f["checkpoints/group0/epoch"][()].max() >= 8,
              "ended run: ntk had completed before the last checkpoint")
        f.attrs["device"] = "cuda:Some GPU"
    first = mf_rows(path)
    p = subprocess.Popen([ENGINE, "--resume", path, "--threads", "2", "--quiet"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    check(wait_for_epochs(path, first + 20), "ended run: the first resume got going")
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=120)[1]
    check(p.returncode == 130 and "written on cuda:Some GPU and continues on cpu" in err,
          f"resume on another device warns, and stops on SIGINT: exit {p.returncode}, {err.strip()}")
    check(mf_rows(path) < 400, "ended run: the first resume stopped before the end")
    r = subprocess.run([ENGINE, "--resume", path, "--threads", "2", "--quiet"], capture_output=True, text=True)
    check(r.returncode == 0, f"ended run: second resume exit {r.returncode} {r.stderr.strip()}")
    want, got = summary_row(whole.stdout, "ntk"), summary_row(r.stdout, "ntk")
    check(want is not None and got is not None and got[:-1] == want[:-1] and float(got[-1]) > 0,
          f"ended run: the resumed summary's ntk row {got} is the uninterrupted run's {want} (epochs/s aside)")
    check("time: " in r.stdout and ": resume plan " in r.stdout, "the resumed run's time line has its resume plan")
    with h5py.File(early_reference, "r") as early_ref:
        diff = same_file(path, early_ref)
    check(not diff, f"ended run: the twice-resumed file equals the uninterrupted run {diff}")
    with h5py.File(path, "r") as f:
        lines = f.attrs.get("resumed", "").split("\n")
        check(len(lines) == 2 and all(l.startswith("on cpu: ") and "--resume" in l for l in lines),
              f"the file's resumed attribute has a line per resumption: {lines}")

    # The truncated spectrum's block is checkpointed, and the heavy series (every 3rd epoch) and the
    # snapshots (every 5th, checkpoints every 4th) are cut back with the rest, as are the accuracy
    # series of the hinge loss: a resumed run is again the uninterrupted one, bit for bit.
    truncated = ["--set", "spectrum.method=truncated", "--set", "spectrum.rank=6", "--set", "output.heavy_every=3",
                 "--set", "model.loss=hinge", "--set", "output.snapshot_every=5", "--set", "output.snapshot_rank=3"]
    reference_t = os.path.join(tmp, "reference-truncated.h5")
    subprocess.run([ENGINE, *ARGS, *truncated, "--out", reference_t], check=True, stdout=subprocess.DEVNULL)
    with h5py.File(reference_t, "r") as ref_t:
        for attempt in range(2):
            path = os.path.join(tmp, f"resumed-truncated-{attempt}.h5")
            p = subprocess.Popen([ENGINE, *ARGS, *truncated, "--out", path], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            check(wait_for_epochs(path, rng.randint(6, 20)), f"truncated: kill #{attempt}: the run got going")
            p.kill()
            p.wait()
            check(stopped_mid_run(path), f"truncated: kill #{attempt}: the run was stopped before its end")
            r = subprocess.run([ENGINE, "--resume", path, "--threads", "2", "--quiet"], capture_output=True, text=True)
            check(r.returncode == 0, f"truncated: resume after kill #{attempt}: exit {r.returncode} {r.stderr.strip()}")
            diff = same_file(path, ref_t)
            check(not diff, f"truncated: resume after kill #{attempt}: the file equals the uninterrupted run {diff}")

    # The decomposition (every 2nd epoch, μ from each epoch's own fresh samples) and both
    # regularisers: a resumed run draws the same samples and starts the same Lanczos vectors, so
    # it is again the uninterrupted run, bit for bit.
    decomposed = ["--set", "decomposition.every=2", "--set", "decomposition.n_mu=500", "--set",
                  "runs.ntk.weight_decay=0.01", "--set", "runs.mf.gradient_penalty=0.5", "--set", "output.snapshot_every=3"]
    reference_d = os.path.join(tmp, "reference-decomposed.h5")
    subprocess.run([ENGINE, *ARGS, *decomposed, "--out", reference_d], check=True, stdout=subprocess.DEVNULL)
    with h5py.File(reference_d, "r") as ref_d:
        check("opnorm_E" in ref_d["runs/mf"] and "loss_gradient_penalty" in ref_d["runs/ntk"] and
              ref_d["runs/ntk/snapshots/W"].shape[0] == 21,
              "decomposed: the reference records the decomposition, the regularisers' terms and 21 snapshots")
        path = os.path.join(tmp, "resumed-decomposed.h5")
        p = subprocess.Popen([ENGINE, *ARGS, *decomposed, "--out", path], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        check(wait_for_epochs(path, rng.randint(5, 15)), "decomposed: the run got going")
        p.kill()
        p.wait()
        check(stopped_mid_run(path), "decomposed: the run was stopped before its end")
        r = subprocess.run([ENGINE, "--resume", path, "--threads", "2", "--quiet"], capture_output=True, text=True)
        check(r.returncode == 0, f"decomposed: resume after the kill: exit {r.returncode} {r.stderr.strip()}")
        diff = same_file(path, ref_d)
        check(not diff, f"decomposed: the resumed file equals the uninterrupted run {diff}")

    foreign = os.path.join(tmp, "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    older = os.path.join(tmp, "older.h5")
    subprocess.run(["cp", reference, older], check=True)
    with h5py.File(older, "a") as f:
        f.attrs["format"] = "lowrank-engine/0"
    truncated = os.path.join(tmp, "truncated.h5")
    with open(reference, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(os.path.getsize(reference) // 2))
    # Without checkpoints (--checkpoint-every 0) a killed file keeps its epochs but cannot be resumed.
    unresumable = os.path.join(tmp, "no-checkpoints.h5")
    no_checkpoints = ARGS[:ARGS.index("--checkpoint-every")] + ["--checkpoint-every", "0"]
    p = subprocess.Popen([ENGINE, *no_checkpoints, "--out", unresumable], stdout=subprocess.DEVNULL)
    wait_for_epochs(unresumable, 5)
    p.kill()
    p.wait()
    with h5py.File(unresumable, "r", libver="latest", swmr=True) as f:
        check("checkpoints" not in f and f["runs/ntk/train_mse"].shape[0] >= 5,
              "--checkpoint-every 0: no checkpoints written, the epochs kept")
    notes = os.path.join(tmp, "notes.txt")
    with open(notes, "w") as f:
        f.write("hello\n")
    for path, message in [(os.path.join(tmp, "missing.h5"), "no such file"), (notes, "not a readable HDF5 file"),
                          (foreign, "not a lowrank-engine file"), (older, "has format 'lowrank-engine/0'"),
                          (truncated, "not a readable HDF5 file"), (unresumable, "no checkpoints (written with --checkpoint-every 0")]:
        r = subprocess.run([ENGINE, "--resume", path], capture_output=True, text=True)
        check(r.returncode == 2 and message in r.stderr and "--resume" in r.stderr,
              f"resume of {os.path.basename(path)}: exit {r.returncode}, {r.stderr.strip()}")

    path = os.path.join(tmp, "diverged.h5")
    r = subprocess.run([ENGINE, *ARGS, "--set", "runs.ntk.lr_nb=1e39", "--out", path], capture_output=True, text=True)
    check(r.returncode == 3, f"divergence: exit {r.returncode} (want 3)")
    with h5py.File(path, "r") as f:
        check(text(f["status"]) == "diverged", f"divergence: file status {text(f['status'])}")
        at = int(f["runs/ntk/diverged_epoch"][()])
        check(text(f["runs/ntk/status"]) == "diverged" and at >= 0, f"divergence: ntk diverged at epoch {at}")
        check(f["runs/ntk/train_mse"].shape[0] == at, "divergence: ntk keeps the epochs before it")
        check(text(f["runs/mf/status"]) == "complete" and f["runs/mf/train_mse"].shape[0] == 60,
              "divergence: mf, the other run of the pair, completes")
        check(f["pairs/ntk__mf/pair_mean_angle_deg"].shape[0] == at, "divergence: the pair's angles stop with ntk")
        check(not same_prefix(f, ref, "runs/mf", 60), "divergence: mf equals its uninterrupted run")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
