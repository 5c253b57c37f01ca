// Spectra and angles against independent float64 references: the gradient's singular values
// and leading vector against LAPACK's SVD of the explicit gradient (SPEC §4's bound), the
// operator norm on matrices of known spectrum, principal angles between subspaces of known angles,
// the top eigenvectors of a tridiagonal that splits against LAPACK's dense eigensolver.
#include <gtest/gtest.h>
#include <lapacke.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <sstream>

#include "cpu_backend.hpp"
#include "cuda_backend.hpp"
#include "linalg_testing.hpp"
#include "spectral.hpp"

namespace lowrank {
namespace {

using testing::gaussian;
using testing::matmul;

struct Shape {
  std::int64_t n, k, d;
};

void PrintTo(const Shape& s, std::ostream* os) { *os << "n=" << s.n << " k=" << s.k << " d=" << s.d; }

std::string shape_name(const ::testing::TestParamInfo<Shape>& p) {
  std::ostringstream name;  // (GCC 12 warns falsely on "n" + std::to_string(...))
  name << "n" << p.param.n << "_k" << p.param.k << "_d" << p.param.d;
  return name.str();
}

class GradientSpectrumTest : public ::testing::TestWithParam<Shape> {};

template <typename T>
void check_spectrum(const Shape& sh, unsigned seed) {
  std::mt19937_64 rng(seed);
  const auto [n, k, d] = sh;
  // Round the inputs to T first: the reference is the float64 SVD of the same matrix.
  auto rounded = [](std::vector<double> v) {
    for (auto& x : v) x = static_cast<double>(static_cast<T>(x));
    return v;
  };
  const std::vector<double> M = rounded(gaussian(rng, n * k)), X = rounded(gaussian(rng, n * d));
  const double scale = 0.37;

  auto be = make_cpu_backend<T>();
  const std::vector<T> m(M.begin(), M.end()), x(X.begin(), X.end());
  Buffer<T> Mb = be->upload(m, n, k), Xb = be->upload(x, n, d);
  auto prepared = be->prepare(Xb);
  Spectrum<T> s = be->spectrum(Mb, *prepared, scale, nullptr);

  // ∇ = scale · Mᵀ X, explicitly.
  std::vector<double> Mt(k * n);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < k; ++j) Mt[j * n + i] = M[i * k + j];
  std::vector<double> grad = matmul(Mt, X, k, n, d);
  for (auto& g : grad) g *= scale;
  const testing::Svd ref = testing::svd(grad, k, d);

  ASSERT_EQ(s.singular_values.size(), static_cast<std::size_t>(std::min(k, d)));
  for (std::size_t i = 0; i < ref.s.size(); ++i)
    EXPECT_NEAR(s.singular_values[i], ref.s[i], 1e-6 * ref.s[0] + 1e-4 * ref.s[i]) << "σ_" << i;

  std::vector<T> v(d);
  be->download(s.top_right_vector, v);
  double dot = 0, largest = 0;
  for (std::int64_t j = 0; j < d; ++j) {
    dot += v[j] * ref.v1[j];
    if (std::abs(v[j]) > std::abs(largest)) largest = v[j];
  }
  // Random Gaussian M and X leave a clear gap between σ₁ and σ₂.
  const double tolerance = std::is_same_v<T, double> ? 1e-9 : 1e-5;
  EXPECT_NEAR(std::abs(dot), 1.0, tolerance);
  EXPECT_GT(largest, 0) << "without a previous vector, the largest entry is positive";

