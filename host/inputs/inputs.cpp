#include "inputs.hpp"

#include <cmath>
#include <future>
#include <optional>
#include <memory>
#include <thread>
#include <algorithm>
#include <stdexcept>

#include "data_file.hpp"
#include "philox.hpp"
#include "spectral.hpp"

namespace lowrank {
namespace {

// n standard normals from the Philox stream of `philox_seed`, position 0.
std::vector<double> draw_normal_seeded(std::uint64_t philox_seed, std::size_t n) {
  std::vector<double> v(n);
  philox_normal_double(philox_seed, v);
  return v;
}

void normalize(std::vector<double>& v, std::size_t begin, std::size_t length) {
  double s = 0;
  for (std::size_t i = 0; i < length; ++i) s += v[begin + i] * v[begin + i];
  const double inv = 1.0 / std::sqrt(s);
  for (std::size_t i = 0; i < length; ++i) v[begin + i] *= inv;
}

// ζ = n^ν (SPEC §2), for the training and the test set alike; 0 without a spike.
double spike_strength(const Config& c) { return c.spike ? std::pow(static_cast<double>(c.n), c.nu) : 0.0; }

// X = X_B + ζ z qᵀ with X_B = G·diag(i^(-α/2)): one data set of the spiked model.
struct SpikedDraw {
  std::vector<double> X, X_bulk, z;
};

// X_B += noise_level·N(0, 1) (the `input_noise` stream) before the spike is added.
SpikedDraw draw_spiked(const Config& c, int group, std::int64_t rows, const std::vector<double>& q, Stream bulk,
                       Stream latent, Stream input_noise, double noise_level) {
  const auto d = static_cast<std::size_t>(c.d);
  SpikedDraw s;
  s.X_bulk = draw_normal(c.seed, bulk, group, static_cast<std::size_t>(rows) * d);
  s.z = draw_normal(c.seed, latent, group, static_cast<std::size_t>(rows));
  const std::vector<double> noise =
      noise_level > 0 ? draw_normal(c.seed, input_noise, group, s.X_bulk.size()) : std::vector<double>();
  std::vector<double> scale(d);
  for (std::size_t j = 0; j < d; ++j) scale[j] = std::pow(static_cast<double>(j + 1), -c.alpha / 2);
  const double zeta = spike_strength(c);
  s.X.resize(s.X_bulk.size());
  for (std::size_t i = 0; i < static_cast<std::size_t>(rows); ++i)
    for (std::size_t j = 0; j < d; ++j) {
      double& b = s.X_bulk[i * d + j];
      b *= scale[j];
      if (!noise.empty()) b += noise_level * noise[i * d + j];
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

// ⟨row i of X, v⟩
double row_dot(const std::vector<double>& X, std::size_t i, const std::vector<double>& v) {
  double dot = 0;
  for (std::size_t j = 0; j < v.size(); ++j) dot += X[i * v.size() + j] * v[j];
  return dot;
}

// y = label(f*(x), τε), f*(x) = σ*(βᵀx) or the triple index sigmoid(β₁ᵀx) + tanh(β₂ᵀx) + relu(β₃ᵀx).
std::vector<double> teacher_targets(const Config& c, const Inputs& in, const std::vector<double>& X,
                                    std::int64_t rows, Stream noise) {
  const std::vector<double> eps = draw_normal(c.seed, noise, in.spec.index, static_cast<std::size_t>(rows));
  std::vector<double> y(static_cast<std::size_t>(rows));
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double f = in.spec.triple_index ? activate(Activation::sigmoid, row_dot(X, i, in.beta)) +
                                                activate(Activation::tanh, row_dot(X, i, in.beta_2)) +
                                                activate(Activation::relu, row_dot(X, i, in.beta_3))
                                          : activate(in.spec.teacher, row_dot(X, i, in.beta));
    y[i] = label(c.loss, f, c.tau * eps[i]);
  }
  return y;
}

// A teacher direction: uniform on the unit sphere, or N(0, I/d).
std::vector<double> draw_beta(const Config& c, BetaInit init, Stream stream, int group) {
  const auto d = static_cast<std::size_t>(c.d);
  std::vector<double> beta = draw_normal(c.seed, stream, group, d);
  if (init == BetaInit::unit) {
    normalize(beta, 0, d);
  } else {
    for (double& b : beta) b /= std::sqrt(static_cast<double>(d));
  }
  return beta;
}

// data.source = "file": X (and X_test, y, y_test where given) from the files, centred and
// row-normalised as asked, and the spike estimated (SPEC §9): q the top right singular vector of
// X (its largest entry positive), ζz = Xq with ζ = ‖Xq‖/√n, X_B = X − (Xq)qᵀ. Labels not in the
// files come from the group's teacher.
void load_file_data(const Config& c, Inputs& in) {
  const DataFiles& f = c.data_files;
  auto read = [](const char* key, const std::string& text) {
    const std::string name = std::string("data.") + key;
    return read_array(name, parse_array_source(name, text));
  };
  const auto n = static_cast<std::size_t>(c.n), d = static_cast<std::size_t>(c.d);
  std::vector<double> X = read("x", f.x);
  std::vector<double> X_test = f.x_test.empty() ? X : read("x_test", f.x_test);
  if (f.center) {
    std::vector<double> mean(d, 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j) mean[j] += X[i * d + j] / static_cast<double>(n);
    for (std::vector<double>* A : {&X, &X_test})
      for (std::size_t e = 0; e < A->size(); ++e) (*A)[e] -= mean[e % d];
  }
  if (f.unit_rows)
    for (std::vector<double>* A : {&X, &X_test})
      for (std::size_t row = 0; row < A->size() / d; ++row) {
        double s = 0;
        for (std::size_t j = 0; j < d; ++j) s += (*A)[row * d + j] * (*A)[row * d + j];
        if (s > 0) normalize(*A, row * d, d);
      }
  in.q.assign(d, 0.0);
  spectral::largest_singular_value(X.data(), c.n, c.d, in.q);
  if (*std::max_element(in.q.begin(), in.q.end(), [](double a, double b) { return std::abs(a) < std::abs(b); }) < 0)
    for (double& v : in.q) v = -v;
  std::vector<double> Xq(n);
  double norm2 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Xq[i] = row_dot(X, i, in.q);
    norm2 += Xq[i] * Xq[i];
  }
  in.zeta = std::sqrt(norm2 / static_cast<double>(n));
  in.z_train.resize(n);
  for (std::size_t i = 0; i < n; ++i) in.z_train[i] = in.zeta > 0 ? Xq[i] / in.zeta : 0.0;
  in.X_bulk_train = X;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) in.X_bulk_train[i * d + j] -= Xq[i] * in.q[j];
  // Labels: the files', checked against the loss, or the teacher's.
  auto labels = [&](const char* key, const std::string& text) {
    std::vector<double> y = read(key, text);
    for (double v : y) {
      if (c.loss == Loss::bce && !(v >= 0 && v <= 1))
        throw ConfigError(std::string("'data.") + key + "': label " + std::to_string(v) +
                          " is not in [0, 1], which model.loss = \"bce\" takes");
      if (c.loss == Loss::hinge && v != 1 && v != -1 && v != 0)
        throw ConfigError(std::string("'data.") + key + "': label " + std::to_string(v) +
                          " is not a class -1 or 1, which model.loss = \"hinge\" takes");
    }
    return y;
  };
  in.y_train = f.y.empty() ? teacher_targets(c, in, X, c.n, Stream::noise_train) : labels("y", f.y);
  in.y_test = !f.y_test.empty()  ? labels("y_test", f.y_test)
              : f.x_test.empty() ? in.y_train
                                 : teacher_targets(c, in, X_test, c.n_test, Stream::noise_test);
  in.X_train = std::move(X);
  in.X_test = std::move(X_test);
}

}  // namespace

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t stream_seed(std::uint64_t seed, Stream stream, int group) {
  return splitmix64(splitmix64(seed) ^ splitmix64((static_cast<std::uint64_t>(stream) << 32) |
                                                  static_cast<std::uint32_t>(group)));
}

