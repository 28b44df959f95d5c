#include "heap.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "tensor.hpp"

namespace minicnn {
namespace {

std::atomic<HeapPolicy> g_policy{HeapPolicy::unset};

HeapPolicy decide() {
  if (choose_heap_policy(std::getenv("MINICNN_HEAP"), std::getenv("GLIBC_TUNABLES")) ==
      HeapPolicy::system)
    return HeapPolicy::system;
#if defined(__GLIBC__)
  // mallopt returns 1 when it takes a setting; the mmap threshold first, as fixing it
  // also stops glibc from moving the trim threshold on its own.
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(kHeapMmapBytes)) == 1 &&
      mallopt(M_TRIM_THRESHOLD, static_cast<int>(kHeapTrimBytes)) == 1)
    return HeapPolicy::kept;
#endif
  return HeapPolicy::refused;
}

}  // namespace

HeapPolicy choose_heap_policy(const char* minicnn_heap, const char* glibc_tunables) {
  if (minicnn_heap != nullptr) {
    if (std::strcmp(minicnn_heap, "system") == 0) return HeapPolicy::system;
    if (std::strcmp(minicnn_heap, "keep") == 0) return HeapPolicy::kept;
    throw Error(std::string("MINICNN_HEAP must be 'keep' or 'system', got '") + minicnn_heap +
                "'");
  }
  if (glibc_tunables != nullptr && std::strstr(glibc_tunables, "glibc.malloc.") != nullptr)
    return HeapPolicy::system;
  return HeapPolicy::kept;
}

HeapPolicy apply_heap_policy() {
  const HeapPolicy p = g_policy.load();
  if (p != HeapPolicy::unset) return p;
  static std::mutex m;
  std::lock_guard<std::mutex> lock(m);
  if (g_policy.load() == HeapPolicy::unset) g_policy.store(decide());
  return g_policy.load();
}

HeapPolicy heap_policy() { return g_policy.load(); }

std::string to_string(HeapPolicy p) {
  switch (p) {
    case HeapPolicy::unset: return "unset";
    case HeapPolicy::kept: return "kept";
    case HeapPolicy::system: return "system";
    case HeapPolicy::refused: return "refused";
  }
  return "unknown";
}

}  // namespace minicnn
