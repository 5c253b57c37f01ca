// The spiked data model: reproducible per seed, one independent stream per tensor, the shapes
// and norms of SPEC §2, and the model's structure (X = X_B + ζ z qᵀ, y from the teacher).
#include <gtest/gtest.h>

#include <cmath>

#include "inputs.hpp"

namespace lowrank {
namespace {

Config small(std::uint64_t seed, AInit a_init = AInit::normal) {
  Config c;
  c.seed = seed;
  c.d = 20;
  c.k = 30;
  c.n = 16;
  c.n_test = 12;
  c.nu = 0.5;
  c.tau = 0.0;
  c.a_init = a_init;
  c.inputs = {{"first", Activation::sigmoid, 0}, {"second", Activation::relu, 1}};
  return c;
}

double norm(const std::vector<double>& v, std::size_t begin, std::size_t length) {
  double s = 0;
  for (std::size_t i = 0; i < length; ++i) s += v[begin + i] * v[begin + i];
  return std::sqrt(s);
}

TEST(Inputs, SameSeedSameBitsOtherSeedOtherDraws) {
  const Inputs a = make_inputs(small(1), small(1).inputs[0]), b = make_inputs(small(1), small(1).inputs[0]);
  EXPECT_EQ(a.X_train, b.X_train);
  EXPECT_EQ(a.W0, b.W0);
  EXPECT_EQ(a.y_test, b.y_test);
  const Inputs c = make_inputs(small(2), small(2).inputs[0]);
  EXPECT_NE(a.X_train, c.X_train);
  EXPECT_NE(a.W0, c.W0);
}

TEST(Inputs, GroupsShareSpikeWeightsAndReadoutButNotData) {
  const Config c = small(3);
  const Inputs a = make_inputs(c, c.inputs[0]), b = make_inputs(c, c.inputs[1]);
  EXPECT_EQ(a.q, b.q);
  EXPECT_EQ(a.W0, b.W0);
  EXPECT_EQ(a.a, b.a);
  EXPECT_NE(a.beta, b.beta);
  EXPECT_NE(a.X_train, b.X_train);
}

TEST(Inputs, StreamsAreIndependentOfOtherSizes) {
  // Changing n must not change q, β or W0: every tensor has its own stream.
  Config c = small(4);
  const Inputs a = make_inputs(c, c.inputs[0]);
  c.n = 40;
  const Inputs b = make_inputs(c, c.inputs[0]);
  EXPECT_EQ(a.q, b.q);
  EXPECT_EQ(a.beta, b.beta);
  EXPECT_EQ(a.W0, b.W0);
}

TEST(Inputs, ShapesUnitVectorsAndTheSpikedModel) {
  const Config c = small(5);
  const Inputs in = make_inputs(c, c.inputs[0]);
  const auto d = static_cast<std::size_t>(c.d);
  EXPECT_EQ(in.X_train.size(), 16 * d);
  EXPECT_EQ(in.X_test.size(), 12 * d);
  EXPECT_EQ(in.W0.size(), 30 * d);
  EXPECT_NEAR(norm(in.q, 0, d), 1.0, 1e-15);
  EXPECT_NEAR(norm(in.beta, 0, d), 1.0, 1e-15);
  for (std::size_t j = 0; j < 30; ++j) EXPECT_NEAR(norm(in.W0, j * d, d), 1.0, 1e-15);
  const double zeta = std::pow(16.0, 0.5);
  for (std::size_t i = 0; i < 16; ++i) {
    double dot = 0;
    for (std::size_t j = 0; j < d; ++j) {
      EXPECT_DOUBLE_EQ(in.X_train[i * d + j], in.X_bulk_train[i * d + j] + zeta * in.z_train[i] * in.q[j]);
      dot += in.X_train[i * d + j] * in.beta[j];
    }
    EXPECT_NEAR(in.y_train[i], 1.0 / (1.0 + std::exp(-dot)), 1e-15) << "τ = 0: y is the teacher";
  }
}

TEST(Inputs, ReadoutInitialisations) {
  const double s = 1.0 / std::sqrt(30.0);
  for (AInit init : {AInit::rademacher, AInit::seed_binary}) {
    const Config c = small(6, init);
    const Inputs in = make_inputs(c, c.inputs[0]);
    int low = 0, high = 0;
    for (double x : in.a) {
      if (x == -s) ++low;
      else if (x == (init == AInit::rademacher ? s : 0.0)) ++high;
      else ADD_FAILURE() << "a_j = " << x;
    }
    EXPECT_GT(low, 0);
    EXPECT_GT(high, 0);
  }
}

TEST(Inputs, DrawsLookStandardNormal) {
  const std::vector<double> v = draw_normal(7, Stream::bulk_train, 0, 100001);  // odd count
  double mean = 0, var = 0;
  for (double x : v) mean += x;
  mean /= double(v.size());
  for (double x : v) var += (x - mean) * (x - mean);
  var /= double(v.size());
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(var, 1.0, 0.02);
}

}  // namespace
}  // namespace lowrank
