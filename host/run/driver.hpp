// The training driver: trains every run of a configuration on one backend, the runs of a pair
// side by side, records SPEC §4's metrics each epoch into the file (on a thread of its own, so
// that writing does not stall the next epoch), and refits at the end.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "backend.hpp"
#include "config.hpp"
#include "h5_writer.hpp"
#include "inputs.hpp"
#include "progress.hpp"

namespace lowrank {

// One row of the summary table.
struct RunSummary {
  std::string name, status;
  std::int64_t epochs_done = 0;
  EpochRecord last;  // the last recorded epoch (no vectors)
  double refit_test_mse = std::numeric_limits<double>::quiet_NaN();  // NaN: not refit (diverged, interrupted)
  double epochs_per_second = 0;
};

// Where a training's wall time went, in seconds: inputs to the backend (and X's factor), every
// run's epochs (their epoch_seconds), the pair angles, the refits, the checkpoints' copies of the
// state, and the wait for the file's queue at the end.
struct TrainTimes {
  double upload = 0, epochs = 0, pair_angles = 0, refits = 0, checkpoints = 0, file_wait = 0;
};

struct Training {
  std::vector<RunSummary> runs;
  TrainTimes seconds;
};

// Checkpoints every `checkpoint_every` epochs (0: never); with `resume`, continues each group from its
// checkpoint (runs that ended before it are not retrained).
template <typename T>
Training train_all(Backend<T>& backend, const Config& config, const std::vector<Inputs>& inputs,
                                  H5Writer& writer, Progress& progress, std::int64_t checkpoint_every,
                                  const ResumePlan* resume = nullptr);

// Groups the runs joined by pairs (connected components, in configuration order): the runs
// of a group are trained side by side, one epoch each in turn.
std::vector<std::vector<std::size_t>> side_by_side_groups(const Config& config);

// Orthonormal basis (d×r, r ≤ 2, row-major) of span(X_Bᵀ y, q): the energy's subspace.
std::vector<double> energy_basis(const Inputs& in, std::int64_t& columns);

// The summary table: one row per run, a column per series the summary shows (that the runs record).
std::string summary_table(const std::vector<RunSummary>& rows, const Config& config);

}  // namespace lowrank
