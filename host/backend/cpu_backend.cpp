#include "cpu_backend.hpp"

#include <algorithm>
#include <cblas.h>
#include <cmath>
#include <stdexcept>
#include <thread>

#include "blas.hpp"
#include "spectral.hpp"

namespace lowrank {
namespace {

using Index = std::int64_t;

int i32(Index v) { return static_cast<int>(v); }

template <typename T>
std::vector<double> to_double(const Buffer<T>& b) {
  return std::vector<double>(b.data.get(), b.data.get() + b.size());
}

void require(bool ok, const char* op) {
  if (!ok) throw std::invalid_argument(std::string("cpu backend: shape mismatch in ") + op);
}

struct CpuPrepared final : PreparedData {
  spectral::RowFactor factor;
};

template <typename T>
class CpuBackend final : public Backend<T> {
 public:
  std::string device() const override { return "cpu"; }
  double peak_device_bytes() const override { return 0; }

  Buffer<T> upload(std::span<const T> host, Index rows, Index cols) override {
    Buffer<T> b = zeros(rows, cols);
    std::copy(host.begin(), host.end(), b.data.get());
    return b;
  }
  Buffer<T> to_buffer(const std::vector<double>& v) {
    Buffer<T> b = zeros(static_cast<Index>(v.size()), 1);
    std::transform(v.begin(), v.end(), b.data.get(), [](double x) { return static_cast<T>(x); });
    return b;
  }
  Buffer<T> zeros(Index rows, Index cols) override {
    return {rows, cols, std::shared_ptr<T[]>(new T[static_cast<std::size_t>(rows * cols)]())};
  }
  void download(const Buffer<T>& b, std::span<T> host) override {
    std::copy(b.data.get(), b.data.get() + b.size(), host.begin());
  }
  void upload_to(std::span<const T> host, Buffer<T>& b) override {
    require(static_cast<Index>(host.size()) == b.size(), "upload_to");
    std::copy(host.begin(), host.end(), b.data.get());
  }
  void copy(const Buffer<T>& from, Buffer<T>& to) override {
    require(from.size() == to.size(), "copy");
    std::copy(from.data.get(), from.data.get() + from.size(), to.data.get());
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
    T* z = Z.data.get();
    const T *rv = r.data.get(), *av = a.data.get();
    // M_ij = r_i a_j σ'(Z_ij) (+ extra_ij)
    with_activation(act, [&](auto A) {
      for (Index i = 0; i < n; ++i)
        for (Index j = 0; j < k; ++j) z[i * k + j] = rv[i] * av[j] * activate_derivative(A.value, z[i * k + j]);
    });
    if (extra)
      for (Index e = 0; e < Z.size(); ++e) z[e] += extra->data[e];
    // G = (γ/n) Mᵀ X
    blas::gemm(CblasTrans, CblasNoTrans, i32(k), i32(d), i32(n), static_cast<T>(gamma / static_cast<double>(n)), z,
               i32(k), X.data.get(), i32(d), T(0), G.data.get(), i32(d));
  }

  double gradient_penalty(const Buffer<T>& Z, const Buffer<T>& x_norms2, const Buffer<T>& a, double gamma,
                          double lambda, Activation act, Buffer<T>& Q) override {
    const Index n = Z.rows, k = Z.cols;
    require(x_norms2.size() == n && a.size() == k && Q.rows == n && Q.cols == k, "gradient_penalty");
    const T* z = Z.data.get();
    const T *xn = x_norms2.data.get(), *av = a.data.get();
    T* q = Q.data.get();
    double penalty = 0;
    for (Index i = 0; i < n; ++i) {
      double row = 0;
      for (Index j = 0; j < k; ++j) {
        const T s1 = activate_derivative(act, z[i * k + j]), s2 = activate_second_derivative(act, z[i * k + j]);
        q[i * k + j] = static_cast<T>(lambda * gamma) * av[j] * av[j] * xn[i] * s1 * s2;
        row += static_cast<double>(av[j]) * av[j] * s1 * s1;
      }
      penalty += static_cast<double>(xn[i]) * row;
    }
    return lambda * gamma * gamma / (2.0 * static_cast<double>(n)) * penalty;
  }

