// The sweep file (SPEC §10): every gathered series over (run, the axes, replicate, epoch), its
// mean and standard error over the replicates, each cell's status, the axes' values, and the
// whole sweep's configuration; netCDF-style dimension scales, so that
// xarray.open_dataset(FILE, engine="h5netcdf") gives one Dataset. Written as cells finish (SWMR).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "h5_objects.hpp"
#include "sweep_config.hpp"

namespace lowrank {

// What one cell's replicate gives: values[(run · series + s) · epochs + t] in the spec's order
// (NaN where a run did not reach an epoch or does not record a series), and whether it diverged.
// A cell run on the CPU backend, in CellResult::device and the file's cell_device.
inline constexpr int kCpuDevice = -1;

struct CellResult {
  std::vector<double> values;
  bool diverged = false;
  int device = kCpuDevice;  // the CUDA device it ran on (among the visible ones), or kCpuDevice
};

// A cell's status in `cell_status`: not yet run, complete, or stopped by a divergence.
enum class CellStatus : std::int8_t { pending = 0, complete = 1, diverged = 2 };

inline constexpr const char* kSweepFormat = "lowrank-engine-sweep/1";

// A static share of a sweep's cells: replicate r of cell c belongs to shard (c · replicates + r) mod count.
struct Shard {
  std::int64_t index = 0, count = 1;
  bool holds(std::int64_t cell, std::int64_t replicate, std::int64_t replicates) const {
    return (cell * replicates + replicate) % count == index;
  }
};

// "i/N" (0 ≤ i < N), or "auto": Slurm's array task (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of
// SLURM_ARRAY_TASK_COUNT); a ConfigError naming --shard otherwise.
Shard parse_shard(const std::string& text);

class SweepFile {
 public:
  // Creates `path` (which must not exist) for `spec`, every cell pending, and starts SWMR writing;
  // a shard's file says which share it holds (attribute `shard`, "i/N").
  // With keep_runs, `cell_file(cell, replicate)` names each cell's engine file, relative to the
  // sweep file's folder (dataset `cell_file`).
  SweepFile(const std::string& path, const SweepSpec& spec, const std::string& version,
            const std::string& command_line, const std::string& device, Shard shard = {},
            const std::function<std::string(std::int64_t, std::int64_t)>& cell_file = {});
  // Opens a sweep file to go on with it (--resume), or only to read it (`read_only`: --merge):
  // `spec` from its own `config` attribute (see read_sweep_spec); its layout is checked first.
  SweepFile(const std::string& path, const SweepSpec& spec, bool read_only = false);

  // Each (cell, replicate)'s status, cell-major.
  const std::vector<CellStatus>& statuses() const { return status_; }
  Shard shard() const { return shard_; }
  // One finished (cell, replicate)'s values as `write` took them.
  CellResult result(std::int64_t cell, std::int64_t replicate) const;
  // Writes one replicate's series and its cell's mean and standard error; the status last.
  void write(std::int64_t cell, std::int64_t replicate, const CellResult& result);
  // Writes the derived datasets ([[sweep.slopes]]) from the replicates finished so far.
  void write_derived();
  void set_status(const std::string& status);
  void flush();

 private:
  void open_objects();
  // The mean of series k over the finished replicates of (run, cell) at epoch t (their finite
  // values; NaN without any) and its standard error (NaN with fewer than two).
  struct Stats {
    double mean, stderr_;
  };
  Stats replicate_stats(std::size_t k, std::int64_t run, std::int64_t cell, std::int64_t t) const;
  std::string path_;
  const SweepSpec& spec_;
  H5Handle file_, status_ds_, cell_status_, cell_device_;  // cell_device_: none in a file from before it
  std::vector<H5Handle> series_, mean_, stderr_, derived_;
  std::vector<std::vector<double>> values_;  // per series: runs × cells × replicates × epochs
  std::vector<CellStatus> status_;
  std::vector<std::int8_t> device_;  // per (cell, replicate), as cell_device
  Shard shard_;
};

// The sweep a file holds, parsed again from its `config` attribute, with the whole file checked
// against it before anything changes: its attributes, every object with its type and shape, no
// two names for one dataset, the runs, axes' coordinates and statuses the config says. A
// ConfigError naming `option` (--resume, --merge) and the file otherwise.
SweepSpec read_sweep_spec(const std::string& path, const std::string& option);

}  // namespace lowrank
