"""engine-plot FILE [--out DIR] [--format png|pdf] [--epochs 0,10,49] [--watch [--interval S]]"""
import argparse
import os
import sys
import time

from . import figures, reader


def draw_sweep(path, out, fmt):
    """engine sweep's file: the series' means against the axes."""
    from . import dataset, sweep_figures  # xarray only for a sweep

    ds = dataset.open_sweep(path)
    written = sweep_figures.draw_all(ds, out, fmt)
    done = sweep_figures.replicates_done(ds)
    progress = f", {done[0]} of {done[1]} replicates done" if done else ""
    print(f"engine-plot: {len(written)} figures in {out} (sweep{progress})", flush=True)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="engine-plot",
                                description="Draw every figure of a lowrank-engine HDF5 file (runs and pairs, or a sweep).")
    p.add_argument("file", help="the engine's .h5 file")
    p.add_argument("--out", help="folder for the figures (default: FILE's name without .h5, plus -figures)")
    p.add_argument("--format", choices=["png", "pdf"], default="png")
    p.add_argument("--epochs", help="epochs for the singular-value figure, e.g. 0,10,49 (default: a log-spaced few)")
    p.add_argument("--watch", action="store_true",
                   help="redraw every few seconds while the engine writes the file; stop when it is no longer running")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between redraws with --watch (default 5)")
    args = p.parse_args(argv)

    out = args.out or os.path.splitext(args.file)[0] + "-figures"
    try:
        epochs = [int(x) for x in args.epochs.split(",")] if args.epochs else None
    except ValueError:
        print(f"engine-plot: --epochs '{args.epochs}': expected integers separated by commas", file=sys.stderr)
        return 2
    try:
        if reader.is_sweep(args.file):
            return draw_sweep(args.file, out, args.format)
        while True:
            f = reader.read(args.file)
            written = figures.draw_all(f, out, args.format, epochs)
            done = f"{min((r.epochs_done for r in f.runs), default=0)}–{max((r.epochs_done for r in f.runs), default=0)}"
            print(f"engine-plot: {len(written)} figures in {out} (file {f.status}, epochs {done})", flush=True)
            if not args.watch or f.status != "running":
                return 0
            time.sleep(args.interval)
    except reader.FileError as e:
        print(f"engine-plot: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