  // With a previous vector, the sign agrees with it.
  Buffer<T> flipped = be->zeros(d, 1);
  std::vector<T> minus(v.size());
  for (std::size_t j = 0; j < v.size(); ++j) minus[j] = -v[j];
  flipped = be->upload(minus, d, 1);
  Spectrum<T> again = be->spectrum(Mb, *prepared, scale, &flipped);
  EXPECT_LT(be->dot(again.top_right_vector, s.top_right_vector), 0);
  EXPECT_GT(be->dot(again.top_right_vector, flipped), 0);
}

// The CPU backend, and the CUDA backend where a GPU is present.
std::vector<std::unique_ptr<Backend<double>>> present_backends() {
  std::vector<std::unique_ptr<Backend<double>>> backends;
  backends.push_back(make_cpu_backend<double>());
  if (cuda_device_count() > 0) backends.push_back(make_cuda_backend<double>());
  else std::printf("no CUDA device present: the CUDA backend's case is not checked here\n");
  return backends;
}

// A gradient with an infinite entry (a diverging run whose loss is still finite) has a NaN
// spectrum, which the driver reports as a divergence, not a LAPACK error that fails the run; on
// every backend present, through both Gram sides and both forms of X.
// Every singular value of a dense matrix, tall and wide, against LAPACK's SVD.
TEST(SingularValues, MatchLapackSvdTallAndWide) {
  std::mt19937_64 rng(8);
  for (const auto& [m, n] : {std::pair<std::int64_t, std::int64_t>{40, 25}, {25, 40}, {30, 30}}) {
    const std::vector<double> A = testing::gaussian(rng, static_cast<std::size_t>(m * n));
    const std::vector<double> got = spectral::singular_values(A.data(), m, n), want = testing::svd(A, m, n).s;
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12 * want[0]) << m << "x" << n << " " << i;
  }
}

TEST(GradientSpectrum, NonFiniteGradientIsNaNNotAnError) {
  const auto backends = present_backends();
  for (const Shape sh : {Shape{20, 15, 40}, Shape{60, 25, 30}, Shape{30, 50, 40}}) {
    std::mt19937_64 rng(3);
    std::vector<double> M = gaussian(rng, sh.n * sh.k);
    const std::vector<double> X = gaussian(rng, sh.n * sh.d);
    M[7] = std::numeric_limits<double>::infinity();
    for (auto& be : backends) {
      Buffer<double> Mb = be->upload(M, sh.n, sh.k), Xb = be->upload(X, sh.n, sh.d);
      auto prepared = be->prepare(Xb);
      Spectrum<double> s;
      ASSERT_NO_THROW(s = be->spectrum(Mb, *prepared, 0.5, nullptr)) << be->device();
      ASSERT_EQ(s.singular_values.size(), static_cast<std::size_t>(std::min(sh.k, sh.d)));
      EXPECT_TRUE(std::isnan(s.singular_values[0])) << be->device() << " n=" << sh.n << " k=" << sh.k;
    }
  }
}

// A zero gradient (every unit dead, or a zero residual) has a zero spectrum and finite vectors on
// every backend present. With k < min(n, d) the left Gram matrix is taken, and the right vector
// Bᵀu/‖Bᵀu‖ has ‖Bᵀu‖ = 0: it stays zero, not NaN.
TEST(GradientSpectrum, ZeroGradientIsZeroWithoutNaN) {
  const auto backends = present_backends();
  for (const Shape sh : {Shape{20, 15, 40}, Shape{60, 25, 30}, Shape{30, 50, 40}}) {
    const bool left_gram = sh.k < std::min(sh.n, sh.d);
    std::mt19937_64 rng(4);
    const std::vector<double> M(static_cast<std::size_t>(sh.n * sh.k), 0.0), X = gaussian(rng, sh.n * sh.d);
    for (auto& be : backends) {
      Buffer<double> Mb = be->upload(M, sh.n, sh.k), Xb = be->upload(X, sh.n, sh.d);
      auto prepared = be->prepare(Xb);
      const Spectrum<double> s = be->spectrum(Mb, *prepared, 0.5, nullptr);
      for (double sigma : s.singular_values) EXPECT_EQ(sigma, 0.0) << be->device();
      for (const Buffer<double>* v : {&s.top_right_vector, &s.second_right_vector}) {
        std::vector<double> host(static_cast<std::size_t>(v->size()));
        be->download(*v, host);
        for (double x : host) {
          EXPECT_TRUE(std::isfinite(x)) << be->device() << " n=" << sh.n << " k=" << sh.k;
          if (left_gram) {
            EXPECT_EQ(x, 0.0) << be->device() << " n=" << sh.n << " k=" << sh.k;
          }
        }
      }
    }
  }
}

