#include "spectral.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <numeric>
#include <stdexcept>
#include <string>

namespace lowrank::spectral {
namespace {

using Index = std::int64_t;

void check(lapack_int info, const char* call) {
  if (info != 0) throw std::runtime_error(std::string("LAPACK: ") + call + " failed, info = " + std::to_string(info));
}

int i32(Index v) { return static_cast<int>(v); }
std::size_t sz(Index v) { return static_cast<std::size_t>(v); }

// Row-major rows×cols → column-major rows×cols (the same matrix, transposed storage).
std::vector<double> to_column_major(const double* A, Index rows, Index cols) {
  std::vector<double> out(sz(rows * cols));
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) out[sz(j * rows + i)] = A[i * cols + j];
  return out;
}

double degrees(double radians) { return radians * 180.0 / std::numbers::pi; }

// Rank test on a triangular factor (column-major, leading dimension lda, order d): every
// diagonal entry above kPivotCut of the largest. With partial pivoting (LU) or Householder
// reflections (QR) a near-singular matrix shows as a small diagonal entry; it is far cheaper than
// dtrcon, which costs as much as the rest of the basis, and CholeskyQR2 catches what it misses.
bool full_rank_diagonal(const std::vector<double>& a, Index lda, Index d) {
  double largest = 0, smallest = std::numeric_limits<double>::infinity();
  for (Index i = 0; i < d; ++i) {
    largest = std::max(largest, std::abs(a[sz(i * lda + i)]));
    smallest = std::min(smallest, std::abs(a[sz(i * lda + i)]));
  }
  return smallest > kPivotCut * largest;
}

// Orthonormalises the columns of N (column-major k×p) in place by Cholesky QR, twice
// (CholeskyQR2: orthogonal to rounding when κ(N) ≲ 1e7). False if N is too ill-conditioned.
bool cholesky_qr2(std::vector<double>& N, Index k, Index p) {
  std::vector<double> G(sz(p * p));
  for (int pass = 0; pass < 2; ++pass) {
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, i32(p), i32(k), 1.0, N.data(), i32(k), 0.0, G.data(), i32(p));
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', i32(p), G.data(), i32(p)) != 0) return false;
    cblas_dtrsm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, i32(k), i32(p), 1.0, G.data(),
                i32(p), N.data(), i32(k));
  }
  return true;
}

// Orthonormal basis (column-major k×d) of the column space of A (row-major k×d, full column
// rank) from Householder QR. False when the rank is in doubt.
bool column_basis(const double* A, Index k, Index d, std::vector<double>& basis) {
  std::vector<double> a = to_column_major(A, k, d), tau(sz(d));
  check(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, i32(k), i32(d), a.data(), i32(k), tau.data()), "dgeqrf");
  if (!full_rank_diagonal(a, k, d)) return false;
  check(LAPACKE_dorgqr(LAPACK_COL_MAJOR, i32(k), i32(d), i32(d), a.data(), i32(k), tau.data()), "dorgqr");
  basis = std::move(a);
  return true;
}

// Orthonormal basis (column-major k×(k−d)) of the orthogonal complement of the column space of
// A (row-major k×d, full column rank), from the LU factorisation P A = L U with partial
// pivoting: Aᵀx = 0 ⇔ Lᵀ(Px) = 0, and with L = [L1; L2] the null space of Lᵀ is spanned by
// [−L1⁻ᵀ L2ᵀ; I]. That basis has σ_min ≥ 1, so CholeskyQR2 orthonormalises it accurately.
bool complement_basis(const double* A, Index k, Index d, std::vector<double>& basis) {
  const Index p = k - d;
  std::vector<double> a = to_column_major(A, k, d);
  std::vector<lapack_int> pivots(sz(d));
  if (LAPACKE_dgetrf(LAPACK_COL_MAJOR, i32(k), i32(d), a.data(), i32(k), pivots.data()) != 0) return false;
  if (!full_rank_diagonal(a, k, d)) return false;
  basis.assign(sz(k * p), 0.0);
  for (Index j = 0; j < p; ++j) {
    for (Index i = 0; i < d; ++i) basis[sz(j * k + i)] = -a[sz(i * k + d + j)];  // −L2ᵀ
    basis[sz(j * k + d + j)] = 1.0;
  }
  cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasUnit, i32(d), i32(p), 1.0, a.data(), i32(k),
              basis.data(), i32(k));  // top block ← −L1⁻ᵀ L2ᵀ
  // x = Pᵀ y: the row interchanges in reverse order.
  check(LAPACKE_dlaswp(LAPACK_COL_MAJOR, i32(p), basis.data(), i32(k), 1, i32(d), pivots.data(), -1), "dlaswp");
  return cholesky_qr2(basis, k, p);
}

