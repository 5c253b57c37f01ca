#include "epoch.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <nvtx3/nvtx3.hpp>

#include "metrics.hpp"

namespace lowrank {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Orthonormal basis (d×r, r ≤ 2, row-major) of span(X_Bᵀ y, q): the energy's subspace.
std::vector<double> energy_basis(const Inputs& in, std::int64_t& columns) {
  const auto n = static_cast<std::size_t>(in.n), d = static_cast<std::size_t>(in.d);
  std::vector<double> xty(d, 0.0);  // X_Bᵀ y
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) xty[j] += in.X_bulk_train[i * d + j] * in.y_train[i];
  return span_basis(xty, in.q, columns);
}

}  // namespace

template <typename T>
DeviceInputs<T> load_inputs(Backend<T>& be, const Inputs& in, const Config& config, const EpochScope& scope) {
  const bool full_spectrum = config.spectrum == SpectrumMethod::full && scope.spectrum();
  DeviceInputs<T> di;
  di.scope = scope;
  di.X = upload_double(be, in.X_train, in.n, in.d);
  di.y = upload_double(be, in.y_train, in.n, 1);
  di.X_test = upload_double(be, in.X_test, in.n_test, in.d);
  di.y_test = upload_double(be, in.y_test, in.n_test, 1);
  std::vector<double> latent(in.z_train);
  for (double& z : latent) z *= in.zeta;
  di.spike_latent = upload_double(be, latent, in.n, 1);
  di.q = upload_double(be, in.q, 1, in.d);  // a row, as xbr: step() updates X_Bᵀr with it as one row
  std::int64_t columns = 0;
  const std::vector<double> basis = energy_basis(in, columns);
  di.energy_basis = upload_double(be, basis, in.d, columns);
  if (full_spectrum) di.prepared = be.prepare(di.X);  // the truncated method works on the gradient alone
  const auto n = static_cast<std::size_t>(in.n), d = static_cast<std::size_t>(in.d);
  if (config.decomposition_every > 0 && scope.decomposition()) {
    di.X_B = upload_double(be, in.X_bulk_train, in.n, in.d);
    di.ones = upload_double(be, std::vector<double>(n, 1.0), in.n, 1);
  }
  if (config.records_alignments() && scope.gradient()) {
    std::vector<double> xby(d, 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j) xby[j] += in.X_bulk_train[i * d + j] * in.y_train[i];
    di.label_direction = upload_double(be, xby, in.d, 1);
    di.teacher_direction = upload_double(be, in.beta, in.d, 1);
  }
  if (config.any_run_has(&RunSpec::gradient_penalty)) {
    std::vector<double> norms2(n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < d; ++j) norms2[i] += in.X_train[i * d + j] * in.X_train[i * d + j];
    di.x_norms2 = upload_double(be, norms2, in.n, 1);
  }
  if (config.any_run_has(&RunSpec::weight_decay) && full_spectrum) {
    std::vector<double> identity(d * d, 0.0);
    for (std::size_t j = 0; j < d; ++j) identity[j * d + j] = 1.0;
    di.identity = be.prepare(upload_double(be, identity, in.d, in.d));
  }
  return di;
}

template <typename T>
std::vector<double> save_tensor(Backend<T>& be, RunState<T>& s, RunTensor t) {
  if (t == RunTensor::spectrum_block) return s.truncated ? s.truncated->save() : std::vector<double>{};
  return download_double(be, s[t]);
}

template <typename T>
void restore_tensor(Backend<T>& be, RunState<T>& s, RunTensor t, const std::vector<double>& values) {
  if (t == RunTensor::spectrum_block) {
    if (s.truncated) s.truncated->restore(values);
    return;
  }
  Buffer<T>& b = s[t];
  b = upload_double(be, values, b.rows, b.cols);
}

