// The gradient's decomposition (SPEC §9) and the regularisers, on the CPU backend in float64:
// one epoch of the engine against S1, S12, S2, E, R, σ'_⊥ and ∇ built densely here from their
// definitions, with LAPACK SVDs; the rank-two closed form against dense SVDs; the regularised
// gradient against finite differences of the loss written out here.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu_backend.hpp"
#include "decomposition.hpp"
#include "epoch.hpp"
#include "linalg_testing.hpp"

namespace lowrank {
namespace {

using testing::gaussian;
using testing::svd;
using Matrix = std::vector<double>;  // row-major

const char* kSmall = R"(
seed = 5
precision = "float64"
[data]
d = 24
n = 18
n_test = 10
nu = 0.75
[model]
k = 20
loss = "half_mse"
a_init = "binary"
[decomposition]
every = 1
[[inputs]]
name = "tri"
teacher = "triple_index"
[[runs]]
name = "run"
inputs = "tri"
activation = "tanh"
gamma = 0.3
lr = 0.5
)";

// One run of `config` on the CPU backend, set up as the driver does, kept in place (the run's
// state points into its inputs).
struct Engine {
  Config config;
  Inputs in;
  std::unique_ptr<Backend<double>> be = make_cpu_backend<double>();
  DeviceInputs<double> data;
  RunState<double> run;
  explicit Engine(const std::vector<std::string>& overrides)
      : config(parse_config(kSmall, "test", overrides)), in(make_inputs(config, config.inputs.front())) {
    data = load_inputs(*be, in, config);
    run = start_run(*be, config, config.runs.front(), data, in);
  }
  EpochRecord epoch() {
    EpochRecord rec;
    EXPECT_TRUE(run_epoch(*be, run, {}, rec));
    ++run.epoch;
    return rec;
  }
};

Matrix transpose(const Matrix& A, std::int64_t m, std::int64_t n) {
  Matrix T(A.size());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) T[j * m + i] = A[i * n + j];
  return T;
}
double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}
double dot(const std::vector<double>& x, const std::vector<double>& y) {
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}
double abs_cos(const std::vector<double>& x, const std::vector<double>& y) {
  return std::abs(dot(x, y)) / (norm(x) * norm(y));
}
double largest(const Matrix& A, std::int64_t m, std::int64_t n) { return svd(A, m, n).s.at(0); }
// exp(−Σ p log(p + 1e-8)), written out again.
double entropy_rank(const std::vector<double>& s) {
  double total = 0, h = 0;
  for (double x : s) total += x;
  for (double x : s) h -= x / total * std::log(x / total + 1e-8);
  return std::exp(h);
}
std::vector<double> row(const Matrix& A, std::int64_t i, std::int64_t n) {
  return {A.begin() + i * n, A.begin() + (i + 1) * n};
}

// Everything at W (k×d) of one epoch, written out from the definitions.
struct Dense {
  std::int64_t n, k, d;
  Matrix grad, S1, S12, S2, E, R, sigma_perp;
  std::vector<double> mu, r, F;
  double loss = 0, penalty = 0, decay = 0;
};