TEST_P(GradientSpectrumTest, Float64MatchesLapackSvd) { check_spectrum<double>(GetParam(), 1); }
TEST_P(GradientSpectrumTest, Float32MatchesLapackSvdOfTheSameMatrix) { check_spectrum<float>(GetParam(), 2); }

// n < d < k (the seed's shape, scaled), n > d, k < n, k < d, odd sizes.
INSTANTIATE_TEST_SUITE_P(Shapes, GradientSpectrumTest,
                         ::testing::Values(Shape{30, 50, 40}, Shape{61, 23, 17}, Shape{45, 13, 31}, Shape{19, 11, 37},
                                           Shape{33, 33, 33}, Shape{1, 5, 7}),
                         shape_name);

// W = U diag(s) Vᵀ with the given singular values.
std::vector<double> with_spectrum(std::mt19937_64& rng, std::int64_t k, std::int64_t d, const std::vector<double>& s) {
  const std::vector<double> U = testing::orthogonal(rng, k), V = testing::orthogonal(rng, d);
  std::vector<double> W(k * d, 0.0);
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < d; ++j)
      for (std::size_t l = 0; l < s.size(); ++l) W[i * d + j] += U[i * k + l] * s[l] * V[j * d + l];
  return W;
}

// As the spectrum: a non-finite matrix (a diverged W or ∇) gives NaN, not a LAPACK error.
TEST(OperatorNorm, NonFiniteMatrixIsNaNNotAnError) {
  auto be = make_cpu_backend<double>();
  for (double bad : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    std::vector<double> W(12 * 9, 0.5);
    W[7] = bad;
    Buffer<double> start = be->zeros(9, 1);
    EXPECT_TRUE(std::isnan(be->operator_norm(be->upload(W, 12, 9), start))) << bad;
  }
}

TEST(OperatorNorm, KnownSpectraWithinOneInHundredThousand) {
  std::mt19937_64 rng(3);
  const std::int64_t k = 60, d = 45;
  const std::vector<std::vector<double>> spectra = {
      {5.0, 1.0, 0.5},                                // clear gap
      {1.0, 0.999, 0.998, 0.5, 0.1},                  // nearly degenerate top
      {2.0, 2.0, 1.0},                                // degenerate top
  };
  for (const auto& s : spectra) {
    const std::vector<double> W = with_spectrum(rng, k, d, s);
    for (bool as_float : {false, true}) {
      double sigma = 0;
      if (as_float) {
        auto be = make_cpu_backend<float>();
        Buffer<float> start = be->zeros(d, 1);
        sigma = be->operator_norm(be->upload(std::vector<float>(W.begin(), W.end()), k, d), start);
        EXPECT_NEAR(sigma, s[0], 1e-5 * s[0]) << "float32, top " << s[0];
      } else {
        auto be = make_cpu_backend<double>();
        Buffer<double> start = be->zeros(d, 1);
        sigma = be->operator_norm(be->upload(W, k, d), start);
        EXPECT_NEAR(sigma, s[0], 1e-9 * s[0]) << "float64, top " << s[0];
        // A warm start from the returned vector gives the same value.
        EXPECT_NEAR(be->operator_norm(be->upload(W, k, d), start), s[0], 1e-9 * s[0]);
      }
    }
  }
}

// Column spaces in R^k of dimension d with principal angles θ: A spans e_1..e_d, B rotates
// e_i towards e_{d+i} by θ_i for the first min(d, k − d) directions; both are then mixed by a
// random rotation of R^k and a random change of basis inside each space.
struct AnglePair {
  std::vector<double> A, B;
  double mean_deg;
};