template <typename T>
RunState<T> start_run(Backend<T>& be, const Config& config, const RunSpec& spec, const DeviceInputs<T>& data,
                      const Inputs& in, const EpochScope& scope) {
  if (scope.needs > data.scope.needs) throw std::logic_error("start_run: a scope wider than its inputs were loaded for");
  RunState<T> s;
  s.spec = &spec;
  s.data = &data;
  s.config = &config;
  s.scope = scope;
  RunExtents extents = run_extents(config);
  extents.n = in.n;  // a file's data has its own sizes
  extents.n_test = in.n_test;
  extents.energy = data.energy_basis.cols;
  for (std::size_t i = 0; i < kRunTensorCount; ++i) {
    const RunTensorInfo& t = kRunTensors[i];
    const auto id = static_cast<RunTensor>(i);
    // GT serves the spectrum only; the truncated block is its own object's.
    if (!holds(t, config, spec) || id == RunTensor::spectrum_block || (id == RunTensor::GT && !scope.spectrum())) continue;
    s.tensors[i] = id == RunTensor::W   ? upload_double(be, in.W0, in.k, in.d)
                   : id == RunTensor::a ? upload_double(be, in.a, in.k, 1)
                                        : be.zeros(extents.rows(t), extents.cols(t));
  }
  s.optimizer = make_optimizer<T>(spec);
  if (config.spectrum == SpectrumMethod::truncated && scope.spectrum())
    s.truncated = std::make_unique<TruncatedSpectrum<T>>(be, in.k, in.d, config.spectrum_rank, config.seed);
  if (config.decomposition_every > 0 && scope.decomposition())
    s.decomposition = std::make_unique<Decomposition<T>>(be, config, in, data);
  else if (config.decomposition_every > 0)
    s.latent = in.z_train;
  s.summary.name = spec.name;
  s.summary.status = "running";
  return s;
}

