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

// For kernel offset k (already dilated) the output positions ow whose input column
// ow·stride + k − padding falls inside [0, W): returns [lo, hi) clipped to [a, b).
inline void valid_range(std::size_t a, std::size_t b, std::ptrdiff_t off, std::size_t stride,
                        std::size_t W, std::size_t& lo, std::size_t& hi) {
  // need 0 <= ow*stride + off < W
  std::ptrdiff_t first = off >= 0 ? 0 : (-off + static_cast<std::ptrdiff_t>(stride) - 1) /
                                            static_cast<std::ptrdiff_t>(stride);
  std::ptrdiff_t last = static_cast<std::ptrdiff_t>(W) - off;  // exclusive bound on ow*stride
  std::ptrdiff_t end = last <= 0 ? 0
                                 : (last + static_cast<std::ptrdiff_t>(stride) - 1) /
                                       static_cast<std::ptrdiff_t>(stride);
  lo = std::clamp<std::ptrdiff_t>(first, a, b);
  hi = std::clamp<std::ptrdiff_t>(end, lo, b);
}

// Walks rows r = (c, kh, kw) and, for each output row oh touched by [o0, o1), the
// span of ow inside it; calls f(row_ptr_in_cols, x_row_or_null, ow_begin, ow_end,
// in_col_offset) for the contiguous pieces.
template <class Fn>
void for_each_span(const ConvGeom& g, std::size_t o0, std::size_t o1, Fn&& fn) {
  const std::size_t rows = g.col_rows();
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t kw = r % g.KW;
    const std::size_t kh = (r / g.KW) % g.KH;
    const std::size_t c = r / (g.KW * g.KH);
    const std::ptrdiff_t off_h =
        static_cast<std::ptrdiff_t>(kh * g.dilation) - static_cast<std::ptrdiff_t>(g.padding);
    const std::ptrdiff_t off_w =
        static_cast<std::ptrdiff_t>(kw * g.dilation) - static_cast<std::ptrdiff_t>(g.padding);
    std::size_t o = o0;
    while (o < o1) {
      const std::size_t oh = o / g.OW;
      const std::size_t ow0 = o % g.OW;
      const std::size_t ow1 = std::min(g.OW, ow0 + (o1 - o));
      const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * g.stride) + off_h;
      fn(r, c, o - o0, ih, off_w, ow0, ow1);
      o += ow1 - ow0;
    }
  }
}

}  // namespace

void im2col(const float* x, const ConvGeom& g, std::size_t o0, std::size_t o1, float* cols,
            std::size_t ld) {
  for_each_span(g, o0, o1,
                [&](std::size_t r, std::size_t c, std::size_t j, std::ptrdiff_t ih,
                    std::ptrdiff_t off_w, std::size_t ow0, std::size_t ow1) {
                  float* dst = cols + r * ld + j;  // dst[ow - ow0] for ow in [ow0, ow1)
                  if (ih < 0 || ih >= static_cast<std::ptrdiff_t>(g.H)) {
                    std::fill(dst, dst + (ow1 - ow0), 0.0f);
                    return;
                  }
                  const float* src = x + (c * g.H + static_cast<std::size_t>(ih)) * g.W;
                  std::size_t lo, hi;
                  valid_range(ow0, ow1, off_w, g.stride, g.W, lo, hi);
                  std::fill(dst, dst + (lo - ow0), 0.0f);
                  const std::ptrdiff_t first = static_cast<std::ptrdiff_t>(lo * g.stride) + off_w;
                  if (g.stride == 1) {
                    std::memcpy(dst + (lo - ow0), src + first, (hi - lo) * sizeof(float));
                  } else {
                    const float* s = src + first;
                    for (std::size_t i = 0; i < hi - lo; ++i) dst[lo - ow0 + i] = s[i * g.stride];
                  }
                  std::fill(dst + (hi - ow0), dst + (ow1 - ow0), 0.0f);
                });
}

void col2im(const float* cols, const ConvGeom& g, std::size_t o0, std::size_t o1,
            std::size_t ld, float* x) {
  for_each_span(g, o0, o1,
                [&](std::size_t r, std::size_t c, std::size_t j, std::ptrdiff_t ih,
                    std::ptrdiff_t off_w, std::size_t ow0, std::size_t ow1) {
                  if (ih < 0 || ih >= static_cast<std::ptrdiff_t>(g.H)) return;
                  std::size_t lo, hi;
                  valid_range(ow0, ow1, off_w, g.stride, g.W, lo, hi);
                  if (lo == hi) return;
                  const float* src = cols + r * ld + j + (lo - ow0);
                  float* dst = x + (c * g.H + static_cast<std::size_t>(ih)) * g.W +
                               (static_cast<std::ptrdiff_t>(lo * g.stride) + off_w);
                  for (std::size_t i = 0; i < hi - lo; ++i) dst[i * g.stride] += src[i];
                });
}

}  // namespace minicnn
