#!/usr/bin/env bash
# The device checks, in one call on a GPU machine, from the build folder (.gpu/run runs it there):
#   .gpu/run 'bash $GPU_REPO/bench/gpu_checks.sh'
# GPU tests, compute-sanitizer (memcheck, racecheck) on a 3-epoch run, the backends compared on
# a 10-epoch ntk_vs_mf, then the whole ntk_vs_mf timed on the GPU beside the seed's PyTorch code
# on the same GPU. Logs go to $OUT (or /tmp/gpu-checks).
set -uo pipefail
out=${OUT:-/tmp/gpu-checks}; mkdir -p "$out"
repo=${GPU_REPO:-$(cd "$(dirname "$0")/.." && pwd)}
engine=./apps/engine
step() { echo; echo "=== $* ($(date +%T))"; }

step gpu
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
step "gtest, label gpu"
ctest -L gpu -E backends_agree --output-on-failure > "$out/ctest-gpu.log" 2>&1; echo "ctest exit $?"
grep -E "tests passed|tests failed|Failed|\*\*\*" "$out/ctest-gpu.log" | tail -15
step "backends compared"
python3 "$repo/tests/compare_backends.py" "$engine" 10 > "$out/compare.log" 2>&1; echo "compare exit $?"
grep -vE "^  ok" "$out/compare.log" | tail -30
step "compute-sanitizer"
# memcheck at the seed's sizes; racecheck (far slower: it ran past 5 minutes there on an H200)
# at small sizes, which launch the same kernels.
small="--set data.n=48 --set data.d=64 --set model.k=80"
for run in "memcheck:" "racecheck:$small"; do
  tool=${run%%:*}
  timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 $engine --exp ntk_vs_mf --epochs 3 --device cuda \
    --quiet ${run#*:} --out /tmp/san-$tool.h5 > "$out/sanitizer-$tool.log" 2>&1
  echo "$tool exit $?"; tail -3 "$out/sanitizer-$tool.log"
done
step "ntk_vs_mf on the GPU"
rm -f /tmp/full.h5
TIMEFORMAT='engine wall %R s'
time { $engine --exp ntk_vs_mf --device cuda --out /tmp/full.h5 2>&1 | tail -4; }
python3 - <<'PY'
import h5py, numpy as np
f = h5py.File("/tmp/full.h5", "r")
for r in ("ntk", "mf"):
    s = f[f"runs/{r}/epoch_seconds"][()]
    print(f"{r}: epoch_seconds median {np.median(s)*1e3:.2f} ms, first {s[0]*1e3:.1f} ms, max {s.max()*1e3:.1f} ms")
PY
step "seed's code, same GPU"
python3 "$repo/bench/seed_ntk_vs_mf.py" /tmp/full.h5 --device cuda 2>&1 | tail -2