Dense dense(const Config& c, const Inputs& in, const Matrix& W, double gamma, Activation act) {
  Dense D{in.n, in.k, in.d, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  const std::int64_t n = in.n, k = in.k, d = in.d;
  const double cn = gamma / double(n);
  const Matrix Z = testing::matmul(in.X_train, transpose(W, k, d), n, d, k);
  Matrix sp(Z.size());
  for (std::size_t e = 0; e < Z.size(); ++e) sp[e] = activate_derivative(act, Z[e]);
  D.F.assign(n, 0.0);
  D.r.resize(n);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < k; ++j) D.F[i] += gamma * in.a[j] * activate(act, Z[i * k + j]);
    D.r[i] = D.F[i] - in.y_train[i];
    D.loss += D.r[i] * D.r[i] / (2.0 * double(n));
  }
  D.mu.assign(k, 0.0);  // mu_source = "train"
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < k; ++j) D.mu[j] += sp[i * k + j] / double(n);
  D.sigma_perp = sp;
  Matrix P(n * k), Mfull(n * k);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < k; ++j) {
      D.sigma_perp[i * k + j] -= D.mu[j];
      P[i * k + j] = D.r[i] * in.a[j] * D.sigma_perp[i * k + j];
      Mfull[i * k + j] = D.r[i] * in.a[j] * sp[i * k + j];
    }
  Matrix XS(n * d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) XS[i * d + j] = in.zeta * in.z_train[i] * in.q[j];
  const Matrix Pt = transpose(P, n, k);
  D.S2 = testing::matmul(Pt, XS, k, n, d);
  D.E = testing::matmul(Pt, in.X_bulk_train, k, n, d);
  D.grad = testing::matmul(transpose(Mfull, n, k), in.X_train, k, n, d);
  const Matrix xbr = testing::matmul(transpose(in.X_bulk_train, n, d), D.r, d, n, 1),
               xsr = testing::matmul(transpose(XS, n, d), D.r, d, n, 1);
  D.S1.resize(k * d);
  D.S12.resize(k * d);
  for (std::int64_t j = 0; j < k; ++j)
    for (std::int64_t l = 0; l < d; ++l) {
      D.S1[j * d + l] = in.a[j] * D.mu[j] * xbr[l];
      D.S12[j * d + l] = in.a[j] * D.mu[j] * xsr[l];
    }
  for (Matrix* A : {&D.S1, &D.S12, &D.S2, &D.E, &D.grad})
    for (double& x : *A) x *= cn;
  D.R.resize(k * d);
  for (std::size_t e = 0; e < D.R.size(); ++e) D.R[e] = D.S1[e] + D.S12[e] + D.S2[e];
  // The regularisers: the notebook's penalty and its gradient, and weight decay.
  if (c.gradient_penalty > 0) {
    const double lambda = c.gradient_penalty;
    Matrix Q(n * k);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::vector<double> x = row(in.X_train, i, d);
      const double x2 = dot(x, x);
      for (std::int64_t j = 0; j < k; ++j) {
        const double s1 = sp[i * k + j], s2 = activate_second_derivative(act, Z[i * k + j]);
        D.penalty += lambda * gamma * gamma / (2.0 * double(n)) * x2 * in.a[j] * in.a[j] * s1 * s1;
        Q[i * k + j] = lambda * gamma * gamma / double(n) * in.a[j] * in.a[j] * x2 * s1 * s2;
      }
    }
    const Matrix reg = testing::matmul(transpose(Q, n, k), in.X_train, k, n, d);
    for (std::size_t e = 0; e < reg.size(); ++e) D.grad[e] += reg[e];
  }
  if (c.weight_decay > 0) {
    D.decay = c.weight_decay / 2 * dot(W, W);
    for (std::size_t e = 0; e < W.size(); ++e) D.grad[e] += c.weight_decay * W[e];
  }
  return D;
}

void expect_relative(double engine, double reference, double tolerance, const char* what) {
  EXPECT_NEAR(engine, reference, tolerance * std::max(std::abs(reference), 1e-300)) << what;
}

class DecompositionEpoch : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(DecompositionEpoch, MatchesDenseFloat64Matrices) {
  std::vector<std::string> overrides = GetParam();
  overrides.push_back("decomposition.mu_source=\"train\"");
  Engine engine(overrides);
  const Config& c = engine.config;
  const RunSpec& spec = c.runs.front();
  const std::int64_t k = c.k, d = c.d;
  engine.epoch();  // epoch 0, then check epoch 1 (a W_t that is not W0)
  std::vector<double> W(k * d);
  engine.be->download(engine.run[RunTensor::W], W);
  const EpochRecord rec = engine.epoch();
  const Dense D = dense(c, engine.in, W, spec.gamma, spec.activation);

  std::vector<double> G(k * d);
  engine.be->download(engine.run[RunTensor::G], G);
  for (std::size_t e = 0; e < G.size(); ++e) EXPECT_NEAR(G[e], D.grad[e], 1e-12 * norm(D.grad)) << "gradient " << e;
  expect_relative(rec.train_mse, D.loss + D.penalty + D.decay, 1e-12, "train loss with the regularisers");
  if (c.gradient_penalty > 0) expect_relative(rec.loss_gradient_penalty, D.penalty, 1e-12, "penalty term");
  if (c.weight_decay > 0) expect_relative(rec.loss_weight_decay, D.decay, 1e-12, "weight decay term");

