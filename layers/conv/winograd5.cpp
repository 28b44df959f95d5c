#include "winograd5.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "../../core/blas.hpp"
#include "../../core/ops.hpp"
#include "../../core/parallel.hpp"
#include "transform_apply.hpp"
#include "winograd.hpp"

// The block functions are compiled a second time for AVX2 and AVX-512 where GCC or
// Clang target x86.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MINICNN_WINOGRAD5_X86 1
#else
#define MINICNN_WINOGRAD5_X86 0
#endif

namespace minicnn {
namespace {

using transform::apply;

constexpr int kAlpha = 8, kTile = 4, kTaps = 5, kPoints = kAlpha * kAlpha;
// Channels side by side in the transforms, one per lane: the blocked copies and V, M, E
// hold channels in runs of kL.
constexpr int kL = 16;

template <int R, int C>
using Mat = std::array<std::array<float, C>, R>;

// F(4, 5) at the points 0, 1, −1, 2, −2, 1/2, −1/2 and ∞ (Toom-Cook): for any d (8) and
// g (5), Aᵀ [(G g) ⊙ (Bᵀ d)] is the correlation y_i = Σ_k d_(i+k) g_k, i < 4.
// tests/test_conv_algorithms.cpp checks the 5×5 passes against the direct loops.
constexpr Mat<8, 8> kBt = {{
    {1, 0, -21.0f / 4, 0, 21.0f / 4, 0, -1, 0},
    {0, -1, -1, 17.0f / 4, 17.0f / 4, -1, -1, 0},
    {0, 1, -1, -17.0f / 4, 17.0f / 4, 1, -1, 0},
    {0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
    {0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0},
    {0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
    {0, -2, 4, 2.5f, -5, -0.5f, 1, 0},
    {0, -1, 0, 21.0f / 4, 0, -21.0f / 4, 0, 1},
}};
constexpr Mat<8, 5> kG = {{
    {1, 0, 0, 0, 0},
    {2.0f / 9, 2.0f / 9, 2.0f / 9, 2.0f / 9, 2.0f / 9},
    {2.0f / 9, -2.0f / 9, 2.0f / 9, -2.0f / 9, 2.0f / 9},
    {1.0f / 90, 1.0f / 45, 2.0f / 45, 4.0f / 45, 8.0f / 45},
    {1.0f / 90, -1.0f / 45, 2.0f / 45, -4.0f / 45, 8.0f / 45},
    {32.0f / 45, 16.0f / 45, 8.0f / 45, 4.0f / 45, 2.0f / 45},
    {32.0f / 45, -16.0f / 45, 8.0f / 45, -4.0f / 45, 2.0f / 45},
    {0, 0, 0, 0, 1},
}};
constexpr Mat<4, 8> kAt = {{
    {1, 1, 1, 1, 1, 1, 1, 0},
    {0, 1, -1, 2, -2, 0.5f, -0.5f, 0},
    {0, 1, 1, 4, 4, 0.25f, 0.25f, 0},
    {0, 1, -1, 8, -8, 0.125f, -0.125f, 1},
}};

template <int R, int C>
constexpr Mat<C, R> transposed(const Mat<R, C>& m) {
  Mat<C, R> t{};
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) t[j][i] = m[i][j];
  return t;
}
constexpr Mat<8, 4> kA = transposed<4, 8>(kAt);
constexpr Mat<5, 8> kGt = transposed<8, 5>(kG);
constexpr Mat<8, 8> kB = transposed<8, 8>(kBt);

// A correlation of a 5×5 kernel over planes: out (N, Cout, Hout, Wout) from
// in (N, Cin, Hin, Win), out[r, s] = Σ_(i,j<5) in[r + i + off, s + j + off] · kern[i, j],
// zero outside the plane. Forward is {C → K, off = −p}; backward-data {K → C,
// off = p − 4} with the kernels turned by 180°.
struct Corr {
  std::size_t N, Cin, Hin, Win, Cout, Hout, Wout;
  std::ptrdiff_t off;
};

// The three ways a pass runs: a correlation (forward, and backward-data where dx has
// about as many tiles as dy), backward-weights, and backward-data's scatter form, where
// each 4×4 tile of dy is spread over the 8×8 patch of dx its forward tile read (the
// transpose of the forward; taken where dy has fewer tiles than dx: padding below 2).
enum class Mode { Correlate, Weights, Scatter };

// Sizes of one pass: tiles, channel runs, the blocked copy of a group of images, blocks
// of tiles and the workspace's parts (floats). Weights and Scatter are planned on the
// forward's correlation: tiles of dy, the patches of x (or dx) Hp × Wp.
struct Plan {
  std::size_t TH = 0, TW = 0, per_image = 0;  // tiles per image = TH·TW
  std::size_t Hp = 0, Wp = 0;                  // the framed copy's plane (Scatter: dx's)
  std::size_t cp = 0, kp = 0;                  // Cin and Cout rounded up to kL
  std::size_t dy_plane = 0;                    // Weights, Scatter: dy's copy, 4TH × 4TW
  std::size_t images = 0;                      // per group
  std::size_t tb = 0;                          // tiles per block (Scatter: whole images)
  std::size_t vs = 0, ms = 0;                  // per point of V and of M (or E)
  std::size_t u_floats = 0, copy_floats = 0, dy_floats = 0;
  std::size_t s_floats = 0;                    // per thread: Weights' S, Scatter's dx frame
  int threads = 1;
  std::size_t per_thread() const { return kPoints * (vs + ms) + s_floats; }
  std::size_t total() const {
    return u_floats + copy_floats + dy_floats + per_thread() * std::size_t(threads);
  }
};

// Blocks of tiles hold between these many tiles.
constexpr std::size_t kMinBlock = 8, kMaxBlock = 256;

std::size_t tiles_per_image(std::size_t H, std::size_t W) {
  return ((H + kTile - 1) / kTile) * ((W + kTile - 1) / kTile);
}

// Backward-data scatters dy's tiles where they are at most 3/4 of dx's (one image's fit
// in a block).
bool scatters(const ConvGeom& g) {
  const std::size_t dy_tiles = tiles_per_image(g.OH, g.OW);
  return dy_tiles <= kMaxBlock && 4 * dy_tiles <= 3 * tiles_per_image(g.H, g.W);
}

// The plan for a workspace of about `limit_bytes`: blocks of tiles whose V and M stay
// near kWinogradBlockBytes, and as many images per group as the rest of the limit
// holds; a limit below one image (and one tile per block, or one image per block when
// scattering) is raised to that.
Plan plan_for(const Corr& c, Mode mode, int threads, std::size_t limit_bytes) {
  Plan p;
  p.TH = (c.Hout + kTile - 1) / kTile;
  p.TW = (c.Wout + kTile - 1) / kTile;
  p.per_image = p.TH * p.TW;
  p.Hp = p.TH * kTile + kTaps - 1;
  p.Wp = p.TW * kTile + kTaps - 1;
  p.cp = round_up(c.Cin, kL);
  p.kp = round_up(c.Cout, kL);
  if (mode != Mode::Correlate) p.dy_plane = p.TH * kTile * p.TW * kTile;
  p.u_floats = mode == Mode::Weights ? 0 : kPoints * c.Cin * p.kp;
  // Weights: S (Cout × Cin at each point, rows cp apart); Scatter: one image's dx, framed
  p.s_floats = mode == Mode::Weights   ? kPoints * c.Cout * p.cp
               : mode == Mode::Scatter ? p.cp * p.Hp * p.Wp
                                       : 0;
  const std::size_t image_floats =
      (mode == Mode::Scatter ? 0 : p.cp * p.Hp * p.Wp) + p.kp * p.dy_plane;
  const std::size_t tiles = c.N * p.per_image;
  p.threads = std::max(1, std::min(threads, static_cast<int>(tiles)));
  const std::size_t T = std::size_t(p.threads), point = kPoints * (p.cp + p.kp);
  const std::size_t share = (tiles + T - 1) / T;
  p.tb = std::min(std::clamp(kWinogradBlockBytes / sizeof(float) / point, kMinBlock, kMaxBlock),
                  share);
  const std::size_t budget = limit_bytes / sizeof(float);
  const std::size_t fixed = p.u_floats + T * (p.s_floats + 2 * kPoints * kL);
  if (budget < fixed + image_floats + T * p.tb * point)  // one image; blocks as they fit
    p.tb = std::clamp<std::size_t>(
        (budget > fixed + image_floats ? budget - fixed - image_floats : 0) / (T * point), 1, p.tb);
  if (mode == Mode::Scatter) p.tb = round_up(p.tb, p.per_image);
  const std::size_t rest = budget > fixed + T * p.tb * point ? budget - fixed - T * p.tb * point : 0;
  p.images = std::clamp<std::size_t>(rest / image_floats, 1, c.N);
  // A group's tiles in a multiple of T blocks of about equal size (LeNet's second layer:
  // 256 tiles in 7 blocks of 42 had one thread wait for a fourth block while the other
  // ran its third); when scattering, of whole images.
  const std::size_t unit = mode == Mode::Scatter ? p.per_image : 1;
  const std::size_t group = p.images * p.per_image / unit;
  const std::size_t blocks = round_up((group + p.tb / unit - 1) / (p.tb / unit), T);
  p.tb = (group + blocks - 1) / blocks * unit;
  // Strides padded off multiples of 4 KiB: 64 points a power of two apart would share
  // the same L1 sets.
  p.vs = p.tb * p.cp + kL;
  p.ms = p.tb * p.kp + kL;
  if (mode != Mode::Scatter) p.copy_floats = p.images * p.cp * p.Hp * p.Wp;
  p.dy_floats = p.images * p.kp * p.dy_plane;
  return p;
}

// One plane of the channel-blocked copy of in (N, C, H, W): image n, channels c0 ..
// c0 + 15, as a (rows × cols × kL) plane whose row r and column s hold in[r + off,
// s + off], zero outside the plane and for channels past C. Each float is written once.
inline void copy_plane(const float* in, std::size_t C, std::size_t H, std::size_t W,
                       std::ptrdiff_t off, std::size_t n, std::size_t c0, std::size_t rows,
                       std::size_t cols, float* dst) {
  const std::size_t lanes = std::min<std::size_t>(kL, C - c0), width = cols * kL;
  // the columns s with 0 <= s + off < W
  const std::ptrdiff_t s0 = std::min(std::ptrdiff_t(cols), std::max<std::ptrdiff_t>(0, -off));
  const std::ptrdiff_t s1 = std::max(s0, std::min(std::ptrdiff_t(cols), std::ptrdiff_t(W) - off));
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = dst + r * width;
    const std::ptrdiff_t h = std::ptrdiff_t(r) + off;
    if (h < 0 || h >= std::ptrdiff_t(H)) {
      std::fill(row, row + width, 0.0f);
      continue;
    }
    if (lanes < kL) {
      std::fill(row, row + width, 0.0f);
    } else {
      std::fill(row, row + std::size_t(s0) * kL, 0.0f);
      std::fill(row + std::size_t(s1) * kL, row + width, 0.0f);
    }
    for (std::size_t l = 0; l < lanes; ++l) {
      const float* src = in + ((n * C + c0 + l) * H + std::size_t(h)) * W;
      for (std::ptrdiff_t s = s0; s < s1; ++s) row[std::size_t(s) * kL + l] = src[s + off];
    }
  }
}

// The copy of images [n0, n0 + count) of in: count × ⌈C/16⌉ planes, split among the
// threads of the enclosing parallel region.
inline void blocked_copy(const float* in, std::size_t C, std::size_t H, std::size_t W,
                         std::ptrdiff_t off, std::size_t n0, std::size_t count,
                         std::size_t rows, std::size_t cols, float* out) {
  const std::size_t runs = (C + kL - 1) / kL, plane = rows * cols * kL;
#pragma omp for schedule(static)
  for (std::size_t i = 0; i < count * runs; ++i)
    copy_plane(in, C, H, W, off, n0 + i / runs, (i % runs) * kL, rows, cols, out + i * plane);
}

// Stage 1: V[ξ][j][c] = (Bᵀ d B)_ξ for the tiles [t0, t0 + cnt) of the group (tile t is
// image t / per_image), d the 8×8 patch of channel c at (4·th, 4·tw) of the blocked copy.
inline void input_transform(const Plan& p, const float* copy, std::size_t t0, std::size_t cnt,
                            float* V) {
  const std::size_t runs = p.cp / kL, ds = p.Wp * kL;
  alignas(64) float t[kAlpha * kAlpha * kL];
  for (std::size_t j = 0; j < cnt; ++j) {
    const std::size_t t_ = t0 + j, n = t_ / p.per_image, th = (t_ % p.per_image) / p.TW,
                      tw = t_ % p.TW;
    for (std::size_t r = 0; r < runs; ++r) {
      const float* d = copy + ((n * runs + r) * p.Hp + th * kTile) * ds + tw * kTile * kL;
      apply<kBt, kAlpha * kL>(d, ds, t, kAlpha * kL);
      float* v = V + j * p.cp + r * kL;
      for (int i = 0; i < kAlpha; ++i)
        apply<kBt, kL>(t + i * kAlpha * kL, kL, v + std::size_t(i * kAlpha) * p.vs, p.vs);
    }
  }
}

// Stage 4: out = Aᵀ M A + bias for the tiles [t0, t0 + cnt) of the group whose first image
// is n0, cropped to the plane.
inline void output_transform(const Corr& c, const Plan& p, std::size_t n0, std::size_t t0,
                             std::size_t cnt, const float* M, const float* bias, float* out) {
  alignas(64) float t[kTile * kAlpha * kL];
  alignas(64) float o[kTile * kTile * kL];
  const std::size_t plane = c.Hout * c.Wout;
  for (std::size_t j = 0; j < cnt; ++j) {
    const std::size_t t_ = t0 + j, n = n0 + t_ / p.per_image,
                      th = (t_ % p.per_image) / p.TW, tw = t_ % p.TW;
    const std::size_t rows = std::min<std::size_t>(kTile, c.Hout - th * kTile);
    const std::size_t cols = std::min<std::size_t>(kTile, c.Wout - tw * kTile);
    for (std::size_t k0 = 0; k0 < c.Cout; k0 += kL) {
      const float* s = M + j * p.kp + k0;
      for (int q = 0; q < kAlpha; ++q)
        apply<kAt, kL>(s + std::size_t(q) * p.ms, kAlpha * p.ms, t + q * kL, kAlpha * kL);
      for (int i = 0; i < kTile; ++i)
        apply<kAt, kL>(t + i * kAlpha * kL, kL, o + i * kTile * kL, kL);
      const std::size_t lanes = std::min<std::size_t>(kL, c.Cout - k0);
      for (std::size_t l = 0; l < lanes; ++l) {
        const float b = bias ? bias[k0 + l] : 0.0f;
        float* dst = out + (n * c.Cout + k0 + l) * plane + th * kTile * c.Wout + tw * kTile;
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t q = 0; q < cols; ++q)
            dst[r * c.Wout + q] = o[(r * kTile + q) * kL + l] + b;
      }
    }
  }
}

// Backward-weights, stage 2: E[ξ][j][k] = (A e Aᵀ)_ξ, e the 4×4 tile of dy's channel k
// from its blocked copy (zero past the plane).
inline void dy_transform(const Plan& p, const float* dyc, std::size_t t0, std::size_t cnt,
                         float* E) {
  const std::size_t runs = p.kp / kL, W4 = p.TW * kTile, es = W4 * kL;
  alignas(64) float t[kAlpha * kTile * kL];
  for (std::size_t j = 0; j < cnt; ++j) {
    const std::size_t t_ = t0 + j, n = t_ / p.per_image, th = (t_ % p.per_image) / p.TW,
                      tw = t_ % p.TW;
    for (std::size_t r = 0; r < runs; ++r) {
      const float* e = dyc + (n * runs + r) * p.dy_plane * kL + th * kTile * es + tw * kTile * kL;
      apply<kA, kTile * kL>(e, es, t, kTile * kL);
      float* v = E + j * p.kp + r * kL;
      for (int i = 0; i < kAlpha; ++i)
        apply<kA, kL>(t + i * kTile * kL, kL, v + std::size_t(i * kAlpha) * p.ms, p.ms);
    }
  }
}

// One block of a correlation: transform, the 64 GEMMs, transform back.
inline void correlate_block(const Corr& c, const Plan& p, std::size_t n0, std::size_t t0,
                            std::size_t cnt, const float* copy, const float* U,
                            const float* bias, float* V, float* M, float* out) {
  input_transform(p, copy, t0, cnt, V);
  for (std::size_t pt = 0; pt < kPoints; ++pt)
    sgemm(Op::N, Op::N, cnt, c.Cout, c.Cin, 1.0f, V + pt * p.vs, p.cp,
          U + pt * c.Cin * p.kp, p.kp, 0.0f, M + pt * p.ms, p.kp);
  output_transform(c, p, n0, t0, cnt, M, bias, out);
}

// One block of backward-weights: S_ξ (K × C) += E_ξᵀ (K × cnt) · V_ξ (cnt × C).
inline void weights_block(const ConvGeom& g, const Plan& p, std::size_t t0, std::size_t cnt,
                          const float* copy, const float* dyc, float* V, float* E,
                          float* S) {
  input_transform(p, copy, t0, cnt, V);
  dy_transform(p, dyc, t0, cnt, E);
  for (std::size_t pt = 0; pt < kPoints; ++pt)
    sgemm(Op::T, Op::N, g.K, g.C, cnt, 1.0f, E + pt * p.ms, p.kp, V + pt * p.vs, p.cp, 1.0f,
          S + pt * g.K * p.cp, p.cp);
}

// Scatter, stage 3, one image: dx's patch B X Bᵀ for each of its tiles (X its row of M,
// block rows j0 ..), added into the image's dx framed as the forward's copy of x (frame,
// zeroed here), then the frame cropped into dx[n].
inline void scatter_image(const ConvGeom& g, const Plan& p, std::size_t n, std::size_t j0,
                          const float* M, float* frame, float* dx) {
  const std::size_t runs = p.cp / kL, fs = p.Wp * kL;
  std::fill(frame, frame + p.s_floats, 0.0f);
  alignas(64) float t[kAlpha * kAlpha * kL];
  alignas(64) float row[kAlpha * kL];
  for (std::size_t tt = 0; tt < p.per_image; ++tt) {
    const std::size_t th = tt / p.TW, tw = tt % p.TW;
    for (std::size_t r = 0; r < runs; ++r) {
      const float* x = M + (j0 + tt) * p.cp + r * kL;
      for (int q = 0; q < kAlpha; ++q)
        apply<kB, kL>(x + std::size_t(q) * p.vs, kAlpha * p.vs, t + q * kL, kAlpha * kL);
      float* f = frame + (r * p.Hp + th * kTile) * fs + tw * kTile * kL;
      for (int i = 0; i < kAlpha; ++i) {
        apply<kB, kL>(t + i * kAlpha * kL, kL, row, kL);
        float* fi = f + std::size_t(i) * fs;
        for (int e = 0; e < kAlpha * kL; ++e) fi[e] += row[e];
      }
    }
  }
  const std::size_t pad = g.padding, plane = g.H * g.W;
  for (std::size_t r = 0; r < runs; ++r) {
    const std::size_t lanes = std::min<std::size_t>(kL, g.C - r * kL);
    for (std::size_t l = 0; l < lanes; ++l) {
      float* dst = dx + (n * g.C + r * kL + l) * plane;
      for (std::size_t h = 0; h < g.H; ++h) {
        const float* src = frame + ((r * p.Hp + h + pad) * p.Wp + pad) * kL + l;
        for (std::size_t w = 0; w < g.W; ++w) dst[h * g.W + w] = src[w * kL];
      }
    }
  }
}

// One block of the scatter form (images [i0, i0 + count) of the group whose first image
// is n0): E = A e Aᵀ for their tiles of dy, X_ξ (tiles × C) = E_ξ (tiles × K) · U_ξᵀ with
// the forward's U, then each image's patches.
inline void scatter_block(const ConvGeom& g, const Plan& p, std::size_t n0, std::size_t i0,
                          std::size_t count, const float* dyc, const float* U, float* X,
                          float* E, float* frame, float* dx) {
  const std::size_t t0 = i0 * p.per_image, cnt = count * p.per_image;
  dy_transform(p, dyc, t0, cnt, E);
  for (std::size_t pt = 0; pt < kPoints; ++pt)
    sgemm(Op::N, Op::T, cnt, g.C, g.K, 1.0f, E + pt * p.ms, p.kp, U + pt * g.C * p.kp, p.kp,
          0.0f, X + pt * p.vs, p.cp);
  for (std::size_t m = 0; m < count; ++m)
    scatter_image(g, p, n0 + i0 + m, m * p.per_image, X, frame, dx);
}

// U[ξ][i][o0 ..] = (G g Gᵀ)_ξ for the kernels from input channel i to the run of output
// channels o0 .. o0 + 15 (those below Cout): g = w[o, i] (forward) or, when `rotate`,
// w[i, o] turned by 180° (backward-data); w is (K, C, 5, 5), U's rows kp apart.
inline void kernel_run(const float* w, std::size_t C, std::size_t Cin, std::size_t Cout,
                       bool rotate, std::size_t kp, std::size_t i, std::size_t o0, float* U) {
  const std::size_t us = Cin * kp, lanes = std::min<std::size_t>(kL, Cout - o0);
  alignas(64) float g[kTaps * kTaps * kL] = {};
  alignas(64) float t[kAlpha * kTaps * kL];
  for (std::size_t l = 0; l < lanes; ++l) {
    const std::size_t o = o0 + l;
    const float* src = rotate ? w + (i * C + o) * 25 : w + (o * C + i) * 25;
    for (int e = 0; e < 25; ++e) g[e * kL + int(l)] = src[rotate ? 24 - e : e];
  }
  apply<kG, kTaps * kL>(g, kTaps * kL, t, kTaps * kL);
  float* u = U + i * kp + o0;
  for (int r = 0; r < kAlpha; ++r)
    apply<kG, kL>(t + r * kTaps * kL, kL, u + std::size_t(r * kAlpha) * us, us);
}

// dw[k, c0 ..] += Gᵀ S[·][k][c0 ..] G for the run of input channels c0 .. c0 + 15 (those
// below C); S's points ss floats apart, its rows cp apart.
inline void weight_run(const float* S, std::size_t ss, std::size_t cp, std::size_t C,
                       std::size_t k, std::size_t c0, float* dw) {
  alignas(64) float t[kTaps * kAlpha * kL];
  alignas(64) float z[kTaps * kTaps * kL];
  const float* s = S + k * cp + c0;
  for (int q = 0; q < kAlpha; ++q)
    apply<kGt, kL>(s + std::size_t(q) * ss, kAlpha * ss, t + q * kL, kAlpha * kL);
  for (int i = 0; i < kTaps; ++i) apply<kGt, kL>(t + i * kAlpha * kL, kL, z + i * kTaps * kL, kL);
  const std::size_t lanes = std::min<std::size_t>(kL, C - c0);
  for (std::size_t l = 0; l < lanes; ++l)
    for (int e = 0; e < 25; ++e) dw[(k * C + c0 + l) * 25 + std::size_t(e)] += z[e * kL + int(l)];
}

// The functions above per instruction set: base (SSE2 on x86), AVX2 + FMA, AVX-512.
struct Fns {
  void (*correlate)(const Corr&, const Plan&, std::size_t, std::size_t, std::size_t,
                    const float*, const float*, const float*, float*, float*, float*);
  void (*weights)(const ConvGeom&, const Plan&, std::size_t, std::size_t, const float*,
                  const float*, float*, float*, float*);
  void (*kernel)(const float*, std::size_t, std::size_t, std::size_t, bool, std::size_t,
                 std::size_t, std::size_t, float*);
  void (*weight)(const float*, std::size_t, std::size_t, std::size_t, std::size_t, std::size_t,
                 float*);
  void (*scatter)(const ConvGeom&, const Plan&, std::size_t, std::size_t, std::size_t,
                  const float*, const float*, float*, float*, float*, float*);
};

#define MINICNN_WINOGRAD5_FNS(suffix, ...)                                                     \
  __VA_ARGS__ void correlate_##suffix(const Corr& c, const Plan& p, std::size_t n0,            \
                                      std::size_t t0, std::size_t cnt, const float* copy,      \
                                      const float* U, const float* bias, float* V,             \
                                      float* M, float* out) {                                  \
    correlate_block(c, p, n0, t0, cnt, copy, U, bias, V, M, out);                              \
  }                                                                                            \
  __VA_ARGS__ void weights_##suffix(const ConvGeom& g, const Plan& p, std::size_t t0,          \
                                    std::size_t cnt, const float* copy, const float* dyc,      \
                                    float* V, float* E, float* S) {                            \
    weights_block(g, p, t0, cnt, copy, dyc, V, E, S);                                          \
  }                                                                                            \
  __VA_ARGS__ void kernel_##suffix(const float* w, std::size_t C, std::size_t Cin,             \
                                   std::size_t Cout, bool rotate, std::size_t kp,              \
                                   std::size_t i, std::size_t o0, float* U) {                  \
    kernel_run(w, C, Cin, Cout, rotate, kp, i, o0, U);                                         \
  }                                                                                            \
  __VA_ARGS__ void weight_##suffix(const float* S, std::size_t ss, std::size_t cp,             \
                                   std::size_t C, std::size_t k, std::size_t c0, float* dw) {  \
    weight_run(S, ss, cp, C, k, c0, dw);                                                       \
  }                                                                                            \
  __VA_ARGS__ void scatter_##suffix(const ConvGeom& g, const Plan& p, std::size_t n0,          \
                                    std::size_t i0, std::size_t count, const float* dyc,       \
                                    const float* U, float* X, float* E, float* frame,          \
                                    float* dx) {                                               \
    scatter_block(g, p, n0, i0, count, dyc, U, X, E, frame, dx);                               \
  }                                                                                            \
  constexpr Fns kFns_##suffix = {&correlate_##suffix, &weights_##suffix, &kernel_##suffix,     \
                                 &weight_##suffix, &scatter_##suffix};

