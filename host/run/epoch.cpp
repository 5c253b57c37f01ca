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
RunState<T> start_run(Backend<T>& be, const Config& config, const RunSpec& spec, const DeviceInputs<T>& data,
                      const Inputs& in, const EpochScope& scope) {
  if (scope.needs > data.scope.needs) throw std::logic_error("start_run: a scope wider than its inputs were loaded for");
  const std::int64_t n = in.n, k = in.k, d = in.d;
  RunState<T> s;
  s.spec = &spec;
  s.data = &data;
  s.config = &config;
  s.scope = scope;
  s.W = upload_double(be, in.W0, k, d);
  s.Z = be.zeros(n, k);
  s.r = be.zeros(n, 1);
  s.G = be.zeros(k, d);
  s.Z_test = be.zeros(in.n_test, k);
  for (Buffer<T>* v : {&s.xr, &s.xr_prev, &s.v0, &s.v_prev, &s.opnorm_start}) *v = be.zeros(d, 1);
  s.xbr = be.zeros(1, d);
  s.WQ = be.zeros(k, data.energy_basis.cols);
  if (config.spectrum == SpectrumMethod::truncated && scope.spectrum())
    s.truncated = std::make_unique<TruncatedSpectrum<T>>(be, k, d, config.spectrum_rank, config.seed);
  if (spec.gradient_penalty > 0) s.Q = be.zeros(n, k);
  if (spec.weight_decay > 0 && config.spectrum == SpectrumMethod::full && scope.spectrum()) s.GT = be.zeros(d, k);
  if (config.decomposition_every > 0 && scope.decomposition())
    s.decomposition = std::make_unique<Decomposition<T>>(be, config, in, data);
  else if (config.decomposition_every > 0)
    s.latent = in.z_train;
  s.summary.name = spec.name;
  s.summary.status = "running";
  return s;
}

