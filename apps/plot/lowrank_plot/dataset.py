"""An engine file as one labelled xarray Dataset, where a notebook analysis starts:

    import lowrank_plot
    ds = lowrank_plot.open("ntk_vs_mf.h5")
    ds.train_mse.sel(run="mf").plot()              # every per-epoch series, over (run, epoch)
    ds.grad_singular_values.isel(singular_index=0)  # rows over (run, spectrum_epoch, index)
    ds.pair_mean_angle_deg.sel(pair="ntk__mf")

Runs share the epoch axis (0 … the longest run's last written epoch; NaN past a run's own end,
or a partial file's), and carry their settings as coordinates along `run` (activation, gamma,
lr, loss, status, ...). Each variable keeps the file's long_name, units and taken_at; the root's
attributes (experiment, seed, precision, device, config) are the Dataset's.
"""
import h5netcdf
import numpy as np
import xarray as xr

from .reader import SWEEP_FORMAT, FileError, _open, check_format, check_regular, per_epoch_series

RUN_SETTINGS = ("inputs", "activation", "loss", "gamma", "lr", "epochs", "a_init", "w_init", "cell",
                "weight_decay", "gradient_penalty")


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _attrs(obj, names=None):
    return {k: _text(v) for k, v in obj.attrs.items()
            if (names is None or k in names) and k not in ("CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST")}


def _row_dimension(ds):
    """The dimension scale the engine attached to a row series' second axis (singular_index,
    input_index or neuron_index)."""
    scales = ds.dims[1]
    return scales[0].name.rsplit("/", 1)[-1] if len(scales) else "index"


def _run(name, group):
    """One run's series as a Dataset over epoch (and spectrum_epoch, the row indices)."""
    series = per_epoch_series(group)
    scalars = {k: ds for k, ds in series.items() if ds.ndim == 1}
    epochs = min(ds.shape[0] for ds in scalars.values())  # a file being written grows series in turn
    written = min((ds.shape[0] for ds in series.values() if ds.ndim == 2), default=0)
    if "spectrum_epoch" in group:  # output.heavy_every > 1: the rows of epochs 0, N, 2N, ... below `epochs`
        heavy_epoch = np.asarray(group["spectrum_epoch"][:written])
        heavy_rows = int(np.sum(heavy_epoch < epochs))
    variables = {}
    for key, ds in series.items():
        attrs = _attrs(ds, ("long_name", "units", "taken_at"))
        if ds.ndim == 1:
            variables[key] = xr.Variable(("epoch",), np.asarray(ds[:epochs], dtype=np.float64), attrs)
        else:
            heavy = "spectrum_epoch" in group
            dims = ("spectrum_epoch" if heavy else "epoch", _row_dimension(ds))
            rows = np.full((heavy_rows if heavy else epochs, ds.shape[1]), np.nan)
            have = min(rows.shape[0], written)
            rows[:have] = ds[:have]
            variables[key] = xr.Variable(dims, rows, attrs)
    coords = {"epoch": np.arange(epochs)}
    if "spectrum_epoch" in group:
        coords["spectrum_epoch"] = heavy_epoch[:heavy_rows]
    settings = _attrs(group, RUN_SETTINGS)
    settings["status"] = _text(group["status"][()]).rstrip("\0") if "status" in group else ""
    return xr.Dataset(variables, coords=coords).expand_dims(run=[name]).assign_coords(
        {k: ("run", [v]) for k, v in settings.items()})


def _netcdf(path):
    """The file as h5netcdf reads it, as a SWMR reader first (as reader._open): a sweep being
    written, or killed (its file keeps HDF5's writer flags), opens only so."""
    try:
        return h5netcdf.File(path, "r", libver="latest", swmr=True, decode_vlen_strings=True)
    except OSError:  # a file not written in SWMR mode
        return h5netcdf.File(path, "r", decode_vlen_strings=True)


def open_sweep(path):
    """A sweep file as one Dataset, loaded and the file closed (a partial one: the cells done);
    FileError for a damaged one, or one without a series' mean to draw."""
    check_regular(path)
    try:
        with _netcdf(path) as nc:
            ds = xr.open_dataset(xr.backends.H5NetCDFStore(nc)).load()
    except (OSError, KeyError, ValueError) as e:
        raise FileError(f"{path}: damaged or truncated sweep file ({e})") from None
    if not any(name.endswith("_mean") for name in ds.data_vars):
        raise FileError(f"{path}: sweep file without a '<series>_mean' variable (truncated or damaged)")
    return ds


def open(path):  # noqa: A001 (the reader's verb, as xarray.open_dataset)
    """Every run and pair of an engine file as one xarray Dataset (see the module's text); a
    sweep file (engine sweep) as xarray reads it: its series over (run, the axes, replicate,
    epoch), their means and standard errors, each cell's status (open_sweep)."""
    with _open(path) as f:
        if _text(f.attrs.get("format", "")) == SWEEP_FORMAT:
            f.close()
            return open_sweep(path)
        check_format(path, f)
        try:
            return _runs_and_pairs(f)
        except (OSError, KeyError, ValueError) as e:
            raise FileError(f"{path}: damaged or truncated lowrank-engine file ({e})") from None


def _runs_and_pairs(f):
    runs = [_run(name, g) for name, g in f["runs"].items()]
    ds = xr.concat(runs, dim="run", join="outer", combine_attrs="drop_conflicts",
                   coords="different", compat="equals", fill_value=np.nan) if runs else xr.Dataset()
    pairs = []
    for name, g in f["pairs"].items():
        n = g["pair_mean_angle_deg"].shape[0]
        pairs.append(xr.DataArray(np.asarray(g["pair_mean_angle_deg"][()], dtype=np.float64), dims=("epoch",),
                                  coords={"epoch": np.arange(n)},
                                  attrs=_attrs(g["pair_mean_angle_deg"], ("long_name", "units", "taken_at")))
                     .expand_dims(pair=[name]).assign_coords(run_a=("pair", [_text(g.attrs["run_a"])]),
                                                             run_b=("pair", [_text(g.attrs["run_b"])])))
    if pairs:
        ds["pair_mean_angle_deg"] = xr.concat(pairs, dim="pair", join="outer")
    ds.attrs = {k: v for k, v in _attrs(f).items() if k != "format"}
    ds.attrs["status"] = _text(f["status"][()]).rstrip("\0")
    return ds
