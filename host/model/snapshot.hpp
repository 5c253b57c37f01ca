// A snapshot of a run's state (SPEC §6, [output] snapshot_every): W_t, the gradient there, the
// readout, and the gradient's top singular vectors, in float64 on the host, on their way to the
// file's runs/<run>/snapshots/.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "run_tensors.hpp"

namespace lowrank {

struct Snapshot {
  std::int64_t epoch = -1;  // -1: no snapshot
  // The tensors of kRunTensors that have a snapshot_name (W, a, G), row-major; the others empty.
  std::array<std::vector<double>, kRunTensorCount> tensors;
  std::vector<double> grad_left, grad_right;  // r×k and r×d: the top r singular vectors of G, a row each
  bool empty() const { return epoch < 0; }
};

// Sets the snapshot's grad_left and grad_right from its G (k×d): the top `rank` singular
// pairs (u_i, v_i) by a float64 SVD, each pair's sign such that v_1 follows `reference` (d values:
// ⟨v_1, reference⟩ ≥ 0, as grad_top_right_vector's sign) and every other v_i, and v_1 when
// `reference` is empty or orthogonal to it, has its largest entry in magnitude positive. A
// gradient with a non-finite entry gives NaN vectors.
void set_singular_vectors(Snapshot& s, std::int64_t k, std::int64_t d, std::int64_t rank,
                          const std::vector<double>& reference);

// Row of `epoch` in the snapshots of a run of `epochs` epochs taken every `every`-th epoch
// (0, N, 2N, ... < E, then E): ⌈epoch / N⌉; with epoch = E, the count of snapshots before.
inline std::int64_t snapshot_row(std::int64_t epoch, std::int64_t every) { return (epoch + every - 1) / every; }

// Snapshots a run of `epochs` epochs writes: ⌈E / N⌉ during training and one at E.
inline std::int64_t snapshot_count(std::int64_t epochs, std::int64_t every) {
  return every > 0 ? snapshot_row(epochs, every) + 1 : 0;
}

}  // namespace lowrank
