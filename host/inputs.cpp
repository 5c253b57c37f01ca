#include "inputs.hpp"

#include <curand.h>

#include <cmath>
#include <future>
#include <memory>
#include <stdexcept>

namespace lowrank {
namespace {

void check(curandStatus_t status, const char* call) {
  if (status != CURAND_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuRAND: ") + call + " failed with status " + std::to_string(status));
}

using Generator = std::unique_ptr<curandGenerator_st, void (*)(curandGenerator_t)>;

Generator philox(std::uint64_t seed, Stream stream, int group) {
  curandGenerator_t g = nullptr;
  check(curandCreateGeneratorHost(&g, CURAND_RNG_PSEUDO_PHILOX4_32_10), "curandCreateGeneratorHost");
  Generator owned(g, [](curandGenerator_t h) { curandDestroyGenerator(h); });
  check(curandSetPseudoRandomGeneratorSeed(g, stream_seed(seed, stream, group)), "curandSetPseudoRandomGeneratorSeed");
  check(curandSetGeneratorOffset(g, 0), "curandSetGeneratorOffset");
  return owned;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void normalize(std::vector<double>& v, std::size_t begin, std::size_t length) {
  double s = 0;
  for (std::size_t i = 0; i < length; ++i) s += v[begin + i] * v[begin + i];
  const double inv = 1.0 / std::sqrt(s);
  for (std::size_t i = 0; i < length; ++i) v[begin + i] *= inv;
}

// ζ = n^ν (SPEC §2), for the training and the test set alike.
double spike_strength(const Config& c) { return std::pow(static_cast<double>(c.n), c.nu); }

// X = X_B + ζ z qᵀ with X_B = G·diag(i^(-α/2)): one data set of the spiked model.
struct SpikedDraw {
  std::vector<double> X, X_bulk, z;
};

SpikedDraw draw_spiked(const Config& c, int group, std::int64_t rows, const std::vector<double>& q, Stream bulk,
                       Stream latent) {
  const auto d = static_cast<std::size_t>(c.d);
  SpikedDraw s;
  s.X_bulk = draw_normal(c.seed, bulk, group, static_cast<std::size_t>(rows) * d);
  s.z = draw_normal(c.seed, latent, group, static_cast<std::size_t>(rows));
  std::vector<double> scale(d);
  for (std::size_t j = 0; j < d; ++j) scale[j] = std::pow(static_cast<double>(j + 1), -c.alpha / 2);
  const double zeta = spike_strength(c);
  s.X.resize(s.X_bulk.size());
  for (std::size_t i = 0; i < static_cast<std::size_t>(rows); ++i)
    for (std::size_t j = 0; j < d; ++j) {
      double& b = s.X_bulk[i * d + j];
      b *= scale[j];
      s.X[i * d + j] = b + zeta * s.z[i] * q[j];
    }
  return s;
}

// The label of a sample whose teacher value is f = f*(x), for the configuration's loss (SPEC §9):
// f + τε for the squared losses, f itself for bce, the class sign(f − ½) for hinge.
double label(Loss loss, double f, double noise) {
  switch (loss) {
    case Loss::mse:
    case Loss::half_mse: return f + noise;
    case Loss::bce: return f;
    case Loss::hinge: return f > 0.5 ? 1.0 : f < 0.5 ? -1.0 : 0.0;  // torch's sign(): 0 at 0
  }
  return f;
}

// y = label(σ*(Xβ), τε)
std::vector<double> teacher_targets(const Config& c, Activation teacher, const std::vector<double>& X,
                                    const std::vector<double>& beta, std::int64_t rows, Stream noise, int group) {
  const auto d = static_cast<std::size_t>(c.d);
  const std::vector<double> eps = draw_normal(c.seed, noise, group, static_cast<std::size_t>(rows));
  std::vector<double> y(static_cast<std::size_t>(rows));
  for (std::size_t i = 0; i < y.size(); ++i) {
    double dot = 0;
    for (std::size_t j = 0; j < d; ++j) dot += X[i * d + j] * beta[j];
    y[i] = label(c.loss, activate(teacher, dot), c.tau * eps[i]);
  }
  return y;
}

}  // namespace

std::uint64_t stream_seed(std::uint64_t seed, Stream stream, int group) {
  return splitmix64(splitmix64(seed) ^ splitmix64((static_cast<std::uint64_t>(stream) << 32) |
                                                  static_cast<std::uint32_t>(group)));
}

std::vector<double> draw_normal(std::uint64_t seed, Stream stream, int group, std::size_t n) {
  // cuRAND's normal generators produce pairs (Box–Muller): draw an even count.
  std::vector<double> v(n + (n % 2));
  Generator g = philox(seed, stream, group);
  check(curandGenerateNormalDouble(g.get(), v.data(), v.size(), 0.0, 1.0), "curandGenerateNormalDouble");
  v.resize(n);
  return v;
}

std::vector<double> draw_uniform(std::uint64_t seed, Stream stream, int group, std::size_t n) {
  std::vector<double> v(n);
  Generator g = philox(seed, stream, group);
  check(curandGenerateUniformDouble(g.get(), v.data(), v.size()), "curandGenerateUniformDouble");
  return v;
}

Inputs make_inputs(const Config& c, const InputsSpec& spec) {
  Inputs in;
  in.name = spec.name;
  in.teacher = spec.teacher;
  in.n = c.n;
  in.n_test = c.n_test;
  in.d = c.d;
  in.k = c.k;
  const auto d = static_cast<std::size_t>(c.d), k = static_cast<std::size_t>(c.k);

  // Every tensor has a stream of its own, so the three large draws (W0, the train and the test
  // set) run on threads of their own, with results bit-identical to drawing them in turn.
  auto W0 = std::async(std::launch::async, [&c, d, k] {
    std::vector<double> w = draw_normal(c.seed, Stream::weights0, 0, k * d);
    for (std::size_t j = 0; j < k; ++j) normalize(w, j * d, d);
    return w;
  });

  // Shared by every group: q, W0, a (group 0's streams).
  in.q = draw_normal(c.seed, Stream::spike, 0, d);
  normalize(in.q, 0, d);
  const double inv_sqrt_k = 1.0 / std::sqrt(static_cast<double>(k));
  if (c.a_init == AInit::normal) {
    in.a = draw_normal(c.seed, Stream::readout, 0, k);
    for (double& x : in.a) x *= inv_sqrt_k;
  } else {
    in.a = draw_uniform(c.seed, Stream::readout, 0, k);
    const double high = c.a_init == AInit::rademacher ? inv_sqrt_k : 0.0;
    for (double& x : in.a) x = x <= 0.5 ? -inv_sqrt_k : high;
  }

  // Per group: the teacher and the train and test sets.
  const int g = spec.index;
  in.beta = draw_normal(c.seed, Stream::teacher, g, d);
  normalize(in.beta, 0, d);
  auto test_draw = std::async(std::launch::async, [&c, &in, &spec, g] {
    SpikedDraw test = draw_spiked(c, g, c.n_test, in.q, Stream::bulk_test, Stream::latent_test);
    in.y_test = teacher_targets(c, spec.teacher, test.X, in.beta, c.n_test, Stream::noise_test, g);
    in.X_test = std::move(test.X);
  });
  SpikedDraw train = draw_spiked(c, g, c.n, in.q, Stream::bulk_train, Stream::latent_train);
  in.y_train = teacher_targets(c, spec.teacher, train.X, in.beta, c.n, Stream::noise_train, g);
  in.X_train = std::move(train.X);
  in.X_bulk_train = std::move(train.X_bulk);
  in.z_train = std::move(train.z);
  in.zeta = spike_strength(c);
  test_draw.get();
  in.W0 = W0.get();
  return in;
}

}  // namespace lowrank
