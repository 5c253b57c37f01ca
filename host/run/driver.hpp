// The training driver: trains every run of a configuration on one backend, the runs of a pair
// side by side, records SPEC §4's metrics each epoch through a Recorder (the file, or a sweep's
// gathering; on a thread of its own, so that recording does not stall the next epoch), and
// refits at the end.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "backend.hpp"
#include "config.hpp"
#include "epoch.hpp"
#include "inputs.hpp"
#include "progress.hpp"
#include "recorder.hpp"
#include "resume.hpp"

namespace lowrank {

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

struct TrainOptions {
  std::int64_t checkpoint_every = 0;  // epochs between checkpoints (0: none)
  const ResumePlan* resume = nullptr;  // continue each group from its checkpoint (runs that ended before it are not retrained)
  EpochScope scope;                    // what the epochs compute (a sweep at initialisation: what it gathers)
  // Refits, pair angles, the heavy rows and snapshots: what only a file records (a sweep's pool
  // gathers scalar series alone).
  bool file_work = true;
  // Stop at a stop signal once every run of the group has finished its epoch; a sweep's cell
  // runs to its end instead (the sweep stops between cells).
  bool stops_on_signal = true;
};

// Trains every run of `config` on `inputs` (one per inputs group), recording into `recorder`.
template <typename T>
Training train_all(Backend<T>& backend, const Config& config, const std::vector<Inputs>& inputs, Recorder& recorder,
                   Progress& progress, const TrainOptions& options = {});

// The summary table: one row per run, a column per series the summary shows (that the runs record).
std::string summary_table(const std::vector<RunSummary>& rows, const Config& config);

}  // namespace lowrank
