// The gradient's decomposition of SPEC §9 (the Spectrum_Plotting notebook's S1, S12, S2, E):
// with c = γ/n, μ_j = E[σ'(w_jᵀx)], σ'_⊥ = σ'(Z) − 1μᵀ, P = (r aᵀ) ⊙ σ'_⊥ and u = a ⊙ μ,
//   S1 = c u (X_Bᵀr)ᵀ, S12 = c u (X_Sᵀr)ᵀ, S2 = c Pᵀ X_S = c (Pᵀ ζz) qᵀ, E = c Pᵀ X_B,
// so R = S1 + S12 + S2 = c (u (Xᵀr)ᵀ + p qᵀ) with p = Pᵀ ζz: S1, S12, S2 are rank one and R is
// rank two, so their norms and R's singular pairs come from k- and d-vectors; only E, σ'_⊥
// and μ's fresh samples are matrix work, on the backend.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend.hpp"
#include "config.hpp"
#include "inputs.hpp"
#include "series.hpp"

namespace lowrank {

// The top two singular values of R = c (u xᵀ + p qᵀ) (k×d, rank ≤ 2) and its right singular
// vectors (unit, d; zero where R has rank < 2), in float64 from an orthonormal basis of
// span(x, q) and the eigenpairs of a 2×2 Gram matrix.
struct RankTwoSvd {
  double sigma1 = 0, sigma2 = 0;
  std::vector<double> v1, v2;
};
RankTwoSvd rank_two_svd(double c, const std::vector<double>& u, const std::vector<double>& x,
                        const std::vector<double>& p, const std::vector<double>& q);

// E[σ'(t)] for t ~ N(0, s²), within ~1e-12: Gauss–Legendre panels over |t| ≤ kGaussianCore (at
// most half of min(1, s) wide, with t = 0, where relu and elu have their kinks, on a panel edge),
// and σ'(±kGaussianCore) times the mass beyond, where every activation's σ' has settled.
double mean_derivative_gaussian(Activation act, double s);
constexpr double kGaussianCore = 40.0;

// exp(−Σ pᵢ log(pᵢ + 1e-8)), pᵢ = σᵢ/Σσ: the notebook's effective_rank (NaN for an empty or zero spectrum).
double effective_rank(const std::vector<double>& singular_values);

template <typename T>
struct DeviceInputs;

// One run's decomposition work space on the backend, and the host copies of what its small
// products need. The operator norms start from a fixed vector every time, so that a resumed
// run's values are the uninterrupted run's bits.
template <typename T>
class Decomposition {
 public:
  Decomposition(Backend<T>& be, const Config& config, const Inputs& in, const DeviceInputs<T>& data);

  // Before the gradient overwrites Z = X W_tᵀ: keeps σ'(Z).
  void capture(const Buffer<T>& Z, Activation act);

  // What the gradient holds at epoch t, for `compute`.
  struct Epoch {
    std::int64_t t = 0;
    double gamma = 0;
    Activation act = Activation::relu;
    const Buffer<T>* W = nullptr;        // W_t
    const Buffer<T>* G = nullptr;        // ∇, the regularisers' gradients included
    const Buffer<T>* M = nullptr;        // (r aᵀ) ⊙ σ'(Z) + Q, as `gradient` left it in Z
    const Buffer<T>* penalty = nullptr;  // Q, with the gradient penalty
    double weight_decay = 0;             // λ of the run's weight decay
    const Buffer<T>* r = nullptr;
    const Buffer<T>* xr = nullptr;   // Xᵀ r
    const Buffer<T>* xbr = nullptr;  // X_Bᵀ r
    const Spectrum<T>* spectrum = nullptr;
    bool full_spectrum = true;
  };
  // Every decomposition series of SPEC §9 into `rec` (μ into rec.mu).
  void compute(const Epoch& e, EpochRecord& rec);

 private:
  Backend<T>& be_;
  const Config& config_;
  const DeviceInputs<T>& data_;
  std::vector<double> a_, q_, z_;  // host copies: a, q, z
  double zeta_;
  std::vector<double> bulk_variance_;  // i^(−α): the bulk's variance along coordinate i
  Buffer<T> S_, P_, E_, D_, samples_, samples_Z_, sample_weights_, mu_, u_, p_, V2_, V2_product_;
  Buffer<T> start_k_, start_d_;
  std::vector<T> samples_host_;  // μ's samples, drawn on the host in the working precision
};

// Sets every decomposition scalar of `rec` to NaN: an epoch the decomposition skips.
void skip_decomposition(EpochRecord& rec);

// The residual's statistics among the decomposition's series: residual_max (‖r‖_∞), residual_norm
// (‖r‖₂) and cos_z_residual (|cos(z, r)|, z the spike's latent), all from the forward pass.
void residual_statistics(const std::vector<double>& z, const std::vector<double>& r, EpochRecord& rec);

}  // namespace lowrank
