#include "one_channel.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include <string>

#include "../../core/parallel.hpp"
#include "../../core/simd.hpp"
#include "../../core/tensor.hpp"

namespace minicnn {
namespace {

constexpr std::size_t kB = kOneChannelBlock;
constexpr std::size_t kMaxTaps = 49;

// The padded planes, rows × stride each, and where they sit in a thread's scratch.
struct Layout {
  std::size_t rows = 0, stride = 0;          // the padded plane (xp or dyp)
  std::size_t acc_rows = 0, acc_stride = 0;  // dx's sums (backward-data), dy's rows (weights)
  std::size_t sums = 0;                      // doubles: backward-weights' sums per channel
  std::size_t plane_floats() const { return round_up(rows * stride, kB); }
  std::size_t acc_floats() const { return round_up(acc_rows * acc_stride, kB); }
  std::size_t floats() const { return plane_floats() + acc_floats() + round_up(2 * sums, kB); }
};

// Forward and backward-weights pad x, backward-data pads dy; the latter two also keep a
// plane of 16-column rows (dx's sums, dy's rows) of the size the padded plane serves.
Layout layout(const ConvGeom& g, ConvPass pass) {
  const bool data = pass == ConvPass::BackwardData;
  const std::size_t h = data ? g.H : g.OH, w = round_up(data ? g.W : g.OW, kB);
  Layout l;
  l.rows = h + g.KH - 1;
  l.stride = w + g.KW - 1;
  if (pass != ConvPass::Forward) {
    l.acc_rows = h;
    l.acc_stride = w;
  }
  if (pass == ConvPass::BackwardWeights) l.sums = g.K * (g.KH * g.KW + 1);
  return l;
}

// kB floats as one value (GCC and Clang vector extensions): one AVX-512 register, two
// AVX2 ones, four SSE ones in the baseline clone. Written out as vectors because GCC's
// vectoriser, given the same loops over kB scalars, interleaved them into pairs.
typedef float Block __attribute__((vector_size(kB * sizeof(float))));
#pragma GCC diagnostic ignored "-Wpsabi"  // blocks pass only between inlined functions

[[gnu::always_inline]] inline Block load_block(const float* p) {
  Block v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline void store_block(float* p, Block v) {
  std::memcpy(p, &v, sizeof v);
}

// dst[0, n) = src[0, n) in whole blocks, the last one overlapping the one before when n
// is no multiple of kB (a short row's memcpy cost more than its copy).
[[gnu::always_inline]] inline void copy_row(const float* src, std::size_t n, float* dst) {
  if (n < kB) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
    return;
  }
  for (std::size_t i = 0; i < n; i += kB) {
    const std::size_t at = std::min(i, n - kB);
    store_block(dst + at, load_block(src + at));
  }
}

// out (rows × stride) = the h × w plane shifted by (r0, c0): out[r][c] = plane[r + r0][c + c0],
// zero outside the plane (r0 and c0 may be negative). With `borders` false only the part
// inside the plane is written: out already holds a plane of the same geometry, whose
// zeros stay.
[[gnu::always_inline]] inline void pad_plane(const float* plane, std::size_t h, std::size_t w,
                                             std::ptrdiff_t r0, std::ptrdiff_t c0,
                                             std::size_t rows, std::size_t stride, float* out,
                                             bool borders) {
  const auto sw = static_cast<std::ptrdiff_t>(stride);
  const std::ptrdiff_t q0 = std::clamp<std::ptrdiff_t>(-c0, 0, sw);
  const std::ptrdiff_t q1 = std::clamp<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(w) - c0, q0, sw);
  for (std::size_t i = 0; i < rows; ++i) {
    float* dst = out + i * stride;
    const std::ptrdiff_t r = static_cast<std::ptrdiff_t>(i) + r0;
    if (r < 0 || r >= static_cast<std::ptrdiff_t>(h) || q0 == q1) {
      if (borders) std::fill(dst, dst + stride, 0.0f);
      continue;
    }
    if (borders) {
      std::fill(dst, dst + q0, 0.0f);
      std::fill(dst + q1, dst + sw, 0.0f);
    }
    copy_row(plane + static_cast<std::size_t>(r) * w + static_cast<std::size_t>(q0 + c0),
             static_cast<std::size_t>(q1 - q0), dst + q0);
  }
}

// The three loops, for a kernel size known at compile time (FH × FW) or, with FH = 0,
// read from kh × kw. Each block's kB sums stay in one Block.

// G output channels at once, so that G sums build up side by side instead of one
// chain of dependent adds (R1's forward took half the time with four): out[g] (OH × OW,
// planes P apart) = bias[g] + Σ_taps w[g](i, j) · xp(r + i, c + j), w[g] taps apart.
template <std::size_t FH, std::size_t FW, std::size_t G>
[[gnu::always_inline]] inline void forward_rows(const float* xp, std::size_t xs, const float* w,
                                                const float* bias, std::size_t OH,
                                                std::size_t OW, std::size_t P, float* out,
                                                std::size_t kh, std::size_t kw) {
  const std::size_t KH = FH ? FH : kh, KW = FW ? FW : kw, taps = KH * KW;
  // A row's last block, when the row holds at least one, ends at its end and overlaps
  // the one before it, whose values it computes again to the same bits; a shorter row
  // goes through `last`.
  for (std::size_t r = 0; r < OH; ++r) {
    for (std::size_t b0 = 0; b0 < OW; b0 += kB) {
      const std::size_t c0 = OW >= kB ? std::min(b0, OW - kB) : 0;
      Block acc[G];
      for (std::size_t g = 0; g < G; ++g) acc[g] = Block{} + bias[g];
      for (std::size_t i = 0; i < KH; ++i) {
        const float* row = xp + (r + i) * xs + c0;
        for (std::size_t j = 0; j < KW; ++j) {
          const Block xv = load_block(row + j);
          for (std::size_t g = 0; g < G; ++g) acc[g] += w[g * taps + i * KW + j] * xv;
        }
      }
      for (std::size_t g = 0; g < G; ++g) {
        float* dst = out + g * P + r * OW + c0;
        if (OW >= kB) {
          store_block(dst, acc[g]);
        } else {
          alignas(64) float last[kB];
          store_block(last, acc[g]);
          for (std::size_t l = 0; l < OW; ++l) dst[l] = last[l];
        }
      }
    }
  }
}

// G rows r0 .. r0 + G − 1 at once, for the same reason: acc_plane (H × as, the first W
// columns used) += Σ_taps w(i, j) · dyp(r + KH − 1 − i, c + KW − 1 − j).
template <std::size_t FH, std::size_t FW, std::size_t G>
[[gnu::always_inline]] inline void backward_data_rows(const float* dyp, std::size_t ds,
                                                      const float* w, std::size_t r0,
                                                      std::size_t as, float* acc_plane,
                                                      std::size_t kh, std::size_t kw) {
  const std::size_t KH = FH ? FH : kh, KW = FW ? FW : kw;
  for (std::size_t c0 = 0; c0 < as; c0 += kB) {
    Block acc[G];
    for (std::size_t g = 0; g < G; ++g) acc[g] = load_block(acc_plane + (r0 + g) * as + c0);
    for (std::size_t i = 0; i < KH; ++i) {
      const float* row = dyp + (r0 + KH - 1 - i) * ds + c0;
      for (std::size_t j = 0; j < KW; ++j) {
        const float wv = w[i * KW + j];
        for (std::size_t g = 0; g < G; ++g)
          acc[g] += wv * load_block(row + g * ds + KW - 1 - j);
      }
    }
    for (std::size_t g = 0; g < G; ++g) store_block(acc_plane + (r0 + g) * as + c0, acc[g]);
  }
}

// The sum of a block's lanes, as a tree of halves (a chain of sixteen adds in double,
// one per lane, cost a third of LeNet's first layer's backward-weights).
[[gnu::always_inline]] inline double lane_sum(Block v) {
  typedef float Half __attribute__((vector_size(kB / 2 * sizeof(float))));
  typedef float Quarter __attribute__((vector_size(kB / 4 * sizeof(float))));
  static_assert(kB == 16, "the halves below are written for 16 lanes");
  const Half h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Quarter q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
  return double((q[0] + q[2]) + (q[1] + q[3]));
}

// dw(i, j) += Σ_(r,c) dyp(r, c) · xp(r + i, c + j) and db += Σ dyp, dyp (OH × ds) zero
// past the plane's OW columns; sums of kB lanes in float, their lanes' sum added in double.
template <std::size_t FH, std::size_t FW>
[[gnu::always_inline]] inline void backward_weights_rows(const float* xp, std::size_t xs,
                                                         const float* dyp, std::size_t ds,
                                                         std::size_t OH, double* dw, double* db,
                                                         std::size_t kh, std::size_t kw) {
  const std::size_t KH = FH ? FH : kh, KW = FW ? FW : kw;
  constexpr std::size_t kTaps = FH ? FH * FW : kMaxTaps;
  Block acc[kTaps];
  for (std::size_t t = 0; t < KH * KW; ++t) acc[t] = Block{};
  Block sum = Block{};
  if constexpr (FH != 0) {
    // Row q of xp serves the rows r = q − i of dy, one per kernel row i: its KW shifted
    // blocks are loaded once for all KH of them (KW + KH loads per KH·KW multiply-adds
    // instead of KH·KW + 1; 5×5: 25 sums, 5 blocks of x and one of dy in 31 registers).
    // Each sum still takes its terms in the order of r.
    for (std::size_t q = 0; q < OH + KH - 1; ++q) {
      for (std::size_t c0 = 0; c0 < ds; c0 += kB) {
        Block xv[FW];
        for (std::size_t j = 0; j < KW; ++j) xv[j] = load_block(xp + q * xs + c0 + j);
        for (std::size_t i = 0; i < KH; ++i) {
          if (q < i || q - i >= OH) continue;
          const Block d = load_block(dyp + (q - i) * ds + c0);
          if (i == 0) sum += d;
          for (std::size_t j = 0; j < KW; ++j) acc[i * KW + j] += d * xv[j];
        }
      }
    }
  } else {
    for (std::size_t r = 0; r < OH; ++r) {
      for (std::size_t c0 = 0; c0 < ds; c0 += kB) {
        const Block d = load_block(dyp + r * ds + c0);
        sum += d;
        for (std::size_t i = 0; i < KH; ++i) {
          const float* row = xp + (r + i) * xs + c0;
          for (std::size_t j = 0; j < KW; ++j) acc[i * KW + j] += d * load_block(row + j);
        }
      }
    }
  }
  for (std::size_t t = 0; t < KH * KW; ++t) dw[t] += lane_sum(acc[t]);
  *db += lane_sum(sum);
}

// Runs body<FH, FW>() for the kernel sizes with loops of their own (3×3, 5×5), else
// body<0, 0>().
template <class Body>
[[gnu::always_inline]] inline void with_kernel(std::size_t kh, std::size_t kw, Body&& body) {
  if (kh == 3 && kw == 3)
    body.template operator()<3, 3>();
  else if (kh == 5 && kw == 5)
    body.template operator()<5, 5>();
  else
    body.template operator()<0, 0>();
}

// The work of one image (forward, backward-data) or of one output channel over one image
// (backward-weights), compiled for several instruction sets.
// `first`: the thread's first plane of the call, whose padding is written too (the later
// ones have the same geometry and find its zeros in place).
MINICNN_SIMD_CLONES [[gnu::flatten]] void forward_image(const ConvGeom& g, const float* x,
                                                        const float* w, const float* b,
                                                        float* y, float* xp, bool first) {
  const Layout lay = layout(g, ConvPass::Forward);
  const auto p = static_cast<std::ptrdiff_t>(g.padding);
  pad_plane(x, g.H, g.W, -p, -p, lay.rows, lay.stride, xp, first);
  const std::size_t taps = g.KH * g.KW, P = g.out_plane();
  constexpr std::size_t G = 4;
  with_kernel(g.KH, g.KW, [&]<std::size_t FH, std::size_t FW>() {
    std::size_t k = 0;
    for (; k + G <= g.K; k += G) {
      float bias[G];
      for (std::size_t q = 0; q < G; ++q) bias[q] = b ? b[k + q] : 0.0f;
      forward_rows<FH, FW, G>(xp, lay.stride, w + k * taps, bias, g.OH, g.OW, P, y + k * P,
                              g.KH, g.KW);
    }
    for (; k < g.K; ++k) {
      const float bias = b ? b[k] : 0.0f;
      forward_rows<FH, FW, 1>(xp, lay.stride, w + k * taps, &bias, g.OH, g.OW, P, y + k * P,
                              g.KH, g.KW);
    }
  });
}

MINICNN_SIMD_CLONES [[gnu::flatten]] void backward_data_image(const ConvGeom& g, const float* dy,
                                                              const float* w, float* dx,
                                                              float* scratch, bool first) {
  const Layout lay = layout(g, ConvPass::BackwardData);
  float* dyp = scratch;
  float* acc = scratch + lay.plane_floats();
  std::fill(acc, acc + lay.acc_rows * lay.acc_stride, 0.0f);
  // dyp(r, c) = dy(r − (KH − 1 − p), c − (KW − 1 − p)).
  const auto r0 = static_cast<std::ptrdiff_t>(g.padding) - static_cast<std::ptrdiff_t>(g.KH - 1);
  const auto c0 = static_cast<std::ptrdiff_t>(g.padding) - static_cast<std::ptrdiff_t>(g.KW - 1);
  const std::size_t taps = g.KH * g.KW, P = g.out_plane();
  with_kernel(g.KH, g.KW, [&]<std::size_t FH, std::size_t FW>() {
    for (std::size_t k = 0; k < g.K; ++k) {
      pad_plane(dy + k * P, g.OH, g.OW, r0, c0, lay.rows, lay.stride, dyp, first && k == 0);
      constexpr std::size_t G = 4;
      std::size_t r = 0;
      for (; r + G <= g.H; r += G)
        backward_data_rows<FH, FW, G>(dyp, lay.stride, w + k * taps, r, lay.acc_stride, acc,
                                      g.KH, g.KW);
      for (; r < g.H; ++r)
        backward_data_rows<FH, FW, 1>(dyp, lay.stride, w + k * taps, r, lay.acc_stride, acc,
                                      g.KH, g.KW);
    }
  });
  for (std::size_t r = 0; r < g.H; ++r)
    std::memcpy(dx + r * g.W, acc + r * lay.acc_stride, g.W * sizeof(float));
}

// Image n's share of backward-weights for the thread's output channels k = k0, k0 +
// step, ...: the i-th one's sums (taps, then the bias) at sums + i·(taps + 1).
MINICNN_SIMD_CLONES [[gnu::flatten]] void backward_weights_image(
    const ConvGeom& g, const float* x, const float* dy, std::size_t k0, std::size_t step,
    float* xp, float* dyp, double* sums, bool first) {
  const Layout lay = layout(g, ConvPass::BackwardWeights);
  const auto p = static_cast<std::ptrdiff_t>(g.padding);
  const std::size_t taps = g.KH * g.KW, P = g.out_plane();
  pad_plane(x, g.H, g.W, -p, -p, lay.rows, lay.stride, xp, first);
  with_kernel(g.KH, g.KW, [&]<std::size_t FH, std::size_t FW>() {
    for (std::size_t k = k0, i = 0; k < g.K; k += step, ++i) {
      pad_plane(dy + k * P, g.OH, g.OW, 0, 0, lay.acc_rows, lay.acc_stride, dyp, first && i == 0);
      double* s = sums + i * (taps + 1);
      backward_weights_rows<FH, FW>(xp, lay.stride, dyp, lay.acc_stride, g.OH, s, s + taps, g.KH,
                                    g.KW);
    }
  });
}

// The geometries the loops are written for; anything else is an Error naming `who`.
void check_geometry(const ConvGeom& g, const char* who) {
  if (g.C != 1 || g.groups != 1 || g.stride != 1 || g.dilation != 1 || g.KH * g.KW > kMaxTaps)
    throw Error(std::string(who) + ": needs one input channel, one group, stride 1, dilation 1 "
                "and at most 49 taps, got C " + std::to_string(g.C) + ", groups " +
                std::to_string(g.groups) + ", stride " + std::to_string(g.stride) +
                ", dilation " + std::to_string(g.dilation) + ", a " + std::to_string(g.KH) +
                "x" + std::to_string(g.KW) + " kernel (see one_channel_eligible)");
}

}  // namespace

