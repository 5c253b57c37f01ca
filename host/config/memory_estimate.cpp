#include "memory_estimate.hpp"

#include "run_tensors.hpp"
#include "snapshot.hpp"
#include "truncated_spectrum.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace lowrank {

MemoryEstimate estimate_memory(const Config& c, bool gpu, bool resume) {
  const double n = double(c.n), nt = double(c.n_test), d = double(c.d), k = double(c.k);
  const double s = c.precision == Precision::float32 ? 4 : 8, f64 = 8;
  const double r = std::min(n, d);
  // Host, float64, per inputs group: X, X_bulk, X_test and W0 (each group holds its own copy).
  const double draws = f64 * (2 * n * d + nt * d + k * d) * double(c.inputs.size());
  // Per inputs group on the backend: X and X_test in the working precision, and for the full
  // spectrum the factor of X (Q: d×r, R: r×r) in float64.
  const bool full = c.spectrum == SpectrumMethod::full;
  const double group = s * (n * d + nt * d) + (full ? f64 * (d * r + r * r) : 0);
  // Per run: its tensors (kRunTensors, in the working precision), the most any run holds; beside
  // the block, the truncated spectrum's work (l×d twice, l×k, l×l and l).
  const RunExtents extents = run_extents(c);
  double run = 0;
  for (const RunSpec& spec : c.runs) {
    double held = 0;
    for (const RunTensorInfo& t : kRunTensors)
      if (holds(t, c, spec)) held += extents.elements(t);
    run = std::max(run, s * held);
  }
  const double l = double(extents.block);
  if (!full) run += s * l * (2 * d + k + l + 1);
  // The most runs trained side by side at once: the largest group of paired runs.
  std::size_t side_by_side = 0;
  for (const auto& g : side_by_side_groups(c)) side_by_side = std::max(side_by_side, g.size());
  // The decomposition: X_B, σ'_⊥ and P (n×k), E and the check (k×d), μ's samples and their
  // products in the working precision (drawn on the host in it); with weight decay, I_d's factor.
  const bool decomposition = c.decomposition_every > 0, decay = c.any_run_has(&RunSpec::weight_decay) && full;
  const double samples = decomposition && c.mu_source == MuSource::fresh ? double(c.n_mu) : 0;
  const double extra_group = decomposition ? s * n * d : 0;
  const double extra_run = decomposition ? s * (2 * n * k + 2 * k * d + samples * (d + k)) : 0;
  const double identity = decay ? f64 * 2 * d * d : 0;
  // Work arrays in float64, the largest use of each (the CUDA backend keeps them as scratch slots;
  // the CPU backend's temporaries are of the same sizes, its copy of M twice): the spectrum's copy
  // of M (n'×k, with n' = d for a weight-decayed ∇, whose dense transpose goes through I_d's
  // factor), which the operator norm's and the weights' singular values' copy of W (k×d) share;
  // B (k×r', r' = min(n', d)); the Gram matrix (p'×p', p' = min(r', k), and with the
  // decomposition W's min(k, d)² for its singular values); with pairs, the angles' copies of W and
  // two bases.
  const double n_spectrum = decay ? d : n, r_spectrum = std::min(n_spectrum, d), p_spectrum = std::min(r_spectrum, k);
  const double copy_of_m = full ? (gpu ? 1 : 2) * n_spectrum * k : 0;
  const double gram = std::max(full ? p_spectrum * p_spectrum : 0, decomposition ? std::min(k, d) * std::min(k, d) : 0);
  const double work = f64 * (std::max(copy_of_m, k * d) + (full ? k * r_spectrum : 0) + gram) +
                      (c.pairs.empty() ? 0 : f64 * 5 * k * d);
  // Runs that measure at W0 alone (epochs = 0) share X W0ᵀ (n×k) per inputs group.
  const bool measures_w0 = std::any_of(c.runs.begin(), c.runs.end(), [](const RunSpec& spec) { return spec.epochs == 0; });
  const double shared = measures_w0 ? s * n * k * double(c.inputs.size()) : 0;
  const double backend = double(c.inputs.size()) * (group + extra_group) + double(side_by_side) * (run + extra_run) +
                         work + identity + shared;
  // The libraries' own memory (CUDA runtime, OpenBLAS buffers, HDF5): ~200 MiB seen at the seed's sizes.
  constexpr double kLibraries = 256.0 * (1 << 20);
  // A resume holds every run's checkpointed tensors in float64, and reads one stored input array
  // at a time (X_train the largest) beside the drawn ones.
  double checkpointed = 0;
  for (RunTensor t : checkpointed_tensors(c)) checkpointed += extents.elements(info(t));
  const double checkpoints = resume ? f64 * double(c.runs.size()) * checkpointed + f64 * std::max(n, nt) * d : 0;
  // A snapshot on the host: W, ∇ and a in float64, and the SVD's copy of ∇ and its factors.
  const double snapshot = c.snapshot_every > 0 ? f64 * (5 * k * d + k) : 0;
  MemoryEstimate e;
  e.host_bytes = kLibraries + draws + checkpoints + snapshot + s * samples * d + (gpu ? 0 : backend);
  e.device_bytes = gpu ? backend : 0;
  return e;
}

double snapshot_file_bytes(const Config& c) {
  if (c.snapshot_every <= 0) return 0;
  const double k = double(c.k), d = double(c.d), r = double(c.snapshot_rank);
  const double s = c.precision == Precision::float32 ? 4 : 8;
  double arrays = 0;
  for (const RunSpec& run : c.runs) arrays += double(snapshot_count(run.epochs, c.snapshot_every));
  const RunExtents extents = run_extents(c);
  double tensors = 0;
  for (const RunTensorInfo& t : kRunTensors)
    if (t.snapshot_name) tensors += extents.elements(t);
  return arrays * (s * tensors + 8 * r * (k + d) + 8);
}

double peak_host_memory() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

double available_host_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    std::istringstream fields(line);
    std::string key;
    double kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

std::string gibibytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1ULL << 30));
  return buf;
}

void check_fits(const char* where, double needed, double available, const std::string& what, const std::string& hint) {
  if (available > 0 && needed > available)
    throw ConfigError(what + " need about " + gibibytes(needed) + " of " + where + " memory and " +
                      gibibytes(available) + " is available; " + hint +
                      (std::string(where) == "GPU" ? ", or use --device cpu" : ""));
}

}  // namespace lowrank
