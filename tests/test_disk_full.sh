#!/usr/bin/env bash
# A disk that fills up during a run: the engine stops saying the disk is full (exit 1), and the
# file keeps every epoch written before. Needs a small tmpfs (root); skipped (77) without one.
set -u
engine=$1
dir=$(mktemp -d)
trap 'umount "$dir" 2>/dev/null; rmdir "$dir"' EXIT
mount -t tmpfs -o size=3m tmpfs "$dir" 2>/dev/null || { echo "skipped: cannot mount a tmpfs here"; exit 77; }
"$engine" --exp ntk_vs_mf --set data.n=300 --set data.d=300 --set model.k=400 --epochs 500 --quiet \
  --out "$dir/run.h5" > /dev/null 2> "$dir/../disk-full-$$.err"
code=$?
err=$(cat "$dir/../disk-full-$$.err"); rm -f "$dir/../disk-full-$$.err"
echo "exit $code; stderr: $err"
[ $code -eq 1 ] || { echo "FAIL: exit $code, want 1"; exit 1; }
grep -q "it is full" <<< "$err" || { echo "FAIL: no disk-full message"; exit 1; }
/usr/bin/python3 - "$dir/run.h5" <<'PY' || exit 1
import sys, h5py
with h5py.File(sys.argv[1], "r", swmr=True) as f:
    n = f["runs/mf/train_mse"].shape[0]
    print(f"file keeps {n} epochs, status {f['status'][()]}")
    assert n > 0, "no epoch kept"
PY
echo "ok: disk full reported, epochs kept"