// Whether A (row-major k×d, k ≤ d) has full row rank beyond doubt: LU with partial pivoting of
// Aᵀ (A's storage read column-major), as complement_basis tests its factor.
bool full_row_rank(const double* A, Index k, Index d) {
  std::vector<double> a(A, A + k * d);
  std::vector<lapack_int> pivots(sz(k));
  return LAPACKE_dgetrf(LAPACK_COL_MAJOR, i32(d), i32(k), a.data(), i32(d), pivots.data()) == 0 &&
         full_rank_diagonal(a, d, k);
}

// Singular values of the column-major m×n matrix C (overwritten).
std::vector<double> singular_values(std::vector<double>& C, Index m, Index n) {
  std::vector<double> s(sz(std::min(m, n)));
  check(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', i32(m), i32(n), C.data(), i32(m), s.data(), nullptr, 1, nullptr, 1),
        "dgesdd");
  return s;
}

// Columns of the seed's orthonormal basis: left singular vectors with σ > 1e-14 + 1e-12·σ_max.
std::vector<double> svd_basis(const double* A, Index k, Index d, Index& rank) {
  std::vector<double> a = to_column_major(A, k, d);
  const Index m = std::min(k, d);
  std::vector<double> s(sz(m)), u(sz(k * m)), vt(sz(m * d));
  check(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', i32(k), i32(d), a.data(), i32(k), s.data(), u.data(), i32(k),
                       vt.data(), i32(m)),
        "dgesdd");
  const double cut = 1e-14 + 1e-12 * (m ? s[0] : 0.0);
  rank = 0;
  while (rank < m && s[sz(rank)] > cut) ++rank;
  u.resize(sz(k * rank));
  return u;
}

// A Householder QR of A (column-major factor and reflectors) and the rank it shows by the seed's
// cut; its column order does not matter (the angles see only the column space).
struct QrFactor {
  std::vector<double> a, tau;
  Index rank = 0;
};

// How far a certified rank must stand from the seed's cut (both sides): the rounding of a QR and
// of the seed's SVD is ~√p·ε·‖A‖, three orders below the cut's 1e-12·σ_max.
constexpr double kCutMargin = 10;

// A lower bound on σ_max(A) (row-major k×d) within a few per cent: ‖Ax‖/‖x‖ after a few power
// steps on AᵀA from the all-ones vector (any x gives a lower bound; the steps make it tight).
double largest_singular_value_below(const double* A, Index k, Index d) {
  std::vector<double> x(sz(d), 1.0), y(sz(k));
  double bound = 0;
  for (int step = 0; step < 4; ++step) {
    const double norm = cblas_dnrm2(i32(d), x.data(), 1);
    if (!(norm > 0)) break;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, i32(k), i32(d), 1.0 / norm, A, i32(d), x.data(), 1, 0.0, y.data(), 1);
    bound = std::max(bound, cblas_dnrm2(i32(k), y.data(), 1));
    cblas_dgemv(CblasRowMajor, CblasTrans, i32(k), i32(d), 1.0, A, i32(d), y.data(), 1, 0.0, x.data(), 1);
  }
  return bound;
}

