#include <cub/block/block_reduce.cuh>
#include <cub/device/device_reduce.cuh>
#include <cuda/functional>
#include <cuda/std/functional>
#include <thrust/iterator/counting_iterator.h>

#include <algorithm>

#include "cuda_check.hpp"
#include "kernels.cuh"
#include "tridiagonal.hpp"

namespace lowrank::cuda {
namespace {

// One block per row for the row-wise kernels; 256 threads keep a 1000–16384-wide row in a few
// strided passes and give the block reduction eight warps.
constexpr int kRowThreads = 256;
// Element-wise kernels: 256 threads a block, enough blocks to cover the data once (grid-stride
// loops take any remainder past the grid limit).
constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 65535;
// Tridiagonal eigenvalues: a warp per eigenvalue, its lanes the multisection points; four warps
// a block.
constexpr int kWarp = 32;
constexpr int kEigenWarpsPerBlock = 4;

int blocks_for(std::int64_t count) {
  return static_cast<int>(std::clamp<std::int64_t>((count + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

template <typename T>
__global__ void readout_rows(const T* __restrict__ Z, const T* __restrict__ a, const T* __restrict__ y, double gamma,
                             Activation act, Loss loss, std::int64_t k, T* __restrict__ r, double* __restrict__ row_loss,
                             double* __restrict__ row_correct) {
  using Reduce = cub::BlockReduce<double, kRowThreads>;
  __shared__ typename Reduce::TempStorage scratch;
  const std::int64_t i = blockIdx.x;
  const T* row = Z + i * k;
  double partial = 0;
  for (std::int64_t j = threadIdx.x; j < k; j += kRowThreads)
    partial += static_cast<double>(a[j]) * static_cast<double>(activate(act, row[j]));
  const double sum = Reduce(scratch).Sum(partial);
  if (threadIdx.x == 0) {
    const double f = gamma * sum, target = static_cast<double>(y[i]);
    if (r) r[i] = static_cast<T>(sample_residual(loss, f, target));
    row_loss[i] = sample_loss(loss, f, target);
    if (row_correct) row_correct[i] = predicts_class(loss, f, target) ? 1.0 : 0.0;
  }
}

template <typename T>
__global__ void residual_mask(T* __restrict__ Z, const T* __restrict__ r, const T* __restrict__ a, Activation act,
                              std::int64_t n, std::int64_t k) {
  const std::int64_t count = n * k;
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t i = e / k, j = e - i * k;
    Z[e] = r[i] * a[j] * activate_derivative(act, Z[e]);
  }
}

template <typename T>
__global__ void penalty_rows(const T* __restrict__ Z, const T* __restrict__ x_norms2, const T* __restrict__ a,
                             double lambda_gamma, Activation act, std::int64_t k, T* __restrict__ Q,
                             double* __restrict__ row_penalty) {
  using Reduce = cub::BlockReduce<double, kRowThreads>;
  __shared__ typename Reduce::TempStorage scratch;
  const std::int64_t i = blockIdx.x;
  const T x2 = x_norms2[i];
  double partial = 0;
  for (std::int64_t j = threadIdx.x; j < k; j += kRowThreads) {
    const T z = Z[i * k + j], a2 = a[j] * a[j];
    const T s1 = activate_derivative(act, z);
    Q[i * k + j] = static_cast<T>(lambda_gamma) * a2 * x2 * s1 * activate_second_derivative(act, z);
    partial += static_cast<double>(a2) * static_cast<double>(s1) * static_cast<double>(s1);
  }
  const double sum = Reduce(scratch).Sum(partial);
  if (threadIdx.x == 0) row_penalty[i] = static_cast<double>(x2) * sum;
}

template <typename T>
__global__ void activation_derivative(T* __restrict__ Z, Activation act, std::int64_t count) {
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x)
    Z[e] = activate_derivative(act, Z[e]);
}

template <typename T>
__global__ void axpy(T alpha, const T* x, T* y, std::int64_t count) {  // x may be y
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x)
    y[e] += alpha * x[e];
}

template <typename T>
__global__ void step_rows(T* __restrict__ W, const T* __restrict__ G, T lr, bool normalize, std::int64_t d) {
  using Reduce = cub::BlockReduce<double, kRowThreads>;
  __shared__ typename Reduce::TempStorage scratch;
  __shared__ T scale;
  T* row = W + blockIdx.x * d;
  const T* grad = G + blockIdx.x * d;
  double partial = 0;
  for (std::int64_t c = threadIdx.x; c < d; c += kRowThreads) {
    const T w = row[c] - lr * grad[c];
    row[c] = w;
    partial += static_cast<double>(w) * static_cast<double>(w);
  }
  if (!normalize) return;
  const double sq = Reduce(scratch).Sum(partial);
  if (threadIdx.x == 0) scale = T(1) / (static_cast<T>(sqrt(sq)) + T(1e-8));
  __syncthreads();
  for (std::int64_t c = threadIdx.x; c < d; c += kRowThreads) row[c] *= scale;
}

// One optimiser step on a row of W with its state (update_weight), then, if normalize, the row to
// unit norm: one pass over W, G and the state, as step_rows (llm.c's adamw_kernel, a block a row).
template <typename T>
__global__ void optimizer_rows(T* __restrict__ W, const T* __restrict__ G, T* __restrict__ first,
                               T* __restrict__ second, const UpdateRule rule, bool normalize, std::int64_t d) {
  using Reduce = cub::BlockReduce<double, kRowThreads>;
  __shared__ typename Reduce::TempStorage scratch;
  __shared__ T scale;
  const std::int64_t offset = blockIdx.x * d;
  T* row = W + offset;
  double partial = 0;
  T unused = 0;  // momentum keeps no second moment
  for (std::int64_t c = threadIdx.x; c < d; c += kRowThreads) {
    const std::int64_t e = offset + c;
    const T w = update_weight(rule, row[c], G[e], first[e], second ? second[e] : unused);
    row[c] = w;
    partial += static_cast<double>(w) * static_cast<double>(w);
  }
  if (!normalize) return;
  const double sq = Reduce(scratch).Sum(partial);
  if (threadIdx.x == 0) scale = T(1) / (static_cast<T>(sqrt(sq)) + T(1e-8));
  __syncthreads();
  for (std::int64_t c = threadIdx.x; c < d; c += kRowThreads) row[c] *= scale;
}

template <typename T>
__global__ void batched_dots(const DotBatch<T> batch, double* __restrict__ out) {
  using Reduce = cub::BlockReduce<double, kRowThreads>;
  __shared__ typename Reduce::TempStorage scratch;
  const T* x = batch.x[blockIdx.x];
  const T* y = batch.y[blockIdx.x];
  double partial = 0;
  for (std::int64_t i = threadIdx.x; i < batch.count[blockIdx.x]; i += kRowThreads)
    partial += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  const double sum = Reduce(scratch).Sum(partial);
  if (threadIdx.x == 0) out[blockIdx.x] = sum;
}

template <typename From, typename To>
__global__ void convert(const From* __restrict__ in, To* __restrict__ out, std::int64_t count) {
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x)
    out[e] = static_cast<To>(in[e]);
}

__global__ void divide(const double* __restrict__ in, const double* __restrict__ divisor, double* __restrict__ out,
                       std::int64_t count) {
  const double by = *divisor;
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x)
    out[e] = by > 0 ? in[e] / by : in[e];  // a zero norm leaves the zero vector, as the CPU's spectrum does
}

__global__ void diagonal_range(const double* __restrict__ A, std::int64_t lda, std::int64_t count,
                               double* __restrict__ out) {
  using Reduce = cub::BlockReduce<double, kRowThreads>;
  __shared__ typename Reduce::TempStorage scratch;
  double low = INFINITY, high = 0;
  for (std::int64_t i = threadIdx.x; i < count; i += kRowThreads) {
    const double v = fabs(A[i * lda + i]);
    low = fmin(low, v);
    high = fmax(high, v);
  }
  low = Reduce(scratch).Reduce(low, ::cuda::minimum<>{});
  __syncthreads();
  high = Reduce(scratch).Reduce(high, ::cuda::maximum<>{});
  if (threadIdx.x == 0) {
    out[0] = low;
    out[1] = high;
  }
}

__global__ void complement_seed(const double* __restrict__ LU, std::int64_t k, std::int64_t d,
                                double* __restrict__ basis) {
  const std::int64_t p = k - d, count = k * p;
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t j = e / k, i = e - j * k;  // row i of column j
    basis[e] = i < d ? -LU[i * k + d + j] : (i == d + j ? 1.0 : 0.0);
  }
}