  ASSERT_EQ(rec.mu.size(), static_cast<std::size_t>(k));
  for (std::int64_t j = 0; j < k; ++j) EXPECT_NEAR(rec.mu[j], D.mu[j], 1e-14) << "mu " << j;
  expect_relative(rec.mu_norm, norm(D.mu), 1e-13, "mu_norm");
  expect_relative(rec.opnorm_grad, largest(D.grad, k, d), 1e-9, "opnorm_grad");
  expect_relative(rec.opnorm_S1, largest(D.S1, k, d), 1e-10, "opnorm_S1");
  expect_relative(rec.opnorm_S12, largest(D.S12, k, d), 1e-10, "opnorm_S12");
  expect_relative(rec.opnorm_S2, largest(D.S2, k, d), 1e-10, "opnorm_S2");
  expect_relative(rec.opnorm_E, largest(D.E, k, d), 1e-9, "opnorm_E");
  const testing::Svd R = svd(D.R, k, d);
  expect_relative(rec.opnorm_R, R.s[0], 1e-10, "opnorm_R");
  EXPECT_NEAR(rec.sigma2_R, R.s[1], 1e-10 * R.s[0]) << "sigma2_R";
  EXPECT_LT(R.s[2], 1e-12 * R.s[0]) << "R has rank two";
  expect_relative(rec.opnorm_sigma_prime_perp, largest(D.sigma_perp, c.n, k), 1e-9, "opnorm_sigma_prime_perp");
  EXPECT_LT(rec.decomposition_residual, 1e-13);

  // R's top two right vectors V2 and the gradient's v_t, from the dense SVDs.
  const std::vector<double> v1 = row(R.vt, 0, d), v2 = row(R.vt, 1, d);
  const testing::Svd grad = svd(D.grad, k, d), weights = svd(W, k, d);
  auto energy = [&](const Matrix& A) {
    const double p1 = norm(testing::matmul(A, v1, k, d, 1)), p2 = norm(testing::matmul(A, v2, k, d, 1));
    return std::sqrt(p1 * p1 + p2 * p2) / norm(A);
  };
  expect_relative(rec.energy_grad_R2, energy(D.grad), 1e-10, "energy_grad_R2");
  expect_relative(rec.energy_weights_R2, energy(W), 1e-10, "energy_weights_R2");
  if (c.spectrum == SpectrumMethod::full)
    // The recorded spectrum is the Gram one (σᵢ within 1e-8·σ₁): its zero tail moves the rank by ~1e-7.
    expect_relative(rec.effective_rank_grad, entropy_rank(grad.s), 1e-6, "effective_rank_grad");
  else
    EXPECT_TRUE(std::isnan(rec.effective_rank_grad)) << "the truncated spectrum has no full set of values";
  expect_relative(rec.effective_rank_weights, entropy_rank(weights.s), 1e-9, "effective_rank_weights");
  double r_max = 0;
  for (double x : D.r) r_max = std::max(r_max, std::abs(x));
  expect_relative(rec.residual_max, r_max, 1e-12, "residual_max");
  expect_relative(rec.residual_norm, norm(D.r), 1e-12, "residual_norm");
  expect_relative(rec.cos_z_residual, abs_cos(engine.in.z_train, D.r), 1e-12, "cos_z_residual");
  const std::vector<double> xby =
      testing::matmul(transpose(engine.in.X_bulk_train, c.n, d), engine.in.y_train, d, c.n, 1);
  const std::vector<double> xbr = testing::matmul(transpose(engine.in.X_bulk_train, c.n, d), D.r, d, c.n, 1);
  EXPECT_NEAR(rec.align_label, abs_cos(grad.v1, xby), 1e-9);
  EXPECT_NEAR(rec.align_teacher, abs_cos(grad.v1, engine.in.beta), 1e-9);
  EXPECT_NEAR(rec.align_R_u1, std::abs(dot(grad.v1, v1)), 1e-9);
  EXPECT_NEAR(rec.align_R_u2, std::abs(dot(grad.v1, v2)), 1e-9);
  EXPECT_NEAR(rec.R_v1_data, std::abs(dot(v1, engine.in.q)), 1e-9);
  EXPECT_NEAR(rec.R_v1_residue, abs_cos(v1, xbr), 1e-9);
  EXPECT_NEAR(rec.R_v2_data, std::abs(dot(v2, engine.in.q)), 1e-9);
  EXPECT_NEAR(rec.R_v2_residue, abs_cos(v2, xbr), 1e-9);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecompositionEpoch,
    ::testing::Values(std::vector<std::string>{"runs.run.activation=\"relu\""}, std::vector<std::string>{},
                      std::vector<std::string>{"model.gradient_penalty=0.7", "model.weight_decay=0.05"},
                      std::vector<std::string>{"runs.run.activation=\"sigmoid\"", "model.gradient_penalty=2.0",
                                               "data.nu=0.0"},
                      std::vector<std::string>{"model.weight_decay=0.2", "spectrum.method=\"truncated\"",
                                               "spectrum.rank=4"}));

