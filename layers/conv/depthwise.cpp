#include "depthwise.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "../../core/buffer.hpp"
#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"

// The plane functions are compiled a second time for AVX2 where GCC or Clang target x86.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MINICNN_DEPTHWISE_AVX2 1
#else
#define MINICNN_DEPTHWISE_AVX2 0
#endif

namespace minicnn {
namespace {

using Index = std::ptrdiff_t;

// The outputs o in [lo, hi) whose tap k lands inside the input (0 <= o·s + k·d − p <
// size); lo = hi when none does.
struct Span {
  Index lo, hi;
};

Span tap_span(const ConvGeom& g, std::size_t k, std::size_t size, std::size_t outs) {
  const std::size_t shift = k * g.dilation;  // o·s + shift − p must be in [0, size)
  std::size_t lo = 0;
  if (g.padding > shift) lo = (g.padding - shift + g.stride - 1) / g.stride;
  if (size + g.padding <= shift) return {0, 0};
  const std::size_t hi = std::min(outs, (size - 1 + g.padding - shift) / g.stride + 1);
  return {Index(std::min(lo, hi)), Index(hi)};
}

// What every plane of one pass shares: the geometry as signed sizes and each kernel
// column's span of outputs.
struct Plane {
  Index H, W, OH, OW, KH, KW, s, p, d;
  std::vector<Span> col;  // per kw
  explicit Plane(const ConvGeom& g)
      : H(Index(g.H)), W(Index(g.W)), OH(Index(g.OH)), OW(Index(g.OW)), KH(Index(g.KH)),
        KW(Index(g.KW)), s(Index(g.stride)), p(Index(g.padding)), d(Index(g.dilation)),
        col(g.KW) {
    for (std::size_t kw = 0; kw < g.KW; ++kw) col[kw] = tap_span(g, kw, g.W, g.OW);
  }
  // 3×3, stride 1, dilation 1: the nine taps in one pass over a row.
  bool three() const { return KH == 3 && KW == 3 && s == 1 && d == 1; }
  // The input row that output row oh reads through kernel row kh, or −1 in the padding.
  Index in_row(Index oh, Index kh) const {
    const Index ih = oh * s + kh * d - p;
    return ih >= 0 && ih < H ? ih : -1;
  }
  // The output columns [a, b) where all three taps of a row land inside (three() only).
  Span inner() const {
    const Index a = std::max({col[0].lo, col[1].lo, col[2].lo});
    const Index b = std::min({col[0].hi, col[1].hi, col[2].hi});
    return a < b ? Span{a, b} : Span{0, 0};
  }
};

// Output row yr += every tap of the kernel rows `rows` (input rows xr[r], kernel rows
// wr[r]), except the columns [skip.lo, skip.hi) (done by the caller).
inline void taps_row(const Plane& q, Index rows, const float* const* xr,
                     const float* const* wr, float* yr, Span skip) {
  for (Index r = 0; r < rows; ++r)
    for (Index kw = 0; kw < q.KW; ++kw) {
      const float wv = wr[r][kw];
      const Index off = kw * q.d - q.p;
      const Span c = q.col[std::size_t(kw)];
      const float* x = xr[r];
      auto run = [&](Index lo, Index hi) {
        if (q.s == 1)
          for (Index o = lo; o < hi; ++o) yr[o] += wv * x[o + off];
        else
          for (Index o = lo; o < hi; ++o) yr[o] += wv * x[o * q.s + off];
      };
      if (skip.lo < skip.hi) {
        run(c.lo, std::min(skip.lo, c.hi));
        run(std::max(skip.hi, c.lo), c.hi);
      } else {
        run(c.lo, c.hi);
      }
    }
}

// The 3×3 inner columns of one output row from its R valid kernel rows, in one pass.
template <int R>
inline void three_row(const float* const* xr, const float* const* wr, Index p, Span in,
                      float* yr) {
  float w[R][3];
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < 3; ++k) w[r][k] = wr[r][k];
  for (Index o = in.lo; o < in.hi; ++o) {
    float sum = 0.0f;
    for (int r = 0; r < R; ++r) {
      const float* x = xr[r] + (o - p);
      sum += w[r][0] * x[0] + w[r][1] * x[1] + w[r][2] * x[2];
    }
    yr[o] += sum;
  }
}

// One output plane: yp = bias + Σ over the kernel of w · the input plane xp.
inline void forward_plane(const Plane& q, const float* xp, const float* wk, float bias,
                          float* yp) {
  const Span in = q.three() ? q.inner() : Span{0, 0};
  for (Index oh = 0; oh < q.OH; ++oh) {
    float* yr = yp + oh * q.OW;
    std::fill(yr, yr + q.OW, bias);
    const float* xr[16];
    const float* wr[16];
    Index rows = 0;
    for (Index kh = 0; kh < q.KH; ++kh) {
      const Index ih = q.in_row(oh, kh);
      if (ih < 0) continue;
      if (rows == 16) {  // taller kernels: flush sixteen rows at a time
        taps_row(q, rows, xr, wr, yr, Span{0, 0});
        rows = 0;
      }
      xr[rows] = xp + ih * q.W;
      wr[rows] = wk + kh * q.KW;
      ++rows;
    }
    if (in.lo < in.hi) {
      if (rows == 3) three_row<3>(xr, wr, q.p, in, yr);
      else if (rows == 2) three_row<2>(xr, wr, q.p, in, yr);
      else if (rows == 1) three_row<1>(xr, wr, q.p, in, yr);
    }
    taps_row(q, rows, xr, wr, yr, in);
  }
}

// Input plane dxp += the transpose of the correlation with wk applied to dyp. With
// stride 1 and dilation 1 that is a correlation of dy with the kernel turned by 180°
// (padding KH − 1 − p), written per input row so that it vectorises.
inline void backward_data_plane(const Plane& q, const float* dyp, const float* wk,
                                float* dxp) {
  if (q.s == 1 && q.d == 1) {
    for (Index ih = 0; ih < q.H; ++ih) {
      float* xr = dxp + ih * q.W;
      for (Index kh = 0; kh < q.KH; ++kh) {
        const Index oh = ih + q.p - kh;
        if (oh < 0 || oh >= q.OH) continue;
        const float* yr = dyp + oh * q.OW;
        const float* wr = wk + kh * q.KW;
        if (q.KW == 3) {
          // Columns where all three taps read dy: ow = iw + p − kw in [0, OW).
          const Index a = std::max<Index>(0, 2 - q.p), b = std::min(q.W, q.OW - q.p);
          const float w0 = wr[0], w1 = wr[1], w2 = wr[2];
          for (Index iw = a; iw < b; ++iw) {
            const float* y = yr + (iw + q.p);
            xr[iw] += w0 * y[0] + w1 * y[-1] + w2 * y[-2];
          }
          for (Index kw = 0; kw < 3; ++kw) {
            const float wv = wr[kw];
            auto run = [&](Index lo, Index hi) {
              for (Index iw = lo; iw < hi; ++iw) {
                const Index ow = iw + q.p - kw;
                if (ow >= 0 && ow < q.OW) xr[iw] += wv * yr[ow];
              }
            };
            if (a < b) {
              run(0, a);
              run(b, q.W);
            } else {
              run(0, q.W);
            }
          }
          continue;
        }
        for (Index kw = 0; kw < q.KW; ++kw) {
          const float wv = wr[kw];
          const Span c = q.col[std::size_t(kw)];
          const Index off = kw - q.p;  // iw = ow + off
          for (Index ow = c.lo; ow < c.hi; ++ow) xr[ow + off] += wv * yr[ow];
        }
      }
    }
    return;
  }
  // Any stride and dilation: scatter each output row through each tap.
  for (Index oh = 0; oh < q.OH; ++oh) {
    const float* yr = dyp + oh * q.OW;
    for (Index kh = 0; kh < q.KH; ++kh) {
      const Index ih = q.in_row(oh, kh);
      if (ih < 0) continue;
      float* xr = dxp + ih * q.W;
      for (Index kw = 0; kw < q.KW; ++kw) {
        const float wv = wk[kh * q.KW + kw];
        const Span c = q.col[std::size_t(kw)];
        const Index off = kw * q.d - q.p;
        for (Index ow = c.lo; ow < c.hi; ++ow) xr[ow * q.s + off] += wv * yr[ow];
      }
    }
  }
}

// sums[kh·KW + kw] += Σ_oh Σ_ow dy[oh, ow] · x[oh·s + kh·d − p, ow·s + kw·d − p] over one
// plane, the 3×3 inner columns in eight independent float sums per tap (so that the
// loop vectorises without reassociating one sum), folded into double once per plane;
// the few edge columns of a row in one float sum per tap and row.
inline void weights_plane(const Plane& q, const float* xp, const float* dyp, double* sums) {
  const Span in = q.three() ? q.inner() : Span{0, 0};
  float lanes[3][3][8] = {};
  for (Index oh = 0; oh < q.OH; ++oh) {
    const float* yr = dyp + oh * q.OW;
    for (Index kh = 0; kh < q.KH; ++kh) {
      const Index ih = q.in_row(oh, kh);
      if (ih < 0) continue;
      const float* xr = xp + ih * q.W;
      if (in.lo < in.hi) {
        float(&l)[3][8] = lanes[kh];
        Index o = in.lo;
        for (; o + 8 <= in.hi; o += 8) {
          const float* y = yr + o;
          const float* x = xr + (o - q.p);
          for (int j = 0; j < 8; ++j) {
            l[0][j] += y[j] * x[j];
            l[1][j] += y[j] * x[j + 1];
            l[2][j] += y[j] * x[j + 2];
          }
        }
        for (int j = 0; o < in.hi; ++o, ++j)  // the last columns, into lanes 0..6
          for (Index kw = 0; kw < 3; ++kw) l[kw][j] += yr[o] * xr[o - q.p + kw];
      }
      for (Index kw = 0; kw < q.KW; ++kw) {
        const Span c = q.col[std::size_t(kw)];
        const Index off = kw * q.d - q.p;
        float s = 0.0f;  // a few columns per row (all of them for kernels other than 3×3)
        auto run = [&](Index lo, Index hi) {
          for (Index o = lo; o < hi; ++o) s += yr[o] * xr[o * q.s + off];
        };
        if (in.lo < in.hi) {
          run(c.lo, std::min(in.lo, c.hi));
          run(std::max(in.hi, c.lo), c.hi);
        } else {
          run(c.lo, c.hi);
        }
        sums[kh * q.KW + kw] += s;
      }
    }
  }
  if (in.lo < in.hi)
    for (int t = 0; t < 9; ++t)
      for (int j = 0; j < 8; ++j) sums[t] += lanes[t / 3][t % 3][j];
}

// The 3×3 (stride 1, dilation 1) case of weights_plane on a zero-padded copy of the
// input plane (xpad, (H + 2p) × Wp): every tap of every output lands inside, so each
// row is one vectorised pass with no edge columns. The padding cells multiply dy as
// zeros do in the textbook loops (adding nothing, or NaN where dy is not finite).
inline void weights_plane_three(const Plane& q, const float* xpad, Index Wp, const float* dyp,
                                double* sums) {
  float l[3][3][8] = {};
  for (Index oh = 0; oh < q.OH; ++oh) {
    const float* yr = dyp + oh * q.OW;
    for (Index kh = 0; kh < 3; ++kh) {
      const float* xr = xpad + (oh + kh) * Wp;
      float(&lk)[3][8] = l[kh];
      Index o = 0;
      for (; o + 8 <= q.OW; o += 8) {
        const float* y = yr + o;
        const float* x = xr + o;
        for (int j = 0; j < 8; ++j) {
          lk[0][j] += y[j] * x[j];
          lk[1][j] += y[j] * x[j + 1];
          lk[2][j] += y[j] * x[j + 2];
        }
      }
      for (int j = 0; o < q.OW; ++o, ++j)
        for (Index kw = 0; kw < 3; ++kw) lk[kw][j] += yr[o] * xr[o + kw];
    }
  }
  for (int t = 0; t < 9; ++t)
    for (int j = 0; j < 8; ++j) sums[t] += l[t / 3][t % 3][j];
}

// The "same" 3×3 convolution (stride 1, dilation 1, padding 1, so OH = H and OW = W),
// the one depthwise networks are built of, runs on a plane as one flat array: output
// i = oh·W + ow reads, through tap (kh, kw), input i + (kh − 1)·W + (kw − 1), an offset
// fixed per tap, so a pass is one long loop of nine multiply-adds per output that the
// compiler vectorises with no edges and no tail per row. What the flat view gets wrong
// is the padding, and three framed copies of the input put it back:
//   mid    the plane as it is, with a zero row above and below: the kernel's middle
//          column reads padding only in rows −1 and H;
//   left   the same with column W − 1 zeroed: the kernel's left column reads column
//          ow − 1, which for ow = 0 falls on column W − 1 of the row above, exactly where
//          the padding should be, and which for any other ow is never column W − 1;
//   right  the same with column 0 zeroed, for the kernel's right column likewise.
// So every tap reads a zero where the textbook loops read padding, and the true input
// everywhere else. Planes taller than a band are done kBandFloats / W rows at a time, so
// that the three copies and the output band stay in L1.
//
// Measured on the 2-core AVX-512 machine (Zen 4, 2 threads), D1 of bench_conv (N 64,
// C = K 64, 28×28, each tensor 12.8 MB): forward 3.9 → 1.0 ms, backward-data 3.2 → 1.0
// ms, backward-weights 5.1 → 1.1 ms against the row loops above (which still run every
// other geometry); a 12.8 MB memcpy takes 0.3 ms in L3 and 0.7 ms from DRAM. With the
// plane in L1 a forward plane costs about 1100 cycles, some 400 of them the copies, the
// rest nine loads per 16 outputs, most of them split across two cache lines.

// Input floats in one band buffer: three of them and the output band fit in 32 KiB.
constexpr Index kBandFloats = 2048;
// Partial sums per tap in backward-weights: one AVX-512 register of floats.
constexpr int kLanes = 16;

bool same_three(const ConvGeom& g) {
  return g.KH == 3 && g.KW == 3 && g.stride == 1 && g.dilation == 1 && g.padding == 1;
}

// a·b + c, fused (rounded once) in the variants compiled for FMA.
template <bool Fused>
inline float madd(float a, float b, float c) {
  if constexpr (Fused) return std::fma(a, b, c);
  else return a * b + c;
}

// Where the bands of one plane are: rows per band, and each buffer's length,
// (rows + 2)·W + 2 (a zero before row −1 and after row `rows`, for the corner taps).
// The three buffers lie `stride` floats apart in one 64-byte aligned scratch array
// (scratch() floats), each `skip` floats in, so that row 0 of the plane starts on a
// 64-byte boundary: the copies into them are then whole-line stores (measured, in L1:
// 530 cycles a 28×28 plane with split stores, 380 without).
struct Bands {
  Index rows, len, skip, stride;
  explicit Bands(const Plane& q)
      : rows(std::max<Index>(1, std::min(q.H, kBandFloats / q.W))), len((rows + 2) * q.W + 2),
        skip((16 - (1 + q.W) % 16) % 16), stride((len + 15 + 15) / 16 * 16) {}
  std::size_t scratch() const { return std::size_t(3 * stride); }
  float* mid(float* buf) const { return buf + skip; }
  float* left(float* buf) const { return buf + stride + skip; }
  float* right(float* buf) const { return buf + 2 * stride + skip; }
};

// The framed copies mid, left, right (each Bands::len) of rows [r0 − 1, r0 + rows] of
// the plane src (H × W); rows outside the plane are zero.
inline void fill_band(const float* src, Index H, Index W, Index r0, Index rows, Index len,
                      float* mid, float* left, float* right) {
  // Band row j holds input row r0 − 1 + j at buffer offset 1 + j·W.
  const Index j0 = r0 == 0 ? 1 : 0, j1 = std::min(rows + 2, H - r0 + 1);
  for (float* buf : {mid, left, right}) {
    std::fill(buf, buf + 1 + j0 * W, 0.0f);
    std::fill(buf + 1 + j1 * W, buf + len, 0.0f);
  }
  // One pass that reads each input once and writes it three times.
  const float* __restrict s = src + (r0 - 1 + j0) * W;
  float* __restrict m = mid + 1 + j0 * W;
  float* __restrict l = left + 1 + j0 * W;
  float* __restrict r = right + 1 + j0 * W;
  for (Index i = 0; i < (j1 - j0) * W; ++i) {
    const float v = s[i];
    m[i] = v;
    l[i] = v;
    r[i] = v;
  }
  for (Index j = j0; j < j1; ++j) {
    left[j * W + W] = 0.0f;  // column W − 1
    right[1 + j * W] = 0.0f;  // column 0
  }
}

// The nine taps of a filled band: tap (kh, kw) of output i is t[kh·3 + kw][i].
struct Taps {
  const float* t[9];
  Taps(const float* mid, const float* left, const float* right, Index W) {
    for (Index kh = 0; kh < 3; ++kh) {
      t[kh * 3 + 0] = left + kh * W;
      t[kh * 3 + 1] = mid + kh * W + 1;
      t[kh * 3 + 2] = right + kh * W + 2;
    }
  }
};

// y[i] = start + Σ_t w[t]·tap t[i] for the n outputs of one band, start = y[i] when
// Add, else bias.
template <bool Fused, bool Add>
inline void same_band(const Taps& tp, const float* w, float bias, float* __restrict y,
                      Index n) {
  const float* __restrict t0 = tp.t[0];
  const float* __restrict t1 = tp.t[1];
  const float* __restrict t2 = tp.t[2];
  const float* __restrict t3 = tp.t[3];
  const float* __restrict t4 = tp.t[4];
  const float* __restrict t5 = tp.t[5];
  const float* __restrict t6 = tp.t[6];
  const float* __restrict t7 = tp.t[7];
  const float* __restrict t8 = tp.t[8];
  const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6],
              w7 = w[7], w8 = w[8];
  for (Index i = 0; i < n; ++i) {
    // Three kernel rows as three chains, so that a vector's sum waits on three fused
    // multiply-adds in a row, not nine.
    float a = madd<Fused>(w0, t0[i], Add ? y[i] : bias);
    float b = w3 * t3[i];
    float c = w6 * t6[i];
    a = madd<Fused>(w1, t1[i], a);
    b = madd<Fused>(w4, t4[i], b);
    c = madd<Fused>(w7, t7[i], c);
    a = madd<Fused>(w2, t2[i], a);
    b = madd<Fused>(w5, t5[i], b);
    c = madd<Fused>(w8, t8[i], c);
    y[i] = a + (b + c);
  }
}