__global__ void gather_rows(const double* __restrict__ in, const int* __restrict__ source, std::int64_t rows,
                            std::int64_t cols, double* __restrict__ out) {
  const std::int64_t count = rows * cols;
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < count;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t j = e / rows, i = e - j * rows;
    out[e] = in[j * rows + source[i]];
  }
}

// λ_i of the symmetric tridiagonal T, for i = this warp's index: every lane counts at its own
// point of the interval each round (tridiagonal::eigenvalue with 32 points, a 33-section).
__global__ void tridiagonal_eigenvalues(const double* __restrict__ diag, const double* __restrict__ off,
                                        std::int64_t p, double* __restrict__ values) {
  const std::int64_t i = (blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x) / kWarp;
  if (i >= p) return;  // whole warps: blockDim is a multiple of the warp
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  constexpr unsigned kAllLanes = 0xffffffffu;
  tridiagonal::Bounds bounds = tridiagonal::gershgorin_bounds(diag, off, p, lane, kWarp);
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    bounds = tridiagonal::merge(bounds, {__shfl_xor_sync(kAllLanes, bounds.low, offset),
                                         __shfl_xor_sync(kAllLanes, bounds.high, offset),
                                         __shfl_xor_sync(kAllLanes, bounds.max_off2, offset),
                                         __shfl_xor_sync(kAllLanes, static_cast<int>(bounds.finite), offset) != 0});
  const auto first_above = [lane](auto above) {
    const unsigned votes = __ballot_sync(kAllLanes, above(lane));
    return votes ? __ffs(static_cast<int>(votes)) - 1 : kWarp;
  };
  const double value = tridiagonal::eigenvalue<kWarp>(diag, off, p, i, bounds, first_above);
  if (lane == 0) values[i] = value;
}