AnglePair known_angles(std::mt19937_64& rng, std::int64_t k, std::int64_t d, std::int64_t rotated) {
  std::uniform_real_distribution<double> angle(0.05, std::numbers::pi / 2 - 0.05);
  std::vector<double> A0(k * d, 0.0), B0(k * d, 0.0);
  double sum = 0;
  for (std::int64_t i = 0; i < d; ++i) {
    A0[i * d + i] = 1.0;
    if (i < rotated) {
      const double t = angle(rng);
      sum += t;
      B0[i * d + i] = std::cos(t);
      B0[(d + i) * d + i] = std::sin(t);
    } else {
      B0[i * d + i] = 1.0;
    }
  }
  const std::vector<double> R = testing::orthogonal(rng, k);
  auto mix = [&](const std::vector<double>& S) {
    std::vector<double> mixing = gaussian(rng, d * d);
    for (std::int64_t i = 0; i < d; ++i) mixing[i * d + i] += 3.0;  // comfortably invertible
    return matmul(matmul(R, S, k, k, d), mixing, k, d, d);
  };
  return {mix(A0), mix(B0), sum / double(d) * 180.0 / std::numbers::pi};
}

TEST(PrincipalAngles, KnownAnglesThroughEveryPath) {
  std::mt19937_64 rng(5);
  struct Case {
    std::int64_t k, d, rotated;
    const char* path;
  };
  const Case cases[] = {
      {50, 40, 10, "complement (k − d < d)"},
      {50, 20, 20, "column basis (k ≥ 2d)"},
      {41, 30, 11, "complement, odd sizes"},
  };
  for (const auto& c : cases) {
    const AnglePair p = known_angles(rng, c.k, c.d, c.rotated);
    EXPECT_NEAR(spectral::mean_principal_angle_deg(p.A.data(), p.B.data(), c.k, c.d), p.mean_deg, 1e-8) << c.path;
    const std::vector<double> seed = spectral::principal_angles_svd(p.A.data(), p.B.data(), c.k, c.d);
    double sum = 0;
    for (double a : seed) sum += a;
    // The seed's acos of cosines near 1 resolves angles only to √(2ε) ≈ 2e-8 rad ≈ 1.2e-6°.
    EXPECT_NEAR(sum / double(seed.size()) * 180.0 / std::numbers::pi, p.mean_deg, 5e-6) << "seed's method, " << c.path;
  }
}

TEST(PrincipalAngles, WideAndRankDeficientMatricesTakeTheSeedsMethod) {
  std::mt19937_64 rng(6);
  // d ≥ k, full row rank: both column spaces are all of R^k, every angle zero; exactly here,
  // to acos(1 − ε) ≈ 1e-6° by the seed's method.
  for (auto [k, d] : {std::pair<std::int64_t, std::int64_t>{8, 12}, {10, 10}}) {
    const std::vector<double> A = gaussian(rng, k * d), B = gaussian(rng, k * d);
    EXPECT_EQ(spectral::mean_principal_angle_deg(A.data(), B.data(), k, d), 0.0) << k << "×" << d;
    double seed = 0;
    for (double a : spectral::principal_angles_svd(A.data(), B.data(), k, d)) seed += a / double(k);
    EXPECT_NEAR(seed * 180.0 / std::numbers::pi, 0.0, 1e-5);
  }
  // Rank 1 each (columns all multiples of one vector): one angle, between the two vectors; tall
  // (6×4) and wide (6×8, where the rank test sends it to the seed's method).
  for (std::int64_t d : {4, 8}) {
    const std::int64_t k = 6;
    std::vector<double> R1(k * d), R2(k * d);
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t j = 0; j < d; ++j) {
        const double scale = static_cast<double>(j + 1);
        R1[i * d + j] = i == 0 ? scale : 0.0;
        R2[i * d + j] = i <= 1 ? scale : 0.0;
      }
    EXPECT_NEAR(spectral::mean_principal_angle_deg(R1.data(), R2.data(), k, d), 45.0, 1e-9) << "6×" << d;
  }
}

