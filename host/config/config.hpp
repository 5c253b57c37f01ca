// The resolved configuration of one invocation: data model, network, runs and pairs (SPEC §2–§5).
// Built from a preset or a TOML file plus --set overrides, and validated before any work starts.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "scalar_math.hpp"

namespace lowrank {

// A bad configuration value: the message names the key and what is allowed.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bounds of the integers a configuration or the command line takes; a value outside is refused,
// never clamped. Epoch counts stay far from int64's end, so that row arithmetic cannot overflow.
constexpr std::int64_t kMaxEpochs = 1'000'000'000;
constexpr std::int64_t kMaxThreads = 1024;
// Names (experiment, runs, inputs, cells) become parts of file names: the default output
// `<experiment>.h5`, the figures `<run>-loss.png` and `<a>__<b>-angle.png`.
constexpr std::size_t kMaxNameLength = 100;

// `text` as a whole decimal integer in [lo, hi]; otherwise a ConfigError naming `what` and the range.
std::int64_t parse_integer(const std::string& what, const std::string& text, std::int64_t lo, std::int64_t hi);

// The readout a (SPEC §3, §9): N(0, 1/k); ±1/√k; {−1/√k, 0}; {−1, 0}; {−1, 0} / its norm.
enum class AInit { normal, rademacher, seed_binary, binary, binary_unit };
// W0: rows uniform on the unit sphere; or entries N(0, w_scale²/d), unnormalised.
enum class WInit { unit_rows, gaussian };
// The teacher's directions β: uniform on the unit sphere; or N(0, I/d) (Gradient_Alignment).
enum class BetaInit { unit, gaussian };
enum class Precision { float32, float64 };
// How the gradient's spectrum is computed each epoch: every singular value (SPEC §4), or only
// the top `rank` by randomized subspace iteration, for widths where the full SVD's cube dominates.
enum class SpectrumMethod { full, truncated };
// Where X comes from: the spiked model of SPEC §2, or a researcher's file (SPEC §9).
enum class DataSource { model, file };
// Where the decomposition's μ = E[σ'(Wx)] is averaged: fresh samples of the data model (the
// notebook's get_mu), the training X, or the data model exactly (wᵀx is Gaussian: a 1-D integral).
enum class MuSource { fresh, train, exact };
// How a run's W moves (SPEC §11, torch.optim's semantics): full-batch gradient descent (the
// seed's), SGD (the full batch, as gd, until batch_size lands), heavy-ball momentum, Adam, AdamW.
enum class OptimizerKind { gd, sgd, momentum, adam, adamw };

// Each choice's names, declared once: the parser, to_string, the messages and the tests iterate these.
inline constexpr std::pair<const char*, Activation> kActivationNames[] = {
    {"relu", Activation::relu}, {"sigmoid", Activation::sigmoid}, {"tanh", Activation::tanh},
    {"softplus", Activation::softplus}, {"elu", Activation::elu}, {"swish", Activation::swish},
    {"gelu", Activation::gelu}};
inline constexpr std::pair<const char*, Loss> kLossNames[] = {
    {"mse", Loss::mse}, {"half_mse", Loss::half_mse}, {"bce", Loss::bce}, {"hinge", Loss::hinge}};
inline constexpr std::pair<const char*, AInit> kAInitNames[] = {
    {"normal", AInit::normal},  {"rademacher", AInit::rademacher},   {"seed_binary", AInit::seed_binary},
    {"binary", AInit::binary}, {"binary_unit", AInit::binary_unit}};
inline constexpr std::pair<const char*, WInit> kWInitNames[] = {{"unit_rows", WInit::unit_rows},
                                                                {"gaussian", WInit::gaussian}};
inline constexpr std::pair<const char*, BetaInit> kBetaInitNames[] = {{"unit", BetaInit::unit},
                                                                      {"gaussian", BetaInit::gaussian}};
// The teacher beside the activations (a single-index teacher takes an activation's name).
inline constexpr const char* kTripleIndexTeacher = "triple_index";
inline constexpr std::pair<const char*, Precision> kPrecisionNames[] = {{"float32", Precision::float32},
                                                                        {"float64", Precision::float64}};
inline constexpr std::pair<const char*, SpectrumMethod> kSpectrumMethodNames[] = {
    {"full", SpectrumMethod::full}, {"truncated", SpectrumMethod::truncated}};
inline constexpr std::pair<const char*, DataSource> kDataSourceNames[] = {{"model", DataSource::model},
                                                                          {"file", DataSource::file}};
inline constexpr std::pair<const char*, MuSource> kMuSourceNames[] = {
    {"fresh", MuSource::fresh}, {"train", MuSource::train}, {"exact", MuSource::exact}};
inline constexpr std::pair<const char*, OptimizerKind> kOptimizerNames[] = {
    {"gd", OptimizerKind::gd},     {"sgd", OptimizerKind::sgd},     {"momentum", OptimizerKind::momentum},
    {"adam", OptimizerKind::adam}, {"adamw", OptimizerKind::adamw}};

const char* to_string(Activation a);
const char* to_string(Loss l);
const char* to_string(AInit a);
const char* to_string(WInit w);
const char* to_string(BetaInit b);
const char* to_string(Precision p);
const char* to_string(SpectrumMethod m);
const char* to_string(MuSource m);
const char* to_string(DataSource s);
const char* to_string(OptimizerKind o);

// A run's optimiser and its values (SPEC §11; defaults in [model]). Each value applies to some
// optimisers only: `momentum` and `nesterov` to momentum, `beta1`, `beta2` and `eps` to adam and
// adamw, `decoupled_weight_decay` (λ_w) to adamw.
struct OptimizerSpec {
  OptimizerKind kind = OptimizerKind::gd;
  double momentum = 0.9;
  bool nesterov = false;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double decoupled_weight_decay = 0.01;
  bool adam() const { return kind == OptimizerKind::adam || kind == OptimizerKind::adamw; }
  // Whether W moves by W − η∇ alone (gd, and sgd on the full batch): no state, today's files.
  bool plain() const { return kind == OptimizerKind::gd || kind == OptimizerKind::sgd; }
};

// One training set and test set: a teacher and its own draws of X_B, z, β and noise.
// q, W0 and a are shared by every inputs group of an invocation. The teacher is single-index,
// σ*(βᵀx) with σ* = `teacher`, or the triple index sigmoid(β₁ᵀx) + tanh(β₂ᵀx) + relu(β₃ᵀx).
// What an inputs group may take from a file in place of its draw: [[inputs]] W0 = "FILE.h5:/path"
// or "FILE.npy", and from a stack of snapshots (runs/<run>/snapshots/W) the one of W0_epoch = t.
enum class InputsTensor : std::size_t { W0, a, q, beta, count };
inline constexpr const char* kInputsTensorNames[] = {"W0", "a", "q", "beta"};
struct TensorFromFile {
  std::string source;       // as given ("" : drawn)
  std::int64_t epoch = -1;  // <name>_epoch, for a stack (-1: the file holds one array)
  std::int64_t row = -1;    // that epoch's row in the stack
};

struct InputsSpec {
  std::string name;
  Activation teacher = Activation::sigmoid;
  int index = 0;  // position in Config::inputs; keys this group's random streams
  bool triple_index = false;
  BetaInit beta_init = BetaInit::unit;
  double input_noise = 0.0;  // s: X_B += s·N(0, 1) once, at generation (default data.input_noise)
  std::array<TensorFromFile, static_cast<std::size_t>(InputsTensor::count)> from_file{};
  const TensorFromFile& file_of(InputsTensor t) const { return from_file[static_cast<std::size_t>(t)]; }
  // "inputs.<name>.W0": the key that takes tensor `t` from a file, as messages name it.
  std::string file_key(InputsTensor t) const {
    return "inputs." + name + "." + kInputsTensorNames[static_cast<std::size_t>(t)];
  }
  // "sigmoid", ..., or "triple_index": the file's `teacher` attribute.
  const char* teacher_name() const;
};

struct RunSpec {
  std::string name;
  std::string inputs;  // name of the InputsSpec it trains on
  std::string cell;    // preset cell it belongs to ("" when none)
  Activation activation = Activation::sigmoid;
  double gamma = 1.0;  // γ of F(x) = γ Σ a_j σ(w_jᵀx)
  double lr = 1.0;     // η of W ← W − η∇
  std::optional<double> gamma_nb, lr_nb;  // the seed's nominal values, when given that way
  std::int64_t epochs = 1;  // 0: a measurement at W0, no step
  // The epoch rows the run writes: one per epoch, or the one row of a measurement at W0.
  std::int64_t rows() const { return epochs > 0 ? epochs : 1; }
  bool normalize_rows = true;
  // Regularisers added to the training loss (SPEC §9; defaults model.weight_decay and
  // model.gradient_penalty): (λ/2)‖W‖_F², and the notebook's gradient penalty
  // (λγ²/2n) Σ_i ‖x_i‖² Σ_j a_j² σ'(w_jᵀx_i)²; 0 is off.
  double weight_decay = 0.0, gradient_penalty = 0.0;
  OptimizerSpec optimizer;
};

struct PairSpec {
  std::string a, b;
  std::string name() const { return a + "__" + b; }
};

// With data.source = "file": where X, y, X_test and y_test are ("FILE.npy" or "FILE.h5:/dataset";
// all but x optional), and the preprocessing (SPEC §9, the notebook's embedding recipe).
struct DataFiles {
  std::string x, y, x_test, y_test;
  bool center = false;     // subtract the training X's column means from X and X_test
  bool unit_rows = false;  // then scale every row of X and X_test to norm 1
};

struct Config {
  std::string experiment = "custom";
  std::string description;
  std::uint64_t seed = 42;
  Precision precision = Precision::float32;
  std::int64_t d = 0, k = 0, n = 0, n_test = 0;
  DataSource data_source = DataSource::model;
  DataFiles data_files;  // with data_source = file; n, d and n_test are then the files'
  double alpha = 0.0, nu = 0.0, tau = 1.0;
  bool spike = true;         // false: X = X_B, ζ = 0 (Gradient_Alignment)
  double input_noise = 0.0;  // the inputs groups' default
  AInit a_init = AInit::normal;
  WInit w_init = WInit::unit_rows;
  double w_scale = 1.0;  // with w_init = gaussian: entries N(0, w_scale²/d)
  // The loss every run descends (SPEC §9); it also shapes the labels the teacher gives.
  Loss loss = Loss::mse;
  double weight_decay = 0.0, gradient_penalty = 0.0;  // the runs' defaults
  OptimizerSpec optimizer;                             // the runs' default
  // The gradient's decomposition (SPEC §9) every `decomposition_every`-th epoch (0: off), μ over
  // `n_mu` fresh samples a decomposition epoch, or over the training X.
  std::int64_t decomposition_every = 0;
  std::int64_t n_mu = 10000;
  MuSource mu_source = MuSource::fresh;
  std::vector<InputsSpec> inputs;
  std::vector<RunSpec> runs;
  std::vector<PairSpec> pairs;
  SpectrumMethod spectrum = SpectrumMethod::full;
  std::int64_t spectrum_rank = 16;  // singular values and vectors kept by the truncated method
  // grad_singular_values and grad_top_right_vector are written every `heavy_every`-th epoch
  // (0, N, 2N, ...); every other series every epoch.
  std::int64_t heavy_every = 1;
  // Also record v_t's alignments with X_Bᵀy and β₁ and ‖∇‖₂ (align_label, align_teacher,
  // opnorm_grad) without the decomposition, which records them too.
  bool alignments = false;
  bool records_alignments() const { return alignments || decomposition_every > 0; }
  // Snapshots of W_t, ∇ and a every `snapshot_every`-th epoch and after the last (0: none), with
  // the gradient's top `snapshot_rank` singular vectors (SPEC §6; by default 4, or min(k, d) if fewer).
  std::int64_t snapshot_every = 0;
  std::int64_t snapshot_rank = 4;

