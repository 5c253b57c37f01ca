#!/usr/bin/python3
"""Prints the JSON of bench_backend_ops (--benchmark_out=FILE) as bench/README.md's markdown
table: milliseconds (wall) per operation and size, GEMM rates against the ceiling.

usage: ops_table.py BENCH.json
"""
import json
import sys

ROWS = [  # (label, benchmark name, counter shown beside the time)
    ("forward (Z = X Wᵀ, readout, loss)", "forward", "GFLOP/s"),
    ("gradient (mask, G = (γ/n) Mᵀ X)", "gradient", "GFLOP/s"),
    ("step + renormalise (incl. a copy of W)", "step", "GB/s"),
    ("spectrum, full (every σ)", "spectrum_full", None),
    ("spectrum, truncated top 16, warm (training)", "spectrum_truncated16/warm/{N}/1", "subspace_iterations"),
    ("spectrum, truncated top 16, cold", "spectrum_truncated16/cold/{N}/0", "subspace_iterations"),
    ("‖W‖₂ Lanczos, warm (rel. error ≤ 1e-10)", "operator_norm/warm/{N}/1", None),
    ("‖W‖₂ Lanczos, cold", "operator_norm/cold/{N}/0", None),
    ("‖W‖₂ seed's 200 power steps (its rel. error)", "operator_norm_power200", "rel_error"),
    ("principal angles (pair)", "principal_angles", None),
    ("one epoch, full spectrum", "epoch/full/{N}/0", "GFLOP/s"),
    ("one epoch, truncated spectrum", "epoch/truncated/{N}/1", "GFLOP/s"),
]


def main(path):
    with open(path) as f:
        data = json.load(f)
    results = {b["name"].replace("/real_time", ""): b for b in data["benchmarks"]}
    sizes = sorted({int(name.split("/")[1]) for name in results if name.startswith("forward/")})
    ceiling = results.get("ceiling_gemm/2048") or results.get("ceiling_gemm/8192")
    print(f"ceilings: GEMM {ceiling['GFLOP/s']:.0f} GFLOP/s, copy {results['ceiling_copy']['GB/s']:.1f} GB/s")
    print("| operation | " + " | ".join("seed" if n == 0 else str(n) for n in sizes) + " |")
    print("|---" * (len(sizes) + 1) + "|")
    for label, name, counter in ROWS:
        cells = []
        for n in sizes:
            key = name.format(N=n) if "{N}" in name else f"{name}/{n}"
            b = results.get(key)
            if b is None:
                cells.append("—")
                continue
            cell = f"{b['real_time']:.3g}"
            if counter == "GFLOP/s":
                cell += f" ({b[counter]:.0f} GFLOP/s, {100 * b[counter] / ceiling['GFLOP/s']:.0f} %)"
            elif counter == "GB/s":
                cell += f" ({b[counter]:.0f} GB/s)"
            elif counter == "subspace_iterations":
                cell += f" ({b[counter]:.0f} it.)"
            elif counter == "rel_error":
                cell += f" ({b[counter]:.0e})"
            cells.append(cell)
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
