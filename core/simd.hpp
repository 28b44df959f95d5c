// Run-time choice of the instruction set for the library's own hot loops. For the
// library's .cpp files; not part of the umbrella header.
//
// MINICNN_SIMD_CLONES before a function compiles it three times, for x86-64 with
// AVX-512 (x86-64-v4), with AVX2 and FMA (x86-64-v3) and for the baseline, and the
// loader picks the widest the CPU has (GCC's target_clones, resolved once per process
// through an ifunc). So a library built once runs AVX-512 loops on AVX-512 machines and
// still runs on any x86-64. The files that use it are compiled with -ffp-contract=off
// (CMakeLists.txt): no clone fuses a multiply and an add the baseline keeps apart, so
// every clone computes the same bits. Empty elsewhere, where the build already targets
// AVX-512 (MINICNN_NATIVE on such a machine), and under ThreadSanitizer, whose
// instrumented programs crashed at start in the clones' resolvers (the resolvers run
// while the loader relocates the library, before the sanitizer's runtime is up).
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__AVX512F__) && \
    defined(__ELF__) && !defined(__SANITIZE_THREAD__)
#define MINICNN_SIMD_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MINICNN_SIMD_CLONES
#endif

namespace minicnn {

// The CPU runs AVX-512F: for loops compiled with GCC's target("avx512f") attribute
// (im2col's stride-2 rows, the strided path), asked once per process. False where the
// compiler has no __builtin_cpu_supports for x86 (another compiler or machine).
inline bool cpu_has_avx512f() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
#else
  return false;
#endif
}

}  // namespace minicnn
