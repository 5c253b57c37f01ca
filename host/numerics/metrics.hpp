// The per-epoch metrics of SPEC §4 built from backend operations (so they run where the data is).
#pragma once

#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "backend.hpp"

namespace lowrank {

// |cos(x, y)| = |⟨x, y⟩| / (‖x‖‖y‖) of each pair, NaN where either vector is zero, from one batch
// of the backend's dots (⟨x, y⟩, ⟨x, x⟩, ⟨y, y⟩ a pair).
template <typename T>
std::vector<double> abs_cosines(Backend<T>& be, std::span<const DotPair<T>> pairs) {
  std::vector<DotPair<T>> batch;
  for (const DotPair<T>& p : pairs) batch.insert(batch.end(), {p, {p.x, p.x}, {p.y, p.y}});
  const std::vector<double> d = be.dots(batch);
  std::vector<double> out;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const double nx = std::sqrt(d[3 * i + 1]), ny = std::sqrt(d[3 * i + 2]);
    out.push_back(nx > 0 && ny > 0 ? std::abs(d[3 * i]) / (nx * ny) : std::numeric_limits<double>::quiet_NaN());
  }
  return out;
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
