// Every eigenvalue of a symmetric tridiagonal matrix T by Sturm counts, written once for the CUDA
// backend's kernel (one warp per eigenvalue, its lanes counting at once) and the host, where the
// tests check it (the CPU backend takes LAPACK's dsterf). T has
// the diagonal `diag` (p entries) and the off-diagonal `off` (p − 1).
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdint>

#include "scalar_math.hpp"

namespace lowrank::tridiagonal {

// Gershgorin's interval over rows first, first + stride, … their largest off-diagonal square
// (for the pivot floor) and whether every entry was finite. A warp's lanes take (lane, 32) and
// merge; the host takes (0, 1).
struct Bounds {
  double low = DBL_MAX, high = -DBL_MAX, max_off2 = 0;
  bool finite = true;
};

LOWRANK_HD Bounds merge(Bounds a, Bounds b) {
  return {fmin(a.low, b.low), fmax(a.high, b.high), fmax(a.max_off2, b.max_off2), a.finite && b.finite};
}

LOWRANK_HD Bounds gershgorin_bounds(const double* diag, const double* off, std::int64_t p, std::int64_t first,
                                    std::int64_t stride) {
  using std::isfinite;
  Bounds b;
  for (std::int64_t i = first; i < p; i += stride) {
    const double left = i > 0 ? fabs(off[i - 1]) : 0.0, right = i + 1 < p ? fabs(off[i]) : 0.0;
    b.low = fmin(b.low, diag[i] - left - right);
    b.high = fmax(b.high, diag[i] + left + right);
    if (i + 1 < p) b.max_off2 = fmax(b.max_off2, off[i] * off[i]);
    b.finite = b.finite && isfinite(diag[i]) && (i + 1 == p || isfinite(off[i]));
  }
  return b;
}

// The number of eigenvalues of T below x: the negative pivots of T − xI = L D Lᵀ (LAPACK
// dlaebz's recurrence: a pivot within pivmin of zero counts as negative and becomes −pivmin).
LOWRANK_HD std::int64_t eigenvalues_below(const double* diag, const double* off, std::int64_t p, double x,
                                          double pivmin) {
  std::int64_t count = 0;
  double pivot = diag[0] - x;
  for (std::int64_t i = 1;; ++i) {
    if (pivot <= pivmin) {
      ++count;
      pivot = fmin(pivot, -pivmin);
    }
    if (i == p) return count;
    pivot = diag[i] - x - off[i - 1] * off[i - 1] / pivot;
  }
}

// Rounds of multisection at most: each cuts the interval by Points + 1 ≥ 2, and 2⁶⁴ exceeds any
// ratio of a double interval to its tolerance; it ends far sooner on the width test.
constexpr int kMaxRounds = 64;

// λ_i (the i-th smallest, from 0) by multisection: each round counts at the Points interior
// points that cut [low, high] into Points + 1 equal parts and keeps the part where the count
// passes i, until the part is within 2ε‖T‖ (dsterf's accuracy). `first_above(pred)` returns the
// smallest point j < Points with pred(j), or Points if none: the host loops over j, a warp ballots
// with one point a lane. `bounds` is the whole matrix's (merged) Gershgorin interval; a T with a
// non-finite entry gives NaN.
template <int Points, typename FirstAbove>
LOWRANK_HD double eigenvalue(const double* diag, const double* off, std::int64_t p, std::int64_t i, Bounds bounds,
                             FirstAbove first_above) {
  if (!bounds.finite) return NAN;
  // LAPACK dstebz's pivot floor and widening of the Gershgorin interval, so that the counts at
  // its ends are exactly 0 and p.
  const double pivmin = DBL_MIN * fmax(1.0, bounds.max_off2);
  const double norm = fmax(fabs(bounds.low), fabs(bounds.high));
  const double slack = 2.1 * (norm * DBL_EPSILON * static_cast<double>(p) + 2.0 * pivmin);
  const double tolerance = 2.0 * DBL_EPSILON * norm;
  double low = bounds.low - slack, high = bounds.high + slack;
  for (int round = 0; round < kMaxRounds && high - low > tolerance; ++round) {
    const double width = (high - low) / (Points + 1);
    const int j = first_above([&](int point) {
      return eigenvalues_below(diag, off, p, low + width * (point + 1), pivmin) > i;
    });
    // λ_i lies between point j − 1 (or low) and point j (or high).
    const double next_low = j == 0 ? low : low + width * j;
    high = j == Points ? high : low + width * (j + 1);
    low = next_low;
  }
  return 0.5 * (low + high);
}

}  // namespace lowrank::tridiagonal
