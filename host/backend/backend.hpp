// The backend interface the driver calls: every operation of an epoch, on row-major buffers
// that live in the backend's memory (host for the CPU backend, device for the CUDA backend).
// Only scalars, the singular values and what the file records cross back to the driver.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "optimizer_math.hpp"
#include "scalar_math.hpp"

namespace lowrank {

// A rows×cols row-major array owned by a backend. The driver passes these around and never
// reads `data` itself (it may be device memory).
template <typename T>
struct Buffer {
  std::int64_t rows = 0, cols = 0;
  std::shared_ptr<T[]> data;
  std::int64_t size() const { return rows * cols; }
};

// Two buffers of the same size whose inner product is wanted.
template <typename T>
struct DotPair {
  const Buffer<T>* x;
  const Buffer<T>* y;
};

// A data set's mean loss and, for a classification loss (is_classification), the fraction of
// samples whose class F predicts (NaN otherwise).
struct Evaluation {
  double loss = 0;
  double accuracy = std::numeric_limits<double>::quiet_NaN();
};

// What a backend precomputes once per training set for the spectrum (e.g. a factor X = L P).
struct PreparedData {
  virtual ~PreparedData() = default;
};

// The spectrum of ∇ = scale · Mᵀ X.
template <typename T>
struct Spectrum {
  std::vector<double> singular_values;  // min(k, d) values, descending
  Buffer<T> top_right_vector;           // d, unit, sign as SPEC §4 (see Backend::spectrum)
  Buffer<T> second_right_vector;        // d, unit, any sign; empty (size 0) when min(k, d, n) < 2
};

template <typename T>
class Backend {
 public:
  virtual ~Backend() = default;
  // "cpu" or "cuda:<gpu name>", as the file's `device` attribute.
  virtual std::string device() const = 0;
  // The most device memory this backend has held at once, in bytes (0 for the CPU backend,
  // whose memory is the process's own).
  virtual double peak_device_bytes() const = 0;

  virtual Buffer<T> upload(std::span<const T> host, std::int64_t rows, std::int64_t cols) = 0;
  virtual Buffer<T> zeros(std::int64_t rows, std::int64_t cols) = 0;
  virtual void download(const Buffer<T>& buffer, std::span<T> host) = 0;
  // Overwrites `buffer` with `host` (the same size), reusing its memory.
  virtual void upload_to(std::span<const T> host, Buffer<T>& buffer) = 0;
  virtual void copy(const Buffer<T>& from, Buffer<T>& to) = 0;

  // Z = X Wᵀ; F_i = γ Σ_j a_j σ(Z_ij); r_i = ∂ℓ/∂F (F_i, y_i). Returns (1/n) Σ ℓ(F_i, y_i), and
  // the accuracy for a classification loss.
  virtual Evaluation forward(const Buffer<T>& X, const Buffer<T>& W, const Buffer<T>& a, const Buffer<T>& y,
                             double gamma, Activation act, Loss loss, Buffer<T>& Z, Buffer<T>& r) = 0;
  // forward with Z already holding X Wᵀ (left as it is): the readout, r and the loss. Runs that
  // start from the same W and X (a sweep at initialisation) share one product this way.
  virtual Evaluation readout(const Buffer<T>& Z, const Buffer<T>& a, const Buffer<T>& y, double gamma, Activation act,
                             Loss loss, Buffer<T>& r) = 0;
  // The same without keeping r (the test set). Z is work space of X.rows × W.rows.
  virtual Evaluation evaluate(const Buffer<T>& X, const Buffer<T>& W, const Buffer<T>& a, const Buffer<T>& y,
                              double gamma, Activation act, Loss loss, Buffer<T>& Z) = 0;
  // Overwrites Z with M = (r aᵀ) ⊙ σ'(Z) (+ `extra`, n×k, when given: the gradient penalty's Q)
  // and sets G = (γ/n) Mᵀ X, the k×d gradient ∇_W L.
  virtual void gradient(const Buffer<T>& X, const Buffer<T>& r, const Buffer<T>& a, double gamma, Activation act,
                        Buffer<T>& Z, Buffer<T>& G, const Buffer<T>* extra) = 0;
  // The gradient penalty at Z = X Wᵀ (before `gradient` overwrites it): sets
  // Q_ij = λγ a_j² ‖x_i‖² σ'(Z_ij) σ''(Z_ij), so that (γ/n) Qᵀ X is the penalty's gradient, and
  // returns the penalty (λγ²/2n) Σ_i ‖x_i‖² Σ_j a_j² σ'(Z_ij)². `x_norms2` holds ‖x_i‖² (n).
  virtual double gradient_penalty(const Buffer<T>& Z, const Buffer<T>& x_norms2, const Buffer<T>& a, double gamma,
                                  double lambda, Activation act, Buffer<T>& Q) = 0;
  // Z ← σ'(Z), element-wise.
  virtual void activation_derivative(Buffer<T>& Z, Activation act) = 0;
  // Gradient descent's step, fused with the seed's renormalisation: W ← W − η G; then, if
  // normalize, every row w_j ← w_j / (‖w_j‖ + 1e-8).
  virtual void step(Buffer<T>& W, const Buffer<T>& G, double lr, bool normalize) = 0;
  // An optimiser's step (optimizer_math.hpp's update_weight on every entry of W, with the state
  // `first`, momentum's b or Adam's m, and `second`, Adam's v, null for momentum), fused as `step`
  // with the renormalisation of each row when normalize: one pass over W and its state.
  virtual void optimizer_step(Buffer<T>& W, const Buffer<T>& G, Buffer<T>& first, Buffer<T>* second,
                              const UpdateRule& rule, bool normalize) = 0;
  // y ← y + α x (the same size; x may be y), element-wise in the working precision.
  virtual void axpy(double alpha, const Buffer<T>& x, Buffer<T>& y) = 0;

