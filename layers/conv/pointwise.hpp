// im2col + GEMM for 1×1 kernels without padding or groups (pointwise layers: MobileNet's,
// a bottleneck's, a ResNet's projection shortcut), without the unfolded columns.
//
// A 1×1 kernel's col(x) is x itself (stride 1) or x sampled every `stride` rows and
// columns, so each image's pass is one GEMM straight on its planes:
//   forward           y_n  = W · x_n + b                 (K × C)·(C × P)
//   backward-data     dx_n = Wᵀ · dy_n                    (C × K)·(K × P), spread back
//   backward-weights  dW  += dy_n · x_nᵀ,  db += Σ dy_n   (K × P)·(P × C)
// where P = OH·OW and, with a stride, x_n is first gathered into a C × P scratch (and
// backward-data's product spread into dx's zeroed planes). The chunked path copied x
// into its columns and y out of a staging block, twice the memory traffic of the
// product's operands. Images are shared among the threads, each with a
// single-threaded GEMM, when there are at least as many as threads; otherwise they run
// one after the other with OpenBLAS's threads. Backward-weights sums per thread, the
// threads' sums added in order. Part of the Im2colGemm algorithm: conv2d_im2col_* take
// this path by themselves where pointwise_eligible says so.
#pragma once

#include <cstddef>

#include "geometry.hpp"

namespace minicnn {

// A 1×1 kernel, padding 0, one group, and the scratch of `threads` threads within
// limit_bytes.
bool pointwise_eligible(const ConvGeom& g, ConvPass pass, int threads, std::size_t limit_bytes);
// Floats of scratch the pass uses with `threads` threads (0 for forward and
// backward-data at stride 1).
std::size_t pointwise_scratch_floats(const ConvGeom& g, ConvPass pass, int threads);

// As conv2d_im2col_forward, _backward_data and _backward_weights: forward and
// backward-data overwrite y and dx, backward-weights adds into dw and db (db may be
// null, b too). scratch holds pointwise_scratch_floats(g, pass, threads) floats. A
// geometry the path is not written for is an Error naming the function.
void pointwise_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                       float* y, float* scratch, int threads);
void pointwise_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                             float* scratch, int threads);
void pointwise_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                                float* db, float* scratch, int threads);

}  // namespace minicnn
