// The roofline every later figure is compared to: sgemm GFLOP/s at square sizes, and
// im2col throughput in bytes of columns written per second.
#include <minicnn/minicnn.hpp>

#include <benchmark/benchmark.h>

#include <vector>

namespace {

using namespace minicnn;

void BM_Sgemm(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  set_num_threads(static_cast<int>(state.range(1)));
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  for (auto _ : state) {
    sgemm(Op::N, Op::N, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * double(n) * n * n, benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::kIs1000);
  state.counters["threads"] = double(state.range(1));
}
BENCHMARK(BM_Sgemm)
    ->ArgNames({"n", "threads"})
    ->ArgsProduct({{256, 512, 1024, 2048}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// im2col of one image: (C, H, W, K) with stride 1 and padding K/2.
void BM_Im2col(benchmark::State& state) {
  const auto C = std::size_t(state.range(0)), H = std::size_t(state.range(1)),
             Kk = std::size_t(state.range(2));
  const ConvGeom g = ConvGeom::make(1, C, H, H, 1, Kk, Kk, 1, Kk / 2);
  std::vector<float> x(C * H * H, 1.0f), cols(g.col_rows() * g.out_plane());
  for (auto _ : state) {
    im2col(x.data(), g, 0, g.out_plane(), cols.data(), g.out_plane());
    benchmark::DoNotOptimize(cols.data());
  }
  state.counters["GB/s"] = benchmark::Counter(double(cols.size()) * sizeof(float),
                                              benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Im2col)
    ->ArgNames({"C", "H", "K"})
    ->Args({1, 28, 5})
    ->Args({20, 12, 5})
    ->Args({64, 56, 3})
    ->Args({3, 227, 11})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
