#include "strided.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>

#include "../../core/buffer.hpp"
#include "../../core/ops.hpp"
#include "../../core/parallel.hpp"
#include "../../core/simd.hpp"
#include "../../core/tensor.hpp"
#include "vec.hpp"

// The loops below are AVX-512 code behind GCC's target attributes, for GCC on x86-64.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && MINICNN_CONV_VEC
#define MINICNN_STRIDED_AVX512 1
#include <immintrin.h>
#else
#define MINICNN_STRIDED_AVX512 0
#endif

namespace minicnn {
namespace {

constexpr std::size_t kLanes = 16;
constexpr std::size_t kMaxTaps = 49;

// A register block holds at most this many sums, of AVX-512's 32 vector registers: the
// rest hold the weights or dy values of a step and the broadcast value. With 28 sums GCC
// kept some of them on the stack, and R5's forward ran 20% slower than with 14.
constexpr int kMaxSums = 24;
// Pixels (forward, backward-data) or taps (backward-weights) a block takes with one and
// with two vectors of channels.
constexpr int kMaxOne = 14, kMaxTwo = 10;
constexpr int kMaxTapsOne = 24;
static_assert(kMaxOne <= kMaxSums && 2 * kMaxTwo <= kMaxSums && kMaxTapsOne <= kMaxSums);

std::size_t lanes_up(std::size_t n) { return round_up(n, kLanes); }

// Sums and products of sizes saturated at SIZE_MAX, and a region of that many floats
// rounded up to whole cache lines: a layout that large is never within a limit, so
// strided_eligible turns it down instead of wrapping around to a small size.
constexpr std::size_t kHuge = SIZE_MAX;
std::size_t add_sat(std::size_t a, std::size_t b) { return a > kHuge - b ? kHuge : a + b; }
std::size_t mul_sat(std::size_t a, std::size_t b) { return b && a > kHuge / b ? kHuge : a * b; }
std::size_t region(std::initializer_list<std::size_t> dims) {
  std::size_t n = 1;
  for (std::size_t d : dims) n = mul_sat(n, d);
  return n > kHuge - kLanes ? kHuge : round_up(n, kLanes);
}

std::ptrdiff_t floor_div(std::ptrdiff_t a, std::ptrdiff_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// The pixels of a row of w (dx's, in backward-data) whose column is q mod s.
std::size_t class_size(std::size_t w, std::size_t q, std::size_t s) {
  return w > q ? (w - q + s - 1) / s : 0;
}

// Where everything lies: the shared repacked weights first, then each thread's part.
struct Layout {
  std::size_t Hp = 0, Wp = 0;     // x padded by p (forward, backward-weights)
  std::size_t dyl = 0, dyw = 0;   // backward-data: dy's rows, dyl zeros on their left, dyw long
  std::size_t shared = 0;         // the repacked weights
  std::size_t pad = 0, stage = 0, dyt = 0, part = 0, dbpart = 0;  // a thread's regions
  std::size_t per_thread() const {
    return add_sat(add_sat(add_sat(pad, stage), add_sat(dyt, part)), dbpart);
  }
};

Layout layout(const ConvGeom& g, ConvPass pass) {
  Layout l;
  const std::size_t taps = g.KH * g.KW, Kp = lanes_up(g.K), Cp = lanes_up(g.C);
  l.Hp = g.H + 2 * g.padding;
  l.Wp = g.W + 2 * g.padding;
  switch (pass) {
    case ConvPass::Forward:
      l.shared = region({g.C, taps, Kp});
      l.pad = region({g.C, l.Hp, l.Wp});
      l.stage = region({g.OW, Kp});
      break;
    case ConvPass::BackwardData: {
      // dy column ow = j + (q + p − kw)/s for pixel j of class q, over the taps where s
      // divides q + p − kw: the columns outside [0, OW) read zeros.
      const auto s = static_cast<std::ptrdiff_t>(g.stride);
      const auto p = static_cast<std::ptrdiff_t>(g.padding);
      std::ptrdiff_t lo = 0, hi = static_cast<std::ptrdiff_t>(g.OW) - 1;
      for (std::size_t q = 0; q < std::min(g.stride, g.W); ++q) {  // classes q ≥ W are empty
        const auto J = static_cast<std::ptrdiff_t>(class_size(g.W, q, g.stride));
        for (std::size_t j = 0; j < g.KW && J > 0; ++j) {
          const std::ptrdiff_t e =
              static_cast<std::ptrdiff_t>(q) + p - static_cast<std::ptrdiff_t>(j);
          if (e % s != 0) continue;
          lo = std::min(lo, floor_div(e, s));
          hi = std::max(hi, J - 1 + floor_div(e, s));
        }
      }
      l.dyl = static_cast<std::size_t>(-lo);
      l.dyw = static_cast<std::size_t>(hi - lo + 1);
      l.shared = region({taps, g.K, Cp});
      l.pad = region({g.K, g.OH, l.dyw});
      l.stage = region({g.W, Cp});
      break;
    }
    case ConvPass::BackwardWeights:
      l.pad = region({g.C, l.Hp, l.Wp});
      l.dyt = region({g.OH, g.OW, Kp});
      l.part = region({g.C, taps, Kp});
      l.dbpart = region({2, g.K});  // doubles
      break;
  }
  return l;
}

// The units a pass shares among threads: output rows, dx rows, (image, channel) pairs.
std::size_t items(const ConvGeom& g, ConvPass pass) {
  switch (pass) {
    case ConvPass::Forward: return g.N * g.OH;
    case ConvPass::BackwardData: return g.N * g.H;
    case ConvPass::BackwardWeights: return g.N * g.C;
  }
  return 0;
}

int threads_of(const ConvGeom& g, ConvPass pass, int threads) {
  // A small pass stays on the calling thread, as parallel.hpp's loops do.
  if (g.N * g.K * g.out_plane() < kParallelMin) return 1;
  const std::size_t T = static_cast<std::size_t>(std::max(1, threads));
  return static_cast<int>(std::max<std::size_t>(1, std::min(T, items(g, pass))));
}

bool geometry_fits(const ConvGeom& g, ConvPass pass) {
  const std::size_t channels = pass == ConvPass::BackwardData ? g.C : g.K;
  // A stride past the padded plane (one output pixel) stays with the chunks: it keeps
  // the stride within the plane sizes the geometry bounds, and so within ptrdiff_t.
  return g.stride >= 2 && g.stride <= g.H + 2 * g.padding && g.stride <= g.W + 2 * g.padding &&
         g.groups == 1 && g.dilation == 1 && channels >= kLanes && g.KH * g.KW <= kMaxTaps;
}

// Where the path is faster than the chunks' GEMMs: their unfolding (folding) costs
// less, relative to the products, the more output (input) channels share it. 3×3,
// stride 2, 2 threads: forward 1.4 times as fast with 32 output channels, as fast with
// 128, 7-16% slower with 256; backward-data 1.6 times as fast with 32 input channels,
// as fast with 64, 17% slower with 128; backward-weights 1.45 times as fast with 64
// output channels, 1.1 with 128, as fast or slower with 256.
constexpr std::size_t kMostOut = 128, kMostIn = 64;

bool pays(const ConvGeom& g, ConvPass pass) {
  return pass == ConvPass::BackwardData ? g.C <= kMostIn : g.K <= kMostOut;
}

bool has_avx512() { return MINICNN_STRIDED_AVX512 && cpu_has_avx512f(); }

void check(const ConvGeom& g, ConvPass pass, const char* who) {
  if (!has_avx512()) throw Error(std::string(who) + ": needs a CPU with AVX-512");
  if (!geometry_fits(g, pass)) {
    throw Error(std::string(who) + ": written for a stride from 2 to the padded plane's " +
                "size, one group, dilation 1, 16 or more " +
                (pass == ConvPass::BackwardData ? "input" : "output") +
                " channels and at most 49 taps; got stride " + std::to_string(g.stride) +
                " on a " + std::to_string(g.H) + "x" + std::to_string(g.W) + " plane padded by " +
                std::to_string(g.padding) + ", " + std::to_string(g.groups) + " groups, dilation " +
                std::to_string(g.dilation) + ", " + std::to_string(g.C) + " -> " +
                std::to_string(g.K) + " channels, " + std::to_string(g.KH) + "x" +
                std::to_string(g.KW) + " kernel");
  }
}

// Items [first, last) of thread t of T: an even share.
std::pair<std::size_t, std::size_t> share(std::size_t n, std::size_t t, std::size_t T) {
  return {n * t / T, n * (t + 1) / T};
}

// x's planes of one image into xp (C planes of Hp × Wp), its borders left as they are
// (zeroed once per call).
void pad_image(const ConvGeom& g, const Layout& l, const float* x, float* xp) {
  for (std::size_t ch = 0; ch < g.C; ++ch)
    for (std::size_t r = 0; r < g.H; ++r)
      std::memcpy(xp + (ch * l.Hp + r + g.padding) * l.Wp + g.padding,
                  x + (ch * g.H + r) * g.W, g.W * sizeof(float));
}

#if MINICNN_STRIDED_AVX512

// ---- the register blocks -------------------------------------------------------------

// N sums of V vectors each, kept in registers (the loops are unrolled by their constant
// bounds): sum n holds 16 or 32 channels of one pixel (forward, backward-data) or of
// one tap (backward-weights).
template <int V, int N>
struct Sums {
  __m512 acc[N][V];

  [[gnu::target("avx512f"), gnu::always_inline]] void zero() {
#pragma GCC unroll 32
    for (int n = 0; n < N; ++n)
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[n][v] = _mm512_setzero_ps();
  }
  // acc[n] += value(n) · the V vectors at w.
  template <class Value>
  [[gnu::target("avx512f"), gnu::always_inline]] void add(const float* w, Value value) {
    __m512 wv[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) wv[v] = _mm512_loadu_ps(w + kLanes * v);
#pragma GCC unroll 32
    for (int n = 0; n < N; ++n) {
      const __m512 b = _mm512_set1_ps(value(n));
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[n][v] = _mm512_fmadd_ps(b, wv[v], acc[n][v]);
    }
  }
  // Sum n to out + n·step (added to what is there when `accumulate`).
  [[gnu::target("avx512f"), gnu::always_inline]] void store(float* out, std::size_t step,
                                                            bool accumulate) const {
#pragma GCC unroll 32
    for (int n = 0; n < N; ++n)
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) {
        float* q = out + static_cast<std::size_t>(n) * step + kLanes * v;
        _mm512_storeu_ps(q, accumulate ? _mm512_add_ps(_mm512_loadu_ps(q), acc[n][v]) : acc[n][v]);
      }
  }
};

// Forward: J output pixels of a row, from the one whose window starts at x, by V vectors
// of output channels. w holds the taps' weights Kp apart, (ch, i, j) in order; out gets
// pixel j's sums at j·Kp. S is the stride (0: read from s).
template <int V, int J, int S>
[[gnu::target("avx512f")]] void forward_block(const float* x, std::size_t plane, std::size_t Wp,
                                              std::size_t s, std::size_t C, std::size_t KH,
                                              std::size_t KW, const float* w, std::size_t Kp,
                                              float* out) {
  const std::size_t st = S ? static_cast<std::size_t>(S) : s;
  Sums<V, J> sums;
  sums.zero();
  for (std::size_t ch = 0; ch < C; ++ch)
    for (std::size_t i = 0; i < KH; ++i) {
      const float* row = x + ch * plane + i * Wp;
      for (std::size_t t = 0; t < KW; ++t, w += Kp)
        sums.add(w, [&](int j) { return row[static_cast<std::size_t>(j) * st + t]; });
    }
  sums.store(out, Kp, false);
}

// Backward-data: J pixels of a dx row, out_step floats apart in out, by V vectors of
// input channels. Tap t reads dy row taps[t].dy (plane k at k·kstride, pixel j at j) with
// the weights taps[t].w (output channel k at k·Cp).
struct DataTap {
  const float* dy;
  const float* w;
};

template <int V, int J>
[[gnu::target("avx512f")]] void data_block(const DataTap* taps, std::size_t ntaps, std::size_t K,
                                           std::size_t kstride, std::size_t Cp, float* out,
                                           std::size_t out_step) {
  Sums<V, J> sums;
  sums.zero();
  for (std::size_t t = 0; t < ntaps; ++t) {
    const float* d = taps[t].dy;
    const float* w = taps[t].w;
    for (std::size_t k = 0; k < K; ++k, d += kstride, w += Cp)
      sums.add(w, [&](int j) { return d[j]; });
  }
  sums.store(out, out_step, false);
}

// Backward-weights: the sums of TB taps (at offsets off[t] from a pixel's window in the
// padded plane x) over an image's OH × OW output pixels, by V vectors of output channels
// of dyt (pixel-major, Kp apart); added into part (tap t at t·Kp).
template <int V, int TB>
[[gnu::target("avx512f")]] void weights_block(const float* x, const std::size_t* off,
                                              std::size_t OH, std::size_t OW, std::size_t Wp,
                                              std::size_t s, const float* dyt, std::size_t Kp,
                                              float* part) {
  std::size_t o[TB];
#pragma GCC unroll 32
  for (int t = 0; t < TB; ++t) o[t] = off[t];
  Sums<V, TB> sums;
  sums.zero();
  for (std::size_t r = 0; r < OH; ++r) {
    const float* xc = x + r * s * Wp;
    for (std::size_t c = 0; c < OW; ++c, xc += s, dyt += Kp)
      sums.add(dyt, [&](int t) { return xc[o[t]]; });
  }
  sums.store(part, Kp, true);
}

// dst[j·ds + i] = src[i·ss + j] (+ add[j]) for i < rows, j < cols, both at most 16:
// transpose16 (vec.hpp) on rows loaded under a mask, the missing rows zero and the
// stores masked to `rows` lanes. Moves an output row's sums from pixel-major to the
// planes (and dy the other way) at a sixth of a scalar loop's cost.
[[gnu::target("avx512f")]] void transpose_block(const float* src, std::size_t ss,
                                                std::size_t rows, std::size_t cols, float* dst,
                                                std::size_t ds, const float* add) {
  const auto mask = [](std::size_t n) {
    return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1);
  };
  const __mmask16 cm = mask(cols), rm = mask(rows);
  Vec16 r[16];
  for (std::size_t i = 0; i < 16; ++i)
    r[i] = i < rows ? Vec16(_mm512_maskz_loadu_ps(cm, src + i * ss)) : Vec16{};
  transpose16(r);
  for (std::size_t j = 0; j < cols; ++j)
    _mm512_mask_storeu_ps(dst + j * ds, rm, __m512(add ? r[j] + add[j] : r[j]));
}

// A rows × cols matrix (src, ss apart) into dst (ds apart) transposed, in 16×16 blocks;
// add (cols values, or null) added to dst's rows.
void transpose(const float* src, std::size_t ss, std::size_t rows, std::size_t cols, float* dst,
               std::size_t ds, const float* add) {
  for (std::size_t j0 = 0; j0 < cols; j0 += kLanes)
    for (std::size_t i0 = 0; i0 < rows; i0 += kLanes)
      transpose_block(src + i0 * ss + j0, ss, std::min(kLanes, rows - i0),
                      std::min(kLanes, cols - j0), dst + j0 * ds + i0, ds,
                      add ? add + j0 : nullptr);
}

// Tables of the blocks by size (entry n − 1 for n pixels or taps).
using ForwardFn = void (*)(const float*, std::size_t, std::size_t, std::size_t, std::size_t,
                           std::size_t, std::size_t, const float*, std::size_t, float*);
using DataFn = void (*)(const DataTap*, std::size_t, std::size_t, std::size_t, std::size_t,
                        float*, std::size_t);
using WeightsFn = void (*)(const float*, const std::size_t*, std::size_t, std::size_t,
                           std::size_t, std::size_t, const float*, std::size_t, float*);

template <int V, int S, std::size_t... J>
constexpr std::array<ForwardFn, sizeof...(J)> forward_table(std::index_sequence<J...>) {
  return {&forward_block<V, static_cast<int>(J) + 1, S>...};
}
template <int V, std::size_t... J>
constexpr std::array<DataFn, sizeof...(J)> data_table(std::index_sequence<J...>) {
  return {&data_block<V, static_cast<int>(J) + 1>...};
}
template <int V, std::size_t... T>
constexpr std::array<WeightsFn, sizeof...(T)> weights_table(std::index_sequence<T...>) {
  return {&weights_block<V, static_cast<int>(T) + 1>...};
}

constexpr auto kForward1 = forward_table<1, 0>(std::make_index_sequence<kMaxOne>());
constexpr auto kForward2 = forward_table<2, 0>(std::make_index_sequence<kMaxTwo>());
constexpr auto kForward1S2 = forward_table<1, 2>(std::make_index_sequence<kMaxOne>());
constexpr auto kForward2S2 = forward_table<2, 2>(std::make_index_sequence<kMaxTwo>());
constexpr auto kData1 = data_table<1>(std::make_index_sequence<kMaxOne>());
constexpr auto kData2 = data_table<2>(std::make_index_sequence<kMaxTwo>());
constexpr auto kWeights1 = weights_table<1>(std::make_index_sequence<kMaxTapsOne>());
constexpr auto kWeights2 = weights_table<2>(std::make_index_sequence<kMaxTwo>());

// n items in blocks of at most `most`, as even as whole items allow: f(first, count).
template <class F>
void blocks(std::size_t n, std::size_t most, F&& f) {
  if (n == 0) return;
  const std::size_t count = (n + most - 1) / most, size = (n + count - 1) / count;
  for (std::size_t i = 0; i < n; i += size) f(i, std::min(size, n - i));
}

// The channel vectors of Kp (or Cp) lanes in pairs, the last one alone when their count
// is odd: f(first lane, vectors).
template <class F>
void vector_pairs(std::size_t lanes, F&& f) {
  for (std::size_t v = 0; v < lanes; v += 2 * kLanes)
    f(v, lanes - v >= 2 * kLanes ? 2 : 1);
}

// ---- the passes, one row or pair at a time ---------------------------------------------

// Output row r of image n: its sums into stage (OW × Kp), then y with the bias.
void forward_row(const ConvGeom& g, const Layout& l, const float* xp, const float* wr,
                 const float* b, std::size_t n, std::size_t r, float* stage, float* y) {
  const std::size_t Kp = lanes_up(g.K), s = g.stride, plane = l.Hp * l.Wp;
  const bool two = s == 2;
  vector_pairs(Kp, [&](std::size_t k0, int V) {
    blocks(g.OW, V == 2 ? kMaxTwo : kMaxOne, [&](std::size_t c0, std::size_t J) {
      const ForwardFn* table = V == 2 ? (two ? kForward2S2 : kForward2).data()
                                       : (two ? kForward1S2 : kForward1).data();
      table[J - 1](xp + r * s * l.Wp + c0 * s, plane, l.Wp, s, g.C, g.KH, g.KW, wr + k0, Kp,
                   stage + c0 * Kp + k0);
    });
  });
  transpose(stage, Kp, g.OW, g.K, y + n * g.K * g.out_plane() + r * g.OW, g.out_plane(), b);
}

// dx row r of image n from dyp (the image's dy, rows padded by the layout) into stage
// (W × Cp), then dx.
void data_row(const ConvGeom& g, const Layout& l, const float* dyp, const float* wt,
              std::size_t n, std::size_t r, float* stage, float* dx) {
  const std::size_t Cp = lanes_up(g.C), s = g.stride, kstride = g.OH * l.dyw;
  const auto sp = static_cast<std::ptrdiff_t>(s), p = static_cast<std::ptrdiff_t>(g.padding);
  const std::ptrdiff_t rp = static_cast<std::ptrdiff_t>(r) + p;
  DataTap taps[kMaxTaps];
  for (std::size_t q = 0; q < std::min(s, g.W); ++q) {  // classes q ≥ W are empty
    const std::size_t Jq = class_size(g.W, q, s);
    if (Jq == 0) continue;
    std::size_t ntaps = 0;
    for (std::size_t i = 0; i < g.KH; ++i) {
      const std::ptrdiff_t d = rp - static_cast<std::ptrdiff_t>(i);
      if (d < 0 || d % sp != 0 || static_cast<std::size_t>(d / sp) >= g.OH) continue;
      const std::size_t oh = static_cast<std::size_t>(d / sp);
      for (std::size_t j = 0; j < g.KW; ++j) {
        const std::ptrdiff_t e =
            static_cast<std::ptrdiff_t>(q) + p - static_cast<std::ptrdiff_t>(j);
        if (e % sp != 0) continue;
        const std::ptrdiff_t col = static_cast<std::ptrdiff_t>(l.dyl) + floor_div(e, sp);
        taps[ntaps++] = {dyp + oh * l.dyw + static_cast<std::size_t>(col),
                         wt + (i * g.KW + j) * g.K * Cp};
      }
    }
    if (ntaps == 0) {
      for (std::size_t j = 0; j < Jq; ++j)
        std::fill(stage + (q + s * j) * Cp, stage + (q + s * j) * Cp + Cp, 0.0f);
      continue;
    }
    vector_pairs(Cp, [&](std::size_t c0, int V) {
      blocks(Jq, V == 2 ? kMaxTwo : kMaxOne, [&](std::size_t j0, std::size_t J) {
        DataTap moved[kMaxTaps];
        for (std::size_t t = 0; t < ntaps; ++t) moved[t] = {taps[t].dy + j0, taps[t].w + c0};
        const DataFn* table = V == 2 ? kData2.data() : kData1.data();
        table[J - 1](moved, ntaps, g.K, kstride, Cp, stage + (q + s * j0) * Cp + c0, s * Cp);
      });
    });
  }
  transpose(stage, Cp, g.W, g.C, dx + (n * g.C * g.H + r) * g.W, g.in_plane(), nullptr);
}

// Input channel ch of one image: its taps' sums over the image's pixels into part.
void weights_channel(const ConvGeom& g, const Layout& l, const float* xp, const float* dyt,
                     std::size_t ch, float* part) {
  const std::size_t Kp = lanes_up(g.K), taps = g.KH * g.KW;
  std::size_t off[kMaxTaps];
  for (std::size_t i = 0; i < g.KH; ++i)
    for (std::size_t j = 0; j < g.KW; ++j) off[i * g.KW + j] = i * l.Wp + j;
  const float* x = xp + ch * l.Hp * l.Wp;
  vector_pairs(Kp, [&](std::size_t k0, int V) {
    blocks(taps, V == 2 ? kMaxTwo : kMaxTapsOne, [&](std::size_t t0, std::size_t TB) {
      const WeightsFn* table = V == 2 ? kWeights2.data() : kWeights1.data();
      table[TB - 1](x, off + t0, g.OH, g.OW, l.Wp, g.stride, dyt + k0, Kp,
                    part + (ch * taps + t0) * Kp + k0);
    });
  });
}

// The items of a pass (rows of an image, or its channels, per_image of them each) shared
// evenly among T threads: each thread zeroes its scratch once, calls load(n, mine) when it
// reaches a new image n, then item(n, i, mine) for the image's item i.
template <class Load, class Item>
void run_items(const Layout& l, float* scratch, int T, std::size_t count, std::size_t per_image,
               Load&& load, Item&& item) {
  for_each_part(T, [&](int part) {
    const auto t = static_cast<std::size_t>(part);
    float* mine = scratch + l.shared + t * l.per_thread();
    std::fill(mine, mine + l.per_thread(), 0.0f);
    const auto [first, last] = share(count, t, static_cast<std::size_t>(T));
    std::size_t image = count;  // none yet
    for (std::size_t it = first; it < last; ++it) {
      const std::size_t n = it / per_image;
      if (n != image) load(n, mine);
      image = n;
      item(n, it % per_image, mine);
    }
  });
}

#endif  // MINICNN_STRIDED_AVX512

}  // namespace

