// Small loops that several layers, algorithms and losses share, over raw pointers.
// The hot ones are compiled for AVX-512, AVX2 and the baseline and picked at run time
// (core/simd.hpp), with the same results on each.
//
// Planes: a tensor (N, K, P) holds N·K planes of P values (P = OH·OW for images, 1 for
// features (N, K)); a bias b (K) belongs to channel k.
#pragma once

#include <cstddef>

namespace minicnn {

// Σ p[i] in double, over eight partial sums in a fixed order (so the adds pipeline and
// vectorise instead of waiting on each other): the same for the same n, at any thread count.
double sum_to_double(const float* p, std::size_t n);
// Two sums in one pass, in double the same way: Σ (p[i] − shift) and Σ (p[i] − shift)²
// (a mean and a variance, without the cancellation of Σ p² − (Σ p)²/n when the shift is
// near the mean); Σ a[i] and Σ a[i]·(b[i] − mean).
void moments_to_double(const float* p, std::size_t n, double shift, double* sum,
                       double* sum_sq);
void sum_and_dev_dot_to_double(const float* a, const float* b, std::size_t n, double mean,
                               double* sum_a, double* dot);
// The same two sums of g = a[i] where γ·((b[i] − mean)·r) + β > 0, else 0: BatchNorm2D's
// backward through the ReLU after it, the mask made from b as its forward made the output
// (the same float expression, so the same bits).
void relu_masked_sums_to_double(const float* a, const float* b, std::size_t n, float mean,
                                float r, float gamma, float beta, double* sum_g, double* dot);

// Runs of n values, on one thread (callers share a long run out with parallel_runs):
//   all_finite_run: no NaN and no Inf among p[0..n)
//   relu_run:       y = max(x, 0), a NaN staying NaN (y may be x)
//   relu_grad_run:  dx = dy where x > 0, else 0
//   add_run:        a += b
//   add_relu_run:   a = max(a + b, 0) as add_run then relu_run give it, and on[i] = 1
//                   where a + b > 0, else 0 (the ReLU's gradient mask: a byte a value)
//   mask_grad_run:  dx = dy where on, else 0 (relu_grad_run's result from that mask)
bool all_finite_run(const float* p, std::size_t n);
// all_finite_run over a long run, shared out among the threads (on one thread, the
// scans of the conv passes' outputs and of every gradient each batch left the other
// thread waiting: 2% of a ResNet-20 step, 1% of LeNet's).
bool all_finite(const float* p, std::size_t n);
void relu_run(const float* x, float* y, std::size_t n);
void relu_grad_run(const float* dy, const float* x, float* dx, std::size_t n);
void add_run(float* a, const float* b, std::size_t n);
void add_relu_run(float* a, const float* b, unsigned char* on, std::size_t n);
void mask_grad_run(const float* dy, const unsigned char* on, float* dx, std::size_t n);
// y[n,k,:] += b[k]
void add_bias(float* y, const float* b, std::size_t N, std::size_t K, std::size_t P);
// y = x·Wᵀ + b  ⇒  db[k] += Σ_n Σ_p dy[n,k,p], summed in double per channel.
void add_bias_grad(const float* dy, float* db, std::size_t N, std::size_t K, std::size_t P);

// Each of the N rows of K values: y = exp(x − m) / Σ exp(x − m), m the row's maximum
// (y may be x). When lse is given, lse[n] = m + log Σ exp(x − m), in double.
void softmax_rows(const float* x, float* y, std::size_t N, std::size_t K,
                  double* lse = nullptr);

}  // namespace minicnn
