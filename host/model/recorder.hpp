// Where a training's results go: the narrow interface train_all records through, implemented by
// the HDF5 file (H5Writer) and by a sweep's gathering of its series (cell_runner). Called in
// order, from one thread (the driver's write queue).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "run_tensors.hpp"
#include "series.hpp"
#include "snapshot.hpp"

namespace lowrank {

class Recorder {
 public:
  virtual ~Recorder() = default;
  // Epoch `epoch` of run `run` (an index into config.runs).
  virtual void append_epoch(std::size_t run, std::int64_t epoch, const EpochRecord& record) = 0;
  virtual void append_pair(std::size_t pair, std::int64_t epoch, double mean_angle_deg) = 0;
  virtual void append_snapshot(std::size_t run, const Snapshot& snapshot) = 0;
  // The refit: its test MSE and the readout a* (k).
  virtual void set_refit(std::size_t run, double refit_test_mse, const std::vector<double>& refit_a) = 0;
  // Run status; `diverged_epoch` is recorded with "diverged".
  virtual void set_run_status(std::size_t run, const std::string& status, std::int64_t diverged_epoch = -1) = 0;
  // The state of every run of side-by-side group `group` at `epoch`, into checkpoint `slot` (0 or 1).
  virtual void write_checkpoint(std::size_t group, int slot, std::int64_t epoch,
                                const std::vector<CheckpointedValues>& state) = 0;
};

}  // namespace lowrank