  // y = Aᵀ x
  virtual void gemv_t(const Buffer<T>& A, const Buffer<T>& x, Buffer<T>& y) = 0;
  // C = A B
  virtual void gemm(const Buffer<T>& A, const Buffer<T>& B, Buffer<T>& C) = 0;
  // C = A Bᵀ
  virtual void gemm_nt(const Buffer<T>& A, const Buffer<T>& B, Buffer<T>& C) = 0;
  // C = α Aᵀ B
  virtual void gemm_tn(double alpha, const Buffer<T>& A, const Buffer<T>& B, Buffer<T>& C) = 0;
  // A ← A + α x yᵀ (A is x.size() × y.size())
  virtual void add_outer(Buffer<T>& A, double alpha, const Buffer<T>& x, const Buffer<T>& y) = 0;
  // At = Aᵀ (At is A.cols × A.rows)
  virtual void transpose(const Buffer<T>& A, Buffer<T>& At) = 0;
  // Replaces the rows of V (l×d, l ≤ d, full row rank) by an orthonormal basis of their span,
  // by Householder QR (the truncated spectrum's subspace iteration).
  virtual void orthonormalize_rows(Buffer<T>& V) = 0;
  // ⟨x, y⟩ and ‖x‖ over all entries, accumulated in float64.
  virtual double dot(const Buffer<T>& x, const Buffer<T>& y) = 0;
  virtual double norm(const Buffer<T>& x) = 0;
  // ⟨x, y⟩ of each pair of vectors, as `dot`, in one batch (one synchronisation on a GPU, where
  // each pair is one block's work: meant for vectors of length d or n, not whole matrices).
  virtual std::vector<double> dots(std::span<const DotPair<T>> pairs) = 0;

  // Precomputes what `spectrum` needs of the training inputs X (n×d).
  virtual std::shared_ptr<const PreparedData> prepare(const Buffer<T>& X) = 0;
  // All min(k,d) singular values of ∇ = scale · Mᵀ X (M is n×k, from `gradient`), each within
  // 1e-6·σ₁ + 1e-4·σᵢ of float64, and the unit leading right singular vector, its sign chosen
  // so that ⟨v, previous⟩ ≥ 0, or, without a previous vector, its largest entry positive.
  // The vectors may live in the backend's own memory: valid until the next call.
  virtual Spectrum<T> spectrum(const Buffer<T>& M, const PreparedData& X, double scale,
                               const Buffer<T>* previous) = 0;
  // Every singular value of A (min(rows, cols), descending), from the Gram matrix of its smaller
  // side: each within ~√ε of the largest (ε of the working precision on the CPU, of float64 on a GPU).
  virtual std::vector<double> singular_values(const Buffer<T>& A) = 0;
  // Largest singular value of W (k×d), relative error ≤ 1e-5; `start` (d) holds the start
  // vector and receives the converged one, to warm-start the next call.
  virtual double operator_norm(const Buffer<T>& W, Buffer<T>& start) = 0;
  // Mean principal angle, in degrees, between the column spaces of A and B (both k×d),
  // computed in float64 (SPEC §4's pair_mean_angle_deg).
  virtual double mean_principal_angle_deg(const Buffer<T>& A, const Buffer<T>& B) = 0;
};

// A buffer from float64 values (rounded to T), and a buffer's values as float64: how the driver's
// inputs and checkpoints and the truncated spectrum's small blocks cross the interface.
template <typename T>
Buffer<T> upload_double(Backend<T>& be, const std::vector<double>& host, std::int64_t rows, std::int64_t cols) {
  const std::vector<T> cast(host.begin(), host.end());
  return be.upload(cast, rows, cols);
}

template <typename T>
std::vector<double> download_double(Backend<T>& be, const Buffer<T>& b) {
  std::vector<T> host(static_cast<std::size_t>(b.size()));
  be.download(b, host);
  return {host.begin(), host.end()};
}

}  // namespace lowrank
