"""A sweep file's figures: every gathered series' mean over the replicates, with its standard
error as error bars, against each axis (the notebook's scaling plots: ‖∇‖ and the alignments
against n), one line per run and per point of the other axes, at the last epoch gathered; and
each derived slope's histogram (the notebook's histogram of β̂)."""
import itertools
import os

import numpy as np

from .figures import _save, plt

MAX_LEGEND = 16  # lines a legend still names one by one


def axis_coordinate(ds, axis):
    """The values to plot an axis against: its first numeric key (data.n for a size axis), else its
    index with the first key's values as tick labels."""
    # The axis' keys in the sweep's own order (the coordinates attribute the engine writes).
    declared = next((v.encoding["coordinates"].split() for v in ds.data_vars.values()
                     if v.encoding.get("coordinates")), [])
    keys = [name for name, c in ds.coords.items() if c.dims == (axis,) and name != axis]
    keys.sort(key=lambda k: declared.index(k) if k in declared else len(declared))
    for key in keys:
        if np.issubdtype(ds[key].dtype, np.number):
            return key, np.asarray(ds[key].values, dtype=float), None
    labels = [str(v) for v in ds[keys[0]].values] if keys else None
    return (keys[0] if keys else axis), np.arange(ds.sizes[axis], dtype=float), labels


def sweep_axes(ds):
    """The sweep's axes: the dimensions of its means but run and epoch (taken from the means, not
    from cell_status, which a damaged file may lack)."""
    mean = next(v for name, v in ds.data_vars.items() if name.endswith("_mean"))
    return [d for d in mean.dims if d not in ("run", "epoch")]


def replicates_done(ds):
    """(done, planned) replicates over every cell, from cell_status; None without it. A killed or
    running sweep's means are over the replicates done so far."""
    if "cell_status" not in ds:
        return None
    status = ds["cell_status"].values
    return int(np.sum(status > 0)), status.size


def series_against_axis(ds, series, axis):
    mean, stderr = ds[f"{series}_mean"].isel(epoch=-1), ds[f"{series}_stderr"].isel(epoch=-1)
    label, x, ticks = axis_coordinate(ds, axis)
    others = [a for a in mean.dims if a not in ("run", axis)]
    fig, ax = plt.subplots(figsize=(9, 6))
    for run in ds.run.values:
        for point in itertools.product(*(range(ds.sizes[a]) for a in others)):
            where = {"run": run, **dict(zip(others, point))}
            y = mean.sel(where).values
            if not np.isfinite(y).any():  # a partial sweep: none of these cells' replicates done yet
                continue
            name = ", ".join([str(run)] + [f"{a}={ds[axis_coordinate(ds, a)[0]].values[i]}" for a, i in zip(others, point)])
            ax.errorbar(x, y, yerr=stderr.sel(where).values, marker="o", capsize=3, label=name)
    ax.set_xlabel(label)
    if ticks:
        ax.set_xticks(x, ticks, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(series)
    ax.grid(True, alpha=0.4)
    lines = len(ds.run) * int(np.prod([ds.sizes[a] for a in others]))
    if lines <= MAX_LEGEND:
        ax.legend(fontsize=8)
    else:  # a legend of every combination would hide the axes
        ax.text(0.01, 0.01, f"{lines} lines: every run and point of {', '.join(others)}", transform=ax.transAxes,
                fontsize=8)
    epoch = int(ds.epoch.values[-1])
    done = replicates_done(ds)
    partial = f"; {done[0]} of {done[1]} replicates done" if done and done[0] < done[1] else ""
    ax.set_title(f"{ds.attrs.get('experiment', '')}: {series}, mean ± standard error over "
                 f"{ds.sizes['replicate']} replicates (epoch {epoch}{partial})\n"
                 f"{ds[series].attrs.get('long_name', '')}", fontsize=10)
    fig.tight_layout()
    return fig


def derived_histogram(ds, name):
    """A derived dataset's values (every point of the other axes and epoch) as a histogram, one
    per run on shared bins: the notebook's histograms of the β estimates, one per scaling."""
    runs = list(ds["run"].values) if "run" in ds[name].dims else [None]
    per_run = {run: ds[name].sel(run=run).values.ravel() if run is not None else ds[name].values.ravel() for run in runs}
    per_run = {run: v[np.isfinite(v)] for run, v in per_run.items()}
    every = np.concatenate(list(per_run.values()))
    bins = np.histogram_bin_edges(every, bins=max(10, int(np.sqrt(len(every)))))
    fig, ax = plt.subplots(figsize=(9, 6))
    for run, values in per_run.items():
        label = f"{run}: mean {np.mean(values):.3g}, sd {np.std(values):.3g}" if run is not None else None
        ax.hist(values, bins=bins, alpha=0.6, label=label)
    ax.set_xlabel(name)
    ax.set_ylabel("combinations")
    ax.grid(True, alpha=0.4)
    if runs[0] is not None:
        ax.legend(fontsize=8)
    ax.set_title(f"{ds.attrs.get('experiment', '')}: {name} over {len(every)} combinations "
                 f"(mean {np.mean(every):.3g}, sd {np.std(every):.3g})\n{ds[name].attrs.get('long_name', '')}", fontsize=9)
    fig.tight_layout()
    return fig


def draw_all(ds, out_dir, fmt="png"):
    """Every gathered series of a sweep (dataset.open_sweep's) against every axis, and every
    derived dataset's histogram; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    axes = sweep_axes(ds)
    # Nothing to draw yet: a series no replicate has reached (a sweep killed at its start), a slope
    # before the sweep's end (the engine derives them last).
    def holds(v):
        return bool(np.isfinite(v.values).any())

    series = [name[: -len("_mean")] for name, v in ds.data_vars.items() if name.endswith("_mean") and holds(v)]
    derived = [name for name, v in ds.data_vars.items() if v.attrs.get("derived") == "loglog_slope" and holds(v)]
    return ([_save(series_against_axis(ds, s, a), out_dir, f"{s}-vs-{a}", fmt) for s in series for a in axes] +
            [_save(derived_histogram(ds, d), out_dir, f"{d}-histogram", fmt) for d in derived])
