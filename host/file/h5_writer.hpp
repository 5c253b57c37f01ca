// The HDF5 file of SPEC §6, written while the runs progress: every object is created first,
// then the file switches to SWMR writing, and each epoch extends, writes and flushes, so that
// h5py (swmr=True) reads it during the run.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "h5_objects.hpp"
#include "inputs.hpp"
#include "recorder.hpp"
#include "resume.hpp"
#include "run_tensors.hpp"
#include "series.hpp"
#include "snapshot.hpp"

namespace lowrank {

struct FileHeader {
  std::string engine_version, command_line, device;
  std::int64_t checkpoint_every = 10;  // epochs between checkpoints for --resume
};

class H5Writer final : public Recorder {
 public:
  // Creates `path` (which must not exist: StagedOutput's temporary name), writes the header, the
  // inputs (in the working precision) and every run, pair and checkpoint object, then starts SWMR
  // writing.
  H5Writer(const std::string& path, const FileHeader& header, const Config& config,
           const std::vector<Inputs>& inputs);
  // Reopens `path` to continue it as `plan` says: every series cut back to its group's checkpoint
  // epoch, the unfinished runs and the file marked running again, `resumed_by` (the device and
  // command line) added to its `resumed` attribute, then SWMR writing.
  H5Writer(const std::string& path, const ResumePlan& plan, const std::string& resumed_by);
  ~H5Writer();
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  // Appends epoch `epoch` of run `run` (index into config.runs) and flushes.
  void append_epoch(std::size_t run, std::int64_t epoch, const EpochRecord& record) override;
  void append_pair(std::size_t pair, std::int64_t epoch, double mean_angle_deg) override;
  // The refit: its test MSE and the readout a* (k).
  void set_refit(std::size_t run, double refit_test_mse, const std::vector<double>& refit_a) override;
  // Writes `snapshot` into its row of runs/<run>/snapshots/ (output.snapshot_every > 0).
  void append_snapshot(std::size_t run, const Snapshot& snapshot) override;
  // Run status; `diverged_epoch` is recorded with "diverged".
  void set_run_status(std::size_t run, const std::string& status, std::int64_t diverged_epoch = -1) override;
  void set_status(const std::string& status);
  // The process's peak host memory and the peak of the engine's device buffers (0: none), in
  // bytes; a resumed file keeps the larger of these and what it held.
  void set_peak_memory(double host_bytes, double device_bytes);
  // Stores the state of every run of side-by-side group `group` at `epoch` in checkpoint `slot`
  // (0 or 1), a run's checkpointed tensors each: the data first, then, once flushed, the epoch
  // that makes the slot valid.
  void write_checkpoint(std::size_t group, int slot, std::int64_t epoch,
                        const std::vector<CheckpointedValues>& state) override;
  void flush();

 private:
  struct Series {  // a dataset growing along its first (epoch) dimension
    H5Handle dataset;
    hsize_t width = 0;  // 0: one value per epoch
  };
  struct SnapshotObjects {  // runs/<run>/snapshots/, with output.snapshot_every > 0
    Series epoch;
    std::vector<H5Handle> tensors;  // per row of kRunTensors: its stack, where it has a snapshot_name
    H5Handle grad_left, grad_right;
  };
  struct RunObjects {
    H5Handle group, status, diverged_epoch, refit, refit_a;
    SnapshotObjects snapshots;
    Series epoch;                // the `epoch` dimension scale
    Series spectrum_epoch;       // the heavy series' own, with output.heavy_every > 1
    std::vector<Series> series;  // in the order of kSeries
  };
  struct PairObjects {
    H5Handle group;
    Series epoch, angle;
  };

  struct CheckpointObjects {
    std::vector<H5Handle> tensors;  // checkpointed_tensors' datasets, in its order
    H5Handle epoch;
  };

  static void append_row(Series& s, std::int64_t epoch, const double* values);
  // Opens every run, pair and checkpoint object of the file by name.
  void attach(const Config& config);

  H5Handle file_;
  H5Handle status_, peak_host_, peak_device_;
  std::int64_t heavy_every_ = 1, snapshot_every_ = 0;
  std::vector<RunObjects> runs_;
  std::vector<PairObjects> pairs_;
  std::vector<CheckpointObjects> checkpoints_;
};

}  // namespace lowrank