std::vector<double> draw_normal(std::uint64_t seed, Stream stream, int group, std::size_t n) {
  return draw_normal_seeded(stream_seed(seed, stream, group), n);
}

std::vector<double> draw_uniform(std::uint64_t seed, Stream stream, int group, std::size_t n) {
  std::vector<double> v(n);
  philox_uniform_double(stream_seed(seed, stream, group), v);
  return v;
}

Inputs make_inputs(const Config& c, const InputsSpec& spec) {
  Inputs in;
  in.name = spec.name;
  in.spec = spec;
  in.n = c.n;
  in.n_test = c.n_test;
  in.d = c.d;
  in.k = c.k;
  const auto d = static_cast<std::size_t>(c.d), k = static_cast<std::size_t>(c.k);

  // Every tensor has a stream of its own, so the three large draws (W0, the train and the test
  // set) run on threads of their own, with results bit-identical to drawing them in turn.
  // A tensor the inputs group takes from a file ([[inputs]] W0 = ..., read_tensors_from_files
  // checked its shape), or none.
  auto from_file = [&spec](InputsTensor t) -> std::optional<std::vector<double>> {
    const TensorFromFile& f = spec.file_of(t);
    if (f.source.empty()) return std::nullopt;
    const std::string key = spec.file_key(t);
    return read_array(key, parse_array_source(key, f.source), f.row);
  };
  const bool W0_from_file = !spec.file_of(InputsTensor::W0).source.empty();
  auto W0 = std::async(std::launch::async, [&c, d, k, W0_from_file] {
    if (W0_from_file) return std::vector<double>{};
    std::vector<double> w = draw_normal(c.seed, Stream::weights0, 0, k * d);
    if (c.w_init == WInit::unit_rows) {
      for (std::size_t j = 0; j < k; ++j) normalize(w, j * d, d);
    } else {
      for (double& x : w) x *= c.w_scale / std::sqrt(static_cast<double>(d));
    }
    return w;
  });

  // Drawn alike for every group: q, W0, a (group 0's streams), unless the group takes them from a file.
  in.q = draw_normal(c.seed, Stream::spike, 0, d);
  normalize(in.q, 0, d);
  if (auto q = from_file(InputsTensor::q)) in.q = std::move(*q);
  const double inv_sqrt_k = 1.0 / std::sqrt(static_cast<double>(k));
  if (c.a_init == AInit::normal) {
    in.a = draw_normal(c.seed, Stream::readout, 0, k);
    for (double& x : in.a) x *= inv_sqrt_k;
  } else {  // two values, each with probability ½: {−s, s} or {−s, 0}
    const bool scaled = c.a_init == AInit::rademacher || c.a_init == AInit::seed_binary;
    const double low = scaled ? -inv_sqrt_k : -1.0, high = c.a_init == AInit::rademacher ? inv_sqrt_k : 0.0;
    in.a = draw_uniform(c.seed, Stream::readout, 0, k);
    for (double& x : in.a) x = x <= 0.5 ? low : high;
    // binary_unit: a / ‖a‖ (all-zero a, with probability 2^−k, stays zero)
    double norm2 = 0;
    for (double x : in.a) norm2 += x * x;
    if (c.a_init == AInit::binary_unit && norm2 > 0)
      for (double& x : in.a) x /= std::sqrt(norm2);
  }

  if (auto a = from_file(InputsTensor::a)) in.a = std::move(*a);

  // Per group: the teacher and the train and test sets.
  const int g = spec.index;
  in.beta = draw_beta(c, spec.beta_init, Stream::teacher, g);
  if (auto beta = from_file(InputsTensor::beta)) in.beta = std::move(*beta);
  if (spec.triple_index) {
    in.beta_2 = draw_beta(c, spec.beta_init, Stream::teacher_2, g);
    in.beta_3 = draw_beta(c, spec.beta_init, Stream::teacher_3, g);
  }
  if (c.data_source == DataSource::file) {
    load_file_data(c, in);
    in.W0 = W0.get();
    if (auto w = from_file(InputsTensor::W0)) in.W0 = std::move(*w);
    return in;
  }
  auto test_draw = std::async(std::launch::async, [&c, &in, g] {
    SpikedDraw test = draw_spiked(c, g, c.n_test, in.q, Stream::bulk_test, Stream::latent_test, Stream::input_noise_test,
                                   in.spec.input_noise);
    in.y_test = teacher_targets(c, in, test.X, c.n_test, Stream::noise_test);
    in.X_test = std::move(test.X);
  });
  SpikedDraw train =
      draw_spiked(c, g, c.n, in.q, Stream::bulk_train, Stream::latent_train, Stream::input_noise_train, spec.input_noise);
  in.y_train = teacher_targets(c, in, train.X, c.n, Stream::noise_train);
  in.X_train = std::move(train.X);
  in.X_bulk_train = std::move(train.X_bulk);
  in.z_train = std::move(train.z);
  in.zeta = spike_strength(c);
  test_draw.get();
  in.W0 = W0.get();
  if (auto w = from_file(InputsTensor::W0)) in.W0 = std::move(*w);
  return in;
}