// f(taps, r0, rows, frame) for each band of rows [r0, r0 + rows) of a plane of q's
// geometry, its framed copies in buf (3·Bands::len floats): frame(src) fills them from
// the plane src, after which taps reads its nine taps.
template <class F>
inline void for_each_band(const Plane& q, float* buf, F&& f) {
  const Bands bs(q);
  float* mid = bs.mid(buf);
  float* left = bs.left(buf);
  float* right = bs.right(buf);
  const Taps tp(mid, left, right, q.W);
  for (Index r0 = 0; r0 < q.H; r0 += bs.rows) {
    const Index rows = std::min(bs.rows, q.H - r0);
    auto frame = [&](const float* src) { fill_band(src, q.H, q.W, r0, rows, bs.len, mid, left, right); };
    f(tp, r0, rows, frame);
  }
}

// The M output planes y (n, cM..cM+M−1), stored one after another, from the input
// plane x (n, c): kernels w (M × 9), biases b (M, or null).
template <bool Fused>
inline void same_forward_plane(const Plane& q, Index M, const float* x, const float* w,
                               const float* b, float* y, float* buf) {
  for_each_band(q, buf, [&](const Taps& tp, Index r0, Index rows, auto&& frame) {
    frame(x);
    for (Index m = 0; m < M; ++m)
      same_band<Fused, false>(tp, w + m * 9, b ? b[m] : 0.0f, y + m * q.H * q.W + r0 * q.W,
                              rows * q.W);
  });
}

