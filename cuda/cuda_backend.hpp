// The CUDA backend: the Backend interface on one GPU, with cuBLAS for the products, cuSOLVER for
// the factorisations and spectra, cuRAND's device generator for the inputs, and the fused
// kernels of kernels.cuh. Only scalars, the spectrum and the leading vector return to the host
// in an epoch.
#pragma once

#include <memory>
#include <string>

#include "backend.hpp"
#include "inputs.hpp"

namespace lowrank {

// Number of usable CUDA devices (0 where there is no driver or no GPU).
int cuda_device_count();

// The backend on device 0; throws when there is none.
template <typename T>
std::unique_ptr<Backend<T>> make_cuda_backend();

// cuRAND's device Philox generator, keyed as the host's: the same draws, generated on the GPU.
RandomSource device_random();

}  // namespace lowrank
