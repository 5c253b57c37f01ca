"""Reads a lowrank-engine file (complete, partial, or still being written) into plain arrays."""
import errno
import os
import stat
from dataclasses import dataclass, field

import h5py
import numpy as np

FORMAT = "lowrank-engine/1"
SWEEP_FORMAT = "lowrank-engine-sweep/1"


class FileError(Exception):
    """The file is missing, not HDF5, or not a lowrank-engine file; the message says which."""


@dataclass
class Run:
    name: str
    attrs: dict
    status: str
    diverged_epoch: int
    data: dict = field(default_factory=dict)  # scalar series name -> array over the epochs written
    meaning: dict = field(default_factory=dict)  # series name -> its long_name in the file
    # grad_singular_values (rows: these epochs; every epoch unless output.heavy_every > 1, and only
    # the top r with the truncated spectrum)
    spectrum: np.ndarray = None
    spectrum_epochs: np.ndarray = None

    @property
    def epochs_done(self):
        return len(self.data["train_mse"])

    def state(self):
        """'' for a complete run, else what a title should say about it."""
        planned = int(self.attrs.get("epochs", self.epochs_done))
        if self.status == "complete":
            return ""
        if self.status == "diverged":
            return f"diverged at epoch {self.diverged_epoch}"
        return f"{self.status}: {self.epochs_done} of {planned} epochs"


@dataclass
class Pair:
    name: str
    run_a: str
    run_b: str
    angle: np.ndarray


@dataclass
class EngineFile:
    status: str
    runs: list
    pairs: list


def _text(ds):
    value = ds[()]
    return (value.decode() if isinstance(value, bytes) else str(value)).rstrip("\0")


def _text_attr(obj, name):
    value = obj.attrs.get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


def _attrs(group):
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in group.attrs.items()}


def per_epoch_series(group):
    """A run's per-epoch series, discovered from the file: {name: dataset} of every dataset that
    grows along the epochs (an unlimited first dimension) and is not a coordinate. One value an
    epoch where ndim is 1; a row (the spectrum, a vector) where it is 2."""
    return {name: ds for name, ds in group.items()
            if isinstance(ds, h5py.Dataset) and ds.maxshape and ds.maxshape[0] is None
            and ds.attrs.get("CLASS") != b"DIMENSION_SCALE"}


# What a path is when it is not a regular file, for the message.
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def check_regular(path):
    """Raises FileError unless `path` is a regular file (or a link to one): opening a FIFO would
    wait for a writer forever, and a link loop or a dangling link would read as "no such file"."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise FileError(f"{path}: is a symbolic link loop") from None
        if e.errno == errno.ENOENT and os.path.islink(path):
            raise FileError(f"{path}: is a symbolic link to {os.readlink(path)}, which does not exist") from None
        if e.errno == errno.ENOENT:
            raise FileError(f"{path}: no such file") from None
        raise FileError(f"{path}: {e.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise FileError(f"{path}: is {kind}, not a regular file")


def _open(path):
    check_regular(path)
    try:  # a file being written is read in SWMR mode
        return h5py.File(path, "r", libver="latest", swmr=True)
    except OSError:
        pass
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise FileError(f"{path}: not a readable HDF5 file ({e})") from None


def is_sweep(path):
    """Whether `path` is a sweep file (engine sweep's), which lowrank_plot.sweep_figures draws;
    FileError, as read's, for a path that is no readable HDF5 file."""
    with _open(path) as f:
        return _text_attr(f, "format") == SWEEP_FORMAT


def read(path):
    """Reads every run and pair; raises FileError naming what is wrong with a foreign file."""
    f = _open(path)
    try:
        with f:
            return _read(path, f)
    except (OSError, KeyError, ValueError) as e:
        raise FileError(f"{path}: damaged or truncated lowrank-engine file ({e})") from None


def check_format(path, f):
    """Raises FileError unless `f` is a lowrank-engine file of this tool's format, with its groups."""
    fmt = f.attrs.get("format")
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    if fmt is None:
        raise FileError(f"{path}: not a lowrank-engine file (no root attribute 'format')")
    if fmt != FORMAT:
        raise FileError(f"{path}: format '{fmt}', this tool reads '{FORMAT}'")
    for name in ("status", "runs", "pairs"):
        if name not in f:
            raise FileError(f"{path}: lowrank-engine file without '/{name}' (truncated or damaged)")


def _read(path, f):
    check_format(path, f)
    runs = []
    for name, g in f["runs"].items():
        missing = [s for s in ("train_mse", "grad_singular_values", "status") if s not in g]
        if missing:
            raise FileError(f"{path}: run '{name}' lacks {', '.join(missing)}")
        # A file being written grows one series after another: read the epochs every series has.
        series = per_epoch_series(g)
        scalars = {s: ds for s, ds in series.items() if ds.ndim == 1}
        n = min(ds.shape[0] for ds in scalars.values())
        data = {s: np.asarray(ds[:n]) for s, ds in scalars.items()}
        meaning = {s: _text_attr(ds, "long_name") for s, ds in series.items()}
        sv = g["grad_singular_values"]
        rows = sv.shape[0]
        if "spectrum_epoch" in g:
            rows = min(rows, g["spectrum_epoch"].shape[0])
            spectrum_epochs = np.asarray(g["spectrum_epoch"][:rows]).astype(int)
        else:
            spectrum_epochs = np.arange(rows)
        rows = int(np.sum(spectrum_epochs < n))
        runs.append(Run(name, _attrs(g), _text(g["status"]),
                        int(g["diverged_epoch"][()]) if "diverged_epoch" in g else -1, data, meaning,
                        np.asarray(sv[:rows]), spectrum_epochs[:rows]))
    pairs = []
    for name, g in f["pairs"].items():
        a = _attrs(g)
        pairs.append(Pair(name, a.get("run_a", ""), a.get("run_b", ""), np.asarray(g["pair_mean_angle_deg"][()])))
    return EngineFile(_text(f["status"]), runs, pairs)