// Unpivoted Householder QR (dgeqrf, level-3 BLAS: a third of dgeqp3's time at 1250×1000), kept
// only where it proves the rank r by the seed's cut σ > 1e-14 + 1e-12·σ_max: with A = Q[R11 R12;
// 0 R22], σ_{r+1}(A) ≤ ‖R22‖_F, and σ_r(A) ≥ σ_min(A's first r columns) = σ_min(R11) ≥
// 1/‖R11⁻¹‖_F; σ_max lies between a lower bound and ‖A‖_F. r is the first column whose
// trailing block is below the cut; nothing when R11 is not then far above it (early columns
// dependent on each other, or a singular value near the cut), and pivoted_qr decides. A generic
// W of any rank passes: W collapsing in relu_vs_sigmoid does.
std::optional<QrFactor> certified_qr(const double* A, Index k, Index d) {
  const Index p = std::min(k, d);
  QrFactor f{to_column_major(A, k, d), std::vector<double>(sz(p)), 0};
  check(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, i32(k), i32(d), f.a.data(), i32(k), f.tau.data()), "dgeqrf");
  // trailing[i] = ‖R[i:p, i:d]‖_F², from row sums of squares (R is zero below its diagonal).
  std::vector<double> trailing(sz(p + 1), 0.0);
  double largest_column = 0;
  for (Index j = 0; j < d; ++j) {
    double column = 0;
    for (Index i = 0; i <= std::min(j, p - 1); ++i) {
      const double r = f.a[sz(j * k + i)];
      trailing[sz(i)] += r * r;
      column += r * r;
    }
    largest_column = std::max(largest_column, column);
  }
  for (Index i = p - 1; i >= 0; --i) trailing[sz(i)] += trailing[sz(i + 1)];
  const double cut_high = 1e-14 + 1e-12 * std::sqrt(trailing[0]);
  // The rank proved with σ_max ≥ sigma_low, if any.
  const auto proved_rank = [&](double sigma_low) -> std::optional<Index> {
    const double cut_low = 1e-14 + 1e-12 * sigma_low;
    Index r = 0;
    while (r < p && !(std::sqrt(trailing[sz(r)]) * kCutMargin <= cut_low)) ++r;
    if (r == 0) return r;
    std::vector<double> inverse(sz(r * r), 0.0);
    for (Index j = 0; j < r; ++j) std::copy_n(&f.a[sz(j * k)], j + 1, &inverse[sz(j * r)]);
    if (LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'U', 'N', i32(r), inverse.data(), i32(r)) != 0) return std::nullopt;
    const double norm = LAPACKE_dlange(LAPACK_COL_MAJOR, 'F', i32(r), i32(r), inverse.data(), i32(r));
    if (!(std::isfinite(norm) && 1.0 / norm > kCutMargin * cut_high)) return std::nullopt;
    return r;
  };
  // The largest column norm is free and enough at full rank; a lower rank needs σ_max closer
  // (a collapsed W's columns are ~10× below it).
  std::optional<Index> rank = proved_rank(std::sqrt(largest_column));
  if (!rank) rank = proved_rank(largest_singular_value_below(A, k, d));
  if (!rank) return std::nullopt;
  f.rank = *rank;
  return f;
}

// The rank by the seed's cut σ > 1e-14 + 1e-12·σ_max, read off the pivoted factor's diagonal
// |r_11| ≥ |r_22| ≥ ...: with |r_11| ≤ σ_max ≤ √p·|r_11|, an entry below the cut's least value
// over √p bounds every singular value past it below the cut (‖R22‖₂ ≤ √p·|r_ii|), and one above
// its greatest value times 10√p leaves σ_i above it in practice. Nothing when an entry lies
// between the two.
std::optional<QrFactor> pivoted_qr(const double* A, Index k, Index d) {
  QrFactor f{to_column_major(A, k, d), std::vector<double>(sz(std::min(k, d))), 0};
  std::vector<lapack_int> pivots(sz(d), 0);
  check(LAPACKE_dgeqp3(LAPACK_COL_MAJOR, i32(k), i32(d), f.a.data(), i32(k), pivots.data(), f.tau.data()), "dgeqp3");
  const Index p = std::min(k, d);
  if (p == 0) return f;
  const double root_p = std::sqrt(static_cast<double>(p)), top = std::abs(f.a[0]);
  const double low = (1e-14 + 1e-12 * top) / root_p, high = (1e-14 + 1e-12 * root_p * top) * kCutMargin * root_p;
  for (Index i = 0; i < p; ++i) {
    const double r = std::abs(f.a[sz(i * k + i)]);
    if (r > low && r <= high) return std::nullopt;
    if (r > high) f.rank = i + 1;
  }
  return f;
}

// A's factor by the route asked for; with `either`, the certified one where it proves the rank.
std::optional<QrFactor> qr_factor(const double* A, Index k, Index d, QrRoute route) {
  if (route != QrRoute::pivoted)
    if (std::optional<QrFactor> f = certified_qr(A, k, d); f || route == QrRoute::unpivoted) return f;
  return pivoted_qr(A, k, d);
}

// The seed's basis of A's column space (its SVD's left vectors above the cut) as the QR factor of
// those columns, whose Q spans them: where no QR can tell the rank, the SVD is A's alone.
QrFactor svd_factor(const double* A, Index k, Index d) {
  QrFactor f;
  f.a = svd_basis(A, k, d, f.rank);
  f.tau.assign(sz(f.rank), 0.0);
  if (f.rank > 0)
    check(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, i32(k), i32(f.rank), f.a.data(), i32(k), f.tau.data()), "dgeqrf");
  return f;
}

