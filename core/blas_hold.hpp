// Holding the BLAS lock for a loop of many BLAS calls. For the library's .cpp files; not
// part of the umbrella header.
//
// sgemm and cgemm (blas.hpp) each take a shared lock, so that set_num_threads cannot
// change OpenBLAS under a call in flight. While a BlasHold lives, calls on its thread
// skip that lock: the hold is the lock, taken once. For loops that make many BLAS calls
// per thread (a Winograd pass makes one per point and block): a lock per call, its count
// shared by the cores, had cost a ResNet-20 training step 13% to 30% of its time.
//
// A set_num_threads that is waiting makes new holds and unheld calls wait until it is
// done (a thread's first hold, that is; holds nest freely), so that threads whose holds
// overlap cannot keep it waiting for ever. Hence the rules:
// - A parallel region whose threads hold BLAS is started under a hold of the thread that
//   starts it, and its threads take team holds (BlasHold(BlasHold::team)), which never
//   wait: a region's thread waiting for the setting while its master holds the lock and
//   waits for it at the region's end would never move. blas_region (parallel.hpp) is
//   such a region; the library's regions that make BLAS calls all go through it.
// - A thread that holds must not wait for another thread's BLAS work (other than its
//   region's team): the setting would wait for the hold, the other thread for the
//   setting.
// - set_num_threads on a thread that holds is an Error (it would wait for itself).
#pragma once

namespace minicnn {

class BlasHold {
 public:
  struct Team {};
  static constexpr Team team{};

  BlasHold();  // the caller's hold; a first hold waits for a pending set_num_threads
  explicit BlasHold(Team);  // a hold by a thread of a region started under one: no wait
  ~BlasHold();
  BlasHold(const BlasHold&) = delete;
  BlasHold& operator=(const BlasHold&) = delete;
};

}  // namespace minicnn
