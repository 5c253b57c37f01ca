// What a configuration will need in memory, estimated from its sizes before anything is
// allocated, so that a run that cannot fit is refused at once with the numbers.
#pragma once

#include <cstdint>
#include <string>

#include "config.hpp"

namespace lowrank {

struct MemoryEstimate {
  double host_bytes = 0;    // the inputs (float64 draws), and with the CPU backend all buffers
  double device_bytes = 0;  // with the CUDA backend: its buffers and work arrays
};

// An estimate of the peak for `config` on the CPU backend (`gpu` false) or the CUDA backend:
// the buffers the engine allocates, from the sizes, plus an allowance for the libraries
// (at the seed's sizes on the CPU: 0.41 GiB estimated, 0.33 GiB measured). With `resume`, also
// the checkpoints' state and the stored inputs a resume reads to check its draws against.
MemoryEstimate estimate_memory(const Config& config, bool gpu, bool resume = false);

// The bytes `config`'s snapshots take in the file (0 without them): every run's, whole.
double snapshot_file_bytes(const Config& config);

// The most memory this process has held at once (its peak resident set), in bytes.
double peak_host_memory();

// Memory the system can give now (MemAvailable), in bytes; 0 when unknown.
double available_host_memory();

// A ConfigError naming the estimate and the limit when `needed` exceeds `available` (> 0): "`what`
// need about ... ; `hint`".
void check_fits(const char* where, double needed, double available, const std::string& what = "these sizes",
                const std::string& hint = "reduce data.n, data.d or model.k");

std::string gibibytes(double bytes);

}  // namespace lowrank