MINICNN_WINOGRAD5_FNS(base, [[gnu::flatten]])
#if MINICNN_WINOGRAD5_X86
MINICNN_WINOGRAD5_FNS(avx2, [[gnu::flatten, gnu::target("avx2,fma")]])
MINICNN_WINOGRAD5_FNS(avx512, [[gnu::flatten, gnu::target("avx512f,fma")]])
#endif
#undef MINICNN_WINOGRAD5_FNS

// The widest variant this CPU runs.
const Fns& fns() {
#if MINICNN_WINOGRAD5_X86
  static const bool fma = __builtin_cpu_supports("fma");
  if (fma && __builtin_cpu_supports("avx512f")) return kFns_avx512;
  if (fma && __builtin_cpu_supports("avx2")) return kFns_avx2;
#endif
  return kFns_base;
}

// Zero in columns [used, padded) of a thread's kPoints × tb rows (rows `padded` floats
// apart, points `stride` apart): columns no GEMM writes, which a transform's last run of
// lanes reads (and then drops), zero rather than left undefined.
void zero_past_columns(float* m, std::size_t tb, std::size_t stride, std::size_t used,
                       std::size_t padded) {
  if (padded == used) return;
  for (std::size_t row = 0; row < kPoints * tb; ++row) {
    float* r = m + (row / tb) * stride + (row % tb) * padded;
    std::fill(r + used, r + padded, 0.0f);
  }
}

