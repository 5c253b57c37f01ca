// The shared scalar math: activations' derivatives against central finite differences, and
// the loss's residual against the derivative of the loss.
#include <gtest/gtest.h>

#include "config.hpp"
#include "scalar_math.hpp"

namespace lowrank {
namespace {

std::string activation_name(const ::testing::TestParamInfo<Activation>& p) { return to_string(p.param); }

class ActivationTest : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivationTest, DerivativeMatchesFiniteDifferences) {
  const Activation act = GetParam();
  const double h = 1e-6;
  for (double z = -6.0; z <= 6.0; z += 0.37) {  // steps avoid relu's kink at 0
    const double fd = (activate(act, z + h) - activate(act, z - h)) / (2 * h);
    EXPECT_NEAR(activate_derivative(act, z), fd, 1e-8) << "z = " << z;
  }
}

TEST_P(ActivationTest, FloatAgreesWithDouble) {
  const Activation act = GetParam();
  for (float z = -5.0f; z <= 5.0f; z += 0.25f) {
    EXPECT_NEAR(activate(act, z), activate(act, double(z)), 1e-6);
    EXPECT_NEAR(activate_derivative(act, z), activate_derivative(act, double(z)), 1e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(All, ActivationTest, ::testing::Values(Activation::relu, Activation::sigmoid, Activation::tanh), activation_name);

TEST(ScalarMath, HandValues) {
  EXPECT_DOUBLE_EQ(activate(Activation::relu, -2.0), 0.0);
  EXPECT_DOUBLE_EQ(activate(Activation::relu, 3.0), 3.0);
  EXPECT_DOUBLE_EQ(activate_derivative(Activation::relu, 0.0), 0.0);  // the seed's (x > 0)
  EXPECT_DOUBLE_EQ(activate(Activation::sigmoid, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(activate_derivative(Activation::sigmoid, 0.0), 0.25);
  EXPECT_DOUBLE_EQ(activate_derivative(Activation::tanh, 0.0), 1.0);
}

TEST(ScalarMath, ResidualIsTheLossDerivative) {
  const double y = 0.3, h = 1e-6;
  for (double f = -2.0; f <= 2.0; f += 0.5) {
    const double fd = (sample_loss(f + h, y) - sample_loss(f - h, y)) / (2 * h);
    EXPECT_NEAR(sample_residual(f, y), fd, 1e-8);
  }
  EXPECT_DOUBLE_EQ(sample_loss(1.5, 0.5), 1.0);  // (F − y)², no ½
}

}  // namespace
}  // namespace lowrank
