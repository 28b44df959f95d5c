#include "im2col.hpp"

#include <algorithm>
#include <cstring>

#include "tensor.hpp"

namespace minicnn {

std::size_t conv_out_size(std::size_t in, std::size_t kernel, std::size_t stride,
                          std::size_t padding, std::size_t dilation, const std::string& who) {
  check_arg(in > 0, who, "input size", "> 0", std::to_string(in));
  check_arg(kernel > 0, who, "kernel size", "> 0", std::to_string(kernel));
  check_arg(stride > 0, who, "stride", "> 0", std::to_string(stride));
  check_arg(dilation > 0, who, "dilation", "> 0", std::to_string(dilation));
  const std::size_t span = dilation * (kernel - 1) + 1;
  const std::size_t padded = in + 2 * padding;
  if (span > padded) {
    throw Error(who + ": kernel of size " + std::to_string(kernel) + " (dilated span " +
                std::to_string(span) + ") is larger than the padded input of size " +
                std::to_string(padded) + " (input " + std::to_string(in) + ", padding " +
                std::to_string(padding) + ")");
  }
  return (padded - span) / stride + 1;
}

ConvGeom ConvGeom::make(std::size_t N, std::size_t C, std::size_t H, std::size_t W,
                        std::size_t K, std::size_t KH, std::size_t KW, std::size_t stride,
                        std::size_t padding, std::size_t dilation, const std::string& who) {
  check_arg(N > 0, who, "batch size N", "> 0", std::to_string(N));
  check_arg(C > 0, who, "in-channels C", "> 0", std::to_string(C));
  check_arg(K > 0, who, "out-channels K", "> 0", std::to_string(K));
  ConvGeom g;
  g.N = N; g.C = C; g.H = H; g.W = W; g.K = K; g.KH = KH; g.KW = KW;
  g.stride = stride; g.padding = padding; g.dilation = dilation;
  g.OH = conv_out_size(H, KH, stride, padding, dilation, who);
  g.OW = conv_out_size(W, KW, stride, padding, dilation, who);
  return g;
}

double ConvGeom::flops() const {
  return 2.0 * static_cast<double>(N) * K * C * KH * KW * OH * OW;
}

namespace {

// The output columns ow in [0, OW) whose input column ow·stride + off lands inside
// [0, W): [lo, hi). It depends only on the kernel column, so it is computed once per
// row of the unfolded matrix.
struct ValidCols {
  std::size_t lo, hi;
};

ValidCols valid_cols(std::ptrdiff_t off, std::size_t stride, std::size_t W, std::size_t OW) {
  const auto s = static_cast<std::ptrdiff_t>(stride);
  const std::ptrdiff_t first = off >= 0 ? 0 : (-off + s - 1) / s;
  const std::ptrdiff_t room = static_cast<std::ptrdiff_t>(W) - off;  // ow·stride < room
  const std::ptrdiff_t end = room <= 0 ? 0 : (room + s - 1) / s;
  const auto ow = static_cast<std::ptrdiff_t>(OW);
  const std::ptrdiff_t lo = std::clamp<std::ptrdiff_t>(first, 0, ow);
  const std::ptrdiff_t hi = std::clamp<std::ptrdiff_t>(end, lo, ow);
  return {static_cast<std::size_t>(lo), static_cast<std::size_t>(hi)};
}

// Walks the unfolded matrix restricted to output positions [o0, o1): for every row
// r = (c, kh, kw) and every output row oh that the range touches, calls
//   fn(r, c, j, ih, first, lo, hi, end)
// where the piece covers output columns ow in [first, end) stored from column j of the
// matrix on, ih is the input row (may be outside [0, H): all padding), and [lo, hi) ⊆
// [first, end) are the columns that read real input, at input column ow·stride + off_w.
template <class Fn>
void for_each_piece(const ConvGeom& g, std::size_t o0, std::size_t o1, Fn&& fn) {
  const std::size_t rows = g.col_rows();
  const auto pad = static_cast<std::ptrdiff_t>(g.padding);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t kw = r % g.KW;
    const std::size_t kh = (r / g.KW) % g.KH;
    const std::size_t c = r / (g.KW * g.KH);
    const std::ptrdiff_t off_h = static_cast<std::ptrdiff_t>(kh * g.dilation) - pad;
    const std::ptrdiff_t off_w = static_cast<std::ptrdiff_t>(kw * g.dilation) - pad;
    const ValidCols v = valid_cols(off_w, g.stride, g.W, g.OW);
    std::size_t oh = o0 / g.OW, first = o0 % g.OW, j = 0;
    for (std::size_t o = o0; o < o1; ++oh, first = 0) {
      const std::size_t end = std::min(g.OW, first + (o1 - o));
      const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * g.stride) + off_h;
      const std::size_t lo = std::clamp(v.lo, first, end);
      const std::size_t hi = std::clamp(v.hi, lo, end);
      fn(r, c, j, ih, off_w, first, lo, hi, end);
      j += end - first;
      o += end - first;
    }
  }
}

}  // namespace

