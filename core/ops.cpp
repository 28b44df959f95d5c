#include "ops.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "parallel.hpp"
#include "simd.hpp"

namespace minicnn {

namespace {

// Σ term(i) over i < n in double, over kParts partial sums: part j takes i ≡ j (mod
// kParts), in order, and the parts are added last, left to right.
constexpr std::size_t kParts = 8;

template <class Term>
[[gnu::always_inline]] inline double sum_in_parts(std::size_t n, Term term) {
  double part[kParts] = {};
  std::size_t i = 0;
  for (; i + kParts <= n; i += kParts)
    for (std::size_t j = 0; j < kParts; ++j) part[j] += term(i + j);
  for (std::size_t j = 0; i + j < n; ++j) part[j] += term(i + j);
  double s = 0.0;
  for (double v : part) s += v;
  return s;
}

// The same for two sums at once: term(i, u, v) gives the terms u and v of element i.
// (Each group's terms go through arrays before they are added: with the adds inside
// term, GCC vectorised one sum of the two and left the other scalar.)
template <class Term>
[[gnu::always_inline]] inline void sum2_in_parts(std::size_t n, Term term, double* sum_s,
                                                 double* sum_t) {
  double s[kParts] = {}, t[kParts] = {};
  std::size_t i = 0;
  for (; i + kParts <= n; i += kParts) {
    double u[kParts], v[kParts];
    for (std::size_t j = 0; j < kParts; ++j) term(i + j, u[j], v[j]);
    for (std::size_t j = 0; j < kParts; ++j) s[j] += u[j];
    for (std::size_t j = 0; j < kParts; ++j) t[j] += v[j];
  }
  for (std::size_t j = 0; i + j < n; ++j) {
    double u, v;
    term(i + j, u, v);
    s[j] += u;
    t[j] += v;
  }
  double a = 0.0, b = 0.0;
  for (std::size_t j = 0; j < kParts; ++j) {
    a += s[j];
    b += t[j];
  }
  *sum_s = a;
  *sum_t = b;
}

}  // namespace

MINICNN_SIMD_CLONES double sum_to_double(const float* p, std::size_t n) {
  return sum_in_parts(n, [p](std::size_t i) { return static_cast<double>(p[i]); });
}

MINICNN_SIMD_CLONES void moments_to_double(const float* p, std::size_t n, double shift,
                                           double* sum, double* sum_sq) {
  sum2_in_parts(n, [p, shift](std::size_t i, double& u, double& v) {
    const double d = static_cast<double>(p[i]) - shift;
    u = d;
    v = d * d;
  }, sum, sum_sq);
}

MINICNN_SIMD_CLONES void sum_and_dev_dot_to_double(const float* a, const float* b,
                                                   std::size_t n, double mean, double* sum_a,
                                                   double* dot) {
  sum2_in_parts(n, [a, b, mean](std::size_t i, double& u, double& v) {
    u = static_cast<double>(a[i]);
    v = u * (static_cast<double>(b[i]) - mean);
  }, sum_a, dot);
}

MINICNN_SIMD_CLONES void relu_masked_sums_to_double(const float* a, const float* b,
                                                    std::size_t n, float mean, float r,
                                                    float gamma, float beta, double* sum_g,
                                                    double* dot) {
  const double dmean = mean;
  // The select as a mask on the bits (g AND all ones, or AND zero): GCC vectorises that,
  // where it left a ?: on floats or doubles scalar, a branch per element.
  sum2_in_parts(n, [=](std::size_t i, double& u, double& v) {
    const float x = b[i];
    const float y = gamma * ((x - mean) * r) + beta;
    std::uint32_t bits;
    std::memcpy(&bits, a + i, sizeof bits);
    bits &= 0u - static_cast<std::uint32_t>(y > 0.0f);
    float kept;
    std::memcpy(&kept, &bits, sizeof kept);
    u = static_cast<double>(kept);
    v = u * (static_cast<double>(x) - dmean);
  }, sum_g, dot);
}

MINICNN_SIMD_CLONES bool all_finite_run(const float* p, std::size_t n) {
  // NaN and Inf are the floats whose exponent bits are all ones. An OR over integer
  // tests is one pass the compiler vectorises, where a branch per element would not.
  std::uint32_t any = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    any |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return any == 0;
}

bool all_finite(const float* p, std::size_t n) {
  std::atomic<bool> finite{true};
  parallel_runs(n, [&](std::size_t i0, std::size_t i1) {
    if (!all_finite_run(p + i0, i1 - i0)) finite.store(false, std::memory_order_relaxed);
  });
  return finite.load();
}

MINICNN_SIMD_CLONES void relu_run(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = std::max(x[i], 0.0f);
}

MINICNN_SIMD_CLONES void relu_grad_run(const float* dy, const float* x, float* dx, std::size_t n) {
  // Both loaded before the select, so that it compiles to a blend: with the load of dy
  // inside a ?: the compiler branches, and the branch mispredicts on half the elements.
  for (std::size_t i = 0; i < n; ++i) {
    const float g = dy[i], v = x[i];
    dx[i] = v > 0.0f ? g : 0.0f;
  }
}

MINICNN_SIMD_CLONES void add_run(float* a, const float* b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) a[i] += b[i];
}

