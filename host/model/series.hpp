// The per-epoch series of a run (SPEC §4): what one epoch records, and the one table that declares
// every series (its name, shape, the weights it is taken at, a one-line meaning and its unit),
// which the writer (datasets and their netCDF-style attributes), the resume and the summary
// iterate. Readers (engine-plot, the tests) discover the series from the file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.hpp"
#include "snapshot.hpp"

namespace lowrank {

// Everything recorded for one run in one epoch.
struct EpochRecord {
  double train_mse = 0, test_mse = 0, w_opnorm = 0, energy = 0;
  double align_data = 0, align_residue = 0, align_initial = 0, align_residue_step = 0;
  double align_data_v2 = 0, align_residue_v2 = 0;  // the same two for the second right singular vector
  double epoch_seconds = 0;
  double train_accuracy = 0, test_accuracy = 0;  // with a classification loss
  double loss_weight_decay = 0, loss_gradient_penalty = 0;  // the regularisers' terms, when on
  // The decomposition (SPEC §9), NaN in epochs it does not run.
  double mu_abs_min = 0, mu_abs_max = 0, mu_norm = 0;
  double opnorm_grad = 0, opnorm_S1 = 0, opnorm_S12 = 0, opnorm_S2 = 0, opnorm_E = 0, opnorm_R = 0, sigma2_R = 0;
  double decomposition_residual = 0, energy_grad_R2 = 0, energy_weights_R2 = 0;
  double effective_rank_grad = 0, effective_rank_weights = 0;
  double residual_max = 0, residual_norm = 0, cos_z_residual = 0, opnorm_sigma_prime_perp = 0;
  double align_label = 0, align_teacher = 0, align_R_u1 = 0, align_R_u2 = 0;
  double R_v1_data = 0, R_v1_residue = 0, R_v2_data = 0, R_v2_residue = 0;
  // Every heavy_every-th epoch, else empty.
  std::vector<double> singular_values;   // Config::singular_count()
  std::vector<double> top_right_vector;  // d
  std::vector<double> mu;                // k: the decomposition's μ (NaN when it did not run)
  Snapshot snapshot;                     // in a snapshot epoch ([output] snapshot_every)
};

// One row of the summary table.
struct RunSummary {
  std::string name, status;
  std::int64_t epochs_done = 0;
  EpochRecord last;  // the last recorded epoch (no vectors)
  double refit_test_mse = std::numeric_limits<double>::quiet_NaN();  // NaN: not refit (diverged, interrupted)
  double epochs_per_second = 0;
};

// What one epoch adds to a series: a number, or a row of the spectrum (Config::singular_count()
// values), of an input-space vector (d values) or of a neuron-space one (k values). Rows come
// every output.heavy_every-th epoch only.
enum class SeriesShape { scalar, spectrum, vector, neurons };

// The weights a series is taken at: W_t enters epoch t, W_{t+1} leaves it (after the step and
// the row renormalisation); the epoch's wall time spans both.
enum class TakenAt { entering, leaving, whole_epoch };

// Which runs record a series: every run; those trained with a classification loss; with the
// decomposition on; with it or output.alignments. A regulariser's term is recorded by every run
// when some run has it on.
enum class RecordedFor { every_run, classification, weight_decay, gradient_penalty, decomposition, alignments };

// What of an epoch a series needs, each more than the one before: the forward pass (the losses
// and the residual), the gradient with its top singular pair, the spectrum of [spectrum] (every
// singular value, or the truncated top; v2), the decomposition, the step (the series at W_(t+1),
// and the whole epoch's time). A sweep at
// initialisation computes what its gathered series need (EpochScope).
enum class Needs { forward, top_pair, spectrum, decomposition, step };

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
  RecordedFor recorded_for;
  Needs needs;
};

