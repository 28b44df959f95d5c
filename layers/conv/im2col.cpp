#include "im2col.hpp"

#include <algorithm>
#include <cstring>

#include "../../core/simd.hpp"
#include "../../core/tensor.hpp"

namespace minicnn {

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

// Unfolded row r = (c, kh, kw): its channel, the offsets of its tap from an output
// position's top-left input (oh·stride + off_h, ow·stride + off_w), and the output
// columns whose tap lands inside the input.
struct Tap {
  std::size_t c;
  std::ptrdiff_t off_h, off_w;
  ValidCols cols;
};

Tap tap_of(const ConvGeom& g, std::size_t r) {
  const std::size_t kw = r % g.KW;
  const std::size_t kh = (r / g.KW) % g.KH;
  const auto pad = static_cast<std::ptrdiff_t>(g.padding);
  const std::ptrdiff_t off_w = static_cast<std::ptrdiff_t>(kw * g.dilation) - pad;
  return {r / (g.KW * g.KH), static_cast<std::ptrdiff_t>(kh * g.dilation) - pad, off_w,
          valid_cols(off_w, g.stride, g.W, g.OW)};
}

// Walks the unfolded matrix restricted to output positions [o0, o1): for every row
// r = (c, kh, kw) and every output row oh that the range touches, calls
//   fn(r, c, j, ih, off_w, first, lo, hi, end)
// where the piece covers output columns ow in [first, end) stored from column j of the
// matrix on, ih is the input row (may be outside [0, H): all padding), and [lo, hi) ⊆
// [first, end) are the columns that read real input, at input column ow·stride + off_w.
template <class Fn>
void for_each_piece(const ConvGeom& g, std::size_t o0, std::size_t o1, Fn&& fn) {
  const std::size_t rows = g.col_rows();
  for (std::size_t r = 0; r < rows; ++r) {
    const Tap t = tap_of(g, r);
    std::size_t oh = o0 / g.OW, first = o0 % g.OW, j = 0;
    for (std::size_t o = o0; o < o1; ++oh, first = 0) {
      const std::size_t end = std::min(g.OW, first + (o1 - o));
      const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * g.stride) + t.off_h;
      const std::size_t lo = std::clamp(t.cols.lo, first, end);
      const std::size_t hi = std::clamp(t.cols.hi, lo, end);
      fn(r, t.c, j, ih, t.off_w, first, lo, hi, end);
      j += end - first;
      o += end - first;
    }
  }
}

// What one unfolded row reads over whole output rows [oh0, oh1): output rows [a, b)
// read real input at columns [lo, hi), the others only padding (b = a when no column
// does); for a <= oh < b, output (oh, lo) reads input element at + (oh − a)·row_step
// of the image (C, H, W).
struct RowSpan {
  std::size_t a, b, lo, hi, at, row_step;
};

// The same walk as for_each_piece for whole output rows [oh0, oh1): fn(r, RowSpan) once
// per unfolded row, which finds its columns and rows once. (On R5 of the yardstick, a
// 3×3 stride-2 layer on 28² planes, the pieces of for_each_piece are 14 columns long and
// their bookkeeping took more time than the copies.)
template <class Fn>
void for_each_row(const ConvGeom& g, std::size_t oh0, std::size_t oh1, Fn&& fn) {
  const std::size_t rows = g.col_rows();
  for (std::size_t r = 0; r < rows; ++r) {
    const Tap t = tap_of(g, r);
    const ValidCols vr = valid_cols(t.off_h, g.stride, g.H, g.OH);
    RowSpan s{std::clamp(vr.lo, oh0, oh1), 0, t.cols.lo, t.cols.hi, 0, g.stride * g.W};
    s.b = s.lo < s.hi ? std::clamp(vr.hi, s.a, oh1) : s.a;
    if (s.a < s.b) {
      const auto ih = static_cast<std::ptrdiff_t>(s.a * g.stride) + t.off_h;
      const auto iw = static_cast<std::ptrdiff_t>(s.lo * g.stride) + t.off_w;
      s.at = (t.c * g.H + static_cast<std::size_t>(ih)) * g.W + static_cast<std::size_t>(iw);
    }
    fn(r, s);
  }
}

// Whether [o0, o1) is whole output rows, for for_each_row.
bool whole_rows(const ConvGeom& g, std::size_t o0, std::size_t o1) {
  return o0 % g.OW == 0 && o1 % g.OW == 0;
}

