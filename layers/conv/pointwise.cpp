#include "pointwise.hpp"

#include <algorithm>
#include <string>

#include "../../core/blas.hpp"
#include "../../core/ops.hpp"
#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"

namespace minicnn {
namespace {

// Threads that take whole images: all of them when there are at least as many images,
// else one, whose GEMMs then run on OpenBLAS's threads; a small pass stays on the
// calling thread, as parallel.hpp's loops do.
int image_threads(const ConvGeom& g, int threads) {
  const std::size_t T = static_cast<std::size_t>(std::max(1, threads));
  if (g.N * g.K * g.C * g.out_plane() < kParallelMin || g.N < T) return 1;
  return static_cast<int>(T);
}

// Floats of one thread's scratch: the gathered x_n (or backward-data's product) at a
// stride, and backward-weights' partial dW and db; whole 64-byte lines each.
std::size_t part_floats(const ConvGeom& g, ConvPass pass) {
  const std::size_t line = 16;
  const std::size_t sampled = g.stride == 1 ? 0 : round_up(g.C * g.out_plane(), line);
  return sampled + (pass == ConvPass::BackwardWeights ? round_up(g.K * g.C + g.K, line) : 0);
}

// xs (C × OH·OW) = x_n at rows and columns 0, s, 2s, ...
void gather(const ConvGeom& g, const float* xn, float* xs) {
  const std::size_t s = g.stride, P = g.out_plane();
  for (std::size_t c = 0; c < g.C; ++c) {
    const float* src = xn + c * g.H * g.W;
    float* dst = xs + c * P;
    for (std::size_t r = 0; r < g.OH; ++r, dst += g.OW) {
      const float* row = src + r * s * g.W;
      for (std::size_t q = 0; q < g.OW; ++q) dst[q] = row[q * s];
    }
  }
}

// dx_n = zero but at rows and columns 0, s, 2s, ..., which take vs (C × OH·OW).
void spread(const ConvGeom& g, const float* vs, float* dxn) {
  const std::size_t s = g.stride, P = g.out_plane();
  std::fill(dxn, dxn + g.C * g.H * g.W, 0.0f);
  for (std::size_t c = 0; c < g.C; ++c) {
    const float* src = vs + c * P;
    float* dst = dxn + c * g.H * g.W;
    for (std::size_t r = 0; r < g.OH; ++r, src += g.OW) {
      float* row = dst + r * s * g.W;
      for (std::size_t q = 0; q < g.OW; ++q) row[q * s] = src[q];
    }
  }
}

void check_geometry(const ConvGeom& g, const char* who) {
  if (g.KH != 1 || g.KW != 1 || g.padding != 0 || g.groups != 1)
    throw Error(std::string(who) + ": needs a 1x1 kernel, padding 0 and one group, got a " +
                std::to_string(g.KH) + "x" + std::to_string(g.KW) + " kernel, padding " +
                std::to_string(g.padding) + ", groups " + std::to_string(g.groups) +
                " (see pointwise_eligible)");
}

// f(part, n) for every image n, image n by part n mod parts.
template <class F>
void for_images(const ConvGeom& g, int parts, F&& f) {
  if (parts == 1) {
    for (std::size_t n = 0; n < g.N; ++n) f(0, n);
    return;
  }
  for_each_part(parts, [&](int part) {
    for (std::size_t n = static_cast<std::size_t>(part); n < g.N; n += static_cast<std::size_t>(parts))
      f(part, n);
  });
}

}  // namespace

bool pointwise_eligible(const ConvGeom& g, ConvPass pass, int threads, std::size_t limit_bytes) {
  if (g.KH != 1 || g.KW != 1 || g.padding != 0 || g.groups != 1) return false;
  return pointwise_scratch_floats(g, pass, threads) * sizeof(float) <= limit_bytes;
}

std::size_t pointwise_scratch_floats(const ConvGeom& g, ConvPass pass, int threads) {
  return static_cast<std::size_t>(image_threads(g, threads)) * part_floats(g, pass);
}

void pointwise_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                       float* y, float* scratch, int threads) {
  check_geometry(g, "pointwise_forward");
  const std::size_t P = g.out_plane(), CHW = g.C * g.H * g.W, per = part_floats(g, ConvPass::Forward);
  for_images(g, image_threads(g, threads), [&](int part, std::size_t n) {
    const float* xn = x + n * CHW;
    float* yn = y + n * g.K * P;
    if (g.stride != 1) {
      float* xs = scratch + static_cast<std::size_t>(part) * per;
      gather(g, xn, xs);
      xn = xs;
    }
    sgemm(Op::N, Op::N, g.K, P, g.C, 1.0f, w, g.C, xn, P, 0.0f, yn, P);
    if (b)
      for (std::size_t k = 0; k < g.K; ++k) {
        float* row = yn + k * P;
        const float bk = b[k];
        for (std::size_t i = 0; i < P; ++i) row[i] += bk;
      }
  });
}

void pointwise_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                             float* scratch, int threads) {
  check_geometry(g, "pointwise_backward_data");
  const std::size_t P = g.out_plane(), CHW = g.C * g.H * g.W,
                    per = part_floats(g, ConvPass::BackwardData);
  for_images(g, image_threads(g, threads), [&](int part, std::size_t n) {
    const float* dyn = dy + n * g.K * P;
    float* dxn = dx + n * CHW;
    if (g.stride == 1) {
      sgemm(Op::T, Op::N, g.C, P, g.K, 1.0f, w, g.C, dyn, P, 0.0f, dxn, P);
      return;
    }
    float* vs = scratch + static_cast<std::size_t>(part) * per;
    sgemm(Op::T, Op::N, g.C, P, g.K, 1.0f, w, g.C, dyn, P, 0.0f, vs, P);
    spread(g, vs, dxn);
  });
}

void pointwise_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                                float* db, float* scratch, int threads) {
  check_geometry(g, "pointwise_backward_weights");
  const std::size_t P = g.out_plane(), CHW = g.C * g.H * g.W,
                    per = part_floats(g, ConvPass::BackwardWeights);
  const std::size_t sampled = g.stride == 1 ? 0 : round_up(g.C * P, 16);
  const int parts = image_threads(g, threads);
  for (int t = 0; t < parts; ++t) {
    float* sums = scratch + static_cast<std::size_t>(t) * per + sampled;
    std::fill(sums, sums + g.K * g.C + g.K, 0.0f);
  }
  for_images(g, parts, [&](int part, std::size_t n) {
    float* base = scratch + static_cast<std::size_t>(part) * per;
    float* dw_part = base + sampled;
    float* db_part = dw_part + g.K * g.C;
    const float* xn = x + n * CHW;
    const float* dyn = dy + n * g.K * P;
    if (g.stride != 1) {
      gather(g, xn, base);
      xn = base;
    }
    sgemm(Op::N, Op::T, g.K, g.C, P, 1.0f, dyn, P, xn, P, 1.0f, dw_part, g.C);
    for (std::size_t k = 0; k < g.K; ++k)
      db_part[k] += static_cast<float>(sum_to_double(dyn + k * P, P));
  });
  for (int t = 0; t < parts; ++t) {
    const float* dw_part = scratch + static_cast<std::size_t>(t) * per + sampled;
    for (std::size_t i = 0; i < g.K * g.C; ++i) dw[i] += dw_part[i];
    if (db)
      for (std::size_t k = 0; k < g.K; ++k) db[k] += dw_part[g.K * g.C + k];
  }
}

}  // namespace minicnn
