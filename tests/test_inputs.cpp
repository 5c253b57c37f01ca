// The spiked data model: reproducible per seed, one independent stream per tensor, the shapes
// and norms of SPEC §2, and the model's structure (X = X_B + ζ z qᵀ, y from the teacher).
#include <gtest/gtest.h>

#include <algorithm>
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


// The teachers and initialisations of SPEC §9, each drawn from the streams the defaults use (so that
// the same seed gives the same directions) and each checked against its definition here.
TEST(Inputs, TripleIndexTeacher) {
  Config c = small(8);
  c.inputs[0].triple_index = true;
  const Inputs in = make_inputs(c, c.inputs[0]);
  const auto d = static_cast<std::size_t>(c.d);
  ASSERT_EQ(in.beta_2.size(), d);
  ASSERT_EQ(in.beta_3.size(), d);
  EXPECT_NEAR(norm(in.beta_2, 0, d), 1.0, 1e-15);
  EXPECT_NE(in.beta, in.beta_2);
  EXPECT_NE(in.beta_2, in.beta_3);
  for (std::size_t i = 0; i < 16; ++i) {
    double b1 = 0, b2 = 0, b3 = 0;
    for (std::size_t j = 0; j < d; ++j) {
      b1 += in.X_train[i * d + j] * in.beta[j];
      b2 += in.X_train[i * d + j] * in.beta_2[j];
      b3 += in.X_train[i * d + j] * in.beta_3[j];
    }
    EXPECT_NEAR(in.y_train[i], 1 / (1 + std::exp(-b1)) + std::tanh(b2) + std::max(b3, 0.0), 1e-14) << i;
  }
  EXPECT_TRUE(make_inputs(small(8), small(8).inputs[0]).beta_2.empty()) << "single-index: no β₂";
}

TEST(Inputs, GaussianBetaIsTheUnitDrawUnnormalised) {
  Config c = small(9);
  const Inputs unit = make_inputs(c, c.inputs[0]);
  c.inputs[0].beta_init = BetaInit::gaussian;
  const Inputs gauss = make_inputs(c, c.inputs[0]);
  const auto d = static_cast<std::size_t>(c.d);
  const double scale = norm(gauss.beta, 0, d);
  EXPECT_GT(std::abs(scale - 1.0), 1e-3) << "N(0, I/d): not a unit vector";
  for (std::size_t j = 0; j < d; ++j) EXPECT_NEAR(gauss.beta[j] / scale, unit.beta[j], 1e-14);
  // N(0, I/d): the teacher stream's normals over √d.
  const std::vector<double> normals = draw_normal(c.seed, Stream::teacher, 0, d);
  for (std::size_t j = 0; j < d; ++j) EXPECT_DOUBLE_EQ(gauss.beta[j], normals[j] / std::sqrt(double(d)));
}

TEST(Inputs, WithoutSpikeXIsTheBulk) {
  Config c = small(10);
  c.spike = false;
  const Inputs in = make_inputs(c, c.inputs[0]);
  EXPECT_EQ(in.X_train, in.X_bulk_train);
  EXPECT_EQ(in.zeta, 0.0);
  EXPECT_EQ(in.q, make_inputs(small(10), small(10).inputs[0]).q) << "q is still drawn (align_data measures it)";
}

TEST(Inputs, InputNoiseIsAddedToTheBulkOnce) {
  Config c = small(11);
  c.n = 400;
  const Inputs clean = make_inputs(c, c.inputs[0]);
  c.inputs[0].input_noise = 0.3;
  const Inputs noisy = make_inputs(c, c.inputs[0]);
  double var = 0;
  for (std::size_t e = 0; e < clean.X_bulk_train.size(); ++e) {
    const double diff = noisy.X_bulk_train[e] - clean.X_bulk_train[e];
    var += diff * diff;
    // X = X_B + ζ z qᵀ with the noisy X_B: the difference carries over to X unchanged.
    EXPECT_NEAR(noisy.X_train[e] - clean.X_train[e], diff, 1e-12);
  }
  var /= double(clean.X_bulk_train.size());
  EXPECT_NEAR(var, 0.09, 0.01) << "noise of standard deviation 0.3";
  double test_var = 0;  // the test set gets noise of its own
  for (std::size_t e = 0; e < clean.X_test.size(); ++e)
    test_var += (noisy.X_test[e] - clean.X_test[e]) * (noisy.X_test[e] - clean.X_test[e]);
  EXPECT_NEAR(test_var / double(clean.X_test.size()), 0.09, 0.03);
  EXPECT_EQ(noisy.z_train, clean.z_train);
  EXPECT_EQ(noisy.W0, clean.W0);
  EXPECT_EQ(noisy.q, clean.q);
}

