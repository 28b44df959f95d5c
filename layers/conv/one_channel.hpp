// im2col + GEMM for layers with one input channel (a network's first layer: LeNet's
// conv1, a ResNet's stem), stride 1 and dilation 1, without the unfolded columns.
//
// With one input channel col(x) has only KH·KW rows: its GEMMs are (K × KH·KW)·(KH·KW ×
// columns) in forward, too thin for sgemm to run well, while the unfolding writes KH·KW
// copies of the input for them. Here the same products are taken straight from a
// zero-padded copy of each plane (a few KiB, in L1), output rows in blocks of
// kOneChannelBlock columns whose sums stay in one vector:
//   forward           y[k](r, c)  = b[k] + Σ_taps w[k](i, j) · xp(r + i, c + j)
//   backward-data     dx(r, c)    = Σ_k Σ_taps w[k](i, j) · dyp[k](r + KH − 1 − i, c + KW − 1 − j)
//   backward-weights  dw[k](i, j) += Σ_n Σ_(r,c) dy[n,k](r, c) · xp_n(r + i, c + j),  db[k] += Σ dy
// (xp is x padded by p, dyp is dy padded by KH − 1 − p.) Images are shared among the
// threads in forward and backward-data, output channels in backward-weights, whose sums
// over images run in image order in double: the results do not depend on the thread
// count. Part of the Im2colGemm algorithm: conv2d_im2col_* take this path by themselves
// where one_channel_eligible says so.
#pragma once

#include <cstddef>

#include "geometry.hpp"

namespace minicnn {

inline constexpr std::size_t kOneChannelBlock = 16;

// One input channel, one group, stride 1, dilation 1, at most 49 taps, and the scratch
// of `threads` threads within limit_bytes.
bool one_channel_eligible(const ConvGeom& g, ConvPass pass, int threads,
                          std::size_t limit_bytes);
// Floats of scratch one thread uses.
std::size_t one_channel_scratch_floats(const ConvGeom& g, ConvPass pass);
// The threads a pass runs on (scratch is this many times one_channel_scratch_floats).
int one_channel_threads(const ConvGeom& g, ConvPass pass, int threads);

// As conv2d_im2col_forward, _backward_data and _backward_weights: forward and
// backward-data overwrite y and dx, backward-weights adds into dw and db (db may be
// null, b too). scratch holds one_channel_threads(g, pass, threads) ·
// one_channel_scratch_floats(g, pass) floats. A geometry the loops are not written for
// (see one_channel_eligible, the limit aside) is an Error naming the function.
void one_channel_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                         float* y, float* scratch, int threads);
void one_channel_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                               float* scratch, int threads);
void one_channel_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                                  float* db, float* scratch, int threads);

}  // namespace minicnn