bool strided_eligible(const ConvGeom& g, ConvPass pass, int threads, std::size_t limit_bytes) {
  if (!has_avx512() || !geometry_fits(g, pass) || !pays(g, pass)) return false;
  return strided_scratch_floats(g, pass, threads) <= limit_bytes / sizeof(float);
}

int strided_threads(const ConvGeom& g, ConvPass pass, int threads) {
  return threads_of(g, pass, threads);
}

std::size_t strided_scratch_floats(const ConvGeom& g, ConvPass pass, int threads) {
  const Layout l = layout(g, pass);
  return add_sat(l.shared,
                 mul_sat(static_cast<std::size_t>(threads_of(g, pass, threads)), l.per_thread()));
}

#if MINICNN_STRIDED_AVX512

void strided_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                     float* y, float* scratch, int threads) {
  check(g, ConvPass::Forward, "strided_forward");
  const Layout l = layout(g, ConvPass::Forward);
  const int T = threads_of(g, ConvPass::Forward, threads);
  const std::size_t taps = g.KH * g.KW, R = g.C * taps, Kp = lanes_up(g.K);
  // w (K × C·taps) repacked tap-major with the output channels in lanes, zero-padded.
  float* wr = scratch;
  std::fill(wr, wr + R * Kp, 0.0f);
  for (std::size_t k = 0; k < g.K; ++k)
    for (std::size_t i = 0; i < R; ++i) wr[i * Kp + k] = w[k * R + i];
  run_items(
      l, scratch, T, items(g, ConvPass::Forward), g.OH,
      [&](std::size_t n, float* xp) { pad_image(g, l, x + n * g.C * g.in_plane(), xp); },
      [&](std::size_t n, std::size_t r, float* xp) {
        forward_row(g, l, xp, wr, b, n, r, xp + l.pad, y);
      });
}

