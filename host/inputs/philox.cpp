#include "philox.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace lowrank {
namespace {

// The round's multipliers and the key's Weyl increments (cuRAND's curand_philox4x32_x.h).
constexpr std::uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
constexpr int kRounds = 10;

// cuRAND's generators lay their output out as their device kernels produce it: 2^16 threads,
// each on its own subsequence (the counter's high 64 bits), each writing 4 doubles (two Philox
// blocks, at counters 2j and 2j + 1) per turn j. Group g of 4 outputs is thread g mod 2^16's
// turn g / 2^16. Found, and checked, against cuRAND's host generator.
constexpr std::uint64_t kThreads = 65536;
constexpr std::size_t kBlocksPerGroup = 2, kPerBlock = 2, kPerGroup = kBlocksPerGroup * kPerBlock;

// Lanes computed together: consecutive groups share the counter and differ in the subsequence,
// so one batch is a loop over lanes that the compiler vectorises.
constexpr std::size_t kLanes = 16;
static_assert(kThreads % kLanes == 0, "a batch of lanes never straddles a turn");

constexpr double kTwoPow53Inv = 1.0 / 9007199254740992.0;  // 2^-53
constexpr double kPi = 3.1415926535897932;                 // cuRAND's CURAND_PI_DOUBLE

// Philox4x32-10 of the counters (c0[l], c1[l], c2[l], c3[l]), l < kLanes, key (k0, k1), in place.
void philox_rounds(std::uint32_t* c0, std::uint32_t* c1, std::uint32_t* c2, std::uint32_t* c3, std::uint32_t k0,
                   std::uint32_t k1) {
  for (int round = 0; round < kRounds; ++round) {
    for (std::size_t l = 0; l < kLanes; ++l) {
      const std::uint64_t p0 = static_cast<std::uint64_t>(kMultiplier0) * c0[l];
      const std::uint64_t p1 = static_cast<std::uint64_t>(kMultiplier1) * c2[l];
      const std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1[l] ^ k0;
      const std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = static_cast<std::uint32_t>(p1);
      c3[l] = static_cast<std::uint32_t>(p0);
      c0[l] = n0;
      c2[l] = n2;
    }
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
}

// 53 random bits, x0 ^ (x1 << 21) (cuRAND's _curand_uniform_double_hq's integer).
std::uint64_t bits53(std::uint32_t x0, std::uint32_t x1) {
  return static_cast<std::uint64_t>(x0) ^ (static_cast<std::uint64_t>(x1) << (53 - 32));
}

// cuRAND's _curand_uniform_double_hq: a uniform in (0, 1].
double uniform(std::uint32_t x0, std::uint32_t x1) {
  return static_cast<double>(bits53(x0, x1)) * kTwoPow53Inv + kTwoPow53Inv / 2.0;
}

// cuRAND's _curand_box_muller_double, its host branch (sin and cos of v·π): u ∈ (0, 1), v ∈ (0, 2].
void box_muller(const std::uint32_t x[4], double out[kPerBlock]) {
  const double u = uniform(x[0], x[1]);
  const double v = static_cast<double>(bits53(x[2], x[3])) * (kTwoPow53Inv * 2.0) + kTwoPow53Inv;
  const double s = std::sqrt(-2.0 * std::log(u));
  out[0] = std::sin(v * kPi) * s;
  out[1] = std::cos(v * kPi) * s;
}

void two_uniforms(const std::uint32_t x[4], double out[kPerBlock]) {
  out[0] = uniform(x[0], x[1]);
  out[1] = uniform(x[2], x[3]);
}

// out in cuRAND's layout: each Philox block's 4 words become kPerBlock values by `convert`.
template <typename Convert>
void fill(std::uint64_t seed, std::span<double> out, Convert convert) {
  const auto k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  const std::size_t groups = (out.size() + kPerGroup - 1) / kPerGroup;
  std::uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
  for (std::size_t first = 0; first < groups; first += kLanes) {
    const std::size_t lanes = std::min(kLanes, groups - first);
    const std::uint64_t turn = first / kThreads, thread0 = first % kThreads;
    for (std::size_t block = 0; block < kBlocksPerGroup; ++block) {
      const std::uint64_t counter = kBlocksPerGroup * turn + block;
      for (std::size_t l = 0; l < kLanes; ++l) {
        c0[l] = static_cast<std::uint32_t>(counter);
        c1[l] = static_cast<std::uint32_t>(counter >> 32);
        c2[l] = static_cast<std::uint32_t>(thread0 + l);  // the subsequence, below 2^16
        c3[l] = 0;
      }
      philox_rounds(c0, c1, c2, c3, k0, k1);
      for (std::size_t l = 0; l < lanes; ++l) {
        const std::uint32_t words[4] = {c0[l], c1[l], c2[l], c3[l]};
        double values[kPerBlock];
        convert(words, values);
        const std::size_t at = (first + l) * kPerGroup + kPerBlock * block;
        for (std::size_t e = 0; e < kPerBlock && at + e < out.size(); ++e) out[at + e] = values[e];
      }
    }
  }
}

}  // namespace

void philox_normal_double(std::uint64_t seed, std::span<double> out) { fill(seed, out, box_muller); }

void philox_uniform_double(std::uint64_t seed, std::span<double> out) { fill(seed, out, two_uniforms); }

}  // namespace lowrank
