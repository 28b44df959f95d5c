// Direct convolution: the textbook loops, kept as the reference every other
// algorithm is tested against.
//
// x is (N,C,H,W), w is (K,C/G,KH,KW), b is (K) or null, y is (N,K,OH,OW), with the
// stride, padding, dilation and groups G of g. Like every CNN framework, "convolution"
// here is cross-correlation:
//   y[n,k,oh,ow] = b[k] + Σ_j Σ_kh Σ_kw w[k,j,kh,kw] · x[n,c0+j, oh·s + kh·d − p, ow·s + kw·d − p]
// over the input channels c0 + j, j < C/G, of output channel k's group (c0 = ⌊k/(K/G)⌋·C/G;
// with one group, every channel). Terms that land in the padding are zero.
//
// forward overwrites y; backward_data overwrites dx; backward_weights adds into dw and
// db (db may be null), so gradients accumulate as the Layer contract says.
#pragma once

#include "geometry.hpp"

namespace minicnn {

void conv2d_direct_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                           float* y);
// dx[n,c,ih,iw] = Σ over every (k, oh, ow, kh, kw) that read x[n,c,ih,iw] of w · dy
void conv2d_direct_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx);
// dw[k,c,kh,kw] += Σ_n Σ_oh Σ_ow dy[n,k,oh,ow] · x[n,c, oh·s + kh·d − p, ow·s + kw·d − p]
// db[k] += Σ_n Σ_oh Σ_ow dy[n,k,oh,ow]
void conv2d_direct_backward_weights(const ConvGeom& g, const float* x, const float* dy,
                                    float* dw, float* db);

}  // namespace minicnn
