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
};

// Everything recorded for one run in one epoch (SPEC §4).
struct EpochRecord {
  double train_mse = 0, test_mse = 0, w_opnorm = 0, energy = 0;
  double align_data = 0, align_residue = 0, align_initial = 0, align_residue_step = 0;
  double align_data_v2 = 0, align_residue_v2 = 0;  // the same two for the second right singular vector
  double epoch_seconds = 0;
  std::vector<double> singular_values;   // min(k, d)
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

class H5Writer {
 public:
  // Creates `path` (which must not exist), writes the header, the inputs (in the working
  // precision) and every run and pair object, then starts SWMR writing.
  H5Writer(const std::string& path, const FileHeader& header, const Config& config,
           const std::vector<Inputs>& inputs);
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
  void flush();

 private:
  struct Series {  // a dataset growing along its first (epoch) dimension
    H5Handle dataset;
    hsize_t width = 0;  // 0: one value per epoch
  };
  struct RunObjects {
    H5Handle group, status, diverged_epoch, refit;
    Series epoch;                // the `epoch` dimension scale
    std::vector<Series> series;  // in the order of kSeries
  };
  struct PairObjects {
    H5Handle group;
    Series epoch, angle;
  };

  static void append_row(Series& s, std::int64_t epoch, const double* values);

  H5Handle file_;
  H5Handle status_;
  std::vector<RunObjects> runs_;
  std::vector<PairObjects> pairs_;
};

}  // namespace lowrank
