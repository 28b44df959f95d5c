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
#include <string>

namespace minicnn {

// Output size of a convolution along one axis; throws Error (naming `who`) when the
// kernel, dilated, is larger than the padded input or a size is zero.
std::size_t conv_out_size(std::size_t in, std::size_t kernel, std::size_t stride,
                          std::size_t padding, std::size_t dilation,
                          const std::string& who = "conv");

// The geometry of a 2-D convolution: x (N,C,H,W), w (K,C,KH,KW), y (N,K,OH,OW).
struct ConvGeom {
  std::size_t N = 1, C = 1, H = 1, W = 1, K = 1, KH = 1, KW = 1;
  std::size_t stride = 1, padding = 0, dilation = 1;
  std::size_t OH = 1, OW = 1;

  // Validates every size and computes OH, OW; throws Error naming `who`.
  static ConvGeom make(std::size_t N, std::size_t C, std::size_t H, std::size_t W,
                       std::size_t K, std::size_t KH, std::size_t KW, std::size_t stride = 1,
                       std::size_t padding = 0, std::size_t dilation = 1,
                       const std::string& who = "conv");

  std::size_t col_rows() const { return C * KH * KW; }
  std::size_t out_plane() const { return OH * OW; }
  std::size_t in_plane() const { return H * W; }
  // Multiply-adds ×2 of one pass: 2·N·K·C·KH·KW·OH·OW.
  double flops() const;
};

void im2col(const float* x, const ConvGeom& g, std::size_t o0, std::size_t o1, float* cols,
            std::size_t ld);
void col2im(const float* cols, const ConvGeom& g, std::size_t o0, std::size_t o1,
            std::size_t ld, float* x);

}  // namespace minicnn
