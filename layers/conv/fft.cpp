#include "fft.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "../../core/blas.hpp"
#include "../../core/ops.hpp"
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
  std::size_t Lh, Lw, F;       // transform size and number of frequencies
  std::size_t real_al, spec_al;  // aligned plane sizes
  std::size_t per_thread;      // floats of scratch per thread
};

Dims dims_of(const ConvGeom& g) {
  Dims d;
  d.Lh = fft_conv_size(g.H, g.padding);
  d.Lw = fft_conv_size(g.W, g.padding);
  d.F = d.Lh * (d.Lw / 2 + 1);
  d.real_al = aligned_count<float>(d.Lh * d.Lw);
  d.spec_al = aligned_count<cfloat>(d.F);
  d.per_thread = d.real_al + 2 * kGroup * d.spec_al;
  return d;
}

// Gets the workspace ready for g: resets what it holds if the geometry changed and
// sizes the per-thread scratch.
Dims prepare(const ConvGeom& g, FftWorkspace& ws, int T) {
  const Dims d = dims_of(g);
  if (ws.geom != g || ws.Lh != d.Lh || ws.Lw != d.Lw) {
    ws.forget();
    ws.geom = g;
    ws.Lh = d.Lh;
    ws.Lw = d.Lw;
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

// Copies a rows × cols plane into an Lh × Lw buffer at (top, left), zeros elsewhere.
inline void pad_plane(const Dims& d, const float* src, std::size_t rows, std::size_t cols,
                      std::size_t top, std::size_t left, float* buf) {
  std::memset(buf, 0, d.Lh * d.Lw * sizeof(float));
  for (std::size_t r = 0; r < rows; ++r)
    std::memcpy(buf + (top + r) * d.Lw + left, src + r * cols, cols * sizeof(float));
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
  const BlasHold caller;  // covers the region's start (blas.hpp)
#pragma omp parallel num_threads(T)
  {
    const BlasHold hold;  // a cgemm per frequency: no lock per call (blas.hpp)
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
  }
}

void transform_x(const ConvGeom& g, const Dims& d, const FftPlan2D& plan, const float* x,
                 FftWorkspace& ws, int T) {
  const std::size_t NC = g.N * g.C;
  forward_planes(plan, d, NC, ws.x_spec.ensure(d.F * NC), ws.scratch.data(), T,
                 [&](std::size_t i, float* buf) {
                   pad_plane(d, x + i * g.H * g.W, g.H, g.W, g.padding, g.padding, buf);
                 });
  ws.x_src = x;
}

void transform_w(const ConvGeom& g, const Dims& d, const FftPlan2D& plan, const float* w,
                 FftWorkspace& ws, int T) {
  const std::size_t KC = g.K * g.C;
  forward_planes(plan, d, KC, ws.w_spec.ensure(d.F * KC), ws.scratch.data(), T,
                 [&](std::size_t i, float* buf) {
                   pad_plane(d, w + i * g.KH * g.KW, g.KH, g.KW, 0, 0, buf);
                 });
  ws.w_src = w;
}

// The dy spectrum for `pass`: the other backward pass's, if it made one from the same
// address (then used up), else transformed here and left for the other pass.
void use_dy(const ConvGeom& g, const Dims& d, const FftPlan2D& plan, const float* dy,
            ConvPass pass, FftWorkspace& ws, int T) {
  if (ws.dy_src == dy && ws.dy_pass != pass) {
    ws.dy_src = nullptr;
    return;
  }
  const std::size_t NK = g.N * g.K;
  forward_planes(plan, d, NK, ws.dy_spec.ensure(d.F * NK), ws.scratch.data(), T,
                 [&](std::size_t i, float* buf) {
                   pad_plane(d, dy + i * g.OH * g.OW, g.OH, g.OW, 0, 0, buf);
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

std::size_t conv2d_fft_workspace_bytes(const ConvGeom& g, int threads) {
  const Dims d = dims_of(g);
  const std::size_t spectra = d.F * (2 * g.N * g.C + g.K * g.C + g.N * g.K);
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
  cfloat* ys = ws.out_spec.ensure(d.F * g.N * g.K);
  // Y_f (N × K) = X_f (N × C) · W_f (K × C)ᴴ
  gemm_per_frequency(d, T, Op::N, Op::C, g.N, g.K, g.C, ws.x_spec.data(), g.N * g.C, g.C,
                     ws.w_spec.data(), g.K * g.C, g.C, ys, scale);
  inverse_planes(plan, d, g.N * g.K, ys, ws.scratch.data(), T,
                 [&](std::size_t i, const float* buf) {
                   const float bk = b ? b[i % g.K] : 0.0f;
                   float* out = y + i * g.OH * g.OW;
                   for (std::size_t oh = 0; oh < g.OH; ++oh)
                     for (std::size_t ow = 0; ow < g.OW; ++ow)
                       out[oh * g.OW + ow] = buf[oh * d.Lw + ow] + bk;
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
  cfloat* dxs = ws.out_spec.ensure(d.F * g.N * g.C);
  // dX_f (N × C) = dY_f (N × K) · W_f (K × C)
  gemm_per_frequency(d, T, Op::N, Op::N, g.N, g.C, g.K, ws.dy_spec.data(), g.N * g.K, g.K,
                     ws.w_spec.data(), g.K * g.C, g.C, dxs, scale);
  inverse_planes(plan, d, g.N * g.C, dxs, ws.scratch.data(), T,
                 [&](std::size_t i, const float* buf) {
                   float* out = dx + i * g.H * g.W;
                   const float* in = buf + g.padding * d.Lw + g.padding;
                   for (std::size_t h = 0; h < g.H; ++h)
                     std::memcpy(out + h * g.W, in + h * d.Lw, g.W * sizeof(float));
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
  cfloat* dws = ws.out_spec.ensure(d.F * g.K * g.C);
  // dW_f (K × C) = dY_f (N × K)ᴴ · X_f (N × C)
  gemm_per_frequency(d, T, Op::C, Op::N, g.K, g.C, g.N, ws.dy_spec.data(), g.N * g.K, g.K,
                     ws.x_spec.data(), g.N * g.C, g.C, dws, scale);
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
