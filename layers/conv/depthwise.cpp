#include "depthwise.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

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
