// The tridiagonal eigenvalue multisection (host/numerics/tridiagonal.hpp), which the CUDA backend runs a
// warp per eigenvalue, run here on the host with the same code: against closed forms (the
// discrete Laplacian, a diagonal matrix), against LAPACK's dsterf on tridiagonals reduced from
// gradient-like Gram matrices, and its Sturm count against hand-placed points.
#include <gtest/gtest.h>

#include <lapacke.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numbers>
#include <random>

#include "linalg_testing.hpp"
#include "tridiagonal.hpp"

namespace lowrank {
namespace {

using Index = std::int64_t;

// The host's first_above: the points one after another, as a warp's ballot would order them.
template <int Points>
int first_above(auto above) {
  for (int j = 0; j < Points; ++j)
    if (above(j)) return j;
  return Points;
}

// Every eigenvalue, ascending, by multisection with Points points a round (32: the kernel's).
template <int Points>
std::vector<double> multisection(const std::vector<double>& diag, const std::vector<double>& off) {
  const Index p = static_cast<Index>(diag.size());
  const tridiagonal::Bounds b = tridiagonal::gershgorin_bounds(diag.data(), off.data(), p, 0, 1);
  std::vector<double> out(diag.size());
  for (Index i = 0; i < p; ++i)
    out[static_cast<std::size_t>(i)] = tridiagonal::eigenvalue<Points>(
        diag.data(), off.data(), p, i, b, [](auto above) { return first_above<Points>(above); });
  return out;
}

std::vector<double> lapack_sterf(std::vector<double> diag, std::vector<double> off) {
  off.resize(std::max<std::size_t>(off.size(), 1));
  if (LAPACKE_dsterf(static_cast<int>(diag.size()), diag.data(), off.data()) != 0) throw std::runtime_error("dsterf");
  return diag;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// The discrete Laplacian (2 on the diagonal, −1 beside it): λ_j = 2 − 2 cos(jπ/(p+1)), j = 1…p.
TEST(TridiagonalEigenvalues, LaplacianClosedForm) {
  for (Index p : {1, 2, 7, 300}) {
    const std::vector<double> diag(static_cast<std::size_t>(p), 2.0), off(static_cast<std::size_t>(p - 1), -1.0);
    const auto kernel_points = multisection<32>(diag, off), bisection = multisection<1>(diag, off);
    for (Index j = 1; j <= p; ++j) {
      const double exact = 2.0 - 2.0 * std::cos(static_cast<double>(j) * std::numbers::pi / static_cast<double>(p + 1));
      const auto at = static_cast<std::size_t>(j - 1);
      EXPECT_NEAR(kernel_points[at], exact, 8 * DBL_EPSILON * 4.0) << "p=" << p << " j=" << j;
      EXPECT_NEAR(bisection[at], exact, 8 * DBL_EPSILON * 4.0) << "p=" << p << " j=" << j;
    }
  }
}

// Sturm counts at points placed between the Laplacian's known eigenvalues (and outside them).
TEST(TridiagonalEigenvalues, SturmCountBetweenKnownEigenvalues) {
  const Index p = 50;
  const std::vector<double> diag(p, 2.0), off(p - 1, -1.0);
  auto lambda = [&](Index j) { return 2.0 - 2.0 * std::cos(static_cast<double>(j) * std::numbers::pi / (p + 1.0)); };
  for (Index j = 0; j <= p; ++j) {
    const double below = j == 0 ? -1.0 : (j == p ? 5.0 : 0.5 * (lambda(j) + lambda(j + 1)));
    EXPECT_EQ(tridiagonal::eigenvalues_below(diag.data(), off.data(), p, below, DBL_MIN), j) << "x=" << below;
  }
}

// A diagonal matrix (every off-diagonal zero, so the pivot floor is exercised): its sorted diagonal.
TEST(TridiagonalEigenvalues, DiagonalMatrixGivesItsSortedDiagonal) {
  std::mt19937_64 rng(5);
  std::vector<double> diag = testing::gaussian(rng, 40), off(39, 0.0);
  diag[3] = diag[17];  // a repeated eigenvalue
  const auto got = multisection<32>(diag, off);
  std::sort(diag.begin(), diag.end());
  for (std::size_t i = 0; i < diag.size(); ++i) EXPECT_NEAR(got[i], diag[i], 4 * DBL_EPSILON * max_abs(diag));
}

// A non-finite entry anywhere (a diverged gradient) gives NaN eigenvalues, not finite ones.
TEST(TridiagonalEigenvalues, NonFiniteEntryGivesNaN) {
  std::vector<double> diag(6, 2.0), off(5, -1.0);
  off[4] = NAN;
  for (double value : multisection<32>(diag, off)) EXPECT_TRUE(std::isnan(value));
  off[4] = -1.0;
  diag[0] = INFINITY;
  for (double value : multisection<32>(diag, off)) EXPECT_TRUE(std::isnan(value));
}

// The tridiagonal of a Gram matrix BᵀB with B (m×p) = spikes over a Gaussian bulk, and rank
// deficient (m < p: zero eigenvalues), as the gradient spectrum produces. Against dsterf: within
// 32ε‖T‖ (both are backward stable; they differ by some ε‖T‖), and the singular values √λ within
// SPEC §4's 1e-6·σ₁ + 1e-4·σᵢ. Against the squared singular values of B (LAPACK's SVD, which
// never forms BᵀB): no further off than dsterf's, give or take 2ε‖T‖.
TEST(TridiagonalEigenvalues, GramTridiagonalsMatchLapack) {
  struct Case {
    Index m, p;
    double spike;
  };
  for (const Case c : {Case{400, 300, 30.0}, Case{200, 300, 5.0}, Case{700, 64, 0.0}}) {
    SCOPED_TRACE("m=" + std::to_string(c.m) + " p=" + std::to_string(c.p));
    const auto at = [](Index i) { return static_cast<std::size_t>(i); };
    std::mt19937_64 rng(static_cast<unsigned>(c.m + c.p));
    std::vector<double> B = testing::gaussian(rng, at(c.m * c.p));  // row-major m×p
    for (Index j = 0; j < 3; ++j) B[at(j * c.p + j)] += c.spike * static_cast<double>(3 - j);
    std::vector<double> G(at(c.p * c.p), 0.0);  // lower triangle of BᵀB, column-major
    for (Index j = 0; j < c.p; ++j)
      for (Index i = j; i < c.p; ++i)
        for (Index l = 0; l < c.m; ++l) G[at(j * c.p + i)] += B[at(l * c.p + i)] * B[at(l * c.p + j)];
    std::vector<double> diag(at(c.p)), off(at(c.p - 1)), tau(off.size());
    ASSERT_EQ(LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', static_cast<int>(c.p), G.data(), static_cast<int>(c.p),
                             diag.data(), off.data(), tau.data()),
              0);
    const auto got = multisection<32>(diag, off), ref = lapack_sterf(diag, off);
    const double norm = max_abs(ref);
    for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 32 * DBL_EPSILON * norm) << "i=" << i;
    const std::vector<double> sv = testing::svd(B, c.m, c.p).s;  // descending, min(m, p)
    double got_error = 0, ref_error = 0;
    for (std::size_t i = 0; i < sv.size(); ++i) {
      const std::size_t ascending = ref.size() - 1 - i;
      got_error = std::max(got_error, std::abs(got[ascending] - sv[i] * sv[i]));
      ref_error = std::max(ref_error, std::abs(ref[ascending] - sv[i] * sv[i]));
    }
    EXPECT_LE(got_error, ref_error + 2 * DBL_EPSILON * norm);
  }
}

}  // namespace
}  // namespace lowrank
