// The HDF5 file of SPEC §6, written while the runs progress: every object is created first,
// then the file switches to SWMR writing, and each epoch extends, writes and flushes, so that
// h5py (swmr=True) reads it during the run.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "inputs.hpp"

namespace lowrank {

struct FileHeader {
  std::string engine_version, command_line, device;
  std::int64_t checkpoint_every = 10;  // epochs between checkpoints for --resume
};

// Everything recorded for one run in one epoch (SPEC §4).
struct EpochRecord {
  double train_mse = 0, test_mse = 0, w_opnorm = 0, energy = 0;
  double align_data = 0, align_residue = 0, align_initial = 0, align_residue_step = 0;
  double align_data_v2 = 0, align_residue_v2 = 0;  // the same two for the second right singular vector
  double epoch_seconds = 0;
  // Every heavy_every-th epoch, else empty.
  std::vector<double> singular_values;   // Config::singular_count()
  std::vector<double> top_right_vector;  // d
};

// An HDF5 identifier closed by its own H5*close when it goes out of scope.
class H5Handle {
 public:
  H5Handle() = default;
  explicit H5Handle(hid_t id) : id_(id) {}
  H5Handle(H5Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  H5Handle& operator=(H5Handle&& o) noexcept;
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle();
  hid_t get() const { return id_; }

 private:
  hid_t id_ = -1;
};

// Where `engine --resume` continues a file: per side-by-side group, the epoch of its newest
// complete checkpoint and the runs' state there; per run, what the file says of it.
struct ResumePlan {
  struct Run {
    std::string status;
    std::int64_t rows = 0, diverged_epoch = -1;
    // What a run that is not retrained shows in the summary: its last row, refit and seconds.
    EpochRecord last;
    double refit_test_mse = 0, seconds = 0;
  };
  struct Group {
    std::int64_t epoch = 0;  // 0: no checkpoint, start over
    int slot = -1;           // the slot holding it
    // Per run of the group: W (k×d) and its four vectors (v0, v_prev, xr_prev, opnorm start; 4×d).
    std::vector<std::vector<double>> W, vectors;
  };
  Config config;
  std::string status;   // the file's
  std::string device;   // the device that wrote it (the header's)
  std::string resumed;  // the file's earlier resumptions, a line each ("" if none)
  std::vector<Inputs> inputs;  // drawn from the configuration, and checked to be the file's
  std::int64_t checkpoint_every = 10;
  std::vector<Run> runs;
  std::vector<Group> groups;
  // Whether run `run` (of group `group`) ended before its group's checkpoint: it is not retrained.
  bool finished(std::size_t run, std::size_t group) const;
};

// Reads `path` for --resume: its configuration, runs and checkpoints, and checks that the inputs
// the configuration draws are the file's. A ConfigError says what is wrong with a foreign,
// older-format, damaged or complete file.
ResumePlan plan_resume(const std::string& path);

class H5Writer {
 public:
  // Creates `path` (which must not exist), writes the header, the inputs (in the working
  // precision) and every run, pair and checkpoint object, then starts SWMR writing.
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
  void append_epoch(std::size_t run, std::int64_t epoch, const EpochRecord& record);
  void append_pair(std::size_t pair, std::int64_t epoch, double mean_angle_deg);
  void set_refit(std::size_t run, double refit_test_mse);
  // Run status; `diverged_epoch` is recorded with "diverged".
  void set_run_status(std::size_t run, const std::string& status, std::int64_t diverged_epoch = -1);
  void set_status(const std::string& status);
  // The process's peak host memory and the peak of the engine's device buffers (0: none), in
  // bytes; a resumed file keeps the larger of these and what it held.
  void set_peak_memory(double host_bytes, double device_bytes);
  // Stores the state of every run of side-by-side group `group` at `epoch` in checkpoint `slot`
  // (0 or 1): the data first, then, once flushed, the epoch that makes the slot valid.
  void write_checkpoint(std::size_t group, int slot, std::int64_t epoch, const std::vector<std::vector<double>>& W,
                        const std::vector<std::vector<double>>& vectors);
  void flush();

 private:
  struct Series {  // a dataset growing along its first (epoch) dimension
    H5Handle dataset;
    hsize_t width = 0;  // 0: one value per epoch
  };
  struct RunObjects {
    H5Handle group, status, diverged_epoch, refit;
    Series epoch;                // the `epoch` dimension scale
    Series spectrum_epoch;       // the heavy series' own, with output.heavy_every > 1
    std::vector<Series> series;  // in the order of kSeries
  };
  struct PairObjects {
    H5Handle group;
    Series epoch, angle;
  };

  struct CheckpointObjects {
    H5Handle W, vectors, epoch;
  };

  static void append_row(Series& s, std::int64_t epoch, const double* values);
  // Opens every run, pair and checkpoint object of the file by name.
  void attach(const Config& config);

  H5Handle file_;
  H5Handle status_, peak_host_, peak_device_;
  std::int64_t heavy_every_ = 1;
  std::vector<RunObjects> runs_;
  std::vector<PairObjects> pairs_;
  std::vector<CheckpointObjects> checkpoints_;
};

}  // namespace lowrank
