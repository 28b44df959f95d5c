// Conv2D algorithms × passes × the shapes of issue #3, the 3×3 layers of a ResNet-20
// on 28×28 images (R1–R5, as in the side-by-side yardstick), its first projection
// shortcut (R6, 1×1 stride 2) and its second downsampling layer (R7, 32 → 64 at stride 2,
// im2col's strided path like R5), a MobileNet-style pointwise layer (P1), and a depthwise
// and a grouped 3×3 layer (D1, D2), 7×7 and 9×9 layers on large planes where FFT cuts
// the planes into tiles (F1, F2; "fft-whole" rows run whole planes), with GFLOP/s counters (FLOPs per pass = 2·N·K·(C/groups)·KH·KW·OH·OW) and the same run's 1024² sgemm as the roofline.
// Auto runs whichever algorithm the cost model picks for the pass (its name is in
// the label). Direct only runs where it takes under a second.
//   ./bench_conv --benchmark_filter=S2        one shape
//   MINICNN_NUM_THREADS=1 ./bench_conv        another thread count
//   ./bench_conv --regret [SHAPE-PREFIX]      Auto's regret: per shape and pass, every
//                                             eligible algorithm timed, and Auto's pick's
//                                             time over the fastest one's
#include <minicnn/minicnn.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace minicnn;

struct BenchShape {
  const char* name;
  std::size_t N, C, H, W, K, KH, KW, stride, pad, groups = 1;
};

const BenchShape kShapes[] = {
    {"S1-lenet-conv1", 64, 1, 28, 28, 20, 5, 5, 1, 0},
    {"S2-lenet-conv2", 64, 20, 12, 12, 50, 5, 5, 1, 0},
    {"S3-resnet-3x3", 32, 64, 56, 56, 64, 3, 3, 1, 1},
    {"S4-large-kernel", 16, 16, 64, 64, 16, 11, 11, 1, 0},
    {"S5-seed-plane", 1, 1, 100, 100, 1, 3, 3, 1, 0},
    {"S6-seed-plane-large", 1, 1, 512, 512, 1, 15, 15, 1, 0},
    {"S7-alexnet-conv1", 8, 3, 227, 227, 64, 11, 11, 4, 0},
    {"S8-mid-5x5", 32, 32, 32, 32, 64, 5, 5, 1, 2},
    {"R1-resnet28-stem", 64, 1, 28, 28, 16, 3, 3, 1, 1},
    {"R2-resnet28-stage1", 64, 16, 28, 28, 16, 3, 3, 1, 1},
    {"R3-resnet28-stage2", 64, 32, 14, 14, 32, 3, 3, 1, 1},
    {"R4-resnet28-stage3", 64, 64, 7, 7, 64, 3, 3, 1, 1},
    {"R5-resnet28-down", 64, 16, 28, 28, 32, 3, 3, 2, 1},
    {"R6-resnet28-proj", 64, 16, 28, 28, 32, 1, 1, 2, 0},
    {"R7-resnet28-down2", 64, 32, 14, 14, 64, 3, 3, 2, 1},
    {"P1-pointwise", 64, 64, 28, 28, 128, 1, 1, 1, 0},
    {"D1-depthwise-3x3", 64, 64, 28, 28, 64, 3, 3, 1, 1, 64},
    {"D2-grouped-3x3", 64, 64, 28, 28, 64, 3, 3, 1, 1, 8},
    {"F1-fft-tiles-7x7", 16, 64, 56, 56, 64, 7, 7, 1, 3},
    {"F2-fft-tiles-9x9", 8, 32, 96, 96, 32, 9, 9, 1, 4},
};

ConvGeom geometry(const BenchShape& s) {
  return ConvGeom::make(s.N, s.C, s.H, s.W, s.K, s.KH, s.KW, s.stride, s.pad).grouped(s.groups);
}

