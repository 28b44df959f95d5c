#include "fft.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "../../core/blas.hpp"
#include "../../core/ops.hpp"
#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"

namespace minicnn {
namespace {

// Planes are transformed in groups, so that the transposition between a plane's
// spectrum and the frequency-major layout the GEMMs need writes whole runs.
constexpr std::size_t kGroup = 8;
// Planes at least this large (256²) are worth splitting one transform over threads;
// below it, waking the threads costs more than they save (S5 of bench_conv, 100²).
constexpr std::size_t kTeamPlane = 256 * 256;

struct Dims {
  std::size_t Lh, Lw, F;         // transform size and number of frequencies
  std::size_t real_al, spec_al;  // aligned plane sizes
  std::size_t per_thread;        // floats of scratch per thread
  std::size_t tile;              // T of T × T tiles; 0 for whole planes
};

Dims dims_of(const ConvGeom& g, std::size_t tile) {
  Dims d;
  d.tile = tile;
  d.Lh = tile ? tile : fft_conv_size(g.H, g.padding);
  d.Lw = tile ? tile : fft_conv_size(g.W, g.padding);
  d.F = d.Lh * (d.Lw / 2 + 1);
  d.real_al = aligned_count<float>(d.Lh * d.Lw);
  d.spec_al = aligned_count<cfloat>(d.F);
  d.per_thread = d.real_al + 2 * kGroup * d.spec_al;
  return d;
}

// How a pass cuts the planes it computes (y; dx in backward-data) into blocks, each
// the valid part of one transform: Sh × Sw outputs, TH × TW blocks per image (the last
// row and column of blocks cropped). A whole plane is one block.
struct Blocks {
  std::size_t Sh, Sw, TH, TW;
  std::size_t per_image() const { return TH * TW; }
};

Blocks blocks_of(const Dims& d, const ConvGeom& g, std::size_t rows, std::size_t cols) {
  if (d.tile == 0) return {rows, cols, 1, 1};
  const std::size_t Sh = d.Lh - g.KH + 1, Sw = d.Lw - g.KW + 1;
  return {Sh, Sw, (rows + Sh - 1) / Sh, (cols + Sw - 1) / Sw};
}

// The image and the block's row and column of GEMM row r (rows run over images, then
// blocks).
struct At {
  std::size_t n, bi, bj;
};

At at(const Blocks& b, std::size_t r) {
  const std::size_t t = r % b.per_image();
  return {r / b.per_image(), t / b.TW, t % b.TW};
}

// The largest tile a workspace may ask for: T × T floats per plane must not overflow.
constexpr std::size_t kMaxTile = std::size_t{1} << 14;

std::size_t tile_of(const ConvGeom& g, const FftWorkspace& ws) {
  if (ws.tile == 0) return fft_tile_size(g);
  if (ws.tile == FftWorkspace::kWholePlanes) return 0;
  if (ws.tile > kMaxTile) {
    throw Error("conv2d_fft: tiles of " + std::to_string(ws.tile) + "x" +
                std::to_string(ws.tile) + " are larger than the " + std::to_string(kMaxTile) +
                "x" + std::to_string(kMaxTile) + " the FFT takes");
  }
  if (ws.tile <= std::max(g.KH, g.KW)) {
    throw Error("conv2d_fft: tiles of " + std::to_string(ws.tile) + "x" +
                std::to_string(ws.tile) + " are too small for a " + std::to_string(g.KH) + "x" +
                std::to_string(g.KW) + " kernel (they must be larger than it)");
  }
  return ws.tile;
}

// Gets the workspace ready for g: resets what it holds if the geometry or the tiling
// changed and sizes the per-thread scratch.
Dims prepare(const ConvGeom& g, FftWorkspace& ws, int T) {
  const Dims d = dims_of(g, tile_of(g, ws));
  if (ws.geom != g || ws.Lh != d.Lh || ws.Lw != d.Lw || ws.tiled != d.tile) {
    ws.forget();
    ws.geom = g;
    ws.Lh = d.Lh;
    ws.Lw = d.Lw;
    ws.tiled = d.tile;
  }
  ws.scratch.ensure(d.per_thread * static_cast<std::size_t>(T));
  return d;
}

// What every pass starts with: the checks, the thread count, the workspace sized for g,
// the plan, and 1/(Lh·Lw), the scale FFTW's unnormalised inverse leaves out (folded
// into the per-frequency products).
struct Pass {
  int T;
  Dims d;
  const FftPlan2D* plan;
  float scale;
};

Pass begin_pass(const ConvGeom& g, FftWorkspace& ws) {
  check_fft_geom(g);
  const int T = num_threads();
  const Dims d = prepare(g, ws, T);
  return {T, d, &fft_plan(d.Lh, d.Lw), 1.0f / static_cast<float>(d.Lh * d.Lw)};
}

// Transforms `count` real planes into the frequency-major dst: dst[f·count + i] is
// frequency f of plane i. fill(i, buf) writes plane i, zero-padded, into an Lh × Lw
// buffer.
template <class Fill>
void forward_planes(const FftPlan2D& plan, const Dims& d, std::size_t count, cfloat* dst,
                    float* scratch, int T, Fill&& fill) {
  if (count < static_cast<std::size_t>(T) && d.Lh * d.Lw >= kTeamPlane) {
    // Fewer large planes than threads: one plane at a time, each transform split over
    // the threads by FFTW.
    const FftPlan2D& team = fft_plan(d.Lh, d.Lw, T);
    cfloat* spec = reinterpret_cast<cfloat*>(scratch + d.real_al);
    for (std::size_t i = 0; i < count; ++i) {
      fill(i, scratch);
      rfft2(team, scratch, spec);
      for (std::size_t f = 0; f < d.F; ++f) dst[f * count + i] = spec[f];
    }
    return;
  }
  const auto groups = static_cast<std::ptrdiff_t>((count + kGroup - 1) / kGroup);
#pragma omp parallel num_threads(T)
  {
    float* real = scratch + static_cast<std::size_t>(omp_get_thread_num()) * d.per_thread;
    cfloat* spec = reinterpret_cast<cfloat*>(real + d.real_al);
#pragma omp for schedule(static)
    for (std::ptrdiff_t gi = 0; gi < groups; ++gi) {
      const std::size_t i0 = static_cast<std::size_t>(gi) * kGroup;
      const std::size_t gn = std::min(kGroup, count - i0);
      for (std::size_t j = 0; j < gn; ++j) {
        fill(i0 + j, real);
        rfft2(plan, real, spec + j * d.spec_al);
      }
      for (std::size_t f = 0; f < d.F; ++f) {
        cfloat* out = dst + f * count + i0;
        for (std::size_t j = 0; j < gn; ++j) out[j] = spec[j * d.spec_al + f];
      }
    }
  }
}

// The way back: gathers plane i from the frequency-major src, transforms it to an
// Lh × Lw real buffer and hands that to consume(i, buf).
template <class Consume>
void inverse_planes(const FftPlan2D& plan, const Dims& d, std::size_t count, const cfloat* src,
                    float* scratch, int T, Consume&& consume) {
  if (count < static_cast<std::size_t>(T) && d.Lh * d.Lw >= kTeamPlane) {
    const FftPlan2D& team = fft_plan(d.Lh, d.Lw, T);
    cfloat* spec = reinterpret_cast<cfloat*>(scratch + d.real_al);
    for (std::size_t i = 0; i < count; ++i) {
      for (std::size_t f = 0; f < d.F; ++f) spec[f] = src[f * count + i];
      irfft2(team, spec, scratch);
      consume(i, static_cast<const float*>(scratch));
    }
    return;
  }
  const auto groups = static_cast<std::ptrdiff_t>((count + kGroup - 1) / kGroup);
#pragma omp parallel num_threads(T)
  {
    float* real = scratch + static_cast<std::size_t>(omp_get_thread_num()) * d.per_thread;
    cfloat* spec = reinterpret_cast<cfloat*>(real + d.real_al);
#pragma omp for schedule(static)
    for (std::ptrdiff_t gi = 0; gi < groups; ++gi) {
      const std::size_t i0 = static_cast<std::size_t>(gi) * kGroup;
      const std::size_t gn = std::min(kGroup, count - i0);
      for (std::size_t f = 0; f < d.F; ++f) {
        const cfloat* in = src + f * count + i0;
        for (std::size_t j = 0; j < gn; ++j) spec[j * d.spec_al + f] = in[j];
      }
      for (std::size_t j = 0; j < gn; ++j) {
        irfft2(plan, spec + j * d.spec_al, real);
        consume(i0 + j, static_cast<const float*>(real));
      }
    }
  }
}

// Fills the Lh × Lw buffer with rows [r0, r0 + h) and columns [c0, c0 + w) of a
// rows × cols plane (r0 and c0 may be negative), zeros where that runs off the plane
// and past h × w.
inline void window(const Dims& d, const float* src, std::size_t rows, std::size_t cols,
                   std::ptrdiff_t r0, std::ptrdiff_t c0, std::size_t h, std::size_t w,
                   float* buf) {
  std::memset(buf, 0, d.Lh * d.Lw * sizeof(float));
  const auto R = static_cast<std::ptrdiff_t>(rows), Cc = static_cast<std::ptrdiff_t>(cols);
  const std::ptrdiff_t u0 = std::max<std::ptrdiff_t>(0, -r0);
  const std::ptrdiff_t u1 = std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(h), R - r0);
  const std::ptrdiff_t v0 = std::max<std::ptrdiff_t>(0, -c0);
  const std::ptrdiff_t v1 = std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(w), Cc - c0);
  if (v1 <= v0) return;
  const auto n = static_cast<std::size_t>(v1 - v0) * sizeof(float);
  for (std::ptrdiff_t u = u0; u < u1; ++u)
    std::memcpy(buf + static_cast<std::size_t>(u) * d.Lw + static_cast<std::size_t>(v0),
                src + (r0 + u) * Cc + c0 + v0, n);
}

