// Depthwise convolution: every group holds one input channel (groups = C), so output
// channel k reads input channel c = k / M alone, M = K / C output channels per input
// channel (PyTorch's "depth multiplier"). With w (K, 1, KH, KW):
//   y[n,k,oh,ow]  = b[k] + Σ_kh Σ_kw w[k,0,kh,kw] · x[n, k/M, oh·s + kh·d − p, ow·s + kw·d − p]
//   dx[n,c,ih,iw] = Σ_{k = cM..cM+M−1} Σ over the (oh, ow, kh, kw) that read (ih, iw) of w · dy
//   dw[k,0,kh,kw] += Σ_n Σ_oh Σ_ow dy[n,k,oh,ow] · x[n, k/M, oh·s + kh·d − p, ow·s + kw·d − p]
//   db[k]         += Σ_n Σ_oh Σ_ow dy[n,k,oh,ow]
//
// As a GEMM each group is (M × KH·KW)·(KH·KW × OH·OW): far too thin for sgemm, and im2col
// would copy every input value KH·KW times to feed it. These loops walk a plane instead:
// for each output row and kernel tap, one pass along the row that multiplies a row of
// the input by the tap's weight and adds it in; with stride 1 the pass is contiguous on
// both sides and the compiler vectorises it, and 3×3 kernels with stride 1 and dilation 1
// take all nine taps of a row in one pass. The "same" 3×3 (stride 1, dilation 1,
// padding 1) runs on each plane as one flat array instead, on three zero-framed copies
// of it (depthwise.cpp says how), with FMA where the CPU has it (AVX2, AVX-512).
// Threads split planes: (n, k) in forward ((n, c) for the "same" 3×3, one input plane
// to its M outputs), (n, c) in backward-data (each input plane gathers from its own M
// output planes), k in backward-weights (each thread owns its kernels' gradients, summed
// over the batch in order; runs of channels for the "same" 3×3), so no two threads
// write one value and the result does not depend on the thread count.
//
// forward overwrites y; backward_data overwrites dx; backward_weights adds into dw and
// db (db may be null). g must have groups == C, else Error naming the function.
#pragma once

#include "geometry.hpp"

namespace minicnn {

void conv2d_depthwise_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                              float* y);
void conv2d_depthwise_backward_data(const ConvGeom& g, const float* dy, const float* w,
                                    float* dx);
void conv2d_depthwise_backward_weights(const ConvGeom& g, const float* x, const float* dy,
                                       float* dw, float* db);

}  // namespace minicnn
