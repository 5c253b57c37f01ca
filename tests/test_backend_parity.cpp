// Backend parity, in the manner of ggml's test-backend-ops: every backend operation, on fresh
// random inputs at several shapes, on the CUDA backend against the CPU backend, each within a
// stated error bound. Skipped where no GPU is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <sstream>

#include "config.hpp"
#include "cpu_backend.hpp"
#include "cuda_backend.hpp"
#include "linalg_testing.hpp"
#include "truncated_spectrum.hpp"

namespace lowrank {
namespace {

using Index = std::int64_t;

struct Shape {
  Index n, k, d;
};

// Both backends with the same inputs, uploaded from one host copy.
template <typename T>
struct Pair {
  std::unique_ptr<Backend<T>> cpu = make_cpu_backend<T>(), gpu = make_cuda_backend<T>();
  std::mt19937_64 rng{1234};

  std::vector<T> random(Index count, double scale) {
    std::normal_distribution<double> normal;
    std::vector<T> v(static_cast<std::size_t>(count));
    for (auto& x : v) x = static_cast<T>(scale * normal(rng));
    return v;
  }
  std::vector<T> get(Backend<T>& be, const Buffer<T>& b) {
    std::vector<T> h(static_cast<std::size_t>(b.size()));
    be.download(b, h);
    return h;
  }
};

// max_i |x_i − y_i| / (max_i |y_i| or 1e-300): the error relative to the array's scale.
template <typename T>
double relative_error(const std::vector<T>& x, const std::vector<T>& y) {
  double err = 0, scale = 1e-300;
  for (std::size_t i = 0; i < x.size(); ++i) {
    err = std::max(err, std::abs(double(x[i]) - double(y[i])));
    scale = std::max(scale, std::abs(double(y[i])));
  }
  return err / scale;
}

double relative_error(double x, double y) { return std::abs(x - y) / std::max(std::abs(y), 1e-300); }

// One operation: runs it on both backends and returns the largest relative error between them.
template <typename T>
using Op = std::function<double(Pair<T>&, const Shape&)>;

template <typename T>
struct OpCase {
  const char* name;
  Op<T> run;
  double bound64, bound32;  // for float64 and float32
};

// forward (Z = X Wᵀ and the readout), evaluate (no r), or readout alone on a given Z.
enum class ForwardMode { forward, evaluate, readout };

template <typename T>
double forward_op(Pair<T>& p, const Shape& s, ForwardMode mode) {
  const bool keep_residual = mode != ForwardMode::evaluate;
  const auto X = p.random(s.n * s.d, 1.0), W = p.random(s.k * s.d, 1.0 / std::sqrt(double(s.d))),
             a = p.random(s.k, 1.0 / std::sqrt(double(s.k))), raw = p.random(s.n, 1.0);
  double err = 0;
  for (const auto& [act_name, act] : kActivationNames)
    for (const auto& [loss_name, loss] : kLossNames) {
      std::vector<T> y(raw);  // the labels each loss takes: a probability for bce, a class ±1 for hinge
      for (auto& v : y)
        v = loss == Loss::bce ? T(1 / (1 + std::exp(-double(v)))) : loss == Loss::hinge ? T(v > 0 ? 1 : -1) : v;
      std::vector<T> r_of[2], z_of[2];
      Evaluation e[2];
      for (int b = 0; b < 2; ++b) {
        Backend<T>& be = b ? *p.gpu : *p.cpu;
        Buffer<T> Z = be.zeros(s.n, s.k), r = be.zeros(s.n, 1);
        const Buffer<T> Xb = be.upload(X, s.n, s.d), Wb = be.upload(W, s.k, s.d), ab = be.upload(a, s.k, 1),
                        yb = be.upload(y, s.n, 1);
        if (mode == ForwardMode::readout) be.gemm_nt(Xb, Wb, Z);
        e[b] = mode == ForwardMode::forward  ? be.forward(Xb, Wb, ab, yb, 0.7, act, loss, Z, r)
               : mode == ForwardMode::readout ? be.readout(Z, ab, yb, 0.7, act, loss, r)
                                              : be.evaluate(Xb, Wb, ab, yb, 0.7, act, loss, Z);
        z_of[b] = p.get(be, Z);
        r_of[b] = p.get(be, r);
      }
      err = std::max({err, relative_error(e[1].loss, e[0].loss), relative_error(z_of[1], z_of[0])});
      if (keep_residual) err = std::max(err, relative_error(r_of[1], r_of[0]));
      // The accuracy within one sample: an F at its class boundary may round either way.
      if (is_classification(loss) && std::abs(e[1].accuracy - e[0].accuracy) > 1.0 / double(s.n) + 1e-12)
        err = std::max(err, 1.0);
      if (!is_classification(loss) && !(std::isnan(e[0].accuracy) && std::isnan(e[1].accuracy)))
        err = std::max(err, 1.0);
    }
  return err;
}

template <typename T>
double gradient_op(Pair<T>& p, const Shape& s) {
  const auto X = p.random(s.n * s.d, 1.0), Z = p.random(s.n * s.k, 1.0), r = p.random(s.n, 1.0),
             a = p.random(s.k, 1.0 / std::sqrt(double(s.k)));
  std::vector<T> m_of[2], g_of[2];
  double err = 0;
  for (const auto& [name, act] : kActivationNames) {
    for (int b = 0; b < 2; ++b) {
      Backend<T>& be = b ? *p.gpu : *p.cpu;
      Buffer<T> Zb = be.upload(Z, s.n, s.k), G = be.zeros(s.k, s.d);
      be.gradient(be.upload(X, s.n, s.d), be.upload(r, s.n, 1), be.upload(a, s.k, 1), 0.9, act, Zb, G, nullptr);
      m_of[b] = p.get(be, Zb);
      g_of[b] = p.get(be, G);
    }
    err = std::max({err, relative_error(m_of[1], m_of[0]), relative_error(g_of[1], g_of[0])});
  }
  return err;
}

template <typename T>
double step_op(Pair<T>& p, const Shape& s) {
  const auto W = p.random(s.k * s.d, 1.0), G = p.random(s.k * s.d, 1.0);
  double err = 0;
  for (bool normalize : {true, false}) {
    std::vector<T> out[2];
    for (int b = 0; b < 2; ++b) {
      Backend<T>& be = b ? *p.gpu : *p.cpu;
      Buffer<T> Wb = be.upload(W, s.k, s.d);
      be.step(Wb, be.upload(G, s.k, s.d), 0.3, normalize);
      out[b] = p.get(be, Wb);
    }
    err = std::max(err, relative_error(out[1], out[0]));
  }
  return err;
}

// y + α x over a k×d array and a row of d (the X_Bᵀr update's shape).
template <typename T>
double axpy_op(Pair<T>& p, const Shape& s) {
  double err = 0;
  for (std::int64_t rows : {s.k, std::int64_t{1}}) {
    const auto x = p.random(rows * s.d, 1.0), y = p.random(rows * s.d, 1.0);
    std::vector<T> out[2];
    for (int b = 0; b < 2; ++b) {
      Backend<T>& be = b ? *p.gpu : *p.cpu;
      Buffer<T> yb = be.upload(y, rows, s.d);
      be.axpy(-0.7, be.upload(x, rows, s.d), yb);
      out[b] = p.get(be, yb);
    }
    err = std::max(err, relative_error(out[1], out[0]));
  }
  return err;
}

// Three optimiser steps (momentum with nesterov, then Adam, then AdamW, each with and without the
// renormalisation) over a k×d W: the new W and the state, both backends from the same start.
template <typename T>
double optimizer_op(Pair<T>& p, const Shape& s) {
  UpdateRule nesterov;
  nesterov.kind = UpdateKind::momentum;
  nesterov.lr = 0.3;
  nesterov.momentum = 0.9;
  nesterov.nesterov = true;
  const UpdateRule rules[] = {nesterov, adam_rule(0.01, 0.9, 0.999, 1e-8, 0.0, 3),
                              adam_rule(0.02, 0.8, 0.99, 1e-6, 0.1, 1)};
  double err = 0;
  for (const UpdateRule& rule : rules)
    for (bool normalize : {false, true}) {
      const auto W = p.random(s.k * s.d, 1.0), G = p.random(s.k * s.d, 1.0), m = p.random(s.k * s.d, 0.1);
      auto v = p.random(s.k * s.d, 0.1);
      for (T& x : v) x = x * x;  // a second moment is non-negative
      std::vector<T> out[2][3];
      for (int b = 0; b < 2; ++b) {
        Backend<T>& be = b ? *p.gpu : *p.cpu;
        Buffer<T> Wb = be.upload(W, s.k, s.d), mb = be.upload(m, s.k, s.d), vb = be.upload(v, s.k, s.d);
        const bool adam = rule.kind == UpdateKind::adam;
        be.optimizer_step(Wb, be.upload(G, s.k, s.d), mb, adam ? &vb : nullptr, rule, normalize);
        out[b][0] = p.get(be, Wb);
        out[b][1] = p.get(be, mb);
        out[b][2] = p.get(be, vb);
      }
      for (int i = 0; i < 3; ++i) err = std::max(err, relative_error(out[1][i], out[0][i]));
    }
  return err;
}

template <typename T>
double products_op(Pair<T>& p, const Shape& s) {
  const auto A = p.random(s.n * s.d, 1.0), x = p.random(s.n, 1.0), B = p.random(s.d * 2, 1.0),
             u = p.random(s.d, 1.0), v = p.random(s.d, 1.0);
  std::vector<T> y_of[2], c_of[2], nt_of[2];
  double dots[2], norms[2];
  std::vector<double> batched[2];
  for (int b = 0; b < 2; ++b) {
    Backend<T>& be = b ? *p.gpu : *p.cpu;
    const Buffer<T> Ab = be.upload(A, s.n, s.d);
    Buffer<T> y = be.zeros(s.d, 1), C = be.zeros(s.n, 2), Cnt = be.zeros(2, s.n);
    be.gemv_t(Ab, be.upload(x, s.n, 1), y);
    be.gemm(Ab, be.upload(B, s.d, 2), C);
    be.gemm_nt(be.upload(B, 2, s.d), Ab, Cnt);  // (2×d) Aᵀ
    y_of[b] = p.get(be, y);
    c_of[b] = p.get(be, C);
    nt_of[b] = p.get(be, Cnt);
    const Buffer<T> ub = be.upload(u, s.d, 1), vb = be.upload(v, s.d, 1), xb = be.upload(x, s.n, 1);
    dots[b] = be.dot(ub, vb);
    norms[b] = be.norm(ub);
    const DotPair<T> pairs[] = {{&ub, &vb}, {&xb, &xb}, {&vb, &vb}};  // lengths d, n, d
    batched[b] = be.dots(pairs);
  }
  double batched_error = 0;
  for (std::size_t i = 0; i < batched[0].size(); ++i)
    batched_error = std::max(batched_error, std::abs(batched[1][i] - batched[0][i]) / std::max(1.0, std::abs(batched[0][i])));
  return std::max({relative_error(y_of[1], y_of[0]), relative_error(c_of[1], c_of[0]), relative_error(nt_of[1], nt_of[0]),
                   std::abs(dots[1] - dots[0]) / (norms[0] * norms[0]), relative_error(norms[1], norms[0]),
                   batched_error});
}

template <typename T>
struct SpectrumPair {
  std::vector<double> values[2];
  std::vector<T> vector[2];
};

template <typename T>
SpectrumPair<T> spectra(Pair<T>& p, const Shape& s) {
  const auto M = p.random(s.n * s.k, 1.0), X = p.random(s.n * s.d, 1.0);
  SpectrumPair<T> out;
  for (int b = 0; b < 2; ++b) {
    Backend<T>& be = b ? *p.gpu : *p.cpu;
    const Buffer<T> Xb = be.upload(X, s.n, s.d);
    Spectrum<T> spec = be.spectrum(be.upload(M, s.n, s.k), *be.prepare(Xb), 0.25, nullptr);
    out.values[b] = spec.singular_values;
    out.vector[b] = p.get(be, spec.top_right_vector);
  }
  return out;
}

// The largest difference of a singular value as a fraction of SPEC §4's bound 1e-6·σ₁ + 1e-4·σᵢ.
template <typename T>
double singular_values_op(Pair<T>& p, const Shape& s) {
  const SpectrumPair<T> sp = spectra(p, s);
  const std::vector<double>&cpu = sp.values[0], &gpu = sp.values[1];
  double fraction = 0;
  for (std::size_t i = 0; i < cpu.size(); ++i)
    fraction = std::max(fraction, std::abs(gpu[i] - cpu[i]) / (1e-6 * cpu[0] + 1e-4 * cpu[i]));
  return fraction;
}

template <typename T>
double top_vector_op(Pair<T>& p, const Shape& s) {
  const SpectrumPair<T> sp = spectra(p, s);
  return relative_error(sp.vector[1], sp.vector[0]);
}

// The truncated spectrum (gemm_nt, orthonormalize_rows and gemm on the backend) on a spike over
// a Gaussian bulk, on each backend against LAPACK's float64 SVD of the same matrix: the largest
// error as a fraction of SPEC §4's bound.
template <typename T>
double truncated_op(Pair<T>& p, const Shape& s) {
  const Index k = s.k, d = s.d, rank = std::min<Index>(8, std::min(k, d));
  auto G = p.random(k * d, 0.1);
  const auto u = p.random(k, 1.0), v = p.random(d, 1.0);
  for (Index i = 0; i < k; ++i)
    for (Index j = 0; j < d; ++j) G[i * d + j] += static_cast<T>(u[i] * v[j] / std::sqrt(double(d)));
  const testing::Svd ref = testing::svd(std::vector<double>(G.begin(), G.end()), k, d);
  double fraction = 0;
  for (int b = 0; b < 2; ++b) {
    Backend<T>& be = b ? *p.gpu : *p.cpu;
    TruncatedSpectrum<T> truncated(be, k, d, rank, 5);
    const Spectrum<T> spec = truncated.compute(be.upload(G, k, d), nullptr);
    for (Index i = 0; i < rank; ++i)
      fraction = std::max(fraction, std::abs(spec.singular_values[i] - ref.s[i]) / (1e-6 * ref.s[0] + 1e-4 * ref.s[i]));
  }
  return fraction;
}

template <typename T>
double operator_norm_op(Pair<T>& p, const Shape& s) {
  const auto W = p.random(s.k * s.d, 1.0);
  double sigma[2];
  for (int b = 0; b < 2; ++b) {
    Backend<T>& be = b ? *p.gpu : *p.cpu;
    Buffer<T> start = be.zeros(s.d, 1);
    sigma[b] = be.operator_norm(be.upload(W, s.k, s.d), start);
  }
  return relative_error(sigma[1], sigma[0]);
}

template <typename T>
double angles_op(Pair<T>& p, const Shape& s) {
  const auto A = p.random(s.k * s.d, 1.0), B = p.random(s.k * s.d, 1.0);
  double deg[2];
  for (int b = 0; b < 2; ++b) {
    Backend<T>& be = b ? *p.gpu : *p.cpu;
    deg[b] = be.mean_principal_angle_deg(be.upload(A, s.k, s.d), be.upload(B, s.k, s.d));
  }
  return std::abs(deg[1] - deg[0]) / 90.0;
}

// The gradient penalty's Q and value for every activation, then the gradient with Q added to M.
template <typename T>
double penalty_op(Pair<T>& p, const Shape& s) {
  const auto X = p.random(s.n * s.d, 1.0), Z = p.random(s.n * s.k, 1.0), r = p.random(s.n, 1.0),
             a = p.random(s.k, 1.0 / std::sqrt(double(s.k)));
  std::vector<T> norms2(static_cast<std::size_t>(s.n));
  for (Index i = 0; i < s.n; ++i)
    for (Index j = 0; j < s.d; ++j) norms2[i] += X[i * s.d + j] * X[i * s.d + j];
  double err = 0;
  for (const auto& [name, act] : kActivationNames) {
    std::vector<T> q_of[2], g_of[2];
    double value[2];
    for (int b = 0; b < 2; ++b) {
      Backend<T>& be = b ? *p.gpu : *p.cpu;
      Buffer<T> Zb = be.upload(Z, s.n, s.k), Q = be.zeros(s.n, s.k), G = be.zeros(s.k, s.d);
      value[b] = be.gradient_penalty(Zb, be.upload(norms2, s.n, 1), be.upload(a, s.k, 1), 0.9, 0.4, act, Q);
      be.gradient(be.upload(X, s.n, s.d), be.upload(r, s.n, 1), be.upload(a, s.k, 1), 0.9, act, Zb, G, &Q);
      q_of[b] = p.get(be, Q);
      g_of[b] = p.get(be, G);
    }
    err = std::max({err, relative_error(value[1], value[0]), relative_error(q_of[1], q_of[0]),
                    relative_error(g_of[1], g_of[0])});
  }
  return err;
}

// The decomposition's products: σ'(Z) in place, Aᵀ B with a scale, A + α x yᵀ, Aᵀ, and every
// singular value (relative to the largest: both take them from a float64 Gram matrix).
template <typename T>
double decomposition_ops(Pair<T>& p, const Shape& s) {
  const auto Z = p.random(s.n * s.k, 1.0), X = p.random(s.n * s.d, 1.0), x = p.random(s.n, 1.0),
             y = p.random(s.k, 1.0);
  double err = 0;
  for (const auto& [name, act] : kActivationNames) {
    std::vector<T> out[2];
    for (int b = 0; b < 2; ++b) {
      Backend<T>& be = b ? *p.gpu : *p.cpu;
      Buffer<T> Zb = be.upload(Z, s.n, s.k);
      be.activation_derivative(Zb, act);
      out[b] = p.get(be, Zb);
    }
    err = std::max(err, relative_error(out[1], out[0]));
  }
  std::vector<T> tn[2], outer[2], t[2];
  std::vector<double> values[2];
  for (int b = 0; b < 2; ++b) {
    Backend<T>& be = b ? *p.gpu : *p.cpu;
    const Buffer<T> Zb = be.upload(Z, s.n, s.k);
    Buffer<T> C = be.zeros(s.k, s.d), A = be.upload(Z, s.n, s.k), Zt = be.zeros(s.k, s.n);
    be.gemm_tn(0.3, Zb, be.upload(X, s.n, s.d), C);
    be.add_outer(A, -0.7, be.upload(x, s.n, 1), be.upload(y, s.k, 1));
    be.transpose(Zb, Zt);
    tn[b] = p.get(be, C);
    outer[b] = p.get(be, A);
    t[b] = p.get(be, Zt);
    values[b] = be.singular_values(Zb);
  }
  return std::max({err, relative_error(tn[1], tn[0]), relative_error(outer[1], outer[0]), relative_error(t[1], t[0]),
                   relative_error(values[1], values[0])});
}

// The table: each operation, with its bound for float64 and for float32 (different summation
// orders in float32 give ~1e-6 relative differences on these sizes). The refit is not a backend
// operation: the driver runs it on the host (once per run) for both.
template <typename T>
std::vector<OpCase<T>> operations() {
  return {
      {"forward", [](Pair<T>& p, const Shape& s) { return forward_op(p, s, ForwardMode::forward); }, 1e-12, 1e-5},
      {"evaluate", [](Pair<T>& p, const Shape& s) { return forward_op(p, s, ForwardMode::evaluate); }, 1e-12, 1e-5},
      {"readout", [](Pair<T>& p, const Shape& s) { return forward_op(p, s, ForwardMode::readout); }, 1e-12, 1e-5},
      {"gradient", gradient_op<T>, 1e-12, 1e-5},
      {"step", step_op<T>, 1e-12, 1e-6},
      {"axpy", axpy_op<T>, 1e-15, 1e-7},
      {"optimizer_step", optimizer_op<T>, 1e-12, 1e-6},
      {"products", products_op<T>, 1e-12, 1e-5},
      {"singular_values", singular_values_op<T>, 1e-2, 1e-2},  // fraction of SPEC §4's bound
      {"top_vector", top_vector_op<T>, 1e-9, 1e-5},
      {"truncated_spectrum", truncated_op<T>, 1.0, 1.0},  // fraction of SPEC §4's bound, vs float64 LAPACK
      {"operator_norm", operator_norm_op<T>, 1e-9, 1e-6},
      {"principal_angles", angles_op<T>, 1e-10, 1e-7},
      {"gradient_penalty", penalty_op<T>, 1e-12, 1e-5},
      {"decomposition_products", decomposition_ops<T>, 1e-12, 1e-5},
  };
}

const Shape kShapes[] = {{37, 53, 29}, {20, 15, 40}, {60, 25, 30}, {33, 61, 47}, {750, 1250, 1000}};

struct ParityCase {
  int op;
  int shape;
};

std::string case_name(const ::testing::TestParamInfo<ParityCase>& info) {
  const Shape& s = kShapes[info.param.shape];
  std::ostringstream name;
  name << operations<double>()[static_cast<std::size_t>(info.param.op)].name << "_n" << s.n << "_k" << s.k << "_d"
       << s.d;
  return name.str();
}

void PrintTo(const ParityCase& c, std::ostream* os) { *os << c.op << "/" << c.shape; }

class BackendParity : public ::testing::TestWithParam<ParityCase> {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device present: GPU parity not checked here";
  }
};

template <typename T>
void check_case(const ParityCase& c) {
  Pair<T> p;
  const OpCase<T> op = operations<T>()[static_cast<std::size_t>(c.op)];
  const double err = op.run(p, kShapes[c.shape]);
  const double bound = std::is_same_v<T, double> ? op.bound64 : op.bound32;
  EXPECT_LE(err, bound) << op.name << (std::is_same_v<T, double> ? " float64" : " float32");
}

TEST_P(BackendParity, Float64) { check_case<double>(GetParam()); }
TEST_P(BackendParity, Float32) { check_case<float>(GetParam()); }

std::vector<ParityCase> all_cases() {
  std::vector<ParityCase> cases;
  for (int op = 0; op < static_cast<int>(operations<double>().size()); ++op)
    for (int shape = 0; shape < static_cast<int>(std::size(kShapes)); ++shape) cases.push_back({op, shape});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Ops, BackendParity, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace lowrank
