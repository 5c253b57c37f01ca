#!/usr/bin/env bash
# The device checks, in one call on a GPU machine, from the build folder (.gpu/run runs it there):
#   .gpu/run 'bash $GPU_REPO/bench/gpu_checks.sh [checks|bench|all]'
# `checks` (about 6 minutes on an H200) and `bench` (about 8) each fit one call of the device tool.
# GPU tests, compute-sanitizer (memcheck, racecheck) on a 3-epoch run, the backends compared on
# a 10-epoch ntk_vs_mf, the whole ntk_vs_mf beside the seed's PyTorch code on the same GPU, the
# ops benchmark and the size sweep (bench/README.md says how to plot them). Logs and JSON go to
# $OUT (or /tmp/gpu-checks).
set -uo pipefail
out=${OUT:-/tmp/gpu-checks}; mkdir -p "$out"
repo=${GPU_REPO:-$(cd "$(dirname "$0")/.." && pwd)}
engine=./apps/engine
step() { echo; echo "=== $* ($(date +%T))"; }
stage=${1:-all}

if [[ $stage == checks || $stage == all ]]; then

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
# The toolkit's kernels and products (penalty, decomposition) under memcheck too, small.
timeout 240 compute-sanitizer --tool memcheck --error-exitcode 9 $engine --exp later_training --epochs 2 --device cuda \
  --quiet $small --set decomposition.mu_source=fresh --set decomposition.n_mu=500 --set runs.tanh.gradient_penalty=0.5 \
  --set runs.tanh.weight_decay=0.01 --out /tmp/san-toolkit.h5 > "$out/sanitizer-toolkit.log" 2>&1
echo "memcheck (toolkit) exit $?"; tail -3 "$out/sanitizer-toolkit.log"
for run in "memcheck:" "racecheck:$small"; do
  tool=${run%%:*}
  timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 $engine --exp ntk_vs_mf --epochs 3 --device cuda \
    --quiet ${run#*:} --out /tmp/san-$tool.h5 > "$out/sanitizer-$tool.log" 2>&1
  echo "$tool exit $?"; tail -3 "$out/sanitizer-$tool.log"
done
fi

if [[ $stage == bench || $stage == all ]]; then
step "engine and seed side by side, same GPU"
python3 "$repo/bench/side_by_side.py" "$engine" --device cuda --json "$out/side_by_side-cuda.json" 2>&1 | tail -6
step "the Spectrum_Plotting presets beside the notebook's code, same GPU"
python3 "$repo/bench/toolkit_side_by_side.py" "$engine" --device cuda --exp both --json "$out/toolkit-cuda.json" 2>&1 | tail -12
step "ops benchmark (to N = 16384)"
timeout 200 ./bench/bench_backend_ops --device=cuda --benchmark_format=json --benchmark_out="$out/bench-cuda.json" \
  --benchmark_min_time=0.2 > "$out/bench-cuda.txt" 2>&1; echo "bench exit $?"
grep -E "ceiling|epoch" "$out/bench-cuda.txt" | tail -12
step "time per epoch against size (to 16384, truncated; full to 8192)"
timeout 240 python3 "$repo/bench/scaling.py" "$engine" --device cuda --sizes 512,1024,2048,4096,8192,16384 \
  --full-max 8192 --epochs 3 --json "$out/scaling-cuda.json" 2>&1 | tail -14
fi