TEST(Inputs, GaussianW0IsUnnormalisedWithItsScale) {
  Config c = small(12);
  const Inputs unit = make_inputs(c, c.inputs[0]);
  c.w_init = WInit::gaussian;
  c.w_scale = 2.0;
  const Inputs gauss = make_inputs(c, c.inputs[0]);
  const auto d = static_cast<std::size_t>(c.d);
  double sq = 0;
  for (double w : gauss.W0) sq += w * w;
  EXPECT_NEAR(sq / double(gauss.W0.size()), 4.0 / double(d), 0.5 / double(d)) << "entries N(0, w_scale²/d)";
  for (std::size_t j = 0; j < 30; ++j) {
    const double row = norm(gauss.W0, j * d, d);
    for (std::size_t e = 0; e < d; ++e) EXPECT_NEAR(gauss.W0[j * d + e] / row, unit.W0[j * d + e], 1e-14);
  }
  const std::vector<double> normals = draw_normal(c.seed, Stream::weights0, 0, 30 * d);
  for (std::size_t e = 0; e < normals.size(); ++e)
    EXPECT_DOUBLE_EQ(gauss.W0[e], normals[e] * 2.0 / std::sqrt(double(d))) << "entries N(0, w_scale²/d)";
}

TEST(Inputs, BinaryReadouts) {
  const Inputs binary = make_inputs(small(13, AInit::binary), small(13).inputs[0]);
  const Inputs unit = make_inputs(small(13, AInit::binary_unit), small(13).inputs[0]);
  double sq = 0;
  int low = 0;
  for (double x : binary.a) {
    EXPECT_TRUE(x == -1.0 || x == 0.0) << x;
    low += x == -1.0;
    sq += x * x;
  }
  EXPECT_GT(low, 0);
  EXPECT_LT(low, 30);
  for (std::size_t j = 0; j < binary.a.size(); ++j) EXPECT_NEAR(unit.a[j], binary.a[j] / std::sqrt(sq), 1e-15);
}

TEST(Inputs, LabelsFollowTheLoss) {
  Config c = small(14);
  c.tau = 1.0;
  c.loss = Loss::bce;
  const Inputs bce = make_inputs(c, c.inputs[0]);
  c.loss = Loss::hinge;
  const Inputs hinge = make_inputs(c, c.inputs[0]);
  const auto d = static_cast<std::size_t>(c.d);
  for (std::size_t i = 0; i < 16; ++i) {
    double dot = 0;
    for (std::size_t j = 0; j < d; ++j) dot += bce.X_train[i * d + j] * bce.beta[j];
    const double f = 1 / (1 + std::exp(-dot));
    EXPECT_NEAR(bce.y_train[i], f, 1e-15) << "bce: f*(x), no noise";
    EXPECT_EQ(hinge.y_train[i], f > 0.5 ? 1.0 : -1.0) << "hinge: sign(f*(x) − ½)";
  }
  for (std::size_t i = 0; i < 12; ++i) {  // the test set's labels too
    double dot = 0;
    for (std::size_t j = 0; j < d; ++j) dot += bce.X_test[i * d + j] * bce.beta[j];
    const double f = 1 / (1 + std::exp(-dot));
    EXPECT_NEAR(bce.y_test[i], f, 1e-15);
    EXPECT_EQ(hinge.y_test[i], f > 0.5 ? 1.0 : -1.0);
  }
}

}  // namespace
}  // namespace lowrank