  void activation_derivative(Buffer<T>& Z, Activation act) override {
    T* z = Z.data.get();
    for (Index e = 0; e < Z.size(); ++e) z[e] = activate_derivative(act, z[e]);
  }

  void axpy(double alpha, const Buffer<T>& x, Buffer<T>& y) override {
    require(x.size() == y.size(), "axpy");
    const T a = static_cast<T>(alpha);
    const T* xs = x.data.get();
    T* ys = y.data.get();
    for (Index e = 0; e < y.size(); ++e) ys[e] += a * xs[e];
  }

  void step(Buffer<T>& W, const Buffer<T>& G, double lr, bool normalize) override {
    require(W.rows == G.rows && W.cols == G.cols, "step");
    const Index k = W.rows, d = W.cols;
    T* w = W.data.get();
    const T* g = G.data.get();
    const T eta = static_cast<T>(lr);
    for (Index j = 0; j < k; ++j) {
      T* row = w + j * d;
      T sq = 0;
      for (Index c = 0; c < d; ++c) {
        row[c] -= eta * g[j * d + c];
        sq += row[c] * row[c];
      }
      if (normalize) {
        const T inv = T(1) / (std::sqrt(sq) + T(1e-8));
        for (Index c = 0; c < d; ++c) row[c] *= inv;
      }
    }
  }

  void optimizer_step(Buffer<T>& W, const Buffer<T>& G, Buffer<T>& first, Buffer<T>* second, const UpdateRule& rule,
                      bool normalize) override {
    require(W.size() == G.size() && W.size() == first.size() && (!second || second->size() == W.size()),
            "optimizer_step");
    const Index k = W.rows, d = W.cols;
    T* w = W.data.get();
    const T* g = G.data.get();
    T* s1 = first.data.get();
    T* s2 = second ? second->data.get() : nullptr;
    T unused = 0;  // momentum keeps no second moment
    for (Index j = 0; j < k; ++j) {
      T* row = w + j * d;
      T sq = 0;
      for (Index c = 0; c < d; ++c) {
        const Index e = j * d + c;
        row[c] = update_weight(rule, row[c], g[e], s1[e], s2 ? s2[e] : unused);
        sq += row[c] * row[c];
      }
      if (normalize) {
        const T inv = T(1) / (std::sqrt(sq) + T(1e-8));
        for (Index c = 0; c < d; ++c) row[c] *= inv;
      }
    }
  }

  void gemv_t(const Buffer<T>& A, const Buffer<T>& x, Buffer<T>& y) override {
    require(x.size() == A.rows && y.size() == A.cols, "gemv_t");
    blas::gemv(CblasTrans, i32(A.rows), i32(A.cols), T(1), A.data.get(), i32(A.cols), x.data.get(), T(0),
               y.data.get());
  }

  void gemm(const Buffer<T>& A, const Buffer<T>& B, Buffer<T>& C) override {
    require(A.cols == B.rows && C.rows == A.rows && C.cols == B.cols, "gemm");
    blas::gemm(CblasNoTrans, CblasNoTrans, i32(A.rows), i32(B.cols), i32(A.cols), T(1), A.data.get(), i32(A.cols),
               B.data.get(), i32(B.cols), T(0), C.data.get(), i32(C.cols));
  }

  void gemm_nt(const Buffer<T>& A, const Buffer<T>& B, Buffer<T>& C) override {
    require(A.cols == B.cols && C.rows == A.rows && C.cols == B.rows, "gemm_nt");
    blas::gemm(CblasNoTrans, CblasTrans, i32(A.rows), i32(B.rows), i32(A.cols), T(1), A.data.get(), i32(A.cols),
               B.data.get(), i32(B.cols), T(0), C.data.get(), i32(C.cols));
  }

  void gemm_tn(double alpha, const Buffer<T>& A, const Buffer<T>& B, Buffer<T>& C) override {
    require(A.rows == B.rows && C.rows == A.cols && C.cols == B.cols, "gemm_tn");
    blas::gemm(CblasTrans, CblasNoTrans, i32(A.cols), i32(B.cols), i32(A.rows), static_cast<T>(alpha), A.data.get(),
               i32(A.cols), B.data.get(), i32(B.cols), T(0), C.data.get(), i32(C.cols));
  }

