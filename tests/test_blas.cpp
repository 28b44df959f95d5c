#include <minicnn/core/blas.hpp>
#include <minicnn/core/blas_hold.hpp>
#include <minicnn/core/random.hpp>
#include <minicnn/core/tensor.hpp>

#include <gtest/gtest.h>
#include <omp.h>
#include <chrono>

#include <atomic>
#include <complex>
#include <filesystem>
#include <thread>
#include <vector>

using namespace minicnn;
using cf = std::complex<float>;

namespace {

// Element (i, j) of op(A) where A is stored row-major with row stride ld.
template <class T>
T at(const std::vector<T>& a, Op op, std::size_t i, std::size_t j, std::size_t ld) {
  if (op == Op::N) return a[i * ld + j];
  T v = a[j * ld + i];
  if constexpr (std::is_same_v<T, cf>) {
    if (op == Op::C) v = std::conj(v);
  }
  return v;
}

template <class T>
std::vector<T> random_matrix(std::size_t n, Rng& rng) {
  std::vector<T> v(n);
  for (auto& e : v) {
    if constexpr (std::is_same_v<T, cf>) e = cf(rng.uniform(-1, 1), rng.uniform(-1, 1));
    else e = rng.uniform(-1, 1);
  }
  return v;
}

template <class T>
void check_gemm(Op oa, Op ob, std::size_t M, std::size_t N, std::size_t K) {
  Rng rng(M * 131 + N * 17 + K);
  // Row strides wider than needed, to check that ld is honoured.
  const std::size_t lda = (oa == Op::N ? K : M) + 3, ldb = (ob == Op::N ? N : K) + 1,
                    ldc = N + 2;
  auto A = random_matrix<T>((oa == Op::N ? M : K) * lda, rng);
  auto B = random_matrix<T>((ob == Op::N ? K : N) * ldb, rng);
  auto C = random_matrix<T>(M * ldc, rng);
  auto C0 = C;
  const T alpha = T(0.75f), beta = T(-0.5f);
  if constexpr (std::is_same_v<T, cf>) {
    cgemm(oa, ob, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  } else {
    sgemm(oa, ob, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  }
  for (std::size_t i = 0; i < M; ++i) {
    for (std::size_t j = 0; j < N; ++j) {
      T ref = T(0);
      for (std::size_t k = 0; k < K; ++k) ref += at(A, oa, i, k, lda) * at(B, ob, k, j, ldb);
      ref = alpha * ref + beta * C0[i * ldc + j];
      ASSERT_NEAR(std::abs(C[i * ldc + j] - ref), 0.0, 1e-4 * (1.0 + std::abs(ref)))
          << "M=" << M << " N=" << N << " K=" << K << " at (" << i << "," << j << ")";
    }
    for (std::size_t j = N; j < ldc; ++j) ASSERT_EQ(C[i * ldc + j], C0[i * ldc + j]);
  }
}

}  // namespace

TEST(Blas, SgemmMatchesNaiveLoopEveryTransposition) {
  for (Op oa : {Op::N, Op::T})
    for (Op ob : {Op::N, Op::T})
      for (auto [M, N, K] : {std::tuple{1, 1, 1}, {7, 5, 3}, {13, 1, 9}, {1, 17, 4}, {33, 65, 31}})
        check_gemm<float>(oa, ob, M, N, K);
}

TEST(Blas, CgemmMatchesNaiveLoopEveryTransposition) {
  for (Op oa : {Op::N, Op::T, Op::C})
    for (Op ob : {Op::N, Op::T, Op::C})
      for (auto [M, N, K] : {std::tuple{1, 1, 1}, {7, 5, 3}, {3, 11, 20}, {21, 2, 5}})
        check_gemm<cf>(oa, ob, M, N, K);
}

TEST(Blas, RejectsRowStrideSmallerThanRow) {
  std::vector<float> a(12), b(12), c(12);
  EXPECT_THROW(sgemm(Op::N, Op::N, 3, 4, 4, 1, a.data(), 3, b.data(), 4, 0, c.data(), 4), Error);
  EXPECT_THROW(sgemm(Op::N, Op::N, 3, 4, 4, 1, a.data(), 4, b.data(), 4, 0, c.data(), 2), Error);
}

TEST(Blas, ThreadSettingRoundTrips) {
  const int before = num_threads();
  EXPECT_GE(before, 1);
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(before);
  EXPECT_EQ(num_threads(), before);
  EXPECT_THROW(set_num_threads(0), Error);
}

// OpenBLAS (its OpenMP build) and our loops share one OpenMP pool: however GEMMs and
// parallel loops are mixed, the process never holds more threads than the setting.
TEST(Blas, BlasAndOurLoopsShareOneThreadPool) {
  const int before = num_threads();
  set_num_threads(2);
  const std::size_t n = 256;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(2 * n * n);
  sgemm(Op::N, Op::N, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
#pragma omp parallel for num_threads(2)
  for (int t = 0; t < 2; ++t)
    sgemm(Op::N, Op::N, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data() + t * n * n, n);
  std::size_t tasks = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)e;
    ++tasks;
  }
  // gtest's main thread is the pool's first thread.
  EXPECT_LE(tasks, 2u);
  EXPECT_FLOAT_EQ(c[n * n + 7], 0.5f * 0.25f * n);
  set_num_threads(before);
}

TEST(Blas, GemmsUnderAHoldAndTheSettingAfterIt) {
  // Calls under a (nested) BlasHold give what calls without one give; setting the
  // threads while this thread holds BLAS is an Error, not a wait for itself; after the
  // holds end it works, also while another thread's GEMMs run under their own holds.
  const int before = num_threads();
  std::vector<float> a(64 * 64, 0.5f), b(64 * 64, 0.25f), c(64 * 64), d(64 * 64);
  sgemm(Op::N, Op::N, 64, 64, 64, 1.0f, a.data(), 64, b.data(), 64, 0.0f, c.data(), 64);
  {
    const BlasHold outer;
    {
      const BlasHold inner;
      sgemm(Op::N, Op::N, 64, 64, 64, 1.0f, a.data(), 64, b.data(), 64, 0.0f, d.data(), 64);
      EXPECT_THROW(set_num_threads(1), Error);
    }
    EXPECT_THROW(set_num_threads(1), Error);
  }
  EXPECT_EQ(c, d);
  EXPECT_EQ(num_threads(), before);
  std::atomic<bool> done{false};
  std::thread worker([&] {
    std::vector<float> e(64 * 64);
    for (int i = 0; i < 200; ++i) {
      const BlasHold hold;
      sgemm(Op::N, Op::N, 64, 64, 64, 1.0f, a.data(), 64, b.data(), 64, 0.0f, e.data(), 64);
    }
    done = true;
  });
  set_num_threads(1);
  set_num_threads(before);
  worker.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(num_threads(), before);
}

// A pending setting stops new holds, not team holds: a region started under its caller's
// hold, whose threads take team holds while the setting waits for that caller, ends, and
// then the setting goes through.
TEST(Blas, TeamHoldsDoNotWaitForAPendingSetting) {
  const int before = num_threads();
  set_num_threads(2);
  std::vector<float> a(64 * 64, 0.5f), b(64 * 64, 0.25f), c(2 * 64 * 64);
  std::atomic<bool> set{false};
  std::thread setter;
  {
    const BlasHold caller;
    setter = std::thread([&] {
      set_num_threads(1);
      set = true;
    });
    // Give the setter time to start waiting for this thread's hold.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
#pragma omp parallel num_threads(2)
    {
      const BlasHold hold(BlasHold::team);
      const int t = omp_get_thread_num();
      sgemm(Op::N, Op::N, 64, 64, 64, 1.0f, a.data(), 64, b.data(), 64, 0.0f,
            c.data() + t * 64 * 64, 64);
    }
    EXPECT_FALSE(set.load());  // still waiting for the caller's hold
  }
  setter.join();
  EXPECT_TRUE(set.load());
  EXPECT_EQ(num_threads(), 1);
  EXPECT_FLOAT_EQ(c[5], 0.5f * 0.25f * 64);
  EXPECT_FLOAT_EQ(c[64 * 64 + 5], 0.5f * 0.25f * 64);
  set_num_threads(before);
}
