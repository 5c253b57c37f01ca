// The CPU backend: OpenBLAS for the products, LAPACK (host/spectral) for the spectra, and the
// shared scalar math for the element-wise work, parallel over rows with OpenMP.
#pragma once

#include <memory>

#include "backend.hpp"

namespace lowrank {

template <typename T>
std::unique_ptr<Backend<T>> make_cpu_backend();

// Threads for OpenBLAS and the element-wise loops; 0 keeps the machine's count.
void set_cpu_threads(int threads);
int cpu_threads();

}  // namespace lowrank
