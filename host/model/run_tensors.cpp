#include "run_tensors.hpp"

#include "truncated_spectrum.hpp"

namespace lowrank {

RunExtents run_extents(const Config& c) {
  return {c.k, c.d, c.n, c.n_test, truncated_block(c.spectrum_rank, c.k, c.d), 2};
}

bool holds(const RunTensorInfo& t, const Config& c, const RunSpec& run) {
  switch (t.held) {
    case HeldWhen::always: return true;
    case HeldWhen::truncated_spectrum: return c.spectrum == SpectrumMethod::truncated;
    case HeldWhen::gradient_penalty: return run.gradient_penalty > 0;
    case HeldWhen::weight_decay_full_spectrum: return run.weight_decay > 0 && c.spectrum == SpectrumMethod::full;
    case HeldWhen::momentum: return run.optimizer.kind == OptimizerKind::momentum;
    case HeldWhen::adam: return run.optimizer.adam();
  }
  return false;
}

bool any_run_holds(const RunTensorInfo& t, const Config& c) {
  return std::any_of(c.runs.begin(), c.runs.end(), [&](const RunSpec& r) { return holds(t, c, r); });
}

std::vector<RunTensor> checkpointed_tensors(const Config& c) {
  std::vector<RunTensor> out;
  for (std::size_t i = 0; i < kRunTensorCount; ++i)
    if (kRunTensors[i].checkpointed && any_run_holds(kRunTensors[i], c)) out.push_back(static_cast<RunTensor>(i));
  return out;
}

}  // namespace lowrank
