// im2col + GEMM for strided layers (stride 2 or more) on CPUs with AVX-512, without the
// unfolded columns: a ResNet's downsampling 3×3 layers, whose unfolding and folding cost
// as much as their thin GEMMs.
//
// The products are taken straight from zero-padded copies of one image's planes, with
// sixteen channels to a vector and an output row's pixels in a register block:
//   forward           y[k](r, c)  = b[k] + Σ_(ch,i,j) w[k,ch](i, j) · xp[ch](s·r + i, s·c + j)
//                     a vector holds 16 output channels, one broadcast x value feeds
//                     every vector of a pixel
//   backward-data     dx[ch](r, c) = Σ_k Σ_(i,j) w[k,ch](i, j) ·
//                                    dy[k]((r + p − i)/s, (c + p − j)/s)
//                     over the taps where s divides both, a vector holds 16 input
//                     channels; the pixels of a row whose column has one remainder mod s
//                     take the same taps, so they form the register block
//   backward-weights  dw[k,ch](i, j) += Σ_n Σ_(r,c) dy[n,k](r, c) · xp_n[ch](s·r + i,
//                                                                         s·c + j),
//                     db[k] += Σ dy;  a vector holds 16 output channels of one tap,
//                     dy read through a pixel-major copy of the image's planes
// (xp is x padded by p, s the stride.) Channel counts that are no multiple of 16 run in
// vectors padded with zeros. Output rows (forward), input rows (backward-data) and
// (image, input channel) pairs (backward-weights) are shared evenly among the threads;
// backward-weights sums per thread and adds the threads' sums in order. Part of the
// Im2colGemm algorithm: conv2d_im2col_* take this path by themselves where
// strided_eligible says so.
#pragma once

#include <cstddef>

#include "geometry.hpp"

namespace minicnn {

// The CPU has AVX-512 (and the library was built by GCC for x86-64); a stride from 2 up
// to the padded plane's height and width, one group, dilation 1, a kernel of at most 49
// taps; 16 to 128 output channels for forward and backward-weights, 16 to 64 input
// channels for backward-data (with more, the chunks' GEMMs run as fast or faster); and
// the scratch of `threads` threads within limit_bytes.
bool strided_eligible(const ConvGeom& g, ConvPass pass, int threads, std::size_t limit_bytes);
// Floats of scratch the pass uses with `threads` threads.
std::size_t strided_scratch_floats(const ConvGeom& g, ConvPass pass, int threads);
// The threads a pass runs on.
int strided_threads(const ConvGeom& g, ConvPass pass, int threads);

// As conv2d_im2col_forward, _backward_data and _backward_weights: forward and
// backward-data overwrite y and dx, backward-weights adds into dw and db (db may be
// null, b too). scratch holds strided_scratch_floats(g, pass, threads) floats, aligned
// for doubles (backward-weights keeps the bias's sums in double there). A geometry or CPU the path is not written for (strided_eligible, the channel
// ceilings and the limit aside) is an Error naming the function.
void strided_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                     float* y, float* scratch, int threads);
void strided_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                           float* scratch, int threads);
void strided_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                              float* db, float* scratch, int threads);

}  // namespace minicnn