// The input plane dx (n, c) from the M output planes dy (n, cM..cM+M−1): each the same
// convolution of dy with its kernel turned by 180° (wt, M × 9), summed.
template <bool Fused>
inline void same_data_plane(const Plane& q, Index M, const float* dy, const float* wt,
                            float* dx, float* buf) {
  for_each_band(q, buf, [&](const Taps& tp, Index r0, Index rows, auto&& frame) {
    for (Index m = 0; m < M; ++m) {
      frame(dy + m * q.H * q.W);
      if (m == 0) same_band<Fused, false>(tp, wt, 0.0f, dx + r0 * q.W, rows * q.W);
      else same_band<Fused, true>(tp, wt + m * 9, 0.0f, dx + r0 * q.W, rows * q.W);
    }
  });
}

// sums[t] += Σ_i dy[i]·tap t[i] (t < 9) and sums[9] += Σ_i dy[i] over the n outputs of
// one band, in kLanes float partial sums per tap (so that the loop vectorises without
// reassociating a sum) folded into double once per band.
template <bool Fused>
inline void same_band_weights(const Taps& tp, const float* __restrict dy, Index n,
                              double* sums) {
  float acc[10][kLanes] = {};
  auto add = [&](Index i, int j) {
    const float d = dy[i];
    for (int t = 0; t < 9; ++t) acc[t][j] = madd<Fused>(d, tp.t[t][i], acc[t][j]);
    acc[9][j] += d;
  };
  Index i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) add(i + j, j);
  for (int j = 0; i < n; ++i, ++j) add(i, j);
  for (int t = 0; t < 10; ++t)
    for (int j = 0; j < kLanes; ++j) sums[t] += acc[t][j];
}

