#include "blas.hpp"
#include "blas_hold.hpp"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include <cblas.h>

#include "heap.hpp"
#include "tensor.hpp"

namespace minicnn {
namespace {

CBLAS_TRANSPOSE to_cblas(Op op) {
  switch (op) {
    case Op::N: return CblasNoTrans;
    case Op::T: return CblasTrans;
    case Op::C: return CblasConjTrans;
  }
  return CblasNoTrans;
}

// Checks that each stored matrix's row stride covers its stored column count, so a
// wrong ld fails here with a message instead of reading past a buffer inside BLAS.
void check_ld(const char* who, const char* name, Op op, std::size_t rows_op,
              std::size_t cols_op, std::size_t ld) {
  const std::size_t stored_cols = op == Op::N ? cols_op : rows_op;
  if (ld < stored_cols || ld == 0) {
    throw Error(std::string(who) + ": row stride of " + name + " is " + std::to_string(ld) +
                ", less than its " + std::to_string(stored_cols) + " stored columns");
  }
}

std::atomic<int> g_threads{0};
// BLAS calls hold it shared, set_num_threads exclusively: OpenBLAS must not change its
// thread count (and its per-thread buffers) while a call of another thread runs in it.
std::shared_mutex g_blas_mutex;
// BlasHolds alive on this thread (the lock is held shared while it is above 0).
thread_local int t_holds = 0;
// Calls of set_num_threads waiting for the lock or holding it. glibc's lock lets readers
// in while a writer waits (it must: a team's threads take it while their master holds
// it and waits for them at the region's end), so two threads whose BLAS work overlapped
// without a gap kept set_num_threads waiting for ever. A thread's first hold and its
// unheld calls wait here first, team holds excepted (blas_hold.hpp): the holds in flight
// end, the setting goes through, then they go on.
std::atomic<int> g_changing{0};

void wait_for_setting() {
  for (int c = g_changing.load(); c != 0; c = g_changing.load()) g_changing.wait(c);
}

// f() under the lock, unless this thread holds it already.
template <class F>
void with_blas(F&& f) {
  if (t_holds > 0) return f();
  wait_for_setting();
  std::shared_lock<std::shared_mutex> lock(g_blas_mutex);
  f();
}

int default_threads() {
  if (const char* env = std::getenv("MINICNN_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1 && n <= 1024) return static_cast<int>(n);
    throw Error(std::string("MINICNN_NUM_THREADS must be an integer in [1, 1024], got '") +
                env + "'");
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Waits for the BLAS calls in flight, then sets the count for the calls after it; with
// `if_unset`, only if no count was set meanwhile (the default, applied on first use,
// must not undo a set_num_threads another thread made at the same time). The heap's
// policy (heap.hpp) is set up with the threads, once: both are the process's setting
// for computing.
void apply_threads(int n, bool if_unset = false) {
  if (t_holds > 0)
    throw Error("set_num_threads: called on a thread that holds BLAS (a BlasHold is alive)");
  apply_heap_policy();
  struct Changing {  // counted while it waits and sets, however it leaves
    Changing() { g_changing.fetch_add(1); }
    ~Changing() {
      g_changing.fetch_sub(1);
      g_changing.notify_all();
    }
  } changing;
  std::unique_lock<std::shared_mutex> lock(g_blas_mutex);
  if (if_unset && g_threads.load() != 0) return;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  g_threads.store(n);
}

void ensure_threads() {
  if (g_threads.load() != 0) return;
  static std::once_flag once;  // two threads starting at once apply the default once
  std::call_once(once, [] {
    if (g_threads.load() == 0) apply_threads(default_threads(), /*if_unset=*/true);
  });
}

// What sgemm and cgemm check and set up before BLAS runs; false when C is empty.
bool gemm_ready(const char* who, Op op_a, Op op_b, std::size_t M, std::size_t N, std::size_t K,
                std::size_t lda, std::size_t ldb, std::size_t ldc) {
  if (M == 0 || N == 0) return false;
  check_ld(who, "A", op_a, M, K, lda);
  check_ld(who, "B", op_b, K, N, ldb);
  check_ld(who, "C", Op::N, M, N, ldc);
  ensure_threads();
  return true;
}

}  // namespace

void sgemm(Op op_a, Op op_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
           const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta,
           float* C, std::size_t ldc) {
  if (!gemm_ready("sgemm", op_a, op_b, M, N, K, lda, ldb, ldc)) return;
  with_blas([&] {
    cblas_sgemm(CblasRowMajor, to_cblas(op_a), to_cblas(op_b), static_cast<blasint>(M),
                static_cast<blasint>(N), static_cast<blasint>(K), alpha, A,
                static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C,
                static_cast<blasint>(ldc));
  });
}

void cgemm(Op op_a, Op op_b, std::size_t M, std::size_t N, std::size_t K,
           std::complex<float> alpha, const std::complex<float>* A, std::size_t lda,
           const std::complex<float>* B, std::size_t ldb, std::complex<float> beta,
           std::complex<float>* C, std::size_t ldc) {
  if (!gemm_ready("cgemm", op_a, op_b, M, N, K, lda, ldb, ldc)) return;
  with_blas([&] {
    cblas_cgemm(CblasRowMajor, to_cblas(op_a), to_cblas(op_b), static_cast<blasint>(M),
                static_cast<blasint>(N), static_cast<blasint>(K), &alpha, A,
                static_cast<blasint>(lda), B, static_cast<blasint>(ldb), &beta, C,
                static_cast<blasint>(ldc));
  });
}

void set_num_threads(int n) {
  // The same bound as MINICNN_NUM_THREADS: far more threads than that is a mistake.
  check_arg(n >= 1 && n <= 1024, "set_num_threads", "n", "in [1, 1024]", std::to_string(n));
  apply_threads(n);
}

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name != nullptr ? std::string(name) : std::string("unknown");
}

int num_threads() {
  ensure_threads();
  return g_threads.load();
}

BlasHold::BlasHold() {
  if (t_holds == 0) {
    ensure_threads();  // the first setting takes the lock exclusively: before holding it
    wait_for_setting();
    g_blas_mutex.lock_shared();
  }
  ++t_holds;
}

BlasHold::BlasHold(Team) {
  if (t_holds == 0) {
    ensure_threads();
    g_blas_mutex.lock_shared();
  }
  ++t_holds;
}

BlasHold::~BlasHold() {
  if (--t_holds == 0) g_blas_mutex.unlock_shared();
}

}  // namespace minicnn
