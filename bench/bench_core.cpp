// The roofline every later figure is compared to: sgemm GFLOP/s at square sizes, and
// im2col throughput in bytes of columns written per second. And one model serving
// threads: LeNet's batch-1 eval forward from one or two threads sharing the model. And
// the augmentation of a training batch. And BatchNorm2D + ReLU, and a Residual's sum +
// ReLU, each run as one layer and as two.
#include <minicnn/minicnn.hpp>

#include <benchmark/benchmark.h>

#include <utility>
#include <vector>

#include "../examples/lenet.hpp"

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

// The ResNet-20 stage shapes (C, H) = (16, 28), (32, 14), (64, 7) of a pair of layers run
// as one (fused 1) and as two (fused 0).
void stage_shapes_fused_or_not(benchmark::internal::Benchmark* b) {
  b->ArgNames({"C", "H", "fused"});
  for (const auto& [C, H] : {std::pair{16, 28}, std::pair{32, 14}, std::pair{64, 7}})
    for (int fused : {0, 1}) b->Args({C, H, fused});
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

// A batch of 64 activations (64, C, H, H), uniform in [-1, 1].
Tensor stage_batch(std::size_t C, std::size_t H, std::uint64_t seed) {
  Tensor x = Tensor::from_shape({64, C, H, H});
  Rng rng(seed);
  for (float& v : x) v = rng.uniform(-1, 1);
  return x;
}

// BatchNorm2D in training mode, forward then backward, on the activations of a ResNet-20's
// stages at batch 64 (C, H): per-channel sums over N·H·W values each.
void BM_BatchNorm2D(benchmark::State& state) {
  const auto C = static_cast<std::size_t>(state.range(0));
  const auto H = static_cast<std::size_t>(state.range(1));
  set_num_threads(2);
  BatchNorm2D bn(C);
  bn.set_training(true);
  const Tensor x = stage_batch(C, H, 3), dy = x * 0.5f;
  for (auto _ : state) {
    benchmark::DoNotOptimize(bn.forward(x).data());
    benchmark::DoNotOptimize(bn.backward(dy).value().data());
  }
  state.SetBytesProcessed(state.iterations() * 5 * static_cast<std::int64_t>(x.size() * sizeof(float)));
}
BENCHMARK(BM_BatchNorm2D)
    ->ArgNames({"C", "H"})
    ->Args({16, 28})
    ->Args({32, 14})
    ->Args({64, 7})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// A BatchNorm2D and a ReLU in training mode, forward then backward, as a Sequential runs
// them (fused: /1) and one after the other as layers of their own (/0), on the same
// ResNet-20 shapes; the input given up to the first layer each time, as a model's
// layers get theirs.
void BM_BatchNormRelu(benchmark::State& state) {
  const auto C = static_cast<std::size_t>(state.range(0));
  const auto H = static_cast<std::size_t>(state.range(1));
  const bool fused = state.range(2) != 0;
  set_num_threads(2);
  Sequential pair;
  pair.add(BatchNorm2D(C));
  pair.add(ReLU());
  pair.set_needs_input_grad(true);
  BatchNorm2D bn(C);
  ReLU relu;
  const Tensor x = stage_batch(C, H, 3), dy = x * 0.5f;
  for (auto _ : state) {
    Tensor in = x;  // (the copy is timed in both)
    if (fused) {
      benchmark::DoNotOptimize(pair.forward(std::move(in)).data());
      benchmark::DoNotOptimize(pair.backward(dy).value().data());
    } else {
      benchmark::DoNotOptimize(relu.forward(bn.forward(std::move(in))).data());
      benchmark::DoNotOptimize(bn.backward(relu.backward(dy).value()).value().data());
    }
  }
}
BENCHMARK(BM_BatchNormRelu)->Apply(stage_shapes_fused_or_not);

// A Residual's sum and the ReLU after it, forward and backward, on the ResNet-20 stage
// shapes: the block running the ReLU itself (fused: /1), and with a ReLU of a derived
// class, which it runs as a layer of its own (/0). The body and shortcut are the
// identity, so that what is timed is the sum, the ReLU and their gradients.
class LayerReLU : public ReLU {};
void BM_ResidualRelu(benchmark::State& state) {
  const auto C = static_cast<std::size_t>(state.range(0));
  const auto H = static_cast<std::size_t>(state.range(1));
  set_num_threads(2);
  Residual block = state.range(2) != 0 ? Residual(Sequential{}, Sequential{}, ReLU())
                                       : Residual(Sequential{}, Sequential{}, LayerReLU());
  block.set_needs_input_grad(true);
  const Tensor x = stage_batch(C, H, 4), dy = x * 0.5f;
  for (auto _ : state) {
    Tensor in = x;  // (the copy is timed in both)
    benchmark::DoNotOptimize(block.forward(std::move(in)).data());
    benchmark::DoNotOptimize(block.backward(dy).value().data());
  }
}
BENCHMARK(BM_ResidualRelu)->Apply(stage_shapes_fused_or_not);

// One LeNet in eval mode answering batch-1 requests, from `threads:` caller threads at
// once, each forward given `omp` threads of minicnn's own (set_num_threads).
// items_per_second counts the images of all callers.
void BM_LeNetServe(benchmark::State& state) {
  static Sequential& net = [] () -> Sequential& {
    static Sequential model = lenet::make_model();
    model.set_training(false);
    return model;
  }();
  set_num_threads(static_cast<int>(state.range(0)));
  const Tensor x = xt::ones<float>({1, 1, 28, 28});
  net.forward(x);  // the plan of this shape, before the timing
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).data());
  state.SetItemsProcessed(state.iterations());  // items_per_second: images/s of all callers
}
BENCHMARK(BM_LeNetServe)
    ->ArgNames({"omp"})
    ->Arg(1)
    ->Arg(2)
    ->Threads(1)
    ->Threads(2)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The producer thread's work per training batch of fashion_resnet: 64 images of 28×28
// bytes through RandomCrop(2) and a flip (erase 0), with RandomErasing(p 0.5, random
// bytes) after them (erase 1). items_per_second: images.
void BM_Augment(benchmark::State& state) {
  Compose augment;
  augment.add<RandomCrop>(2);
  augment.add<RandomHorizontalFlip>(0.5f);
  if (state.range(0)) augment.add<RandomErasing>(RandomErasingOptions{.p = 0.5f});
  std::vector<std::uint8_t> source(64 * 28 * 28), images(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) source[i] = std::uint8_t(i * 37);
  std::uint64_t epoch = 0;
  for (auto _ : state) {
    ++epoch;
    std::copy(source.begin(), source.end(), images.begin());  // as the batch's copy does
    for (std::size_t n = 0; n < 64; ++n)
      augment_image(augment, {images.data() + n * 28 * 28, 1, 28, 28}, 1, epoch, n);
    benchmark::DoNotOptimize(images.data());
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_Augment)->ArgNames({"erase"})->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