namespace {

using enum RunTensor;

// The forward pass at W_t: the training loss (with the regularisers' terms at W_t, before
// `gradient` overwrites Z), r, and Z = X W_tᵀ.
template <typename T>
void forward_at(Backend<T>& be, RunState<T>& s, EpochRecord& rec) {
  const RunSpec& spec = *s.spec;
  const DeviceInputs<T>& in = *s.data;
  nvtx3::scoped_range range("forward");
  const Evaluation train =
      s.preactivations_ready
          ? be.readout(s[Z], s[a], in.y, spec.gamma, spec.activation, s.config->loss, s[r])
          : be.forward(in.X, s[W], s[a], in.y, spec.gamma, spec.activation, s.config->loss, s[Z], s[r]);
  s.preactivations_ready = false;
  rec.train_mse = train.loss;
  rec.train_accuracy = train.accuracy;
  if (spec.gradient_penalty > 0) {
    rec.loss_gradient_penalty =
        be.gradient_penalty(s[Z], in.x_norms2, s[a], spec.gamma, spec.gradient_penalty, spec.activation, s[Q]);
    rec.train_mse += rec.loss_gradient_penalty;
  }
  if (spec.weight_decay > 0) {
    const double w = be.norm(s[W]);
    rec.loss_weight_decay = spec.weight_decay / 2 * w * w;
    rec.train_mse += rec.loss_weight_decay;
  }
}

// G = ∇_W L(W_t) after forward_at (Z becomes M), and the residues Xᵀ r_t and X_Bᵀ r_t.
template <typename T>
void gradient_at(Backend<T>& be, RunState<T>& s) {
  const RunSpec& spec = *s.spec;
  const DeviceInputs<T>& in = *s.data;
  nvtx3::scoped_range range("gradient");
  be.gradient(in.X, s[r], s[a], spec.gamma, spec.activation, s[Z], s[G], spec.gradient_penalty > 0 ? &s[Q] : nullptr);
  if (spec.weight_decay > 0) be.axpy(spec.weight_decay, s[W], s[G]);  // ∇ += λ W
  be.gemv_t(in.X, s[r], s[xr]);  // Xᵀ r_t
  // X_Bᵀ r_t = Xᵀ r_t − q (ζ zᵀ r_t), since X = X_B + ζ z qᵀ: no pass over X_B, nor a copy of it.
  // Queued after the gradient, so that the dot's wait for its scalar leaves no GPU idle.
  be.copy(s[xr], s[xbr]);
  be.axpy(-be.dot(in.spike_latent, s[r]), in.q, s[xbr]);
}

// The snapshot of W_t, a and G = ∇ at W_t, its vectors' signs following `reference`.
template <typename T>
Snapshot snapshot_of(Backend<T>& be, RunState<T>& s, std::int64_t rank, const std::vector<double>& reference) {
  Snapshot snap;
  snap.epoch = s.epoch;
  for (std::size_t i = 0; i < kRunTensorCount; ++i)
    if (kRunTensors[i].snapshot_name) snap.tensors[i] = download_double(be, s.tensors[i]);
  set_singular_vectors(snap, s[W].rows, s[W].cols, rank, reference);
  return snap;
}

// What is measured at W_t, into `rec`: the losses, the gradient, its spectrum, the decomposition
// and the alignments, the heavy rows and the snapshot `rows` asks for. False when a loss or the
// gradient's norm is not finite.
template <typename T>
bool measure_entering(Backend<T>& be, RunState<T>& s, const EpochRows& rows, EpochRecord& rec) {
  const EpochScope& scope = s.scope;
  const RunSpec& spec = *s.spec;
  const Config& config = *s.config;
  const DeviceInputs<T>& in = *s.data;
  const std::int64_t t = s.epoch;
  const double n = static_cast<double>(in.X.rows);
  // An epoch of the decomposition records its series; it computes them all when in scope.
  const bool decomposition_epoch = config.decomposes(t), decompose = decomposition_epoch && scope.decomposition();
  forward_at(be, s, rec);
  if (decompose) s.decomposition->capture(s[Z], spec.activation);
  if (!std::isfinite(rec.train_mse)) return false;
  if (config.decomposition_every > 0 && !decompose) {
    skip_decomposition(rec);
    if (decomposition_epoch) residual_statistics(s.latent, download_double(be, s[r]), rec);
  }
  if (!scope.gradient()) return true;  // the forward pass's series only
  gradient_at(be, s);
  Spectrum<T> spectrum;
  {
    nvtx3::scoped_range range("spectrum");
    const Buffer<T>* previous = t > 0 ? &s[v_prev] : nullptr;
    if (!scope.spectrum()) {
      spectrum.top_right_vector = be.zeros(in.X.cols, 1);  // zero: Lanczos's fixed start vector
      spectrum.singular_values = {be.operator_norm(s[G], spectrum.top_right_vector)};
    } else if (s.truncated) {
      spectrum = s.truncated->compute(s[G], previous);
    } else if (spec.weight_decay > 0) {  // ∇ = (γ/n) Mᵀ X + λ W is not of the factor's form: its dense transpose with I_d
      be.transpose(s[G], s[GT]);
      spectrum = be.spectrum(s[GT], *in.identity, 1.0, previous);
    } else {
      spectrum = be.spectrum(s[Z], *in.prepared, spec.gamma / n, previous);
    }
  }
  if (decompose) {
    typename Decomposition<T>::Epoch e;
    e.t = t;
    e.gamma = spec.gamma;
    e.act = spec.activation;
    e.W = &s[W];
    e.G = &s[G];
    e.M = &s[Z];
    e.penalty = spec.gradient_penalty > 0 ? &s[Q] : nullptr;
    e.weight_decay = spec.weight_decay;
    e.r = &s[r];
    e.xr = &s[xr];
    e.xbr = &s[xbr];
    e.spectrum = &spectrum;
    e.full_spectrum = !s.truncated;
    s.decomposition->compute(e, rec);
  }
  nvtx3::scoped_range metrics("metrics");
  if (!std::isfinite(spectrum.singular_values.at(0))) return false;
  rec.opnorm_grad = spectrum.singular_values.at(0);
  const Buffer<T>& v = spectrum.top_right_vector;
  const Buffer<T>& v2 = spectrum.second_right_vector;
  if (t == 0) be.copy(v, s[v0]);
  // Every alignment from one batch of inner products: the first three, then those that exist.
  std::vector<DotPair<T>> pairs = {{&v, &in.q}, {&v, &s[xbr]}, {&v, &s[v0]}};
  if (t > 0) pairs.push_back({&s[xr], &s[xr_prev]});
  if (v2.size()) pairs.insert(pairs.end(), {{&v2, &in.q}, {&v2, &s[xbr]}});
  const std::size_t alignments = pairs.size();
  if (in.label_direction.size()) pairs.insert(pairs.end(), {{&v, &in.label_direction}, {&v, &in.teacher_direction}});
  const std::vector<double> cosines = abs_cosines<T>(be, pairs);
  if (in.label_direction.size()) {
    rec.align_label = cosines[alignments];
    rec.align_teacher = cosines[alignments + 1];
  }
  rec.align_data = cosines[0];
  rec.align_residue = cosines[1];
  rec.align_initial = cosines[2];
  rec.align_residue_step = t > 0 ? cosines[3] : kNaN;
  const std::size_t second = t > 0 ? 4 : 3;
  rec.align_data_v2 = v2.size() ? cosines[second] : kNaN;
  rec.align_residue_v2 = v2.size() ? cosines[second + 1] : kNaN;
  be.copy(v, s[v_prev]);
  be.copy(s[xr], s[xr_prev]);

  if (rows.heavy && scope.spectrum()) {
    rec.singular_values = std::move(spectrum.singular_values);
    rec.top_right_vector = download_double(be, v);
    if (config.decomposition_every > 0 && !decompose) rec.mu.assign(static_cast<std::size_t>(config.k), kNaN);
  } else {
    rec.mu.clear();
  }
  if (rows.snapshot_rank > 0) rec.snapshot = snapshot_of(be, s, rows.snapshot_rank, download_double(be, s[v_prev]));
  return true;
}

// What is measured at W_{t+1}, into `rec`: the test loss, ‖W‖₂ and the energy. False when
// W_{t+1} is not finite.
template <typename T>
bool measure_leaving(Backend<T>& be, RunState<T>& s, EpochRecord& rec) {
  const RunSpec& spec = *s.spec;
  const DeviceInputs<T>& in = *s.data;
  nvtx3::scoped_range metrics("metrics");
  const Evaluation test =
      be.evaluate(in.X_test, s[W], s[a], in.y_test, spec.gamma, spec.activation, s.config->loss, s[Z_test]);
  rec.test_mse = test.loss;
  rec.test_accuracy = test.accuracy;
  // A non-finite gradient or step leaves W_{t+1} non-finite, and with it the test loss, or, where
  // relu maps the NaN to 0 and leaves the loss finite, ‖W‖₂.
  if (!std::isfinite(rec.test_mse)) return false;
  rec.w_opnorm = be.operator_norm(s[W], s[opnorm_start]);
  if (!std::isfinite(rec.w_opnorm)) return false;
  rec.energy = energy_ratio(be, s[W], in.energy_basis, s[WQ]);
  return true;
}

}  // namespace

