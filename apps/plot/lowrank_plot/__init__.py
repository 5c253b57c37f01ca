"""Figures from lowrank-engine's HDF5 files: the seed notebook's plots and the paper's spectra;
and `open(path)`, a file as one labelled xarray Dataset (lowrank_plot/dataset.py)."""


def open(path):  # noqa: A001
    """Every run and pair of an engine file as one xarray Dataset, over (run, epoch, ...); a sweep
    file over (run, its axes, replicate, epoch)."""
    from .dataset import open as open_dataset  # xarray only when asked for

    return open_dataset(path)
