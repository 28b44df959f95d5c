#include "im2col.hpp"

#include <algorithm>
#include <cstring>

#include "../../core/simd.hpp"
#include "../../core/tensor.hpp"

// The stride-2 rows' AVX-512 walk below, for GCC on x86-64 (its target attributes).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MINICNN_IM2COL_AVX512 1
#include <immintrin.h>
#else
#define MINICNN_IM2COL_AVX512 0
#endif

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

// The two loops over whole output rows, generic in how the output rows [a, b) of one
// unfolded row are moved: span(d, s, rows, lo, hi) with d at output row a of the
// unfolded row (rows of OW) and s at the input value that output (a, lo) reads (input
// rows s.row_step apart) unfolds (zeros before lo and from hi on) or folds them.
template <class Span>
[[gnu::always_inline]] inline void im2col_rows(const float* x, const ConvGeom& g,
                                               std::size_t oh0, std::size_t oh1, float* cols,
                                               std::size_t ld, Span&& span) {
  const std::size_t OW = g.OW;
  for_each_row(g, oh0, oh1, [&](std::size_t r, const RowSpan& s) {
    float* dst = cols + r * ld;
    std::fill(dst, dst + (s.a - oh0) * OW, 0.0f);
    if (s.a < s.b) span(dst + (s.a - oh0) * OW, x + s.at, s);
    std::fill(dst + (s.b - oh0) * OW, dst + (oh1 - oh0) * OW, 0.0f);
  });
}

template <class Span>
[[gnu::always_inline]] inline void col2im_rows(const float* cols, const ConvGeom& g,
                                               std::size_t oh0, std::size_t oh1, std::size_t ld,
                                               float* x, Span&& span) {
  for_each_row(g, oh0, oh1, [&](std::size_t r, const RowSpan& s) {
    if (s.a < s.b) span(cols + r * ld + (s.a - oh0) * g.OW, x + s.at, s);
  });
}

// The rows of a span one by one, each piece moved by piece(d, s, n): unfolding, with the
// zeros around it, and folding.
template <class Piece>
[[gnu::always_inline]] inline void unfold_span(float* d, const float* src, const RowSpan& s,
                                               std::size_t OW, Piece&& piece) {
  for (std::size_t i = 0; i < s.b - s.a; ++i, d += OW) {
    for (std::size_t j = 0; j < s.lo; ++j) d[j] = 0.0f;
    piece(d + s.lo, src + i * s.row_step, s.hi - s.lo);
    for (std::size_t j = s.hi; j < OW; ++j) d[j] = 0.0f;
  }
}

template <class Piece>
[[gnu::always_inline]] inline void fold_span(const float* d, float* dst, const RowSpan& s,
                                             std::size_t OW, Piece&& piece) {
  for (std::size_t i = 0; i < s.b - s.a; ++i, d += OW)
    piece(d + s.lo, dst + i * s.row_step, s.hi - s.lo);
}

#if MINICNN_IM2COL_AVX512
// Stride 2 with AVX-512, where the compiler's loops (eight lanes and a scalar tail) spent
// most of their time on the tail: a row piece of R5 (a 3×3 stride-2 layer on 28²) is 13
// or 14 values. Sixteen values take two loads of the even and odd inputs and one
// permutation; the last group is masked, so the loads stop at the row's last value.
bool has_avx512() { return cpu_has_avx512f(); }

// d[i] = s[2i] for i < n.
[[gnu::target("avx512f")]] inline void gather2_avx512(float* d, const float* s, std::size_t n) {
  const __m512i even =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 a = _mm512_loadu_ps(s + 2 * i), b = _mm512_loadu_ps(s + 2 * i + 16);
    _mm512_storeu_ps(d + i, _mm512_permutex2var_ps(a, even, b));
  }
  if (i == n) return;
  const std::size_t r = n - i, in = 2 * r - 1;  // outputs left, inputs they read
  const auto ma = static_cast<__mmask16>(in >= 16 ? 0xFFFFu : (1u << in) - 1);
  const auto mb = static_cast<__mmask16>(in > 16 ? (1u << (in - 16)) - 1 : 0u);
  const __m512 a = _mm512_maskz_loadu_ps(ma, s + 2 * i);
  const __m512 b = _mm512_maskz_loadu_ps(mb, s + 2 * i + 16);
  _mm512_mask_storeu_ps(d + i, static_cast<__mmask16>((1u << r) - 1),
                        _mm512_permutex2var_ps(a, even, b));
}

