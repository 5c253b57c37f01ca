#include "cuda_backend.hpp"

#include <thrust/execution_policy.h>
#include <thrust/fill.h>

#include <algorithm>
#include <atomic>
#include <initializer_list>
#include <cmath>
#include <numbers>
#include <vector>

#include "cuda_check.hpp"
#include "device_choice.hpp"
#include "kernels.cuh"
#include "spectral.hpp"

namespace lowrank {
namespace {

using Index = std::int64_t;
using namespace cuda;

int i32(Index v) { return static_cast<int>(v); }
std::size_t sz(Index v) { return static_cast<std::size_t>(v); }

// Device memory the engine's buffers hold now and at most, in bytes (every buffer and work array
// comes from device_array; the CUDA context and the libraries' own workspaces are not counted).
std::atomic<std::size_t> held_bytes{0}, peak_bytes{0};

// Device memory for `count` elements; a failure names the size and what is free.
template <typename U>
std::shared_ptr<U[]> device_array(Index count) {
  const std::size_t bytes = sizeof(U) * static_cast<std::size_t>(std::max<Index>(count, 1));
  U* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    (void)cudaGetLastError();
    std::size_t free_bytes = 0, total = 0;
    (void)cudaMemGetInfo(&free_bytes, &total);
    throw std::runtime_error("CUDA: cannot allocate " + std::to_string(bytes >> 20) + " MiB on the GPU (" +
                             std::to_string(free_bytes >> 20) + " MiB free of " + std::to_string(total >> 20) +
                             " MiB); use --device cpu or smaller sizes");
  }
  const std::size_t now = held_bytes += bytes;
  for (std::size_t peak = peak_bytes; now > peak && !peak_bytes.compare_exchange_weak(peak, now);) {
  }
  return std::shared_ptr<U[]>(p, [bytes](U* q) {
    cudaFree(q);
    held_bytes -= bytes;
  });
}

// Lanczos steps between convergence tests on the host: each test is a synchronisation.
constexpr std::int64_t kLanczosCheckEvery = 4;

// Work arrays kept between calls and grown on demand, one per purpose (kScalars: a few device
// scalars, Lanczos' α and β or a factor's pivot range).
enum Slot : int { kMd, kB, kGram, kScalars, kTridiagonal, kTop, kWork, kInfo, kVecA, kVecB, kVecC, kRowLoss, kRowCorrect,
                  kLanczos, kBasisA, kBasisB, kAngleGram, kPivots, kSource, kReduceWork, kReduceResult,
                  kDots, kSlots };

class Scratch {
 public:
  // The stream whose queued work may still use a slot that grows.
  void use_stream(cudaStream_t stream) { stream_ = stream; }

  template <typename U>
  U* get(Slot slot, Index count) {
    auto& s = slots_[slot];
    const std::size_t bytes = sizeof(U) * static_cast<std::size_t>(std::max<Index>(count, 1));
    if (s.bytes < bytes) {
      // The old array may still be in use by queued work (cudaFree's own synchronisation is not
      // promised): wait for it before freeing. Growth is rare, so the wait costs nothing.
      if (s.data) LOWRANK_CHECK(cudaStreamSynchronize(stream_));
      s.data = device_array<unsigned char>(static_cast<Index>(bytes));
      s.bytes = bytes;
    }
    return reinterpret_cast<U*>(s.data.get());
  }

 private:
  struct Entry {
    std::shared_ptr<unsigned char[]> data;
    std::size_t bytes = 0;
  };
  Entry slots_[kSlots];
  cudaStream_t stream_ = nullptr;
};

// cuBLAS GEMM and GEMV for the working precision (column-major, as cuBLAS is).
void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, Index m, Index n, Index k, float alpha,
          const float* A, Index lda, const float* B, Index ldb, float beta, float* C, Index ldc) {
  LOWRANK_CHECK(cublasSgemm(h, ta, tb, i32(m), i32(n), i32(k), &alpha, A, i32(lda), B, i32(ldb), &beta, C, i32(ldc)));
}
void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, Index m, Index n, Index k, double alpha,
          const double* A, Index lda, const double* B, Index ldb, double beta, double* C, Index ldc) {
  LOWRANK_CHECK(cublasDgemm(h, ta, tb, i32(m), i32(n), i32(k), &alpha, A, i32(lda), B, i32(ldb), &beta, C, i32(ldc)));
}
void gemv(cublasHandle_t h, cublasOperation_t t, Index m, Index n, float alpha, const float* A, Index lda,
          const float* x, float beta, float* y) {
  LOWRANK_CHECK(cublasSgemv(h, t, i32(m), i32(n), &alpha, A, i32(lda), x, 1, &beta, y, 1));
}
void gemv(cublasHandle_t h, cublasOperation_t t, Index m, Index n, double alpha, const double* A, Index lda,
          const double* x, double beta, double* y) {
  LOWRANK_CHECK(cublasDgemv(h, t, i32(m), i32(n), &alpha, A, i32(lda), x, 1, &beta, y, 1));
}

// A += α x yᵀ for the column-major m×n A (cuBLAS ger).
void ger(cublasHandle_t h, Index m, Index n, float alpha, const float* x, const float* y, float* A, Index lda) {
  LOWRANK_CHECK(cublasSger(h, i32(m), i32(n), &alpha, x, 1, y, 1, A, i32(lda)));
}
void ger(cublasHandle_t h, Index m, Index n, double alpha, const double* x, const double* y, double* A, Index lda) {
  LOWRANK_CHECK(cublasDger(h, i32(m), i32(n), &alpha, x, 1, y, 1, A, i32(lda)));
}
// C (column-major m×n) = transpose of A (column-major n×m), by cuBLAS geam with β = 0 (C doubles as B).
void geam_transpose(cublasHandle_t h, Index m, Index n, const float* A, float* C) {
  const float one = 1, zero = 0;
  LOWRANK_CHECK(cublasSgeam(h, CUBLAS_OP_T, CUBLAS_OP_N, i32(m), i32(n), &one, A, i32(n), &zero, C, i32(m), C, i32(m)));
}
void geam_transpose(cublasHandle_t h, Index m, Index n, const double* A, double* C) {
  const double one = 1, zero = 0;
  LOWRANK_CHECK(cublasDgeam(h, CUBLAS_OP_T, CUBLAS_OP_N, i32(m), i32(n), &one, A, i32(n), &zero, C, i32(m), C, i32(m)));
}

