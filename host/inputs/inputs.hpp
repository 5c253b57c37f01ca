// The spiked data model of SPEC §2, drawn on the host in float64 from cuRAND's Philox4x32-10
// stream (philox.hpp: cuRAND's host generator's bits), one stream per (seed, tensor, inputs group).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "config.hpp"

namespace lowrank {

// The random tensors; each is drawn from its own Philox stream so that adding or resizing one
// never changes another, and a device generator with the same key reproduces it.
enum class Stream : std::uint64_t {
  spike = 1, weights0 = 2, readout = 3, teacher = 4,
  bulk_train = 5, latent_train = 6, noise_train = 7,
  bulk_test = 8, latent_test = 9, noise_test = 10,
  spectrum_start = 11,  // the truncated spectrum's first block
  teacher_2 = 12, teacher_3 = 13,  // the triple-index teacher's β₂, β₃
  input_noise_train = 14, input_noise_test = 15,
  mu_bulk = 16, mu_latent = 17,  // the decomposition's fresh samples, keyed by the epoch in place of the group
};

// SplitMix64's mixing function: how seeds are combined into stream keys.
std::uint64_t splitmix64(std::uint64_t x);

// The Philox seed of one stream: a SplitMix64 mix of the run seed, the tensor and the group.
std::uint64_t stream_seed(std::uint64_t seed, Stream stream, int group);

// n standard normals (float64) from the stream's generator, position 0.
std::vector<double> draw_normal(std::uint64_t seed, Stream stream, int group, std::size_t n);
// n uniforms in (0, 1] (float64) from the stream's generator, position 0.
std::vector<double> draw_uniform(std::uint64_t seed, Stream stream, int group, std::size_t n);

// Row-major matrices and vectors of one inputs group, in float64.
struct Inputs {
  std::string name;
  InputsSpec spec;  // the teacher
  std::int64_t n = 0, n_test = 0, d = 0, k = 0;
  std::vector<double> X_train, y_train, X_test, y_test;  // n×d, n, n_test×d, n_test
  std::vector<double> X_bulk_train, z_train;             // n×d, n: X = X_B + ζ z qᵀ
  double zeta = 1;                                       // ζ = n^ν
  std::vector<double> q, beta;                           // d, d: unit vectors (β: β₁ of the triple index)
  std::vector<double> beta_2, beta_3;                    // d, d: the triple index's β₂, β₃ (else empty)
  std::vector<double> a, W0;                             // k, k×d: shared by every group
};

Inputs make_inputs(const Config& config, const InputsSpec& spec);

// The decomposition's n_mu fresh samples of the data model at `epoch` (row-major n_mu×d, into
// `out`): X_B + ζ z qᵀ, in blocks of kMuBlockRows rows, each from streams of its own keyed by the
// epoch and the block, shared by every run and group, so that a resumed run draws the same. As
// the notebook's get_mu, without the inputs' input_noise.
constexpr std::int64_t kMuBlockRows = 512;
template <typename T>
void draw_mu_samples(const Config& config, const std::vector<double>& q, std::int64_t epoch, std::span<T> out);
// The same, in float64.
std::vector<double> draw_mu_samples(const Config& config, const std::vector<double>& q, std::int64_t epoch);

}  // namespace lowrank
