// Helpers for the numerical tests: random matrices, orthogonal factors, and a float64 SVD
// straight from LAPACK, independent of the code under test.
#pragma once

#include <lapacke.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

namespace lowrank::testing {

inline std::vector<double> gaussian(std::mt19937_64& rng, std::size_t size, double scale = 1.0) {
  std::normal_distribution<double> normal;
  std::vector<double> v(size);
  for (auto& x : v) x = scale * normal(rng);
  return v;
}

// A row-major m×m orthogonal matrix (Q of a Gaussian matrix).
inline std::vector<double> orthogonal(std::mt19937_64& rng, std::int64_t m) {
  std::vector<double> a = gaussian(rng, static_cast<std::size_t>(m * m)), tau(static_cast<std::size_t>(m));
  const int n = static_cast<int>(m);
  if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, n, n, a.data(), n, tau.data()) ||
      LAPACKE_dorgqr(LAPACK_ROW_MAJOR, n, n, n, a.data(), n, tau.data()))
    throw std::runtime_error("orthogonal: LAPACK failed");
  return a;
}

// Row-major C = A B (m×k times k×n), plainly.
inline std::vector<double> matmul(const std::vector<double>& A, const std::vector<double>& B, std::int64_t m,
                                  std::int64_t k, std::int64_t n) {
  std::vector<double> C(static_cast<std::size_t>(m * n), 0.0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t l = 0; l < k; ++l)
      for (std::int64_t j = 0; j < n; ++j) C[i * n + j] += A[i * k + l] * B[l * n + j];
  return C;
}

// Singular values (descending) and the leading right singular vector of a row-major m×n matrix.
struct Svd {
  std::vector<double> s, v1;
  std::vector<double> vt;  // every right singular vector, row-major p×n (row i: the i-th)
};
inline Svd svd(std::vector<double> A, std::int64_t m, std::int64_t n) {
  const std::int64_t p = std::min(m, n);
  Svd out;
  out.s.resize(static_cast<std::size_t>(p));
  std::vector<double> u(static_cast<std::size_t>(m * p)), vt(static_cast<std::size_t>(p * n));
  if (LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', static_cast<int>(m), static_cast<int>(n), A.data(), static_cast<int>(n),
                     out.s.data(), u.data(), static_cast<int>(p), vt.data(), static_cast<int>(n)))
    throw std::runtime_error("svd: dgesdd failed");
  out.v1.assign(vt.begin(), vt.begin() + n);
  out.vt = std::move(vt);
  return out;
}

}  // namespace lowrank::testing
