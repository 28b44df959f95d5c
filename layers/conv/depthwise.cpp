#include "depthwise.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../../core/parallel.hpp"

namespace minicnn {
namespace {

// The outputs o in [lo, hi) whose tap k lands inside the input (0 <= o·s + k·d − p <
// size); lo = hi when none does.
struct Span {
  std::size_t lo, hi;
};

Span tap_span(const ConvGeom& g, std::size_t k, std::size_t size, std::size_t outs) {
  const std::size_t shift = k * g.dilation;  // o·s + shift − p must be in [0, size)
  std::size_t lo = 0;
  if (g.padding > shift) lo = (g.padding - shift + g.stride - 1) / g.stride;
  if (size + g.padding <= shift) return {0, 0};
  const std::size_t hi = std::min(outs, (size - 1 + g.padding - shift) / g.stride + 1);
  return {std::min(lo, hi), hi};
}

// Σ a[i]·b[i] over n values, in eight independent sums so that it vectorises without
// reassociating a single sum (which the compiler may not do for floats).
double dot(const float* a, const float* b, std::size_t n) {
  float acc[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  double s = 0.0;
  for (std::size_t j = 0; j < 8; ++j) s += acc[j];
  for (; i < n; ++i) s += double(a[i]) * b[i];
  return s;
}

double strided_dot(const float* a, const float* b, std::size_t stride, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += double(a[i]) * b[i * stride];
  return s;
}

// Three taps of one kernel row at once: stride 1, dilation 1, KW = 3.
bool row_of_three(const ConvGeom& g) { return g.KW == 3 && g.stride == 1 && g.dilation == 1; }

// out[o] += Σ_kw wr[kw] · in[o·s + kw·d − p] for the outputs o of one row (forward's
// inner step: `in` an input row, `out` an output row).
void add_row_taps(const ConvGeom& g, const Span* spans, const float* wr, const float* in,
                  float* out) {
  const std::ptrdiff_t p = static_cast<std::ptrdiff_t>(g.padding);
  std::size_t a = 0, b = 0;  // where all three taps of a 3-wide row land inside
  if (row_of_three(g)) {
    a = std::max({spans[0].lo, spans[1].lo, spans[2].lo});
    b = std::min({spans[0].hi, spans[1].hi, spans[2].hi});
    if (a < b) {
      const float w0 = wr[0], w1 = wr[1], w2 = wr[2];
      const std::ptrdiff_t e = static_cast<std::ptrdiff_t>(b);
      for (std::ptrdiff_t o = static_cast<std::ptrdiff_t>(a); o < e; ++o)  // in[o − p + kw]
        out[o] += w0 * in[o - p] + w1 * in[o - p + 1] + w2 * in[o - p + 2];
    } else {
      a = b = 0;
    }
  }
  for (std::size_t kw = 0; kw < g.KW; ++kw) {
    const float wv = wr[kw];
    const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(kw * g.dilation) - p;
    const Span s = spans[kw];
    auto run = [&](std::size_t lo, std::size_t hi) {
      if (g.stride == 1) {
        const std::ptrdiff_t e = static_cast<std::ptrdiff_t>(hi);
        for (std::ptrdiff_t o = static_cast<std::ptrdiff_t>(lo); o < e; ++o) out[o] += wv * in[o + off];
      } else {
        for (std::size_t o = lo; o < hi; ++o)
          out[o] += wv * in[static_cast<std::ptrdiff_t>(o * g.stride) + off];
      }
    };
    if (a < b) {  // the taps outside [a, b) only
      run(s.lo, std::min(a, s.hi));
      run(std::max(b, s.lo), s.hi);
    } else {
      run(s.lo, s.hi);
    }
  }
}

// in[o·s + kw·d − p] += wr[kw] · out[o] for one row: backward-data's step, written per
// input column so that it vectorises (`in` a row of dx, `out` a row of dy).
void scatter_row_taps(const ConvGeom& g, const Span* spans, const float* wr, const float* out,
                      float* in) {
  const std::ptrdiff_t p = static_cast<std::ptrdiff_t>(g.padding);
  std::ptrdiff_t a = 0, b = 0;  // input columns that all three taps reach
  if (row_of_three(g)) {
    // Column i = o − p + kw: tap kw reaches i for o in its span, so i in
    // [lo_kw + kw − p, hi_kw + kw − p); the intersection over kw.
    std::ptrdiff_t lo = 0, hi = static_cast<std::ptrdiff_t>(g.W);
    for (std::size_t kw = 0; kw < 3; ++kw) {
      const std::ptrdiff_t k = static_cast<std::ptrdiff_t>(kw);
      lo = std::max(lo, static_cast<std::ptrdiff_t>(spans[kw].lo) + k - p);
      hi = std::min(hi, static_cast<std::ptrdiff_t>(spans[kw].hi) + k - p);
    }
    if (lo < hi) {
      a = lo;
      b = hi;
      const float w0 = wr[0], w1 = wr[1], w2 = wr[2];
      for (std::ptrdiff_t i = a; i < b; ++i)  // out[i + p − kw] for kw = 0, 1, 2
        in[i] += w0 * out[i + p] + w1 * out[i + p - 1] + w2 * out[i + p - 2];
    }
  }
  for (std::size_t kw = 0; kw < g.KW; ++kw) {
    const float wv = wr[kw];
    const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(kw * g.dilation) - p;
    const std::ptrdiff_t lo = static_cast<std::ptrdiff_t>(spans[kw].lo),
                         hi = static_cast<std::ptrdiff_t>(spans[kw].hi);
    if (g.stride != 1) {
      for (std::ptrdiff_t o = lo; o < hi; ++o)
        in[o * static_cast<std::ptrdiff_t>(g.stride) + off] += wv * out[o];
      continue;
    }
    // Stride 1: i = o + off; the columns [a, b) are done above.
    auto run = [&](std::ptrdiff_t o0, std::ptrdiff_t o1) {
      for (std::ptrdiff_t o = o0; o < o1; ++o) in[o + off] += wv * out[o];
    };
    if (a < b) {
      run(lo, std::min(hi, a - off));
      run(std::max(lo, b - off), hi);
    } else {
      run(lo, hi);
    }
  }
}

}  // namespace

void conv2d_depthwise_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                              float* y) {
  const std::size_t M = g.K / g.C, HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  std::vector<Span> spans(g.KW);
  for (std::size_t kw = 0; kw < g.KW; ++kw) spans[kw] = tap_span(g, kw, g.W, g.OW);
  parallel_for(g.N * g.K, [&](std::size_t plane) {
    const std::size_t n = plane / g.K, k = plane % g.K;
    const float* xp = x + (n * g.C + k / M) * HW;
    const float* wk = w + k * KK;
    float* yp = y + plane * P;
    std::fill(yp, yp + P, b ? b[k] : 0.0f);
    for (std::size_t oh = 0; oh < g.OH; ++oh)
      for (std::size_t kh = 0; kh < g.KH; ++kh) {
        const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * g.stride + kh * g.dilation) -
                                  static_cast<std::ptrdiff_t>(g.padding);
        if (ih < 0 || ih >= static_cast<std::ptrdiff_t>(g.H)) continue;
        add_row_taps(g, spans.data(), wk + kh * g.KW, xp + ih * g.W, yp + oh * g.OW);
      }
  }, g.N * g.K * P * KK);
}

