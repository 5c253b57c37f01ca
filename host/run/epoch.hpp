// One run's epoch, the driver's unit of work: the training set and the run's state on the
// backend, and the epoch itself (SPEC §4). The driver trains with these; the benchmarks time
// them, so that what they time is what the engine runs.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "backend.hpp"
#include "config.hpp"
#include "decomposition.hpp"
#include "inputs.hpp"
#include "optimizer.hpp"
#include "run_tensors.hpp"
#include "series.hpp"
#include "truncated_spectrum.hpp"

namespace lowrank {

// What a run's epochs compute: everything (the driver), or what some series need (Needs,
// series.hpp): a sweep at initialisation computes what it gathers. Every scalar series beyond the
// scope is NaN (but epoch_seconds, the time of what was computed): short of the step, W stays W_t; short of the gradient, only the losses and the
// residual's statistics are computed; short of the spectrum, ‖∇‖₂ and v_t come from Lanczos on ∇
// (Backend::operator_norm), v_t's sign not fixed, with no v2 nor heavy rows; short of the
// decomposition, its epochs record only the residual's statistics.
struct EpochScope {
  Needs needs = Needs::step;
  bool leaving() const { return needs >= Needs::step; }
  bool gradient() const { return needs >= Needs::top_pair; }
  bool spectrum() const { return needs >= Needs::spectrum; }
  bool decomposition() const { return needs >= Needs::decomposition; }
};

// One training set on the backend, with what the metrics need of it.
template <typename T>
struct DeviceInputs {
  Buffer<T> X, y, X_test, y_test, spike_latent, q, energy_basis;  // spike_latent: ζ z (n)
  std::shared_ptr<const PreparedData> prepared;
  // With the decomposition: X_B and a vector of n ones; with the gradient penalty: ‖x_i‖² (n);
  // with the alignments (Config::records_alignments): X_Bᵀy and β₁ (d).
  Buffer<T> X_B, ones, x_norms2, label_direction, teacher_direction;
  // The identity I_d's factor, with which Backend::spectrum gives the spectrum of a dense k×d
  // matrix A passed as M = Aᵀ: the gradient's with weight decay (not of the form Mᵀ X).
  std::shared_ptr<const PreparedData> identity;
  EpochScope scope;  // what it was loaded for: a run on it computes no more
};

// The training set `in` on the backend, with what `config`'s spectrum, regularisers and
// decomposition need of it (X's factor for the full spectrum, X_B, ‖x_i‖², I_d's factor), for
// epochs of that scope.
template <typename T>
DeviceInputs<T> load_inputs(Backend<T>& be, const Inputs& in, const Config& config, const EpochScope& scope = {});

// One run's state on the backend: its tensors, a row of kRunTensors each, and what drives its epochs.
template <typename T>
struct RunState {
  const RunSpec* spec = nullptr;
  const DeviceInputs<T>* data = nullptr;
  const Config* config = nullptr;
  // Every tensor the run holds, in kRunTensors' order (empty where it holds none; the truncated
  // spectrum's block lives in `truncated`).
  std::array<Buffer<T>, kRunTensorCount> tensors;
  Buffer<T>& operator[](RunTensor t) { return tensors[static_cast<std::size_t>(t)]; }
  const Buffer<T>& operator[](RunTensor t) const { return tensors[static_cast<std::size_t>(t)]; }
  std::unique_ptr<Optimizer<T>> optimizer;
  std::unique_ptr<TruncatedSpectrum<T>> truncated;  // with [spectrum] method = "truncated"
  std::unique_ptr<Decomposition<T>> decomposition;   // with [decomposition] every > 0, in scope
  std::vector<double> latent;    // with [decomposition] every > 0 out of scope: z (float64), for the residual's statistics
  bool preactivations_ready = false;  // Z holds X W_tᵀ already (set by a caller that shares it): the
                                      // next epoch's forward pass takes the readout alone
  EpochScope scope;              // what its epochs compute (start_run's)
  std::int64_t epoch = 0;        // epochs done
  std::int64_t first_epoch = 0;  // where this process started it (a resumed run's checkpoint)
  bool stopped = false;
  double seconds = 0;
  RunSummary summary;
};

// A checkpointed tensor's values in float64 (exact for both working precisions), and back.
template <typename T>
std::vector<double> save_tensor(Backend<T>& be, RunState<T>& s, RunTensor t);
template <typename T>
void restore_tensor(Backend<T>& be, RunState<T>& s, RunTensor t, const std::vector<double>& values);

// A run at epoch 0 whose epochs compute `scope` (at most what `data` was loaded for): W0, its
// group's a, every other tensor it holds zeroed, its optimiser, and what the scope needs of the
// truncated spectrum and the decomposition.
template <typename T>
RunState<T> start_run(Backend<T>& be, const Config& config, const RunSpec& spec, const DeviceInputs<T>& data,
                      const Inputs& in, const EpochScope& scope = {});

// What an epoch writes beyond its scalars: the heavy rows (the spectrum and the vector), a
// snapshot with that many of the gradient's singular vectors (0: none).
struct EpochRows {
  bool heavy = true;
  std::int64_t snapshot_rank = 0;
};

// One epoch t = s.epoch of one run (SPEC §4's timing) into `rec`, in the run's scope: what is
// measured at W_t, the optimiser's step, what is measured at W_{t+1}. Returns false when the run
// diverged: its loss, gradient or weights turned non-finite. The caller advances s.epoch.
template <typename T>
bool run_epoch(Backend<T>& be, RunState<T>& s, const EpochRows& rows, EpochRecord& rec);

// A snapshot at the run's present weights without a step (the one at t = E, after the last
// epoch): the forward pass and the gradient there, signs following v_(t-1).
template <typename T>
Snapshot snapshot_now(Backend<T>& be, RunState<T>& s, std::int64_t rank);

}  // namespace lowrank
