// The shared scalar math: every activation's first and second derivatives against central finite
// differences in float64, the values against their definitions written out here, and every
// loss's residual against the derivative of the loss.
#include <gtest/gtest.h>

#include <cmath>

#include "config.hpp"
#include "scalar_math.hpp"

namespace lowrank {
namespace {

std::string activation_name(const ::testing::TestParamInfo<Activation>& p) { return to_string(p.param); }
std::string loss_name(const ::testing::TestParamInfo<Loss>& p) { return to_string(p.param); }

template <typename E, std::size_t N>
std::vector<E> every(const std::pair<const char*, E> (&names)[N]) {
  std::vector<E> out;
  for (const auto& [name, value] : names) out.push_back(value);
  return out;
}

class ActivationTest : public ::testing::TestWithParam<Activation> {};

// Steps of 0.37 from −6 avoid the kinks at 0 (relu', elu'').
TEST_P(ActivationTest, DerivativesMatchFiniteDifferences) {
  const Activation act = GetParam();
  const double h = 1e-6;
  for (double z = -6.0; z <= 6.0; z += 0.37) {
    const double fd = (activate(act, z + h) - activate(act, z - h)) / (2 * h);
    EXPECT_NEAR(activate_derivative(act, z), fd, 1e-8) << "σ' at z = " << z;
    const double fd2 = (activate_derivative(act, z + h) - activate_derivative(act, z - h)) / (2 * h);
    EXPECT_NEAR(activate_second_derivative(act, z), fd2, 1e-8) << "σ'' at z = " << z;
  }
}

TEST_P(ActivationTest, FloatAgreesWithDouble) {
  const Activation act = GetParam();
  for (float z = -5.0f; z <= 5.0f; z += 0.25f) {
    EXPECT_NEAR(activate(act, z), activate(act, double(z)), 1e-6);
    EXPECT_NEAR(activate_derivative(act, z), activate_derivative(act, double(z)), 1e-6);
    EXPECT_NEAR(activate_second_derivative(act, z), activate_second_derivative(act, double(z)), 1e-6);
  }
}

TEST_P(ActivationTest, FiniteFarFromZero) {
  const Activation act = GetParam();
  for (double z : {-800.0, -40.0, 40.0, 800.0}) {
    EXPECT_TRUE(std::isfinite(activate(act, z))) << z;
    EXPECT_TRUE(std::isfinite(activate_derivative(act, z))) << z;
    EXPECT_TRUE(std::isfinite(activate_second_derivative(act, z))) << z;
  }
}

INSTANTIATE_TEST_SUITE_P(All, ActivationTest, ::testing::ValuesIn(every(kActivationNames)), activation_name);

TEST(ScalarMath, ActivationsAreTheirDefinitions) {
  EXPECT_DOUBLE_EQ(activate(Activation::relu, -2.0), 0.0);
  EXPECT_DOUBLE_EQ(activate(Activation::relu, 3.0), 3.0);
  EXPECT_DOUBLE_EQ(activate_derivative(Activation::relu, 0.0), 0.0);  // the seed's (x > 0)
  EXPECT_DOUBLE_EQ(activate(Activation::sigmoid, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(activate_derivative(Activation::sigmoid, 0.0), 0.25);
  EXPECT_DOUBLE_EQ(activate_derivative(Activation::tanh, 0.0), 1.0);
  for (double z : {-3.0, -0.5, 0.0, 0.7, 4.0}) {
    EXPECT_NEAR(activate(Activation::softplus, z), std::log(1 + std::exp(z)), 1e-15) << z;
    EXPECT_NEAR(activate(Activation::elu, z), z > 0 ? z : std::exp(z) - 1, 1e-15) << z;
    EXPECT_NEAR(activate(Activation::swish, z), z / (1 + std::exp(-z)), 1e-15) << z;
    // gelu, erf form: z Φ(z); its slope at 0 is ½, its curvature 2φ(0) = √(2/π).
    EXPECT_NEAR(activate(Activation::gelu, z), 0.5 * z * std::erfc(-z / std::sqrt(2.0)), 1e-15) << z;
  }
  EXPECT_DOUBLE_EQ(activate(Activation::softplus, 800.0), 800.0);  // log(1 + e^800) without overflow
  EXPECT_DOUBLE_EQ(activate(Activation::softplus, -800.0), 0.0);
  EXPECT_DOUBLE_EQ(activate_second_derivative(Activation::relu, 1.5), 0.0);
  EXPECT_DOUBLE_EQ(activate_derivative(Activation::gelu, 0.0), 0.5);
  EXPECT_NEAR(activate_second_derivative(Activation::gelu, 0.0), std::sqrt(2.0 / 3.141592653589793), 1e-15);
  EXPECT_DOUBLE_EQ(activate_second_derivative(Activation::sigmoid, 0.0), 0.0);  // s(1−s)(1−2s) at s = ½
}

class LossTest : public ::testing::TestWithParam<Loss> {};

// Labels each loss takes (SPEC §9): any real, a probability, a class ±1. F steps avoid hinge's kink.
TEST_P(LossTest, ResidualIsTheLossDerivative) {
  const Loss loss = GetParam();
  const double h = 1e-6;
  for (double y : {-1.0, 0.3, 1.0}) {
    if (loss == Loss::bce && y < 0) continue;
    for (double f = -2.05; f <= 2.0; f += 0.5) {
      const double fd = (sample_loss(loss, f + h, y) - sample_loss(loss, f - h, y)) / (2 * h);
      EXPECT_NEAR(sample_residual(loss, f, y), fd, 1e-8) << "F = " << f << ", y = " << y;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, LossTest, ::testing::ValuesIn(every(kLossNames)), loss_name);

TEST(ScalarMath, LossesAreTheirDefinitions) {
  EXPECT_DOUBLE_EQ(sample_loss(Loss::mse, 1.5, 0.5), 1.0);  // (F − y)², no ½: the seed's
  EXPECT_DOUBLE_EQ(sample_loss(Loss::half_mse, 1.5, 0.5), 0.5);
  for (double f : {-3.0, -0.2, 0.0, 1.1}) {
    const double p = 1 / (1 + std::exp(-f)), y = 0.3;
    EXPECT_NEAR(sample_loss(Loss::bce, f, y), -y * std::log(p) - (1 - y) * std::log(1 - p), 1e-14) << f;
  }
  EXPECT_DOUBLE_EQ(sample_loss(Loss::hinge, 0.5, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(sample_loss(Loss::hinge, 2.0, 1.0), 0.0);
  EXPECT_DOUBLE_EQ(sample_loss(Loss::hinge, 0.5, -1.0), 1.5);
  EXPECT_DOUBLE_EQ(sample_residual(Loss::hinge, 2.0, 1.0), 0.0);
  EXPECT_DOUBLE_EQ(sample_residual(Loss::hinge, 0.2, -1.0), 1.0);
  EXPECT_TRUE(std::isfinite(sample_loss(Loss::bce, 800.0, 0.0)));  // a confident wrong answer: ~800, not ∞
  EXPECT_NEAR(sample_loss(Loss::bce, 800.0, 0.0), 800.0, 1e-12);
}

TEST(ScalarMath, ClassesOfTheClassificationLosses) {
  EXPECT_TRUE(is_classification(Loss::bce) && is_classification(Loss::hinge));
  EXPECT_FALSE(is_classification(Loss::mse) || is_classification(Loss::half_mse));
  EXPECT_TRUE(predicts_class(Loss::hinge, 0.3, 1.0));
  EXPECT_FALSE(predicts_class(Loss::hinge, -0.3, 1.0));
  EXPECT_TRUE(predicts_class(Loss::hinge, -0.3, -1.0));
  // bce: F is a logit, so F = 0.3 means p = 0.574, class 1; F = −0.3, class 0.
  EXPECT_TRUE(predicts_class(Loss::bce, 0.3, 0.9));
  EXPECT_FALSE(predicts_class(Loss::bce, 0.3, 0.1));
  EXPECT_TRUE(predicts_class(Loss::bce, -0.3, 0.1));
  EXPECT_FALSE(predicts_class(Loss::bce, -0.3, 0.9));
}

}  // namespace
}  // namespace lowrank
