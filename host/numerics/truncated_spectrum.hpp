// The top r singular values and right singular vectors of the k×d gradient G, for widths where
// the full spectrum's cubic cost dominates the epoch: randomized subspace iteration on GᵀG with
// a block of l = r + oversampling vectors, warm-started from the previous epoch's subspace (the
// gradient's leading subspace moves slowly, so a few iterations suffice), and a Rayleigh–Ritz
// step each iteration. The two GEMMs per iteration run on the backend in the working
// precision; only the l×k block crosses to the host, for a float64 SVD.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "backend.hpp"

namespace lowrank {

// Vectors beyond r in the block: they speed convergence (the rate is σ_{l+1}/σ_r per iteration).
constexpr std::int64_t kTruncatedOversample = 16;
// The block size l for the top `rank` of a k×d matrix.
inline std::int64_t truncated_block(std::int64_t rank, std::int64_t k, std::int64_t d) {
  const std::int64_t most = std::min(k, d);
  return rank > most - kTruncatedOversample ? most : rank + kTruncatedOversample;  // (rank + 16 could overflow)
}
// A cap on iterations per epoch; the warm start usually settles in 2 or 3.
constexpr int kTruncatedMaxIterations = 100;

template <typename T>
class TruncatedSpectrum {
 public:
  // `seed` draws the first epoch's start block (Philox, as the inputs).
  TruncatedSpectrum(Backend<T>& backend, std::int64_t k, std::int64_t d, std::int64_t rank, std::uint64_t seed);

  // The top `rank` singular values of G (descending), its leading right singular vector with
  // SPEC §4's sign (⟨v, previous⟩ ≥ 0, or without a previous vector its largest entry
  // positive), and the second one. Stops when every one of the top `rank` values has, by its
  // last change and its convergence rate, under a quarter of SPEC §4's tolerance left (the
  // vectors, converging as (σ₂/σ₁)² an iteration, are not tested themselves). The vectors are
  // views into the block: valid until the next call. A non-finite G gives NaN values.
  Spectrum<T> compute(const Buffer<T>& G, const Buffer<T>* previous);

  // Iterations the last `compute` took.
  int iterations() const { return iterations_; }

  // The block (l×d rows, float64) for a checkpoint, and back.
  std::vector<double> save() const;
  void restore(const std::vector<double>& rows);

 private:
  // Sets rotated_ = Pᵀ V from the l×l row-major `rotation`.
  void rotate(const std::vector<T>& rotation);

  Backend<T>& be_;
  std::int64_t k_, d_, r_, l_;
  Buffer<T> V_, Y_, Z_, rotation_, rotated_, projection_;
  int iterations_ = 0;
};

}  // namespace lowrank