// The seed's mean angle (its SVD bases and acos), in degrees: the reference.
double seeds_mean_deg(const std::vector<double>& A, const std::vector<double>& B, std::int64_t k, std::int64_t d) {
  const std::vector<double> angles = spectral::principal_angles_svd(A.data(), B.data(), k, d);
  double sum = 0;
  for (double a : angles) sum += a;
  return angles.empty() ? std::nan("") : sum / double(angles.size()) * 180.0 / std::numbers::pi;
}

// A row-major k×d matrix of rank r: (k×r Gaussian)(r×d Gaussian).
std::vector<double> of_rank(std::mt19937_64& rng, std::int64_t k, std::int64_t d, std::int64_t r) {
  return matmul(gaussian(rng, k * r), gaussian(rng, r * d), k, r, d);
}

// k×d with only `distinct` different rows (the others repeat them, as collapsed neurons do) and
// the last `zero` rows zero (dead ones).
std::vector<double> collapsed(std::mt19937_64& rng, std::int64_t k, std::int64_t d, std::int64_t distinct,
                              std::int64_t zero) {
  const std::vector<double> rows = gaussian(rng, distinct * d);
  std::vector<double> A(k * d, 0.0);
  for (std::int64_t i = 0; i < k - zero; ++i)
    std::copy_n(rows.begin() + (i % distinct) * d, d, A.begin() + i * d);
  return A;
}

