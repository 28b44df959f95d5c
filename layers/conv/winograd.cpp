#include "winograd.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/blas.hpp"
#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"
#include "transform_apply.hpp"
#include "vec.hpp"
#include "winograd5.hpp"

// The block functions are compiled a second time for AVX2 where GCC or Clang target x86.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MINICNN_WINOGRAD_AVX2 1
#else
#define MINICNN_WINOGRAD_AVX2 0
#endif

namespace minicnn {
namespace {

// ---- the transform matrices, built at compile time from the interpolation points ----

// F(m, 3) evaluates its polynomials at α − 1 = m + 1 finite points and at ∞. Small
// integers keep the matrices' entries small; F(6, 3) needs two more and takes ±1/2.
template <int M>
struct Points;
template <>
struct Points<2> {
  static constexpr std::array<double, 3> p{0, 1, -1};
};
template <>
struct Points<4> {
  static constexpr std::array<double, 5> p{0, 1, -1, 2, -2};
};
template <>
struct Points<6> {
  static constexpr std::array<double, 7> p{0, 1, -1, 2, -2, 0.5, -0.5};
};

template <int M>
struct Transforms {
  static constexpr int kAlpha = M + 2;
  std::array<std::array<float, kAlpha>, kAlpha> Bt{};  // input:   Bᵀ d B
  std::array<std::array<float, 3>, kAlpha> G{};        // kernel:  G g Gᵀ
  std::array<std::array<float, kAlpha>, 3> Gt{};       // weights: Gᵀ S G
  std::array<std::array<float, kAlpha>, M> At{};       // output:  Aᵀ M A
  std::array<std::array<float, M>, kAlpha> A{};        // dy tile: A e Aᵀ
};

// Toom-Cook: the product s = g·h of polynomials of degrees 2 and m − 1 is known from its
// values at the points, s(p_i) = g(p_i)·h(p_i), and its leading coefficient (the value
// "at ∞"); Lagrange interpolation gets it back. Row i of A and G evaluates h and g at
// p_i, row i of Bᵀ holds the coefficients of Π_{j≠i} (x − p_j), and 1 / Π_{j≠i} (p_i −
// p_j) goes into G. Read backwards (the transposition principle), the same matrices
// correlate: y = Aᵀ [(G g) ⊙ (Bᵀ d)] is y_i = Σ_j g_j d_(i+j).
template <int M>
constexpr Transforms<M> make_transforms() {
  constexpr int a = M + 2;
  const auto& p = Points<M>::p;
  Transforms<M> t;
  for (int i = 0; i <= a - 1; ++i) {
    std::array<double, a> poly{};  // Π (x − p_j) over j ≠ i (over all j for i = ∞)
    poly[0] = 1.0;
    double den = 1.0;
    int degree = 0;
    for (int j = 0; j < a - 1; ++j) {
      if (j == i) continue;
      for (int k = degree + 1; k > 0; --k) poly[k] = poly[k - 1] - p[j] * poly[k];
      poly[0] = -p[j] * poly[0];
      ++degree;
      if (i < a - 1) den *= p[i] - p[j];
    }
    const double sign = den < 0 ? -1.0 : 1.0;  // keeps G's entries positive where it can
    for (int k = 0; k < a; ++k) t.Bt[i][k] = static_cast<float>(sign * poly[k]);
    double power = 1.0;
    for (int k = 0; k < 3; ++k) {
      t.G[i][k] = i < a - 1 ? static_cast<float>(power / (sign * den)) : (k == 2 ? 1.0f : 0.0f);
      if (i < a - 1) power *= p[i];
    }
    power = 1.0;
    for (int k = 0; k < M; ++k) {
      t.A[i][k] = i < a - 1 ? static_cast<float>(power) : (k == M - 1 ? 1.0f : 0.0f);
      if (i < a - 1) power *= p[i];
    }
  }
  for (int i = 0; i < a; ++i) {
    for (int k = 0; k < 3; ++k) t.Gt[k][i] = t.G[i][k];
    for (int k = 0; k < M; ++k) t.At[k][i] = t.A[i][k];
  }
  return t;
}

template <int M> inline constexpr auto kBt = make_transforms<M>().Bt;
template <int M> inline constexpr auto kG = make_transforms<M>().G;
template <int M> inline constexpr auto kGt = make_transforms<M>().Gt;
template <int M> inline constexpr auto kAt = make_transforms<M>().At;
template <int M> inline constexpr auto kA = make_transforms<M>().A;

// ---- small transforms, kLanes at a time --------------------------------------------

// Tiles (or channels) transformed side by side, one per SIMD lane: every array below
// is [row][column][lane], so each operation is on kLanes contiguous floats.
constexpr int kLanes = 8;

using transform::apply;

#if MINICNN_CONV_VEC
#define MINICNN_WINOGRAD_VEC 1

template <int L>
struct VecOf;
template <>
struct VecOf<8> {
  using type = Vec8;
};
template <>
struct VecOf<16> {
  using type = Vec16;
};
template <int L>
using Vec = typename VecOf<L>::type;

template <int L>
[[gnu::always_inline]] inline Vec<L> load(const float* p) {
  Vec<L> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <int L>
[[gnu::always_inline]] inline void store(float* p, Vec<L> v) {
  std::memcpy(p, &v, sizeof v);
}

template <int L>
[[gnu::always_inline]] inline void transpose(Vec<L>* r) {
  if constexpr (L == 8)
    transpose8(r);
  else
    transpose16(r);
}
#else
#define MINICNN_WINOGRAD_VEC 0
#endif

// ---- F(2×2, 3×3) and F(4×4, 3×3) by hand ----------------------------------------------

// The 1-D rows of Bᵀ, Aᵀ and A for m = 2 and 4 with the sums they share computed once:
// rows for the points ±p are an even part plus or minus an odd one. About half the
// operations of the generic rows, and written for any T with + − and × by a float
// (float or Vec8), so that the static_asserts below check them against the matrices.
template <int M, class T>
constexpr void bt_1d(const T* d, T* r) {
  if constexpr (M == 2) {
    r[0] = d[0] - d[2];
    r[1] = d[1] + d[2];
    r[2] = d[2] - d[1];
    r[3] = d[3] - d[1];
  } else {
    static_assert(M == 4);
    const T s12 = d[1] + d[2], s34 = d[3] + d[4];
    const T u = d[2] - d[1], w = d[3] - d[4];
    const T e = d[4] - d[2], o = d[3] - d[1];
    r[0] = d[0] * 4.0f - d[2] * 5.0f + d[4];
    r[1] = s12 * 4.0f - s34;
    r[2] = u * 4.0f + w;
    r[3] = e + o * 2.0f;
    r[4] = e - o * 2.0f;
    r[5] = d[1] * 4.0f - d[3] * 5.0f + d[5];
  }
}

template <int M, class T>
constexpr void at_1d(const T* s, T* o) {
  if constexpr (M == 2) {
    o[0] = s[0] + s[1] + s[2];
    o[1] = s[1] - s[2] + s[3];
  } else {
    static_assert(M == 4);
    const T p12 = s[1] + s[2], m12 = s[1] - s[2], p34 = s[3] + s[4], m34 = s[3] - s[4];
    o[0] = s[0] + p12 + p34;
    o[1] = m12 + m34 * 2.0f;
    o[2] = p12 + p34 * 4.0f;
    o[3] = m12 + m34 * 8.0f + s[5];
  }
}

template <int M, class T>
constexpr void a_1d(const T* e, T* r) {
  if constexpr (M == 2) {
    r[0] = e[0];
    r[1] = e[0] + e[1];
    r[2] = e[0] - e[1];
    r[3] = e[1];
  } else {
    static_assert(M == 4);
    const T ev = e[0] + e[2], od = e[1] + e[3];
    const T ev4 = e[0] + e[2] * 4.0f, od4 = (e[1] + e[3] * 4.0f) * 2.0f;
    r[0] = e[0];
    r[1] = ev + od;
    r[2] = ev - od;
    r[3] = ev4 + od4;
    r[4] = ev4 - od4;
    r[5] = e[3];
  }
}

template <int M, class T>
constexpr void g_1d(const T* g, T* r) {
  if constexpr (M == 2) {
    const T e = (g[0] + g[2]) * 0.5f, o = g[1] * 0.5f;
    r[0] = g[0];
    r[1] = e + o;
    r[2] = e - o;
    r[3] = g[2];
  } else {
    static_assert(M == 4);
    const T e = (g[0] + g[2]) * (1.0f / 6), o = g[1] * (1.0f / 6);
    const T e2 = g[0] * (1.0f / 24) + g[2] * (1.0f / 6), o2 = g[1] * (1.0f / 12);
    r[0] = g[0] * 0.25f;
    r[1] = e + o;
    r[2] = e - o;
    r[3] = e2 + o2;
    r[4] = e2 - o2;
    r[5] = g[2];
  }
}

// Column k of the matrix a row function applies: the function on the k-th unit vector.
template <int n_in, int n_out, class F>
constexpr bool matches(F f, const auto& T) {
  for (int k = 0; k < n_in; ++k) {
    float unit[n_in] = {}, out[n_out] = {};
    unit[k] = 1.0f;
    f(unit, out);
    for (int i = 0; i < n_out; ++i)
      if (out[i] != T[i][k]) return false;
  }
  return true;
}
static_assert(matches<4, 4>([](const float* d, float* r) { bt_1d<2>(d, r); }, kBt<2>));
static_assert(matches<6, 6>([](const float* d, float* r) { bt_1d<4>(d, r); }, kBt<4>));
static_assert(matches<4, 2>([](const float* s, float* o) { at_1d<2>(s, o); }, kAt<2>));
static_assert(matches<6, 4>([](const float* s, float* o) { at_1d<4>(s, o); }, kAt<4>));
static_assert(matches<2, 4>([](const float* e, float* r) { a_1d<2>(e, r); }, kA<2>));
static_assert(matches<4, 6>([](const float* e, float* r) { a_1d<4>(e, r); }, kA<4>));
static_assert(matches<3, 4>([](const float* g, float* r) { g_1d<2>(g, r); }, kG<2>));
static_assert(matches<3, 6>([](const float* g, float* r) { g_1d<4>(g, r); }, kG<4>));

#if MINICNN_WINOGRAD_VEC
// A 2-D transform by rows of 1-D ones: out = R in Rᵀ for the R of `row` (n_in → n_out
// values), in[i][j] at in + i·is + j·ijs, out[i][j] at out + i·os + j·js.
template <int L, int n_in, int n_out, class Row>
[[gnu::always_inline]] inline void rows_2d(Row row, const float* in, std::size_t is,
                                           std::size_t ijs, float* out, std::size_t os,
                                           std::size_t js) {
  Vec<L> t[n_out][n_in];
  for (int j = 0; j < n_in; ++j) {
    Vec<L> col[n_in], res[n_out];
    for (int i = 0; i < n_in; ++i)
      col[i] = load<L>(in + static_cast<std::size_t>(i) * is + static_cast<std::size_t>(j) * ijs);
    row(col, res);
    for (int i = 0; i < n_out; ++i) t[i][j] = res[i];
  }
  for (int i = 0; i < n_out; ++i) {
    Vec<L> res[n_out];
    row(t[i], res);
    for (int j = 0; j < n_out; ++j)
      store<L>(out + static_cast<std::size_t>(i) * os + static_cast<std::size_t>(j) * js, res[j]);
  }
}
#endif

// v = Bᵀ d B of α×α patches, row i of d at d + i·ds; point ξ of v goes to v + ξ·vs.
template <int M, int L = kLanes>
inline void transform_input(const float* d, std::size_t ds, float* v, std::size_t vs) {
  constexpr int a = M + 2;
#if MINICNN_WINOGRAD_VEC
  if constexpr (M != 6) {
    rows_2d<L, a, a>([](const Vec<L>* x, Vec<L>* y) { bt_1d<M>(x, y); }, d, ds, L, v, a * vs,
                     vs);
    return;
  }
#endif
  alignas(64) float t[a * a * L];
  apply<kBt<M>, a * L>(d, ds, t, a * L);
  for (int r = 0; r < a; ++r) apply<kBt<M>, L>(t + r * a * L, L, v + r * a * vs, vs);
}

// u = G g Gᵀ of 3×3 kernels.
template <int M>
inline void transform_kernel(const float* g, float* u) {
  constexpr int a = M + 2, L = kLanes;
#if MINICNN_WINOGRAD_VEC
  if constexpr (M != 6) {
    rows_2d<L, 3, a>([](const Vec<L>* x, Vec<L>* y) { g_1d<M>(x, y); }, g, 3 * L, L, u, a * L,
                     L);
    return;
  }
#endif
  alignas(64) float t[a * 3 * L];
  apply<kG<M>, 3 * L>(g, 3 * L, t, 3 * L);
  for (int r = 0; r < a; ++r) apply<kG<M>, L>(t + r * 3 * L, L, u + r * a * L, L);
}

// o = Aᵀ s A: α×α products back to m×m outputs; point ξ of s is at s + ξ·ss, row r of
// o at o + r·os.
template <int M, int L = kLanes>
inline void transform_output(const float* s, std::size_t ss, float* o, std::size_t os) {
  constexpr int a = M + 2;
#if MINICNN_WINOGRAD_VEC
  if constexpr (M != 6) {
    rows_2d<L, a, M>([](const Vec<L>* x, Vec<L>* y) { at_1d<M>(x, y); }, s, a * ss, ss, o, os,
                     L);
    return;
  }
#endif
  alignas(64) float t[M * a * L];
  for (int c = 0; c < a; ++c) apply<kAt<M>, L>(s + c * ss, a * ss, t + c * L, a * L);
  for (int r = 0; r < M; ++r) apply<kAt<M>, L>(t + r * a * L, L, o + r * os, L);
}

// E = A e Aᵀ of m×m dy tiles (backward-weights: dy in the kernel's role), row i of e at
// e + i·es; point ξ of v goes to v + ξ·vs.
template <int M, int L = kLanes>
inline void transform_dy(const float* e, std::size_t es, float* v, std::size_t vs) {
  constexpr int a = M + 2;
#if MINICNN_WINOGRAD_VEC
  if constexpr (M != 6) {
    rows_2d<L, M, a>([](const Vec<L>* x, Vec<L>* y) { a_1d<M>(x, y); }, e, es, L, v, a * vs,
                     vs);
    return;
  }
#endif
  alignas(64) float t[a * M * L];
  apply<kA<M>, M * L>(e, es, t, M * L);
  for (int r = 0; r < a; ++r) apply<kA<M>, L>(t + r * M * L, L, v + r * a * vs, vs);
}

// z = Gᵀ s G: α×α sums back to a 3×3 weight gradient.
template <int M>
inline void transform_weight(const float* s, float* z) {
  constexpr int a = M + 2, L = kLanes;
  alignas(64) float t[3 * a * L];
  apply<kGt<M>, a * L>(s, a * L, t, a * L);
  for (int r = 0; r < 3; ++r) apply<kGt<M>, L>(t + r * a * L, L, z + r * 3 * L, L);
}

// ---- tiles, blocks and the workspace ------------------------------------------------

// The tile sizes the choice by geometry (winograd_tile_size) picks from. F(6×6, 3×3) is
// within tolerance too, but its 8×8 transforms cost more than its products save: 5% to
// 90% slower than F(4×4) on the 3×3 layers of bench_conv, as fast with 256 channels, 5%
// faster only on a 30×30 plane it tiles exactly; it stays for WinogradWorkspace::tile.
constexpr std::size_t kWinogradAutoTiles[] = {2, 4};

// A correlation of a 3×3 kernel over planes: out (N, Cout, Hout, Wout) from
// in (N, Cin, Hin, Win), output (r, s) reading in[r + i + off, s + j + off] for taps
// i, j < 3 (zero outside the plane). Forward is {C → K, off = −p}; backward-data
// {K → C, off = p − 2}.
struct Corr {
  std::size_t N, Cin, Hin, Win, Cout, Hout, Wout;
  std::ptrdiff_t off;
};

// The m×m tiles of N output planes of Ho × Wo: tile t is image t / (TH·TW), tile row
// t / TW mod TH, tile column t mod TW.
struct TileGrid {
  std::size_t m = 0, TH = 0, TW = 0, tiles = 0;
};

TileGrid tile_grid(std::size_t m, std::size_t N, std::size_t Ho, std::size_t Wo) {
  TileGrid tg;
  tg.m = m;
  tg.TH = (Ho + m - 1) / m;
  tg.TW = (Wo + m - 1) / m;
  tg.tiles = N * tg.TH * tg.TW;
  return tg;
}

bool has_avx2() {
#if MINICNN_WINOGRAD_AVX2
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
#else
  return false;
#endif
}

bool has_avx512() {
#if MINICNN_WINOGRAD_AVX2 && MINICNN_WINOGRAD_VEC
  static const bool yes = __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

// The tiles of a block that lie in one row of tiles: `count` tiles from (n, th, tw0),
// at column `at` of the block's matrices.
struct Segment {
  std::size_t n, th, tw0, count, at;
};

template <class F>
void for_each_segment(const TileGrid& tg, std::size_t t0, std::size_t t1, F&& f) {
  for (std::size_t t = t0; t < t1;) {
    const std::size_t row = t / tg.TW, tw0 = t % tg.TW;
    const std::size_t count = std::min(tg.TW - tw0, t1 - t);
    f(Segment{row / tg.TH, row % tg.TH, tw0, count, t - t0});
    t += count;
  }
}

// A block's tile count is rounded to a multiple of this when it is larger: the GEMM's
// column count is the block's, and OpenBLAS's kernels take 16 columns at a time (on S3
// of bench_conv, blocks of 24, 40 or 56 tiles ran 10-25% slower than blocks of 16, 32
// or 64).
constexpr std::size_t kBlockMultiple = 16;

constexpr std::size_t kCacheLineFloats = 64 / sizeof(float);

// How the tiles are cut into blocks and where each thread's scratch lies in the
// workspace: [U | thread 0: V, M (or E), in-rows, out-rows, S | thread 1: ...]. V holds
// value (channel c, point ξ, tile j) at (c·α² + ξ)·ld + j, so the matrix V_ξ of one
// point starts at ξ·ld with rows α²·ld apart and the α² points of a lane group lie
// within a few KiB; M and E alike.
struct Plan {
  TileGrid tg;
  std::size_t tb = 1;       // tiles per block
  std::size_t ld = 1;       // tb and room for one more lane group
  // With kLanes channels or more on both sides (on the input side for backward-weights),
  // the transforms put channels in the lanes instead of tiles: V holds (point ξ, tile j,
  // channel c) at ξ·vs + j·cpad + c, so each matrix V_ξ is tiles × channels, M (and
  // backward-weights' E, when K ≥ kLanes too) alike with kpad and ms, and U is stored
  // transposed, (ξ, c, k) at ξ·us + c·Cout + k. The point strides vs and ms are a cache
  // line more than tb·cpad and tb·kpad: a tile's α² points, written one after the other,
  // would otherwise lie a power of two apart as often as not and share a few sets of the
  // L1 cache (R2's forward ran about 15% slower so). Those lanes are sixteen where the
  // CPU has AVX-512 and there are sixteen channels or more (R2's forward and
  // backward-data ran 8-20% faster than with eight).
  bool by_channel = false;
  int lanes = kLanes;
  std::size_t cpad = 0, kpad = 0;  // Cin and Cout rounded up to the lanes (by_channel)
  std::size_t vs = 0, ms = 0;
  std::size_t blocks = 0;
  std::size_t pw = 0, ow = 0;  // row widths of the in-rows (TW·m + 2) and out-rows (TW·m)
  int threads = 1;
  // The point strides of U and of backward-weights' sums S: a cache line more than their
  // K·C floats, for the reason given for vs and ms (the kernel transform scatters to all
  // α² points of U at once, the weight transform gathers from those of S).
  std::size_t us = 0, ss = 0;
  std::size_t u_floats = 0;  // the transformed kernels, shared
  std::size_t v_floats = 0, m_floats = 0, in_floats = 0, out_floats = 0, s_floats = 0;
  std::size_t per_thread() const { return v_floats + m_floats + in_floats + out_floats + s_floats; }
  std::size_t total() const { return u_floats + per_thread() * static_cast<std::size_t>(threads); }
};

// The tiles [first, last) thread t of p.threads works on, in blocks of p.tb from first
// on: an even share of the tiles, cut at multiples of kBlockMultiple. (Dealing whole
// blocks round-robin gave R3's forward, 1 024 tiles in ten blocks of 112 and one of 16,
// 560 tiles to one thread and 464 to the other.)
std::pair<std::size_t, std::size_t> thread_tiles(const Plan& p, std::size_t t) {
  const std::size_t T = static_cast<std::size_t>(p.threads), n = p.tg.tiles;
  const std::size_t q = std::min(kBlockMultiple, p.tb);
  const auto cut = [&](std::size_t i) {
    return i >= T ? n : std::min(n, (n * i / T + q / 2) / q * q);
  };
  return {cut(t), cut(t + 1)};
}

// Sizes every region of p for blocks of tb tiles. The rows a block's tiles read: tb
// consecutive tiles touch at most R = ⌈tb/TW⌉ + 1 rows of tiles, m plane rows each, and
// every image among them adds the α − m = 2 rows below its last row of tiles.
void size_regions(Plan& p, std::size_t tb, std::size_t N, std::size_t Cin, std::size_t Cout,
                  bool weights, int T) {
  const std::size_t m = p.tg.m, P = (m + 2) * (m + 2);
  const std::size_t T_ = static_cast<std::size_t>(T);
  p.tb = tb;
  p.ld = tb + kLanes;
  p.blocks = (p.tg.tiles + tb - 1) / tb;
  p.threads = static_cast<int>(std::max<std::size_t>(1, std::min(T_, p.blocks)));
  p.pw = p.tg.TW * m + 2;
  p.ow = p.tg.TW * m;
  const std::size_t R = std::min((tb + p.tg.TW - 1) / p.tg.TW + 1, N * p.tg.TH);
  const std::size_t images = std::min(R, (tb + p.tg.TH * p.tg.TW - 1) / (p.tg.TH * p.tg.TW) + 1);
  const std::size_t band = (R * m + 2 * images) * p.pw;
  p.us = p.ss = Cin * Cout + kCacheLineFloats;
  p.u_floats = weights ? 0 : aligned_count<float>(P * p.us);
  const std::size_t out_band = R * m * p.ow;
  p.by_channel = Cin >= kLanes && (weights || Cout >= kLanes);
  const bool wide = p.by_channel && has_avx512() && Cin >= 16 && (weights || Cout >= 16);
  p.lanes = wide ? 16 : kLanes;
  const auto L = static_cast<std::size_t>(p.lanes);
  p.cpad = p.kpad = 0;
  if (p.by_channel) {
    p.cpad = round_up(Cin, L);
    p.vs = tb * p.cpad + kCacheLineFloats;
    p.v_floats = aligned_count<float>(P * p.vs);
    p.in_floats = aligned_count<float>(L * band + p.pw);  // the rows interleaved, a zero row
  } else {
    p.v_floats = aligned_count<float>(P * Cin * p.ld);
    p.in_floats = aligned_count<float>(band);
  }
  if (p.by_channel && Cout >= L) {  // in backward-weights, dy's side by channel too
    p.kpad = round_up(Cout, L);
    p.ms = tb * p.kpad + kCacheLineFloats;
    p.m_floats = aligned_count<float>(P * p.ms);
    p.out_floats = aligned_count<float>(L * out_band + p.ow);  // the rows, a zero row
  } else {
    p.m_floats = aligned_count<float>(P * Cout * p.ld);
    p.out_floats = aligned_count<float>(out_band);
  }
  p.s_floats = weights ? aligned_count<float>(P * p.ss) : 0;
}

// Tiles over Ho × Wo; V holds Cin channels per tile, M (or E) Cout; `weights` adds the
// per-thread α²·Cout·Cin partial sum of backward-weights instead of the shared U.
Plan make_plan(std::size_t m, std::size_t N, std::size_t Ho, std::size_t Wo, std::size_t Cin,
               std::size_t Cout, bool weights, int T, std::size_t limit_bytes) {
  const std::size_t P = (m + 2) * (m + 2);
  Plan p;
  p.tg = tile_grid(m, N, Ho, Wo);
  // A small pass stays on the calling thread, as parallel.hpp's loops do.
  if (p.tg.tiles * P * (Cin + Cout) < kParallelMin) T = 1;
  const std::size_t T_ = static_cast<std::size_t>(T);
  // As many blocks as the cache and GEMM sizes ask for, made a multiple of the threads,
  // then the tiles shared out evenly in multiples of kBlockMultiple.
  const std::size_t per_tile = P * (Cin + Cout);
  const std::size_t by_cache = kWinogradBlockBytes / sizeof(float) / per_tile;
  const std::size_t target = std::max({by_cache, kWinogradMinBlockTiles, Cin, Cout});
  const std::size_t blocks = round_up((p.tg.tiles + target - 1) / target, T_);
  std::size_t tb = (p.tg.tiles + blocks - 1) / blocks;
  if (tb > kBlockMultiple) tb = round_up(tb, kBlockMultiple);
  // Within the limit: fewer tiles per block until the workspace fits, down to one.
  const std::size_t budget = limit_bytes / sizeof(float);
  for (;;) {
    size_regions(p, tb, N, Cin, Cout, weights, T);
    if (tb == 1 || p.total() <= budget) break;
    tb = tb > 2 * kBlockMultiple ? tb - kBlockMultiple : tb / 2;
  }
  return p;
}

// Rows [r0, r0 + rows) and columns [c0, c0 + width) of an h × w plane into dst
// (rows × width), zero where they fall outside the plane; r0 and c0 may be negative.
void copy_rows(const float* plane, std::size_t h, std::size_t w, std::ptrdiff_t r0,
               std::ptrdiff_t c0, std::size_t rows, std::size_t width, float* out) {
  const auto wd = static_cast<std::ptrdiff_t>(width);
  const std::ptrdiff_t q0 = std::clamp<std::ptrdiff_t>(-c0, 0, wd);
  const std::ptrdiff_t q1 = std::clamp<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(w) - c0, q0, wd);
  for (std::size_t i = 0; i < rows; ++i) {
    float* dst = out + i * width;
    const std::ptrdiff_t r = r0 + static_cast<std::ptrdiff_t>(i);
    if (r < 0 || r >= static_cast<std::ptrdiff_t>(h) || q0 == q1) {
      std::fill(dst, dst + width, 0.0f);
      continue;
    }
    std::fill(dst, dst + q0, 0.0f);
    std::memcpy(dst + q0, plane + static_cast<std::size_t>(r) * w + static_cast<std::size_t>(c0 + q0),
                static_cast<std::size_t>(q1 - q0) * sizeof(float));
    std::fill(dst + q1, dst + wd, 0.0f);
  }
}

// Where the tiles of one block read and write. The input rows the block's tiles read are
// copied zero-padded into the in-rows, image after image (rows th0·m .. th1·m + α − 1 of
// each image's padded plane, pw wide); outputs (and, in backward-weights, dy) go through
// the out-rows (rows th0·m .. th1·m + m − 1, ow wide). The layout is the same for every
// channel, so it is worked out once per block: each tile's patch corner in both.
struct BlockMap {
  struct Image {
    std::size_t n, th0, th1;     // the image and its first and last row of tiles in the block
    std::size_t in_at, out_at;   // where its rows start in the in-rows and out-rows
  };
  std::vector<Image> images;
  std::vector<std::size_t> in_off, out_off;  // per tile of the block
  std::size_t in_len = 0, out_len = 0;       // floats of the in-rows and out-rows in use
};

void map_block(const Plan& p, std::size_t t0, std::size_t t1, BlockMap& bm) {
  const TileGrid& tg = p.tg;
  const std::size_t m = tg.m, per_image = tg.TH * tg.TW;
  bm.images.clear();
  bm.in_off.clear();
  bm.out_off.clear();
  std::size_t in_at = 0, out_at = 0;
  for (std::size_t n = t0 / per_image; n * per_image < t1; ++n) {
    const std::size_t a0 = std::max(t0, n * per_image) - n * per_image;
    const std::size_t a1 = std::min(t1, (n + 1) * per_image) - n * per_image;
    const BlockMap::Image im{n, a0 / tg.TW, (a1 - 1) / tg.TW, in_at, out_at};
    bm.images.push_back(im);
    for (std::size_t t = a0; t < a1; ++t) {
      const std::size_t dr = (t / tg.TW - im.th0) * m, col = (t % tg.TW) * m;
      bm.in_off.push_back(in_at + dr * p.pw + col);
      bm.out_off.push_back(out_at + dr * p.ow + col);
    }
    const std::size_t rows = (im.th1 - im.th0 + 1) * m;
    in_at += (rows + 2) * p.pw;
    out_at += rows * p.ow;
  }
  bm.in_len = in_at;
  bm.out_len = out_at;
}

// The n×n patches of the kLanes tiles j0 .. j0 + kLanes − 1 of a block, side by side:
// d[row][column][lane], tile j's patch at rows + off[j] with rows `width` apart. Lanes
// past the block's last tile repeat it (their columns of V are never used).
template <int n>
inline void gather_patches(const float* rows, std::size_t width, const std::size_t* off,
                           std::size_t j0, std::size_t cnt, float* d) {
  const float* src[kLanes];
  for (int l = 0; l < kLanes; ++l)
    src[l] = rows + off[std::min(j0 + static_cast<std::size_t>(l), cnt - 1)];
  for (int i = 0; i < n; ++i)
    for (int l = 0; l < kLanes; ++l)
      for (int j = 0; j < n; ++j)
        d[(i * n + j) * kLanes + l] = src[l][static_cast<std::size_t>(i) * width + static_cast<std::size_t>(j)];
}

// Writes `count` lanes of each of the P transformed points of v to dst, dst_stride apart
// (a whole group in vector moves, a last partial one lane by lane).
inline void scatter_points(const float* v, std::size_t P, std::size_t count, float* dst,
                           std::size_t dst_stride) {
  if (count == kLanes) {
    for (std::size_t pt = 0; pt < P; ++pt)
      for (int l = 0; l < kLanes; ++l) dst[pt * dst_stride + l] = v[pt * kLanes + l];
    return;
  }
  for (std::size_t pt = 0; pt < P; ++pt)
    for (std::size_t l = 0; l < count; ++l) dst[pt * dst_stride + l] = v[pt * kLanes + l];
}

// The inverse: lane l of point pt from src[pt·src_stride + l], zero past `count`.
inline void gather_points(const float* src, std::size_t src_stride, std::size_t P,
                          std::size_t count, float* v) {
  if (count == kLanes) {
    for (std::size_t pt = 0; pt < P; ++pt)
      for (int l = 0; l < kLanes; ++l) v[pt * kLanes + l] = src[pt * src_stride + l];
    return;
  }
  for (std::size_t pt = 0; pt < P; ++pt)
    for (std::size_t l = 0; l < static_cast<std::size_t>(kLanes); ++l)
      v[pt * kLanes + l] = l < count ? src[pt * src_stride + l] : 0.0f;
}

// ---- the four stages ----------------------------------------------------------------

// Stage 1, input transform of one block: V[ci][ξ][j] = (Bᵀ d B)_ξ for each tile j of the
// block and every input channel ci, d the α×α patch of `in` whose corner is
// (th·m + off, tw·m + off), zero outside the plane. The rows the block reads are copied
// first, zero-padded, so the patches need no bounds checks, and lane groups run across
// rows of tiles and images (a 7×7 plane has only two tiles of 4×4 in a row).
template <int M>
void input_transform(const Corr& c, const Plan& p, const BlockMap& bm, std::size_t cnt,
                     const float* in, float* V, float* rows) {
  constexpr int a = M + 2, L = kLanes;
  const std::size_t plane = c.Hin * c.Win;
  alignas(64) float d[a * a * L];
  for (std::size_t ci = 0; ci < c.Cin; ++ci) {
    for (const BlockMap::Image& im : bm.images)
      copy_rows(in + (im.n * c.Cin + ci) * plane, c.Hin, c.Win,
                 static_cast<std::ptrdiff_t>(im.th0 * M) + c.off, c.off,
                 (im.th1 - im.th0 + 1) * M + 2, p.pw, rows + im.in_at);
    for (std::size_t j0 = 0; j0 < cnt; j0 += L) {
      gather_patches<a>(rows, p.pw, bm.in_off.data(), j0, cnt, d);
      // A whole lane group even past the block's end, into the room left in ld.
      transform_input<M>(d, a * L, V + ci * a * a * p.ld + j0, p.ld);
    }
  }
}


// out[i·L + l] = rows[l][i] for i < n and every lane l: L rows side by side. Sixteen
// lanes take a last block of eight columns as two 8×8 transposes, one per half of the
// lanes, so that a 28-wide row leaves four columns to the scalar loop instead of twelve.
template <int L>
[[gnu::always_inline]] inline void interleave_lanes(const float* const* rows, std::size_t n,
                                                    float* out) {
  std::size_t i = 0;
#if MINICNN_WINOGRAD_VEC
  for (; i + L <= n; i += L) {
    Vec<L> r[L];
    for (std::size_t l = 0; l < L; ++l) r[l] = load<L>(rows[l] + i);
    transpose<L>(r);
    for (std::size_t q = 0; q < L; ++q) store<L>(out + (i + q) * L, r[q]);
  }
  if constexpr (L == 16) {
    if (i + 8 <= n) {
      for (std::size_t h = 0; h < 16; h += 8) {
        Vec8 r[8];
        for (std::size_t l = 0; l < 8; ++l) r[l] = load<8>(rows[h + l] + i);
        transpose8(r);
        for (std::size_t q = 0; q < 8; ++q) store<8>(out + (i + q) * L + h, r[q]);
      }
      i += 8;
    }
  }
#endif
  for (; i < n; ++i)
    for (std::size_t l = 0; l < L; ++l) out[i * L + l] = rows[l][i];
}

// The inverse, for the first `count` lanes, with add[l] added: rows[l][i] = in[i·L +
// l] + add[l].
template <int L>
[[gnu::always_inline]] inline void deinterleave_lanes(const float* in, std::size_t n,
                                                      std::size_t count, const float* add,
                                                      float* const* rows) {
  std::size_t i = 0;
#if MINICNN_WINOGRAD_VEC
  for (; i + L <= n; i += L) {
    Vec<L> r[L];
    for (std::size_t q = 0; q < L; ++q) r[q] = load<L>(in + (i + q) * L);
    transpose<L>(r);
    if (count == L) {
      for (std::size_t l = 0; l < L; ++l) store<L>(rows[l] + i, r[l] + add[l]);
    } else {
      for (std::size_t l = 0; l < count; ++l) store<L>(rows[l] + i, r[l] + add[l]);
    }
  }
  if constexpr (L == 16) {
    if (i + 8 <= n) {
      for (std::size_t h = 0; h < std::min<std::size_t>(count, 16); h += 8) {
        Vec8 r[8];
        for (std::size_t q = 0; q < 8; ++q) r[q] = load<8>(in + (i + q) * L + h);
        transpose8(r);
        for (std::size_t l = 0; l < std::min<std::size_t>(8, count - h); ++l)
          store<8>(rows[h + l] + i, r[l] + add[h + l]);
      }
      i += 8;
    }
  }
#endif
  for (; i < n; ++i)
    for (std::size_t l = 0; l < count; ++l) rows[l][i] = in[i * L + l] + add[l];
}

// Rows [r0, r0 + rows) and columns [c0, c0 + width) of `count` h × w planes (plane l at
// planes + l·stride), interleaved L side by side into out (rows × width × L):
// zero where they fall outside the planes, and in the lanes past `count`, which read
// zero_row (width zeros).
template <int L>
[[gnu::always_inline]] inline void interleave_rows(const float* planes, std::size_t stride,
                                                   std::size_t count, std::size_t h,
                                                   std::size_t w, std::ptrdiff_t r0,
                                                   std::ptrdiff_t c0, std::size_t rows,
                                                   std::size_t width, const float* zero_row,
                                                   float* out) {
  const auto wd = static_cast<std::ptrdiff_t>(width);
  const std::ptrdiff_t q0 = std::clamp<std::ptrdiff_t>(-c0, 0, wd);
  const std::ptrdiff_t q1 = std::clamp<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(w) - c0, q0, wd);
  const auto uq0 = static_cast<std::size_t>(q0), uq1 = static_cast<std::size_t>(q1);
  for (std::size_t i = 0; i < rows; ++i) {
    float* dst = out + i * width * L;
    const std::ptrdiff_t r = r0 + static_cast<std::ptrdiff_t>(i);
    if (r < 0 || r >= static_cast<std::ptrdiff_t>(h) || q0 == q1) {
      std::fill(dst, dst + width * L, 0.0f);
      continue;
    }
    const float* src[L];
    for (std::size_t l = 0; l < L; ++l)
      src[l] = l < count ? planes + l * stride + static_cast<std::size_t>(r) * w +
                               static_cast<std::size_t>(c0 + q0)
                         : zero_row;
    std::fill(dst, dst + uq0 * L, 0.0f);
    interleave_lanes<L>(src, uq1 - uq0, dst + uq0 * L);
    std::fill(dst + uq1 * L, dst + width * L, 0.0f);
  }
}

// The walk that stage 1 and backward-weights' dy stage share with lanes over channels
// (p.by_channel): for each group of L of the C planes (of h × w, image n's at planes +
// n·C·h·w), the rows the block's tiles read, zero-padded, are interleaved straight from
// the L planes, so that column x of a row holds the L channels side by side and a patch
// row is L-wide columns in a row of memory; then transform(patch of tile j, its row
// stride, c0, j) reads each patch where it lies, with no gather. Into the in-rows when
// `in_rows` (offset `off`, α − m rows more per image), else the out-rows (dy's m×m tiles).
template <int L, int M, class Transform>
[[gnu::always_inline]] inline void interleaved_tiles(const float* planes, std::size_t C,
                                                     std::size_t h, std::size_t w,
                                                     std::ptrdiff_t off, bool in_rows,
                                                     const Plan& p, const BlockMap& bm,
                                                     std::size_t cnt, float* rows,
                                                     Transform&& transform) {
  const std::size_t plane = h * w, width = in_rows ? p.pw : p.ow, extra = in_rows ? 2 : 0;
  const std::vector<std::size_t>& tile_at = in_rows ? bm.in_off : bm.out_off;
  float* mixed = rows;
  float* zero_row = rows + L * (in_rows ? bm.in_len : bm.out_len);
  std::fill(zero_row, zero_row + width, 0.0f);
  for (std::size_t c0 = 0; c0 < C; c0 += L) {
    for (const BlockMap::Image& im : bm.images)
      interleave_rows<L>(planes + (im.n * C + c0) * plane, plane,
                         std::min<std::size_t>(L, C - c0), h, w,
                         static_cast<std::ptrdiff_t>(im.th0 * M) + off, off,
                         (im.th1 - im.th0 + 1) * M + extra, width, zero_row,
                         mixed + (in_rows ? im.in_at : im.out_at) * L);
    for (std::size_t j = 0; j < cnt; ++j) transform(mixed + tile_at[j] * L, width * L, c0, j);
  }
}

// Stage 1 with lanes over channels: tile j's input channels c0 .. to V[ξ][j][c0 ..].
template <int M, int L>
void input_transform_by_channel(const Corr& c, const Plan& p, const BlockMap& bm,
                                std::size_t cnt, const float* in, float* V, float* rows) {
  interleaved_tiles<L, M>(in, c.Cin, c.Hin, c.Win, c.off, true, p, bm, cnt, rows,
                          [&](const float* d, std::size_t ds, std::size_t c0, std::size_t j) {
                            transform_input<M, L>(d, ds, V + j * p.cpad + c0, p.vs);
                          });
}

// Stage 2, the kernel transform: U_ξ = (G g Gᵀ)_ξ for the kernel g from input channel i
// to output channel o, g = w[o, i] (forward) or, when `rotate`, w[i, o] turned by 180°
// (backward-data: o = c, i = k); w is (K, C, 3, 3). Row q is o, lanes over i, into
// U[ξ][o][i]; when `transposed`, q is i, lanes over o, into U[ξ][i][o]: each lane group
// lands in contiguous floats either way.
template <int M>
void kernel_transform(const float* w, std::size_t K, std::size_t C, bool rotate, bool transposed,
                      std::size_t q, float* U, std::size_t us) {
  constexpr int a = M + 2, L = kLanes;
  const std::size_t Cout = rotate ? C : K, Cin = rotate ? K : C;
  const std::size_t n = transposed ? Cout : Cin;  // the lanes' channels
  alignas(64) float g[9 * L];
  alignas(64) float u[a * a * L];
  for (std::size_t l0 = 0; l0 < n; l0 += L) {
    const std::size_t count = std::min<std::size_t>(L, n - l0);
    for (std::size_t l = 0; l < static_cast<std::size_t>(L); ++l) {
      if (l >= count) {
        for (int e = 0; e < 9; ++e) g[e * L + l] = 0.0f;
        continue;
      }
      const std::size_t o = transposed ? l0 + l : q, i = transposed ? q : l0 + l;
      const float* src = rotate ? w + (i * C + o) * 9 : w + (o * C + i) * 9;
      for (int e = 0; e < 9; ++e) g[e * L + l] = src[rotate ? 8 - e : e];
    }
    transform_kernel<M>(g, u);
    if (transposed)
      scatter_points(u, a * a, count, U + q * Cout + l0, us);
    else
      scatter_points(u, a * a, count, U + q * Cin + l0, us);
  }
}

// Stage 3, the products at each of the α² points: Mb_ξ (Cout × cnt) = U_ξ (Cout × Cin) ·
// V_ξ (Cin × cnt), the channel sums of every tile of a block in one sgemm per point. The
// columns past cnt are zeroed: the output transform reads whole lane groups.
void point_products(const Plan& p, std::size_t Cout, std::size_t Cin, std::size_t cnt,
                    const float* U, const float* V, float* Mb) {
  const std::size_t P = (p.tg.m + 2) * (p.tg.m + 2), ld = p.ld;
  if (p.by_channel) {
    // Mt_ξ (cnt × Cout) = V_ξ (cnt × Cin) · Uᵀ_ξ (Cin × Cout); the lanes past Cout zeroed.
    const std::size_t kp = p.kpad;
    for (std::size_t pt = 0; pt < P; ++pt)
      sgemm(Op::N, Op::N, cnt, Cout, Cin, 1.0f, V + pt * p.vs, p.cpad, U + pt * p.us,
            Cout, 0.0f, Mb + pt * p.ms, kp);
    if (kp != Cout)
      for (std::size_t pt = 0; pt < P; ++pt)
        for (std::size_t j = 0; j < cnt; ++j)
          std::fill(Mb + pt * p.ms + j * kp + Cout, Mb + pt * p.ms + (j + 1) * kp, 0.0f);
    return;
  }
  for (std::size_t pt = 0; pt < P; ++pt)
    sgemm(Op::N, Op::N, Cout, cnt, Cin, 1.0f, U + pt * p.us, Cin, V + pt * ld, P * ld,
          0.0f, Mb + pt * ld, P * ld);
  for (std::size_t row = 0; row < Cout * P; ++row)
    std::fill(Mb + row * ld + cnt, Mb + (row + 1) * ld, 0.0f);
}

// Stage 4, output transform of one block: out = Aᵀ Mb A + bias for each tile and output
// channel, through the out-rows, then cropped into the plane row of tiles by row of tiles.
template <int M>
void output_transform(const Corr& c, const Plan& p, const BlockMap& bm, std::size_t t0,
                      std::size_t t1, const float* Mb, const float* bias, float* out,
                      float* rows) {
  constexpr int a = M + 2, L = kLanes;
  const std::size_t plane = c.Hout * c.Wout, cnt = t1 - t0;
  alignas(64) float o[M * M * L];
  for (std::size_t k = 0; k < c.Cout; ++k) {
    for (std::size_t j0 = 0; j0 < cnt; j0 += L) {
      transform_output<M>(Mb + k * a * a * p.ld + j0, p.ld, o, M * L);
      const std::size_t count = std::min<std::size_t>(L, cnt - j0);
      for (std::size_t l = 0; l < count; ++l) {
        float* dst = rows + bm.out_off[j0 + l];
        for (int i = 0; i < M; ++i)
          for (int j = 0; j < M; ++j) dst[static_cast<std::size_t>(i) * p.ow + static_cast<std::size_t>(j)] = o[(i * M + j) * L + static_cast<int>(l)];
      }
    }
    const float bk = bias ? bias[k] : 0.0f;
    for_each_segment(p.tg, t0, t1, [&](const Segment& s) {
      const BlockMap::Image& im = bm.images[s.n - bm.images.front().n];
      const std::size_t nrows = std::min<std::size_t>(M, c.Hout - s.th * M);
      const std::size_t ncols = std::min(s.count * M, c.Wout - s.tw0 * M);
      const float* src = rows + im.out_at + (s.th - im.th0) * M * p.ow + s.tw0 * M;
      float* dst = out + (s.n * c.Cout + k) * plane + s.th * M * c.Wout + s.tw0 * M;
      for (std::size_t i = 0; i < nrows; ++i)
        for (std::size_t q = 0; q < ncols; ++q) dst[i * c.Wout + q] = src[i * p.ow + q] + bk;
    });
  }
}

// Stage 4 with lanes over channels (p.by_channel): tile j's output channels k0 .. k0 + L − 1
// go to the out-rows interleaved (L channels side by side), which are then
// separated straight into the output planes, cropped, with the bias.
template <int M, int L>
void output_transform_by_channel(const Corr& c, const Plan& p, const BlockMap& bm,
                                 std::size_t t0, std::size_t t1, const float* Mt,
                                 const float* bias, float* out, float* rows) {
  const std::size_t plane = c.Hout * c.Wout, cnt = t1 - t0;
  float* mixed = rows;
  for (std::size_t k0 = 0; k0 < c.Cout; k0 += L) {
    const std::size_t count = std::min<std::size_t>(L, c.Cout - k0);
    float add[L] = {};
    if (bias) std::copy(bias + k0, bias + k0 + count, add);
    for (std::size_t j = 0; j < cnt; ++j)
      transform_output<M, L>(Mt + j * p.kpad + k0, p.ms, mixed + bm.out_off[j] * L, p.ow * L);
    for_each_segment(p.tg, t0, t1, [&](const Segment& s) {
      const BlockMap::Image& im = bm.images[s.n - bm.images.front().n];
      const std::size_t nrows = std::min<std::size_t>(M, c.Hout - s.th * M);
      const std::size_t ncols = std::min(s.count * M, c.Wout - s.tw0 * M);
      const float* src = mixed + (im.out_at + (s.th - im.th0) * M * p.ow + s.tw0 * M) * L;
      for (std::size_t i = 0; i < nrows; ++i) {
        float* dst[L];
        for (std::size_t l = 0; l < count; ++l)
          dst[l] = out + (s.n * c.Cout + k0 + l) * plane + (s.th * M + i) * c.Wout + s.tw0 * M;
        deinterleave_lanes<L>(src + i * p.ow * L, ncols, count, add, dst);
      }
    });
  }
}

// Backward-weights, stage 2: E[k][ξ][j] = (A e Aᵀ)_ξ, e the m×m tile of dy[n, k] at
// (th·m, tw·m), zero past the plane: dy's tiles in the kernel's role.
template <int M>
void dy_transform(const ConvGeom& g, const Plan& p, const BlockMap& bm, std::size_t cnt,
                  const float* dy, float* E, float* rows) {
  constexpr int a = M + 2, L = kLanes;
  const std::size_t plane = g.OH * g.OW;
  alignas(64) float e[M * M * L];
  for (std::size_t k = 0; k < g.K; ++k) {
    for (const BlockMap::Image& im : bm.images)
      copy_rows(dy + (im.n * g.K + k) * plane, g.OH, g.OW, static_cast<std::ptrdiff_t>(im.th0 * M),
                 0, (im.th1 - im.th0 + 1) * M, p.ow, rows + im.out_at);
    for (std::size_t j0 = 0; j0 < cnt; j0 += L) {
      gather_patches<M>(rows, p.ow, bm.out_off.data(), j0, cnt, e);
      transform_dy<M>(e, M * L, E + k * a * a * p.ld + j0, p.ld);
    }
  }
}

// Backward-weights, stage 2 with lanes over channels (p.by_channel with K ≥ lanes):
// Et[ξ][j][k0 ..] = (A e Aᵀ)_ξ, e tile j's m×m tile of dy's channels k0 ...
template <int M, int L>
void dy_transform_by_channel(const ConvGeom& g, const Plan& p, const BlockMap& bm,
                             std::size_t cnt, const float* dy, float* Et, float* rows) {
  interleaved_tiles<L, M>(dy, g.K, g.OH, g.OW, 0, false, p, bm, cnt, rows,
                          [&](const float* e, std::size_t es, std::size_t k0, std::size_t j) {
                            transform_dy<M, L>(e, es, Et + j * p.kpad + k0, p.ms);
                          });
}

// Backward-weights, stage 3: S_ξ (K × C) += E_ξ (K × cnt) · V_ξᵀ (cnt × C).
void weight_products(const Plan& p, std::size_t K, std::size_t C, std::size_t cnt,
                     const float* E, const float* V, float* S) {
  const std::size_t P = (p.tg.m + 2) * (p.tg.m + 2);
  for (std::size_t pt = 0; pt < P; ++pt) {
    if (p.kpad)  // Et_ξ (cnt × K) by channel
      sgemm(Op::T, Op::N, K, C, cnt, 1.0f, E + pt * p.ms, p.kpad, V + pt * p.vs, p.cpad, 1.0f,
            S + pt * p.ss, C);
    else if (p.by_channel)
      sgemm(Op::N, Op::N, K, C, cnt, 1.0f, E + pt * p.ld, P * p.ld, V + pt * p.vs,
            p.cpad, 1.0f, S + pt * p.ss, C);
    else
      sgemm(Op::N, Op::T, K, C, cnt, 1.0f, E + pt * p.ld, P * p.ld, V + pt * p.ld, P * p.ld,
            1.0f, S + pt * p.ss, C);
  }
}

// Backward-weights, stage 4, output channel k: dw[k, c] += Gᵀ S[·][k][c] G, lanes over c.
template <int M>
void weight_output_transform(const float* S, std::size_t ss, std::size_t C, std::size_t k,
                             float* dw) {
  constexpr int a = M + 2, L = kLanes;
  alignas(64) float s[a * a * L];
  alignas(64) float z[9 * L];
  for (std::size_t c0 = 0; c0 < C; c0 += L) {
    const std::size_t count = std::min<std::size_t>(L, C - c0);
    gather_points(S + k * C + c0, ss, a * a, count, s);
    transform_weight<M>(s, z);
    for (std::size_t l = 0; l < count; ++l)
      for (int e = 0; e < 9; ++e) dw[(k * C + c0 + l) * 9 + e] += z[e * L + l];
  }
}

// ---- the passes -----------------------------------------------------------------------

// Runs f(std::integral_constant<int, m>) for a runtime m of winograd_tile_sizes().
template <class F>
void with_tile(std::size_t m, F&& f) {
  switch (m) {
    case 2: f(std::integral_constant<int, 2>{}); return;
    case 4: f(std::integral_constant<int, 4>{}); return;
    case 6: f(std::integral_constant<int, 6>{}); return;
    default: break;
  }
  throw Error("conv2d_winograd: tile size must be 2, 4 or 6, got " + std::to_string(m));
}

std::size_t tile_of(const ConvGeom& g, ConvPass pass, std::size_t tile) {
  if (tile == 0) return winograd_tile_size(g, pass);
  with_tile(tile, [](auto) {});  // validates
  return tile;
}

Plan plan_for(const ConvGeom& g, ConvPass pass, std::size_t m, int T, std::size_t limit) {
  switch (pass) {
    case ConvPass::Forward: return make_plan(m, g.N, g.OH, g.OW, g.C, g.K, false, T, limit);
    case ConvPass::BackwardData: return make_plan(m, g.N, g.H, g.W, g.K, g.C, false, T, limit);
    case ConvPass::BackwardWeights: return make_plan(m, g.N, g.OH, g.OW, g.C, g.K, true, T, limit);
  }
  return {};
}

// ---- the passes, block by block -------------------------------------------------------

// Stages 1, 3 and 4 of forward and backward-data on the tiles [t0, t1), with the thread's
// scratch.
template <int M, int L = kLanes>
[[gnu::always_inline]] inline void correlate_block(const Corr& c, const Plan& p, std::size_t t0,
                                                   std::size_t t1, const float* in,
                                                   const float* U, const float* bias,
                                                   float* out, float* scratch, BlockMap& bm) {
  float* V = scratch;
  float* Mb = V + p.v_floats;
  float* in_rows = Mb + p.m_floats;
  float* out_rows = in_rows + p.in_floats;
  map_block(p, t0, t1, bm);
  if (p.by_channel)
    input_transform_by_channel<M, L>(c, p, bm, t1 - t0, in, V, in_rows);
  else
    input_transform<M>(c, p, bm, t1 - t0, in, V, in_rows);
  point_products(p, c.Cout, c.Cin, t1 - t0, U, V, Mb);
  if (p.by_channel)
    output_transform_by_channel<M, L>(c, p, bm, t0, t1, Mb, bias, out, out_rows);
  else
    output_transform<M>(c, p, bm, t0, t1, Mb, bias, out, out_rows);
}

// Stages 1 and 2 of backward-weights and its products on the tiles [t0, t1); the tile
// sums of dy go to db_part (when db is wanted). db comes from E for free: at the point
// (1, 1), where x = 1, A e Aᵀ is the sum of the tile's values.
template <int M, int L = kLanes>
[[gnu::always_inline]] inline void weights_block(const ConvGeom& g, const Corr& c,
                                                 const Plan& p, std::size_t t0, std::size_t t1,
                                                 const float* x, const float* dy, float* S,
                                                 double* db_part, float* scratch, BlockMap& bm) {
  constexpr std::size_t P = (M + 2) * (M + 2), kSumPoint = (M + 2) + 1;
  static_assert(Points<M>::p[1] == 1.0, "the point (1, 1) sums a tile");
  float* V = scratch;
  float* E = V + p.v_floats;
  float* in_rows = E + p.m_floats;
  float* dy_rows = in_rows + p.in_floats;
  map_block(p, t0, t1, bm);
  if (p.by_channel)
    input_transform_by_channel<M, L>(c, p, bm, t1 - t0, x, V, in_rows);
  else
    input_transform<M>(c, p, bm, t1 - t0, x, V, in_rows);
  if (p.kpad)
    dy_transform_by_channel<M, L>(g, p, bm, t1 - t0, dy, E, dy_rows);
  else
    dy_transform<M>(g, p, bm, t1 - t0, dy, E, dy_rows);
  weight_products(p, g.K, g.C, t1 - t0, E, V, S);
  if (db_part) {
    for (std::size_t k = 0; k < g.K; ++k) {
      double s = 0.0;
      if (p.kpad) {
        const float* sums = E + kSumPoint * p.ms + k;
        for (std::size_t j = 0; j < t1 - t0; ++j) s += sums[j * p.kpad];
      } else {
        const float* sums = E + (k * P + kSumPoint) * p.ld;
        for (std::size_t j = 0; j < t1 - t0; ++j) s += sums[j];
      }
      db_part[k] += s;
    }
  }
}

// Each block function compiled for the baseline and for AVX2 (picked at run time when the
// CPU has it): kLanes = 8 floats fill one AVX register, and the transforms ran 10-25%
// faster so; and for AVX-512 with sixteen lanes, for plans that ask for them.
template <int M>
[[gnu::flatten]] void correlate_block_base(const Corr& c, const Plan& p, std::size_t t0,
                                           std::size_t t1, const float* in, const float* U,
                                           const float* bias, float* out, float* scratch,
                                           BlockMap& bm) {
  correlate_block<M>(c, p, t0, t1, in, U, bias, out, scratch, bm);
}

template <int M>
[[gnu::flatten]] void weights_block_base(const ConvGeom& g, const Corr& c, const Plan& p,
                                         std::size_t t0, std::size_t t1, const float* x,
                                         const float* dy, float* S, double* db_part,
                                         float* scratch, BlockMap& bm) {
  weights_block<M>(g, c, p, t0, t1, x, dy, S, db_part, scratch, bm);
}

#if MINICNN_WINOGRAD_AVX2
template <int M>
[[gnu::flatten, gnu::target("avx2,fma")]] void correlate_block_avx2(
    const Corr& c, const Plan& p, std::size_t t0, std::size_t t1, const float* in,
    const float* U, const float* bias, float* out, float* scratch, BlockMap& bm) {
  correlate_block<M>(c, p, t0, t1, in, U, bias, out, scratch, bm);
}

template <int M>
[[gnu::flatten, gnu::target("avx2,fma")]] void weights_block_avx2(
    const ConvGeom& g, const Corr& c, const Plan& p, std::size_t t0, std::size_t t1,
    const float* x, const float* dy, float* S, double* db_part, float* scratch, BlockMap& bm) {
  weights_block<M>(g, c, p, t0, t1, x, dy, S, db_part, scratch, bm);
}
#endif

#if MINICNN_WINOGRAD_AVX2 && MINICNN_WINOGRAD_VEC
#define MINICNN_WINOGRAD_AVX512_TARGET "avx512f,avx512vl,avx512dq,avx2,fma"
template <int M>
[[gnu::flatten, gnu::target(MINICNN_WINOGRAD_AVX512_TARGET)]] void correlate_block_avx512(
    const Corr& c, const Plan& p, std::size_t t0, std::size_t t1, const float* in,
    const float* U, const float* bias, float* out, float* scratch, BlockMap& bm) {
  correlate_block<M, 16>(c, p, t0, t1, in, U, bias, out, scratch, bm);
}

template <int M>
[[gnu::flatten, gnu::target(MINICNN_WINOGRAD_AVX512_TARGET)]] void weights_block_avx512(
    const ConvGeom& g, const Corr& c, const Plan& p, std::size_t t0, std::size_t t1,
    const float* x, const float* dy, float* S, double* db_part, float* scratch, BlockMap& bm) {
  weights_block<M, 16>(g, c, p, t0, t1, x, dy, S, db_part, scratch, bm);
}
#endif

template <int M>
auto correlate_block_fn(const Plan& p) {
#if MINICNN_WINOGRAD_AVX2 && MINICNN_WINOGRAD_VEC
  if (p.lanes == 16) return &correlate_block_avx512<M>;
#endif
#if MINICNN_WINOGRAD_AVX2
  if (has_avx2()) return &correlate_block_avx2<M>;
#endif
  (void)p;
  return &correlate_block_base<M>;
}

template <int M>
auto weights_block_fn(const Plan& p) {
#if MINICNN_WINOGRAD_AVX2 && MINICNN_WINOGRAD_VEC
  if (p.lanes == 16) return &weights_block_avx512<M>;
#endif
#if MINICNN_WINOGRAD_AVX2
  if (has_avx2()) return &weights_block_avx2<M>;
#endif
  (void)p;
  return &weights_block_base<M>;
}

// The kernel transform and the weight sums of backward-weights, a few percent of a pass,
// run on the calling thread unless they write this many floats (parallel.hpp's
// threshold), in a loop of their own before or after the blocks' region. Once the bound
// was 2^20 floats, to keep the threads from meeting more than once a pass (a waiting
// thread spins while the one it waits for may have no core when the machine is busy);
// then R4's passes (64 channels, 147 456 floats of U) ran 4% to 10% slower than with
// the two loops shared, the other thread idle meanwhile.
constexpr std::size_t kSerialMax = kParallelMin;

template <class F>
void serial_or_parallel(std::size_t n, std::size_t work, F&& f) {
  if (work < kSerialMax) {
    for (std::size_t i = 0; i < n; ++i) f(i);
  } else {
    parallel_for(n, f, work);
  }
}

// Forward and backward-data: stage 2 once, then stages 1, 3, 4 per block, the blocks
// shared out among the threads.
template <int M>
void correlate(const Corr& c, const Plan& p, const float* in, const float* w, std::size_t K,
               std::size_t C, bool rotate, const float* bias, float* out, float* base) {
  float* U = base;
  serial_or_parallel(p.by_channel ? c.Cin : c.Cout, c.Cout * c.Cin * (M + 2) * (M + 2),
                     [&](std::size_t q) {
                       kernel_transform<M>(w, K, C, rotate, p.by_channel, q, U, p.us);
                     });
  auto* block = correlate_block_fn<M>(p);
  for_each_part(p.threads, [&](int part) {
    const auto t = static_cast<std::size_t>(part);
    float* scratch = base + p.u_floats + t * p.per_thread();
    BlockMap bm;
    const auto [first, last] = thread_tiles(p, t);
    for (std::size_t t0 = first; t0 < last; t0 += p.tb)
      block(c, p, t0, std::min(last, t0 + p.tb), in, U, bias, out, scratch, bm);
  });
}

// Backward-weights: stages 1 and 2 and the products per block, each thread summing into
// its own S; then the sums of the threads added and transformed back once.
template <int M>
void weights(const ConvGeom& g, const Plan& p, const float* x, const float* dy, float* dw,
             float* db, float* base) {
  constexpr std::size_t P = (M + 2) * (M + 2);
  const Corr c{g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, -static_cast<std::ptrdiff_t>(g.padding)};
  const std::size_t S_size = P * p.ss;
  const std::size_t s_off = p.v_floats + p.m_floats + p.in_floats + p.out_floats;
  auto part = [&](std::size_t t) { return base + t * p.per_thread(); };
  std::vector<double> db_parts(static_cast<std::size_t>(p.threads) * g.K, 0.0);
  auto* block = weights_block_fn<M>(p);
  for_each_part(p.threads, [&](int u) {
    const auto t = static_cast<std::size_t>(u);
    float* S = part(t) + s_off;
    std::fill(S, S + S_size, 0.0f);
    BlockMap bm;
    const auto [first, last] = thread_tiles(p, t);
    for (std::size_t t0 = first; t0 < last; t0 += p.tb)
      block(g, c, p, t0, std::min(last, t0 + p.tb), x, dy, S,
            db ? db_parts.data() + t * g.K : nullptr, part(t), bm);
  });
  float* S0 = part(0) + s_off;
  const std::size_t chunk = 4096, chunks = (S_size + chunk - 1) / chunk;
  serial_or_parallel(chunks, S_size * static_cast<std::size_t>(p.threads - 1), [&](std::size_t i) {
    for (int u = 1; u < p.threads; ++u) {
      const float* Su = part(static_cast<std::size_t>(u)) + s_off;
      for (std::size_t j = i * chunk; j < std::min(S_size, (i + 1) * chunk); ++j) S0[j] += Su[j];
    }
  });
  serial_or_parallel(g.K, S_size, [&](std::size_t k) {
    weight_output_transform<M>(S0, p.ss, g.C, k, dw);
  });
  if (db)
    for (std::size_t k = 0; k < g.K; ++k) {
      double s = 0.0;
      for (int t = 0; t < p.threads; ++t) s += db_parts[static_cast<std::size_t>(t) * g.K + k];
      db[k] += static_cast<float>(s);
    }
}

}  // namespace

const std::vector<std::size_t>& winograd_tile_sizes() {
  static const std::vector<std::size_t> sizes{2, 4, 6};
  return sizes;
}

WinogradMatrices winograd_matrices(std::size_t m) {
  WinogradMatrices r;
  with_tile(m, [&](auto tile) {
    constexpr int M = decltype(tile)::value;
    constexpr Transforms<M> t = make_transforms<M>();
    r.m = M;
    r.alpha = M + 2;
    r.points.assign(Points<M>::p.begin(), Points<M>::p.end());
    for (const auto& row : t.Bt) r.Bt.insert(r.Bt.end(), row.begin(), row.end());
    for (const auto& row : t.G) r.G.insert(r.G.end(), row.begin(), row.end());
    for (const auto& row : t.At) r.At.insert(r.At.end(), row.begin(), row.end());
  });
  return r;
}

std::size_t winograd_tile_size(const ConvGeom& g, ConvPass pass) {
  if (g.KH == 5) return 4;  // F(4×4, 5×5), the one 5×5 form
  const std::size_t Ho = pass == ConvPass::BackwardData ? g.H : g.OH;
  const std::size_t Wo = pass == ConvPass::BackwardData ? g.W : g.OW;
  std::size_t best = 0, best_points = 0;
  for (std::size_t m : kWinogradAutoTiles) {
    const std::size_t points = ((Ho + m - 1) / m) * ((Wo + m - 1) / m) * (m + 2) * (m + 2);
    if (best == 0 || points < best_points) {
      best = m;
      best_points = points;
    }
  }
  return best;
}

void check_winograd_geom(const ConvGeom& g, const std::string& who) {
  const bool square = g.KH == g.KW && (g.KH == 3 || g.KH == 5);
  if (!square || g.stride != 1 || g.dilation != 1) {
    throw Error(who + ": the Winograd algorithm needs a 3x3 or 5x5 kernel, stride 1 and dilation 1, got " +
                std::to_string(g.KH) + "x" + std::to_string(g.KW) + ", stride " +
                std::to_string(g.stride) + " and dilation " + std::to_string(g.dilation) +
                " (use im2col or direct)");
  }
}

std::size_t conv2d_winograd_workspace_bytes(const ConvGeom& g, ConvPass pass, int threads,
                                            std::size_t limit_bytes, std::size_t tile) {
  if (g.KH == 5) return winograd5_workspace_floats(g, pass, threads, limit_bytes) * sizeof(float);
  const std::size_t m = tile_of(g, pass, tile);
  return plan_for(g, pass, m, std::max(1, threads), limit_bytes).total() * sizeof(float);
}

void conv2d_winograd_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                             float* y, WinogradWorkspace& ws) {
  check_winograd_geom(g);
  if (g.KH == 5) return winograd5_forward(g, x, w, b, y, ws.buffer, ws.limit_bytes);
  const std::size_t m = tile_of(g, ConvPass::Forward, ws.tile);
  const Plan p = plan_for(g, ConvPass::Forward, m, num_threads(), ws.limit_bytes);
  float* base = ws.buffer.ensure(p.total());
  const Corr c{g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, -static_cast<std::ptrdiff_t>(g.padding)};
  with_tile(m, [&](auto tile) {
    correlate<decltype(tile)::value>(c, p, x, w, g.K, g.C, false, b, y, base);
  });
}