// Householder QR of the column-major m×n A in place, then the m×n Q (cuSOLVER geqrf, orgqr).
void geqrf_buffer_size(cusolverDnHandle_t h, Index m, Index n, float* A, int* lwork) {
  LOWRANK_CHECK(cusolverDnSgeqrf_bufferSize(h, i32(m), i32(n), A, i32(m), lwork));
}
void geqrf_buffer_size(cusolverDnHandle_t h, Index m, Index n, double* A, int* lwork) {
  LOWRANK_CHECK(cusolverDnDgeqrf_bufferSize(h, i32(m), i32(n), A, i32(m), lwork));
}
void geqrf(cusolverDnHandle_t h, Index m, Index n, float* A, float* tau, float* work, int lwork, int* info) {
  LOWRANK_CHECK(cusolverDnSgeqrf(h, i32(m), i32(n), A, i32(m), tau, work, lwork, info));
}
void geqrf(cusolverDnHandle_t h, Index m, Index n, double* A, double* tau, double* work, int lwork, int* info) {
  LOWRANK_CHECK(cusolverDnDgeqrf(h, i32(m), i32(n), A, i32(m), tau, work, lwork, info));
}
void orgqr_buffer_size(cusolverDnHandle_t h, Index m, Index n, const float* A, const float* tau, int* lwork) {
  LOWRANK_CHECK(cusolverDnSorgqr_bufferSize(h, i32(m), i32(n), i32(n), A, i32(m), tau, lwork));
}
void orgqr_buffer_size(cusolverDnHandle_t h, Index m, Index n, const double* A, const double* tau, int* lwork) {
  LOWRANK_CHECK(cusolverDnDorgqr_bufferSize(h, i32(m), i32(n), i32(n), A, i32(m), tau, lwork));
}
void orgqr(cusolverDnHandle_t h, Index m, Index n, float* A, const float* tau, float* work, int lwork, int* info) {
  LOWRANK_CHECK(cusolverDnSorgqr(h, i32(m), i32(n), i32(n), A, i32(m), tau, work, lwork, info));
}
void orgqr(cusolverDnHandle_t h, Index m, Index n, double* A, const double* tau, double* work, int lwork, int* info) {
  LOWRANK_CHECK(cusolverDnDorgqr(h, i32(m), i32(n), i32(n), A, i32(m), tau, work, lwork, info));
}

struct CudaPrepared final : PreparedData {
  Index n = 0, d = 0;
  bool compressed = false;
  std::shared_ptr<double[]> R, Q, X;  // as spectral::RowFactor, on the device
};

