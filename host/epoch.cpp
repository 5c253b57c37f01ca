#include "epoch.hpp"

#include <chrono>
#include <cmath>
#include <limits>

#include <nvtx3/nvtx3.hpp>

#include "metrics.hpp"

namespace lowrank {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

template <typename T>
DeviceInputs<T> load_inputs(Backend<T>& be, const Inputs& in, bool full_spectrum) {
  DeviceInputs<T> di;
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
  return di;
}

template <typename T>
RunState<T> start_run(Backend<T>& be, const Config& config, const RunSpec& spec, const DeviceInputs<T>& data,
                      const Inputs& in) {
  const std::int64_t n = in.n, k = in.k, d = in.d;
  RunState<T> s;
  s.spec = &spec;
  s.data = &data;
  s.loss = config.loss;
  s.W = upload_double(be, in.W0, k, d);
  s.Z = be.zeros(n, k);
  s.r = be.zeros(n, 1);
  s.G = be.zeros(k, d);
  s.Z_test = be.zeros(in.n_test, k);
  for (Buffer<T>* v : {&s.xr, &s.xr_prev, &s.v0, &s.v_prev, &s.opnorm_start}) *v = be.zeros(d, 1);
  s.xbr = be.zeros(1, d);
  s.WQ = be.zeros(k, data.energy_basis.cols);
  if (config.spectrum == SpectrumMethod::truncated)
    s.truncated = std::make_unique<TruncatedSpectrum<T>>(be, k, d, config.spectrum_rank, config.seed);
  s.summary.name = spec.name;
  s.summary.status = "running";
  return s;
}

template <typename T>
bool run_epoch(Backend<T>& be, RunState<T>& s, std::int64_t heavy_every, EpochRecord& rec) {
  const RunSpec& spec = *s.spec;
  const DeviceInputs<T>& in = *s.data;
  const auto t0 = Clock::now();
  const std::int64_t t = s.epoch;
  const double n = static_cast<double>(in.X.rows);

  {
    nvtx3::scoped_range range("forward");
    const Evaluation train = be.forward(in.X, s.W, *in.a, in.y, spec.gamma, spec.activation, s.loss, s.Z, s.r);
    rec.train_mse = train.loss;
    rec.train_accuracy = train.accuracy;
  }
  if (!std::isfinite(rec.train_mse)) return false;
  {
    nvtx3::scoped_range range("gradient");
    be.gradient(in.X, s.r, *in.a, spec.gamma, spec.activation, s.Z, s.G);
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
    spectrum = s.truncated ? s.truncated->compute(s.G, previous)
                           : be.spectrum(s.Z, *in.prepared, spec.gamma / n, previous);
  }
  {
    nvtx3::scoped_range range("update");
    be.step(s.W, s.G, spec.lr, spec.normalize_rows);
  }
  nvtx3::scoped_range metrics("metrics");
  const Evaluation test = be.evaluate(in.X_test, s.W, *in.a, in.y_test, spec.gamma, spec.activation, s.loss, s.Z_test);
  rec.test_mse = test.loss;
  rec.test_accuracy = test.accuracy;
  // A non-finite gradient or step leaves W_{t+1} non-finite, and with it the test loss.
  if (!std::isfinite(rec.test_mse) || !std::isfinite(spectrum.singular_values.at(0))) return false;
  rec.w_opnorm = be.operator_norm(s.W, s.opnorm_start);

  rec.energy = energy_ratio(be, s.W, in.energy_basis, s.WQ);
  const Buffer<T>& v = spectrum.top_right_vector;
  const Buffer<T>& v2 = spectrum.second_right_vector;
  if (t == 0) be.copy(v, s.v0);
  // Every alignment from one batch of inner products: the first three, then those that exist.
  std::vector<DotPair<T>> pairs = {{&v, &in.q}, {&v, &s.xbr}, {&v, &s.v0}};
  if (t > 0) pairs.push_back({&s.xr, &s.xr_prev});
  if (v2.size()) pairs.insert(pairs.end(), {{&v2, &in.q}, {&v2, &s.xbr}});
  const std::vector<double> cosines = abs_cosines<T>(be, pairs);
  rec.align_data = cosines[0];
  rec.align_residue = cosines[1];
  rec.align_initial = cosines[2];
  rec.align_residue_step = t > 0 ? cosines[3] : kNaN;
  const std::size_t second = t > 0 ? 4 : 3;
  rec.align_data_v2 = v2.size() ? cosines[second] : kNaN;
  rec.align_residue_v2 = v2.size() ? cosines[second + 1] : kNaN;
  be.copy(v, s.v_prev);
  be.copy(s.xr, s.xr_prev);

  if (t % heavy_every == 0) {
    rec.singular_values = std::move(spectrum.singular_values);
    rec.top_right_vector = download_double(be, v);
  }
  rec.epoch_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return true;
}

#define LOWRANK_INSTANTIATE(T)                                                                             \
  template DeviceInputs<T> load_inputs<T>(Backend<T>&, const Inputs&, bool);                               \
  template RunState<T> start_run<T>(Backend<T>&, const Config&, const RunSpec&, const DeviceInputs<T>&,   \
                                    const Inputs&);                                                        \
  template bool run_epoch<T>(Backend<T>&, RunState<T>&, std::int64_t, EpochRecord&);
LOWRANK_INSTANTIATE(float)
LOWRANK_INSTANTIATE(double)
#undef LOWRANK_INSTANTIATE

}  // namespace lowrank
