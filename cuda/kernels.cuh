// The CUDA backend's fused element-wise kernels. Each states what it computes; the scalar math
// (σ, σ', the loss and its residual) is host/numerics/scalar_math.hpp's, shared with the CPU backend.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "optimizer_math.hpp"
#include "scalar_math.hpp"

namespace lowrank::cuda {

// Row-wise readout after Z = X Wᵀ (n×k): F_i = γ Σ_j a_j σ(Z_ij), r_i = ∂ℓ/∂F (F_i, y_i) (when r
// is not null), row_loss_i = ℓ(F_i, y_i), row_correct_i = 1 where F_i predicts y_i's class, else 0
// (when row_correct is not null). One block per row.
template <typename T>
void launch_readout(const T* Z, const T* a, const T* y, double gamma, Activation act, Loss loss, std::int64_t n,
                    std::int64_t k, T* r, double* row_loss, double* row_correct, cudaStream_t stream);

// M_ij = r_i a_j σ'(Z_ij), in place over Z (n×k).
template <typename T>
void launch_residual_mask(T* Z, const T* r, const T* a, Activation act, std::int64_t n, std::int64_t k,
                          cudaStream_t stream);

// The gradient penalty at Z (n×k): Q_ij = λγ a_j² ‖x_i‖² σ'(Z_ij) σ''(Z_ij) and
// row_penalty_i = ‖x_i‖² Σ_j a_j² σ'(Z_ij)² (x_norms2 holds ‖x_i‖²). One block per row.
template <typename T>
void launch_penalty_rows(const T* Z, const T* x_norms2, const T* a, double lambda_gamma, Activation act,
                         std::int64_t n, std::int64_t k, T* Q, double* row_penalty, cudaStream_t stream);

// Z ← σ'(Z), element-wise over `count` entries.
template <typename T>
void launch_activation_derivative(T* Z, Activation act, std::int64_t count, cudaStream_t stream);

// w_j ← w_j − η g_j, then, if normalize, w_j ← w_j / (‖w_j‖ + 1e-8), for each row j of W (k×d).
// One block per row.
template <typename T>
void launch_step_rows(T* W, const T* G, double lr, bool normalize, std::int64_t k, std::int64_t d,
                      cudaStream_t stream);

// One optimiser step (optimizer_math.hpp's update_weight) on every entry of W (k×d) with its
// state `first` (b or m) and `second` (v, or null), then, if normalize, each row to unit norm as
// launch_step_rows. One block per row.
template <typename T>
void launch_optimizer_rows(T* W, const T* G, T* first, T* second, const UpdateRule& rule, bool normalize,
                           std::int64_t k, std::int64_t d, cudaStream_t stream);

// y_i ← y_i + α x_i, i < count.
template <typename T>
void launch_axpy(double alpha, const T* x, T* y, std::int64_t count, cudaStream_t stream);

// out_i = double(in_i), i < count.
template <typename T>
void launch_to_double(const T* in, double* out, std::int64_t count, cudaStream_t stream);

// out_i = T(in_i), i < count.
template <typename T>
void launch_from_double(const double* in, T* out, std::int64_t count, cudaStream_t stream);

// The device reductions (cub::DeviceReduce, a fixed order: deterministic) write their result to
// `out` on the device and use `work`, which the caller keeps between calls: no allocation. As in
// CUB, a null `work` only sets `work_bytes` to the size needed.
// *out = Σ_i double(x_i)·double(y_i), accumulated in float64.
template <typename T>
void launch_dot_float64(const T* x, const T* y, std::int64_t count, double* out, void* work, std::size_t& work_bytes,
                        cudaStream_t stream);
// Vector pairs for launch_batched_dots, passed by value to the kernel: up to kMaxBatchedDots.
constexpr int kMaxBatchedDots = 32;
template <typename T>
struct DotBatch {
  const T* x[kMaxBatchedDots];
  const T* y[kMaxBatchedDots];
  std::int64_t count[kMaxBatchedDots];
  int size = 0;
};
// out_b = Σ_i double(x_b[i])·double(y_b[i]) for each pair b of the batch: one block a pair.
template <typename T>
void launch_batched_dots(const DotBatch<T>& batch, double* out, cudaStream_t stream);
// *out = Σ_i in_i.
void launch_sum(const double* in, std::int64_t count, double* out, void* work, std::size_t& work_bytes,
                cudaStream_t stream);

// out = (min_i |A_ii|, max_i |A_ii|) over the first `count` diagonal entries of a column-major
// matrix with leading dimension lda (pivot sizes of an LU or QR factor).
void launch_diagonal_range(const double* A, std::int64_t lda, std::int64_t count, double* out, cudaStream_t stream);

// Complement basis from an LU factor (column-major k×d, L below the diagonal): column j of the
// column-major k×(k−d) output is −(row d+j of L)ᵀ in its first d rows and e_{d+j} below.
void launch_complement_seed(const double* LU, std::int64_t k, std::int64_t d, double* basis, cudaStream_t stream);

// out row r = in row source_r, for column-major matrices of `rows` rows and `cols` columns.
void launch_gather_rows(const double* in, const int* source, std::int64_t rows, std::int64_t cols, double* out,
                        cudaStream_t stream);

// out_i = in_i / *divisor, i < count (out = in for a zero divisor, a zero norm: the zero vector
// stays zero, as in the CPU's spectrum); the divisor stays on the device (no synchronisation).
void launch_divide(const double* in, const double* divisor, double* out, std::int64_t count, cudaStream_t stream);

// Every eigenvalue (ascending, `values`, p) of the symmetric tridiagonal matrix with diagonal
// `diag` (p) and off-diagonal `off` (p − 1), each within 2ε‖T‖, by Sturm-count multisection.
void launch_tridiagonal_eigenvalues(const double* diag, const double* off, std::int64_t p, double* values,
                                    cudaStream_t stream);

}  // namespace lowrank::cuda
