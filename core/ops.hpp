// Small loops that several layers, algorithms and losses share, over raw pointers.
//
// Planes: a tensor (N, K, P) holds N·K planes of P values (P = OH·OW for images, 1 for
// features (N, K)); a bias b (K) belongs to channel k.
#pragma once

#include <cstddef>

namespace minicnn {

// Σ p[i] in double, over eight partial sums in a fixed order (so the adds pipeline and
// vectorise instead of waiting on each other): the same for the same n, at any thread count.
double sum_to_double(const float* p, std::size_t n);
// Σ (p[i] − mean)² and Σ a[i]·b[i], in double the same way.
double sum_sq_dev_to_double(const float* p, std::size_t n, double mean);
double dot_to_double(const float* a, const float* b, std::size_t n);

// y[n,k,:] += b[k]
void add_bias(float* y, const float* b, std::size_t N, std::size_t K, std::size_t P);
// y = x·Wᵀ + b  ⇒  db[k] += Σ_n Σ_p dy[n,k,p], summed in double per channel.
void add_bias_grad(const float* dy, float* db, std::size_t N, std::size_t K, std::size_t P);

// Each of the N rows of K values: y = exp(x − m) / Σ exp(x − m), m the row's maximum
// (y may be x). When lse is given, lse[n] = m + log Σ exp(x − m), in double.
void softmax_rows(const float* x, float* y, std::size_t N, std::size_t K,
                  double* lse = nullptr);

}  // namespace minicnn
