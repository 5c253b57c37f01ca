// host/inputs/philox against cuRAND's own host generator: the same bits, normals and uniforms,
// for lengths odd and even, short and across the layout's turns (4·2^16 values a turn), and
// seeds that use both 32-bit halves of the key.
#include <curand.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "philox.hpp"

namespace {

using Generator = std::unique_ptr<curandGenerator_st, void (*)(curandGenerator_t)>;

Generator curand_philox(std::uint64_t seed) {
  curandGenerator_t g = nullptr;
  EXPECT_EQ(curandCreateGeneratorHost(&g, CURAND_RNG_PSEUDO_PHILOX4_32_10), CURAND_STATUS_SUCCESS);
  EXPECT_EQ(curandSetPseudoRandomGeneratorSeed(g, seed), CURAND_STATUS_SUCCESS);
  EXPECT_EQ(curandSetGeneratorOffset(g, 0), CURAND_STATUS_SUCCESS);
  return Generator(g, [](curandGenerator_t h) { curandDestroyGenerator(h); });
}

// cuRAND's normal generators take an even count; the first n of n + 1 are compared.
std::vector<double> curand_normals(std::uint64_t seed, std::size_t n) {
  std::vector<double> v(n + n % 2);
  EXPECT_EQ(curandGenerateNormalDouble(curand_philox(seed).get(), v.data(), v.size(), 0.0, 1.0), CURAND_STATUS_SUCCESS);
  v.resize(n);
  return v;
}

std::vector<double> curand_uniforms(std::uint64_t seed, std::size_t n) {
  std::vector<double> v(n);
  EXPECT_EQ(curandGenerateUniformDouble(curand_philox(seed).get(), v.data(), v.size()), CURAND_STATUS_SUCCESS);
  return v;
}

// The index of the first value whose bits differ, or n.
std::size_t first_difference(const std::vector<double>& a, const std::vector<double>& b) {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0) return i;
  return a.size();
}

constexpr std::uint64_t kSeeds[] = {0, 42, 0x00000000ffffffffULL, 0xfedcba9876543210ULL};
constexpr std::size_t kTurn = 4 * 65536;
constexpr std::size_t kLengths[] = {1, 2, 3, 5, 8, 63, 1001, kTurn - 1, kTurn + 3, 3 * kTurn + 7};

// Ours against cuRAND's for every seed and length of the table.
void expect_curand_bits(void (*ours)(std::uint64_t, std::span<double>),
                        std::vector<double> (*curand)(std::uint64_t, std::size_t)) {
  for (std::uint64_t seed : kSeeds)
    for (std::size_t n : kLengths) {
      std::vector<double> values(n);
      ours(seed, values);
      EXPECT_EQ(first_difference(values, curand(seed, n)), n) << "seed " << seed << ", n " << n;
    }
}

TEST(Philox, NormalsAreCuRandsBits) { expect_curand_bits(lowrank::philox_normal_double, curand_normals); }

TEST(Philox, UniformsAreCuRandsBits) { expect_curand_bits(lowrank::philox_uniform_double, curand_uniforms); }

}  // namespace
