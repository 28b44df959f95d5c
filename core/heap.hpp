// What minicnn asks of the C heap its tensors live on.
//
// Tensors (xt::xarray's std::allocator, so malloc) are made fresh by every layer and
// freed at the end of each step. With glibc's defaults, a free that leaves more than a
// few MiB at the top of the heap gives that memory back to the kernel, and a block above
// the mmap threshold is unmapped on free; the next step then faults the same pages in
// again and the kernel zeroes each one. On a ResNet BasicBlock at 28² that was a third
// of the step's time (bench_models' Residual rows).
//
// So, once per process, when minicnn first sets up its threads (the first parallel loop
// or GEMM, or set_num_threads), it raises glibc's trim threshold to kHeapTrimBytes and
// fixes the mmap threshold at kHeapMmapBytes (glibc's ceiling): memory a step frees
// stays in the process for the next one. The peak is the same; what changes is that up
// to kHeapTrimBytes of freed memory is kept after the last step too (malloc_trim(0)
// hands it back).
//
// The environment variable MINICNN_HEAP chooses: "system" leaves the C library's
// defaults, "keep" applies the policy; unset, it is applied unless GLIBC_TUNABLES
// already sets a glibc.malloc tunable (the user's own choice). C libraries without
// mallopt, or where it refuses (sanitizers replace malloc), keep their own.
#pragma once

#include <cstddef>
#include <string>

namespace minicnn {

inline constexpr std::size_t kHeapTrimBytes = std::size_t{1} << 30;
inline constexpr std::size_t kHeapMmapBytes = std::size_t{32} << 20;

enum class HeapPolicy {
  unset,     // minicnn has not set up its threads yet
  kept,      // the thresholds above are in force
  system,    // left to the C library (MINICNN_HEAP=system or a glibc.malloc tunable)
  refused,   // no mallopt here, or it refused the setting
};

// What the two environment variables (null when unset) ask for: kept or system.
// Throws Error naming MINICNN_HEAP when it is set to anything but "keep" or "system".
HeapPolicy choose_heap_policy(const char* minicnn_heap, const char* glibc_tunables);

// Applies the policy the first time (from any thread), later calls return what it did.
HeapPolicy apply_heap_policy();
// What the first apply_heap_policy() did, without applying it: unset before.
HeapPolicy heap_policy();
std::string to_string(HeapPolicy p);

}  // namespace minicnn