// sums[m·10 + t] += the weight (t < 9) and bias (t = 9) gradient sums of kernel cM + m
// over one image: the input plane x (n, c) against the M output planes dy (n, cM..).
template <bool Fused>
inline void same_weights_plane(const Plane& q, Index M, const float* x, const float* dy,
                               double* sums, float* buf) {
  for_each_band(q, buf, [&](const Taps& tp, Index r0, Index rows, auto&& frame) {
    frame(x);
    for (Index m = 0; m < M; ++m)
      same_band_weights<Fused>(tp, dy + m * q.H * q.W + r0 * q.W, rows * q.W, sums + m * 10);
  });
}

[[gnu::flatten]] void forward_plane_base(const Plane& q, const float* xp, const float* wk,
                                         float bias, float* yp) {
  forward_plane(q, xp, wk, bias, yp);
}
[[gnu::flatten]] void backward_data_plane_base(const Plane& q, const float* dyp,
                                               const float* wk, float* dxp) {
  backward_data_plane(q, dyp, wk, dxp);
}
[[gnu::flatten]] void weights_plane_base(const Plane& q, const float* xp, const float* dyp,
                                         double* sums) {
  weights_plane(q, xp, dyp, sums);
}
[[gnu::flatten]] void weights_plane_three_base(const Plane& q, const float* xpad, Index Wp,
                                               const float* dyp, double* sums) {
  weights_plane_three(q, xpad, Wp, dyp, sums);
}