// U for every input channel and run of output channels (kernel_run), shared out among
// the threads of the enclosing parallel region.
void transform_kernels(const Fns& f, const float* w, std::size_t C, std::size_t Cin,
                       std::size_t Cout, bool rotate, std::size_t kp, float* U) {
  const std::size_t runs = (Cout + kL - 1) / kL;
#pragma omp for schedule(static)
  for (std::size_t job = 0; job < Cin * runs; ++job)
    f.kernel(w, C, Cin, Cout, rotate, kp, job / runs, (job % runs) * kL, U);
}

// out of the correlation c, in one parallel region: the kernel transform (U for the
// forward's w[o, i] or, when `rotate`, the backward-data's turned w[i, o]), then per
// group of images the blocked copy and the blocks of tiles.
void correlate(const Corr& c, const float* in, const float* w, std::size_t C, bool rotate,
               const float* bias, float* out, AlignedBuffer<float>& buf,
               std::size_t limit_bytes) {
  const std::size_t work = c.N * c.Cout * c.Hout * c.Wout * c.Cin * 25;
  const Plan p = plan_for(c, Mode::Correlate, threads_for(work), limit_bytes);
  float* base = buf.ensure(p.total());
  float* U = base;
  float* copy = U + p.u_floats;
  float* threads_base = copy + p.copy_floats;
  const Fns& f = fns();
  blas_region(p.threads, [&] {
    // The region may have fewer threads than asked (inside a caller's parallel region):
    // blocks go to the threads it has, each with its own V and M.
    float* V = threads_base + std::size_t(omp_get_thread_num()) * p.per_thread();
    float* M = V + kPoints * p.vs;
    zero_past_columns(M, p.tb, p.ms, c.Cout, p.kp);  // read by the output transform
    transform_kernels(f, w, C, c.Cin, c.Cout, rotate, p.kp, U);
    for (std::size_t n0 = 0; n0 < c.N; n0 += p.images) {
      const std::size_t count = std::min(p.images, c.N - n0);
      blocked_copy(in, c.Cin, c.Hin, c.Win, c.off, n0, count, p.Hp, p.Wp, copy);
      const std::size_t tiles = count * p.per_image, blocks = (tiles + p.tb - 1) / p.tb;
#pragma omp for schedule(static)
      for (std::size_t b = 0; b < blocks; ++b) {
        const std::size_t t0 = b * p.tb;
        f.correlate(c, p, n0, t0, std::min(p.tb, tiles - t0), copy, U, bias, V, M, out);
      }
    }
  });
}

