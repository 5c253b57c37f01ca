// EpochScope, the epoch a sweep at initialisation runs: short of the step, W is not stepped and
// the series at W_(t+1) are NaN; short of the full spectrum, ‖∇‖₂ and v_t come from Lanczos on ∇
// and agree with the full spectrum's (a dense Gram eigensolve) to the Lanczos tolerance; short of
// the decomposition or the gradient, the residual's statistics are still the full epoch's. Every
// series a scope computes other than by Lanczos is the full epoch's, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu_backend.hpp"
#include "epoch.hpp"

namespace lowrank {
namespace {

const char* kConfig = R"(
seed = 11
precision = "float64"
[data]
d = 40
n = 60
n_test = 30
nu = 0.6
[model]
k = 25
loss = "half_mse"
[output]
alignments = true
[[inputs]]
name = "teacher"
teacher = "sigmoid"
[[runs]]
name = "run"
inputs = "teacher"
activation = "relu"
gamma = 0.5
lr = 0.5
)";

// Epoch 0 of the configuration's run on the CPU backend in `scope`, and W after it.
struct Epoch0 {
  EpochRecord rec;
  std::vector<double> W0, W1;
};
Epoch0 epoch0(Needs needs, const std::vector<std::string>& overrides = {}) {
  const EpochScope scope{needs};
  const Config config = parse_config(kConfig, "test", overrides);
  const Inputs in = make_inputs(config, config.inputs.front());
  std::unique_ptr<Backend<double>> be = make_cpu_backend<double>();
  DeviceInputs<double> data = load_inputs(*be, in, config, scope);
  RunState<double> run = start_run(*be, config, config.runs.front(), data, in, scope);
  Epoch0 out;
  out.W0 = download_double(*be, run[RunTensor::W]);
  EXPECT_TRUE(run_epoch(*be, run, {}, out.rec));
  out.W1 = download_double(*be, run[RunTensor::W]);
  return out;
}

TEST(EpochScope, WithoutLeavingTheWeightsStayAndTheLeavingSeriesAreNaN) {
  const Epoch0 lean = epoch0(Needs::spectrum);
  EXPECT_EQ(lean.W1, lean.W0);
  for (double v : {lean.rec.test_mse, lean.rec.w_opnorm, lean.rec.energy}) EXPECT_TRUE(std::isnan(v));
  // Short of the gradient, every series but the forward pass's is NaN.
  const Epoch0 forward = epoch0(Needs::forward);
  EXPECT_EQ(forward.W1, forward.W0);
  for (double v : {forward.rec.opnorm_grad, forward.rec.align_data, forward.rec.align_residue, forward.rec.align_label,
                   forward.rec.test_mse, forward.rec.w_opnorm})
    EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(std::isfinite(forward.rec.train_mse));
  const Epoch0 full = epoch0(Needs::step);
  EXPECT_NE(full.W1, full.W0);
  // The entering series are the full epoch's, bit for bit, the spectrum's too.
  for (double EpochRecord::*s : {&EpochRecord::train_mse, &EpochRecord::opnorm_grad, &EpochRecord::align_data,
                                 &EpochRecord::align_residue, &EpochRecord::align_label, &EpochRecord::align_teacher,
                                 &EpochRecord::align_data_v2})
    EXPECT_EQ(lean.rec.*s, full.rec.*s);
}

TEST(EpochScope, TopPairByLanczosAgreesWithTheFullSpectrum) {
  for (const char* activation : {"relu", "tanh"}) {
    // min(k, d) beyond Lanczos's kLanczosSteps: its restarts and its stopping rule at work.
    const std::vector<std::string> set = {std::string("runs.run.activation=") + activation, "data.n=300", "data.d=200",
                                          "model.k=150"};
    const Epoch0 lean = epoch0(Needs::top_pair, set), full = epoch0(Needs::step, set);
    EXPECT_EQ(lean.rec.train_mse, full.rec.train_mse);
    EXPECT_NEAR(lean.rec.opnorm_grad, full.rec.opnorm_grad, 1e-10 * full.rec.opnorm_grad) << activation;
    for (double EpochRecord::*s : {&EpochRecord::align_data, &EpochRecord::align_residue, &EpochRecord::align_label,
                                   &EpochRecord::align_teacher})
      EXPECT_NEAR(lean.rec.*s, full.rec.*s, 1e-8) << activation;
    EXPECT_TRUE(std::isnan(lean.rec.align_data_v2));  // no v2 without the full spectrum
    EXPECT_TRUE(lean.rec.singular_values.empty());   // nor the heavy rows
  }
}

// Runs sharing X W0ᵀ (a sweep at initialisation): the readout alone gives the forward pass's bits.
TEST(EpochScope, SharedPreactivationsGiveTheForwardPassBits) {
  const Config config = parse_config(kConfig, "test", {});
  const Inputs in = make_inputs(config, config.inputs.front());
  std::unique_ptr<Backend<double>> be = make_cpu_backend<double>();
  DeviceInputs<double> data = load_inputs(*be, in, config);
  EpochRecord rec[2];
  std::vector<double> r[2];
  for (int shared = 0; shared < 2; ++shared) {
    RunState<double> run = start_run(*be, config, config.runs.front(), data, in);
    if (shared) {
      be->gemm_nt(data.X, run[RunTensor::W], run[RunTensor::Z]);
      run.preactivations_ready = true;
      be->axpy(1.0, run[RunTensor::W], run[RunTensor::W]);  // W ← 2W: a forward pass that ignored Z would differ
    }
    ASSERT_TRUE(run_epoch(*be, run, {}, rec[shared]));
    r[shared] = download_double(*be, run[RunTensor::r]);
    EXPECT_FALSE(run.preactivations_ready);  // for one epoch only
  }
  EXPECT_EQ(rec[1].train_mse, rec[0].train_mse);
  EXPECT_EQ(rec[1].opnorm_grad, rec[0].opnorm_grad);  // the gradient takes σ'(Z), r and X: not W
  EXPECT_EQ(r[1], r[0]);
}

TEST(EpochScope, ARunComputesNoMoreThanItsInputsWereLoadedFor) {
  const Config config = parse_config(kConfig, "test", {});
  const Inputs in = make_inputs(config, config.inputs.front());
  std::unique_ptr<Backend<double>> be = make_cpu_backend<double>();
  const DeviceInputs<double> data = load_inputs(*be, in, config, {Needs::top_pair});
  EXPECT_THROW(start_run(*be, config, config.runs.front(), data, in, {Needs::spectrum}), std::logic_error);
}

// A non-finite gradient is the run's divergence (false), as in the full epoch, not an error.
TEST(EpochScope, ANonFiniteGradientIsADivergence) {
  for (Needs needs : {Needs::top_pair, Needs::step}) {
    const Config config = parse_config(kConfig, "test", {});
    const Inputs in = make_inputs(config, config.inputs.front());
    std::unique_ptr<Backend<double>> be = make_cpu_backend<double>();
    DeviceInputs<double> data = load_inputs(*be, in, config, {needs});
    RunState<double> run = start_run(*be, config, config.runs.front(), data, in, {needs});
    // A finite loss (Z formed from the clean X) and an infinite gradient (from X with an ∞).
    be->gemm_nt(data.X, run[RunTensor::W], run[RunTensor::Z]);
    run.preactivations_ready = true;
    std::vector<double> X = download_double(*be, data.X);
    X[3] = std::numeric_limits<double>::infinity();
    be->upload_to(X, data.X);
    EpochRecord rec;
    EXPECT_FALSE(run_epoch(*be, run, {}, rec)) << static_cast<int>(needs);
    EXPECT_TRUE(std::isfinite(rec.train_mse));
  }
}

// beta_estimation's cell: cos_z_residual alone, from the forward pass.
TEST(EpochScope, ResidualStatisticsWithoutTheDecompositionOrTheGradient) {
  const std::vector<std::string> set = {"decomposition.every=1", "decomposition.mu_source=exact"};
  const Epoch0 full = epoch0(Needs::step, set);
  for (Needs needs : {Needs::forward, Needs::top_pair, Needs::spectrum}) {
    const Epoch0 lean = epoch0(needs, set);
    for (double EpochRecord::*s : {&EpochRecord::train_mse, &EpochRecord::residual_max, &EpochRecord::residual_norm,
                                   &EpochRecord::cos_z_residual})
      EXPECT_EQ(lean.rec.*s, full.rec.*s) << static_cast<int>(needs);
    for (double EpochRecord::*s : {&EpochRecord::opnorm_S1, &EpochRecord::opnorm_E, &EpochRecord::mu_norm})
      EXPECT_TRUE(std::isnan(lean.rec.*s)) << static_cast<int>(needs);
    EXPECT_EQ(lean.W1, lean.W0);
  }
  EXPECT_TRUE(std::isfinite(full.rec.opnorm_S1) && std::isfinite(full.rec.cos_z_residual) &&
              full.rec.cos_z_residual > 0);
}

}  // namespace
}  // namespace lowrank
