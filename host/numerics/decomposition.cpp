#include "decomposition.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nvtx3/nvtx3.hpp>

#include "epoch.hpp"
#include "metrics.hpp"

namespace lowrank {
namespace {

using Index = std::int64_t;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double dot(const std::vector<double>& x, const std::vector<double>& y) {
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}
double norm(const std::vector<double>& x) { return std::sqrt(dot(x, x)); }
// |cos(x, y)|, NaN where either is zero (as abs_cosines on the backend).
double abs_cos(const std::vector<double>& x, const std::vector<double>& y) {
  const double nx = norm(x), ny = norm(y);
  return nx > 0 && ny > 0 ? std::abs(dot(x, y)) / (nx * ny) : kNaN;
}

// The unit eigenvector of the symmetric 2×2 [[h00, h01], [h01, h11]] for its eigenvalue `lambda`,
// from the row of (H − λI) that is better conditioned.
std::pair<double, double> eigenvector_2x2(double h00, double h01, double h11, double lambda) {
  double w0 = h00 >= h11 ? lambda - h11 : h01, w1 = h00 >= h11 ? h01 : lambda - h00;
  const double len = std::hypot(w0, w1);
  if (!(len > 0)) return {1.0, 0.0};  // a multiple of the identity: any vector
  return {w0 / len, w1 / len};
}

}  // namespace

RankTwoSvd rank_two_svd(double c, const std::vector<double>& u, const std::vector<double>& x,
                        const std::vector<double>& p, const std::vector<double>& q) {
  const std::size_t k = u.size(), d = x.size();
  RankTwoSvd out;
  out.v1.assign(d, 0.0);
  out.v2.assign(d, 0.0);
  // R's rows lie in span(x, q): with B (d×m) an orthonormal basis of it, R = (R B) Bᵀ and the
  // right singular vectors are B times those of the k×m matrix C = R B = c (u (xᵀB) + p (qᵀB)).
  std::int64_t m = 0;
  const std::vector<double> basis = span_basis(x, q, m);
  auto column = [&](std::int64_t j) {
    std::vector<double> b(d);
    for (std::size_t i = 0; i < d; ++i) b[i] = basis[i * static_cast<std::size_t>(m) + static_cast<std::size_t>(j)];
    return b;
  };
  std::vector<std::vector<double>> C;
  for (std::int64_t j = 0; j < m; ++j) {
    const std::vector<double> b = column(j);
    const double xb = dot(x, b), qb = dot(q, b);
    std::vector<double> cj(k);
    for (std::size_t i = 0; i < k; ++i) cj[i] = c * (u[i] * xb + p[i] * qb);
    C.push_back(std::move(cj));
  }
  if (m == 0) return out;
  if (m == 1) {
    out.sigma1 = norm(C[0]);
    out.v1 = column(0);
    return out;
  }
  // C = Q [[r00, r01], [0, r11]] (Gram–Schmidt, twice); its singular values are the triangle's:
  // σ₁ by the 2×2 formula, σ₂ = |det|/σ₁ (accurate even when σ₂ ≪ σ₁).
  const double r00 = norm(C[0]);
  double r01 = 0, r11 = 0;
  std::vector<double> rest = C[1];
  if (r00 > 0) {
    for (int pass = 0; pass < 2; ++pass) {
      const double proj = dot(rest, C[0]) / r00;
      r01 += proj;
      for (std::size_t i = 0; i < k; ++i) rest[i] -= proj * C[0][i] / r00;
    }
  }
  r11 = norm(rest);
  const double h1 = std::hypot(r00 + r11, r01), h2 = std::hypot(r00 - r11, r01);
  out.sigma1 = (h1 + h2) / 2;
  out.sigma2 = out.sigma1 > 0 ? std::abs(r00 * r11) / out.sigma1 : 0.0;
  // Right vectors: eigenvectors of the triangle's Gram matrix, mapped back through B.
  const auto [w0, w1] = eigenvector_2x2(r00 * r00, r00 * r01, r01 * r01 + r11 * r11, out.sigma1 * out.sigma1);
  const std::vector<double> b0 = column(0), b1 = column(1);
  for (std::size_t i = 0; i < d; ++i) {
    out.v1[i] = w0 * b0[i] + w1 * b1[i];
    out.v2[i] = -w1 * b0[i] + w0 * b1[i];
  }
  if (!(out.sigma2 > 0)) std::fill(out.v2.begin(), out.v2.end(), 0.0);  // rank one: no second direction
  return out;
}

double effective_rank(const std::vector<double>& singular_values) {
  double total = 0;
  for (double s : singular_values) total += s;
  if (!(total > 0)) return kNaN;
  double entropy = 0;
  for (double s : singular_values) {
    const double p = s / total;
    entropy -= p * std::log(p + 1e-8);
  }
  return std::exp(entropy);
}

double mean_derivative_gaussian(Activation act, double s) {
  if (!(s > 0)) return activate_derivative(act, 0.0);
  // 8-point Gauss–Legendre on [−1, 1] (Abramowitz & Stegun 25.4.30): nodes ±x, weights w.
  static constexpr double x[] = {0.1834346424956498, 0.5255324099163290, 0.7966664774136267, 0.9602898564975363};
  static constexpr double w[] = {0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763};
  constexpr double kPanelsPerUnit = 2;  // panels of width ≤ 1/2 in t and in s: 8 nodes resolve σ' and the density
  constexpr double kDensityWidths = 12;  // N(0, s²) has mass e^-72 beyond 12 s
  const double reach = std::min(kGaussianCore, kDensityWidths * s);
  const double width = std::min(1.0 / kPanelsPerUnit, s / kPanelsPerUnit);
  const auto half_panels = static_cast<std::int64_t>(std::ceil(reach / width));
  const double h = reach / static_cast<double>(half_panels);
  const double inv_sqrt_2pi = 0.3989422804014327;
  double sum = 0;
  for (std::int64_t p = -half_panels; p < half_panels; ++p) {
    const double mid = (static_cast<double>(p) + 0.5) * h;
    for (int i = 0; i < 4; ++i)
      for (const double t : {mid - x[i] * h / 2, mid + x[i] * h / 2})
        sum += w[i] * h / 2 * activate_derivative(act, t) * inv_sqrt_2pi / s * std::exp(-0.5 * (t / s) * (t / s));
  }
  // Beyond ±kGaussianCore σ' is constant to e^-40: its value there times the tails' mass.
  if (reach < kDensityWidths * s) {
    const double tail = 0.5 * std::erfc(kGaussianCore / (s * std::sqrt(2.0)));
    sum += tail * (activate_derivative(act, kGaussianCore) + activate_derivative(act, -kGaussianCore));
  }
  return sum;
}

void skip_decomposition(EpochRecord& rec) {
  for (const SeriesInfo& s : kSeries)
    if (s.recorded_for == RecordedFor::decomposition && s.scalar) rec.*s.scalar = kNaN;
}

void residual_statistics(const std::vector<double>& z, const std::vector<double>& r, EpochRecord& rec) {
  double r_max = 0;
  for (double x : r) r_max = std::max(r_max, std::abs(x));
  rec.residual_max = r_max;
  rec.residual_norm = norm(r);
  rec.cos_z_residual = abs_cos(z, r);
}

template <typename T>
Decomposition<T>::Decomposition(Backend<T>& be, const Config& config, const Inputs& in, const DeviceInputs<T>& data)
    : be_(be), config_(config), data_(data), a_(in.a), q_(in.q), z_(in.z_train), zeta_(in.zeta) {
  const Index n = in.n, k = in.k, d = in.d;
  S_ = be.zeros(n, k);
  P_ = be.zeros(n, k);
  E_ = be.zeros(k, d);
  D_ = be.zeros(k, d);
  const bool fresh = config.mu_source == MuSource::fresh;
  const Index rows = fresh ? config.n_mu : n;
  bulk_variance_.resize(static_cast<std::size_t>(d));
  for (Index i = 0; i < d; ++i) bulk_variance_[static_cast<std::size_t>(i)] = std::pow(static_cast<double>(i + 1), -config.alpha);
  if (fresh) {
    samples_host_.resize(static_cast<std::size_t>(rows * d));
    samples_ = be.zeros(rows, d);
    samples_Z_ = be.zeros(rows, k);
  }
  sample_weights_ = upload_double(be, std::vector<double>(static_cast<std::size_t>(rows), 1.0 / static_cast<double>(rows)), rows, 1);
  mu_ = be.zeros(k, 1);
  u_ = be.zeros(k, 1);
  p_ = be.zeros(k, 1);
  V2_ = be.zeros(d, 2);
  V2_product_ = be.zeros(k, 2);
  start_k_ = be.zeros(k, 1);
  start_d_ = be.zeros(d, 1);
}

template <typename T>
void Decomposition<T>::capture(const Buffer<T>& Z, Activation act) {
  be_.copy(Z, S_);
  be_.activation_derivative(S_, act);
}

template <typename T>
void Decomposition<T>::compute(const Epoch& e, EpochRecord& rec) {
  nvtx3::scoped_range range("decomposition");
  const Index n = data_.X.rows, k = config_.k, d = config_.d;
  const double c = e.gamma / static_cast<double>(n);

  // μ: column means of σ'(samples W_tᵀ), or of σ'(Z) kept by `capture`.
  if (config_.mu_source == MuSource::fresh) {
    draw_mu_samples<T>(config_, q_, e.t, samples_host_);
    be_.upload_to(samples_host_, samples_);
    be_.gemm_nt(samples_, *e.W, samples_Z_);
    be_.activation_derivative(samples_Z_, e.act);
    be_.gemv_t(samples_Z_, sample_weights_, mu_);
  } else if (config_.mu_source == MuSource::train) {
    be_.gemv_t(S_, sample_weights_, mu_);
  } else {  // exact: w_jᵀx ~ N(0, s_j²), s_j² = Σ_i w_ji² i^(−α) + ζ² (w_jᵀq)²
    const std::vector<double> W = download_double(be_, *e.W);
    std::vector<double> exact(static_cast<std::size_t>(k));
    for (Index j = 0; j < k; ++j) {
      double bulk = 0, along_q = 0;
      for (Index i = 0; i < d; ++i) {
        const double wji = W[static_cast<std::size_t>(j * d + i)];
        bulk += wji * wji * bulk_variance_[static_cast<std::size_t>(i)];
        along_q += wji * q_[static_cast<std::size_t>(i)];
      }
      exact[static_cast<std::size_t>(j)] = mean_derivative_gaussian(e.act, std::sqrt(bulk + zeta_ * zeta_ * along_q * along_q));
    }
    be_.upload_to(std::vector<T>(exact.begin(), exact.end()), mu_);
  }
  rec.mu = download_double(be_, mu_);
  const std::vector<double>& mu = rec.mu;
  rec.mu_abs_min = std::abs(*std::min_element(mu.begin(), mu.end(), [](double x, double y) { return std::abs(x) < std::abs(y); }));
  rec.mu_abs_max = std::abs(*std::max_element(mu.begin(), mu.end(), [](double x, double y) { return std::abs(x) < std::abs(y); }));
  rec.mu_norm = norm(mu);
  std::vector<double> u(static_cast<std::size_t>(k));
  for (std::size_t j = 0; j < u.size(); ++j) u[j] = a_[j] * mu[j];
  be_.upload_to(std::vector<T>(u.begin(), u.end()), u_);

  // σ'_⊥ = σ'(Z) − 1μᵀ and its norm; the operator norms start from the fixed vector (all zero).
  be_.add_outer(S_, -1.0, data_.ones, mu_);
  be_.upload_to(std::vector<T>(static_cast<std::size_t>(k), T(0)), start_k_);
  rec.opnorm_sigma_prime_perp = be_.operator_norm(S_, start_k_);

  // P = (r aᵀ) ⊙ σ'_⊥ = M − Q − r uᵀ; p = Pᵀ ζz; E = c Pᵀ X_B.
  be_.copy(*e.M, P_);
  if (e.penalty) be_.step(P_, *e.penalty, 1.0, false);
  be_.add_outer(P_, -1.0, *e.r, u_);
  be_.gemv_t(P_, data_.spike_latent, p_);
  be_.gemm_tn(c, P_, data_.X_B, E_);
  be_.upload_to(std::vector<T>(static_cast<std::size_t>(d), T(0)), start_d_);
  rec.opnorm_E = be_.operator_norm(E_, start_d_);

  // The rank-one parts' norms and R's singular pairs, from vectors.
  const std::vector<double> r = download_double(be_, *e.r), xr = download_double(be_, *e.xr),
                            xbr = download_double(be_, *e.xbr), p = download_double(be_, p_),
                            v = download_double(be_, e.spectrum->top_right_vector);
  const double zr = dot(z_, r);
  rec.opnorm_S1 = c * norm(u) * norm(xbr);
  rec.opnorm_S12 = c * norm(u) * std::abs(zeta_ * zr) * norm(q_);
  rec.opnorm_S2 = c * norm(p) * norm(q_);
  const RankTwoSvd R = rank_two_svd(c, u, xr, p, q_);
  rec.opnorm_R = R.sigma1;
  rec.sigma2_R = R.sigma2;

  // The check: ∇ − E − R − (the penalty's gradient c Qᵀ X) − λW, relative to ∇.
  be_.copy(*e.G, D_);
  be_.step(D_, E_, 1.0, false);
  be_.add_outer(D_, -c, u_, *e.xr);
  be_.add_outer(D_, -c, p_, data_.q);
  if (e.penalty) {
    be_.gemm_tn(c, *e.penalty, data_.X, E_);  // E is no longer needed
    be_.step(D_, E_, 1.0, false);
  }
  if (e.weight_decay > 0) be_.step(D_, *e.W, e.weight_decay, false);
  rec.decomposition_residual = be_.norm(D_) / be_.norm(*e.G);

  // Energies in R's top-two right space.
  std::vector<double> v2(static_cast<std::size_t>(2 * d));
  for (Index j = 0; j < d; ++j) {
    v2[static_cast<std::size_t>(2 * j)] = R.v1[static_cast<std::size_t>(j)];
    v2[static_cast<std::size_t>(2 * j + 1)] = R.v2[static_cast<std::size_t>(j)];
  }
  be_.upload_to(std::vector<T>(v2.begin(), v2.end()), V2_);
  rec.energy_grad_R2 = energy_ratio(be_, *e.G, V2_, V2_product_);
  rec.energy_weights_R2 = energy_ratio(be_, *e.W, V2_, V2_product_);

  // Effective ranks: the gradient's full spectrum, and every singular value of W_t.
  rec.effective_rank_grad = e.full_spectrum ? effective_rank(e.spectrum->singular_values) : kNaN;
  rec.effective_rank_weights = effective_rank(be_.singular_values(*e.W));

  residual_statistics(z_, r, rec);
  rec.align_R_u1 = std::abs(dot(v, R.v1));
  rec.align_R_u2 = std::abs(dot(v, R.v2));
  rec.R_v1_data = std::abs(dot(R.v1, q_));
  rec.R_v1_residue = abs_cos(R.v1, xbr);
  rec.R_v2_data = std::abs(dot(R.v2, q_));
  rec.R_v2_residue = abs_cos(R.v2, xbr);
}

template class Decomposition<float>;
template class Decomposition<double>;

}  // namespace lowrank