template <typename T>
void draw_mu_samples(const Config& c, const std::vector<double>& q, std::int64_t epoch, std::span<T> out) {
  const auto d = static_cast<std::size_t>(c.d);
  const std::int64_t blocks = (c.n_mu + kMuBlockRows - 1) / kMuBlockRows;
  if (out.size() != static_cast<std::size_t>(c.n_mu) * d) throw std::invalid_argument("draw_mu_samples: wrong size");
  std::vector<double> scale(d);
  for (std::size_t j = 0; j < d; ++j) scale[j] = std::pow(static_cast<double>(j + 1), -c.alpha / 2);
  const double zeta = spike_strength(c);
  // Block b of rows from streams of its own: (seed, stream, epoch) mixed with b. Epochs stay below
  // kMaxEpochs < 2³¹: the epoch fits the stream key's group field.
  auto block_seed = [&](Stream stream, std::int64_t b) {
    return splitmix64(stream_seed(c.seed, stream, static_cast<int>(epoch)) ^ splitmix64(static_cast<std::uint64_t>(b)));
  };
  auto draw_blocks = [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t b = first; b < last; ++b) {
      const std::int64_t row0 = b * kMuBlockRows, rows = std::min(kMuBlockRows, c.n_mu - row0);
      const std::vector<double> bulk = draw_normal_seeded(block_seed(Stream::mu_bulk, b), static_cast<std::size_t>(rows) * d);
      const std::vector<double> z = draw_normal_seeded(block_seed(Stream::mu_latent, b), static_cast<std::size_t>(rows));
      for (std::size_t i = 0; i < static_cast<std::size_t>(rows); ++i)
        for (std::size_t j = 0; j < d; ++j)
          out[(static_cast<std::size_t>(row0) + i) * d + j] = static_cast<T>(bulk[i * d + j] * scale[j] + zeta * z[i] * q[j]);
    }
  };
  // The host generator is the draw's cost: the blocks are shared out over the cores, and each
  // block's bits do not depend on how.
  const std::int64_t workers = std::clamp<std::int64_t>(std::thread::hardware_concurrency(), 1, blocks);
  std::vector<std::future<void>> parts;
  for (std::int64_t w = 1; w < workers; ++w)
    parts.push_back(std::async(std::launch::async, draw_blocks, blocks * w / workers, blocks * (w + 1) / workers));
  draw_blocks(0, blocks / workers);
  for (auto& p : parts) p.get();
}

std::vector<double> draw_mu_samples(const Config& c, const std::vector<double>& q, std::int64_t epoch) {
  std::vector<double> out(static_cast<std::size_t>(c.n_mu * c.d));
  draw_mu_samples<double>(c, q, epoch, out);
  return out;
}

template void draw_mu_samples<float>(const Config&, const std::vector<double>&, std::int64_t, std::span<float>);
template void draw_mu_samples<double>(const Config&, const std::vector<double>&, std::int64_t, std::span<double>);

}  // namespace lowrank
