// Float64 spectral routines of the CPU backend, on LAPACK: the gradient's spectrum, the weights'
// operator norm, principal angles and the readout refit. Row-major inputs, as everywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "scalar_math.hpp"

namespace lowrank::spectral {

// X (n×d) as X = L Qᵀ with Q (d×n) orthonormal columns, when n ≤ d; then ∇ = s·Mᵀ X has the
// singular values of the k×n matrix s·Mᵀ L and right singular vectors Q·(those of s·Mᵀ L).
// When n > d nothing is gained and X is kept as it is.
struct RowFactor {
  std::int64_t n = 0, d = 0;
  bool compressed = false;
  std::vector<double> R;  // compressed: n×n upper triangle, column-major (L = Rᵀ)
  std::vector<double> Q;  // compressed: d×n column-major
  std::vector<double> X;  // otherwise: X itself, row-major n×d
};
RowFactor factor_rows(const double* X, std::int64_t n, std::int64_t d);

struct GradientSpectrum {
  std::vector<double> singular_values;      // min(k, d), descending
  std::vector<double> top_right_vector;     // d, unit, sign not fixed
  std::vector<double> second_right_vector;  // d, unit, sign not fixed; empty when rank ≤ 1 is forced
};
// Spectrum of ∇ = scale · Mᵀ X, M row-major n×k (taken over as work space), through the float64 Gram matrix of the
// smaller side: eigenvalue errors of ε·σ₁² give σᵢ within 1e-8·σ₁, inside SPEC §4's bound.
GradientSpectrum gradient_spectrum(std::vector<double> M, std::int64_t k, const RowFactor& X, double scale);

// Every singular value (descending) of the row-major m×n A, as the square roots of the
// eigenvalues of the Gram matrix of its smaller side, in A's precision (?syrk, ?syevd without vectors).
template <typename T>
std::vector<double> singular_values(const T* A, std::int64_t m, std::int64_t n);

// The unit eigenvectors of the `count` largest eigenvalues (column-major p×count, largest first)
// of the symmetric tridiagonal matrix with diagonal `diag` (p) and off-diagonal `off` (p − 1), by
// bisection and inverse iteration (dstebz, dstein): both backends reduce their Gram matrix to this
// tridiagonal (dsytrd / cusolverDnDsytrd) and map these vectors back (dormtr / cusolverDnDormtr).
std::vector<double> tridiagonal_top_vectors(const std::vector<double>& diag, const std::vector<double>& off,
                                            std::int64_t p, std::int64_t count);

// The top Ritz pair of the Lanczos tridiagonal T (diagonal alpha, off-diagonal beta, `used`
// steps) and whether it has converged: the residual bound β_last·|s_last| ≤ rel_tol·θ, or an
// invariant subspace (β_last ≈ 0). `s` is the Ritz vector in the Lanczos basis. Non-finite
// coefficients (a non-finite matrix) give θ = NaN, converged: the Lanczos result is NaN, which
// callers read as a divergence, not an error.
struct TopRitz {
  double theta = 0;
  std::vector<double> s;
  bool converged = false;
};
TopRitz top_ritz(const std::vector<double>& alpha, const std::vector<double>& beta, std::int64_t used, double rel_tol);

// Lanczos steps before a restart from the current Ritz vector, and restarts at most.
constexpr std::int64_t kLanczosSteps = 64;
constexpr int kLanczosRestarts = 20;

// Largest singular value of W (row-major k×d) by Lanczos on WᵀW with full reorthogonalisation,
// stopped when the residual bound on the top Ritz value is below rel_tol of it. `start` (d)
// is the start vector (all zero: a fixed one) and receives the top right singular vector.
double largest_singular_value(const double* W, std::int64_t k, std::int64_t d, std::vector<double>& start,
                              double rel_tol = 1e-10);

// A factor's smallest diagonal entry below this fraction of its largest puts the rank in doubt.
constexpr double kPivotCut = 1e-8;

// Mean principal angle in degrees between the column spaces of A and B (row-major k×d): the
// seed's principal_angles (rank cut 1e-14 + 1e-12·s_max, mean over min(rank A, rank B) angles).
// Well-conditioned tall matrices (k > d) take bases of the smaller of the spaces (Householder QR)
// and their complements (LU): the non-zero angles of two equal-dimension spaces and of their
// complements agree. Wide ones (k ≤ d) of full row rank both span R^k: every angle is zero,
// exactly. Any whose rank is in doubt take qr_mean_angle_deg (QrRoute::either), and the seed's
// SVD bases only where no QR can tell the rank.
double mean_principal_angle_deg(const double* A, const double* B, std::int64_t k, std::int64_t d);
// How qr_mean_angle_deg factors each matrix. `unpivoted`: Householder QR (dgeqrf) and a proof of
// the rank from its trailing blocks and ‖R11⁻¹‖_F (nothing without one); `pivoted`: Householder
// QR with column pivoting (dgeqp3, three times dgeqrf's time at 1250×1000), the rank read off its
// diagonal; `either`: the unpivoted where it proves the rank, else the pivoted.
enum class QrRoute { unpivoted, pivoted, either };
// The same angles for matrices of any rank from a QR of each: the rank by the seed's cut, bases of
// the spaces or of their complements as Q's columns. Nothing (std::nullopt) when the route cannot
// tell a rank so near the cut that the seed's SVD might count otherwise.
std::optional<double> qr_mean_angle_deg(const double* A, const double* B, std::int64_t k, std::int64_t d,
                                        QrRoute route);
// The seed's method itself, kept as the fallback and as the reference in tests.
std::vector<double> principal_angles_svd(const double* A, const double* B, std::int64_t k, std::int64_t d);

// The refit readout a* (k) and the test MSE of γ σ(X_test Wᵀ) a*.
struct Refit {
  double test_mse = 0;
  std::vector<double> a;
};

// a* = pinv(γ σ(X Wᵀ)) y with singular values below rcond·σ₁ cut (torch.linalg.pinv's rule),
// then the test MSE of γ σ(X_test Wᵀ) a*.
Refit refit_readout(const double* X, const double* y, std::int64_t n, const double* X_test, const double* y_test,
                    std::int64_t n_test, const double* W, std::int64_t k, std::int64_t d, double gamma, Activation act,
                    double rcond);

}  // namespace lowrank::spectral
