#include "ops.hpp"

#include <algorithm>
#include <cmath>

#include "parallel.hpp"

namespace minicnn {

void add_bias(float* y, const float* b, std::size_t N, std::size_t K, std::size_t P) {
  parallel_for(N * K, [&](std::size_t i) {
    const float bk = b[i % K];
    float* row = y + i * P;
    for (std::size_t p = 0; p < P; ++p) row[p] += bk;
  }, N * K * P);
}

void add_bias_grad(const float* dy, float* db, std::size_t N, std::size_t K, std::size_t P) {
  // One channel per iteration, its sum in a fixed order: the same at any thread count.
  parallel_for(K, [&](std::size_t k) {
    double s = 0.0;
    for (std::size_t n = 0; n < N; ++n) {
      const float* row = dy + (n * K + k) * P;
      for (std::size_t p = 0; p < P; ++p) s += row[p];
    }
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