void strided_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                           float* scratch, int threads) {
  check(g, ConvPass::BackwardData, "strided_backward_data");
  const Layout l = layout(g, ConvPass::BackwardData);
  const int T = threads_of(g, ConvPass::BackwardData, threads);
  const std::size_t taps = g.KH * g.KW, Cp = lanes_up(g.C), P = g.out_plane();
  // w (K, C, KH, KW) as (tap, k) rows of the input channels in lanes, zero-padded.
  float* wt = scratch;
  std::fill(wt, wt + taps * g.K * Cp, 0.0f);
  for (std::size_t k = 0; k < g.K; ++k)
    for (std::size_t ch = 0; ch < g.C; ++ch)
      for (std::size_t t = 0; t < taps; ++t)
        wt[(t * g.K + k) * Cp + ch] = w[(k * g.C + ch) * taps + t];
  run_items(
      l, scratch, T, items(g, ConvPass::BackwardData), g.H,
      [&](std::size_t n, float* dyp) {
        for (std::size_t k = 0; k < g.K; ++k)
          for (std::size_t oh = 0; oh < g.OH; ++oh)
            std::memcpy(dyp + (k * g.OH + oh) * l.dyw + l.dyl, dy + (n * g.K + k) * P + oh * g.OW,
                        g.OW * sizeof(float));
      },
      [&](std::size_t n, std::size_t r, float* dyp) {
        data_row(g, l, dyp, wt, n, r, dyp + l.pad, dx);
      });
}

