// The per-epoch metrics of SPEC §4 built from backend operations (so they run where the data is).
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "backend.hpp"

namespace lowrank {

// |cos(x, y)| = |⟨x, y⟩| / (‖x‖‖y‖); NaN when either vector is zero.
template <typename T>
double abs_cosine(Backend<T>& be, const Buffer<T>& x, const Buffer<T>& y) {
  const double nx = be.norm(x), ny = be.norm(y);
  if (!(nx > 0 && ny > 0)) return std::numeric_limits<double>::quiet_NaN();
  return std::abs(be.dot(x, y)) / (nx * ny);
}

// ‖W Q‖_F / ‖W‖_F for Q (d×r) with orthonormal columns; WQ is k×r work space.
template <typename T>
double energy_ratio(Backend<T>& be, const Buffer<T>& W, const Buffer<T>& Q, Buffer<T>& WQ) {
  be.gemm(W, Q, WQ);
  return be.norm(WQ) / be.norm(W);
}

// Orthonormal basis (row-major d×r, r ≤ 2) of span(u, w), leaving out vectors of norm ≤ 1e-9
// as the seed's relative_projection_norm does: its reduced QR's Q up to signs.
std::vector<double> span_basis(const std::vector<double>& u, const std::vector<double>& w, std::int64_t& columns);

}  // namespace lowrank
