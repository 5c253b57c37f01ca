// The training state of a run: the one table that declares every tensor a run holds on the
// backend (its name, shape, when a run holds it, whether a checkpoint keeps it and a snapshot
// writes it, and its meaning), as kSeries declares the series. RunState holds them in this
// order; the checkpoint's datasets and its save and restore, the resume's layout checks, the
// snapshots and the memory estimate iterate it, so that a new row is all a new tensor needs.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"

namespace lowrank {

// The extents a tensor's shape is made of: 1, the neurons k, the inputs d, the samples n and
// n_test, the truncated spectrum's block l, and the energy subspace's columns (at most 2).
enum class Extent { one, k, d, n, n_test, block, energy };

// When a run holds the tensor: always; with [spectrum] method = "truncated" (its block); with
// its gradient penalty on (the penalty's factor); with its weight decay and the full spectrum
// (∇ᵀ, which the spectrum of a weight-decayed ∇ goes through); with its optimiser momentum (the
// buffer), or adam or adamw (the moments).
enum class HeldWhen { always, truncated_spectrum, gradient_penalty, weight_decay_full_spectrum, momentum, adam };

struct RunTensorInfo {
  const char* name;  // the checkpoint's dataset (checkpoints/group<i>/<name>)
  Extent rows, cols;
  HeldWhen held;
  bool checkpointed;           // kept by a checkpoint: what an epoch reads of earlier epochs
  const char* snapshot_name;   // its dataset in runs/<run>/snapshots/, or nullptr
  const char* meaning;
};

// The rows, by name; RunState::tensors holds them in this order.
enum class RunTensor : std::size_t {
  W, a, Z, r, G, Z_test, xr, xr_prev, xbr, v0, v_prev, opnorm_start, WQ, Q, GT, spectrum_block, momentum_buffer,
  adam_m, adam_v, count
};
inline constexpr std::size_t kRunTensorCount = static_cast<std::size_t>(RunTensor::count);

inline constexpr RunTensorInfo kRunTensors[] = {
    {"W", Extent::k, Extent::d, HeldWhen::always, true, "W", "the weights W_t, a row per neuron"},
    {"a", Extent::k, Extent::one, HeldWhen::always, true, "a", "the readout a, from the run's inputs group"},
    {"Z", Extent::n, Extent::k, HeldWhen::always, false, nullptr,
     "the training set's preactivations X W_t^T, then M = (r a^T) * sigma'"},
    {"r", Extent::n, Extent::one, HeldWhen::always, false, nullptr, "the residual dl/dF at every training sample"},
    {"G", Extent::k, Extent::d, HeldWhen::always, false, "grad", "the gradient of the training loss in W, at W_t"},
    {"Z_test", Extent::n_test, Extent::k, HeldWhen::always, false, nullptr, "the test set's preactivations"},
    {"xr", Extent::d, Extent::one, HeldWhen::always, false, nullptr, "X^T r_t"},
    {"xr_prev", Extent::d, Extent::one, HeldWhen::always, true, nullptr, "X^T r_(t-1), for align_residue_step"},
    {"xbr", Extent::one, Extent::d, HeldWhen::always, false, nullptr, "X_B^T r_t, the data residue"},
    {"v0", Extent::d, Extent::one, HeldWhen::always, true, nullptr, "v_0, for align_initial"},
    {"v_prev", Extent::d, Extent::one, HeldWhen::always, true, nullptr, "v_(t-1), whose sign v_t follows"},
    {"opnorm_start", Extent::d, Extent::one, HeldWhen::always, true, nullptr,
     "the start vector of the operator norm of W, the previous epoch's converged one"},
    {"WQ", Extent::k, Extent::energy, HeldWhen::always, false, nullptr, "W Q, for the energy"},
    {"Q", Extent::n, Extent::k, HeldWhen::gradient_penalty, false, nullptr, "the gradient penalty's n x k factor"},
    {"GT", Extent::d, Extent::k, HeldWhen::weight_decay_full_spectrum, false, nullptr,
     "the gradient's transpose, for the spectrum of a weight-decayed gradient"},
    {"spectrum_block", Extent::block, Extent::d, HeldWhen::truncated_spectrum, true, nullptr,
     "the truncated spectrum's block of right vectors, the next epoch's warm start"},
    {"momentum_buffer", Extent::k, Extent::d, HeldWhen::momentum, true, nullptr,
     "the momentum buffer b of torch.optim.SGD, b <- mu b + g"},
    {"adam_m", Extent::k, Extent::d, HeldWhen::adam, true, nullptr, "Adam's first moment m <- beta1 m + (1 - beta1) g"},
    {"adam_v", Extent::k, Extent::d, HeldWhen::adam, true, nullptr,
     "Adam's second moment v <- beta2 v + (1 - beta2) g^2"},
};
static_assert(std::size(kRunTensors) == kRunTensorCount, "a row of kRunTensors per RunTensor");

inline const RunTensorInfo& info(RunTensor t) { return kRunTensors[static_cast<std::size_t>(t)]; }

// The sizes the extents stand for in one run.
struct RunExtents {
  std::int64_t k = 0, d = 0, n = 0, n_test = 0, block = 0, energy = 2;
  std::int64_t of(Extent e) const {
    switch (e) {
      case Extent::one: return 1;
      case Extent::k: return k;
      case Extent::d: return d;
      case Extent::n: return n;
      case Extent::n_test: return n_test;
      case Extent::block: return block;
      case Extent::energy: return energy;
    }
    return 0;
  }
  std::int64_t rows(const RunTensorInfo& t) const { return of(t.rows); }
  std::int64_t cols(const RunTensorInfo& t) const { return of(t.cols); }
  std::int64_t size(const RunTensorInfo& t) const { return rows(t) * cols(t); }
  // The same as a double, for estimates at sizes whose product an int64 cannot hold.
  double elements(const RunTensorInfo& t) const { return double(rows(t)) * double(cols(t)); }
};

// A configuration's extents (the energy subspace at its largest, 2 columns).
RunExtents run_extents(const Config& config);

// Whether `run` of `config` holds tensor `t`.
bool holds(const RunTensorInfo& t, const Config& config, const RunSpec& run);

// Whether some run of `config` holds it.
bool any_run_holds(const RunTensorInfo& t, const Config& config);

// The tensors a checkpoint of `config` keeps, in the table's order: the checkpointed rows some run
// holds, a dataset checkpoints/group<i>/<name> each.
std::vector<RunTensor> checkpointed_tensors(const Config& config);

// A run's checkpointed tensors, each as float64 values, in checkpointed_tensors' order.
using CheckpointedValues = std::vector<std::vector<double>>;

}  // namespace lowrank