void im2col(const float* x, const ConvGeom& g, std::size_t o0, std::size_t o1, float* cols,
            std::size_t ld) {
  const auto H = static_cast<std::ptrdiff_t>(g.H);
  const std::size_t stride = g.stride;
  for_each_piece(g, o0, o1,
                 [&](std::size_t r, std::size_t c, std::size_t j, std::ptrdiff_t ih,
                     std::ptrdiff_t off_w, std::size_t first, std::size_t lo, std::size_t hi,
                     std::size_t end) {
                   float* dst = cols + r * ld + j;  // dst[ow − first]
                   if (ih < 0 || ih >= H) {
                     for (std::size_t i = 0; i < end - first; ++i) dst[i] = 0.0f;
                     return;
                   }
                   for (std::size_t i = 0; i < lo - first; ++i) dst[i] = 0.0f;
                   const float* __restrict src =
                       x + (c * g.H + static_cast<std::size_t>(ih)) * g.W +
                       (static_cast<std::ptrdiff_t>(lo * stride) + off_w);
                   float* __restrict d = dst + (lo - first);
                   const std::size_t n = hi - lo;
                   if (stride == 1 && n > 32) {
                     std::memcpy(d, src, n * sizeof(float));
                   } else if (stride == 1) {  // short rows: a call to memcpy costs more
                     for (std::size_t i = 0; i < n; ++i) d[i] = src[i];
                   } else {
                     for (std::size_t i = 0; i < n; ++i) d[i] = src[i * stride];
                   }
                   for (std::size_t i = hi - first; i < end - first; ++i) dst[i] = 0.0f;
                 });
}

void col2im(const float* cols, const ConvGeom& g, std::size_t o0, std::size_t o1,
            std::size_t ld, float* x) {
  const auto H = static_cast<std::ptrdiff_t>(g.H);
  const std::size_t stride = g.stride;
  for_each_piece(g, o0, o1,
                 [&](std::size_t r, std::size_t c, std::size_t j, std::ptrdiff_t ih,
                     std::ptrdiff_t off_w, std::size_t first, std::size_t lo, std::size_t hi,
                     std::size_t) {
                   if (ih < 0 || ih >= H || lo == hi) return;
                   const float* __restrict src = cols + r * ld + j + (lo - first);
                   float* __restrict dst = x + (c * g.H + static_cast<std::size_t>(ih)) * g.W +
                                (static_cast<std::ptrdiff_t>(lo * stride) + off_w);
                   const std::size_t n = hi - lo;
                   if (stride == 1) {
                     for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
                   } else {
                     for (std::size_t i = 0; i < n; ++i) dst[i * stride] += src[i];
                   }
                 });
}

}  // namespace minicnn
