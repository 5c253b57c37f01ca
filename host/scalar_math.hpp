// The scalar math of the network, written once for every backend: the CPU backend calls these
// from C++, the CUDA kernels from device code (nvcc sees the __host__ __device__ qualifiers).
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define LOWRANK_HD __host__ __device__ __forceinline__
#else
#define LOWRANK_HD inline
#endif

namespace lowrank {

enum class Activation { relu, sigmoid, tanh };

// σ(z)
template <typename T>
LOWRANK_HD T activate(Activation act, T z) {
  using std::exp;
  using std::tanh;
  switch (act) {
    case Activation::relu: return z > T(0) ? z : T(0);
    case Activation::sigmoid: return T(1) / (T(1) + exp(-z));
    case Activation::tanh: return tanh(z);
  }
  return z;
}

// σ'(z); relu'(0) = 0, as the seed's (x > 0).float().
template <typename T>
LOWRANK_HD T activate_derivative(Activation act, T z) {
  using std::exp;
  using std::tanh;
  switch (act) {
    case Activation::relu: return z > T(0) ? T(1) : T(0);
    case Activation::sigmoid: {
      const T s = T(1) / (T(1) + exp(-z));
      return s * (T(1) - s);
    }
    case Activation::tanh: {
      const T t = tanh(z);
      return T(1) - t * t;
    }
  }
  return z;
}

// The MSE loss of one sample, (F − y)², without the ½: what the seed trains on.
template <typename T>
LOWRANK_HD T sample_loss(T prediction, T target) {
  const T e = prediction - target;
  return e * e;
}

// ∂ℓ/∂F of that loss: the residual r = 2(F − y).
template <typename T>
LOWRANK_HD T sample_residual(T prediction, T target) {
  return T(2) * (prediction - target);
}

}  // namespace lowrank
