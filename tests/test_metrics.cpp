// Energy and the alignments on hand-built cases whose answers are known.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cpu_backend.hpp"
#include "linalg_testing.hpp"
#include "metrics.hpp"

namespace lowrank {
namespace {

TEST(SpanBasis, OrthonormalAndDropsZeroVectors) {
  std::int64_t columns = 0;
  const std::vector<double> u = {3, 0, 4, 0}, w = {1, 1, 0, 0};
  const std::vector<double> Q = span_basis(u, w, columns);
  ASSERT_EQ(columns, 2);
  double q00 = 0, q11 = 0, q01 = 0;
  for (int j = 0; j < 4; ++j) {
    q00 += Q[j * 2] * Q[j * 2];
    q11 += Q[j * 2 + 1] * Q[j * 2 + 1];
    q01 += Q[j * 2] * Q[j * 2 + 1];
  }
  EXPECT_NEAR(q00, 1, 1e-15);
  EXPECT_NEAR(q11, 1, 1e-15);
  EXPECT_NEAR(q01, 0, 1e-15);
  span_basis(u, {0, 0, 0, 0}, columns);
  EXPECT_EQ(columns, 1);
  span_basis(u, {6, 0, 8, 0}, columns);  // parallel: rank one
  EXPECT_EQ(columns, 1);
}

TEST(Energy, RowsInsideOutsideAndHalfway) {
  auto be = make_cpu_backend<double>();
  std::int64_t columns = 0;
  // span(e0, e1) in R^4
  const Buffer<double> Q = be->upload(span_basis({2, 0, 0, 0}, {0, 5, 0, 0}, columns), 4, 2);
  Buffer<double> WQ = be->zeros(3, 2);
  const std::vector<double> inside = {1, 0, 0, 0, 0, 1, 0, 0, 0.6, 0.8, 0, 0};
  const std::vector<double> outside = {0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0.6, 0.8};
  const std::vector<double> halfway = {1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1};  // each row half inside
  EXPECT_NEAR(energy_ratio(*be, be->upload(inside, 3, 4), Q, WQ), 1.0, 1e-15);
  EXPECT_NEAR(energy_ratio(*be, be->upload(outside, 3, 4), Q, WQ), 0.0, 1e-15);
  EXPECT_NEAR(energy_ratio(*be, be->upload(halfway, 3, 4), Q, WQ), std::sqrt(0.5), 1e-15);
}

TEST(Alignment, AbsoluteCosinesByHand) {
  auto be = make_cpu_backend<double>();
  const Buffer<double> v = be->upload(std::vector<double>{1, 0, 0}, 3, 1);
  const Buffer<double> a = be->upload(std::vector<double>{3, 4, 0}, 3, 1), b = be->upload(std::vector<double>{-3, 4, 0}, 3, 1),
                       zero = be->zeros(3, 1), u = be->upload(std::vector<double>{1, 2}, 2, 1),
                       w = be->upload(std::vector<double>{2, -1}, 2, 1);
  const DotPair<double> pairs[] = {{&v, &a}, {&v, &b}, {&v, &zero}, {&u, &w}, {&a, &a}};
  const std::vector<double> c = abs_cosines<double>(*be, pairs);
  ASSERT_EQ(c.size(), 5u);
  EXPECT_NEAR(c[0], 0.6, 1e-15);
  EXPECT_NEAR(c[1], 0.6, 1e-15);
  EXPECT_TRUE(std::isnan(c[2]));
  EXPECT_NEAR(c[3], 0.0, 1e-15);  // orthogonal, and of another length than the others
  EXPECT_NEAR(c[4], 1.0, 1e-15);
}

// X = z qᵀ makes every gradient scale·Mᵀ X = (scale·Mᵀ z) qᵀ rank one along q: align_data = 1.
TEST(Alignment, RankOneGradientAlongTheSpikeHasDataAlignmentOne) {
  std::mt19937_64 rng(4);
  const std::int64_t n = 12, k = 9, d = 15;
  std::vector<double> q = testing::gaussian(rng, d), z = testing::gaussian(rng, n);
  double norm = 0;
  for (double x : q) norm += x * x;
  for (double& x : q) x /= std::sqrt(norm);
  std::vector<double> X(n * d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) X[i * d + j] = z[i] * q[j];
  auto be = make_cpu_backend<double>();
  const Buffer<double> Xb = be->upload(X, n, d), qb = be->upload(q, d, 1);
  const Spectrum<double> s = be->spectrum(be->upload(testing::gaussian(rng, n * k), n, k), *be->prepare(Xb), 0.5, nullptr);
  const DotPair<double> along_q[] = {{&s.top_right_vector, &qb}};
  EXPECT_NEAR(abs_cosines<double>(*be, along_q).at(0), 1.0, 1e-12);
  EXPECT_NEAR(s.singular_values.at(1), 0.0, 1e-6 * s.singular_values[0]);  // rank one, within SPEC §4
}

}  // namespace
}  // namespace lowrank
