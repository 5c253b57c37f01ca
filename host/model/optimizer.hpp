// How a run's weights move: the optimiser seam. The epoch measures at W_t, asks its optimiser for
// W_{t+1} from W_t and ∇_W L(W_t), and measures again. Gradient descent with the seed's row
// renormalisation is the first implementation; an optimiser with state of its own (momentum,
// Adam's moments) keeps it as rows of kRunTensors, so that checkpoints, resume and the memory
// estimate follow.
#pragma once

#include <memory>

#include "backend.hpp"
#include "config.hpp"

namespace lowrank {

template <typename T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // W ← W_{t+1}, from W = W_t and G = ∇_W L(W_t).
  virtual void advance(Backend<T>& be, Buffer<T>& W, const Buffer<T>& G) = 0;
};

// Full-batch gradient descent, W ← W − η ∇, then every row to unit norm if the run says so.
template <typename T>
class GradientDescent final : public Optimizer<T> {
 public:
  GradientDescent(double lr, bool normalize_rows) : lr_(lr), normalize_rows_(normalize_rows) {}
  void advance(Backend<T>& be, Buffer<T>& W, const Buffer<T>& G) override { be.step(W, G, lr_, normalize_rows_); }

 private:
  double lr_;
  bool normalize_rows_;
};

// The optimiser `run` trains with.
template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const RunSpec& run) {
  return std::make_unique<GradientDescent<T>>(run.lr, run.normalize_rows);
}

}  // namespace lowrank
