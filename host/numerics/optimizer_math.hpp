// The optimisers' element-wise updates (SPEC §11, torch.optim's semantics with dampening 0),
// written once for every backend: the CPU backend's row loop and the CUDA backend's fused row
// kernel both call update_weight for each entry, then renormalise the row if the run says so.
#pragma once

#include <cmath>

#include "scalar_math.hpp"

namespace lowrank {

enum class UpdateKind { momentum, adam };

// One step's coefficients, fixed by the host before the pass: for Adam at step s, the bias
// corrections are folded in as torch.optim.Adam does (step_size = η/(1−β₁ˢ), √(1−β₂ˢ)), and
// AdamW's decoupled decay as the factor 1 − ηλ_w (1 for Adam).
struct UpdateRule {
  UpdateKind kind = UpdateKind::momentum;
  double lr = 0;
  double momentum = 0;  // μ
  bool nesterov = false;
  double beta1 = 0, beta2 = 0, eps = 0;
  double step_size = 0, bias2_sqrt = 1, decay_factor = 1;
};

// The rule for Adam (and AdamW, decoupled_decay > 0) at step s ≥ 1.
inline UpdateRule adam_rule(double lr, double beta1, double beta2, double eps, double decoupled_decay, long long s) {
  UpdateRule u;
  u.kind = UpdateKind::adam;
  u.lr = lr;
  u.beta1 = beta1;
  u.beta2 = beta2;
  u.eps = eps;
  u.step_size = lr / (1 - std::pow(beta1, static_cast<double>(s)));
  u.bias2_sqrt = std::sqrt(1 - std::pow(beta2, static_cast<double>(s)));
  u.decay_factor = 1 - lr * decoupled_decay;
  return u;
}

// The new weight from w and the gradient g, updating the state in place:
// momentum: b ← μ b + g; w − η b (nesterov: w − η (g + μ b)). b starts at 0, so b = g at s = 1.
// adam: w ← w (1 − ηλ_w); m ← β₁ m + (1 − β₁) g; v ← β₂ v + (1 − β₂) g²;
//       w − step_size · m / (√v / √(1 − β₂ˢ) + ε).
template <typename T>
LOWRANK_HD T update_weight(const UpdateRule& u, T w, T g, T& first, T& second) {
  using std::sqrt;
  if (u.kind == UpdateKind::momentum) {
    const T mu = static_cast<T>(u.momentum);
    first = mu * first + g;
    return w - static_cast<T>(u.lr) * (u.nesterov ? g + mu * first : first);
  }
  const T b1 = static_cast<T>(u.beta1), b2 = static_cast<T>(u.beta2);
  w *= static_cast<T>(u.decay_factor);
  first = b1 * first + (T(1) - b1) * g;
  second = b2 * second + (T(1) - b2) * g * g;
  return w - static_cast<T>(u.step_size) * first / (sqrt(second) / static_cast<T>(u.bias2_sqrt) + static_cast<T>(u.eps));
}

}  // namespace lowrank
