#include "truncated_spectrum.hpp"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "inputs.hpp"

namespace lowrank {
namespace {

std::size_t sz(std::int64_t v) { return static_cast<std::size_t>(v); }

// The rate assumed for a value inside a cluster (σ_i ≈ σ_l), where the estimate says nothing.
constexpr double kSlowestRate = 0.99;

// The SVD of the row-major l×k block Y = P Σ Uᵀ, in float64: Σ (descending) and Pᵀ, row-major l×l.
void small_svd(const std::vector<double>& Y, std::int64_t l, std::int64_t k, std::vector<double>& sigma,
               std::vector<double>& p_transposed) {
  // Row-major Y (l×k) is column-major Yᵀ (k×l) = U Σ Pᵀ: its right singular vectors are P.
  std::vector<double> a = Y, vt(sz(l * l)), superb(sz(std::max<std::int64_t>(l - 1, 1)));
  sigma.assign(sz(l), 0.0);
  const lapack_int info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'N', 'S', static_cast<int>(k), static_cast<int>(l),
                                         a.data(), static_cast<int>(k), sigma.data(), nullptr, 1, vt.data(),
                                         static_cast<int>(l), superb.data());
  if (info != 0) throw std::runtime_error("LAPACK: dgesvd failed in the truncated spectrum, info = " + std::to_string(info));
  // Column-major Pᵀ (l×l) → row-major Pᵀ.
  p_transposed.assign(sz(l * l), 0.0);
  for (std::int64_t i = 0; i < l; ++i)
    for (std::int64_t j = 0; j < l; ++j) p_transposed[sz(i * l + j)] = vt[sz(j * l + i)];
}

}  // namespace

template <typename T>
TruncatedSpectrum<T>::TruncatedSpectrum(Backend<T>& backend, std::int64_t k, std::int64_t d, std::int64_t rank,
                                        std::uint64_t seed)
    : be_(backend), k_(k), d_(d), r_(rank), l_(truncated_block(rank, k, d)) {
  if (rank < 1 || rank > std::min(k, d))
    throw std::invalid_argument("truncated spectrum: rank " + std::to_string(rank) + " outside 1..min(k, d)");
  V_ = upload_double(be_, draw_normal(seed, Stream::spectrum_start, 0, sz(l_ * d_)), l_, d_);
  be_.orthonormalize_rows(V_);
  Y_ = be_.zeros(l_, k_);
  Z_ = be_.zeros(l_, d_);
  rotated_ = be_.zeros(l_, d_);
  rotation_ = be_.zeros(l_, l_);
  projection_ = be_.zeros(l_, 1);
}

template <typename T>
void TruncatedSpectrum<T>::rotate(const std::vector<T>& rotation) {
  be_.upload_to(rotation, rotation_);
  be_.gemm(rotation_, V_, rotated_);
}

template <typename T>
Spectrum<T> TruncatedSpectrum<T>::compute(const Buffer<T>& G, const Buffer<T>* previous) {
  if (G.rows != k_ || G.cols != d_) throw std::invalid_argument("truncated spectrum: the gradient is not k×d");
  std::vector<double> sigma, settled, p_transposed;
  // With l = min(k, d) the block holds G's whole row space after one power step: exact from then.
  const bool whole_space = l_ == std::min(k_, d_);
  for (iterations_ = 1;; ++iterations_) {
    be_.gemm_nt(V_, G, Y_);  // rows G v_j: the Rayleigh–Ritz block of span(V)
    const std::vector<double> Y = download_double(be_, Y_);
    if (!std::all_of(Y.begin(), Y.end(), [](double y) { return std::isfinite(y); })) {
      // A non-finite gradient: NaN values, which the driver records as divergence.
      Spectrum<T> out;
      out.singular_values.assign(sz(r_), std::numeric_limits<double>::quiet_NaN());
      out.top_right_vector = Buffer<T>{d_, 1, V_.data};
      return out;
    }
    small_svd(Y, l_, k_, sigma, p_transposed);
    // σ_i's error shrinks by about ρ_i = (σ_{l+1}/σ_i)² an iteration, so after a change δ_i
    // about δ_i ρ_i/(1 − ρ_i) is left: stop when that is under a quarter of SPEC §4's tolerance,
    // or when δ_i is at the working precision's rounding of σ. σ_l stands in for σ_{l+1}.
    bool converged = !settled.empty();
    const double floor = 2 * std::numeric_limits<T>::epsilon() * sigma[0];
    for (std::int64_t i = 0; converged && i < r_ && !whole_space; ++i) {
      const double change = std::abs(sigma[sz(i)] - settled[sz(i)]);
      if (change <= floor || sigma[sz(i)] == 0) continue;
      const double rho = std::min(std::pow(sigma[sz(l_ - 1)] / sigma[sz(i)], 2), kSlowestRate);
      converged = change * rho / (1 - rho) <= 0.25 * (1e-6 * sigma[0] + 1e-4 * sigma[sz(i)]);
    }
    if (converged || iterations_ == kTruncatedMaxIterations) break;
    settled = sigma;
    be_.gemm(Y_, G, Z_);  // rows GᵀG v_j
    std::swap(V_, Z_);
    be_.orthonormalize_rows(V_);
  }

  // Ritz vectors x_i = Σ_j P_ji v_j (the rows of Pᵀ V), with the sign of x_1 fixed.
  std::vector<T> rotation(p_transposed.begin(), p_transposed.end());
  double orient = 0;
  if (previous) {
    be_.gemm(V_, *previous, projection_);  // ⟨v_j, previous⟩
    const std::vector<double> c = download_double(be_, projection_);
    for (std::int64_t j = 0; j < l_; ++j) orient += p_transposed[sz(j)] * c[sz(j)];
  }
  if (orient < 0)
    for (std::int64_t j = 0; j < l_; ++j) rotation[sz(j)] = -rotation[sz(j)];
  rotate(rotation);
  if (!previous) {
    std::vector<T> rows(sz(l_ * d_));
    be_.download(rotated_, rows);
    const auto top = std::max_element(rows.begin(), rows.begin() + d_,
                                      [](T a, T b) { return std::abs(a) < std::abs(b); });
    if (*top < 0) {
      for (std::int64_t j = 0; j < l_; ++j) rotation[sz(j)] = -rotation[sz(j)];
      rotate(rotation);
    }
  }
  // The Ritz vectors start the next epoch's iteration.
  std::swap(V_, rotated_);

  Spectrum<T> out;
  out.singular_values.assign(sigma.begin(), sigma.begin() + r_);
  auto row = [&](std::int64_t i) { return Buffer<T>{d_, 1, std::shared_ptr<T[]>(V_.data, V_.data.get() + i * d_)}; };
  out.top_right_vector = row(0);
  if (l_ >= 2) out.second_right_vector = row(1);
  return out;
}

template <typename T>
std::vector<double> TruncatedSpectrum<T>::save() const {
  return download_double(be_, V_);
}

template <typename T>
void TruncatedSpectrum<T>::restore(const std::vector<double>& rows) {
  if (static_cast<std::int64_t>(rows.size()) != l_ * d_)
    throw std::invalid_argument("truncated spectrum: a checkpointed block of the wrong size");
  const std::vector<T> cast(rows.begin(), rows.end());
  be_.upload_to(cast, V_);
}

template class TruncatedSpectrum<float>;
template class TruncatedSpectrum<double>;

}  // namespace lowrank
