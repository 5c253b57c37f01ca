// The CPU backend's forward pass and gradient in float64: ∇_W L against central finite
// differences of L, for every activation and loss, and the loss and the accuracy against a direct
// evaluation written out here.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>

#include "config.hpp"
#include "cpu_backend.hpp"

namespace lowrank {
namespace {

using Case = std::tuple<Activation, Loss>;

std::string case_name(const ::testing::TestParamInfo<Case>& p) {
  return std::string(to_string(std::get<0>(p.param))) + "_" + to_string(std::get<1>(p.param));
}

// ℓ(F, y) of SPEC §9, written out independently of scalar_math.hpp.
double direct_loss(Loss loss, double f, double y) {
  switch (loss) {
    case Loss::mse: return (f - y) * (f - y);
    case Loss::half_mse: return 0.5 * (f - y) * (f - y);
    case Loss::bce: {
      const double p = 1 / (1 + std::exp(-f));
      return -y * std::log(p) - (1 - y) * std::log(1 - p);
    }
    case Loss::hinge: return std::max(0.0, 1 - y * f);
  }
  return 0;
}

// The fraction of samples whose class F predicts, counted directly: bce's F is a logit, its class
// 1 where p = 1/(1 + e^−F) > ½, against y > ½; hinge's the sign of F against y = ±1.
double direct_accuracy(Loss loss, const std::vector<double>& F, const std::vector<double>& y) {
  double right = 0;
  for (std::size_t i = 0; i < F.size(); ++i) {
    const bool predicted = loss == Loss::bce ? 1 / (1 + std::exp(-F[i])) > 0.5 : F[i] > 0;
    right += predicted == (y[i] > (loss == Loss::bce ? 0.5 : 0.0));
  }
  return right / double(F.size());
}

struct Problem {
  std::int64_t n = 7, k = 5, d = 4;
  std::vector<double> X, W, a, y;
  explicit Problem(unsigned seed, Loss loss = Loss::mse) {
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
    // The labels each loss takes: a probability for bce, a class ±1 for hinge.
    for (auto& v : y) v = loss == Loss::bce ? 1 / (1 + std::exp(-v)) : loss == Loss::hinge ? (v > 0 ? 1.0 : -1.0) : v;
  }
  // The network's outputs F_i = γ Σ_j a_j σ(w_j·x_i), written out directly.
  std::vector<double> outputs(const std::vector<double>& w, double gamma, Activation act) const {
    std::vector<double> F(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      double f = 0;
      for (std::int64_t j = 0; j < k; ++j) {
        double z = 0;
        for (std::int64_t c = 0; c < d; ++c) z += w[j * d + c] * X[i * d + c];
        f += a[j] * activate(act, z);
      }
      F[static_cast<std::size_t>(i)] = gamma * f;
    }
    return F;
  }
  // L(W) = (1/n) Σ_i ℓ(F_i, y_i)
  double loss_of(const std::vector<double>& w, double gamma, Activation act, Loss loss) const {
    const std::vector<double> F = outputs(w, gamma, act);
    double total = 0;
    for (std::size_t i = 0; i < F.size(); ++i) total += direct_loss(loss, F[i], y[i]);
    return total / double(n);
  }
};

class GradientTest : public ::testing::TestWithParam<Case> {};

TEST_P(GradientTest, MatchesFiniteDifferencesOfTheLoss) {
  const auto [act, loss_kind] = GetParam();
  const double gamma = 0.8;
  Problem p(11, loss_kind);
  auto be = make_cpu_backend<double>();
  Buffer<double> X = be->upload(p.X, p.n, p.d), W = be->upload(p.W, p.k, p.d), a = be->upload(p.a, p.k, 1),
                 y = be->upload(p.y, p.n, 1);
  Buffer<double> Z = be->zeros(p.n, p.k), r = be->zeros(p.n, 1), G = be->zeros(p.k, p.d);
  const Evaluation evaluation = be->forward(X, W, a, y, gamma, act, loss_kind, Z, r);
  EXPECT_NEAR(evaluation.loss, p.loss_of(p.W, gamma, act, loss_kind), 1e-12);
  if (is_classification(loss_kind)) {
    EXPECT_DOUBLE_EQ(evaluation.accuracy, direct_accuracy(loss_kind, p.outputs(p.W, gamma, act), p.y));
  } else {
    EXPECT_TRUE(std::isnan(evaluation.accuracy));
  }
  be->gradient(X, r, a, gamma, act, Z, G, nullptr);
  std::vector<double> g(p.k * p.d);
  be->download(G, g);

  const double h = 1e-6;
  for (std::size_t e = 0; e < g.size(); ++e) {
    std::vector<double> plus = p.W, minus = p.W;
    plus[e] += h;
    minus[e] -= h;
    const double fd = (p.loss_of(plus, gamma, act, loss_kind) - p.loss_of(minus, gamma, act, loss_kind)) / (2 * h);
    EXPECT_NEAR(g[e], fd, 1e-7 * std::max(1.0, std::abs(fd))) << "entry " << e;
  }
}

std::vector<Case> every_case() {
  std::vector<Case> cases;
  for (const auto& [a, act] : kActivationNames)
    for (const auto& [l, loss] : kLossNames) cases.emplace_back(act, loss);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(All, GradientTest, ::testing::ValuesIn(every_case()), case_name);

// The digits case of the bce accuracy's bug: small logits (|F| < ½), where reading F as a
// probability (class 1 for F > ½) predicts class 0 for every sample and the logit's sign does not.
TEST(Accuracy, BceReadsFAsALogit) {
  Problem p(5, Loss::bce);
  const double gamma = 0.05;
  auto be = make_cpu_backend<double>();
  Buffer<double> X = be->upload(p.X, p.n, p.d), W = be->upload(p.W, p.k, p.d), a = be->upload(p.a, p.k, 1),
                 y = be->upload(p.y, p.n, 1);
  Buffer<double> Z = be->zeros(p.n, p.k), r = be->zeros(p.n, 1);
  const std::vector<double> F = p.outputs(p.W, gamma, Activation::relu);
  double as_probability = 0;  // the old rule's count: it must differ here, or the case proves nothing
  for (std::size_t i = 0; i < F.size(); ++i) {
    ASSERT_LT(std::abs(F[i]), 0.5);
    as_probability += (F[i] > 0.5) == (p.y[i] > 0.5);
  }
  const double accuracy = be->forward(X, W, a, y, gamma, Activation::relu, Loss::bce, Z, r).accuracy;
  EXPECT_DOUBLE_EQ(accuracy, direct_accuracy(Loss::bce, F, p.y));
  EXPECT_NE(accuracy, as_probability / double(p.n));
}

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
