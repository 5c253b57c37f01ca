// Overloads of the CBLAS and LAPACKE routines the CPU backend uses, one name for float and double.
#pragma once

#include <cblas.h>
#include <lapacke.h>

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

// Householder QR of the column-major m×n A, and the m×n Q it defines (LAPACK ?geqrf, ?orgqr).
inline void ger(int m, int n, float alpha, const float* x, const float* y, float* A, int lda) {
  cblas_sger(CblasRowMajor, m, n, alpha, x, 1, y, 1, A, lda);
}
inline void ger(int m, int n, double alpha, const double* x, const double* y, double* A, int lda) {
  cblas_dger(CblasRowMajor, m, n, alpha, x, 1, y, 1, A, lda);
}
inline lapack_int geqrf(int m, int n, float* A, int lda, float* tau) {
  return LAPACKE_sgeqrf(LAPACK_COL_MAJOR, m, n, A, lda, tau);
}
inline lapack_int geqrf(int m, int n, double* A, int lda, double* tau) {
  return LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, n, A, lda, tau);
}
inline lapack_int orgqr(int m, int n, float* A, int lda, const float* tau) {
  return LAPACKE_sorgqr(LAPACK_COL_MAJOR, m, n, n, A, lda, tau);
}
inline lapack_int orgqr(int m, int n, double* A, int lda, const double* tau) {
  return LAPACKE_dorgqr(LAPACK_COL_MAJOR, m, n, n, A, lda, tau);
}

}  // namespace lowrank::blas