void conv2d_depthwise_backward_data(const ConvGeom& g, const float* dy, const float* w,
                                    float* dx) {
  const std::size_t M = g.K / g.C, HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  std::vector<Span> spans(g.KW);
  for (std::size_t kw = 0; kw < g.KW; ++kw) spans[kw] = tap_span(g, kw, g.W, g.OW);
  parallel_for(g.N * g.C, [&](std::size_t plane) {
    const std::size_t n = plane / g.C, c = plane % g.C;
    float* dxp = dx + plane * HW;
    std::fill(dxp, dxp + HW, 0.0f);
    for (std::size_t k = c * M; k < (c + 1) * M; ++k) {
      const float* dyp = dy + (n * g.K + k) * P;
      const float* wk = w + k * KK;
      for (std::size_t oh = 0; oh < g.OH; ++oh)
        for (std::size_t kh = 0; kh < g.KH; ++kh) {
          const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * g.stride + kh * g.dilation) -
                                    static_cast<std::ptrdiff_t>(g.padding);
          if (ih < 0 || ih >= static_cast<std::ptrdiff_t>(g.H)) continue;
          scatter_row_taps(g, spans.data(), wk + kh * g.KW, dyp + oh * g.OW, dxp + ih * g.W);
        }
    }
  }, g.N * g.K * P * KK);
}

void conv2d_depthwise_backward_weights(const ConvGeom& g, const float* x, const float* dy,
                                       float* dw, float* db) {
  const std::size_t M = g.K / g.C, HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  std::vector<Span> spans(g.KW);
  for (std::size_t kw = 0; kw < g.KW; ++kw) spans[kw] = tap_span(g, kw, g.W, g.OW);
  parallel_for(g.K, [&](std::size_t k) {
    std::vector<double> sums(KK, 0.0);
    double bias_sum = 0.0;
    for (std::size_t n = 0; n < g.N; ++n) {
      const float* xp = x + (n * g.C + k / M) * HW;
      const float* dyp = dy + (n * g.K + k) * P;
      if (db)
        for (std::size_t o = 0; o < P; ++o) bias_sum += dyp[o];
      for (std::size_t oh = 0; oh < g.OH; ++oh) {
        const float* dyr = dyp + oh * g.OW;
        for (std::size_t kh = 0; kh < g.KH; ++kh) {
          const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * g.stride + kh * g.dilation) -
                                    static_cast<std::ptrdiff_t>(g.padding);
          if (ih < 0 || ih >= static_cast<std::ptrdiff_t>(g.H)) continue;
          const float* xr = xp + ih * g.W;
          for (std::size_t kw = 0; kw < g.KW; ++kw) {
            const Span s = spans[kw];
            if (s.lo >= s.hi) continue;
            const std::ptrdiff_t first = static_cast<std::ptrdiff_t>(s.lo * g.stride + kw * g.dilation) -
                                         static_cast<std::ptrdiff_t>(g.padding);
            sums[kh * g.KW + kw] += g.stride == 1
                                        ? dot(dyr + s.lo, xr + first, s.hi - s.lo)
                                        : strided_dot(dyr + s.lo, xr + first, g.stride, s.hi - s.lo);
          }
        }
      }
    }
    for (std::size_t t = 0; t < KK; ++t) dw[k * KK + t] += static_cast<float>(sums[t]);
    if (db) db[k] += static_cast<float>(bias_sum);
  }, g.N * g.K * P * KK);
}

}  // namespace minicnn