// SPEC §4's series in its order, then the engine's additions.
inline constexpr SeriesInfo kSeries[] = {
    {"train_mse", SeriesShape::scalar, TakenAt::entering,
     "the loss on the training set, the one the step descends (the mean squared error unless model.loss says "
     "otherwise)",
     "1", &EpochRecord::train_mse, nullptr, 5, RecordedFor::every_run, Needs::forward},
    {"test_mse", SeriesShape::scalar, TakenAt::leaving,
     "the loss on the test set (the mean squared error unless model.loss says otherwise)", "1",
     &EpochRecord::test_mse, nullptr, 5, RecordedFor::every_run, Needs::step},
    {"w_opnorm", SeriesShape::scalar, TakenAt::leaving, "largest singular value of W", "1", &EpochRecord::w_opnorm,
     nullptr, 5, RecordedFor::every_run, Needs::step},
    {"grad_singular_values", SeriesShape::spectrum, TakenAt::entering,
     "singular values of the gradient of the loss in W, descending", "1", nullptr, &EpochRecord::singular_values, 0, RecordedFor::every_run, Needs::spectrum},
    {"grad_top_right_vector", SeriesShape::vector, TakenAt::entering,
     "leading right singular vector v_t of the gradient, unit, sign following v_(t-1)", "1", nullptr,
     &EpochRecord::top_right_vector, 0, RecordedFor::every_run, Needs::spectrum},
    {"energy", SeriesShape::scalar, TakenAt::leaving,
     "||W Q||_F / ||W||_F, Q an orthonormal basis of span(X_B^T y, q)", "1", &EpochRecord::energy, nullptr, 4, RecordedFor::every_run, Needs::step},
    {"align_data", SeriesShape::scalar, TakenAt::entering, "|<v_t, q>|: alignment of v_t with the data spike q", "1",
     &EpochRecord::align_data, nullptr, 4, RecordedFor::every_run, Needs::top_pair},
    {"align_residue", SeriesShape::scalar, TakenAt::entering,
     "|cos(v_t, X_B^T r_t)|: alignment of v_t with the data residue", "1", &EpochRecord::align_residue, nullptr, 4, RecordedFor::every_run, Needs::top_pair},
    {"align_initial", SeriesShape::scalar, TakenAt::entering, "|<v_t, v_0>|: alignment of v_t with v_0", "1",
     &EpochRecord::align_initial, nullptr, 0, RecordedFor::every_run, Needs::top_pair},
    {"align_residue_step", SeriesShape::scalar, TakenAt::entering,
     "|cos(X^T r_t, X^T r_(t-1))|: alignment of successive residues, NaN at t = 0", "1",
     &EpochRecord::align_residue_step, nullptr, 0, RecordedFor::every_run, Needs::top_pair},
    {"epoch_seconds", SeriesShape::scalar, TakenAt::whole_epoch, "wall time of the epoch with its metrics", "s",
     &EpochRecord::epoch_seconds, nullptr, 0, RecordedFor::every_run, Needs::step},
    {"align_data_v2", SeriesShape::scalar, TakenAt::entering,
     "|<v2_t, q>|, v2_t the second right singular vector of the gradient", "1", &EpochRecord::align_data_v2, nullptr,
     0, RecordedFor::every_run, Needs::spectrum},
    {"align_residue_v2", SeriesShape::scalar, TakenAt::entering,
     "|cos(v2_t, X_B^T r_t)|, v2_t the second right singular vector of the gradient", "1",
     &EpochRecord::align_residue_v2, nullptr, 0, RecordedFor::every_run, Needs::spectrum},
    {"train_accuracy", SeriesShape::scalar, TakenAt::entering,
     "fraction of training samples whose class F predicts (bce: F > 0, i.e. sigmoid(F) > 1/2, against y > 1/2; "
     "hinge: sign of F against y)",
     "1", &EpochRecord::train_accuracy, nullptr, 4, RecordedFor::classification, Needs::forward},
    {"test_accuracy", SeriesShape::scalar, TakenAt::leaving, "fraction of test samples whose class F predicts", "1",
     &EpochRecord::test_accuracy, nullptr, 4, RecordedFor::classification, Needs::step},
    {"loss_weight_decay", SeriesShape::scalar, TakenAt::entering, "the weight decay term (lambda/2) ||W_t||_F^2 of the training loss", "1", &EpochRecord::loss_weight_decay, nullptr, 0,
     RecordedFor::weight_decay, Needs::forward},
    {"loss_gradient_penalty", SeriesShape::scalar, TakenAt::entering, "the gradient penalty term (lambda gamma^2/2n) sum_i ||x_i||^2 sum_j a_j^2 sigma'(w_j^T x_i)^2 of the training loss", "1", &EpochRecord::loss_gradient_penalty, nullptr, 0,
     RecordedFor::gradient_penalty, Needs::forward},
    {"mu", SeriesShape::neurons, TakenAt::entering,
     "mu_j: mean of sigma'(w_j^T x) over decomposition.n_mu fresh samples (or the training X); NaN rows in epochs "
     "without the decomposition",
     "1", nullptr, &EpochRecord::mu, 0, RecordedFor::decomposition, Needs::decomposition},
    {"mu_abs_min", SeriesShape::scalar, TakenAt::entering, "min_j |mu_j|", "1", &EpochRecord::mu_abs_min, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"mu_abs_max", SeriesShape::scalar, TakenAt::entering, "max_j |mu_j|", "1", &EpochRecord::mu_abs_max, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"mu_norm", SeriesShape::scalar, TakenAt::entering, "||mu||_2", "1", &EpochRecord::mu_norm, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"opnorm_grad", SeriesShape::scalar, TakenAt::entering, "||grad||_2, the gradient's largest singular value", "1", &EpochRecord::opnorm_grad, nullptr, 0,
     RecordedFor::alignments, Needs::top_pair},
    {"opnorm_S1", SeriesShape::scalar, TakenAt::entering, "||S1||_2, S1 = c (a*mu)(X_B^T r)^T, c = gamma/n", "1", &EpochRecord::opnorm_S1, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"opnorm_S12", SeriesShape::scalar, TakenAt::entering, "||S12||_2, S12 = c (a*mu)(X_S^T r)^T", "1", &EpochRecord::opnorm_S12, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"opnorm_S2", SeriesShape::scalar, TakenAt::entering, "||S2||_2, S2 = c [(r a^T)*sigma'_perp]^T X_S", "1", &EpochRecord::opnorm_S2, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"opnorm_E", SeriesShape::scalar, TakenAt::entering, "||E||_2, E = c [(r a^T)*sigma'_perp]^T X_B", "1", &EpochRecord::opnorm_E, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"opnorm_R", SeriesShape::scalar, TakenAt::entering, "||R||_2, R = S1 + S12 + S2", "1", &EpochRecord::opnorm_R, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"sigma2_R", SeriesShape::scalar, TakenAt::entering, "second singular value of R", "1", &EpochRecord::sigma2_R, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"decomposition_residual", SeriesShape::scalar, TakenAt::entering, "||grad - R - E - (the regularisers' gradients)||_F / ||grad||_F: rounding level, a check", "1", &EpochRecord::decomposition_residual, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"energy_grad_R2", SeriesShape::scalar, TakenAt::entering, "||grad V2||_F / ||grad||_F, V2 the top two right singular vectors of R", "1", &EpochRecord::energy_grad_R2, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"energy_weights_R2", SeriesShape::scalar, TakenAt::entering, "||W_t V2||_F / ||W_t||_F", "1", &EpochRecord::energy_weights_R2, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"effective_rank_grad", SeriesShape::scalar, TakenAt::entering, "exp(-sum p_i log(p_i + 1e-8)), p_i = sigma_i / sum sigma over the gradient's singular values (NaN with the truncated spectrum)", "1", &EpochRecord::effective_rank_grad, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"effective_rank_weights", SeriesShape::scalar, TakenAt::entering, "the same over the singular values of W_t", "1", &EpochRecord::effective_rank_weights, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"residual_max", SeriesShape::scalar, TakenAt::entering, "||r||_inf", "1", &EpochRecord::residual_max, nullptr, 0,
     RecordedFor::decomposition, Needs::forward},
    {"residual_norm", SeriesShape::scalar, TakenAt::entering, "||r||_2", "1", &EpochRecord::residual_norm, nullptr, 0,
     RecordedFor::decomposition, Needs::forward},
    {"cos_z_residual", SeriesShape::scalar, TakenAt::entering, "|z^T r| / (||z|| ||r||), z the spike's latent", "1", &EpochRecord::cos_z_residual, nullptr, 0,
     RecordedFor::decomposition, Needs::forward},
    {"opnorm_sigma_prime_perp", SeriesShape::scalar, TakenAt::entering, "||sigma'(X W_t^T) - 1 mu^T||_2", "1", &EpochRecord::opnorm_sigma_prime_perp, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"align_label", SeriesShape::scalar, TakenAt::entering, "|cos(v_t, X_B^T y)|", "1", &EpochRecord::align_label, nullptr, 0,
     RecordedFor::alignments, Needs::top_pair},
    {"align_teacher", SeriesShape::scalar, TakenAt::entering, "|cos(v_t, beta)| (beta_1 of the triple index)", "1", &EpochRecord::align_teacher, nullptr, 0,
     RecordedFor::alignments, Needs::top_pair},
    {"align_R_u1", SeriesShape::scalar, TakenAt::entering, "|<v_t, V2 column 1>|", "1", &EpochRecord::align_R_u1, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"align_R_u2", SeriesShape::scalar, TakenAt::entering, "|<v_t, V2 column 2>|", "1", &EpochRecord::align_R_u2, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"R_v1_data", SeriesShape::scalar, TakenAt::entering, "|<V2 column 1, q>|: R's top direction as the data spike", "1", &EpochRecord::R_v1_data, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"R_v1_residue", SeriesShape::scalar, TakenAt::entering, "|cos(V2 column 1, X_B^T r)|: R's top direction as the residue", "1", &EpochRecord::R_v1_residue, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"R_v2_data", SeriesShape::scalar, TakenAt::entering, "|<V2 column 2, q>|", "1", &EpochRecord::R_v2_data, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},
    {"R_v2_residue", SeriesShape::scalar, TakenAt::entering, "|cos(V2 column 2, X_B^T r)|", "1", &EpochRecord::R_v2_residue, nullptr, 0,
     RecordedFor::decomposition, Needs::decomposition},

};

