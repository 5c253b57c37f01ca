// The CPU backend: OpenBLAS for the products, LAPACK (host/numerics/spectral) for the spectra, and the
// shared scalar math for the element-wise work, on the calling thread (see set_cpu_threads).
#pragma once

#include <memory>

#include "backend.hpp"

namespace lowrank {

template <typename T>
std::unique_ptr<Backend<T>> make_cpu_backend();

// Threads for OpenBLAS (its products and factorisations); 0: every core.
void set_cpu_threads(int threads);
int cpu_threads();

}  // namespace lowrank
