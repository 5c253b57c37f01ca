// The scalar math of the network, written once for every backend: the CPU backend calls these
// from C++, the CUDA kernels from device code (nvcc sees the __host__ __device__ qualifiers).
// SPEC §3 and §9: the activations with their first and second derivatives, the losses with their
// residuals r = ∂ℓ/∂F, and whether a prediction is right for the classification losses.
#pragma once

#include <cmath>
#include <stdexcept>
#include <type_traits>

#if defined(__CUDACC__)
#define LOWRANK_HD __host__ __device__ __forceinline__
#else
#define LOWRANK_HD inline
#endif

namespace lowrank {

enum class Activation { relu, sigmoid, tanh, softplus, elu, swish, gelu };

// sigmoid(z) = 1 / (1 + e^−z); e^−z overflows to ∞ for very negative z, giving the right 0.
template <typename T>
LOWRANK_HD T sigmoid(T z) {
  using std::exp;
  return T(1) / (T(1) + exp(-z));
}

// The standard normal's density φ(z) and distribution Φ(z) = ½(1 + erf(z/√2)), for gelu.
template <typename T>
LOWRANK_HD T normal_density(T z) {
  using std::exp;
  return T(0.3989422804014327) * exp(T(-0.5) * z * z);  // 1/√(2π)
}
template <typename T>
LOWRANK_HD T normal_cdf(T z) {
  using std::erf;
  return T(0.5) * (T(1) + erf(z * T(0.7071067811865476)));  // 1/√2
}

// σ(z)
template <typename T>
LOWRANK_HD T activate(Activation act, T z) {
  using std::exp;
  using std::expm1;
  using std::log1p;
  using std::tanh;
  switch (act) {
    case Activation::relu: return z > T(0) ? z : T(0);
    case Activation::sigmoid: return sigmoid(z);
    case Activation::tanh: return tanh(z);
    // log(1 + e^z) = max(z, 0) + log(1 + e^−|z|): no overflow for large z, no loss for small.
    case Activation::softplus: return (z > T(0) ? z : T(0)) + log1p(exp(z > T(0) ? -z : z));
    case Activation::elu: return z > T(0) ? z : expm1(z);
    case Activation::swish: return z * sigmoid(z);
    case Activation::gelu: return z * normal_cdf(z);  // the erf form, torch.nn.GELU()'s default
  }
  return z;
}

// f(A) with A = std::integral_constant<Activation, act>: the activation as a constant of the code,
// so that an element-wise loop calling activate(A.value, z) has no switch inside and vectorises.
template <typename F>
decltype(auto) with_activation(Activation act, F&& f) {
  using A = Activation;
  switch (act) {
    case A::relu: return f(std::integral_constant<A, A::relu>{});
    case A::sigmoid: return f(std::integral_constant<A, A::sigmoid>{});
    case A::tanh: return f(std::integral_constant<A, A::tanh>{});
    case A::softplus: return f(std::integral_constant<A, A::softplus>{});
    case A::elu: return f(std::integral_constant<A, A::elu>{});
    case A::swish: return f(std::integral_constant<A, A::swish>{});
    case A::gelu: return f(std::integral_constant<A, A::gelu>{});
  }
  throw std::invalid_argument("with_activation: not an activation");
}

// σ'(z); relu'(0) = 0, as the seed's (x > 0).float().
template <typename T>
LOWRANK_HD T activate_derivative(Activation act, T z) {
  using std::exp;
  using std::tanh;
  switch (act) {
    case Activation::relu: return z > T(0) ? T(1) : T(0);
    case Activation::sigmoid: {
      const T s = sigmoid(z);
      return s * (T(1) - s);
    }
    case Activation::tanh: {
      const T t = tanh(z);
      return T(1) - t * t;
    }
    case Activation::softplus: return sigmoid(z);
    case Activation::elu: return z > T(0) ? T(1) : exp(z);
    case Activation::swish: {
      const T s = sigmoid(z);
      return s + z * s * (T(1) - s);
    }
    case Activation::gelu: return normal_cdf(z) + z * normal_density(z);
  }
  return z;
}

// σ''(z); relu'' = 0 (the notebook's, everywhere).
template <typename T>
LOWRANK_HD T activate_second_derivative(Activation act, T z) {
  using std::exp;
  using std::tanh;
  switch (act) {
    case Activation::relu: return T(0);
    case Activation::sigmoid:
    case Activation::softplus: {  // softplus' is the sigmoid
      const T s = sigmoid(z);
      const T ds = s * (T(1) - s);
      return act == Activation::sigmoid ? ds * (T(1) - T(2) * s) : ds;
    }
    case Activation::tanh: {
      const T t = tanh(z);
      return T(-2) * t * (T(1) - t * t);
    }
    case Activation::elu: return z > T(0) ? T(0) : exp(z);
    case Activation::swish: {
      const T s = sigmoid(z);
      return s * (T(1) - s) * (T(2) + z * (T(1) - T(2) * s));
    }
    case Activation::gelu: return normal_density(z) * (T(2) - z * z);
  }
  return z;
}

// The per-sample losses ℓ(F, y); L is their mean over the samples (SPEC §9).
enum class Loss { mse, half_mse, bce, hinge };

// ℓ(F, y): mse (F − y)² (no ½: what the seed trains on); half_mse ½(F − y)²; bce
// −y log p − (1 − y) log(1 − p) with p = sigmoid(F), computed as softplus(F) − yF; hinge
// max(0, 1 − yF).
template <typename T>
LOWRANK_HD T sample_loss(Loss loss, T prediction, T target) {
  const T e = prediction - target;
  switch (loss) {
    case Loss::mse: return e * e;
    case Loss::half_mse: return T(0.5) * e * e;
    case Loss::bce: return activate(Activation::softplus, prediction) - target * prediction;
    case Loss::hinge: {
      const T margin = T(1) - target * prediction;
      return margin > T(0) ? margin : T(0);
    }
  }
  return e;
}

// The residual r = ∂ℓ/∂F: 2(F − y), F − y, sigmoid(F) − y, and −y where yF < 1 (else 0).
template <typename T>
LOWRANK_HD T sample_residual(Loss loss, T prediction, T target) {
  switch (loss) {
    case Loss::mse: return T(2) * (prediction - target);
    case Loss::half_mse: return prediction - target;
    case Loss::bce: return sigmoid(prediction) - target;
    case Loss::hinge: return target * prediction < T(1) ? -target : T(0);
  }
  return prediction;
}

// Whether the loss is a classifier's, whose accuracy the file records.
LOWRANK_HD bool is_classification(Loss loss) { return loss == Loss::bce || loss == Loss::hinge; }

// Whether F predicts the label's class (SPEC §9): bce, F is a logit, so class 1 is p = sigmoid(F) > ½,
// i.e. F > 0, against y > ½ (its labels f*(x) are in [0, 1]); hinge, the sign of F against y = ±1.
template <typename T>
LOWRANK_HD bool predicts_class(Loss loss, T prediction, T target) {
  const T label_cut = loss == Loss::bce ? T(0.5) : T(0);
  return (prediction > T(0)) == (target > label_cut);
}

}  // namespace lowrank
