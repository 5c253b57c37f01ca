#!/usr/bin/python3
"""A second process reads the file while the engine writes it: h5py in SWMR mode sees the
epochs grow, each one complete, and the status turn from running to complete.

usage: test_swmr_reader.py ENGINE
"""
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

EPOCHS = 60


def main(engine):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "live.h5")
        writer = subprocess.Popen([engine, "--exp", "ntk_vs_mf", "--set", "data.n=200", "--set", "data.d=300",
                                   "--set", "model.k=400", "--epochs", str(EPOCHS), "--quiet", "--out", path],
                                  stdout=subprocess.DEVNULL)
        seen, deadline, f = [], time.time() + 300, None
        while f is None and time.time() < deadline:  # the file appears, then SWMR writing starts
            try:
                f = h5py.File(path, "r", libver="latest", swmr=True)
            except (OSError, FileNotFoundError):
                time.sleep(0.05)
        assert f is not None, "the file never became readable"
        with f:
            loss, epoch, status = f["runs/mf/train_mse"], f["runs/mf/epoch"], f["status"]
            while time.time() < deadline:
                for ds in (loss, epoch, status):
                    ds.refresh()
                state = status[()].decode().rstrip("\0")
                n = loss.shape[0]
                values = loss[:n]
                assert np.isfinite(values).all(), f"a row read live is not finite: {values}"
                if state == "running" and n and (not seen or seen[-1] != n):
                    seen.append(n)
                if state != "running":
                    break
                time.sleep(0.02)
            for ds in (loss, epoch):
                ds.refresh()
            final_len, final_state = loss.shape[0], state
        code = writer.wait(timeout=300)
        print(f"lengths seen while running: {seen}; final {final_len}, status {final_state}, exit {code}")
        assert code == 0, f"engine exited {code}"
        assert final_state == "complete", final_state
        assert final_len == EPOCHS, final_len
        assert len(seen) >= 2 and seen[0] < EPOCHS, "the reader did not see the file grow during the run"
        print("ok: read live while the engine wrote")


if __name__ == "__main__":
    main(sys.argv[1])