bool one_channel_eligible(const ConvGeom& g, ConvPass pass, int threads,
                          std::size_t limit_bytes) {
  if (g.C != 1 || g.groups != 1 || g.stride != 1 || g.dilation != 1) return false;
  if (g.KH * g.KW > kMaxTaps) return false;
  const auto T = static_cast<std::size_t>(one_channel_threads(g, pass, threads));
  return T * one_channel_scratch_floats(g, pass) * sizeof(float) <= limit_bytes;
}

std::size_t one_channel_scratch_floats(const ConvGeom& g, ConvPass pass) {
  return layout(g, pass).floats();
}

int one_channel_threads(const ConvGeom& g, ConvPass pass, int threads) {
  const std::size_t T = static_cast<std::size_t>(std::max(1, threads));
  const std::size_t jobs = pass == ConvPass::BackwardWeights ? g.K : g.N;
  // A small pass stays on the calling thread, as parallel.hpp's loops do.
  if (g.N * g.K * g.out_plane() < kParallelMin) return 1;
  return static_cast<int>(std::max<std::size_t>(1, std::min(T, jobs)));
}

void one_channel_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                         float* y, float* scratch, int threads) {
  check_geometry(g, "one_channel_forward");
  const int T = one_channel_threads(g, ConvPass::Forward, threads);
  const std::size_t per = one_channel_scratch_floats(g, ConvPass::Forward);
  for_each_part(T, [&](int part) {
    const auto t = static_cast<std::size_t>(part);
    for (std::size_t n = t; n < g.N; n += static_cast<std::size_t>(T))
      forward_image(g, x + n * g.in_plane(), w, b, y + n * g.K * g.out_plane(),
                    scratch + t * per, n == t);
  });
}

