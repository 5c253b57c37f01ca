// The state table (kRunTensors) against what a run holds: start_run gives a run exactly the
// tensors the table says it holds, with the table's shapes, and the tensors the table marks as
// checkpointed are all a later epoch needs: a run restored from them into a fresh run continues
// bit for bit as the run that never stopped (so a state a later epoch reads that the table does
// not checkpoint makes this fail), for the full and the truncated spectrum, the regularisers and
// the decomposition.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cpu_backend.hpp"
#include "epoch.hpp"
#include "run_tensors.hpp"

namespace lowrank {
namespace {

const char* kConfig = R"(
seed = 5
precision = "float64"
[data]
d = 36
n = 50
n_test = 20
nu = 0.5
[model]
k = 24
[[inputs]]
name = "teacher"
teacher = "sigmoid"
[[runs]]
name = "run"
inputs = "teacher"
activation = "tanh"
gamma = 0.4
lr = 0.3
)";

// Every variant of the state: which optional rows it holds.
const std::vector<std::vector<std::string>> kVariants = {
    {},
    {"spectrum.method=\"truncated\"", "spectrum.rank=5"},
    {"model.gradient_penalty=0.2", "model.weight_decay=0.01", "model.normalize_rows=false"},
    {"decomposition.every=2", "decomposition.n_mu=300", "model.gradient_penalty=0.1"},
    {"runs.run.optimizer=\"momentum\"", "runs.run.nesterov=true"},
    {"runs.run.optimizer=\"adamw\"", "runs.run.lr=0.01"},
};

struct Fixture {
  Config config;
  Inputs in;
  std::unique_ptr<Backend<double>> be = make_cpu_backend<double>();
  DeviceInputs<double> data;
  explicit Fixture(const std::vector<std::string>& overrides)
      : config(parse_config(kConfig, "test", overrides)), in(make_inputs(config, config.inputs.front())) {
    data = load_inputs(*be, in, config);
  }
  RunState<double> run() { return start_run(*be, config, config.runs.front(), data, in); }
  EpochRecord epoch(RunState<double>& s) {
    EpochRecord rec;
    EXPECT_TRUE(run_epoch(*be, s, {}, rec));
    ++s.epoch;
    return rec;
  }
};

TEST(RunTensors, ARunHoldsWhatTheTableSaysWithItsShapes) {
  for (const auto& overrides : kVariants) {
    Fixture f(overrides);
    RunState<double> s = f.run();
    RunExtents extents = run_extents(f.config);
    extents.energy = f.data.energy_basis.cols;
    for (std::size_t i = 0; i < kRunTensorCount; ++i) {
      const RunTensorInfo& t = kRunTensors[i];
      const bool held = holds(t, f.config, f.config.runs.front());
      if (static_cast<RunTensor>(i) == RunTensor::spectrum_block) {  // the truncated spectrum's own
        EXPECT_EQ(save_tensor(*f.be, s, RunTensor::spectrum_block).size(),
                  held ? static_cast<std::size_t>(extents.size(t)) : 0u) << t.name;
        continue;
      }
      EXPECT_EQ(s.tensors[i].rows, held ? extents.rows(t) : 0) << t.name << " " << overrides.size();
      EXPECT_EQ(s.tensors[i].cols, held ? extents.cols(t) : 0) << t.name << " " << overrides.size();
    }
  }
}

TEST(RunTensors, TheCheckpointedRowsAreAllALaterEpochNeeds) {
  for (const auto& overrides : kVariants) {
    Fixture f(overrides);
    const std::vector<RunTensor> kept = checkpointed_tensors(f.config);
    RunState<double> through = f.run();
    for (int t = 0; t < 3; ++t) f.epoch(through);
    // A fresh run given the checkpointed tensors (and the epoch count) of `through`.
    RunState<double> restored = f.run();
    for (RunTensor t : kept) restore_tensor(*f.be, restored, t, save_tensor(*f.be, through, t));
    restored.epoch = through.epoch;
    for (int t = 0; t < 3; ++t) {
      const EpochRecord a = f.epoch(through), b = f.epoch(restored);
      for (const SeriesInfo& info : kSeries)
        if (info.scalar && info.scalar != &EpochRecord::epoch_seconds) {
          const double x = a.*info.scalar, y = b.*info.scalar;
          EXPECT_TRUE(x == y || (std::isnan(x) && std::isnan(y))) << info.name << " epoch " << 3 + t << ": " << x
                                                                   << " vs " << y << " (" << overrides.size() << ")";
        }
      EXPECT_EQ(a.singular_values, b.singular_values);
    }
    // Without an optimiser's state the next epoch differs: the test can tell a missing row.
    for (RunTensor missing : {RunTensor::momentum_buffer, RunTensor::adam_m, RunTensor::adam_v}) {
      if (std::find(kept.begin(), kept.end(), missing) == kept.end()) continue;
      RunState<double> partial = f.run();
      for (RunTensor t : kept)
        if (t != missing) restore_tensor(*f.be, partial, t, save_tensor(*f.be, through, t));
      partial.epoch = through.epoch;
      f.epoch(partial);
      f.epoch(through);
      EXPECT_NE(f.epoch(partial).train_mse, f.epoch(through).train_mse) << info(missing).name << " is not needed after all";
    }
    // Without v0 the next epoch's align_initial differs: the test can tell a missing row.
    if (overrides.empty()) {
      RunState<double> partial = f.run();
      for (RunTensor t : kept)
        if (t != RunTensor::v0) restore_tensor(*f.be, partial, t, save_tensor(*f.be, through, t));
      partial.epoch = through.epoch;
      EXPECT_NE(f.epoch(partial).align_initial, f.epoch(through).align_initial) << "v0 is not needed after all";
    }
  }
}

}  // namespace
}  // namespace lowrank
