// The per-epoch series of a run (SPEC §4): what one epoch records, and the one table naming them,
// which the writer and the resume iterate.
#pragma once

#include <vector>

namespace lowrank {

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

// The per-epoch series of a run group, in SPEC §4's order, then the engine's additions; 'S'
// marks the spectrum (Config::singular_count() wide), 'V' the vector (d wide), '.' a scalar.
struct SeriesName {
  const char* name;
  char shape;
};
inline constexpr SeriesName kSeries[] = {
    {"train_mse", '.'},      {"test_mse", '.'},           {"w_opnorm", '.'},      {"grad_singular_values", 'S'},
    {"grad_top_right_vector", 'V'}, {"energy", '.'},      {"align_data", '.'},    {"align_residue", '.'},
    {"align_initial", '.'},  {"align_residue_step", '.'}, {"epoch_seconds", '.'},
    {"align_data_v2", '.'},  {"align_residue_v2", '.'},
};

// The spectrum and the vector: written every heavy_every-th epoch only.
inline bool is_heavy(const SeriesName& s) { return s.shape != '.'; }

}  // namespace lowrank