// The "same" 3×3 planes, one set per instruction set: base (SSE2 on x86, separate
// multiplies and adds), AVX2 + FMA, AVX-512 + FMA.
struct SameFns {
  void (*forward)(const Plane&, Index, const float*, const float*, const float*, float*,
                  float*);
  void (*data)(const Plane&, Index, const float*, const float*, float*, float*);
  void (*weights)(const Plane&, Index, const float*, const float*, double*, float*);
};

[[gnu::flatten]] void same_forward_base(const Plane& q, Index M, const float* x, const float* w,
                                        const float* b, float* y, float* buf) {
  same_forward_plane<false>(q, M, x, w, b, y, buf);
}
[[gnu::flatten]] void same_data_base(const Plane& q, Index M, const float* dy, const float* wt,
                                     float* dx, float* buf) {
  same_data_plane<false>(q, M, dy, wt, dx, buf);
}
[[gnu::flatten]] void same_weights_base(const Plane& q, Index M, const float* x, const float* dy,
                                        double* sums, float* buf) {
  same_weights_plane<false>(q, M, x, dy, sums, buf);
}

#if MINICNN_DEPTHWISE_AVX2
[[gnu::flatten, gnu::target("avx2,fma")]] void same_forward_avx2(
    const Plane& q, Index M, const float* x, const float* w, const float* b, float* y,
    float* buf) {
  same_forward_plane<true>(q, M, x, w, b, y, buf);
}
[[gnu::flatten, gnu::target("avx2,fma")]] void same_data_avx2(const Plane& q, Index M,
                                                              const float* dy, const float* wt,
                                                              float* dx, float* buf) {
  same_data_plane<true>(q, M, dy, wt, dx, buf);
}
[[gnu::flatten, gnu::target("avx2,fma")]] void same_weights_avx2(
    const Plane& q, Index M, const float* x, const float* dy, double* sums, float* buf) {
  same_weights_plane<true>(q, M, x, dy, sums, buf);
}
[[gnu::flatten, gnu::target("avx512f,fma")]] void same_forward_avx512(
    const Plane& q, Index M, const float* x, const float* w, const float* b, float* y,
    float* buf) {
  same_forward_plane<true>(q, M, x, w, b, y, buf);
}
[[gnu::flatten, gnu::target("avx512f,fma")]] void same_data_avx512(
    const Plane& q, Index M, const float* dy, const float* wt, float* dx, float* buf) {
  same_data_plane<true>(q, M, dy, wt, dx, buf);
}
[[gnu::flatten, gnu::target("avx512f,fma")]] void same_weights_avx512(
    const Plane& q, Index M, const float* x, const float* dy, double* sums, float* buf) {
  same_weights_plane<true>(q, M, x, dy, sums, buf);
}
#endif