template <typename T>
class CudaBackend final : public Backend<T> {
 public:
  explicit CudaBackend(int device) {
    const int count = cuda_device_count();
    if (count == 0) throw std::runtime_error("--device cuda: no CUDA device is present");
    if (device < 0 || device >= count)
      throw std::runtime_error("CUDA device " + std::to_string(device) + " asked for; " + std::to_string(count) +
                               " present");
    LOWRANK_CHECK(cudaSetDevice(device));  // for this thread, which the backend is used from
    cudaDeviceProp prop{};
    LOWRANK_CHECK(cudaGetDeviceProperties(&prop, device));
    name_ = std::string("cuda:") + prop.name;
    LOWRANK_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    scratch_.use_stream(stream_);
    LOWRANK_CHECK(cublasCreate(&blas_));
    LOWRANK_CHECK(cublasSetStream(blas_, stream_));
    // Full FP32 products: the default math mode, which leaves TF32 tensor-core rounding off.
    LOWRANK_CHECK(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));
    LOWRANK_CHECK(cusolverDnCreate(&solver_));
    LOWRANK_CHECK(cusolverDnSetStream(solver_, stream_));
  }
  ~CudaBackend() override {
    cusolverDnDestroy(solver_);
    cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
  }

  std::string device() const override { return name_; }
  double peak_device_bytes() const override { return static_cast<double>(peak_bytes.load()); }

  Buffer<T> upload(std::span<const T> host, Index rows, Index cols) override {
    Buffer<T> b{rows, cols, device_array<T>(rows * cols)};
    LOWRANK_CHECK(cudaMemcpyAsync(b.data.get(), host.data(), host.size_bytes(), cudaMemcpyHostToDevice, stream_));
    sync();
    return b;
  }
  Buffer<T> zeros(Index rows, Index cols) override {
    Buffer<T> b{rows, cols, device_array<T>(rows * cols)};
    LOWRANK_CHECK(cudaMemsetAsync(b.data.get(), 0, sizeof(T) * sz(std::max<Index>(rows * cols, 1)), stream_));
    return b;
  }
  void download(const Buffer<T>& b, std::span<T> host) override {
    LOWRANK_CHECK(cudaMemcpyAsync(host.data(), b.data.get(), sizeof(T) * sz(b.size()), cudaMemcpyDeviceToHost, stream_));
    sync();
  }
  void upload_to(std::span<const T> host, Buffer<T>& b) override {
    require(static_cast<Index>(host.size()) == b.size(), "upload_to");
    LOWRANK_CHECK(cudaMemcpyAsync(b.data.get(), host.data(), host.size_bytes(), cudaMemcpyHostToDevice, stream_));
    sync();  // `host` may go once this returns
  }
  void copy(const Buffer<T>& from, Buffer<T>& to) override {
    require(from.size() == to.size(), "copy");
    LOWRANK_CHECK(cudaMemcpyAsync(to.data.get(), from.data.get(), sizeof(T) * sz(from.size()),
                                  cudaMemcpyDeviceToDevice, stream_));
  }

  Evaluation forward(const Buffer<T>& X, const Buffer<T>& W, const Buffer<T>& a, const Buffer<T>& y, double gamma,
                     Activation act, Loss loss, Buffer<T>& Z, Buffer<T>& r) override {
    project(X, W, Z);
    return row_readout(Z, a, y, gamma, act, loss, r.data.get());
  }
  Evaluation readout(const Buffer<T>& Z, const Buffer<T>& a, const Buffer<T>& y, double gamma, Activation act,
                     Loss loss, Buffer<T>& r) override {
    require(r.size() == Z.rows, "readout");
    return row_readout(Z, a, y, gamma, act, loss, r.data.get());
  }
  Evaluation evaluate(const Buffer<T>& X, const Buffer<T>& W, const Buffer<T>& a, const Buffer<T>& y, double gamma,
                      Activation act, Loss loss, Buffer<T>& Z) override {
    project(X, W, Z);
    return row_readout(Z, a, y, gamma, act, loss, nullptr);
  }

  void gradient(const Buffer<T>& X, const Buffer<T>& r, const Buffer<T>& a, double gamma, Activation act,
                Buffer<T>& Z, Buffer<T>& G, const Buffer<T>* extra) override {
    const Index n = Z.rows, k = Z.cols, d = X.cols;
    require(X.rows == n && G.rows == k && G.cols == d && r.size() == n && a.size() == k, "gradient");
    require(!extra || extra->size() == Z.size(), "gradient");
    launch_residual_mask(Z.data.get(), r.data.get(), a.data.get(), act, n, k, stream_);
    if (extra) launch_axpy(1.0, extra->data.get(), Z.data.get(), Z.size(), stream_);  // M += extra
    // Row-major G (k×d) = (γ/n) Mᵀ X is column-major Gᵀ = Xᵀ M: Xᵀ is X's storage, M is Mᵀ's transposed.
    lowrank::gemm(blas_, CUBLAS_OP_N, CUBLAS_OP_T, d, k, n, static_cast<T>(gamma / static_cast<double>(n)), X.data.get(), d,
         Z.data.get(), k, T(0), G.data.get(), d);
  }

  double gradient_penalty(const Buffer<T>& Z, const Buffer<T>& x_norms2, const Buffer<T>& a, double gamma,
                          double lambda, Activation act, Buffer<T>& Q) override {
    const Index n = Z.rows, k = Z.cols;
    require(x_norms2.size() == n && a.size() == k && Q.rows == n && Q.cols == k, "gradient_penalty");
    double* rows = scratch_.get<double>(kRowLoss, n);
    launch_penalty_rows(Z.data.get(), x_norms2.data.get(), a.data.get(), lambda * gamma, act, n, k, Q.data.get(), rows,
                        stream_);
    const double sum = reduce_to_host(
        [&](void* work, std::size_t& bytes, double* out) { launch_sum(rows, n, out, work, bytes, stream_); });
    return lambda * gamma * gamma / (2.0 * static_cast<double>(n)) * sum;
  }

  void activation_derivative(Buffer<T>& Z, Activation act) override {
    launch_activation_derivative(Z.data.get(), act, Z.size(), stream_);
  }

  void optimizer_step(Buffer<T>& W, const Buffer<T>& G, Buffer<T>& first, Buffer<T>* second, const UpdateRule& rule,
                      bool normalize) override {
    require(W.size() == G.size() && W.size() == first.size() && (!second || second->size() == W.size()),
            "optimizer_step");
    launch_optimizer_rows(W.data.get(), G.data.get(), first.data.get(), second ? second->data.get() : nullptr, rule,
                          normalize, W.rows, W.cols, stream_);
  }

  void step(Buffer<T>& W, const Buffer<T>& G, double lr, bool normalize) override {
    require(W.rows == G.rows && W.cols == G.cols, "step");
    launch_step_rows(W.data.get(), G.data.get(), lr, normalize, W.rows, W.cols, stream_);
  }

  void axpy(double alpha, const Buffer<T>& x, Buffer<T>& y) override {
    require(x.size() == y.size(), "axpy");
    launch_axpy(alpha, x.data.get(), y.data.get(), y.size(), stream_);
  }

  void gemv_t(const Buffer<T>& A, const Buffer<T>& x, Buffer<T>& y) override {
    require(x.size() == A.rows && y.size() == A.cols, "gemv_t");
    gemv(blas_, CUBLAS_OP_N, A.cols, A.rows, T(1), A.data.get(), A.cols, x.data.get(), T(0), y.data.get());
  }

  void gemm(const Buffer<T>& A, const Buffer<T>& B, Buffer<T>& C) override {
    require(A.cols == B.rows && C.rows == A.rows && C.cols == B.cols, "gemm");
    // Row-major C = A B is column-major Cᵀ = Bᵀ Aᵀ.
    lowrank::gemm(blas_, CUBLAS_OP_N, CUBLAS_OP_N, B.cols, A.rows, A.cols, T(1), B.data.get(), B.cols, A.data.get(),
                  A.cols, T(0), C.data.get(), C.cols);
  }

  void gemm_nt(const Buffer<T>& A, const Buffer<T>& B, Buffer<T>& C) override {
    require(A.cols == B.cols && C.rows == A.rows && C.cols == B.rows, "gemm_nt");
    // Row-major C = A Bᵀ is column-major Cᵀ = B Aᵀ; B's storage is column-major Bᵀ.
    lowrank::gemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, B.rows, A.rows, A.cols, T(1), B.data.get(), B.cols, A.data.get(),
                  A.cols, T(0), C.data.get(), C.cols);
  }

  void gemm_tn(double alpha, const Buffer<T>& A, const Buffer<T>& B, Buffer<T>& C) override {
    require(A.rows == B.rows && C.rows == A.cols && C.cols == B.cols, "gemm_tn");
    // Row-major C = α Aᵀ B is column-major Cᵀ = α Bᵀ A; A's storage is column-major Aᵀ.
    lowrank::gemm(blas_, CUBLAS_OP_N, CUBLAS_OP_T, B.cols, A.cols, A.rows, static_cast<T>(alpha), B.data.get(), B.cols,
                  A.data.get(), A.cols, T(0), C.data.get(), C.cols);
  }

  void add_outer(Buffer<T>& A, double alpha, const Buffer<T>& x, const Buffer<T>& y) override {
    require(A.rows == x.size() && A.cols == y.size(), "add_outer");
    // Row-major A += α x yᵀ is column-major Aᵀ += α y xᵀ.
    ger(blas_, A.cols, A.rows, static_cast<T>(alpha), y.data.get(), x.data.get(), A.data.get(), A.cols);
  }

  void transpose(const Buffer<T>& A, Buffer<T>& At) override {
    require(At.rows == A.cols && At.cols == A.rows, "transpose");
    // Row-major At (c×r) is column-major A (r×c): the transpose of A's storage, column-major Aᵀ (c×r).
    geam_transpose(blas_, A.rows, A.cols, A.data.get(), At.data.get());
  }

  void orthonormalize_rows(Buffer<T>& V) override {
    const Index l = V.rows, d = V.cols;
    require(l <= d, "orthonormalize_rows");
    // Row-major V (l×d) is column-major Vᵀ (d×l): its QR gives orthonormal columns, V's rows.
    T* tau = scratch_.get<T>(kVecA, l);
    int* info = scratch_.get<int>(kInfo, 2);  // geqrf's, orgqr's: read together, one synchronisation
    int lwork = 0;
    geqrf_buffer_size(solver_, d, l, V.data.get(), &lwork);
    geqrf(solver_, d, l, V.data.get(), tau, scratch_.get<T>(kWork, lwork), lwork, info);
    orgqr_buffer_size(solver_, d, l, V.data.get(), tau, &lwork);
    orgqr(solver_, d, l, V.data.get(), tau, scratch_.get<T>(kWork, lwork), lwork, info + 1);
    check_info(info, {"cusolverDn?geqrf", "cusolverDn?orgqr"});
  }

  double dot(const Buffer<T>& x, const Buffer<T>& y) override {
    require(x.size() == y.size(), "dot");
    return reduce_to_host([&](void* work, std::size_t& bytes, double* out) {
      launch_dot_float64(x.data.get(), y.data.get(), x.size(), out, work, bytes, stream_);
    });
  }
  double norm(const Buffer<T>& x) override { return std::sqrt(dot(x, x)); }
  // Up to kMaxBatchedDots pairs a launch, all results back in one copy.
  std::vector<double> dots(std::span<const DotPair<T>> pairs) override {
    const auto count = static_cast<Index>(pairs.size());
    double* out = scratch_.get<double>(kDots, count);
    for (Index first = 0; first < count; first += kMaxBatchedDots) {
      DotBatch<T> batch;
      for (Index b = first; b < std::min<Index>(count, first + kMaxBatchedDots); ++b, ++batch.size) {
        const DotPair<T>& p = pairs[sz(b)];
        require(p.x->size() == p.y->size(), "dots");
        batch.x[batch.size] = p.x->data.get();
        batch.y[batch.size] = p.y->data.get();
        batch.count[batch.size] = p.x->size();
      }
      launch_batched_dots(batch, out + first, stream_);
    }
    std::vector<double> result(sz(count));
    LOWRANK_CHECK(cudaMemcpyAsync(result.data(), out, sizeof(double) * sz(count), cudaMemcpyDeviceToHost, stream_));
    sync();
    return result;
  }

  std::shared_ptr<const PreparedData> prepare(const Buffer<T>& X) override {
    auto p = std::make_shared<CudaPrepared>();
    const Index n = X.rows, d = X.cols;
    p->n = n;
    p->d = d;
    p->compressed = n <= d;
    // Row-major X (n×d) is column-major Xᵀ (d×n).
    auto x = device_array<double>(n * d);
    launch_to_double(X.data.get(), x.get(), n * d, stream_);
    if (!p->compressed) {
      p->X = x;
      return p;
    }
    // QR of Xᵀ: X = Rᵀ Qᵀ (as the CPU backend's spectral::factor_rows).
    auto tau = device_array<double>(n);
    int lwork = 0;
    LOWRANK_CHECK(cusolverDnDgeqrf_bufferSize(solver_, i32(d), i32(n), x.get(), i32(d), &lwork));
    int* info = scratch_.get<int>(kInfo, 1);
    LOWRANK_CHECK(cusolverDnDgeqrf(solver_, i32(d), i32(n), x.get(), i32(d), tau.get(),
                                   scratch_.get<double>(kWork, lwork), lwork, info));
    check_info(info, "cusolverDnDgeqrf");
    p->R = device_array<double>(n * n);
    LOWRANK_CHECK(cudaMemcpy2DAsync(p->R.get(), sizeof(double) * sz(n), x.get(), sizeof(double) * sz(d),
                                    sizeof(double) * sz(n), sz(n), cudaMemcpyDeviceToDevice, stream_));
    LOWRANK_CHECK(cusolverDnDorgqr_bufferSize(solver_, i32(d), i32(n), i32(n), x.get(), i32(d), tau.get(), &lwork));
    LOWRANK_CHECK(cusolverDnDorgqr(solver_, i32(d), i32(n), i32(n), x.get(), i32(d), tau.get(),
                                   scratch_.get<double>(kWork, lwork), lwork, info));
    check_info(info, "cusolverDnDorgqr");
    p->Q = x;
    sync();
    return p;
  }

  // The float64 Gram matrix of the smaller side of B (see spectral::gradient_spectrum), reduced to a
  // tridiagonal T by cusolverDnDsytrd; every eigenvalue of T on the device (Sturm multisection,
  // no eigenvectors formed), the top two vectors of T on the host (dstebz, dstein: O(p) each, as
  // the CPU backend) and mapped back by cusolverDnDormtr. A full syevd would also build all p
  // eigenvectors, which only the top two of are used. The Gram route keeps SPEC §4's accuracy
  // (eigenvalue errors of ε·σ₁² put σᵢ within ~1e-8·σ₁).
  Spectrum<T> spectrum(const Buffer<T>& M, const PreparedData& prepared, double scale,
                       const Buffer<T>* previous) override {
    const auto& X = dynamic_cast<const CudaPrepared&>(prepared);
    const Index n = X.n, d = X.d, k = M.cols;
    require(M.rows == n, "spectrum");
    const double one = 1.0, zero = 0.0;
    double* m = scratch_.get<double>(kMd, n * k);  // column-major Mᵀ (k×n)
    launch_to_double(M.data.get(), m, n * k, stream_);
    const Index r = X.compressed ? n : d;
    double* B = scratch_.get<double>(kB, k * r);
    if (X.compressed) {
      LOWRANK_CHECK(cublasDtrmm(blas_, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, CUBLAS_DIAG_NON_UNIT,
                                i32(k), i32(n), &scale, X.R.get(), i32(n), m, i32(k), B, i32(k)));
    } else {
      LOWRANK_CHECK(cublasDgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_T, i32(k), i32(d), i32(n), &scale, m, i32(k), X.X.get(),
                                i32(d), &zero, B, i32(k)));
    }
    const bool right_gram = r <= k;
    const Index p = right_gram ? r : k;
    double* G = scratch_.get<double>(kGram, p * p);
    LOWRANK_CHECK(cublasDsyrk(blas_, CUBLAS_FILL_MODE_LOWER, right_gram ? CUBLAS_OP_T : CUBLAS_OP_N, i32(p),
                              i32(right_gram ? k : r), &one, B, i32(k), &zero, G, i32(p)));

    double* tridiagonal = tridiagonal_eigenvalues(G, p);
    // The off-diagonal's last slot is never written: 3p − 1 values come back, the last stays 0.
    std::vector<double> host(sz(3 * p), 0.0);
    LOWRANK_CHECK(cudaMemcpyAsync(host.data(), tridiagonal, sizeof(double) * sz(3 * p - 1), cudaMemcpyDeviceToHost,
                                  stream_));
    int* info = scratch_.get<int>(kInfo, 1);
    check_info(info, "cusolverDnDsytrd");  // synchronises: `host` is filled
    const std::vector<double> ascending(host.begin(), host.begin() + p);
    if (!std::isfinite(ascending.back())) {  // a non-finite gradient: NaN, as on the CPU (see there)
      Spectrum<T> none;
      none.singular_values.assign(sz(std::min(k, d)), std::numeric_limits<double>::quiet_NaN());
      none.top_right_vector = zeros(d, 1);
      none.second_right_vector = zeros(d, 1);
      return none;
    }
    const std::vector<double> host_diag(host.begin() + p, host.begin() + 2 * p);
    const std::vector<double> host_off(host.begin() + 2 * p, host.end());

    // The top two eigenvectors of G (column-major p×count, largest first).
    const std::vector<double> top = spectral::tridiagonal_top_vectors(host_diag, host_off, p, 2);
    const Index count = static_cast<Index>(top.size()) / p;
    double* vectors = scratch_.get<double>(kTop, p * count);
    LOWRANK_CHECK(
        cudaMemcpyAsync(vectors, top.data(), sizeof(double) * top.size(), cudaMemcpyHostToDevice, stream_));
    if (p > 1) {
      double* tau = tridiagonal + 3 * p;
      int lwork = 0;
      LOWRANK_CHECK(cusolverDnDormtr_bufferSize(solver_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N,
                                                i32(p), i32(count), G, i32(p), tau, vectors, i32(p), &lwork));
      LOWRANK_CHECK(cusolverDnDormtr(solver_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, i32(p),
                                     i32(count), G, i32(p), tau, vectors, i32(p),
                                     scratch_.get<double>(kWork, lwork), lwork, info));
      check_info(info, "cusolverDnDormtr");
    }

    Spectrum<T> out;
    // Eigenvector of G → unit right singular vector of ∇ in `v` (d).
    double* right = scratch_.get<double>(kVecA, r);
    auto right_vector = [&](const double* eigenvector, double* v) {
      if (right_gram) {
        LOWRANK_CHECK(cudaMemcpyAsync(right, eigenvector, sizeof(double) * sz(r), cudaMemcpyDeviceToDevice, stream_));
      } else {  // B Bᵀ gave the left vector u; the right one is Bᵀu/‖Bᵀu‖ (the norm stays on the device)
        double* unnormalised = scratch_.get<double>(kVecC, r);
        double* norm = scratch_.get<double>(kScalars, 1);
        LOWRANK_CHECK(cublasDgemv(blas_, CUBLAS_OP_T, i32(k), i32(r), &one, B, i32(k), eigenvector, 1, &zero,
                                  unnormalised, 1));
        device_scalar([&] { LOWRANK_CHECK(cublasDnrm2(blas_, i32(r), unnormalised, 1, norm)); });
        launch_divide(unnormalised, norm, right, r, stream_);
      }
      if (X.compressed)
        LOWRANK_CHECK(cublasDgemv(blas_, CUBLAS_OP_N, i32(d), i32(n), &one, X.Q.get(), i32(d), right, 1, &zero, v, 1));
      else
        LOWRANK_CHECK(cudaMemcpyAsync(v, right, sizeof(double) * sz(d), cudaMemcpyDeviceToDevice, stream_));
    };
    double* v = scratch_.get<double>(kVecB, d);
    // The two vectors go to buffers kept between calls: no allocation in the epoch loop.
    if (spectrum_top_.size() != d) {
      spectrum_top_ = zeros(d, 1);
      spectrum_second_ = zeros(d, 1);
    }
    if (count >= 2) {  // the second vector first: `v` then keeps the top one
      right_vector(vectors + p, v);
      out.second_right_vector = spectrum_second_;
      launch_from_double(v, out.second_right_vector.data.get(), d, stream_);
    }
    right_vector(vectors, v);
    // Sign: agree with the previous vector, or make the largest-magnitude entry positive.
    double orient = 0;
    if (previous) {
      double* prev = scratch_.get<double>(kVecC, d);
      launch_to_double(previous->data.get(), prev, d, stream_);
      LOWRANK_CHECK(cublasDdot(blas_, i32(d), v, 1, prev, 1, &orient));
    } else {
      int index = 0;
      LOWRANK_CHECK(cublasIdamax(blas_, i32(d), v, 1, &index));
      LOWRANK_CHECK(cudaMemcpyAsync(&orient, v + index - 1, sizeof(double), cudaMemcpyDeviceToHost, stream_));
      sync();
    }
    if (orient < 0) {
      const double minus = -1.0;
      LOWRANK_CHECK(cublasDscal(blas_, i32(d), &minus, v, 1));
    }
    out.top_right_vector = spectrum_top_;
    launch_from_double(v, out.top_right_vector.data.get(), d, stream_);
    sync();
    out.singular_values.assign(sz(std::min(k, d)), 0.0);
    for (Index i = 0; i < p && i < std::min(k, d); ++i)
      out.singular_values[sz(i)] = std::sqrt(std::max(ascending[sz(p - 1 - i)], 0.0));
    return out;
  }

  // Lanczos on WᵀW in float64 with full reorthogonalisation, as the CPU backend's
  // spectral::largest_singular_value, stopping at the same step: α and β stay on the device
  // (cuBLAS writes them there, a kernel divides by β), and every kLanczosCheckEvery steps they come
  // back, in one synchronisation, and the Ritz pairs of each new step are tested in order. The steps run
  // past the stopping one are discarded; a β of zero there (an invariant subspace) leaves zero
  // columns in them (launch_divide keeps a zero vector).
  std::vector<double> singular_values(const Buffer<T>& A) override {
    const Index m = A.rows, n = A.cols, p = std::min(m, n);
    const double one = 1.0, zero = 0.0;
    double* a = scratch_.get<double>(kMd, m * n);  // row-major A = column-major Aᵀ (n×m)
    launch_to_double(A.data.get(), a, m * n, stream_);
    double* G = scratch_.get<double>(kGram, p * p);
    // Aᵀ A (n×n) when n ≤ m, else A Aᵀ (m×m).
    LOWRANK_CHECK(cublasDsyrk(blas_, CUBLAS_FILL_MODE_LOWER, n <= m ? CUBLAS_OP_N : CUBLAS_OP_T, i32(p),
                              i32(n <= m ? m : n), &one, a, i32(n), &zero, G, i32(p)));
    const double* eigenvalues = tridiagonal_eigenvalues(G, p);
    std::vector<double> out(sz(p));
    LOWRANK_CHECK(cudaMemcpyAsync(out.data(), eigenvalues, sizeof(double) * sz(p), cudaMemcpyDeviceToHost, stream_));
    check_info(scratch_.get<int>(kInfo, 1), "cusolverDnDsytrd");  // synchronises: `out` is filled
    std::reverse(out.begin(), out.end());
    for (double& value : out) value = std::sqrt(std::max(value, 0.0));
    return out;
  }

  double operator_norm(const Buffer<T>& W, Buffer<T>& start) override {
    const Index k = W.rows, d = W.cols, steps = std::min<Index>(d, spectral::kLanczosSteps);
    require(start.size() == d, "operator_norm");
    const double one = 1.0, zero = 0.0, minus = -1.0;
    double* w_matrix = scratch_.get<double>(kMd, k * d);  // row-major W = column-major Wᵀ (d×k)
    launch_to_double(W.data.get(), w_matrix, k * d, stream_);
    double* basis = scratch_.get<double>(kLanczos, steps * d);
    double* t = scratch_.get<double>(kVecA, k);
    double* w = scratch_.get<double>(kVecB, d);
    double* c = scratch_.get<double>(kVecC, steps);
    double* coefficients = scratch_.get<double>(kScalars, 2 * steps);  // [α | β] on the device
    double *alpha_device = coefficients, *beta_device = coefficients + steps;
    launch_to_double(start.data.get(), basis, d, stream_);
    double norm = 0;
    LOWRANK_CHECK(cublasDnrm2(blas_, i32(d), basis, 1, &norm));
    if (!(norm > 0)) {
      thrust::fill(thrust::cuda::par.on(stream_), basis, basis + d, 1.0);
      norm = std::sqrt(static_cast<double>(d));
    }
    double inv = 1.0 / norm;
    LOWRANK_CHECK(cublasDscal(blas_, i32(d), &inv, basis, 1));

    std::vector<double> alpha(sz(steps)), beta(sz(steps));
    spectral::TopRitz ritz;
    for (int restart = 0; restart < spectral::kLanczosRestarts && !ritz.converged; ++restart) {
      Index used = 0, tested = 0;
      for (Index j = 0; j < steps && !ritz.converged; ++j) {
        double* vj = basis + j * d;
        LOWRANK_CHECK(cublasDgemv(blas_, CUBLAS_OP_T, i32(d), i32(k), &one, w_matrix, i32(d), vj, 1, &zero, t, 1));
        LOWRANK_CHECK(cublasDgemv(blas_, CUBLAS_OP_N, i32(d), i32(k), &one, w_matrix, i32(d), t, 1, &zero, w, 1));
        device_scalar([&] { LOWRANK_CHECK(cublasDdot(blas_, i32(d), w, 1, vj, 1, alpha_device + j)); });
        for (int pass = 0; pass < 2; ++pass) {  // w ← w − V (Vᵀ w), twice
          LOWRANK_CHECK(cublasDgemv(blas_, CUBLAS_OP_T, i32(d), i32(j + 1), &one, basis, i32(d), w, 1, &zero, c, 1));
          LOWRANK_CHECK(cublasDgemv(blas_, CUBLAS_OP_N, i32(d), i32(j + 1), &minus, basis, i32(d), c, 1, &one, w, 1));
        }
        device_scalar([&] { LOWRANK_CHECK(cublasDnrm2(blas_, i32(d), w, 1, beta_device + j)); });
        if (j + 1 < steps) launch_divide(w, beta_device + j, basis + (j + 1) * d, d, stream_);
        used = j + 1;
        if (used % kLanczosCheckEvery != 0 && used != steps) continue;
        LOWRANK_CHECK(cudaMemcpyAsync(alpha.data(), alpha_device, sizeof(double) * sz(used), cudaMemcpyDeviceToHost,
                                      stream_));
        LOWRANK_CHECK(cudaMemcpyAsync(beta.data(), beta_device, sizeof(double) * sz(used), cudaMemcpyDeviceToHost,
                                      stream_));
        sync();
        for (used = tested + 1; used <= j + 1; ++used) {  // the CPU backend's test, step by step
          ritz = spectral::top_ritz(alpha, beta, used, 1e-10);
          if (ritz.converged) break;
        }
        used = std::min(used, j + 1);
        tested = used;
      }
      // The Ritz vector V s: the result, or the start of the next restart (basis column 0).
      LOWRANK_CHECK(cudaMemcpyAsync(c, ritz.s.data(), sizeof(double) * sz(used), cudaMemcpyHostToDevice, stream_));
      LOWRANK_CHECK(cublasDgemv(blas_, CUBLAS_OP_N, i32(d), i32(used), &one, basis, i32(d), c, 1, &zero, w, 1));
      LOWRANK_CHECK(cublasDnrm2(blas_, i32(d), w, 1, &norm));
      inv = 1.0 / norm;
      LOWRANK_CHECK(cublasDscal(blas_, i32(d), &inv, w, 1));
      LOWRANK_CHECK(cublasDcopy(blas_, i32(d), w, 1, basis, 1));
    }
    launch_from_double(basis, start.data.get(), d, stream_);
    sync();
    return std::sqrt(std::max(ritz.theta, 0.0));
  }

  double mean_principal_angle_deg(const Buffer<T>& A, const Buffer<T>& B) override {
    require(A.rows == B.rows && A.cols == B.cols, "mean_principal_angle_deg");
    const Index k = A.rows, d = A.cols;
    // d ≥ k: two matrices of full row rank both span all of R^k, and every angle is zero.
    if (d >= k && full_row_rank(A) && full_row_rank(B)) return 0.0;
    if (d < k) {
      // As the CPU backend: bases of the smaller side (the spaces, or their complements).
      const bool complement = k - d < d;
      const Index p = complement ? k - d : d;
      double* ua = scratch_.get<double>(kBasisA, k * p);
      double* ub = scratch_.get<double>(kBasisB, k * p);
      if (basis(A, complement, ua) && basis(B, complement, ub)) {
        const double one = 1.0, zero = 0.0;
        double* C = scratch_.get<double>(kGram, p * p);
        LOWRANK_CHECK(cublasDgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, i32(p), i32(p), i32(k), &one, ua, i32(k), ub,
                                  i32(k), &zero, C, i32(p)));
        double sum = 0;
        for (double cosine : singular_values(C, p)) sum += std::acos(std::clamp(cosine, 0.0, 1.0));
        return sum / static_cast<double>(d) * 180.0 / std::numbers::pi;
      }
    }
    // Rank in doubt: the seed's SVD method, on the host (rare).
    const std::vector<double> ad = download_double(*this, A), bd = download_double(*this, B);
    return spectral::mean_principal_angle_deg(ad.data(), bd.data(), k, d);
  }

 private:
  void sync() { LOWRANK_CHECK(cudaStreamSynchronize(stream_)); }

  // Runs a device reduction, `reduce(work, work_bytes, out)` (launch_sum, launch_dot_float64), with
  // its work space and result kept between calls (Thrust's reductions allocate and free on every
  // call, and the free synchronises the device); returns the result.
  template <typename Reduce>
  double reduce_to_host(Reduce reduce) {
    double* out = scratch_.get<double>(kReduceResult, 1);
    std::size_t bytes = 0;
    reduce(nullptr, bytes, out);
    reduce(scratch_.get<unsigned char>(kReduceWork, static_cast<Index>(bytes)), bytes, out);
    double result = 0;
    LOWRANK_CHECK(cudaMemcpyAsync(&result, out, sizeof(double), cudaMemcpyDeviceToHost, stream_));
    sync();
    return result;
  }

  // Runs `call`, a cuBLAS call whose scalar result goes to device memory, without a synchronisation;
  // the handle is back in host pointer mode afterwards, also when the call throws.
  template <typename Call>
  void device_scalar(Call call) {
    LOWRANK_CHECK(cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_DEVICE));
    try {
      call();
    } catch (...) {
      (void)cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_HOST);
      throw;
    }
    LOWRANK_CHECK(cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_HOST));
  }

  static void require(bool ok, const char* op) {
    if (!ok) throw std::invalid_argument(std::string("cuda backend: shape mismatch in ") + op);
  }

  // Reads the cuSOLVER infos of `calls` (consecutive ints from `device_info`) in one
  // synchronisation; throws naming the first call whose info is not 0.
  void check_info(const int* device_info, std::initializer_list<const char*> calls) {
    std::vector<int> infos(calls.size());
    LOWRANK_CHECK(cudaMemcpyAsync(infos.data(), device_info, sizeof(int) * infos.size(), cudaMemcpyDeviceToHost,
                                  stream_));
    sync();
    auto call = calls.begin();
    for (int info : infos) {
      if (info != 0)
        throw std::runtime_error(std::string("cuSOLVER: ") + *call + " returned info = " + std::to_string(info));
      ++call;
    }
  }
  void check_info(const int* device_info, const char* call) { check_info(device_info, {call}); }

  // Z = X Wᵀ
  void project(const Buffer<T>& X, const Buffer<T>& W, Buffer<T>& Z) {
    require(W.cols == X.cols && Z.rows == X.rows && Z.cols == W.rows, "forward");
    gemm_nt(X, W, Z);
  }

  // The row-wise readout of Z = X Wᵀ; the mean loss (and the accuracy of a classification loss:
  // a second sum and synchronisation), summed on the device.
  Evaluation row_readout(const Buffer<T>& Z, const Buffer<T>& a, const Buffer<T>& y, double gamma, Activation act,
                         Loss loss, T* r) {
    const Index n = Z.rows, k = Z.cols;
    require(a.size() == k && y.size() == n, "forward");
    double* row_loss = scratch_.get<double>(kRowLoss, n);
    double* row_correct = is_classification(loss) ? scratch_.get<double>(kRowCorrect, n) : nullptr;
    launch_readout(Z.data.get(), a.data.get(), y.data.get(), gamma, act, loss, n, k, r, row_loss, row_correct,
                   stream_);
    auto mean = [&](const double* rows) {
      return reduce_to_host([&](void* work, std::size_t& bytes, double* out) {
               launch_sum(rows, n, out, work, bytes, stream_);
             }) /
             static_cast<double>(n);
    };
    Evaluation e;
    e.loss = mean(row_loss);
    if (row_correct) e.accuracy = mean(row_correct);
    return e;
  }

  // Orthonormal basis (column-major k×p) of A's column space or its complement; false when
  // the rank is in doubt. As spectral.cpp's column_basis and complement_basis.
  bool basis(const Buffer<T>& A, bool complement, double* out) {
    const Index k = A.rows, d = A.cols, p = complement ? k - d : d;
    const double one = 1.0, zero = 0.0;
    double* at = scratch_.get<double>(kMd, k * d);  // row-major A = column-major Aᵀ (d×k)
    launch_to_double(A.data.get(), at, k * d, stream_);
    double* a = scratch_.get<double>(kB, k * d);  // column-major A (k×d)
    LOWRANK_CHECK(cublasDgeam(blas_, CUBLAS_OP_T, CUBLAS_OP_N, i32(k), i32(d), &one, at, i32(d), &zero, a, i32(k), a,
                              i32(k)));
    int* info = scratch_.get<int>(kInfo, 1);
    int lwork = 0;
    double* range = scratch_.get<double>(kScalars, 2);
    if (!complement) {
      double* tau = scratch_.get<double>(kVecA, d);
      LOWRANK_CHECK(cusolverDnDgeqrf_bufferSize(solver_, i32(k), i32(d), a, i32(k), &lwork));
      LOWRANK_CHECK(cusolverDnDgeqrf(solver_, i32(k), i32(d), a, i32(k), tau, scratch_.get<double>(kWork, lwork),
                                     lwork, info));
      check_info(info, "cusolverDnDgeqrf");
      if (!full_rank_diagonal(a, k, d, range)) return false;
      LOWRANK_CHECK(cusolverDnDorgqr_bufferSize(solver_, i32(k), i32(d), i32(d), a, i32(k), tau, &lwork));
      LOWRANK_CHECK(cusolverDnDorgqr(solver_, i32(k), i32(d), i32(d), a, i32(k), tau,
                                     scratch_.get<double>(kWork, lwork), lwork, info));
      check_info(info, "cusolverDnDorgqr");
      LOWRANK_CHECK(cudaMemcpyAsync(out, a, sizeof(double) * sz(k * d), cudaMemcpyDeviceToDevice, stream_));
      return true;
    }
    // P A = L U; the null space of Aᵀ is Pᵀ [−L1⁻ᵀ L2ᵀ; I].
    int* pivots = scratch_.get<int>(kPivots, d);
    if (!lu_full_rank(a, k, d, pivots)) return false;
    double* seeded = scratch_.get<double>(kLanczos, k * p);
    launch_complement_seed(a, k, d, seeded, stream_);
    LOWRANK_CHECK(cublasDtrsm(blas_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, CUBLAS_DIAG_UNIT, i32(d),
                              i32(p), &one, a, i32(k), seeded, i32(k)));
    // x = Pᵀ y: LAPACK's row interchanges in reverse order, as a gather of rows.
    std::vector<int> swaps(sz(d)), source(sz(k));
    LOWRANK_CHECK(cudaMemcpyAsync(swaps.data(), pivots, sizeof(int) * sz(d), cudaMemcpyDeviceToHost, stream_));
    sync();
    for (Index i = 0; i < k; ++i) source[sz(i)] = static_cast<int>(i);
    for (Index i = d - 1; i >= 0; --i) std::swap(source[sz(i)], source[sz(swaps[sz(i)] - 1)]);
    int* device_source = scratch_.get<int>(kSource, k);
    LOWRANK_CHECK(cudaMemcpyAsync(device_source, source.data(), sizeof(int) * sz(k), cudaMemcpyHostToDevice, stream_));
    launch_gather_rows(seeded, device_source, k, p, out, stream_);
    return cholesky_qr2(out, k, p);
  }

  // Whether A (k×d, k ≤ d) has full row rank beyond doubt: LU with partial pivoting of Aᵀ (A's
  // row-major storage read column-major), as the CPU backend's spectral::full_row_rank.
  bool full_row_rank(const Buffer<T>& A) {
    const Index k = A.rows, d = A.cols;
    double* at = scratch_.get<double>(kMd, k * d);  // column-major Aᵀ (d×k)
    launch_to_double(A.data.get(), at, k * d, stream_);
    return lu_full_rank(at, d, k, scratch_.get<int>(kPivots, k));
  }

  // LU with partial pivoting of the column-major rows×cols `a` (rows ≥ cols) in place, row
  // interchanges to `pivots`; whether `a` has full column rank beyond doubt: no zero pivot
  // (getrf's info) and every pivot above kPivotCut of the largest, read back in one
  // synchronisation.
  bool lu_full_rank(double* a, Index rows, Index cols, int* pivots) {
    int lwork = 0;
    LOWRANK_CHECK(cusolverDnDgetrf_bufferSize(solver_, i32(rows), i32(cols), a, i32(rows), &lwork));
    int* info = scratch_.get<int>(kInfo, 1);
    LOWRANK_CHECK(cusolverDnDgetrf(solver_, i32(rows), i32(cols), a, i32(rows), scratch_.get<double>(kWork, lwork),
                                   pivots, info));
    double* range = scratch_.get<double>(kScalars, 2);
    launch_diagonal_range(a, rows, cols, range, stream_);
    int zero_pivot = 0;
    double pivot_range[2];
    LOWRANK_CHECK(cudaMemcpyAsync(&zero_pivot, info, sizeof(int), cudaMemcpyDeviceToHost, stream_));
    LOWRANK_CHECK(cudaMemcpyAsync(pivot_range, range, sizeof pivot_range, cudaMemcpyDeviceToHost, stream_));
    sync();
    return zero_pivot == 0 && pivot_range[0] > spectral::kPivotCut * pivot_range[1];
  }

  bool full_rank_diagonal(const double* factor, Index lda, Index count, double* range) {
    launch_diagonal_range(factor, lda, count, range, stream_);
    double host[2];
    LOWRANK_CHECK(cudaMemcpyAsync(host, range, sizeof host, cudaMemcpyDeviceToHost, stream_));
    sync();
    return host[0] > spectral::kPivotCut * host[1];
  }

  // Orthonormalises the columns of N (column-major k×p) by Cholesky QR, twice.
  bool cholesky_qr2(double* N, Index k, Index p) {
    const double one = 1.0, zero = 0.0;
    double* G = scratch_.get<double>(kGram, p * p);
    int* info = scratch_.get<int>(kInfo, 1);
    for (int pass = 0; pass < 2; ++pass) {
      LOWRANK_CHECK(cublasDsyrk(blas_, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, i32(p), i32(k), &one, N, i32(k), &zero, G,
                                i32(p)));
      int lwork = 0;
      LOWRANK_CHECK(cusolverDnDpotrf_bufferSize(solver_, CUBLAS_FILL_MODE_UPPER, i32(p), G, i32(p), &lwork));
      LOWRANK_CHECK(cusolverDnDpotrf(solver_, CUBLAS_FILL_MODE_UPPER, i32(p), G, i32(p),
                                     scratch_.get<double>(kWork, lwork), lwork, info));
      int failed = 0;
      LOWRANK_CHECK(cudaMemcpyAsync(&failed, info, sizeof(int), cudaMemcpyDeviceToHost, stream_));
      sync();
      if (failed != 0) return false;
      LOWRANK_CHECK(cublasDtrsm(blas_, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT,
                                i32(k), i32(p), &one, G, i32(p), N, i32(k)));
    }
    return true;
  }

  // Reduces the symmetric p×p G (lower triangle, column-major; overwritten by the reflectors) to a
  // tridiagonal T (cusolverDnDsytrd, its info to kInfo) and computes every eigenvalue of T by the
  // multisection kernel. Returns [eigenvalues (ascending) | diagonal | off-diagonal | τ], p each, on
  // the device, in stream order: the caller checks the info.
  double* tridiagonal_eigenvalues(double* G, Index p) {
    double* tridiagonal = scratch_.get<double>(kTridiagonal, 4 * p);
    double *eigenvalues = tridiagonal, *diag = tridiagonal + p, *off = tridiagonal + 2 * p;
    double* tau = tridiagonal + 3 * p;
    int lwork = 0;
    LOWRANK_CHECK(cusolverDnDsytrd_bufferSize(solver_, CUBLAS_FILL_MODE_LOWER, i32(p), G, i32(p), diag, off, tau,
                                              &lwork));
    LOWRANK_CHECK(cusolverDnDsytrd(solver_, CUBLAS_FILL_MODE_LOWER, i32(p), G, i32(p), diag, off, tau,
                                   scratch_.get<double>(kWork, lwork), lwork, scratch_.get<int>(kInfo, 1)));
    launch_tridiagonal_eigenvalues(diag, off, p, eigenvalues, stream_);
    return tridiagonal;
  }

  // Singular values of the column-major p×p matrix C: the square roots of the eigenvalues of CᵀC,
  // through its tridiagonal, where cuSOLVER's gesvd at these sizes is a long chain of small
  // launches. For the cosines of principal angles (σ ≤ 1) the error is ε/(2σ) and at most √ε: the
  // same worst case as an SVD's, where acos turns an error of ε in σ ≈ 1 into √(2ε) in the angle.
  std::vector<double> singular_values(const double* C, Index p) {
    const double one = 1.0, zero = 0.0;
    double* G = scratch_.get<double>(kAngleGram, p * p);
    LOWRANK_CHECK(cublasDsyrk(blas_, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, i32(p), i32(p), &one, C, i32(p), &zero, G,
                              i32(p)));
    const double* eigenvalues = tridiagonal_eigenvalues(G, p);
    std::vector<double> out(sz(p));
    LOWRANK_CHECK(cudaMemcpyAsync(out.data(), eigenvalues, sizeof(double) * sz(p), cudaMemcpyDeviceToHost, stream_));
    check_info(scratch_.get<int>(kInfo, 1), "cusolverDnDsytrd");  // synchronises: `out` is filled
    for (double& value : out) value = std::sqrt(std::max(value, 0.0));
    return out;
  }

  std::string name_;
  Buffer<T> spectrum_top_, spectrum_second_;  // what `spectrum` returns
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cusolverDnHandle_t solver_ = nullptr;
  Scratch scratch_;
};

}  // namespace

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

int process_cuda_device(int worker, int workers) {
  return choose_cuda_device(cuda_device_count(), worker, workers, process_environment);
}

double cuda_free_memory(int device) {
  if (cuda_device_count() <= device) return 0;
  std::size_t free_bytes = 0, total = 0;
  LOWRANK_CHECK(cudaSetDevice(device));
  LOWRANK_CHECK(cudaMemGetInfo(&free_bytes, &total));
  return static_cast<double>(free_bytes);
}

template <typename T>
std::unique_ptr<Backend<T>> make_cuda_backend(int device) {
  return std::make_unique<CudaBackend<T>>(device);
}
template std::unique_ptr<Backend<float>> make_cuda_backend<float>(int);
template std::unique_ptr<Backend<double>> make_cuda_backend<double>(int);

}  // namespace lowrank