// The QR routes, which take every matrix whose LU or QR rank test fails (W collapsing to low rank
// every epoch in relu_vs_sigmoid), against the seed's SVD method: full rank and ill-conditioned,
// rank r < min(k, d), repeated and zero rows, tall and wide, equal ranks and unequal (the three
// ways: the complements, the spaces, B's complement against A's space). Each case through the
// unpivoted route (which must prove these ranks) and the pivoted one, within the seed's own acos
// resolution (√(2ε) rad per angle ≈ 1.2e-6°), as the other paths.
TEST(PrincipalAngles, BothQrRoutesMatchTheSeedsMethodAtAnyRank) {
  std::mt19937_64 rng(12);
  struct Case {
    const char* what;
    std::int64_t k, d;
    std::vector<double> A, B;
  };
  std::vector<double> falling(45);
  for (std::size_t i = 0; i < falling.size(); ++i) falling[i] = std::pow(1e-9, double(i) / 44.0);  // κ = 1e9
  std::vector<Case> cases;
  cases.push_back({"full rank, k > d (complements)", 60, 45, gaussian(rng, 60 * 45), gaussian(rng, 60 * 45)});
  cases.push_back({"full rank, k > 2d (the spaces)", 70, 30, gaussian(rng, 70 * 30), gaussian(rng, 70 * 30)});
  cases.push_back({"full rank, κ = 1e9 (as sigmoid's W)", 60, 45, with_spectrum(rng, 60, 45, falling),
                   gaussian(rng, 60 * 45)});
  cases.push_back({"rank 12 and 12 of 60×45", 60, 45, of_rank(rng, 60, 45, 12), of_rank(rng, 60, 45, 12)});
  cases.push_back({"rank 40 and 40 of 50×45 (complements)", 50, 45, of_rank(rng, 50, 45, 40), of_rank(rng, 50, 45, 40)});
  cases.push_back({"rank 20 against full (B's complement)", 60, 45, of_rank(rng, 60, 45, 20), gaussian(rng, 60 * 45)});
  cases.push_back({"rank 9 against rank 25 (the spaces)", 60, 45, of_rank(rng, 60, 45, 9), of_rank(rng, 60, 45, 25)});
  cases.push_back({"repeated and zero rows, k > d", 80, 30, collapsed(rng, 80, 30, 12, 10), collapsed(rng, 80, 30, 20, 5)});
  cases.push_back({"repeated rows, k < d", 20, 50, collapsed(rng, 20, 50, 7, 0), collapsed(rng, 20, 50, 11, 3)});
  cases.push_back({"rank 6 of 20×50 (k < d)", 20, 50, of_rank(rng, 20, 50, 6), of_rank(rng, 20, 50, 6)});
  for (const Case& c : cases) {
    const double seed = seeds_mean_deg(c.A, c.B, c.k, c.d);
    EXPECT_NEAR(spectral::mean_principal_angle_deg(c.A.data(), c.B.data(), c.k, c.d), seed, 5e-6) << c.what;
    for (spectral::QrRoute route : {spectral::QrRoute::unpivoted, spectral::QrRoute::pivoted}) {
      const char* name = route == spectral::QrRoute::unpivoted ? "unpivoted" : "pivoted";
      const std::optional<double> qr = spectral::qr_mean_angle_deg(c.A.data(), c.B.data(), c.k, c.d, route);
      ASSERT_TRUE(qr.has_value()) << c.what << ", " << name << ": the rank is clear here";
      EXPECT_NEAR(*qr, seed, 5e-6) << c.what << ", " << name;
      // Symmetric, as the seed's.
      EXPECT_NEAR(*spectral::qr_mean_angle_deg(c.B.data(), c.A.data(), c.k, c.d, route), *qr, 1e-9) << c.what << name;
    }
  }
  // Known angles: 1e-7°, as the fast paths.
  const AnglePair p = known_angles(rng, 50, 40, 10);
  for (spectral::QrRoute route : {spectral::QrRoute::unpivoted, spectral::QrRoute::pivoted})
    EXPECT_NEAR(*spectral::qr_mean_angle_deg(p.A.data(), p.B.data(), 50, 40, route), p.mean_deg, 1e-7);
  // A zero matrix has no angle (NaN, as the seed's); a rank near the cut is left to the seed.
  const std::vector<double> zero(60 * 45, 0.0), b = gaussian(rng, 60 * 45);
  for (spectral::QrRoute route : {spectral::QrRoute::unpivoted, spectral::QrRoute::pivoted})
    EXPECT_TRUE(std::isnan(*spectral::qr_mean_angle_deg(zero.data(), b.data(), 60, 45, route)));
  std::vector<double> near_cut = of_rank(rng, 60, 45, 10);
  const std::vector<double> tiny = of_rank(rng, 60, 45, 1);
  for (std::size_t i = 0; i < near_cut.size(); ++i) near_cut[i] += 1e-11 * tiny[i];
  EXPECT_FALSE(spectral::qr_mean_angle_deg(near_cut.data(), b.data(), 60, 45, spectral::QrRoute::either).has_value());
  EXPECT_NEAR(spectral::mean_principal_angle_deg(near_cut.data(), b.data(), 60, 45), seeds_mean_deg(near_cut, b, 60, 45),
              1e-12);
}

// The unpivoted route proves a rank only from its first columns: where those depend on each other
// (a repeated or a zero column ahead of the rest) it declines, and the pivoted route answers.
TEST(PrincipalAngles, UnpivotedRouteDeclinesWhereItsFirstColumnsAreDependent) {
  std::mt19937_64 rng(13);
  const std::int64_t k = 60, d = 45;
  const std::vector<double> b = of_rank(rng, k, d, 20);
  std::vector<double> repeated = of_rank(rng, k, d, 20), zeroed = of_rank(rng, k, d, 20);
  for (std::int64_t i = 0; i < k; ++i) {
    repeated[i * d + 1] = repeated[i * d];  // column 1 = column 0
    zeroed[i * d] = 0.0;                    // column 0 = 0
  }
  for (const auto* A : {&repeated, &zeroed}) {
    EXPECT_FALSE(spectral::qr_mean_angle_deg(A->data(), b.data(), k, d, spectral::QrRoute::unpivoted).has_value());
    const double seed = seeds_mean_deg(*A, b, k, d);
    EXPECT_NEAR(*spectral::qr_mean_angle_deg(A->data(), b.data(), k, d, spectral::QrRoute::either), seed, 5e-6);
    EXPECT_NEAR(spectral::mean_principal_angle_deg(A->data(), b.data(), k, d), seed, 5e-6);
  }
}