#if MINICNN_DEPTHWISE_AVX2
[[gnu::flatten, gnu::target("avx2")]] void forward_plane_avx2(const Plane& q, const float* xp,
                                                              const float* wk, float bias,
                                                              float* yp) {
  forward_plane(q, xp, wk, bias, yp);
}
[[gnu::flatten, gnu::target("avx2")]] void backward_data_plane_avx2(const Plane& q,
                                                                    const float* dyp,
                                                                    const float* wk,
                                                                    float* dxp) {
  backward_data_plane(q, dyp, wk, dxp);
}
[[gnu::flatten, gnu::target("avx2")]] void weights_plane_avx2(const Plane& q, const float* xp,
                                                              const float* dyp, double* sums) {
  weights_plane(q, xp, dyp, sums);
}
[[gnu::flatten, gnu::target("avx2")]] void weights_plane_three_avx2(const Plane& q,
                                                                    const float* xpad, Index Wp,
                                                                    const float* dyp,
                                                                    double* sums) {
  weights_plane_three(q, xpad, Wp, dyp, sums);
}
#endif

bool has_avx2() {
#if MINICNN_DEPTHWISE_AVX2
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
#else
  return false;
#endif
}

// The widest "same" 3×3 variant this CPU runs.
SameFns same_fns() {
#if MINICNN_DEPTHWISE_AVX2
  static const bool fma = __builtin_cpu_supports("fma");
  if (fma && __builtin_cpu_supports("avx512f"))
    return {&same_forward_avx512, &same_data_avx512, &same_weights_avx512};
  if (fma && has_avx2()) return {&same_forward_avx2, &same_data_avx2, &same_weights_avx2};
#endif
  return {&same_forward_base, &same_data_base, &same_weights_base};
}