// d[i] = s[i·S] for i < n: S a constant the compiler vectorises for (1, 2), else stride.
template <std::size_t S>
inline void gather(float* __restrict d, const float* __restrict s, std::size_t n,
                   std::size_t stride) {
  if constexpr (S == 0) {
    for (std::size_t i = 0; i < n; ++i) d[i] = s[i * stride];
  } else {
    for (std::size_t i = 0; i < n; ++i) d[i] = s[i * S];
  }
}

template <std::size_t S>
inline void scatter_add(float* __restrict d, const float* __restrict s, std::size_t n,
                        std::size_t stride) {
  if constexpr (S == 0) {
    for (std::size_t i = 0; i < n; ++i) d[i * stride] += s[i];
  } else {
    for (std::size_t i = 0; i < n; ++i) d[i * S] += s[i];
  }
}

template <std::size_t S>
inline void im2col_rows(const float* x, const ConvGeom& g, std::size_t oh0, std::size_t oh1,
                        float* cols, std::size_t ld) {
  const std::size_t OW = g.OW, stride = g.stride;
  for_each_row(g, oh0, oh1, [&](std::size_t r, const RowSpan& s) {
    float* dst = cols + r * ld;
    std::fill(dst, dst + (s.a - oh0) * OW, 0.0f);
    for (std::size_t oh = s.a; oh < s.b; ++oh) {
      float* d = dst + (oh - oh0) * OW;
      for (std::size_t i = 0; i < s.lo; ++i) d[i] = 0.0f;
      gather<S>(d + s.lo, x + s.at + (oh - s.a) * s.row_step, s.hi - s.lo, stride);
      for (std::size_t i = s.hi; i < OW; ++i) d[i] = 0.0f;
    }
    std::fill(dst + (s.b - oh0) * OW, dst + (oh1 - oh0) * OW, 0.0f);
  });
}

template <std::size_t S>
inline void col2im_rows(const float* cols, const ConvGeom& g, std::size_t oh0, std::size_t oh1,
                        std::size_t ld, float* x) {
  const std::size_t OW = g.OW, stride = g.stride;
  for_each_row(g, oh0, oh1, [&](std::size_t r, const RowSpan& s) {
    const float* src = cols + r * ld + s.lo;
    for (std::size_t oh = s.a; oh < s.b; ++oh)
      scatter_add<S>(x + s.at + (oh - s.a) * s.row_step, src + (oh - oh0) * OW, s.hi - s.lo,
                     stride);
  });
}

}  // namespace

// Compiled for several instruction sets (core/simd.hpp), the walk inlined into each.
MINICNN_SIMD_CLONES [[gnu::flatten]] void im2col(const float* x, const ConvGeom& g, std::size_t o0, std::size_t o1, float* cols,
            std::size_t ld) {
  if (g.stride > 1 && whole_rows(g, o0, o1)) {
    if (g.stride == 2) return im2col_rows<2>(x, g, o0 / g.OW, o1 / g.OW, cols, ld);
    return im2col_rows<0>(x, g, o0 / g.OW, o1 / g.OW, cols, ld);
  }
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
                   } else if (stride == 2) {  // a constant stride the compiler vectorises
                     for (std::size_t i = 0; i < n; ++i) d[i] = src[2 * i];
                   } else {
                     for (std::size_t i = 0; i < n; ++i) d[i] = src[i * stride];
                   }
                   for (std::size_t i = hi - first; i < end - first; ++i) dst[i] = 0.0f;
                 });
}

MINICNN_SIMD_CLONES [[gnu::flatten]] void col2im(const float* cols, const ConvGeom& g, std::size_t o0, std::size_t o1,
            std::size_t ld, float* x) {
  if (g.stride > 1 && whole_rows(g, o0, o1)) {
    if (g.stride == 2) return col2im_rows<2>(cols, g, o0 / g.OW, o1 / g.OW, ld, x);
    return col2im_rows<0>(cols, g, o0 / g.OW, o1 / g.OW, ld, x);
  }
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
                   } else if (stride == 2) {
                     for (std::size_t i = 0; i < n; ++i) dst[2 * i] += src[i];
                   } else {
                     for (std::size_t i = 0; i < n; ++i) dst[i * stride] += src[i];
                   }
                 });
}

}  // namespace minicnn