// Whether the runs of `config` record series `s`.
inline bool recorded(const SeriesInfo& s, const Config& config) {
  switch (s.recorded_for) {
    case RecordedFor::every_run: return true;
    case RecordedFor::classification: return is_classification(config.loss);
    case RecordedFor::weight_decay: return config.any_run_has(&RunSpec::weight_decay);
    case RecordedFor::gradient_penalty: return config.any_run_has(&RunSpec::gradient_penalty);
    case RecordedFor::decomposition: return config.decomposition_every > 0;
    case RecordedFor::alignments: return config.records_alignments();
  }
  return true;
}

// Whether a run that does not record `s` has it as 0: a regulariser's term is 0 where the regulariser
// is off (a sweep gathers that 0, so cells over its strength compare), where an accuracy or the
// decomposition's series has no value.
inline bool zero_where_not_recorded(const SeriesInfo& s) {
  return s.recorded_for == RecordedFor::weight_decay || s.recorded_for == RecordedFor::gradient_penalty;
}

// Values a row of the series holds: 0 for a scalar.
inline std::int64_t series_width(const SeriesInfo& s, const Config& config) {
  switch (s.shape) {
    case SeriesShape::scalar: return 0;
    case SeriesShape::spectrum: return config.singular_count();
    case SeriesShape::vector: return config.d;
    case SeriesShape::neurons: return config.k;
  }
  return 0;
}

// The series of that name (a logic_error for a name no series has: callers take names from kSeries).
inline const SeriesInfo& series_named(const std::string& name) {
  for (const SeriesInfo& s : kSeries)
    if (name == s.name) return s;
  throw std::logic_error("no series named " + name);
}

// The most any of the named series needs (Needs::forward for none).
inline Needs needs_of(const std::vector<std::string>& names) {
  Needs most = Needs::forward;
  for (const std::string& name : names) most = std::max(most, series_named(name).needs);
  return most;
}

// The spectrum and the vector: written every heavy_every-th epoch only.
inline bool is_heavy(const SeriesInfo& s) { return s.shape != SeriesShape::scalar; }

// "W_t", "W_(t+1)", "W_t to W_(t+1)": the file's taken_at attribute.
inline const char* taken_at_text(TakenAt at) {
  return at == TakenAt::entering ? "W_t" : at == TakenAt::leaving ? "W_(t+1)" : "W_t to W_(t+1)";
}

}  // namespace lowrank