// ∇ of the regularised loss against central differences of (1/2n)Σ(F − y)² + penalty + (λ/2)‖W‖²
// written out in `dense`, for every activation.
TEST(Regularisers, GradientMatchesFiniteDifferences) {
  for (const auto& [name, act] : kActivationNames) {
    Engine engine({std::string("runs.run.activation=\"") + name + "\"", "model.gradient_penalty=0.9",
                   "model.weight_decay=0.3", "decomposition.every=0"});
    const Config& c = engine.config;
    const double gamma = c.runs.front().gamma;
    engine.epoch();
    std::vector<double> G(c.k * c.d);
    engine.be->download(engine.run[RunTensor::G], G);
    const std::vector<double>& W = engine.in.W0;
    auto total = [&](const std::vector<double>& w) {
      const Dense D = dense(c, engine.in, w, gamma, act);
      return D.loss + D.penalty + D.decay;
    };
    const double h = 1e-6;
    for (std::size_t e = 0; e < G.size(); e += 7) {
      std::vector<double> plus = W, minus = W;
      plus[e] += h;
      minus[e] -= h;
      const double fd = (total(plus) - total(minus)) / (2 * h);
      EXPECT_NEAR(G[e], fd, 1e-6 * std::max(1.0, std::abs(fd))) << name << " entry " << e;
    }
  }
}

TEST(Decomposition, SkippedEpochsAreNaNAndTheTrajectoryIsUnchanged) {
  Engine with({"decomposition.every=2"}), without({"decomposition.every=0"});
  for (int t = 0; t < 3; ++t) {
    const EpochRecord a = with.epoch(), b = without.epoch();
    EXPECT_EQ(a.train_mse, b.train_mse) << "epoch " << t;
    EXPECT_EQ(a.test_mse, b.test_mse) << "epoch " << t;
    EXPECT_EQ(a.singular_values, b.singular_values) << "epoch " << t;
    EXPECT_EQ(a.top_right_vector, b.top_right_vector) << "epoch " << t;
    EXPECT_EQ(a.align_residue, b.align_residue) << "epoch " << t;
    EXPECT_EQ(std::isnan(a.opnorm_E), t % 2 == 1) << "epoch " << t;
    ASSERT_EQ(a.mu.size(), static_cast<std::size_t>(with.config.k));
    EXPECT_EQ(std::isnan(a.mu[0]), t % 2 == 1) << "epoch " << t;
  }
}

// output.alignments records align_label, align_teacher and opnorm_grad without the decomposition:
// the same values, and none of the decomposition's series.
TEST(Decomposition, AlignmentsAloneAreTheDecompositionsOwn) {
  Engine with({}), alone({"decomposition.every=0", "output.alignments=true"});
  for (int t = 0; t < 2; ++t) {
    const EpochRecord a = with.epoch(), b = alone.epoch();
    EXPECT_EQ(a.align_label, b.align_label) << t;
    EXPECT_EQ(a.align_teacher, b.align_teacher) << t;
    EXPECT_EQ(a.opnorm_grad, b.opnorm_grad) << t;
    EXPECT_GT(b.align_label, 0.0);
    EXPECT_TRUE(b.mu.empty());
  }
  EXPECT_FALSE(alone.run.decomposition);
}