// How many different rows A (row-major k×d) has, bit for bit: a matrix of fewer than d cannot
// have full column rank (W collapsing, its neurons identical), and the LU routes need not try.
Index distinct_rows(const double* A, Index k, Index d) {
  std::vector<Index> order(sz(k));
  std::iota(order.begin(), order.end(), Index{0});
  const auto row = [&](Index i) { return A + i * d; };
  const std::size_t bytes = sz(d) * sizeof(double);
  std::sort(order.begin(), order.end(), [&](Index x, Index y) { return std::memcmp(row(x), row(y), bytes) < 0; });
  Index count = k > 0 ? 1 : 0;
  for (Index i = 1; i < k; ++i) count += std::memcmp(row(order[sz(i - 1)]), row(order[sz(i)]), bytes) != 0;
  return count;
}

// Orthonormal columns (column-major k×count) of Q: the first `count` (a basis of the space: the
// reflectors past them leave those columns of I alone, and are not applied), or with `complement`
// the last (of its orthogonal complement: every reflector).
std::vector<double> q_columns(QrFactor& f, Index k, Index count, bool complement) {
  const Index first = complement ? k - count : 0, reflectors = complement ? static_cast<Index>(f.tau.size()) : count;
  std::vector<double> q(sz(k * count), 0.0);
  for (Index j = 0; j < count; ++j) q[sz(j * k + first + j)] = 1.0;
  if (count > 0 && reflectors > 0)
    check(LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'N', i32(k), i32(count), i32(reflectors), f.a.data(), i32(k),
                         f.tau.data(), q.data(), i32(k)),
          "dormqr");
  return q;
}

// The singular values of Uᵀ V, U being f's first `count` columns of Q (or with `complement` its
// last), V column-major k×m: the rows of Qᵀ V that U picks (Q never formed; its first `count`
// reflectors alone make the first columns, as in q_columns).
std::vector<double> cross_singular_values(QrFactor& f, Index count, bool complement, std::vector<double> V, Index m,
                                          Index k) {
  if (count == 0 || m == 0) return {};
  const Index first = complement ? k - count : 0, reflectors = complement ? static_cast<Index>(f.tau.size()) : count;
  if (reflectors > 0)
    check(LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'T', i32(k), i32(m), i32(reflectors), f.a.data(), i32(k),
                         f.tau.data(), V.data(), i32(k)),
          "dormqr");
  std::vector<double> C(sz(count * m));
  for (Index j = 0; j < m; ++j) std::copy_n(&V[sz(j * k + first)], count, &C[sz(j * count)]);
  return singular_values(C, count, m);
}

// The mean of the angles between the column spaces of two factors (of k rows), in degrees.
double mean_angle_deg(QrFactor a, QrFactor b, Index k) {
  if (a.rank > b.rank) std::swap(a, b);  // the angles are symmetric: ra ≤ rb
  const Index ra = a.rank, rb = b.rank;
  if (ra == 0) return std::numeric_limits<double>::quiet_NaN();  // the seed's: no angle
  // The ra angles θ_i between the spaces, from the fewest columns of Q: with U_a, U_b bases of
  // the spaces and U_b⊥ of B's complement, cos θ = σ(U_aᵀ U_b), and (the CS decomposition of
  // [U_b U_b⊥]ᵀ U_a) sin θ = σ(U_b⊥ᵀ U_a), the rest zero; two spaces of one dimension r have the
  // non-zero angles of their complements, cos θ = σ(U_a⊥ᵀ U_b⊥).
  // Each product forms one factor's columns and projects them on the other's Q: the cheaper way
  // round (columns × reflectors) where the two differ.
  double sum = 0;
  if (ra == rb && k - ra < ra) {
    for (double c : cross_singular_values(a, k - ra, true, q_columns(b, k, k - rb, true), k - rb, k))
      sum += std::acos(std::clamp(c, 0.0, 1.0));
  } else if (k - rb < rb) {
    const bool complement_first = (k - rb) * (rb + ra) <= ra * (ra + rb);
    const std::vector<double> s =
        complement_first ? cross_singular_values(a, ra, false, q_columns(b, k, k - rb, true), k - rb, k)
                         : cross_singular_values(b, k - rb, true, q_columns(a, k, ra, false), ra, k);
    for (double sine : s) sum += std::asin(std::clamp(sine, 0.0, 1.0));
  } else {
    for (double c : cross_singular_values(b, rb, false, q_columns(a, k, ra, false), ra, k))
      sum += std::acos(std::clamp(c, 0.0, 1.0));
  }
  return degrees(sum / static_cast<double>(ra));
}
}  // namespace