MINICNN_SIMD_CLONES void add_relu_run(float* a, const float* b, unsigned char* on,
                                      std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float t = a[i] + b[i];
    a[i] = std::max(t, 0.0f);
    on[i] = t > 0.0f ? 1 : 0;
  }
}

MINICNN_SIMD_CLONES void mask_grad_run(const float* dy, const unsigned char* on, float* dx,
                                       std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {  // both loaded before the select, as in relu_grad_run
    const float g = dy[i];
    const unsigned char m = on[i];
    dx[i] = m != 0 ? g : 0.0f;
  }
}

void add_bias(float* y, const float* b, std::size_t N, std::size_t K, std::size_t P) {
  if (P == 1) {  // a Dense layer's rows: one vector add per row, not a row of length 1 per value
    parallel_for(N, [&](std::size_t n) {
      float* row = y + n * K;
      for (std::size_t k = 0; k < K; ++k) row[k] += b[k];
    }, N * K);
    return;
  }
  parallel_for(N * K, [&](std::size_t i) {
    const float bk = b[i % K];
    float* row = y + i * P;
    for (std::size_t p = 0; p < P; ++p) row[p] += bk;
  }, N * K * P);
}

void add_bias_grad(const float* dy, float* db, std::size_t N, std::size_t K, std::size_t P) {
  if (P == 1) {
    // A Dense layer's columns: the same sums in the same order (n = 0, 1, ...), a row of
    // dy at a time into K sums side by side (a call of sum_to_double per value cost
    // more than LeNet's 800 -> 500 layer's bias gradient is worth).
    constexpr std::size_t kColumns = 512;  // per run, summed side by side
    parallel_for((K + kColumns - 1) / kColumns, [&](std::size_t r) {
      const std::size_t k0 = r * kColumns, len = std::min(kColumns, K - k0);
      double s[kColumns] = {};
      for (std::size_t n = 0; n < N; ++n) {
        const float* row = dy + n * K + k0;
        for (std::size_t k = 0; k < len; ++k) s[k] += static_cast<double>(row[k]);
      }
      for (std::size_t k = 0; k < len; ++k) db[k0 + k] += static_cast<float>(s[k]);
    }, N * K);
    return;
  }
  // One channel per iteration, its sum in a fixed order: the same at any thread count.
  parallel_for(K, [&](std::size_t k) {
    double s = 0.0;
    for (std::size_t n = 0; n < N; ++n) s += sum_to_double(dy + (n * K + k) * P, P);
    db[k] += static_cast<float>(s);
  }, N * K * P);
}

void softmax_rows(const float* x, float* y, std::size_t N, std::size_t K, double* lse) {
  // Subtract the row maximum first: the largest exponent is then exp(0) = 1, so no row
  // overflows, whatever the size of its values.
  parallel_for(N, [&](std::size_t n) {
    const float* xr = x + n * K;
    float* yr = y + n * K;
    const float m = *std::max_element(xr, xr + K);
    double sum = 0.0;
    for (std::size_t k = 0; k < K; ++k) {
      yr[k] = std::exp(xr[k] - m);
      sum += yr[k];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (std::size_t k = 0; k < K; ++k) yr[k] *= inv;
    if (lse) lse[n] = static_cast<double>(m) + std::log(sum);
  }, N * K);
}

}  // namespace minicnn
