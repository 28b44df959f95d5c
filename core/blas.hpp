// sgemm / cgemm over OpenBLAS, row-major, and the one thread setting of minicnn.
//
// Convention: every matrix is stored row-major with a row stride (ld) >= its stored
// column count. gemm computes
//     C (M×N) = alpha · op(A) (M×K) · op(B) (K×N) + beta · C
// where op(A) is A (stored M×K) for Op::N, Aᵀ (stored K×M) for Op::T and the conjugate
// transpose Aᴴ (stored K×M) for Op::C. Op::C on real data is the same as Op::T.
//
// Threads: minicnn runs its own loops with OpenMP and links the OpenMP build of
// OpenBLAS, so both draw on one pool. set_num_threads() sets that pool for both; a
// BLAS call made from inside one of our parallel loops runs on the calling thread
// only, so the two never oversubscribe the cores. The default comes from the
// environment variable MINICNN_NUM_THREADS, else from the number of cores.
#pragma once

#include <complex>
#include <cstddef>
#include <string>

namespace minicnn {

enum class Op { N, T, C };

void sgemm(Op op_a, Op op_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
           const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta,
           float* C, std::size_t ldc);

void cgemm(Op op_a, Op op_b, std::size_t M, std::size_t N, std::size_t K,
           std::complex<float> alpha, const std::complex<float>* A, std::size_t lda,
           const std::complex<float>* B, std::size_t ldb, std::complex<float> beta,
           std::complex<float>* C, std::size_t ldc);

// Threads for OpenBLAS and our own loops together; n in [1, 1024], else Error. Safe
// to call at any time: it waits for the BLAS calls other threads have in flight, and
// the count applies to every call and loop that starts after it.
void set_num_threads(int n);
int num_threads();

// The kernel family OpenBLAS runs on this CPU ("Haswell", "SkylakeX", ...): what its
// sgemm speed depends on (OPENBLAS_CORETYPE can override the CPU's own choice).
std::string blas_core_name();

}  // namespace minicnn