std::optional<double> qr_mean_angle_deg(const double* A, const double* B, Index k, Index d, QrRoute route) {
  std::optional<QrFactor> fa = qr_factor(A, k, d, route), fb = qr_factor(B, k, d, route);
  if (!fa || !fb) return std::nullopt;
  return mean_angle_deg(std::move(*fa), std::move(*fb), k);
}

RowFactor factor_rows(const double* X, Index n, Index d) {
  RowFactor f;
  f.n = n;
  f.d = d;
  f.compressed = n <= d;
  if (!f.compressed) {
    f.X.assign(X, X + n * d);
    return f;
  }
  // Row-major X (n×d) is column-major Xᵀ (d×n): QR of Xᵀ gives X = Rᵀ Qᵀ.
  std::vector<double> a(X, X + n * d), tau(sz(n));
  check(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, i32(d), i32(n), a.data(), i32(d), tau.data()), "dgeqrf");
  f.R.assign(sz(n * n), 0.0);
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i <= j; ++i) f.R[sz(j * n + i)] = a[sz(j * d + i)];
  check(LAPACKE_dorgqr(LAPACK_COL_MAJOR, i32(d), i32(n), i32(n), a.data(), i32(d), tau.data()), "dorgqr");
  f.Q = std::move(a);
  return f;
}

std::vector<double> tridiagonal_top_vectors(const std::vector<double>& diag, const std::vector<double>& off, Index p,
                                            Index count) {
  count = std::min(count, p);
  lapack_int found = 0, nsplit = 0;
  std::vector<double> w(sz(p));
  std::vector<lapack_int> iblock(sz(p)), isplit(sz(p)), ifail(sz(count));
  // Order 'B': grouped by the blocks T splits into, as dstein needs them ('E' sorts across blocks,
  // which dstein refuses when T splits with its largest eigenvalue in an earlier block).
  check(LAPACKE_dstebz('I', 'B', i32(p), 0.0, 0.0, i32(p - count + 1), i32(p), 0.0, diag.data(), off.data(), &found,
                       &nsplit, w.data(), iblock.data(), isplit.data()),
        "dstebz");
  std::vector<double> z(sz(p * found), 0.0);
  check(LAPACKE_dstein(LAPACK_COL_MAJOR, i32(p), diag.data(), off.data(), found, w.data(), iblock.data(),
                       isplit.data(), z.data(), i32(p), ifail.data()),
        "dstein");
  // Largest first.
  std::vector<Index> order(sz(found));
  std::iota(order.begin(), order.end(), Index{0});
  std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) { return w[sz(a)] > w[sz(b)]; });
  std::vector<double> vectors(sz(p * found));
  for (Index c = 0; c < found; ++c)
    std::copy(z.begin() + order[sz(c)] * p, z.begin() + (order[sz(c)] + 1) * p, vectors.begin() + c * p);
  return vectors;
}