// Backward-data in the scatter form, in one parallel region: the forward's kernel
// transform, then per group of images dy's blocked copy and the blocks of whole images.
void scatter(const ConvGeom& g, const float* dy, const float* w, float* dx,
             AlignedBuffer<float>& buf, std::size_t limit_bytes) {
  const Corr c{g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, -std::ptrdiff_t(g.padding)};
  const std::size_t work = g.N * g.K * g.OH * g.OW * g.C * 25;
  const Plan p = plan_for(c, Mode::Scatter, threads_for(work), limit_bytes);
  float* base = buf.ensure(p.total());
  float* U = base;
  float* dyc = U + p.u_floats;
  float* threads_base = dyc + p.dy_floats;
  const Fns& f = fns();
  const std::size_t per_block = p.tb / p.per_image;
  blas_region(p.threads, [&] {
    float* X = threads_base + std::size_t(omp_get_thread_num()) * p.per_thread();
    float* E = X + kPoints * p.vs;
    float* frame = E + kPoints * p.ms;
    zero_past_columns(X, p.tb, p.vs, g.C, p.cp);  // read by the patches' transform
    transform_kernels(f, w, g.C, g.C, g.K, false, p.kp, U);
    for (std::size_t n0 = 0; n0 < g.N; n0 += p.images) {
      const std::size_t count = std::min(p.images, g.N - n0);
      blocked_copy(dy, g.K, g.OH, g.OW, 0, n0, count, p.TH * kTile, p.TW * kTile, dyc);
      const std::size_t blocks = (count + per_block - 1) / per_block;
#pragma omp for schedule(static)
      for (std::size_t b = 0; b < blocks; ++b) {
        const std::size_t i0 = b * per_block;
        f.scatter(g, p, n0, i0, std::min(per_block, count - i0), dyc, U, X, E, frame, dx);
      }
    }
  });
}

}  // namespace

