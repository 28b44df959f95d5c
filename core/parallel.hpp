// How many threads a loop gets: the one place that decides it. For the library's own
// .cpp files, which are compiled with OpenMP; not part of the umbrella header.
//
// Starting an OpenMP team costs a few microseconds; below kParallelMin elements touched,
// a loop runs on the calling thread. Above it, a loop takes num_threads() (blas.hpp:
// the one setting for OpenBLAS and our loops). Every loop that goes through here splits
// independent iterations, so its result does not depend on the thread count.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstddef>

#include "blas.hpp"
#include "blas_hold.hpp"

namespace minicnn {

inline constexpr std::size_t kParallelMin = std::size_t{1} << 15;

// n rounded up to a multiple of `to`: work cut into a multiple of the threads.
inline std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Threads for a loop that touches `work` elements in all.
inline int threads_for(std::size_t work) { return work >= kParallelMin ? num_threads() : 1; }

// f(i) for i in [0, n), split across threads when `work` (default: n) elements are
// touched in all.
template <class F>
void parallel_for(std::size_t n, F&& f, std::size_t work = 0) {
  const int threads = threads_for(work ? work : n);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::size_t i = 0; i < n; ++i) f(i);
}

// body() on every thread of a parallel region asked for `threads` threads, with BLAS
// held as blas_hold.hpp asks of a region whose threads make BLAS calls: by the caller
// from before the region starts, and by each of its threads with a team hold, so that
// their GEMMs skip the lock and a pending set_num_threads waits for the region's end.
// body may use OpenMP's worksharing (omp for, barriers) as inside the region itself.
template <class F>
void blas_region(int threads, F&& body) {
  const BlasHold caller;
#pragma omp parallel num_threads(threads)
  {
    const BlasHold hold(BlasHold::team);
    body();
  }
}

// f(part) for every part in [0, parts), in a parallel region asked for `parts` threads:
// each part by one thread, however many threads the region gets. Inside another
// parallel region (a caller's own OpenMP loop) OpenMP runs the inner region on one
// thread; a loop that gives each part its own scratch and its share of the work then
// still does all of it, and adds its parts' sums up as it would with all threads.
// The region holds BLAS (blas_region): the parts' GEMMs skip the lock.
template <class F>
void for_each_part(int parts, F&& f) {
  blas_region(parts, [&] {
    const int team = omp_get_num_threads();
    for (int t = omp_get_thread_num(); t < parts; t += team) f(t);
  });
}

// f(begin, end) over [0, n) cut into runs of kRun elements, the runs split across
// threads when n is large: for loops over elements whose body is a function of its own.
inline constexpr std::size_t kRun = std::size_t{1} << 14;

template <class F>
void parallel_runs(std::size_t n, F&& f) {
  parallel_for((n + kRun - 1) / kRun, [&](std::size_t i) { f(i * kRun, std::min(n, (i + 1) * kRun)); }, n);
}

}  // namespace minicnn