// double(x_i)·double(y_i) for the index i.
template <typename T>
struct ProductInFloat64 {
  const T* x;
  const T* y;
  __host__ __device__ double operator()(std::int64_t i) const {
    return static_cast<double>(x[i]) * static_cast<double>(y[i]);
  }
};

}  // namespace

template <typename T>
void launch_readout(const T* Z, const T* a, const T* y, double gamma, Activation act, Loss loss, std::int64_t n,
                    std::int64_t k, T* r, double* row_loss, double* row_correct, cudaStream_t stream) {
  readout_rows<T><<<static_cast<unsigned>(n), kRowThreads, 0, stream>>>(Z, a, y, gamma, act, loss, k, r, row_loss,
                                                                        row_correct);
  LOWRANK_CHECK(cudaGetLastError());
}

template <typename T>
void launch_residual_mask(T* Z, const T* r, const T* a, Activation act, std::int64_t n, std::int64_t k,
                          cudaStream_t stream) {
  residual_mask<T><<<blocks_for(n * k), kThreads, 0, stream>>>(Z, r, a, act, n, k);
  LOWRANK_CHECK(cudaGetLastError());
}

template <typename T>
void launch_penalty_rows(const T* Z, const T* x_norms2, const T* a, double lambda_gamma, Activation act,
                         std::int64_t n, std::int64_t k, T* Q, double* row_penalty, cudaStream_t stream) {
  penalty_rows<T><<<static_cast<unsigned>(n), kRowThreads, 0, stream>>>(Z, x_norms2, a, lambda_gamma, act, k, Q,
                                                                        row_penalty);
  LOWRANK_CHECK(cudaGetLastError());
}

template <typename T>
void launch_activation_derivative(T* Z, Activation act, std::int64_t count, cudaStream_t stream) {
  activation_derivative<T><<<blocks_for(count), kThreads, 0, stream>>>(Z, act, count);
  LOWRANK_CHECK(cudaGetLastError());
}

template <typename T>
void launch_step_rows(T* W, const T* G, double lr, bool normalize, std::int64_t k, std::int64_t d,
                      cudaStream_t stream) {
  step_rows<T><<<static_cast<unsigned>(k), kRowThreads, 0, stream>>>(W, G, static_cast<T>(lr), normalize, d);
  LOWRANK_CHECK(cudaGetLastError());
}

template <typename T>
void launch_optimizer_rows(T* W, const T* G, T* first, T* second, const UpdateRule& rule, bool normalize,
                           std::int64_t k, std::int64_t d, cudaStream_t stream) {
  optimizer_rows<T><<<static_cast<unsigned>(k), kRowThreads, 0, stream>>>(W, G, first, second, rule, normalize, d);
  LOWRANK_CHECK(cudaGetLastError());
}

template <typename T>
void launch_to_double(const T* in, double* out, std::int64_t count, cudaStream_t stream) {
  convert<T, double><<<blocks_for(count), kThreads, 0, stream>>>(in, out, count);
  LOWRANK_CHECK(cudaGetLastError());
}

template <typename T>
void launch_from_double(const double* in, T* out, std::int64_t count, cudaStream_t stream) {
  convert<double, T><<<blocks_for(count), kThreads, 0, stream>>>(in, out, count);
  LOWRANK_CHECK(cudaGetLastError());
}