std::size_t winograd5_workspace_floats(const ConvGeom& g, ConvPass pass, int threads,
                                      std::size_t limit_bytes) {
  threads = std::max(1, threads);
  const Corr forward{g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, 0};
  if (pass == ConvPass::BackwardWeights)
    return plan_for(forward, Mode::Weights, threads, limit_bytes).total();
  if (pass == ConvPass::BackwardData && scatters(g))
    return plan_for(forward, Mode::Scatter, threads, limit_bytes).total();
  const bool data = pass == ConvPass::BackwardData;
  const Corr c{g.N, data ? g.K : g.C, data ? g.OH : g.H, data ? g.OW : g.W,
               data ? g.C : g.K, data ? g.H : g.OH, data ? g.W : g.OW, 0};
  return plan_for(c, Mode::Correlate, threads, limit_bytes).total();
}

std::size_t winograd5_backward_data_tiles(const ConvGeom& g) {
  return g.N * (scatters(g) ? tiles_per_image(g.OH, g.OW) : tiles_per_image(g.H, g.W));
}

void winograd5_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                       float* y, AlignedBuffer<float>& buf, std::size_t limit_bytes) {
  const Corr c{g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, -std::ptrdiff_t(g.padding)};
  correlate(c, x, w, g.C, false, b, y, buf, limit_bytes);
}

