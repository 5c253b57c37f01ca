// How a run's weights move: the optimiser seam (SPEC §11, torch.optim's semantics). The epoch
// measures at W_t, asks its optimiser for W_{t+1} from W_t and ∇_W L(W_t), and measures again.
// An optimiser's state (momentum's buffer, Adam's moments) is rows of kRunTensors, so that
// checkpoints, resume and the memory estimate follow; the step count s is the epoch's (one step
// an epoch on the full batch), so it needs no row of its own.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "backend.hpp"
#include "config.hpp"
#include "optimizer_math.hpp"
#include "run_tensors.hpp"

namespace lowrank {

template <typename T>
using RunTensors = std::array<Buffer<T>, kRunTensorCount>;

template <typename T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // tensors[W] ← W_{t+1}, from W_t and tensors[G] = ∇_W L(W_t), at step s = t + 1 ≥ 1 (and the
  // optimiser's own rows of `tensors`); then every row to unit norm if the run says so.
  virtual void advance(Backend<T>& be, RunTensors<T>& tensors, std::int64_t step) = 0;
};

// Full-batch gradient descent (gd; sgd on the full batch), W ← W − η ∇: the seed's step.
template <typename T>
class GradientDescent final : public Optimizer<T> {
 public:
  GradientDescent(double lr, bool normalize_rows) : lr_(lr), normalize_rows_(normalize_rows) {}
  void advance(Backend<T>& be, RunTensors<T>& t, std::int64_t) override {
    be.step(t[std::size_t(RunTensor::W)], t[std::size_t(RunTensor::G)], lr_, normalize_rows_);
  }

 private:
  double lr_;
  bool normalize_rows_;
};

// Heavy-ball momentum (torch.optim.SGD with momentum μ, dampening 0, nesterov or not).
template <typename T>
class Momentum final : public Optimizer<T> {
 public:
  Momentum(const RunSpec& run) : normalize_rows_(run.normalize_rows) {
    rule_.kind = UpdateKind::momentum;
    rule_.lr = run.lr;
    rule_.momentum = run.optimizer.momentum;
    rule_.nesterov = run.optimizer.nesterov;
  }
  void advance(Backend<T>& be, RunTensors<T>& t, std::int64_t) override {
    be.optimizer_step(t[std::size_t(RunTensor::W)], t[std::size_t(RunTensor::G)],
                      t[std::size_t(RunTensor::momentum_buffer)], nullptr, rule_, normalize_rows_);
  }

 private:
  UpdateRule rule_;
  bool normalize_rows_;
};

// Adam, and AdamW with its decoupled decay (torch.optim.Adam / AdamW, amsgrad off).
template <typename T>
class Adam final : public Optimizer<T> {
 public:
  Adam(const RunSpec& run) : run_(run) {}
  void advance(Backend<T>& be, RunTensors<T>& t, std::int64_t step) override {
    const OptimizerSpec& o = run_.optimizer;
    const double decay = o.kind == OptimizerKind::adamw ? o.decoupled_weight_decay : 0.0;
    be.optimizer_step(t[std::size_t(RunTensor::W)], t[std::size_t(RunTensor::G)], t[std::size_t(RunTensor::adam_m)],
                      &t[std::size_t(RunTensor::adam_v)], adam_rule(run_.lr, o.beta1, o.beta2, o.eps, decay, step),
                      run_.normalize_rows);
  }

 private:
  const RunSpec& run_;
};

// The optimiser `run` trains with.
template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const RunSpec& run) {
  switch (run.optimizer.kind) {
    case OptimizerKind::gd:
    case OptimizerKind::sgd: return std::make_unique<GradientDescent<T>>(run.lr, run.normalize_rows);
    case OptimizerKind::momentum: return std::make_unique<Momentum<T>>(run);
    case OptimizerKind::adam:
    case OptimizerKind::adamw: return std::make_unique<Adam<T>>(run);
  }
  return nullptr;
}

}  // namespace lowrank