  // Whether some run has the regulariser `term` (&RunSpec::weight_decay or gradient_penalty) on.
  bool any_run_has(double RunSpec::*term) const {
    for (const auto& r : runs)
      if (r.*term > 0) return true;
    return false;
  }
  bool decomposes(std::int64_t epoch) const { return decomposition_every > 0 && epoch % decomposition_every == 0; }
  // Singular values recorded per epoch: min(k, d), or the truncated rank.
  std::int64_t singular_count() const;
  const InputsSpec& inputs_of(const RunSpec& run) const;
  const RunSpec& run(const std::string& name) const;
  // The configuration as TOML text: every resolved value, enough to repeat the invocation.
  std::string to_toml() const;
};

// Parses TOML text (a preset or a user's file), applies `key=value` overrides in order,
// and validates. `origin` names the text in error messages (a path or "preset NAME").
Config parse_config(const std::string& toml_text, const std::string& origin,
                    const std::vector<std::string>& overrides);

// Keeps only the runs whose cell is listed (and the pairs whose both runs remain).
void select_cells(Config& config, const std::vector<std::string>& cells);

// Names are HDF5 group names and parts of file names: a letter, digit or '_' first (so never "."
// or ".." or an option-like "-x"), then letters, digits, '_', '-' or '.'; no "__", which joins
// pair names; at most kMaxNameLength characters. A ConfigError naming `key` otherwise.
void check_name(const std::string& origin, const std::string& key, const std::string& name);

// Groups the runs joined by pairs (connected components, in configuration order): the runs
// of a group are trained side by side, one epoch each in turn.
std::vector<std::vector<std::size_t>> side_by_side_groups(const Config& config);

// Sets every run's epoch count.
void set_epochs(Config& config, std::int64_t epochs);

// What is allowed but does not do what it may seem to, one line per run: weight decay on a run
// whose rows are renormalised to unit norm after each step only rescales the step.
struct ConfigWarning {
  std::string run, text;
};
std::vector<ConfigWarning> config_warnings(const Config& config);

}  // namespace lowrank