// f(begin, end) over [0, n) in chunks of `chunk`, the chunks split across threads as
// parallel_for splits `work` elements.
template <class F>
void for_chunks(std::size_t n, std::size_t chunk, F&& f, std::size_t work) {
  parallel_for((n + chunk - 1) / chunk, [&](std::size_t i) {
    f(i * chunk, std::min(n, (i + 1) * chunk));
  }, work);
}

// The calling thread's scratch for the framed bands, at least n floats: kept from call
// to call, so that no pass allocates it per chunk of planes.
float* band_scratch(std::size_t n) {
  thread_local AlignedBuffer<float> buf;
  return buf.ensure(n);
}

// Planes per chunk of the "same" 3×3 forward and backward-data: at most kChunkPlanes,
// in a number of chunks that is a multiple of the threads, so that each thread gets
// about as many planes (a stem of 8 one-channel images: two chunks of 4, not one of 8).
constexpr std::size_t kChunkPlanes = 16;
std::size_t chunk_planes(std::size_t planes, std::size_t work) {
  const std::size_t T = std::size_t(threads_for(work));
  const std::size_t chunks = round_up((planes + kChunkPlanes - 1) / kChunkPlanes, T);
  return std::max<std::size_t>(1, (planes + chunks - 1) / chunks);
}

// The loops index x and w as one input channel per group: anything else would read
// past them.
void check_depthwise(const ConvGeom& g, const char* who) {
  if (g.groups == g.C && g.K % g.C == 0) return;
  std::string m = who;
  m += ": needs one input channel per group (groups = C), got ";
  m += std::to_string(g.C) + " in-channels, " + std::to_string(g.K) + " out-channels and groups ";
  m += std::to_string(g.groups);
  throw Error(m);
}

}  // namespace

void conv2d_depthwise_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                              float* y) {
  check_depthwise(g, "conv2d_depthwise_forward");
  const Plane q(g);
  const std::size_t M = g.K / g.C, HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  if (same_three(g)) {
    // Each task reads one input plane (n, c) and writes its M output planes.
    const SameFns fns = same_fns();
    const std::size_t scratch = Bands(q).scratch();
    const std::size_t work = g.N * g.K * P * KK;
    for_chunks(g.N * g.C, chunk_planes(g.N * g.C, work), [&](std::size_t i0, std::size_t i1) {
      float* buf = band_scratch(scratch);
      for (std::size_t i = i0; i < i1; ++i) {
        const std::size_t c = i % g.C, k = c * M;
        fns.forward(q, Index(M), x + i * HW, w + k * KK, b ? b + k : nullptr, y + i * M * P,
                    buf);
      }
    }, work);
    return;
  }
  auto* plane_fn = &forward_plane_base;
#if MINICNN_DEPTHWISE_AVX2
  if (has_avx2()) plane_fn = &forward_plane_avx2;
#endif
  parallel_for(g.N * g.K, [&](std::size_t i) {
    const std::size_t n = i / g.K, k = i % g.K;
    plane_fn(q, x + (n * g.C + k / M) * HW, w + k * KK, b ? b[k] : 0.0f, y + i * P);
  }, g.N * g.K * P * KK);
}

void conv2d_depthwise_backward_data(const ConvGeom& g, const float* dy, const float* w,
                                    float* dx) {
  check_depthwise(g, "conv2d_depthwise_backward_data");
  const Plane q(g);
  const std::size_t M = g.K / g.C, HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  if (same_three(g)) {
    // The kernels turned by 180°: the transposed "same" convolution is the "same"
    // convolution with them.
    std::vector<float> wt(g.K * KK);
    for (std::size_t k = 0; k < g.K; ++k)
      for (std::size_t t = 0; t < KK; ++t) wt[k * KK + t] = w[k * KK + KK - 1 - t];
    const SameFns fns = same_fns();
    const std::size_t scratch = Bands(q).scratch();
    const std::size_t work = g.N * g.K * P * KK;
    for_chunks(g.N * g.C, chunk_planes(g.N * g.C, work), [&](std::size_t i0, std::size_t i1) {
      float* buf = band_scratch(scratch);
      for (std::size_t i = i0; i < i1; ++i) {
        const std::size_t k = (i % g.C) * M;
        fns.data(q, Index(M), dy + i * M * P, wt.data() + k * KK, dx + i * HW, buf);
      }
    }, work);
    return;
  }
  auto* plane_fn = &backward_data_plane_base;
#if MINICNN_DEPTHWISE_AVX2
  if (has_avx2()) plane_fn = &backward_data_plane_avx2;
#endif
  // Each input plane (n, c) gathers from its own M output planes: no two threads write
  // one value.
  parallel_for(g.N * g.C, [&](std::size_t i) {
    const std::size_t n = i / g.C, c = i % g.C;
    float* dxp = dx + i * HW;
    std::fill(dxp, dxp + HW, 0.0f);
    for (std::size_t k = c * M; k < (c + 1) * M; ++k)
      plane_fn(q, dy + (n * g.K + k) * P, w + k * KK, dxp);
  }, g.N * g.K * P * KK);
}