TEST(Decomposition, FreshMuAveragesTheEpochsOwnSamples) {
  Engine engine({"decomposition.n_mu=3000"});
  const Config& c = engine.config;
  const RunSpec& spec = c.runs.front();
  for (std::int64_t t = 0; t < 2; ++t) {
    std::vector<double> W(c.k * c.d);
    engine.be->download(engine.run[RunTensor::W], W);
    const EpochRecord rec = engine.epoch();
    const std::vector<double> X = draw_mu_samples(c, engine.in.q, t);
    ASSERT_EQ(X.size(), static_cast<std::size_t>(c.n_mu * c.d));
    const Matrix Z = testing::matmul(X, transpose(W, c.k, c.d), c.n_mu, c.d, c.k);
    for (std::int64_t j = 0; j < c.k; ++j) {
      double mean = 0;
      for (std::int64_t i = 0; i < c.n_mu; ++i) mean += activate_derivative(spec.activation, Z[i * c.k + j]);
      EXPECT_NEAR(rec.mu[j], mean / double(c.n_mu), 1e-13) << "epoch " << t << ", mu " << j;
    }
  }
  // Each epoch its own samples, of the data model: ⟨x, q⟩ has variance 1 + ζ².
  const std::vector<double> a = draw_mu_samples(c, engine.in.q, 0), b = draw_mu_samples(c, engine.in.q, 1);
  EXPECT_NE(a, b);
  double second = 0;
  for (std::int64_t i = 0; i < c.n_mu; ++i) {
    const double p = dot(row(a, i, c.d), engine.in.q);
    second += p * p / double(c.n_mu);
  }
  const double expected = 1 + engine.in.zeta * engine.in.zeta;
  EXPECT_NEAR(second, expected, 5 * expected * std::sqrt(2.0 / double(c.n_mu)));
}

// E[σ'(t)], t ~ N(0, s²): closed forms where they exist (relu: ½; softplus, whose σ' is the
// sigmoid: ½ by symmetry; elu: ½ + e^(s²/2) Φ(−s)), else Simpson's rule in g = t/s on a fine grid
// (the other activations' σ' are smooth), from tiny to huge s.
TEST(ExactMu, GaussianMeansOfEveryDerivative) {
  auto simpson = [](Activation act, double s) {
    const int m = 240000;  // even; g in [−12, 12]
    const double h = 24.0 / m;
    double sum = 0;
    for (int i = 0; i <= m; ++i) {
      const double g = -12 + i * h, f = activate_derivative(act, s * g) * std::exp(-g * g / 2) / std::sqrt(2 * M_PI);
      sum += f * (i == 0 || i == m ? 1 : i % 2 ? 4 : 2);
    }
    return sum * h / 3;
  };
  for (double s : {1e-3, 0.3, 1.0, 7.0, 143.0, 2000.0}) {
    EXPECT_NEAR(mean_derivative_gaussian(Activation::relu, s), 0.5, 1e-13) << s;
    EXPECT_NEAR(mean_derivative_gaussian(Activation::softplus, s), 0.5, 1e-13) << s;
    // e^(x²) erfc(x), x = s/√2, by its asymptotic series where e^(x²) overflows.
    const double x = s / std::sqrt(2.0), x2 = x * x;
    const double scaled = x < 20 ? std::exp(x2) * std::erfc(x)
                                 : (1 - 1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * x2 * x2 * x2)) / (x * std::sqrt(M_PI));
    EXPECT_NEAR(mean_derivative_gaussian(Activation::elu, s), 0.5 + 0.5 * scaled, 1e-12) << s;
    if (s > 7.0) continue;  // Simpson's grid in g resolves σ'(s g) up to s of a few
    for (Activation act : {Activation::sigmoid, Activation::tanh, Activation::swish}) {
      EXPECT_NEAR(mean_derivative_gaussian(act, s), simpson(act, s), 1e-11) << to_string(act) << " s = " << s;
    }
  }
  // Large s: the density is flat across σ'’s features, E ≈ (∫ σ') φ(0)/s + σ'(+∞) Φ-tails.
  EXPECT_NEAR(mean_derivative_gaussian(Activation::tanh, 2000.0), 2.0 / (2000.0 * std::sqrt(2 * M_PI)), 1e-9);
  EXPECT_NEAR(mean_derivative_gaussian(Activation::sigmoid, 2000.0), 1.0 / (2000.0 * std::sqrt(2 * M_PI)), 1e-9);
  EXPECT_EQ(mean_derivative_gaussian(Activation::tanh, 0.0), 1.0) << "s = 0: sigma'(0)";
}