// s[2i] += d[i] for i < n (the odd values of s untouched): d's values spread to the even
// lanes of two vectors (zeros in the odd ones), stored under the even mask.
[[gnu::target("avx512f")]] inline void scatter_add2_avx512(const float* d, float* s,
                                                           std::size_t n) {
  const __m512i lo = _mm512_setr_epi32(0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0);
  const __m512i hi = _mm512_setr_epi32(8, 0, 9, 0, 10, 0, 11, 0, 12, 0, 13, 0, 14, 0, 15, 0);
  constexpr __mmask16 kEven = 0x5555;
  for (std::size_t i = 0; i < n; i += 16) {
    const std::size_t r = std::min<std::size_t>(16, n - i), in = 2 * r - 1;
    const auto md = static_cast<__mmask16>(r == 16 ? 0xFFFFu : (1u << r) - 1);
    const auto ma = static_cast<__mmask16>(in >= 16 ? 0xFFFFu : (1u << in) - 1);
    const auto mb = static_cast<__mmask16>(in > 16 ? (1u << (in - 16)) - 1 : 0u);
    const __m512 v = _mm512_maskz_loadu_ps(md, d + i);
    float* t = s + 2 * i;
    const __m512 a = _mm512_maskz_loadu_ps(ma, t), b = _mm512_maskz_loadu_ps(mb, t + 16);
    _mm512_mask_storeu_ps(t, ma & kEven,
                          _mm512_add_ps(a, _mm512_maskz_permutexvar_ps(kEven, lo, v)));
    _mm512_mask_storeu_ps(t + 16, mb & kEven,
                          _mm512_add_ps(b, _mm512_maskz_permutexvar_ps(kEven, hi, v)));
  }
}

// A span's rows with the two above (one call per unfolded row; the pieces inlined).
[[gnu::target("avx512f")]] void unfold_span2_avx512(float* d, const float* src,
                                                    const RowSpan& s, std::size_t OW) {
  unfold_span(d, src, s, OW, [](float* to, const float* from, std::size_t n)
                                 __attribute__((target("avx512f"))) { gather2_avx512(to, from, n); });
}

[[gnu::target("avx512f")]] void fold_span2_avx512(const float* d, float* dst, const RowSpan& s,
                                                  std::size_t OW) {
  fold_span(d, dst, s, OW, [](const float* from, float* to, std::size_t n)
                               __attribute__((target("avx512f"))) { scatter_add2_avx512(from, to, n); });
}

#else
bool has_avx512() { return false; }
void unfold_span2_avx512(float*, const float*, const RowSpan&, std::size_t) {}
void fold_span2_avx512(const float*, float*, const RowSpan&, std::size_t) {}
#endif

}  // namespace

// Compiled for several instruction sets (core/simd.hpp), the walk inlined into each.
MINICNN_SIMD_CLONES [[gnu::flatten]] void im2col(const float* x, const ConvGeom& g, std::size_t o0, std::size_t o1, float* cols,
            std::size_t ld) {
  if (g.stride > 1 && whole_rows(g, o0, o1)) {
    const std::size_t oh0 = o0 / g.OW, oh1 = o1 / g.OW, stride = g.stride, OW = g.OW;
    if (stride == 2 && has_avx512())
      return im2col_rows(x, g, oh0, oh1, cols, ld, [&](float* d, const float* s, const RowSpan& sp) {
        unfold_span2_avx512(d, s, sp, OW);
      });
    if (stride == 2)
      return im2col_rows(x, g, oh0, oh1, cols, ld, [&](float* d, const float* s, const RowSpan& sp) {
        unfold_span(d, s, sp, OW, [](float* to, const float* from, std::size_t n) {
          gather<2>(to, from, n, 2);
        });
      });
    return im2col_rows(x, g, oh0, oh1, cols, ld, [&](float* d, const float* s, const RowSpan& sp) {
      unfold_span(d, s, sp, OW, [&](float* to, const float* from, std::size_t n) {
        gather<0>(to, from, n, stride);
      });
    });
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
    const std::size_t oh0 = o0 / g.OW, oh1 = o1 / g.OW, stride = g.stride, OW = g.OW;
    if (stride == 2 && has_avx512())
      return col2im_rows(cols, g, oh0, oh1, ld, x, [&](const float* d, float* s, const RowSpan& sp) {
        fold_span2_avx512(d, s, sp, OW);
      });
    if (stride == 2)
      return col2im_rows(cols, g, oh0, oh1, ld, x, [&](const float* d, float* s, const RowSpan& sp) {
        fold_span(d, s, sp, OW, [](const float* from, float* to, std::size_t n) {
          scatter_add<2>(to, from, n, 2);
        });
      });
    return col2im_rows(cols, g, oh0, oh1, ld, x, [&](const float* d, float* s, const RowSpan& sp) {
      fold_span(d, s, sp, OW, [&](const float* from, float* to, std::size_t n) {
        scatter_add<0>(to, from, n, stride);
      });
    });
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
