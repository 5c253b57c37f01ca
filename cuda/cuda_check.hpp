// Status checks for every CUDA, cuBLAS and cuSOLVER call: a failure throws an error
// naming the call, the file and the line.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <stdexcept>
#include <string>

namespace lowrank::cuda {

[[noreturn]] inline void fail(const char* library, const std::string& status, const char* call, const char* file,
                              int line) {
  throw std::runtime_error(std::string(library) + " error " + status + " in " + call + " at " + file + ":" +
                           std::to_string(line));
}

inline void check(cudaError_t s, const char* call, const char* file, int line) {
  if (s != cudaSuccess) fail("CUDA", cudaGetErrorString(s), call, file, line);
}
inline void check(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("cuBLAS", cublasGetStatusString(s), call, file, line);
}
inline void check(cusolverStatus_t s, const char* call, const char* file, int line) {
  if (s != CUSOLVER_STATUS_SUCCESS) fail("cuSOLVER", std::to_string(static_cast<int>(s)), call, file, line);
}

}  // namespace lowrank::cuda

#define LOWRANK_CHECK(call) ::lowrank::cuda::check((call), #call, __FILE__, __LINE__)
