// The memory estimate that refuses a run before anything is allocated: on the CPU, the float64
// work arrays the CUDA backend holds for a weight-decayed gradient's spectrum and for the
// weights' singular values, derived by hand from its scratch slots; on a GPU (skipped without
// one), one epoch with weight decay and the decomposition never holds more than the estimate.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cuda_backend.hpp"
#include "epoch.hpp"
#include "memory_estimate.hpp"

namespace lowrank {
namespace {

const char* kConfig = R"(
seed = 3
[data]
d = 16384
n = 1000
n_test = 100
[model]
k = 16384
[[inputs]]
name = "main"
teacher = "sigmoid"
[[runs]]
name = "run"
inputs = "main"
activation = "relu"
gamma = 0.5
lr = 0.5
)";

double device_bytes(const std::vector<std::string>& overrides) {
  return estimate_memory(parse_config(kConfig, "test", overrides), true).device_bytes;
}

// At n = 1000, k = d = 16384, weight decay makes the spectrum's ∇ a dense k×d matrix through
// I_d's factor: the CUDA backend's copy of Mᵀ (kMd) becomes d·k float64 values (it was already,
// as the operator norm's copy of W), B (kB) grows from n·k to d·k, its Gram matrix (kGram) from
// n² to d², and I_d's factor (Q, R: d² float64 each) and ∇ᵀ (d×k, float32) are new: 8.9 GiB more.
TEST(MemoryEstimate, CountsTheWeightDecayedSpectrumsFloat64Work) {
  const double n = 1000, k = 16384, d = 16384;
  const double grown = 8 * ((d * k - n * k) + (d * d - n * n)) + 8 * 2 * d * d + 4 * d * k;
  EXPECT_GE(device_bytes({"model.weight_decay=0.001"}) - device_bytes({}), grown);
}

// The decomposition holds X_B (n×d), σ'_⊥ and P (n×k), E and its check (k×d) and μ's samples
// and their products (n_mu × (d + k)) in float32, and its singular values of W_t take W's float64
// Gram matrix, min(k, d)² (2 GiB here), where the gradient's spectrum needs only min(n, d, k)².
TEST(MemoryEstimate, CountsTheWeightsGramOfTheDecomposition) {
  const double n = 1000, k = 16384, d = 16384, n_mu = 100;
  const double arrays = 4 * (n * d + 2 * n * k + 2 * k * d + n_mu * (d + k)), gram = 8 * (k * k - n * n);
  EXPECT_GE(device_bytes({"decomposition.every=1", "decomposition.n_mu=100"}) - device_bytes({}), arrays + gram);
}

// One epoch of each kind on the CUDA backend holds at most the estimate (the backend's own
// allocations: its buffers and scratch slots; the libraries' are the estimate's allowance).
TEST(MemoryEstimate, BoundsTheCudaBackendsPeak) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device present: the device peak not checked here";
  const Config config = parse_config(kConfig, "test",
                                     {"data.n=300", "data.d=2048", "model.k=1536", "model.weight_decay=0.001",
                                      "decomposition.every=1", "decomposition.n_mu=2000"});
  const EpochScope scope{};
  const Inputs in = make_inputs(config, config.inputs.front());
  std::unique_ptr<Backend<float>> be = make_cuda_backend<float>();
  DeviceInputs<float> data = load_inputs(*be, in, config, scope);
  RunState<float> run = start_run(*be, config, config.runs.front(), data, in, scope);
  EpochRecord rec;
  ASSERT_TRUE(run_epoch(*be, run, {}, rec));
  EXPECT_LE(be->peak_device_bytes(), estimate_memory(config, true).device_bytes);
}

}  // namespace
}  // namespace lowrank
