"""Figures from lowrank-engine's HDF5 files: the seed notebook's plots and the paper's spectra."""
