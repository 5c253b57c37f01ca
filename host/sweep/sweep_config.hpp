// A sweep (SPEC §10): a base configuration and a [sweep] table of axes, each one or several keys
// varying together over a list of values; the cells are the axes' product, each run `replicates`
// times with draws keyed by (seed, replicate). Every cell's configuration is built and checked
// before any work.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "config.hpp"
#include "memory_estimate.hpp"

namespace lowrank {

struct SweepAxis {
  std::string name;                             // the dimension's name in the sweep file
  std::vector<std::string> keys;                // configuration keys, as --set takes them
  std::vector<std::vector<std::string>> values;  // values[i][j]: key j at point i, as TOML text
};

// A derived dataset: `scale` times the least-squares slope of log(mean of `series` over the
// replicates) against log(`key`) along `axis`, for every run, point of the other axes and epoch
// (the β-estimation's β̂ = −2 · slope of |cos(z, r)| against n).
struct SweepSlope {
  std::string name, series, axis, key;
  double scale = 1.0;
};

struct SweepSpec {
  std::string experiment;
  std::string base_text;   // the configuration without [sweep], overrides applied (TOML)
  std::string sweep_text;  // the [sweep] table as resolved (TOML): with base_text, the whole sweep
  std::vector<SweepAxis> axes;
  std::int64_t replicates = 1;
  bool at_init = false;              // epochs = 0: the metrics at W0 only (one epoch's entering series)
  std::int64_t epochs = 0;           // > 0: every run's epochs (otherwise the base's)
  std::vector<std::string> runs;     // the base's run names
  std::vector<std::string> gathered; // the scalar series gathered, in kSeries order
  std::vector<SweepSlope> slopes;     // [[sweep.slopes]]
  bool keep_runs = false;             // each cell's replicate also writes its engine file
  std::int64_t max_epochs = 1;       // the epoch dimension: the longest run of any cell
  std::vector<std::string> warnings;  // config_warnings: each run's first, with the cells that give it
  // With your own data: the first cell of each distinct set of data files the cells read, whose
  // values (NaN, labels the loss cannot take) are only checked as they are read.
  std::vector<std::int64_t> data_file_cells;
  // The most any cell needs on the CPU backend, and on the CUDA backend (estimate_memory).
  MemoryEstimate cell_memory_cpu, cell_memory_gpu;

  std::int64_t cells() const;        // the product of the axes' lengths (at most 1000000)
  // The bytes of the gathered values, held in memory by each open sweep file and written to it
  // (with their means and standard errors: sweep_file_bytes).
  double value_bytes() const;
  double file_bytes() const;
  // Cell `cell` (row-major over the axes) as its index on each axis.
  std::vector<std::int64_t> cell_index(std::int64_t cell) const;
};

// A stop signal (SIGINT, SIGTERM) arrived while parse_sweep checked the cells.
struct Stopped : std::exception {
  const char* what() const noexcept override { return "stopped by a signal while the cells were checked"; }
};

// Parses a preset's or file's text with its [sweep] table, applies the overrides (to the base and
// the sweep table alike), and checks every cell; a ConfigError naming the key otherwise.
SweepSpec parse_sweep(const std::string& text, const std::string& origin, const std::vector<std::string>& overrides);

// The configuration of one cell's replicate: the base with the cell's axis values, its seed
// keyed by (seed, replicate) (replicate 0: the base's own seed, so that a one-replicate sweep's
// cell is the engine's run of that configuration).
Config cell_config(const SweepSpec& spec, std::int64_t cell, std::int64_t replicate);

std::uint64_t replicate_seed(std::uint64_t seed, std::int64_t replicate);

}  // namespace lowrank