// Writes block (bi, bj) of a rows × cols plane from buf, read from (oh, ow) on, plus
// bias; the block cropped at the plane's edges.
inline void put_block(const Dims& d, const float* buf, std::size_t oh, std::size_t ow,
                      const Blocks& b, std::size_t bi, std::size_t bj, float* dst,
                      std::size_t rows, std::size_t cols, float bias) {
  const std::size_t r0 = bi * b.Sh, c0 = bj * b.Sw;
  const std::size_t h = std::min(b.Sh, rows - r0), w = std::min(b.Sw, cols - c0);
  for (std::size_t u = 0; u < h; ++u) {
    const float* in = buf + (oh + u) * d.Lw + ow;
    float* out = dst + (r0 + u) * cols + c0;
    for (std::size_t v = 0; v < w; ++v) out[v] = in[v] + bias;
  }
}

// C = alpha · op(A) · op(B) for products too small for a BLAS call to pay (a few
// multiply-adds per element: LeNet's first layer has one input channel, so its
// forward product at each frequency is an outer product).
void small_cgemm(Op op_a, Op op_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
                 const cfloat* A, std::size_t lda, const cfloat* B, std::size_t ldb, cfloat* C) {
  for (std::size_t m = 0; m < M; ++m) {
    for (std::size_t n = 0; n < N; ++n) {
      cfloat sum(0.0f, 0.0f);
      for (std::size_t k = 0; k < K; ++k) {
        cfloat a = op_a == Op::N ? A[m * lda + k] : A[k * lda + m];
        cfloat b = op_b == Op::N ? B[k * ldb + n] : B[n * ldb + k];
        if (op_a == Op::C) a = std::conj(a);
        if (op_b == Op::C) b = std::conj(b);
        sum += a * b;
      }
      C[m * N + n] = alpha * sum;
    }
  }
}

