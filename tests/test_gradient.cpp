// The CPU backend's forward pass and gradient in float64: ∇_W L against central finite
// differences of L, for each activation, and the loss against a direct evaluation.
#include <gtest/gtest.h>

#include <random>

#include "config.hpp"
#include "cpu_backend.hpp"

namespace lowrank {
namespace {

std::string activation_name(const ::testing::TestParamInfo<Activation>& p) { return to_string(p.param); }

struct Problem {
  std::int64_t n = 7, k = 5, d = 4;
  std::vector<double> X, W, a, y;
  explicit Problem(unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal;
    auto fill = [&](std::vector<double>& v, std::size_t size, double scale) {
      v.resize(size);
      for (auto& x : v) x = scale * normal(rng);
    };
    fill(X, n * d, 1.0);
    fill(W, k * d, 0.7);
    fill(a, k, 1.0 / std::sqrt(double(k)));
    fill(y, n, 1.0);
  }
  // L(W) = (1/n) Σ_i (γ Σ_j a_j σ(w_j·x_i) − y_i)², written out directly.
  double loss(const std::vector<double>& w, double gamma, Activation act) const {
    double total = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      double f = 0;
      for (std::int64_t j = 0; j < k; ++j) {
        double z = 0;
        for (std::int64_t c = 0; c < d; ++c) z += w[j * d + c] * X[i * d + c];
        f += a[j] * activate(act, z);
      }
      total += (gamma * f - y[i]) * (gamma * f - y[i]);
    }
    return total / double(n);
  }
};

class GradientTest : public ::testing::TestWithParam<Activation> {};

TEST_P(GradientTest, MatchesFiniteDifferencesOfTheLoss) {
  const Activation act = GetParam();
  const double gamma = 0.8;
  Problem p(11);
  auto be = make_cpu_backend<double>();
  Buffer<double> X = be->upload(p.X, p.n, p.d), W = be->upload(p.W, p.k, p.d), a = be->upload(p.a, p.k, 1),
                 y = be->upload(p.y, p.n, 1);
  Buffer<double> Z = be->zeros(p.n, p.k), r = be->zeros(p.n, 1), G = be->zeros(p.k, p.d);
  const double loss = be->forward(X, W, a, y, gamma, act, Z, r);
  EXPECT_NEAR(loss, p.loss(p.W, gamma, act), 1e-12);
  be->gradient(X, r, a, gamma, act, Z, G);
  std::vector<double> g(p.k * p.d);
  be->download(G, g);

  const double h = 1e-6;
  for (std::size_t e = 0; e < g.size(); ++e) {
    std::vector<double> plus = p.W, minus = p.W;
    plus[e] += h;
    minus[e] -= h;
    const double fd = (p.loss(plus, gamma, act) - p.loss(minus, gamma, act)) / (2 * h);
    EXPECT_NEAR(g[e], fd, 1e-7 * std::max(1.0, std::abs(fd))) << "entry " << e;
  }
}

INSTANTIATE_TEST_SUITE_P(All, GradientTest, ::testing::Values(Activation::relu, Activation::sigmoid, Activation::tanh), activation_name);

TEST(Step, DescendsThenRenormalisesRows) {
  auto be = make_cpu_backend<double>();
  const std::vector<double> w = {3, 4, 1, 0}, g = {1, 0, 0, 2};
  Buffer<double> W = be->upload(w, 2, 2), G = be->upload(g, 2, 2);
  be->step(W, G, 0.5, true);
  std::vector<double> out(4);
  be->download(W, out);
  // Row 0: (3 − 0.5, 4) = (2.5, 4), norm √22.25; row 1: (1, −1), norm √2.
  EXPECT_NEAR(out[0], 2.5 / (std::sqrt(22.25) + 1e-8), 1e-15);
  EXPECT_NEAR(out[1], 4.0 / (std::sqrt(22.25) + 1e-8), 1e-15);
  EXPECT_NEAR(out[2], 1.0 / (std::sqrt(2.0) + 1e-8), 1e-15);
  EXPECT_NEAR(out[3], -1.0 / (std::sqrt(2.0) + 1e-8), 1e-15);
}

}  // namespace
}  // namespace lowrank