GradientSpectrum gradient_spectrum(std::vector<double> M, Index k, const RowFactor& X, double scale) {
  const Index n = X.n, d = X.d;
  // B (column-major k×r) has the singular values of ∇; v = Q·(right singular vector of B).
  // Row-major M (n×k) is column-major Mᵀ (k×n).
  Index r = 0;
  std::vector<double> B;
  if (X.compressed) {
    r = n;
    B = std::move(M);  // becomes scale · Mᵀ Rᵀ in place
    cblas_dtrmm(CblasColMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, i32(k), i32(n), scale, X.R.data(),
                i32(n), B.data(), i32(k));
  } else {
    r = d;
    B.assign(sz(k * d), 0.0);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, i32(k), i32(d), i32(n), scale, M.data(), i32(k), X.X.data(),
                i32(d), 0.0, B.data(), i32(k));
  }

  const bool right_gram = r <= k;  // BᵀB (r×r) or B Bᵀ (k×k), the smaller
  const Index p = right_gram ? r : k;
  std::vector<double> G(sz(p * p), 0.0);
  cblas_dsyrk(CblasColMajor, CblasLower, right_gram ? CblasTrans : CblasNoTrans, i32(p), i32(right_gram ? k : r), 1.0,
              B.data(), i32(k), 0.0, G.data(), i32(p));
  // A non-finite gradient (a diverging run) has no spectrum: NaN, which the driver reports as a
  // divergence (LAPACK would refuse the matrix, and the run would fail instead).
  if (!std::all_of(G.begin(), G.end(), [](double g) { return std::isfinite(g); })) {
    GradientSpectrum none;
    none.singular_values.assign(sz(std::min(k, d)), std::numeric_limits<double>::quiet_NaN());
    none.top_right_vector.assign(sz(d), 0.0);
    none.second_right_vector.assign(sz(d), 0.0);
    return none;
  }
  // One tridiagonal reduction serves both: every eigenvalue by dsterf, the top two vectors from
  // the tridiagonal's, mapped back by dormtr.
  std::vector<double> diag(sz(p)), off(sz(std::max<Index>(p - 1, 1))), tau(sz(std::max<Index>(p - 1, 1)));
  check(LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', i32(p), G.data(), i32(p), diag.data(), off.data(), tau.data()), "dsytrd");
  std::vector<double> eigenvalues = diag, off_copy = off;
  check(LAPACKE_dsterf(i32(p), eigenvalues.data(), off_copy.data()), "dsterf");
  std::reverse(eigenvalues.begin(), eigenvalues.end());
  std::vector<double> top = tridiagonal_top_vectors(diag, off, p, 2);
  const Index found = static_cast<Index>(top.size()) / p;
  if (p > 1)
    check(LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'L', 'N', i32(p), i32(found), G.data(), i32(p), tau.data(), top.data(),
                         i32(p)),
          "dormtr");

  GradientSpectrum out;
  out.singular_values.assign(sz(std::min(k, d)), 0.0);
  for (Index i = 0; i < p && i < std::min(k, d); ++i)
    out.singular_values[sz(i)] = std::sqrt(std::max(eigenvalues[sz(i)], 0.0));

  // Eigenvector c of the Gram matrix → unit right singular vector of ∇ (d).
  auto right_vector = [&](Index c) {
    std::vector<double> right(top.begin() + c * p, top.begin() + (c + 1) * p);  // of B (r)
    if (!right_gram) {
      // B Bᵀ gave the left vector u; the right one is Bᵀu/‖Bᵀu‖.
      right.assign(sz(r), 0.0);
      cblas_dgemv(CblasColMajor, CblasTrans, i32(k), i32(r), 1.0, B.data(), i32(k), &top[sz(c * p)], 1, 0.0,
                  right.data(), 1);
      const double norm = cblas_dnrm2(i32(r), right.data(), 1);
      if (norm > 0) cblas_dscal(i32(r), 1.0 / norm, right.data(), 1);
    }
    if (!X.compressed) return right;
    std::vector<double> v(sz(d), 0.0);
    cblas_dgemv(CblasColMajor, CblasNoTrans, i32(d), i32(n), 1.0, X.Q.data(), i32(d), right.data(), 1, 0.0, v.data(),
                1);
    return v;
  };
  out.top_right_vector = right_vector(0);
  if (static_cast<Index>(top.size()) >= 2 * p) out.second_right_vector = right_vector(1);
  return out;
}

namespace {
void syrk(CBLAS_TRANSPOSE t, Index p, Index inner, const double* A, Index lda, double* G) {
  cblas_dsyrk(CblasColMajor, CblasLower, t, i32(p), i32(inner), 1.0, A, i32(lda), 0.0, G, i32(p));
}
void syrk(CBLAS_TRANSPOSE t, Index p, Index inner, const float* A, Index lda, float* G) {
  cblas_ssyrk(CblasColMajor, CblasLower, t, i32(p), i32(inner), 1.0f, A, i32(lda), 0.0f, G, i32(p));
}
lapack_int eigenvalues(Index p, double* G, double* values) {
  return LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'N', 'L', i32(p), G, i32(p), values);
}
lapack_int eigenvalues(Index p, float* G, float* values) {
  return LAPACKE_ssyevd(LAPACK_COL_MAJOR, 'N', 'L', i32(p), G, i32(p), values);
}
}  // namespace

