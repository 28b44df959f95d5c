#include "direct.hpp"

#include <algorithm>
#include <cstddef>

namespace minicnn {
namespace {

// Input row/column that output position o meets through kernel tap k, or -1 when the
// tap falls into the padding.
inline std::ptrdiff_t input_index(const ConvGeom& g, std::size_t o, std::size_t k,
                                  std::size_t size) {
  const std::ptrdiff_t i = static_cast<std::ptrdiff_t>(o * g.stride + k * g.dilation) -
                           static_cast<std::ptrdiff_t>(g.padding);
  return (i >= 0 && i < static_cast<std::ptrdiff_t>(size)) ? i : -1;
}

}  // namespace

void conv2d_direct_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                           float* y) {
  const std::size_t Cg = g.group_in(), Kg = g.group_out();
  for (std::size_t n = 0; n < g.N; ++n) {
    for (std::size_t k = 0; k < g.K; ++k) {
      for (std::size_t oh = 0; oh < g.OH; ++oh) {
        for (std::size_t ow = 0; ow < g.OW; ++ow) {
          // Sum in double so that the reference is more accurate than what it checks.
          double sum = b ? b[k] : 0.0;
          const std::size_t c0 = k / Kg * Cg;  // the group's first input channel
          for (std::size_t j = 0; j < Cg; ++j) {
            const std::size_t c = c0 + j;
            for (std::size_t kh = 0; kh < g.KH; ++kh) {
              const std::ptrdiff_t ih = input_index(g, oh, kh, g.H);
              if (ih < 0) continue;
              for (std::size_t kw = 0; kw < g.KW; ++kw) {
                const std::ptrdiff_t iw = input_index(g, ow, kw, g.W);
                if (iw < 0) continue;
                sum += double(w[((k * Cg + j) * g.KH + kh) * g.KW + kw]) *
                       x[((n * g.C + c) * g.H + ih) * g.W + iw];
              }
            }
          }
          y[((n * g.K + k) * g.OH + oh) * g.OW + ow] = static_cast<float>(sum);
        }
      }
    }
  }
}

void conv2d_direct_backward_data(const ConvGeom& g, const float* dy, const float* w,
                                 float* dx) {
  const std::size_t Cg = g.group_in(), Kg = g.group_out();
  std::fill(dx, dx + g.N * g.C * g.H * g.W, 0.0f);
  // Scatter: each output gradient flows back to every input it was computed from.
  for (std::size_t n = 0; n < g.N; ++n)
    for (std::size_t k = 0; k < g.K; ++k)
      for (std::size_t oh = 0; oh < g.OH; ++oh)
        for (std::size_t ow = 0; ow < g.OW; ++ow) {
          const float d = dy[((n * g.K + k) * g.OH + oh) * g.OW + ow];
          const std::size_t c0 = k / Kg * Cg;
          for (std::size_t j = 0; j < Cg; ++j)
            for (std::size_t kh = 0; kh < g.KH; ++kh) {
              const std::ptrdiff_t ih = input_index(g, oh, kh, g.H);
              if (ih < 0) continue;
              for (std::size_t kw = 0; kw < g.KW; ++kw) {
                const std::ptrdiff_t iw = input_index(g, ow, kw, g.W);
                if (iw < 0) continue;
                dx[((n * g.C + c0 + j) * g.H + ih) * g.W + iw] +=
                    w[((k * Cg + j) * g.KH + kh) * g.KW + kw] * d;
              }
            }
        }
}

void conv2d_direct_backward_weights(const ConvGeom& g, const float* x, const float* dy,
                                    float* dw, float* db) {
  const std::size_t Cg = g.group_in(), Kg = g.group_out();
  for (std::size_t k = 0; k < g.K; ++k) {
    if (db) {
      double s = 0.0;
      for (std::size_t n = 0; n < g.N; ++n)
        for (std::size_t o = 0; o < g.OH * g.OW; ++o) s += dy[(n * g.K + k) * g.OH * g.OW + o];
      db[k] += static_cast<float>(s);
    }
    const std::size_t c0 = k / Kg * Cg;
    for (std::size_t j = 0; j < Cg; ++j)
      for (std::size_t kh = 0; kh < g.KH; ++kh)
        for (std::size_t kw = 0; kw < g.KW; ++kw) {
          const std::size_t c = c0 + j;
          // Taps in the padding multiply a zero: they add nothing, unless dy holds a
          // NaN or an Inf there (0·NaN is NaN), as in im2col's product.
          double s = 0.0;
          for (std::size_t n = 0; n < g.N; ++n)
            for (std::size_t oh = 0; oh < g.OH; ++oh) {
              const std::ptrdiff_t ih = input_index(g, oh, kh, g.H);
              for (std::size_t ow = 0; ow < g.OW; ++ow) {
                const std::ptrdiff_t iw = input_index(g, ow, kw, g.W);
                const float xv = ih < 0 || iw < 0 ? 0.0f : x[((n * g.C + c) * g.H + ih) * g.W + iw];
                s += double(dy[((n * g.K + k) * g.OH + oh) * g.OW + ow]) * xv;
              }
            }
          dw[((k * Cg + j) * g.KH + kh) * g.KW + kw] += static_cast<float>(s);
        }
  }
}

}  // namespace minicnn