TEST(PrincipalAngles, BackendAgreesWithTheSeedsMethodOnRandomMatrices) {
  std::mt19937_64 rng(8);
  const std::int64_t k = 70, d = 50;
  const std::vector<double> A = gaussian(rng, k * d), B = gaussian(rng, k * d);
  auto be = make_cpu_backend<double>();
  const double fast = be->mean_principal_angle_deg(be->upload(A, k, d), be->upload(B, k, d));
  const std::vector<double> seed = spectral::principal_angles_svd(A.data(), B.data(), k, d);
  double sum = 0;
  for (double a : seed) sum += a;
  EXPECT_NEAR(fast, sum / double(seed.size()) * 180.0 / std::numbers::pi, 5e-6);  // the seed's acos resolution
}


// The unit eigenvectors of the `count` largest eigenvalues of the dense symmetric tridiagonal
// matrix, largest first, by LAPACK's dense eigensolver (dsyev): the reference.
std::vector<double> dense_top_vectors(const std::vector<double>& diag, const std::vector<double>& off, std::int64_t count) {
  const auto p = static_cast<lapack_int>(diag.size());
  std::vector<double> a(diag.size() * diag.size(), 0.0), w(diag.size());
  for (lapack_int i = 0; i < p; ++i) {
    a[static_cast<std::size_t>(i * p + i)] = diag[static_cast<std::size_t>(i)];
    if (i + 1 < p) a[static_cast<std::size_t>(i * p + i + 1)] = a[static_cast<std::size_t>((i + 1) * p + i)] = off[static_cast<std::size_t>(i)];
  }
  EXPECT_EQ(LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', p, a.data(), p, w.data()), 0);
  std::vector<double> top;
  for (std::int64_t c = 0; c < count; ++c)  // ascending: the last columns, reversed
    top.insert(top.end(), a.begin() + (p - 1 - c) * p, a.begin() + (p - c) * p);
  return top;
}

// Tridiagonal matrices that split (a zero off-diagonal) with the largest eigenvalue in an earlier
// block: dstein takes its eigenvalues grouped by block and refused them sorted across blocks
// (a relu network whose units die, with k < n, can give such a Gram tridiagonal).
TEST(TridiagonalTopVectors, MatrixThatSplitsWithTheLargestEigenvalueInAnEarlierBlock) {
  std::mt19937_64 rng(11);
  std::vector<double> random_diag = gaussian(rng, 12), random_off = gaussian(rng, 11);
  random_diag[0] += 10;  // the largest eigenvalue in the first block
  random_off[3] = random_off[7] = 0;
  const std::vector<std::pair<std::vector<double>, std::vector<double>>> matrices = {
      {{2, 1}, {0}},                // the reproduction: two 1×1 blocks, the larger first
      {{1, 3, 2}, {0.5, 0}},        // largest and third in the first block, second in the last
      {random_diag, random_off}};   // three blocks
  for (const auto& [diag, off] : matrices)
    for (std::int64_t count : {1, 2}) {
      const auto p = static_cast<std::int64_t>(diag.size());
      const std::vector<double> got = spectral::tridiagonal_top_vectors(diag, off, p, count);
      const std::vector<double> want = dense_top_vectors(diag, off, count);
      ASSERT_EQ(got.size(), want.size()) << "p = " << p << ", count = " << count;
      for (std::int64_t c = 0; c < count; ++c) {
        double dot = 0;
        for (std::int64_t i = 0; i < p; ++i) dot += got[static_cast<std::size_t>(c * p + i)] * want[static_cast<std::size_t>(c * p + i)];
        EXPECT_NEAR(std::abs(dot), 1.0, 1e-12) << "p = " << p << ", vector " << c << " of " << count;
      }
    }
}

}  // namespace
}  // namespace lowrank