void one_channel_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                               float* scratch, int threads) {
  check_geometry(g, "one_channel_backward_data");
  const int T = one_channel_threads(g, ConvPass::BackwardData, threads);
  const std::size_t per = one_channel_scratch_floats(g, ConvPass::BackwardData);
  for_each_part(T, [&](int part) {
    const auto t = static_cast<std::size_t>(part);
    for (std::size_t n = t; n < g.N; n += static_cast<std::size_t>(T))
      backward_data_image(g, dy + n * g.K * g.out_plane(), w, dx + n * g.in_plane(),
                          scratch + t * per, n == t);
  });
}

void one_channel_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                                  float* db, float* scratch, int threads) {
  check_geometry(g, "one_channel_backward_weights");
  const int T = one_channel_threads(g, ConvPass::BackwardWeights, threads);
  const std::size_t per = one_channel_scratch_floats(g, ConvPass::BackwardWeights);
  const Layout lay = layout(g, ConvPass::BackwardWeights);
  const std::size_t taps = g.KH * g.KW, P = g.out_plane();
  const auto TT = static_cast<std::size_t>(T);
  for_each_part(T, [&](int part) {
    const auto t = static_cast<std::size_t>(part);
    float* xp = scratch + t * per;
    float* dyp = xp + lay.plane_floats();
    // The thread's output channels, k ≡ t (mod T), each summing the images in order in
    // double: sums (taps and the bias) of the thread's i-th channel at i·(taps + 1).
    auto* sums = reinterpret_cast<double*>(dyp + lay.acc_floats());
    std::fill(sums, sums + lay.sums, 0.0);
    for (std::size_t n = 0; n < g.N; ++n)
      backward_weights_image(g, x + n * g.in_plane(), dy + n * g.K * P, t, TT, xp, dyp, sums,
                             n == 0);
    for (std::size_t k = t, i = 0; k < g.K; k += TT, ++i) {
      const double* s = sums + i * (taps + 1);
      for (std::size_t j = 0; j < taps; ++j) dw[k * taps + j] += static_cast<float>(s[j]);
      if (db) db[k] += static_cast<float>(s[taps]);
    }
  });
}

}  // namespace minicnn
