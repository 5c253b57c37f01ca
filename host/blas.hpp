// Overloads of the CBLAS routines the CPU backend uses, one name for float and double.
#pragma once

#include <cblas.h>

namespace lowrank::blas {

inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha, const double* A, int lda,
                 const double* B, int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemv(CBLAS_TRANSPOSE t, int m, int n, float alpha, const float* A, int lda, const float* x, float beta,
                 float* y) {
  cblas_sgemv(CblasRowMajor, t, m, n, alpha, A, lda, x, 1, beta, y, 1);
}
inline void gemv(CBLAS_TRANSPOSE t, int m, int n, double alpha, const double* A, int lda, const double* x,
                 double beta, double* y) {
  cblas_dgemv(CblasRowMajor, t, m, n, alpha, A, lda, x, 1, beta, y, 1);
}

}  // namespace lowrank::blas