void strided_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                              float* db, float* scratch, int threads) {
  check(g, ConvPass::BackwardWeights, "strided_backward_weights");
  const Layout l = layout(g, ConvPass::BackwardWeights);
  const int T = threads_of(g, ConvPass::BackwardWeights, threads);
  const std::size_t taps = g.KH * g.KW, R = g.C * taps, Kp = lanes_up(g.K), P = g.out_plane();
  // A thread's scratch: x's padded planes, dy pixel-major, its sums, the bias's in double.
  const auto dy_of = [&](float* xp) { return xp + l.pad; };
  const auto sums_of = [&](float* xp) { return xp + l.pad + l.dyt; };
  const auto db_of = [&](float* xp) {
    return reinterpret_cast<double*>(xp + l.pad + l.dyt + l.part);
  };
  run_items(
      l, scratch, T, items(g, ConvPass::BackwardWeights), g.C,
      [&](std::size_t n, float* xp) {
        pad_image(g, l, x + n * g.C * g.in_plane(), xp);
        transpose(dy + n * g.K * P, P, g.K, P, dy_of(xp), Kp, nullptr);
      },
      [&](std::size_t n, std::size_t ch, float* xp) {
        if (ch == 0) {  // the bias's sums, once per image
          const float* d = dy + n * g.K * P;
          double* dbs = db_of(xp);
          for (std::size_t k = 0; k < g.K; ++k) dbs[k] += sum_to_double(d + k * P, P);
        }
        weights_channel(g, l, xp, dy_of(xp), ch, sums_of(xp));
      });
  // The threads' sums, added in thread order.
  for (int part = 0; part < T; ++part) {
    float* base = scratch + l.shared + static_cast<std::size_t>(part) * l.per_thread();
    const float* sums = sums_of(base);
    const double* dbs = db_of(base);
    for (std::size_t k = 0; k < g.K; ++k)
      for (std::size_t i = 0; i < R; ++i) dw[k * R + i] += sums[i * Kp + k];
    if (db)
      for (std::size_t k = 0; k < g.K; ++k) db[k] += static_cast<float>(dbs[k]);
  }
}

#else

void strided_forward(const ConvGeom& g, const float*, const float*, const float*, float*,
                     float*, int) {
  check(g, ConvPass::Forward, "strided_forward");
}
void strided_backward_data(const ConvGeom& g, const float*, const float*, float*, float*, int) {
  check(g, ConvPass::BackwardData, "strided_backward_data");
}
void strided_backward_weights(const ConvGeom& g, const float*, const float*, float*, float*,
                              float*, int) {
  check(g, ConvPass::BackwardWeights, "strided_backward_weights");
}

#endif

}  // namespace minicnn
