// im2col / col2im: unfold the receptive fields of one image into a matrix and fold
// them back, with stride, padding and dilation.
//
// x is one image (C, H, W). cols is the (C·KH·KW) × (OH·OW) matrix whose row
// r = (c·KH + kh)·KW + kw holds, for every output position o = oh·OW + ow, the input
// value that kernel tap (c, kh, kw) meets there (zero where the tap lands in padding).
// The functions work on a range [o0, o1) of output positions and write them into
// columns 0 .. o1-o0 of a matrix with row stride ld, so several images (or a part of
// a large one) can share one wide matrix.
//
// col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)>. It adds into x.
#pragma once

#include <cstddef>

#include "geometry.hpp"

namespace minicnn {

void im2col(const float* x, const ConvGeom& g, std::size_t o0, std::size_t o1, float* cols,
            std::size_t ld);
void col2im(const float* cols, const ConvGeom& g, std::size_t o0, std::size_t o1,
            std::size_t ld, float* x);

}  // namespace minicnn