void conv2d_winograd_backward_data(const ConvGeom& g, const float* dy, const float* w,
                                   float* dx, WinogradWorkspace& ws) {
  check_winograd_geom(g);
  if (g.KH == 5) return winograd5_backward_data(g, dy, w, dx, ws.buffer, ws.limit_bytes);
  const std::size_t m = tile_of(g, ConvPass::BackwardData, ws.tile);
  const Plan p = plan_for(g, ConvPass::BackwardData, m, num_threads(), ws.limit_bytes);
  float* base = ws.buffer.ensure(p.total());
  // dx[h] = Σ_i dy[h + p − 2 + i] · w[2 − i]: a correlation with the rotated kernel.
  const Corr c{g.N, g.K, g.OH, g.OW, g.C, g.H, g.W, static_cast<std::ptrdiff_t>(g.padding) - 2};
  with_tile(m, [&](auto tile) {
    correlate<decltype(tile)::value>(c, p, dy, w, g.K, g.C, true, nullptr, dx, base);
  });
}

void conv2d_winograd_backward_weights(const ConvGeom& g, const float* x, const float* dy,
                                      float* dw, float* db, WinogradWorkspace& ws) {
  check_winograd_geom(g);
  if (g.KH == 5) return winograd5_backward_weights(g, x, dy, dw, db, ws.buffer, ws.limit_bytes);
  const std::size_t m = tile_of(g, ConvPass::BackwardWeights, ws.tile);
  const Plan p = plan_for(g, ConvPass::BackwardWeights, m, num_threads(), ws.limit_bytes);
  float* base = ws.buffer.ensure(p.total());
  with_tile(m, [&](auto tile) { weights<decltype(tile)::value>(g, p, x, dy, dw, db, base); });
}

}  // namespace minicnn