void winograd5_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                             AlignedBuffer<float>& buf, std::size_t limit_bytes) {
  if (scatters(g)) return scatter(g, dy, w, dx, buf, limit_bytes);
  // dx[h] = Σ_i dy[h + p − 4 + i] · w[4 − i]: a correlation with the turned kernels.
  const Corr c{g.N, g.K, g.OH, g.OW, g.C, g.H, g.W, std::ptrdiff_t(g.padding) - 4};
  correlate(c, dy, w, g.C, true, nullptr, dx, buf, limit_bytes);
}

void winograd5_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                                float* db, AlignedBuffer<float>& buf, std::size_t limit_bytes) {
  const Corr c{g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, -std::ptrdiff_t(g.padding)};
  const std::size_t work = g.N * g.K * g.OH * g.OW * g.C * 25;
  const Plan p = plan_for(c, Mode::Weights, threads_for(work), limit_bytes);
  float* base = buf.ensure(p.total());
  float* copy = base;
  float* dyc = copy + p.copy_floats;
  float* threads_base = dyc + p.dy_floats;
  const std::size_t S_size = p.s_floats;
  const Fns& f = fns();
  auto part = [&](int t) { return threads_base + std::size_t(t) * p.per_thread(); };
  blas_region(p.threads, [&] {
    float* V = part(omp_get_thread_num());
    float* E = V + kPoints * p.vs;
    float* S = E + kPoints * p.ms;
    // Every part's S starts at zero, also those of threads the region does not have
    // (fewer than asked inside a caller's parallel region), which add nothing.
    for (int t = omp_get_thread_num(); t < p.threads; t += omp_get_num_threads())
      std::fill(part(t) + kPoints * (p.vs + p.ms), part(t) + p.per_thread(), 0.0f);
    for (std::size_t n0 = 0; n0 < g.N; n0 += p.images) {
      const std::size_t count = std::min(p.images, g.N - n0);
      blocked_copy(x, g.C, g.H, g.W, c.off, n0, count, p.Hp, p.Wp, copy);
      blocked_copy(dy, g.K, g.OH, g.OW, 0, n0, count, p.TH * kTile, p.TW * kTile, dyc);
      const std::size_t tiles = count * p.per_image, blocks = (tiles + p.tb - 1) / p.tb;
#pragma omp for schedule(static)
      for (std::size_t b = 0; b < blocks; ++b) {
        const std::size_t t0 = b * p.tb;
        f.weights(g, p, t0, std::min(p.tb, tiles - t0), copy, dyc, V, E, S);
      }
    }
  });
  // The threads' sums, added in thread order, then dW[k, c] += Gᵀ S[·][k][c] G.
  float* S0 = part(0) + kPoints * (p.vs + p.ms);
  for (int t = 1; t < p.threads; ++t) {
    const float* St = part(t) + kPoints * (p.vs + p.ms);
    parallel_runs(S_size, [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) S0[i] += St[i];
    });
  }
  const std::size_t runs = (g.C + kL - 1) / kL;
  parallel_for(g.K * runs, [&](std::size_t job) {
    f.weight(S0, g.K * p.cp, p.cp, g.C, job / runs, (job % runs) * kL, dw);
  }, S_size);
  if (db) add_bias_grad(dy, db, g.N, g.K, g.OH * g.OW);
}

}  // namespace minicnn