// At every frequency: C_f = alpha · op(A_f) · op(B_f), A_f and B_f frequency-major.
void gemm_per_frequency(const Dims& d, int T, Op op_a, Op op_b, std::size_t M, std::size_t N,
                        std::size_t K, const cfloat* A, std::size_t a_size, std::size_t lda,
                        const cfloat* B, std::size_t b_size, std::size_t ldb, cfloat* C,
                        float alpha) {
  const auto F = static_cast<std::ptrdiff_t>(d.F);
  const bool small = K <= 2 || M * N * K <= 512;
  blas_region(T, [&] {
#pragma omp for schedule(static)
    for (std::ptrdiff_t f = 0; f < F; ++f) {
      const auto fu = static_cast<std::size_t>(f);
      if (small) {
        small_cgemm(op_a, op_b, M, N, K, alpha, A + fu * a_size, lda, B + fu * b_size, ldb,
                    C + fu * M * N);
      } else {
        cgemm(op_a, op_b, M, N, K, cfloat(alpha, 0.0f), A + fu * a_size, lda, B + fu * b_size,
              ldb, cfloat(0.0f, 0.0f), C + fu * M * N, N);
      }
    }
  });
}

// x's planes cut as forward's blocks read them: the window of padded x each block's
// outputs need, at GEMM row (image, block) and column c.
void transform_x(const ConvGeom& g, const Dims& d, const FftPlan2D& plan, const float* x,
                 FftWorkspace& ws, int T) {
  const Blocks b = blocks_of(d, g, g.OH, g.OW);
  const std::size_t count = g.N * b.per_image() * g.C;
  const auto p = static_cast<std::ptrdiff_t>(g.padding);
  forward_planes(plan, d, count, ws.x_spec.ensure(d.F * count), ws.scratch.data(), T,
                 [&](std::size_t i, float* buf) {
                   const At a = at(b, i / g.C);
                   const float* src = x + (a.n * g.C + i % g.C) * g.H * g.W;
                   window(d, src, g.H, g.W, static_cast<std::ptrdiff_t>(a.bi * b.Sh) - p,
                          static_cast<std::ptrdiff_t>(a.bj * b.Sw) - p, d.Lh, d.Lw, buf);
                 });
  ws.x_src = x;
}

