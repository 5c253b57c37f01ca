// The CUDA backend: the Backend interface on one GPU, with cuBLAS for the products, cuSOLVER for
// the factorisations and spectra, and the fused kernels of kernels.cuh. Only scalars, the
// spectrum and the leading vector return to the host in an epoch. Its inputs are drawn on the
// host like the CPU backend's (host/inputs/inputs): cuRAND's device generator gives float64 normals that
// differ from the host generator's in the last bits (seen on an H200), and the two backends must
// train on bit-identical inputs.
#pragma once

#include <memory>
#include <string>

#include "backend.hpp"

namespace lowrank {

// Number of usable CUDA devices (0 where there is no driver or no GPU).
int cuda_device_count();

// The device of worker `worker` of `workers` in this process (choose_cuda_device over the devices
// present and the process's environment): by its rank on the node, where several share it.
int process_cuda_device(int worker = 0, int workers = 1);

// Free memory on `device`, in bytes (0 when there is no such device).
double cuda_free_memory(int device = 0);

// The backend on `device` (an index among the visible devices: choose_cuda_device), made current
// for the calling thread, which then uses the backend (the runtime's current device is per
// thread); throws when there is no such device.
template <typename T>
std::unique_ptr<Backend<T>> make_cuda_backend(int device = 0);

}  // namespace lowrank