void BM_Sgemm1024(benchmark::State& state) {
  const std::size_t n = 1024;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  for (auto _ : state) {
    sgemm(Op::N, Op::N, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n,
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  state.counters["threads"] = num_threads();
}

struct Buffers {
  std::vector<float> x, w, b, y, dy, dx, dw, db;
  explicit Buffers(const ConvGeom& g)
      : x(g.N * g.C * g.H * g.W), w(g.weight_numel()), b(g.K),
        y(g.N * g.K * g.OH * g.OW), dy(y.size()), dx(x.size()), dw(w.size()), db(g.K) {
    Rng rng(1);
    for (auto* v : {&x, &w, &b, &dy})
      for (float& e : *v) e = rng.uniform(-1, 1);
  }
  ConvTensors tensors() {
    return {.x = x.data(), .w = w.data(), .b = b.data(), .dy = dy.data(),
            .y = y.data(), .dx = dx.data(), .dw = dw.data(), .db = db.data()};
  }
};

// One pass on its own: FFT forgets its spectra first, so each call transforms all its
// inputs (the cost a single call pays; in a training step the backward passes reuse
// what forward transformed).
void run(ConvAlgo a, ConvPass pass, const ConvGeom& g, const ConvTensors& t, ConvWorkspace& ws) {
  ws.fft.forget();
  conv2d_run(a, pass, g, t, ws, "bench_conv");
}

// FFT's tiling as a label: "tiles 16" or "whole planes".
std::string fft_label(const ConvGeom& g, std::size_t tile) {
  if (tile == 0) tile = fft_tile_size(g);
  return tile == 0 || tile == FftWorkspace::kWholePlanes ? "whole planes"
                                                          : "tiles " + std::to_string(tile);
}

// fft_tile: FftWorkspace::tile (0 picks by geometry).
void BM_Conv(benchmark::State& state, BenchShape s, ConvAlgo algo, ConvPass pass,
             std::size_t fft_tile) {
  const ConvGeom g = geometry(s);
  ConvAlgo a = algo;
  if (algo == ConvAlgo::Auto) {
    a = conv_select(g, pass, num_threads(), Im2colWorkspace::kDefaultLimit).algo;
    state.SetLabel("auto=" + to_string(a) + (a == ConvAlgo::FFT ? ", " + fft_label(g, 0) : ""));
  } else if (algo == ConvAlgo::FFT) {
    state.SetLabel(fft_label(g, fft_tile));
  }
  Buffers d(g);
  const ConvTensors t = d.tensors();
  ConvWorkspace ws;
  ws.fft.tile = fft_tile;
  run(a, pass, g, t, ws);  // plans FFTs and sizes workspaces before timing
  for (auto _ : state) {
    run(a, pass, g, t, ws);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      g.flops(), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  const std::size_t ws_bytes = a == ConvAlgo::FFT        ? ws.fft.bytes()
                               : a == ConvAlgo::Winograd ? ws.winograd.buffer.bytes()
                                                         : ws.im2col.buffer.bytes();
  state.counters["ws_MiB"] = double(ws_bytes) / (1 << 20);
}

// The fastest of several runs of one pass (at least 3 and 0.1 s after a warm-up).
double fastest_ms(ConvAlgo a, ConvPass pass, const ConvGeom& g, const ConvTensors& t,
                  ConvWorkspace& ws) {
  run(a, pass, g, t, ws);
  double best = 1e30, total = 0;
  for (int rep = 0; rep < 3 || (total < 0.1 && rep < 200); ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    run(a, pass, g, t, ws);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
  }
  return best * 1e3;
}

// A markdown table of Auto's regret per shape and pass; returns the largest.
double regret_table(const char* prefix) {
  const auto t0 = std::chrono::steady_clock::now();
  const ConvCalibration& cal = conv_calibration(num_threads());
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("calibration: %s (%.2f s to get)\n", cal.source.c_str(), took);
  std::printf("threads %d\n\n| shape | pass | auto | fastest | auto ms | fastest ms | regret |\n"
              "|---|---|---|---|---:|---:|---:|\n",
              num_threads());
  double worst = 0;
  for (const BenchShape& s : kShapes) {
    if (std::strncmp(s.name, prefix, std::strlen(prefix)) != 0) continue;
    const ConvGeom g = geometry(s);
    Buffers d(g);
    const ConvTensors t = d.tensors();
    for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
      const ConvAlgo pick = conv_select(g, pass, num_threads(), Im2colWorkspace::kDefaultLimit).algo;
      ConvAlgo best = pick;
      double best_ms = 1e30, pick_ms = 0;
      for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd,
                         ConvAlgo::Depthwise}) {
        if (!conv_algo_eligible(a, g) || (a == ConvAlgo::Direct && a != pick && g.flops() > 0.5e9))
          continue;
        ConvWorkspace ws;
        const double ms = fastest_ms(a, pass, g, t, ws);
        if (a == pick) pick_ms = ms;
        if (ms < best_ms) {
          best_ms = ms;
          best = a;
        }
      }
      const double regret = pick_ms / best_ms - 1.0;
      worst = std::max(worst, regret);
      std::printf("| %s | %s | %s | %s | %.3f | %.3f | %.0f%% |\n", s.name,
                  to_string(pass).c_str(), to_string(pick).c_str(), to_string(best).c_str(), pick_ms,
                  best_ms, 100.0 * regret);
      std::fflush(stdout);
    }
  }
  std::printf("\nlargest regret %.0f%%\n", 100.0 * worst);
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "--regret") {
    regret_table(argc >= 3 ? argv[2] : "");
    return 0;
  }
  benchmark::RegisterBenchmark("sgemm/1024", BM_Sgemm1024)->Unit(benchmark::kMillisecond)->UseRealTime();
  for (const BenchShape& s : kShapes) {
    const ConvGeom g = geometry(s);
    for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
      for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd,
                         ConvAlgo::Depthwise, ConvAlgo::Auto}) {
        if (a != ConvAlgo::Auto && !conv_algo_eligible(a, g)) continue;
        if (a == ConvAlgo::Direct && g.flops() > 0.5e9) continue;
        const std::string name = std::string(s.name) + "/" + to_string(pass) + "/" + to_string(a);
        benchmark::RegisterBenchmark(name.c_str(), BM_Conv, s, a, pass, std::size_t{0})
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(0.2);
        if (a == ConvAlgo::FFT && fft_tile_size(g) != 0) {  // tiles against whole planes
          const std::string whole = std::string(s.name) + "/" + to_string(pass) + "/fft-whole";
          benchmark::RegisterBenchmark(whole.c_str(), BM_Conv, s, a, pass, FftWorkspace::kWholePlanes)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->MinTime(0.2);
        }
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
