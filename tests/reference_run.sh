#!/usr/bin/env bash
# Writes a 10-epoch ntk_vs_mf file with the engine and checks it with the PyTorch reference.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$ENGINE" --exp ntk_vs_mf --epochs 10 --precision "$PRECISION" --out "$dir/ntk_vs_mf.h5" --quiet
"$PYTHON" "$1" "$dir/ntk_vs_mf.h5"