template <typename T>
bool run_epoch(Backend<T>& be, RunState<T>& s, std::int64_t heavy_every, EpochRecord& rec) {
  const EpochScope& scope = s.scope;
  const RunSpec& spec = *s.spec;
  const Config& config = *s.config;
  const DeviceInputs<T>& in = *s.data;
  const auto t0 = Clock::now();
  const std::int64_t t = s.epoch;
  const double n = static_cast<double>(in.X.rows);
  // An epoch of the decomposition records its series; it computes them all when in scope.
  const bool decomposition_epoch = config.decomposes(t), decompose = decomposition_epoch && scope.decomposition();
  const bool penalty = spec.gradient_penalty > 0, decay = spec.weight_decay > 0;
  for (const SeriesInfo& info : kSeries)  // what the scope does not compute
    if (info.scalar && info.needs > scope.needs) rec.*info.scalar = kNaN;

  {
    nvtx3::scoped_range range("forward");
    const Evaluation train =
        s.preactivations_ready ? be.readout(s.Z, *in.a, in.y, spec.gamma, spec.activation, config.loss, s.r)
                               : be.forward(in.X, s.W, *in.a, in.y, spec.gamma, spec.activation, config.loss, s.Z, s.r);
    s.preactivations_ready = false;
    rec.train_mse = train.loss;
    rec.train_accuracy = train.accuracy;
  }
  // The regularisers' terms at W_t (before `gradient` overwrites Z), added to the training loss.
  if (penalty) {
    rec.loss_gradient_penalty =
        be.gradient_penalty(s.Z, in.x_norms2, *in.a, spec.gamma, spec.gradient_penalty, spec.activation, s.Q);
    rec.train_mse += rec.loss_gradient_penalty;
  }
  if (decay) {
    const double w = be.norm(s.W);
    rec.loss_weight_decay = spec.weight_decay / 2 * w * w;
    rec.train_mse += rec.loss_weight_decay;
  }
  if (decompose) s.decomposition->capture(s.Z, spec.activation);
  if (!std::isfinite(rec.train_mse)) return false;
  if (config.decomposition_every > 0 && !decompose) {
    skip_decomposition(rec);
    if (decomposition_epoch) residual_statistics(s.latent, download_double(be, s.r), rec);
  }
  if (!scope.gradient()) {  // the forward pass's series only
    rec.epoch_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return true;
  }
  {
    nvtx3::scoped_range range("gradient");
    be.gradient(in.X, s.r, *in.a, spec.gamma, spec.activation, s.Z, s.G, penalty ? &s.Q : nullptr);
    if (decay) be.step(s.G, s.W, -spec.weight_decay, false);  // ∇ += λ W
    be.gemv_t(in.X, s.r, s.xr);  // Xᵀ r_t
    // X_Bᵀ r_t = Xᵀ r_t − q (ζ zᵀ r_t), since X = X_B + ζ z qᵀ: no pass over X_B, nor a copy of it.
    // Queued after the gradient, so that the dot's wait for its scalar leaves no GPU idle.
    be.copy(s.xr, s.xbr);
    be.step(s.xbr, in.q, be.dot(in.spike_latent, s.r), false);
  }
  Spectrum<T> spectrum;
  {
    nvtx3::scoped_range range("spectrum");
    const Buffer<T>* previous = t > 0 ? &s.v_prev : nullptr;
    if (!scope.spectrum()) {
      spectrum.top_right_vector = be.zeros(in.X.cols, 1);  // zero: Lanczos's fixed start vector
      spectrum.singular_values = {be.operator_norm(s.G, spectrum.top_right_vector)};
    } else if (s.truncated) {
      spectrum = s.truncated->compute(s.G, previous);
    } else if (decay) {  // ∇ = (γ/n) Mᵀ X + λ W is not of the factor's form: its dense transpose with I_d
      be.transpose(s.G, s.GT);
      spectrum = be.spectrum(s.GT, *in.identity, 1.0, previous);
    } else {
      spectrum = be.spectrum(s.Z, *in.prepared, spec.gamma / n, previous);
    }
  }
  if (decompose) {
    typename Decomposition<T>::Epoch e;
    e.t = t;
    e.gamma = spec.gamma;
    e.act = spec.activation;
    e.W = &s.W;
    e.G = &s.G;
    e.M = &s.Z;
    e.penalty = penalty ? &s.Q : nullptr;
    e.weight_decay = spec.weight_decay;
    e.r = &s.r;
    e.xr = &s.xr;
    e.xbr = &s.xbr;
    e.spectrum = &spectrum;
    e.full_spectrum = !s.truncated;
    s.decomposition->compute(e, rec);
  }
  if (scope.leaving()) {
    nvtx3::scoped_range range("update");
    be.step(s.W, s.G, spec.lr, spec.normalize_rows);
  }
  nvtx3::scoped_range metrics("metrics");
  if (scope.leaving()) {
    const Evaluation test =
        be.evaluate(in.X_test, s.W, *in.a, in.y_test, spec.gamma, spec.activation, config.loss, s.Z_test);
    rec.test_mse = test.loss;
    rec.test_accuracy = test.accuracy;
    // A non-finite gradient or step leaves W_{t+1} non-finite, and with it the test loss, or, where
    // relu maps the NaN to 0 and leaves the loss finite, ‖W‖₂.
    if (!std::isfinite(rec.test_mse)) return false;
    rec.w_opnorm = be.operator_norm(s.W, s.opnorm_start);
    if (!std::isfinite(rec.w_opnorm)) return false;
    rec.energy = energy_ratio(be, s.W, in.energy_basis, s.WQ);
  }
  if (!std::isfinite(spectrum.singular_values.at(0))) return false;
  rec.opnorm_grad = spectrum.singular_values.at(0);
  const Buffer<T>& v = spectrum.top_right_vector;
  const Buffer<T>& v2 = spectrum.second_right_vector;
  if (t == 0) be.copy(v, s.v0);
  // Every alignment from one batch of inner products: the first three, then those that exist.
  std::vector<DotPair<T>> pairs = {{&v, &in.q}, {&v, &s.xbr}, {&v, &s.v0}};
  if (t > 0) pairs.push_back({&s.xr, &s.xr_prev});
  if (v2.size()) pairs.insert(pairs.end(), {{&v2, &in.q}, {&v2, &s.xbr}});
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
  be.copy(v, s.v_prev);
  be.copy(s.xr, s.xr_prev);

  if (t % heavy_every == 0 && scope.spectrum()) {
    rec.singular_values = std::move(spectrum.singular_values);
    rec.top_right_vector = download_double(be, v);
    if (config.decomposition_every > 0 && !decompose) rec.mu.assign(static_cast<std::size_t>(config.k), kNaN);
  } else {
    rec.mu.clear();
  }
  rec.epoch_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return true;
}

#define LOWRANK_INSTANTIATE(T)                                                                             \
  template DeviceInputs<T> load_inputs<T>(Backend<T>&, const Inputs&, const Config&, const EpochScope&);   \
  template RunState<T> start_run<T>(Backend<T>&, const Config&, const RunSpec&, const DeviceInputs<T>&,   \
                                    const Inputs&, const EpochScope&);                                     \
  template bool run_epoch<T>(Backend<T>&, RunState<T>&, std::int64_t, EpochRecord&);
LOWRANK_INSTANTIATE(float)
LOWRANK_INSTANTIATE(double)
#undef LOWRANK_INSTANTIATE

}  // namespace lowrank