void transform_w(const ConvGeom& g, const Dims& d, const FftPlan2D& plan, const float* w,
                 FftWorkspace& ws, int T) {
  const std::size_t KC = g.K * g.C;
  forward_planes(plan, d, KC, ws.w_spec.ensure(d.F * KC), ws.scratch.data(), T,
                 [&](std::size_t i, float* buf) {
                   window(d, w + i * g.KH * g.KW, g.KH, g.KW, 0, 0, d.Lh, d.Lw, buf);
                 });
  ws.w_src = w;
}

// The dy spectrum for `pass`. Whole planes put each dy plane at (0, 0), for both passes:
// the spectrum one backward pass makes serves the other, if it gets the same address
// (then used up). Tiles cut dy as each pass needs: backward-weights takes forward's
// blocks of dy, each at (0, 0) of its tile; backward-data computes dx in blocks by
// overlap-save, the convolution of dy with the kernel, each tile the window of dy that
// its dx block reads (from (KH − 1 − p, KW − 1 − p) before it).
void use_dy(const ConvGeom& g, const Dims& d, const FftPlan2D& plan, const float* dy,
            ConvPass pass, FftWorkspace& ws, int T) {
  if (d.tile == 0 && ws.dy_src == dy && ws.dy_pass != pass) {
    ws.dy_src = nullptr;
    return;
  }
  const bool windows = d.tile != 0 && pass == ConvPass::BackwardData;
  const Blocks b = windows ? blocks_of(d, g, g.H, g.W) : blocks_of(d, g, g.OH, g.OW);
  const std::size_t count = g.N * b.per_image() * g.K;
  const auto qh = static_cast<std::ptrdiff_t>(g.KH) - 1 - static_cast<std::ptrdiff_t>(g.padding);
  const auto qw = static_cast<std::ptrdiff_t>(g.KW) - 1 - static_cast<std::ptrdiff_t>(g.padding);
  forward_planes(plan, d, count, ws.dy_spec.ensure(d.F * count), ws.scratch.data(), T,
                 [&](std::size_t i, float* buf) {
                   const At a = at(b, i / g.K);
                   const float* src = dy + (a.n * g.K + i % g.K) * g.OH * g.OW;
                   const auto r0 = static_cast<std::ptrdiff_t>(a.bi * b.Sh);
                   const auto c0 = static_cast<std::ptrdiff_t>(a.bj * b.Sw);
                   if (windows)
                     window(d, src, g.OH, g.OW, r0 - qh, c0 - qw, d.Lh, d.Lw, buf);
                   else
                     window(d, src, g.OH, g.OW, r0, c0, b.Sh, b.Sw, buf);
                 });
  ws.dy_src = dy;
  ws.dy_pass = pass;
}

}  // namespace

