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
#include "direct.hpp"
#include "fft.hpp"
#include "im2col_gemm.hpp"

namespace minicnn {
namespace {

// Rates of one core of the project's machine (2-core x86-64, AVX2 FMA), from
// bench/bench_conv and bench/bench_core: OpenBLAS sgemm peaks near 98 GFLOP/s per
// core; a GEMM with a small dimension runs at a fraction of that.
constexpr double kGemmPeak = 98e9;       // FLOP/s per thread, large sgemm
constexpr double kGemmHalf = 24.0;       // dimension at which a GEMM reaches half speed
constexpr double kCopyRate = 6e9;        // bytes/s per thread for im2col, col2im, transposes
constexpr double kFftRate = 6e9;         // "FLOP"/s per thread, counted as 2.5·n·log2(n)
constexpr double kCgemmPeak = 60e9;      // FLOP/s per thread, complex GEMM
constexpr double kCgemmCall = 0.4e-6;    // seconds per small cgemm call
constexpr double kDirectRate = 1.2e9;    // FLOP/s, the reference loops (one thread)

double gemm_efficiency(double m, double n, double k) {
  const double worst = std::min({m, n, k});
  return worst / (worst + kGemmHalf);
}

double im2col_seconds(const ConvGeom& g, ConvPass pass, int threads) {
  const double R = double(g.col_rows()), K = double(g.K);
  const double J = double(g.N) * double(g.out_plane());
  // Columns per chunk, as the chunk planner would cut them (bounded by images).
  const double cols = std::max(1.0, std::min(J / threads, 64.0 * 1024 * 1024 / 4 / threads / (R + K)));
  double eff = 1.0;
  switch (pass) {
    case ConvPass::Forward: eff = gemm_efficiency(K, cols, R); break;
    case ConvPass::BackwardData: eff = gemm_efficiency(R, cols, K); break;
    case ConvPass::BackwardWeights: eff = gemm_efficiency(K, R, cols); break;
  }
  const double gemm = g.flops() / (kGemmPeak * eff * threads);
  const double copy = (R + K) * J * 4.0 * 2.0 / (kCopyRate * threads);
  return gemm + copy;
}

double fft_seconds(const ConvGeom& g, ConvPass pass, int threads) {
  const double Lh = double(fft_conv_size(g.H, g.padding));
  const double Lw = double(fft_conv_size(g.W, g.padding));
  const double n = Lh * Lw, F = Lh * (std::floor(Lw / 2) + 1);
  const double per_plane = 2.5 * n * std::log2(std::max(2.0, n)) / kFftRate;
  const double N = double(g.N), C = double(g.C), K = double(g.K);
  double planes = 0, m = 0, nn = 0, kk = 0;
  switch (pass) {  // transforms in + out, and the per-frequency GEMM's dimensions
    case ConvPass::Forward: planes = N * C + K * C + N * K; m = N; nn = K; kk = C; break;
    case ConvPass::BackwardData: planes = N * K + N * C; m = N; nn = C; kk = K; break;
    case ConvPass::BackwardWeights: planes = N * K + K * C; m = K; nn = C; kk = N; break;
  }
  const double transforms = planes * (per_plane + F * 8.0 * 2.0 / kCopyRate);
  const double cg = 8.0 * m * nn * kk * F / (kCgemmPeak * gemm_efficiency(m, nn, kk) * 2.0 + 1.0);
  return (transforms + cg + F * kCgemmCall) / threads;
}

struct TuneKey {
  std::size_t N, C, H, W, K, KH, KW, stride, padding, dilation;
  int pass, threads;
  auto tie() const {
    return std::tie(N, C, H, W, K, KH, KW, stride, padding, dilation, pass, threads);
  }
  bool operator<(const TuneKey& o) const { return tie() < o.tie(); }
};

struct TuneCache {
  std::mutex mutex;
  std::map<TuneKey, ConvChoice> choices;
};

TuneCache& tune_cache() {
  static TuneCache c;
  return c;
}

// Runs one pass of algorithm a on the given buffers.
void run_pass(ConvAlgo a, const ConvGeom& g, ConvPass pass, const float* x, const float* w,
              float* y, float* dx, float* dw, float* db, Im2colWorkspace& iws,
              FftWorkspace& fws) {
  switch (a) {
    case ConvAlgo::Direct:
      if (pass == ConvPass::Forward) conv2d_direct_forward(g, x, w, db, y);
      else if (pass == ConvPass::BackwardData) conv2d_direct_backward_data(g, y, w, dx);
      else conv2d_direct_backward_weights(g, x, y, dw, db);
      break;
    case ConvAlgo::Im2colGemm:
      if (pass == ConvPass::Forward) conv2d_im2col_forward(g, x, w, db, y, iws);
      else if (pass == ConvPass::BackwardData) conv2d_im2col_backward_data(g, y, w, dx, iws);
      else conv2d_im2col_backward_weights(g, x, y, dw, db, iws);
      break;
    case ConvAlgo::FFT:
      if (pass == ConvPass::Forward) conv2d_fft_forward(g, x, w, db, y, fws);
      else if (pass == ConvPass::BackwardData) conv2d_fft_backward_data(g, y, w, dx, fws);
      else conv2d_fft_backward_weights(g, x, y, dw, db, fws);
      break;
    case ConvAlgo::Auto: break;
  }
}

}  // namespace

bool conv_algo_eligible(ConvAlgo a, const ConvGeom& g) {
  switch (a) {
    case ConvAlgo::Direct:
    case ConvAlgo::Im2colGemm: return true;
    case ConvAlgo::FFT: return g.stride == 1 && g.dilation == 1;
    case ConvAlgo::Auto: return false;
  }
  return false;
}

double conv_estimate_seconds(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads) {
  threads = std::max(1, threads);
  switch (a) {
    case ConvAlgo::Direct: return g.flops() / kDirectRate;
    case ConvAlgo::Im2colGemm: return im2col_seconds(g, pass, threads);
    case ConvAlgo::FFT: return fft_seconds(g, pass, threads);
    case ConvAlgo::Auto: break;
  }
  return 0.0;
}

std::size_t conv_workspace_bytes(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads,
                                 std::size_t im2col_limit) {
  switch (a) {
    case ConvAlgo::Im2colGemm: return conv2d_im2col_workspace_bytes(g, pass, threads, im2col_limit);
    case ConvAlgo::FFT: return conv2d_fft_workspace_bytes(g, threads);
    default: return 0;
  }
}

ConvChoice conv_select(const ConvGeom& g, ConvPass pass, int threads, std::size_t im2col_limit) {
  ConvChoice best;
  best.seconds = -1.0;
  for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Direct}) {
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
  const TuneKey key{g.N, g.C,       g.H,       g.W, g.K, g.KH, g.KW, g.stride, g.padding,
                    g.dilation, int(pass), threads};
  TuneCache& cache = tune_cache();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.choices.find(key);
    if (it != cache.choices.end()) return it->second;
  }
  // Random data of the layer's shape; the timings do not depend on the values.
  Rng rng(1);
  const std::size_t xs = g.N * g.C * g.H * g.W, ws = g.K * g.C * g.KH * g.KW,
                    ys = g.N * g.K * g.OH * g.OW;
  std::vector<float> x(xs), w(ws), y(ys), dx(xs), dw(ws), db(g.K);
  for (auto& v : x) v = rng.uniform(-1, 1);
  for (auto& v : w) v = rng.uniform(-1, 1);
  for (auto& v : y) v = rng.uniform(-1, 1);
  Im2colWorkspace iws;
  iws.limit_bytes = im2col_limit;
  FftWorkspace fws;

  double best_estimate = -1;
  for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT})
    if (conv_algo_eligible(a, g)) {
      const double t = conv_estimate_seconds(a, g, pass, threads);
      if (best_estimate < 0 || t < best_estimate) best_estimate = t;
    }

  ConvChoice best;
  best.seconds = -1.0;
  for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Direct}) {
    if (!conv_algo_eligible(a, g)) continue;
    // The reference loops are only worth timing where the model says they might win.
    if (a == ConvAlgo::Direct && conv_estimate_seconds(a, g, pass, threads) > 4 * best_estimate)
      continue;
    double fastest = -1;
    for (int rep = 0; rep < 3; ++rep) {  // the first run also plans FFTs and sizes workspaces
      const auto t0 = std::chrono::steady_clock::now();
      run_pass(a, g, pass, x.data(), w.data(), y.data(), dx.data(), dw.data(), db.data(), iws, fws);
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

}  // namespace minicnn
