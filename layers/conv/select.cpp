#include "select.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "../../core/blas.hpp"
#include "../../core/random.hpp"

namespace minicnn {
namespace {

// Costs on one core of the project's machine (x86-64 with AVX2 FMA), fitted to the
// single-thread CPU times of bench/bench_conv over its eight shapes; with T threads
// both algorithms split their work evenly, so the estimate is divided by T.
constexpr double kGemmRate = 95e9;         // FLOP/s of a large sgemm
constexpr double kGemmHalf = 12.0;         // a GEMM whose smallest dimension is this runs at half rate
constexpr double kUnfoldSeconds = 0.15e-9;  // per element im2col writes (stride 1)
constexpr double kUnfoldStrided = 0.40e-9;  // per element with stride > 1 (a gather)
constexpr double kPieceSeconds = 4e-9;     // per output row of each unfolded row
constexpr double kFftSeconds = 0.25e-9;    // per n·log2(n) of one plane, copies included
constexpr double kCgemmRate = 70e9;        // FLOP/s of the per-frequency complex products
constexpr double kDirectRate = 1.2e9;      // FLOP/s of the reference loops (one thread)
constexpr double kDepthwiseRate = 6e9;     // FLOP/s of the depthwise loops (one thread)
// Winograd, fitted to the single-thread CPU times of its three passes on the 3×3 shapes of
// bench_conv (S3, S5, R1-R4) and six more (3 to 256 channels, 7² to 224² planes), three
// runs: median error 19%, largest 49%. (Separate input and output transform costs fit
// no better: on most shapes C and K grow together.)
constexpr double kWinoGemmRate = 60e9;          // FLOP/s of the α² small per-point GEMMs
constexpr double kWinoTransformSeconds = 0.087e-9;  // per tile, point and channel in or out

double gemm_seconds(double flops, double m, double n, double k) {
  const double small = std::min({m, n, k});
  return flops / (kGemmRate * small / (small + kGemmHalf));
}

// (With groups, each GEMM is one group's: K/G rows, (C/G)·KH·KW columns of W.)
double im2col_seconds(const ConvGeom& g, ConvPass pass, int threads) {
  const double R = double(g.col_rows()), K = double(g.group_out());
  const double J = double(g.N) * double(g.out_plane());
  // Columns per GEMM: one chunk of unfolded input, as the chunk planner cuts it.
  const double cols = std::max(1.0, std::min(J, double(kIm2colChunkBytes) / sizeof(float) / R));
  double gemm = 0;
  switch (pass) {
    case ConvPass::Forward: gemm = gemm_seconds(g.flops(), K, cols, R); break;
    case ConvPass::BackwardData: gemm = gemm_seconds(g.flops(), R, cols, K); break;
    case ConvPass::BackwardWeights: gemm = gemm_seconds(g.flops(), K, R, cols); break;
  }
  const double G = double(g.groups);
  const double unfold = G * (R * J * (g.stride == 1 ? kUnfoldSeconds : kUnfoldStrided) +
                             R * double(g.N) * double(g.OH) * kPieceSeconds);
  const double stage = pass == ConvPass::Forward ? 0.0 : G * K * J * kUnfoldSeconds;
  return (gemm + unfold + stage) / threads;
}

double fft_seconds(const ConvGeom& g, ConvPass, int threads) {
  const double Lh = double(fft_conv_size(g.H, g.padding));
  const double Lw = double(fft_conv_size(g.W, g.padding));
  const double n = Lh * Lw, F = Lh * (std::floor(Lw / 2) + 1);
  const double N = double(g.N), C = double(g.C), K = double(g.K);
  // Every pass called on its own transforms its two inputs and its output: the same
  // N·C + K·C + N·K planes, and one (N·C·K) complex product per frequency.
  const double planes = N * C + K * C + N * K;
  const double transforms = planes * n * std::log2(std::max(2.0, n)) * kFftSeconds;
  const double products = 8.0 * N * C * K * F / kCgemmRate;
  return (transforms + products) / threads;
}

// Winograd: the α² per-point GEMMs (Cout × tiles-per-block × Cin each) plus the input and
// output transforms, per tile, channel and point; the kernel transform is negligible.
// (backward-weights: dy's transform is the "output" one, its GEMMs Cout × Cin × tiles.)
double winograd_seconds(const ConvGeom& g, ConvPass pass, int threads) {
  const std::size_t m = winograd_tile_size(g, pass);
  const bool data = pass == ConvPass::BackwardData;
  const double Ho = double(data ? g.H : g.OH), Wo = double(data ? g.W : g.OW);
  const double a2 = double((m + 2) * (m + 2));
  const double tiles = double(g.N) * std::ceil(Ho / double(m)) * std::ceil(Wo / double(m));
  const double Cin = double(data ? g.K : g.C), Cout = double(data ? g.C : g.K);
  const double flops = 2.0 * a2 * tiles * Cin * Cout;
  // Tiles per block, about as the planner cuts them.
  const double by_cache = double(kWinogradBlockBytes) / sizeof(float) / (a2 * (Cin + Cout));
  const double tb =
      std::min(tiles, std::max({by_cache, double(kWinogradMinBlockTiles), Cin, Cout}));
  const double small = pass == ConvPass::BackwardWeights ? std::min({Cout, Cin, tb})
                                                         : std::min({Cout, tb, Cin});
  const double gemm = flops / (kWinoGemmRate * small / (small + kGemmHalf));
  const double transforms = tiles * a2 * (Cin + Cout) * kWinoTransformSeconds;
  return (gemm + transforms) / threads;
}

struct TuneCache {
  std::mutex mutex;
  std::map<std::tuple<ConvGeom, ConvPass, int>, ConvChoice> choices;  // by threads too
};

TuneCache& tune_cache() {
  static TuneCache c;
  return c;
}

}  // namespace

double conv_estimate_seconds(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads) {
  threads = std::max(1, threads);
  switch (a) {
    case ConvAlgo::Direct: return g.flops() / kDirectRate;
    case ConvAlgo::Depthwise: return g.flops() / (kDepthwiseRate * threads);
    case ConvAlgo::Im2colGemm: return im2col_seconds(g, pass, threads);
    case ConvAlgo::FFT: return fft_seconds(g, pass, threads);
    case ConvAlgo::Winograd: return winograd_seconds(g, pass, threads);
    case ConvAlgo::Auto: break;
  }
  return 0.0;
}

ConvChoice conv_select(const ConvGeom& g, ConvPass pass, int threads, std::size_t im2col_limit) {
  ConvChoice best;
  best.seconds = -1.0;
  for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd,
                     ConvAlgo::Depthwise, ConvAlgo::Direct}) {
    if (!conv_algo_eligible(a, g)) continue;
    const double t = conv_estimate_seconds(a, g, pass, threads);
    if (best.seconds < 0 || t < best.seconds) {
      best.algo = a;
      best.seconds = t;
    }
  }
  best.workspace_bytes = conv_workspace_bytes(best.algo, g, pass, threads, im2col_limit);
  return best;
}