void check_fft_geom(const ConvGeom& g, const std::string& who) {
  if (g.stride != 1 || g.dilation != 1) {
    throw Error(who + ": the FFT algorithm needs stride 1 and dilation 1, got stride " +
                std::to_string(g.stride) + " and dilation " + std::to_string(g.dilation) +
                " (use im2col or direct)");
  }
}

std::size_t fft_conv_size(std::size_t in, std::size_t padding) {
  return fft_fast_size(in + 2 * padding);
}

namespace {

// The model of a pass's time on one thread (fft_model_seconds): FFTW's transforms cost
// about kTransformSeconds per n·log2(n) of a plane of n values, copies included, and
// the per-frequency complex products run at kProductRate FLOP/s.
constexpr double kTransformSeconds = 0.25e-9;
constexpr double kProductRate = 70e9;
// The tile sizes fft_tile_size weighs against whole planes.
constexpr std::size_t kTileSizes[] = {16, 32, 64};

// GEMM rows of a pass (images times blocks) for the tiling d.
std::size_t rows_of(const ConvGeom& g, const Dims& d, ConvPass pass) {
  const Blocks b = pass == ConvPass::BackwardData && d.tile != 0 ? blocks_of(d, g, g.H, g.W)
                                                                  : blocks_of(d, g, g.OH, g.OW);
  return g.N * b.per_image();
}

double model_seconds(const ConvGeom& g, const Dims& d, ConvPass pass) {
  const double n = double(d.Lh * d.Lw), F = double(d.F);
  const double R = double(rows_of(g, d, pass)), C = double(g.C), K = double(g.K);
  // Every pass called on its own transforms its two inputs and its output: rows · C,
  // K · C and rows · K planes, and one (rows · C · K) complex product per frequency.
  const double planes = R * C + K * C + R * K;
  const double transforms = planes * n * std::log2(std::max(2.0, n)) * kTransformSeconds;
  const double products = 8.0 * R * C * K * F / kProductRate;
  return transforms + products;
}

}  // namespace

std::size_t fft_tile_size(const ConvGeom& g) {
  const std::size_t whole_h = fft_conv_size(g.H, g.padding);
  const std::size_t whole_w = fft_conv_size(g.W, g.padding);
  auto cost = [&](std::size_t tile) {
    const Dims d = dims_of(g, tile);
    double sum = 0;
    for (ConvPass p : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights})
      sum += model_seconds(g, d, p);
    return sum;
  };
  std::size_t best = 0;
  double best_cost = cost(0);
  for (std::size_t t : kTileSizes) {
    // A tile as large as the padded plane is a whole plane with more waste.
    if (t <= std::max(g.KH, g.KW) || t >= std::max(whole_h, whole_w)) continue;
    const double c = cost(t);
    if (c < best_cost) {
      best = t;
      best_cost = c;
    }
  }
  return best;
}

double fft_model_seconds(const ConvGeom& g, ConvPass pass) {
  return model_seconds(g, dims_of(g, fft_tile_size(g)), pass);
}

std::size_t conv2d_fft_workspace_bytes(const ConvGeom& g, int threads) {
  const Dims d = dims_of(g, fft_tile_size(g));
  const std::size_t R = rows_of(g, d, ConvPass::Forward);
  const std::size_t R_in = rows_of(g, d, ConvPass::BackwardData);
  const std::size_t dy = std::max(R, R_in) * g.K;
  const std::size_t out = std::max({R * g.K, R_in * g.C, g.K * g.C});
  const std::size_t spectra = d.F * (R * g.C + g.K * g.C + dy + out);
  return spectra * sizeof(cfloat) + d.per_thread * static_cast<std::size_t>(threads) * sizeof(float);
}

std::size_t FftWorkspace::bytes() const {
  return x_spec.bytes() + w_spec.bytes() + dy_spec.bytes() + out_spec.bytes() + scratch.bytes();
}