template <typename T>
std::vector<double> singular_values(const T* A, Index m, Index n) {
  // Row-major A is column-major Aᵀ (n×m): Aᵀ A (n×n) by NoTrans, A Aᵀ (m×m) by Trans.
  const bool right = n <= m;
  const Index p = right ? n : m;
  std::vector<T> G(sz(p * p), T(0)), values(sz(p));
  syrk(right ? CblasNoTrans : CblasTrans, p, right ? m : n, A, n, G.data());
  if (!std::all_of(G.begin(), G.end(), [](T g) { return std::isfinite(g); }))
    return std::vector<double>(sz(p), std::numeric_limits<double>::quiet_NaN());
  check(eigenvalues(p, G.data(), values.data()), "?syevd");
  std::vector<double> out(values.rbegin(), values.rend());
  for (double& v : out) v = std::sqrt(std::max(v, 0.0));
  return out;
}
template std::vector<double> singular_values<float>(const float*, Index, Index);
template std::vector<double> singular_values<double>(const double*, Index, Index);

TopRitz top_ritz(const std::vector<double>& alpha, const std::vector<double>& beta, Index used, double rel_tol) {
  const auto finite = [](double x) { return std::isfinite(x); };
  if (!std::all_of(alpha.begin(), alpha.begin() + used, finite) || !std::all_of(beta.begin(), beta.begin() + used, finite))
    return {std::numeric_limits<double>::quiet_NaN(), std::vector<double>(sz(used), 0.0), true};
  std::vector<double> diag(alpha.begin(), alpha.begin() + used), off(beta.begin(), beta.begin() + used);
  std::vector<double> z(sz(used * used));
  check(LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', i32(used), diag.data(), off.data(), z.data(), i32(used)), "dstev");
  TopRitz out;
  out.theta = diag[sz(used - 1)];
  out.s.assign(z.end() - used, z.end());
  const double last_beta = beta[sz(used - 1)];
  out.converged = last_beta * std::abs(out.s[sz(used - 1)]) <= rel_tol * out.theta ||
                  last_beta <= 1e-14 * std::max(out.theta, 1e-300);
  return out;
}

double largest_singular_value(const double* W, Index k, Index d, std::vector<double>& start, double rel_tol) {
  const Index steps = std::min<Index>(d, kLanczosSteps);
  std::vector<double> v(start);
  v.resize(sz(d));
  double norm = cblas_dnrm2(i32(d), v.data(), 1);
  if (!(norm > 0)) {
    std::fill(v.begin(), v.end(), 1.0);
    norm = std::sqrt(static_cast<double>(d));
  }
  cblas_dscal(i32(d), 1.0 / norm, v.data(), 1);

  std::vector<double> basis(sz(steps * d)), w(sz(d)), t(sz(k));
  std::vector<double> alpha(sz(steps)), beta(sz(steps));
  TopRitz ritz;
  for (int restart = 0; restart < kLanczosRestarts && !ritz.converged; ++restart) {
    std::copy(v.begin(), v.end(), basis.begin());
    Index used = 0;
    for (Index j = 0; j < steps; ++j) {
      const double* vj = &basis[sz(j * d)];
      cblas_dgemv(CblasRowMajor, CblasNoTrans, i32(k), i32(d), 1.0, W, i32(d), vj, 1, 0.0, t.data(), 1);
      cblas_dgemv(CblasRowMajor, CblasTrans, i32(k), i32(d), 1.0, W, i32(d), t.data(), 1, 0.0, w.data(), 1);
      alpha[sz(j)] = cblas_ddot(i32(d), w.data(), 1, vj, 1);
      // Full reorthogonalisation against the basis so far, twice ("twice is enough").
      for (int pass = 0; pass < 2; ++pass)
        for (Index i = 0; i <= j; ++i) {
          const double c = cblas_ddot(i32(d), w.data(), 1, &basis[sz(i * d)], 1);
          cblas_daxpy(i32(d), -c, &basis[sz(i * d)], 1, w.data(), 1);
        }
      beta[sz(j)] = cblas_dnrm2(i32(d), w.data(), 1);
      used = j + 1;
      ritz = top_ritz(alpha, beta, used, rel_tol);
      if (ritz.converged) break;
      if (j + 1 < steps) {
        cblas_dcopy(i32(d), w.data(), 1, &basis[sz((j + 1) * d)], 1);
        cblas_dscal(i32(d), 1.0 / beta[sz(j)], &basis[sz((j + 1) * d)], 1);
      }
    }
    // The Ritz vector: returned, or the start of the next restart.
    std::fill(v.begin(), v.end(), 0.0);
    for (Index i = 0; i < used; ++i) cblas_daxpy(i32(d), ritz.s[sz(i)], &basis[sz(i * d)], 1, v.data(), 1);
    cblas_dscal(i32(d), 1.0 / cblas_dnrm2(i32(d), v.data(), 1), v.data(), 1);
  }
  start = v;
  return std::sqrt(std::max(ritz.theta, 0.0));
}

std::vector<double> principal_angles_svd(const double* A, const double* B, Index k, Index d) {
  Index ra = 0, rb = 0;
  std::vector<double> ua = svd_basis(A, k, d, ra), ub = svd_basis(B, k, d, rb);
  if (ra == 0 || rb == 0) return {};
  std::vector<double> C(sz(ra * rb));
  cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, i32(ra), i32(rb), i32(k), 1.0, ua.data(), i32(k), ub.data(),
              i32(k), 0.0, C.data(), i32(ra));
  std::vector<double> s = singular_values(C, ra, rb), angles;
  for (double c : s) angles.push_back(std::acos(std::clamp(c, 0.0, 1.0)));
  std::sort(angles.begin(), angles.end());
  return angles;
}