  void add_outer(Buffer<T>& A, double alpha, const Buffer<T>& x, const Buffer<T>& y) override {
    require(A.rows == x.size() && A.cols == y.size(), "add_outer");
    blas::ger(i32(A.rows), i32(A.cols), static_cast<T>(alpha), x.data.get(), y.data.get(), A.data.get(), i32(A.cols));
  }

  void transpose(const Buffer<T>& A, Buffer<T>& At) override {
    require(At.rows == A.cols && At.cols == A.rows, "transpose");
    for (Index i = 0; i < A.rows; ++i)
      for (Index j = 0; j < A.cols; ++j) At.data[j * A.rows + i] = A.data[i * A.cols + j];
  }

  void orthonormalize_rows(Buffer<T>& V) override {
    const Index l = V.rows, d = V.cols;
    require(l <= d, "orthonormalize_rows");
    // Row-major V (l×d) is column-major Vᵀ (d×l): its QR gives orthonormal columns, V's rows.
    std::vector<T> tau(static_cast<std::size_t>(l));
    if (blas::geqrf(i32(d), i32(l), V.data.get(), i32(d), tau.data()) != 0 ||
        blas::orgqr(i32(d), i32(l), V.data.get(), i32(d), tau.data()) != 0)
      throw std::runtime_error("cpu backend: LAPACK QR failed in orthonormalize_rows");
  }

  double dot(const Buffer<T>& x, const Buffer<T>& y) override {
    require(x.size() == y.size(), "dot");
    double s = 0;
    for (Index i = 0; i < x.size(); ++i) s += static_cast<double>(x.data[i]) * static_cast<double>(y.data[i]);
    return s;
  }
  double norm(const Buffer<T>& x) override { return std::sqrt(dot(x, x)); }
  std::vector<double> dots(std::span<const DotPair<T>> pairs) override {
    std::vector<double> out;
    for (const DotPair<T>& p : pairs) out.push_back(dot(*p.x, *p.y));
    return out;
  }

  std::shared_ptr<const PreparedData> prepare(const Buffer<T>& X) override {
    auto p = std::make_shared<CpuPrepared>();
    const std::vector<double> x = to_double(X);
    p->factor = spectral::factor_rows(x.data(), X.rows, X.cols);
    return p;
  }

  Spectrum<T> spectrum(const Buffer<T>& M, const PreparedData& X, double scale, const Buffer<T>* previous) override {
    const auto& factor = dynamic_cast<const CpuPrepared&>(X).factor;
    require(M.rows == factor.n, "spectrum");
    std::vector<double> m = to_double(M);
    spectral::GradientSpectrum s = spectral::gradient_spectrum(std::move(m), M.cols, factor, scale);
    std::vector<double>& v = s.top_right_vector;
    // Sign: agree with the previous vector, or make the largest-magnitude entry positive.
    double orient = 0;
    if (previous) {
      for (Index i = 0; i < previous->size(); ++i) orient += v[static_cast<std::size_t>(i)] * previous->data[i];
    } else {
      orient = *std::max_element(v.begin(), v.end(), [](double p, double q) { return std::abs(p) < std::abs(q); });
    }
    if (orient < 0)
      for (double& x : v) x = -x;
    Spectrum<T> out{std::move(s.singular_values), to_buffer(v), to_buffer(s.second_right_vector)};
    return out;
  }

  std::vector<double> singular_values(const Buffer<T>& A) override {
    return spectral::singular_values(A.data.get(), A.rows, A.cols);
  }

  double operator_norm(const Buffer<T>& W, Buffer<T>& start) override {
    require(start.size() == W.cols, "operator_norm");
    const std::vector<double> w = to_double(W);
    std::vector<double> v = to_double(start);
    const double sigma = spectral::largest_singular_value(w.data(), W.rows, W.cols, v);
    std::transform(v.begin(), v.end(), start.data.get(), [](double x) { return static_cast<T>(x); });
    return sigma;
  }