void conv2d_fft_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                        float* y, FftWorkspace& ws) {
  const Pass pass = begin_pass(g, ws);
  const int T = pass.T;
  const Dims& d = pass.d;
  const FftPlan2D& plan = *pass.plan;
  const float scale = pass.scale;
  ws.dy_src = nullptr;
  transform_x(g, d, plan, x, ws, T);
  transform_w(g, d, plan, w, ws, T);
  const Blocks bl = blocks_of(d, g, g.OH, g.OW);
  const std::size_t R = g.N * bl.per_image();
  cfloat* ys = ws.out_spec.ensure(d.F * R * g.K);
  // Y_f (rows × K) = X_f (rows × C) · W_f (K × C)ᴴ
  gemm_per_frequency(d, T, Op::N, Op::C, R, g.K, g.C, ws.x_spec.data(), R * g.C, g.C,
                     ws.w_spec.data(), g.K * g.C, g.C, ys, scale);
  inverse_planes(plan, d, R * g.K, ys, ws.scratch.data(), T,
                 [&](std::size_t i, const float* buf) {
                   const std::size_t k = i % g.K;
                   const At a = at(bl, i / g.K);
                   put_block(d, buf, 0, 0, bl, a.bi, a.bj, y + (a.n * g.K + k) * g.OH * g.OW,
                             g.OH, g.OW, b ? b[k] : 0.0f);
                 });
}

void conv2d_fft_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                              FftWorkspace& ws) {
  const Pass pass = begin_pass(g, ws);
  const int T = pass.T;
  const Dims& d = pass.d;
  const FftPlan2D& plan = *pass.plan;
  const float scale = pass.scale;
  if (ws.w_src != w) transform_w(g, d, plan, w, ws, T);
  use_dy(g, d, plan, dy, ConvPass::BackwardData, ws, T);
  const Blocks bl = blocks_of(d, g, g.H, g.W);
  const std::size_t R = g.N * bl.per_image();
  cfloat* dxs = ws.out_spec.ensure(d.F * R * g.C);
  // dX_f (rows × C) = dY_f (rows × K) · W_f (K × C)
  gemm_per_frequency(d, T, Op::N, Op::N, R, g.C, g.K, ws.dy_spec.data(), R * g.K, g.K,
                     ws.w_spec.data(), g.K * g.C, g.C, dxs, scale);
  // A whole plane's dx starts p into the full convolution; a tile's valid part KH − 1
  // (KW − 1) into the circular one.
  const std::size_t oh = d.tile ? g.KH - 1 : g.padding, ow = d.tile ? g.KW - 1 : g.padding;
  inverse_planes(plan, d, R * g.C, dxs, ws.scratch.data(), T,
                 [&](std::size_t i, const float* buf) {
                   const At a = at(bl, i / g.C);
                   put_block(d, buf, oh, ow, bl, a.bi, a.bj,
                             dx + (a.n * g.C + i % g.C) * g.H * g.W, g.H, g.W, 0.0f);
                 });
}

void conv2d_fft_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                                 float* db, FftWorkspace& ws) {
  const Pass pass = begin_pass(g, ws);
  const int T = pass.T;
  const Dims& d = pass.d;
  const FftPlan2D& plan = *pass.plan;
  const float scale = pass.scale;
  if (ws.x_src != x) transform_x(g, d, plan, x, ws, T);
  use_dy(g, d, plan, dy, ConvPass::BackwardWeights, ws, T);
  const std::size_t R = g.N * blocks_of(d, g, g.OH, g.OW).per_image();
  cfloat* dws = ws.out_spec.ensure(d.F * g.K * g.C);
  // dW_f (K × C) = dY_f (rows × K)ᴴ · X_f (rows × C)
  gemm_per_frequency(d, T, Op::C, Op::N, g.K, g.C, R, ws.dy_spec.data(), R * g.K, g.K,
                     ws.x_spec.data(), R * g.C, g.C, dws, scale);
  inverse_planes(plan, d, g.K * g.C, dws, ws.scratch.data(), T,
                 [&](std::size_t i, const float* buf) {
                   float* out = dw + i * g.KH * g.KW;
                   for (std::size_t kh = 0; kh < g.KH; ++kh)
                     for (std::size_t kw = 0; kw < g.KW; ++kw)
                       out[kh * g.KW + kw] += buf[kh * d.Lw + kw];
                 });
  if (db) add_bias_grad(dy, db, g.N, g.K, g.OH * g.OW);
}

}  // namespace minicnn