double mean_principal_angle_deg(const double* A, const double* B, Index k, Index d) {
  // The LU routes need full rank, min(k, d), which repeated rows rule out at once.
  const Index p_full = std::min(k, d);
  const bool may_be_full = distinct_rows(A, k, d) >= p_full && distinct_rows(B, k, d) >= p_full;
  // d ≥ k: two matrices of full row rank both span all of R^k, and every angle is zero.
  if (d >= k && may_be_full && full_row_rank(A, k, d) && full_row_rank(B, k, d)) return 0.0;
  if (d < k && may_be_full) {
    // Bases of the smaller side: the spaces themselves, or their complements, whose non-zero
    // principal angles are the same (the other d − p angles are zero).
    const bool complement = k - d < d;
    const Index p = complement ? k - d : d;
    std::vector<double> ua, ub;
    const auto basis = complement ? complement_basis : column_basis;
    if (basis(A, k, d, ua) && basis(B, k, d, ub)) {
      std::vector<double> C(sz(p * p));
      cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, i32(p), i32(p), i32(k), 1.0, ua.data(), i32(k), ub.data(),
                  i32(k), 0.0, C.data(), i32(p));
      double sum = 0;
      for (double c : singular_values(C, p, p)) sum += std::acos(std::clamp(c, 0.0, 1.0));
      return degrees(sum / static_cast<double>(d));
    }
  }
  // Each matrix by the cheapest route that proves its rank: a QR, else the seed's SVD basis.
  const auto factor = [&](const double* M) {
    std::optional<QrFactor> f = qr_factor(M, k, d, QrRoute::either);
    return f ? std::move(*f) : svd_factor(M, k, d);
  };
  return mean_angle_deg(factor(A), factor(B), k);
}

Refit refit_readout(const double* X, const double* y, Index n, const double* X_test, const double* y_test,
                    Index n_test, const double* W, Index k, Index d, double gamma, Activation act, double rcond) {
  // H = γ σ(X Wᵀ), built column-major (n×k) for LAPACK: H_col = (W Xᵀ) in row-major k×n.
  std::vector<double> H(sz(n * k));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i32(k), i32(n), i32(d), 1.0, W, i32(d), X, i32(d), 0.0,
              H.data(), i32(n));
  for (double& h : H) h = gamma * activate(act, h);
  // Minimum-norm least squares: b holds y on entry (n ≥ 1 rows, padded to max(n, k)).
  std::vector<double> b(sz(std::max(n, k)), 0.0), s(sz(std::min(n, k)));
  std::copy(y, y + n, b.begin());
  lapack_int rank = 0;
  check(LAPACKE_dgelsd(LAPACK_COL_MAJOR, i32(n), i32(k), 1, H.data(), i32(n), b.data(), i32(std::max(n, k)), s.data(),
                       rcond, &rank),
        "dgelsd");
  std::vector<double> Zt(sz(n_test * k));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i32(n_test), i32(k), i32(d), 1.0, X_test, i32(d), W, i32(d),
              0.0, Zt.data(), i32(k));
  double total = 0;
  for (Index i = 0; i < n_test; ++i) {
    double f = 0;
    for (Index j = 0; j < k; ++j) f += gamma * activate(act, Zt[sz(i * k + j)]) * b[sz(j)];
    total += sample_loss(Loss::mse, f, y_test[i]);  // the refit is least squares: its test MSE
  }
  b.resize(sz(k));
  return {total / static_cast<double>(n_test), std::move(b)};
}

}  // namespace lowrank::spectral