template <typename T>
bool run_epoch(Backend<T>& be, RunState<T>& s, const EpochRows& rows, EpochRecord& rec) {
  const auto t0 = Clock::now();
  for (const SeriesInfo& info : kSeries)  // what the scope does not compute
    if (info.scalar && info.needs > s.scope.needs) rec.*info.scalar = kNaN;
  bool ok = measure_entering(be, s, rows, rec);
  if (ok && s.scope.leaving()) {
    {
      nvtx3::scoped_range range("update");
      s.optimizer->advance(be, s.tensors, s.epoch + 1);
    }
    ok = measure_leaving(be, s, rec);
  }
  rec.epoch_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return ok;
}

template <typename T>
Snapshot snapshot_now(Backend<T>& be, RunState<T>& s, std::int64_t rank) {
  EpochRecord ignored;
  forward_at(be, s, ignored);
  gradient_at(be, s);
  return snapshot_of(be, s, rank, s.epoch > 0 ? download_double(be, s[v_prev]) : std::vector<double>{});
}

#define LOWRANK_INSTANTIATE(T)                                                                             \
  template DeviceInputs<T> load_inputs<T>(Backend<T>&, const Inputs&, const Config&, const EpochScope&);   \
  template RunState<T> start_run<T>(Backend<T>&, const Config&, const RunSpec&, const DeviceInputs<T>&,   \
                                    const Inputs&, const EpochScope&);                                     \
  template bool run_epoch<T>(Backend<T>&, RunState<T>&, const EpochRows&, EpochRecord&);                 \
  template Snapshot snapshot_now<T>(Backend<T>&, RunState<T>&, std::int64_t);                              \
  template std::vector<double> save_tensor<T>(Backend<T>&, RunState<T>&, RunTensor);                       \
  template void restore_tensor<T>(Backend<T>&, RunState<T>&, RunTensor, const std::vector<double>&);
LOWRANK_INSTANTIATE(float)
LOWRANK_INSTANTIATE(double)
#undef LOWRANK_INSTANTIATE

}  // namespace lowrank