// μ exact is the population mean the fresh samples estimate: each μ_j within 5 standard errors
// of 20000 samples' mean, and equal to E[σ'] at s_j² = ‖w_j‖² + ζ²(w_jᵀq)² (α = 0).
TEST(ExactMu, IsWhatFreshSamplesEstimate) {
  Engine exact({"decomposition.mu_source=\"exact\""}), fresh({"decomposition.n_mu=20000"});
  const EpochRecord a = exact.epoch(), b = fresh.epoch();
  const Config& c = exact.config;
  const std::vector<double>& W = exact.in.W0;
  const std::vector<double> X = draw_mu_samples(c, exact.in.q, 0);
  for (std::int64_t j = 0; j < c.k; ++j) {
    const std::vector<double> w = row(W, j, c.d);
    const double wq = dot(w, exact.in.q), s = std::sqrt(dot(w, w) + exact.in.zeta * exact.in.zeta * wq * wq);
    EXPECT_NEAR(a.mu[j], mean_derivative_gaussian(Activation::tanh, s), 1e-12) << j;
    double second = 0;  // the samples' variance of σ'(w_jᵀx), for the standard error
    for (std::int64_t i = 0; i < c.n_mu; ++i) {
      const double v = activate_derivative(Activation::tanh, dot(row(X, i, c.d), w)) - b.mu[j];
      second += v * v / double(c.n_mu);
    }
    EXPECT_NEAR(a.mu[j], b.mu[j], 5 * std::sqrt(second / double(c.n_mu)) + 1e-12) << j;
  }
}

// The closed form against a dense SVD of u xᵀ + p qᵀ, including the degenerate spans.
TEST(RankTwoSvd, MatchesDenseSvd) {
  std::mt19937_64 rng(3);
  const std::int64_t k = 9, d = 13;
  const std::vector<double> u = gaussian(rng, k), p = gaussian(rng, k), q0 = gaussian(rng, d), x0 = gaussian(rng, d);
  std::vector<double> small_p = p;
  for (double& v : small_p) v *= 1e-7;
  struct Case {
    const char* name;
    std::vector<double> u, x, p, q;
  };
  const std::vector<double> zero_d(d, 0.0), twice_q = [&] {
    std::vector<double> v = q0;
    for (double& e : v) e *= 2;
    return v;
  }();
  for (const Case& cs : {Case{"generic", u, x0, p, q0}, Case{"sigma2 tiny", u, x0, small_p, q0},
                         Case{"x = 0", u, zero_d, p, q0}, Case{"x parallel to q", u, twice_q, p, q0},
                         Case{"u parallel to p", u, x0, u, q0}}) {
    const double c = 0.37;
    Matrix R(k * d);
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t j = 0; j < d; ++j) R[i * d + j] = c * (cs.u[i] * cs.x[j] + cs.p[i] * cs.q[j]);
    const testing::Svd ref = svd(R, k, d);
    const RankTwoSvd got = rank_two_svd(c, cs.u, cs.x, cs.p, cs.q);
    EXPECT_NEAR(got.sigma1, ref.s[0], 1e-13 * ref.s[0]) << cs.name;
    EXPECT_NEAR(got.sigma2, ref.s[1], 1e-13 * ref.s[0]) << cs.name;
    EXPECT_NEAR(std::abs(dot(got.v1, row(ref.vt, 0, d))), 1.0, 1e-12) << cs.name;
    if (ref.s[1] > 1e-12 * ref.s[0]) {
      EXPECT_NEAR(std::abs(dot(got.v2, row(ref.vt, 1, d))), 1.0, 1e-9) << cs.name;
      EXPECT_NEAR(got.sigma2, ref.s[1], 1e-9 * ref.s[1]) << cs.name << ": relative, small as it is";
    } else {  // rank one up to rounding: any unit vector orthogonal to v1 (or none) will do
      EXPECT_TRUE(norm(got.v2) == 0.0 || std::abs(norm(got.v2) - 1.0) < 1e-12) << cs.name;
      EXPECT_LT(std::abs(dot(got.v1, got.v2)), 1e-12) << cs.name;
    }
  }
}

TEST(EffectiveRank, HandValues) {
  // Four equal values: p = 1/4 each, so exp(−log(1/4 + 1e-8)) = 1/(1/4 + 1e-8).
  EXPECT_DOUBLE_EQ(effective_rank({2, 2, 2, 2}), 1 / (0.25 + 1e-8));
  // One non-zero value: p = (1, 0, 0): exp(−log(1 + 1e-8)).
  EXPECT_DOUBLE_EQ(effective_rank({5, 0, 0}), 1 / (1 + 1e-8));
  EXPECT_TRUE(std::isnan(effective_rank({0, 0})));
  EXPECT_TRUE(std::isnan(effective_rank({})));
}

}  // namespace
}  // namespace lowrank
