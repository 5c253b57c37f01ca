// The per-epoch series of a run (SPEC §4): what one epoch records, and the one table that declares
// every series (its name, shape, the weights it is taken at, a one-line meaning and its unit),
// which the writer (datasets and their netCDF-style attributes), the resume and the summary
// iterate. Readers (engine-plot, the tests) discover the series from the file.
#pragma once

#include <vector>

#include "config.hpp"

namespace lowrank {

// Everything recorded for one run in one epoch.
struct EpochRecord {
  double train_mse = 0, test_mse = 0, w_opnorm = 0, energy = 0;
  double align_data = 0, align_residue = 0, align_initial = 0, align_residue_step = 0;
  double align_data_v2 = 0, align_residue_v2 = 0;  // the same two for the second right singular vector
  double epoch_seconds = 0;
  double train_accuracy = 0, test_accuracy = 0;  // with a classification loss
  // Every heavy_every-th epoch, else empty.
  std::vector<double> singular_values;   // Config::singular_count()
  std::vector<double> top_right_vector;  // d
};

// What one epoch adds to a series: a number, or a row of the spectrum (Config::singular_count()
// values) or of a vector (d values). Rows come every output.heavy_every-th epoch only.
enum class SeriesShape { scalar, spectrum, vector };

// The weights a series is taken at: W_t enters epoch t, W_{t+1} leaves it (after the step and
// the row renormalisation); the epoch's wall time spans both.
enum class TakenAt { entering, leaving, whole_epoch };

// Which runs record a series: every run, or those trained with a classification loss.
enum class RecordedFor { every_run, classification };

// One series: the dataset `runs/<run>/<name>`, with attributes long_name (`meaning`), units and
// taken_at. `summary` > 0: a column of the summary table, that many significant digits.
struct SeriesInfo {
  const char* name;
  SeriesShape shape;
  TakenAt taken_at;
  const char* meaning;
  const char* units;  // UDUNITS: "1" for a pure number
  double EpochRecord::*scalar;                // where a scalar series lives in the record
  std::vector<double> EpochRecord::*row;      // where a spectrum or vector row lives
  int summary;
  RecordedFor recorded_for = RecordedFor::every_run;
};

// SPEC §4's series in its order, then the engine's additions.
inline constexpr SeriesInfo kSeries[] = {
    {"train_mse", SeriesShape::scalar, TakenAt::entering,
     "the loss on the training set, the one the step descends (the mean squared error unless model.loss says "
     "otherwise)",
     "1", &EpochRecord::train_mse, nullptr, 5},
    {"test_mse", SeriesShape::scalar, TakenAt::leaving,
     "the loss on the test set (the mean squared error unless model.loss says otherwise)", "1",
     &EpochRecord::test_mse, nullptr, 5},
    {"w_opnorm", SeriesShape::scalar, TakenAt::leaving, "largest singular value of W", "1", &EpochRecord::w_opnorm,
     nullptr, 5},
    {"grad_singular_values", SeriesShape::spectrum, TakenAt::entering,
     "singular values of the gradient of the loss in W, descending", "1", nullptr, &EpochRecord::singular_values, 0},
    {"grad_top_right_vector", SeriesShape::vector, TakenAt::entering,
     "leading right singular vector v_t of the gradient, unit, sign following v_(t-1)", "1", nullptr,
     &EpochRecord::top_right_vector, 0},
    {"energy", SeriesShape::scalar, TakenAt::leaving,
     "||W Q||_F / ||W||_F, Q an orthonormal basis of span(X_B^T y, q)", "1", &EpochRecord::energy, nullptr, 4},
    {"align_data", SeriesShape::scalar, TakenAt::entering, "|<v_t, q>|: alignment of v_t with the data spike q", "1",
     &EpochRecord::align_data, nullptr, 4},
    {"align_residue", SeriesShape::scalar, TakenAt::entering,
     "|cos(v_t, X_B^T r_t)|: alignment of v_t with the data residue", "1", &EpochRecord::align_residue, nullptr, 4},
    {"align_initial", SeriesShape::scalar, TakenAt::entering, "|<v_t, v_0>|: alignment of v_t with v_0", "1",
     &EpochRecord::align_initial, nullptr, 0},
    {"align_residue_step", SeriesShape::scalar, TakenAt::entering,
     "|cos(X^T r_t, X^T r_(t-1))|: alignment of successive residues, NaN at t = 0", "1",
     &EpochRecord::align_residue_step, nullptr, 0},
    {"epoch_seconds", SeriesShape::scalar, TakenAt::whole_epoch, "wall time of the epoch with its metrics", "s",
     &EpochRecord::epoch_seconds, nullptr, 0},
    {"align_data_v2", SeriesShape::scalar, TakenAt::entering,
     "|<v2_t, q>|, v2_t the second right singular vector of the gradient", "1", &EpochRecord::align_data_v2, nullptr,
     0},
    {"align_residue_v2", SeriesShape::scalar, TakenAt::entering,
     "|cos(v2_t, X_B^T r_t)|, v2_t the second right singular vector of the gradient", "1",
     &EpochRecord::align_residue_v2, nullptr, 0},
    {"train_accuracy", SeriesShape::scalar, TakenAt::entering,
     "fraction of training samples whose class F predicts (bce: sign of F - 1/2 against y - 1/2; hinge: sign of F "
     "against y)",
     "1", &EpochRecord::train_accuracy, nullptr, 4, RecordedFor::classification},
    {"test_accuracy", SeriesShape::scalar, TakenAt::leaving, "fraction of test samples whose class F predicts", "1",
     &EpochRecord::test_accuracy, nullptr, 4, RecordedFor::classification},
};

// Whether the runs of `config` record series `s`.
inline bool recorded(const SeriesInfo& s, const Config& config) {
  return s.recorded_for == RecordedFor::every_run || is_classification(config.loss);
}

// The spectrum and the vector: written every heavy_every-th epoch only.
inline bool is_heavy(const SeriesInfo& s) { return s.shape != SeriesShape::scalar; }

// "W_t", "W_(t+1)", "W_t to W_(t+1)": the file's taken_at attribute.
inline const char* taken_at_text(TakenAt at) {
  return at == TakenAt::entering ? "W_t" : at == TakenAt::leaving ? "W_(t+1)" : "W_t to W_(t+1)";
}

}  // namespace lowrank