template <typename T>
void launch_dot_float64(const T* x, const T* y, std::int64_t count, double* out, void* work, std::size_t& work_bytes,
                        cudaStream_t stream) {
  LOWRANK_CHECK(cub::DeviceReduce::TransformReduce(work, work_bytes, thrust::counting_iterator<std::int64_t>(0), out,
                                                   count, ::cuda::std::plus<>{}, ProductInFloat64<T>{x, y}, 0.0,
                                                   stream));
}

template <typename T>
void launch_batched_dots(const DotBatch<T>& batch, double* out, cudaStream_t stream) {
  if (batch.size == 0) return;
  batched_dots<T><<<static_cast<unsigned>(batch.size), kRowThreads, 0, stream>>>(batch, out);
  LOWRANK_CHECK(cudaGetLastError());
}

void launch_sum(const double* in, std::int64_t count, double* out, void* work, std::size_t& work_bytes,
                cudaStream_t stream) {
  LOWRANK_CHECK(cub::DeviceReduce::Sum(work, work_bytes, in, out, count, stream));
}

void launch_divide(const double* in, const double* divisor, double* out, std::int64_t count, cudaStream_t stream) {
  divide<<<blocks_for(count), kThreads, 0, stream>>>(in, divisor, out, count);
  LOWRANK_CHECK(cudaGetLastError());
}

void launch_diagonal_range(const double* A, std::int64_t lda, std::int64_t count, double* out, cudaStream_t stream) {
  diagonal_range<<<1, kRowThreads, 0, stream>>>(A, lda, count, out);
  LOWRANK_CHECK(cudaGetLastError());
}

void launch_complement_seed(const double* LU, std::int64_t k, std::int64_t d, double* basis, cudaStream_t stream) {
  complement_seed<<<blocks_for(k * (k - d)), kThreads, 0, stream>>>(LU, k, d, basis);
  LOWRANK_CHECK(cudaGetLastError());
}

void launch_gather_rows(const double* in, const int* source, std::int64_t rows, std::int64_t cols, double* out,
                        cudaStream_t stream) {
  gather_rows<<<blocks_for(rows * cols), kThreads, 0, stream>>>(in, source, rows, cols, out);
  LOWRANK_CHECK(cudaGetLastError());
}

void launch_tridiagonal_eigenvalues(const double* diag, const double* off, std::int64_t p, double* values,
                                    cudaStream_t stream) {
  constexpr int threads = kWarp * kEigenWarpsPerBlock;
  const auto blocks = static_cast<unsigned>((p + kEigenWarpsPerBlock - 1) / kEigenWarpsPerBlock);
  tridiagonal_eigenvalues<<<blocks, threads, 0, stream>>>(diag, off, p, values);
  LOWRANK_CHECK(cudaGetLastError());
}

template <typename T>
void launch_axpy(double alpha, const T* x, T* y, std::int64_t count, cudaStream_t stream) {
  axpy<T><<<blocks_for(count), kThreads, 0, stream>>>(static_cast<T>(alpha), x, y, count);
  LOWRANK_CHECK(cudaGetLastError());
}

#define LOWRANK_INSTANTIATE(T)                                                                                   \
  template void launch_readout<T>(const T*, const T*, const T*, double, Activation, Loss, std::int64_t,          \
                                  std::int64_t, T*, double*, double*, cudaStream_t);                             \
  template void launch_residual_mask<T>(T*, const T*, const T*, Activation, std::int64_t, std::int64_t,          \
                                        cudaStream_t);                                                           \
  template void launch_penalty_rows<T>(const T*, const T*, const T*, double, Activation, std::int64_t,          \
                                       std::int64_t, T*, double*, cudaStream_t);                                 \
  template void launch_activation_derivative<T>(T*, Activation, std::int64_t, cudaStream_t);                     \
  template void launch_step_rows<T>(T*, const T*, double, bool, std::int64_t, std::int64_t, cudaStream_t);      \
  template void launch_axpy<T>(double, const T*, T*, std::int64_t, cudaStream_t);                               \
  template void launch_optimizer_rows<T>(T*, const T*, T*, T*, const UpdateRule&, bool, std::int64_t,           \
                                         std::int64_t, cudaStream_t);                                            \
  template void launch_to_double<T>(const T*, double*, std::int64_t, cudaStream_t);                              \
  template void launch_from_double<T>(const double*, T*, std::int64_t, cudaStream_t);                            \
  template void launch_batched_dots<T>(const DotBatch<T>&, double*, cudaStream_t);                            \
  template void launch_dot_float64<T>(const T*, const T*, std::int64_t, double*, void*, std::size_t&,         \
                                      cudaStream_t);
LOWRANK_INSTANTIATE(float)
LOWRANK_INSTANTIATE(double)
#undef LOWRANK_INSTANTIATE

}  // namespace lowrank::cuda
