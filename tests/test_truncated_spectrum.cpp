// The truncated spectrum (randomized subspace iteration) against LAPACK's float64 SVD of the
// same matrix: the top r singular values within SPEC §4's bound, the leading vector, its sign,
// the warm start and the checkpoint round trip, on matrices of chosen spectra and on a real
// network gradient, in both precisions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>

#include "cpu_backend.hpp"
#include "linalg_testing.hpp"
#include "truncated_spectrum.hpp"

namespace lowrank {
namespace {

using testing::gaussian;
using testing::matmul;

// Row-major k×d matrix U diag(σ) Vᵀ with random orthogonal U, V.
std::vector<double> with_spectrum(std::mt19937_64& rng, std::int64_t k, std::int64_t d,
                                  const std::function<double(std::int64_t)>& sigma) {
  const std::vector<double> U = testing::orthogonal(rng, k), V = testing::orthogonal(rng, d);
  std::vector<double> US(static_cast<std::size_t>(k * d), 0.0);
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < std::min(k, d); ++j) US[i * d + j] = U[i * k + j] * sigma(j);
  return matmul(US, V, k, d, d);  // (U Σ) Vᵀ, with V's rows as the right vectors
}

// The gradient of a small network on random data, through the CPU backend in float64.
std::vector<double> network_gradient(std::mt19937_64& rng, std::int64_t n, std::int64_t k, std::int64_t d) {
  auto be = make_cpu_backend<double>();
  std::vector<double> x = gaussian(rng, n * d, 1.0 / std::sqrt(double(d))), w = gaussian(rng, k * d),
                      a = gaussian(rng, k), y = gaussian(rng, n);
  Buffer<double> X = be->upload(x, n, d), W = be->upload(w, k, d), A = be->upload(a, k, 1), Y = be->upload(y, n, 1);
  Buffer<double> Z = be->zeros(n, k), r = be->zeros(n, 1), G = be->zeros(k, d);
  be->forward(X, W, A, Y, 0.1, Activation::sigmoid, Loss::mse, Z, r);
  be->gradient(X, r, A, 0.1, Activation::sigmoid, Z, G, nullptr);
  std::vector<double> g(static_cast<std::size_t>(k * d));
  be->download(G, g);
  return g;
}

struct Case {
  const char* name;
  std::int64_t k, d, rank;
  // Builds the matrix (row-major k×d).
  std::function<std::vector<double>(std::mt19937_64&, std::int64_t, std::int64_t)> make;
};

const Case kCases[] = {
    // A few spikes over a bulk with a soft edge (σ falling as i^(2/3) from it, as a
    // Marchenko–Pastur edge does), like the gradients of SPEC §5: the bulk values converge slowest.
    {"spikes_over_bulk", 300, 200, 8,
     [](auto& rng, auto k, auto d) {
       return with_spectrum(rng, k, d, [](std::int64_t i) {
         return i < 3 ? 10.0 / double(i + 1) : 0.3 * (1.0 - 0.5 * std::pow(double(i - 3) / 200.0, 2.0 / 3.0));
       });
     }},
    {"geometric_decay", 160, 240, 12,
     [](auto& rng, auto k, auto d) { return with_spectrum(rng, k, d, [](std::int64_t i) { return std::pow(0.85, double(i)); }); }},
    // Rank 3 < block: the rest of the block spans the null space.
    {"rank_below_block", 120, 90, 6,
     [](auto& rng, auto k, auto d) {
       return with_spectrum(rng, k, d, [](std::int64_t i) { return i < 3 ? 3.0 - double(i) : 0.0; });
     }},
    {"network_gradient", 200, 120, 8, [](auto& rng, auto k, auto d) { return network_gradient(rng, 150, k, d); }},
    {"single_value", 64, 48, 1,
     [](auto& rng, auto k, auto d) { return with_spectrum(rng, k, d, [](std::int64_t i) { return 1.0 / double(i + 1); }); }},
};

class TruncatedSpectrumTest : public ::testing::TestWithParam<Case> {};

template <typename T>
void check_case(const Case& c) {
  std::mt19937_64 rng(7);
  std::vector<double> g = c.make(rng, c.k, c.d);
  for (auto& x : g) x = static_cast<double>(static_cast<T>(x));  // the reference sees the same matrix
  const testing::Svd ref = testing::svd(g, c.k, c.d);

  auto be = make_cpu_backend<T>();
  const std::vector<T> cast(g.begin(), g.end());
  Buffer<T> G = be->upload(cast, c.k, c.d);
  TruncatedSpectrum<T> truncated(*be, c.k, c.d, c.rank, 42);
  Spectrum<T> s = truncated.compute(G, nullptr);

  ASSERT_EQ(s.singular_values.size(), static_cast<std::size_t>(c.rank));
  const double s1 = ref.s[0];
  double worst = 0;  // the largest error as a fraction of SPEC §4's tolerance
  for (std::int64_t i = 0; i < c.rank; ++i) {
    const double tol = 1e-6 * s1 + 1e-4 * ref.s[i];
    EXPECT_NEAR(s.singular_values[i], ref.s[i], tol) << "σ_" << i << " after " << truncated.iterations() << " iterations";
    worst = std::max(worst, std::abs(s.singular_values[i] - ref.s[i]) / tol);
  }
  std::printf("%s (%s, r = %lld): largest error %.3f of the tolerance, %d iterations from a random start\n", c.name,
              std::is_same_v<T, float> ? "float32" : "float64", static_cast<long long>(c.rank), worst,
              truncated.iterations());
  std::vector<T> v(static_cast<std::size_t>(c.d));
  be->download(s.top_right_vector, v);
  double dot = 0, largest = 0;
  for (std::int64_t j = 0; j < c.d; ++j) {
    dot += double(v[j]) * ref.v1[j];
    if (std::abs(v[j]) > std::abs(largest)) largest = v[j];
  }
  const double vector_tol = std::is_same_v<T, float> ? 1e-4 : 1e-7;
  EXPECT_NEAR(std::abs(dot), 1.0, vector_tol);
  EXPECT_GT(largest, 0) << "without a previous vector the largest entry is positive";

  // Against a previous vector pointing the other way the sign flips; a warm start on a nearby
  // matrix settles in no more iterations than the cold one did.
  const int cold = truncated.iterations();
  std::vector<T> flipped(v.size());
  for (std::size_t j = 0; j < v.size(); ++j) flipped[j] = -v[j];
  Buffer<T> previous = be->upload(flipped, c.d, 1);
  std::vector<double> nearby = g;
  for (auto& x : nearby) x *= 1.001;
  const std::vector<T> nearby_cast(nearby.begin(), nearby.end());
  Buffer<T> G2 = be->upload(nearby_cast, c.k, c.d);
  Spectrum<T> warm = truncated.compute(G2, &previous);
  EXPECT_LE(truncated.iterations(), cold);
  std::vector<T> w(v.size());
  be->download(warm.top_right_vector, w);
  double along = 0;
  for (std::size_t j = 0; j < w.size(); ++j) along += double(w[j]) * double(flipped[j]);
  EXPECT_GT(along, 0.99);
  EXPECT_NEAR(warm.singular_values[0], 1.001 * s1, 1e-6 * s1 + 1e-4 * 1.001 * s1);
}

TEST_P(TruncatedSpectrumTest, TopValuesWithinSpecBoundFloat64) { check_case<double>(GetParam()); }
TEST_P(TruncatedSpectrumTest, TopValuesWithinSpecBoundFloat32) { check_case<float>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Matrices, TruncatedSpectrumTest, ::testing::ValuesIn(kCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// A block saved in a checkpoint and restored gives the same next spectrum, bit for bit.
TEST(TruncatedSpectrum, CheckpointRoundTripIsExact) {
  std::mt19937_64 rng(3);
  const std::int64_t k = 90, d = 70, rank = 5;
  const std::vector<double> g1 = network_gradient(rng, 60, k, d), g2 = network_gradient(rng, 60, k, d);
  auto be = make_cpu_backend<double>();
  Buffer<double> G1 = be->upload(g1, k, d), G2 = be->upload(g2, k, d);
  TruncatedSpectrum<double> first(*be, k, d, rank, 1), second(*be, k, d, rank, 99);
  first.compute(G1, nullptr);
  second.restore(first.save());
  const Spectrum<double> a = first.compute(G2, nullptr), b = second.compute(G2, nullptr);
  EXPECT_EQ(a.singular_values, b.singular_values);
  std::vector<double> va(d), vb(d);
  be->download(a.top_right_vector, va);
  be->download(b.top_right_vector, vb);
  EXPECT_EQ(va, vb);
  EXPECT_THROW(second.restore(std::vector<double>(3)), std::invalid_argument);
}

// A block as large as min(k, d) holds the whole row space after one step: two iterations, exact.
TEST(TruncatedSpectrum, BlockCoveringTheRowSpaceStopsAtOnce) {
  std::mt19937_64 rng(11);
  const std::int64_t k = 10, d = 20;
  const std::vector<double> g = gaussian(rng, k * d);
  const testing::Svd ref = testing::svd(g, k, d);
  auto be = make_cpu_backend<double>();
  TruncatedSpectrum<double> truncated(*be, k, d, 5, 1);
  const Spectrum<double> s = truncated.compute(be->upload(g, k, d), nullptr);
  EXPECT_EQ(truncated.iterations(), 2);
  for (std::int64_t i = 0; i < 5; ++i) EXPECT_NEAR(s.singular_values[i], ref.s[i], 1e-12 * ref.s[0]);
}

// A non-finite gradient gives NaN values (the driver marks the run diverged), not an exception.
TEST(TruncatedSpectrum, NonFiniteGradientGivesNaN) {
  auto be = make_cpu_backend<double>();
  std::vector<double> g(12 * 9, 0.5);
  g[7] = std::numeric_limits<double>::quiet_NaN();
  TruncatedSpectrum<double> truncated(*be, 12, 9, 3, 1);
  const Spectrum<double> s = truncated.compute(be->upload(g, 12, 9), nullptr);
  ASSERT_EQ(s.singular_values.size(), 3u);
  EXPECT_TRUE(std::isnan(s.singular_values[0]));
  EXPECT_EQ(s.top_right_vector.size(), 9);
}

TEST(TruncatedSpectrum, RefusesARankOutsideTheMatrix) {
  auto be = make_cpu_backend<double>();
  EXPECT_THROW(TruncatedSpectrum<double>(*be, 10, 8, 9, 1), std::invalid_argument);
  EXPECT_THROW(TruncatedSpectrum<double>(*be, 10, 8, 0, 1), std::invalid_argument);
}

}  // namespace
}  // namespace lowrank