ConvChoice conv_autotune(const ConvGeom& g, ConvPass pass, int threads, std::size_t im2col_limit) {
  const auto key = std::tuple{g, pass, threads};
  TuneCache& cache = tune_cache();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.choices.find(key);
    if (it != cache.choices.end()) return it->second;
  }
  // Random data of the layer's shape; the timings do not depend on the values.
  Rng rng(1);
  const std::size_t xs = g.N * g.C * g.H * g.W, ws = g.weight_numel(),
                    ys = g.N * g.K * g.OH * g.OW;
  std::vector<float> x(xs), w(ws), y(ys), dy(ys), dx(xs), dw(ws), db(g.K);
  for (auto& v : x) v = rng.uniform(-1, 1);
  for (auto& v : w) v = rng.uniform(-1, 1);
  for (auto& v : dy) v = rng.uniform(-1, 1);
  const ConvTensors t{.x = x.data(), .w = w.data(), .b = db.data(), .dy = dy.data(),
                      .y = y.data(), .dx = dx.data(), .dw = dw.data(), .db = db.data()};
  ConvWorkspace work;
  work.im2col.limit_bytes = im2col_limit;
  work.winograd.limit_bytes = im2col_limit;

  double best_estimate = -1;
  for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd, ConvAlgo::Depthwise})
    if (conv_algo_eligible(a, g)) {
      const double t = conv_estimate_seconds(a, g, pass, threads);
      if (best_estimate < 0 || t < best_estimate) best_estimate = t;
    }

  ConvChoice best;
  best.seconds = -1.0;
  for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd,
                     ConvAlgo::Depthwise, ConvAlgo::Direct}) {
    if (!conv_algo_eligible(a, g)) continue;
    // The reference loops are only worth timing where the model says they might win.
    if (a == ConvAlgo::Direct && conv_estimate_seconds(a, g, pass, threads) > 4 * best_estimate)
      continue;
    double fastest = -1;
    for (int rep = 0; rep < 3; ++rep) {  // the first run also plans FFTs and sizes workspaces
      work.fft.forget();  // each pass timed on its own, transforming all its inputs
      const auto t0 = std::chrono::steady_clock::now();
      conv2d_run(a, pass, g, t, work, "conv_autotune");
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rep > 0 && (fastest < 0 || t < fastest)) fastest = t;
    }
    if (best.seconds < 0 || fastest < best.seconds) {
      best.algo = a;
      best.seconds = fastest;
    }
  }
  best.measured = true;
  best.workspace_bytes = conv_workspace_bytes(best.algo, g, pass, threads, im2col_limit);
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.choices.emplace(key, best);
  return best;
}

bool conv_autotune_from_env() {
  const char* v = std::getenv("MINICNN_CONV_AUTOTUNE");
  return v != nullptr && std::string(v) == "1";
}

ConvChoice conv_choose(ConvAlgo requested, const ConvGeom& g, ConvPass pass, int threads,
                       std::size_t im2col_limit, bool autotune) {
  if (requested == ConvAlgo::Auto) {
    if (autotune || conv_autotune_from_env()) return conv_autotune(g, pass, threads, im2col_limit);
    return conv_select(g, pass, threads, im2col_limit);
  }
  ConvChoice c;
  c.algo = requested;
  c.seconds = conv_estimate_seconds(requested, g, pass, threads);
  c.workspace_bytes = conv_workspace_bytes(requested, g, pass, threads, im2col_limit);
  return c;
}

}  // namespace minicnn
