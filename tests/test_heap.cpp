#include <minicnn/core/blas.hpp>
#include <minicnn/core/heap.hpp>
#include <minicnn/core/tensor.hpp>

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <string>
#include <vector>

using namespace minicnn;

namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

}  // namespace

TEST(Heap, ChoosesFromTheEnvironment) {
  EXPECT_EQ(choose_heap_policy(nullptr, nullptr), HeapPolicy::kept);
  EXPECT_EQ(choose_heap_policy("keep", nullptr), HeapPolicy::kept);
  EXPECT_EQ(choose_heap_policy("system", nullptr), HeapPolicy::system);
  // The user's own malloc tunables win unless MINICNN_HEAP asks for the policy.
  EXPECT_EQ(choose_heap_policy(nullptr, "glibc.malloc.trim_threshold=0"), HeapPolicy::system);
  EXPECT_EQ(choose_heap_policy(nullptr, "glibc.pthread.rseq=0"), HeapPolicy::kept);
  EXPECT_EQ(choose_heap_policy("keep", "glibc.malloc.arena_max=1"), HeapPolicy::kept);
  try {
    choose_heap_policy("yes", nullptr);
    FAIL() << "no Error for MINICNN_HEAP=yes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MINICNN_HEAP"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'yes'"), std::string::npos) << e.what();
  }
}

TEST(Heap, SetUpWithTheThreads) {
  num_threads();
  EXPECT_NE(heap_policy(), HeapPolicy::unset);
  EXPECT_EQ(apply_heap_policy(), heap_policy());
}

// The policy's point: a step that frees 160 MiB of tensors and makes them again does
// not fault the pages in a second time. glibc's own thresholds move up to 64 MiB at
// most, so without the policy each round gives the memory back and faults it in again.
TEST(Heap, FreedTensorsAreReusedWithoutPageFaults) {
  num_threads();
  if (heap_policy() != HeapPolicy::kept)
    GTEST_SKIP() << "heap policy " << to_string(heap_policy()) << " in this process";
  constexpr std::size_t kTensors = 40, kFloats = std::size_t{1} << 20;  // 4 MiB each
  const auto round = [] {
    std::vector<Tensor> live;
    for (std::size_t i = 0; i < kTensors; ++i) live.push_back(zeros({kFloats}));  // written, so every page is touched
  };
  round();
  const long before = minor_faults();
  round();
  round();
  const long pages = static_cast<long>(2 * kTensors * kFloats * sizeof(float) / 4096);
  EXPECT_LT(minor_faults() - before, pages / 20) << "of " << pages << " pages touched";
}