void conv2d_depthwise_backward_weights(const ConvGeom& g, const float* x, const float* dy,
                                       float* dw, float* db) {
  check_depthwise(g, "conv2d_depthwise_backward_weights");
  const Plane q(g);
  const std::size_t M = g.K / g.C, HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  if (same_three(g)) {
    // Each task owns the gradients of a run of kernels, each summed over the batch in
    // order; within an image it walks its channels' planes of x and dy, which lie one
    // after another in memory, so that the prefetchers follow. With fewer channels than
    // threads (a stem: one input channel, M outputs of it) each channel's M kernels are
    // split into parts, so that every thread has some: a unit is (channel, part), and a
    // run of units is a run of kernels k = c·M + m.
    const SameFns fns = same_fns();
    const std::size_t scratch = Bands(q).scratch();
    const std::size_t work = g.N * g.K * P * KK, T = std::size_t(threads_for(work));
    const std::size_t parts = g.C >= T ? 1 : std::min(M, (T + g.C - 1) / g.C);
    const std::size_t per_part = (M + parts - 1) / parts, units = g.C * parts;
    const auto first_k = [&](std::size_t u) {  // of unit u; first_k(units) = K
      return (u / parts) * M + std::min(M, (u % parts) * per_part);
    };
    for_chunks(units, (units + T - 1) / T, [&](std::size_t u0, std::size_t u1) {
      float* buf = band_scratch(scratch);
      const std::size_t k0 = first_k(u0), k1 = first_k(u1);
      std::vector<double> sums((k1 - k0) * 10, 0.0);
      for (std::size_t n = 0; n < g.N; ++n)
        for (std::size_t u = u0; u < u1; ++u) {
          const std::size_t ka = first_k(u), kb = first_k(u + 1);
          if (ka == kb) continue;  // a part left empty by the rounding
          fns.weights(q, Index(kb - ka), x + (n * g.C + u / parts) * HW,
                      dy + (n * g.K + ka) * P, sums.data() + (ka - k0) * 10, buf);
        }
      for (std::size_t k = k0; k < k1; ++k) {
        const double* s = sums.data() + (k - k0) * 10;
        for (std::size_t t = 0; t < KK; ++t) dw[k * KK + t] += static_cast<float>(s[t]);
        if (db) db[k] += static_cast<float>(s[9]);
      }
    }, work);
    return;
  }
  auto* plane_fn = &weights_plane_base;
  auto* three_fn = &weights_plane_three_base;
#if MINICNN_DEPTHWISE_AVX2
  if (has_avx2()) {
    plane_fn = &weights_plane_avx2;
    three_fn = &weights_plane_three_avx2;
  }
#endif
  // 3×3 with a padding that at most doubles the plane: on a zero-padded copy.
  const Index Hp = q.H + 2 * q.p, Wp = q.W + 2 * q.p;
  const bool padded = q.three() && std::size_t(Hp * Wp) <= 2 * HW + 64;
  // Each thread owns the gradients of its kernels k, summed over the batch in order.
  parallel_for(g.K, [&](std::size_t k) {
    std::vector<double> sums(KK, 0.0);
    std::vector<float> xpad(padded ? std::size_t(Hp * Wp) : 0, 0.0f);
    double bias_sum = 0.0;
    for (std::size_t n = 0; n < g.N; ++n) {
      const float* dyp = dy + (n * g.K + k) * P;
      if (db) {
        float lane[8] = {};
        std::size_t o = 0;
        for (; o + 8 <= P; o += 8)
          for (std::size_t j = 0; j < 8; ++j) lane[j] += dyp[o + j];
        for (std::size_t j = 0; o < P; ++o, ++j) lane[j] += dyp[o];
        for (float v : lane) bias_sum += v;
      }
      const float* xp = x + (n * g.C + k / M) * HW;
      if (!padded) {
        plane_fn(q, xp, dyp, sums.data());
        continue;
      }
      for (Index h = 0; h < q.H; ++h)  // the border stays zero from the allocation
        std::copy_n(xp + h * q.W, q.W, xpad.data() + (h + q.p) * Wp + q.p);
      three_fn(q, xpad.data(), Wp, dyp, sums.data());
    }
    for (std::size_t t = 0; t < KK; ++t) dw[k * KK + t] += static_cast<float>(sums[t]);
    if (db) db[k] += static_cast<float>(bias_sum);
  }, g.N * g.K * P * KK);
}

}  // namespace minicnn