  double mean_principal_angle_deg(const Buffer<T>& A, const Buffer<T>& B) override {
    require(A.rows == B.rows && A.cols == B.cols, "mean_principal_angle_deg");
    const std::vector<double> a = to_double(A), b = to_double(B);
    return spectral::mean_principal_angle_deg(a.data(), b.data(), A.rows, A.cols);
  }

 private:
  // Z = X Wᵀ
  void project(const Buffer<T>& X, const Buffer<T>& W, Buffer<T>& Z) {
    require(X.cols == W.cols && Z.rows == X.rows && Z.cols == W.rows, "forward");
    blas::gemm(CblasNoTrans, CblasTrans, i32(X.rows), i32(W.rows), i32(X.cols), T(1), X.data.get(), i32(X.cols),
               W.data.get(), i32(W.cols), T(0), Z.data.get(), i32(Z.cols));
  }

  // F_i = γ Σ_j a_j σ(Z_ij), r_i = ∂ℓ/∂F when r is given; the mean loss and the accuracy.
  Evaluation row_readout(const Buffer<T>& Z, const Buffer<T>& a, const Buffer<T>& y, double gamma, Activation act,
                         Loss loss_kind, T* r) {
    const Index n = Z.rows, k = Z.cols;
    require(a.size() == k && y.size() == n, "forward");
    const T* z = Z.data.get();
    const T *av = a.data.get(), *yv = y.data.get();
    // Per-row losses summed in a fixed order: the result does not depend on the thread count.
    std::vector<double> loss(static_cast<std::size_t>(n));
    Index correct = 0;
    // F_i = γ Σ_j a_j σ(Z_ij), each sum in float64 in the order of j: a block of rows at a time,
    // whose sums are independent chains of additions the core overlaps.
    // The block's σ(Z) first, in a loop of its own that vectorises.
    constexpr Index kRows = 8;
    double sum[kRows];
    std::vector<T> activated(static_cast<std::size_t>(kRows * k));
    with_activation(act, [&](auto A) {
      for (Index i0 = 0; i0 < n; i0 += kRows) {
        const Index rows = std::min(kRows, n - i0);
        for (Index e = 0; e < rows * k; ++e) activated[static_cast<std::size_t>(e)] = activate(A.value, z[i0 * k + e]);
        std::fill_n(sum, kRows, 0.0);
        for (Index j = 0; j < k; ++j)
          for (Index b = 0; b < rows; ++b)
            sum[b] += static_cast<double>(av[j]) * static_cast<double>(activated[static_cast<std::size_t>(b * k + j)]);
        for (Index b = 0; b < rows; ++b) {
          const Index i = i0 + b;
          const double f = gamma * sum[b], target = static_cast<double>(yv[i]);
          if (r) r[i] = static_cast<T>(sample_residual(loss_kind, f, target));
          loss[static_cast<std::size_t>(i)] = sample_loss(loss_kind, f, target);
          correct += predicts_class(loss_kind, f, target);
        }
      }
    });
    Evaluation e;
    for (double l : loss) e.loss += l;
    e.loss /= static_cast<double>(n);
    if (is_classification(loss_kind)) e.accuracy = static_cast<double>(correct) / static_cast<double>(n);
    return e;
  }
};

}  // namespace

template <typename T>
std::unique_ptr<Backend<T>> make_cpu_backend() {
  return std::make_unique<CpuBackend<T>>();
}
template std::unique_ptr<Backend<float>> make_cpu_backend<float>();
template std::unique_ptr<Backend<double>> make_cpu_backend<double>();

// The threads are OpenBLAS's alone. The element-wise loops (activations, the mask, the step) run
// on the calling thread: an OpenMP team beside OpenBLAS's threads, spinning between its loops, took
// the cores from the GEMMs that follow (ntk_vs_mf on 2 cores: 31.3 s with it, 29.3 s without; a
// small run, n = 150, d = 200, k = 250, 300 epochs: 14.7 s and 4.3 s; two side by side: 43 s and
// 5 s each). The loops are a tenth of an epoch's work at the seed's sizes.
void set_cpu_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  openblas_set_num_threads(threads);
}

int cpu_threads() { return openblas_get_num_threads(); }

}  // namespace lowrank
