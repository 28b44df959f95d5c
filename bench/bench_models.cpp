// Layers put together, forward + backward of a training step, with 2 threads unless
// MINICNN_NUM_THREADS says otherwise:
//   Residual/<shape>         a ResNet BasicBlock (3×3 conv, BN, ReLU, 3×3 conv, BN, + x,
//                            ReLU) on the ResNet-20 stage shapes R2–R4 (block_ms), and
//                            the same block's body and ReLU run as layers of their own
//                            (parts_ms), in turn: overhead_% = (block − parts) / block is
//                            what the Residual container costs
//   Depthwise                Conv2D(64, 64, 3×3, groups 64) on (64, 64, 28, 28)
//                            (grouped_ms), against the same work as 64 Conv2D(1, 1, 3×3)
//                            on the 64 channels, each on its own (N, 1, 28, 28) input
//                            (the slicing not timed; every layer is handed an input
//                            it may keep, copied before the clock starts, as a
//                            Sequential hands on its activations), with Auto (separate_ms: it picks
//                            the depthwise loops for the backward passes of 1 → 1) and
//                            on im2col + GEMM (separate_im2col_ms: as a framework
//                            without depthwise loops runs each group); the three in turn,
//                            each timed on its own as in Residual, and the ratios
//                            x_separate and x_im2col (how many times faster grouped is)
//   Separable/block          MobileNet's block: depthwise 3×3 + BN + ReLU, pointwise 1×1
//                            64→128 + BN + ReLU, on (64, 64, 28, 28)
//   Separable/full3x3        one Conv2D(64, 128, 3×3) + BN + ReLU on the same input
#include <minicnn/minicnn.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace minicnn;

struct StageShape {
  const char* name;
  std::size_t N, C, H;
};
const StageShape kStages[] = {
    {"R2", 64, 16, 28},
    {"R3", 64, 32, 14},
    {"R4", 64, 64, 7},
};

Tensor uniform(const Shape& s, std::uint64_t seed) {
  Tensor t = zeros(s);
  Rng rng(seed);
  fill_uniform(t, -1, 1, rng);
  return t;
}

Sequential basic_body(std::size_t C) {
  Sequential body;
  body.add("conv1", Conv2D(C, C, 3, {.padding = 1, .bias = false}));
  body.add("bn1", BatchNorm2D(C));
  body.add("relu", ReLU());
  body.add("conv2", Conv2D(C, C, 3, {.padding = 1, .bias = false}));
  body.add("bn2", BatchNorm2D(C));
  return body;
}

void step(Layer& l, const Tensor& x, const Tensor& dy) {
  benchmark::DoNotOptimize(l.forward(x).data());
  const InputGrad dx = l.backward(dy);  // none for a model's first layer
  if (dx) benchmark::DoNotOptimize(dx->data());
}

// The same step on an input the layer may keep (as Sequential hands one layer's output
// to the next): the layer copies nothing to keep it.
void step_moved(Layer& l, Tensor&& x, const Tensor& dy) {
  benchmark::DoNotOptimize(l.forward(std::move(x)).data());
  const InputGrad dx = l.backward(dy);
  if (dx) benchmark::DoNotOptimize(dx->data());
}

// One block step and one parts step in turn, each timed on its own, so that the
// machine's drift falls on both alike; reports the two times and the overhead
// (block − parts) / block. The iteration time is that of the pair.
void BM_Residual(benchmark::State& state, StageShape s) {
  Residual block(basic_body(s.C), Sequential{}, ReLU());
  Sequential body = basic_body(s.C);
  ReLU act;
  body.set_needs_input_grad(true);  // as inside the block, whose input gradient needs it
  act.set_needs_input_grad(true);
  const Tensor x = uniform({s.N, s.C, s.H, s.H}, 1), dy = uniform({s.N, s.C, s.H, s.H}, 2);
  const auto parts = [&] {
    step(body, x, dy);
    step(act, x, dy);
  };
  step(block, x, dy);
  parts();
  using clock = std::chrono::steady_clock;
  clock::duration t_block{}, t_parts{};
  for (auto _ : state) {
    const auto t0 = clock::now();
    step(block, x, dy);
    const auto t1 = clock::now();
    parts();
    t_parts += clock::now() - t1;
    t_block += t1 - t0;
  }
  const double n = static_cast<double>(state.iterations());
  const double block_ms = std::chrono::duration<double, std::milli>(t_block).count() / n;
  const double parts_ms = std::chrono::duration<double, std::milli>(t_parts).count() / n;
  state.counters["block_ms"] = block_ms;
  state.counters["parts_ms"] = parts_ms;
  state.counters["overhead_%"] = 100 * (block_ms - parts_ms) / block_ms;
}

constexpr std::size_t kDwN = 64, kDwC = 64, kDwH = 28;

// The 64 one-channel layers of the separate runs, each on its own input.
struct Separate {
  std::vector<Conv2D> convs;
  std::vector<Tensor> xs, dys;
  explicit Separate(ConvAlgo algo) {
    for (std::size_t c = 0; c < kDwC; ++c) {
      convs.emplace_back(1, 1, 3, Conv2DOptions{.padding = 1, .algo = algo});
      xs.push_back(uniform({kDwN, 1, kDwH, kDwH}, 10 + c));
      dys.push_back(uniform({kDwN, 1, kDwH, kDwH}, 100 + c));
    }
  }
  // Each layer's input as a copy it may keep, made before the clock starts.
  std::vector<Tensor> inputs() const { return xs; }
  void step(std::vector<Tensor>&& in) {
    for (std::size_t c = 0; c < kDwC; ++c) step_moved(convs[c], std::move(in[c]), dys[c]);
  }
};

void BM_Depthwise(benchmark::State& state) {
  Conv2D grouped(kDwC, kDwC, 3, {.padding = 1, .groups = kDwC});
  const Tensor x = uniform({kDwN, kDwC, kDwH, kDwH}, 1), dy = uniform({kDwN, kDwC, kDwH, kDwH}, 2);
  Separate separate(ConvAlgo::Auto), im2col(ConvAlgo::Im2colGemm);
  step_moved(grouped, Tensor(x), dy);
  separate.step(separate.inputs());
  im2col.step(im2col.inputs());
  state.SetLabel(grouped.name_for(shape_of(x)) + " vs 64 x " +
                 separate.convs[0].name_for(shape_of(separate.xs[0])));
  using clock = std::chrono::steady_clock;
  clock::duration t_grouped{}, t_separate{}, t_im2col{};
  for (auto _ : state) {
    Tensor xg = x;
    std::vector<Tensor> xs = separate.inputs(), xi = im2col.inputs();
    const auto t0 = clock::now();
    step_moved(grouped, std::move(xg), dy);
    const auto t1 = clock::now();
    separate.step(std::move(xs));
    const auto t2 = clock::now();
    im2col.step(std::move(xi));
    t_im2col += clock::now() - t2;
    t_separate += t2 - t1;
    t_grouped += t1 - t0;
  }
  const double n = static_cast<double>(state.iterations());
  const auto ms = [&](clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count() / n;
  };
  state.counters["grouped_ms"] = ms(t_grouped);
  state.counters["separate_ms"] = ms(t_separate);
  state.counters["separate_im2col_ms"] = ms(t_im2col);
  state.counters["x_separate"] = ms(t_separate) / ms(t_grouped);
  state.counters["x_im2col"] = ms(t_im2col) / ms(t_grouped);
}

void BM_SeparableBlock(benchmark::State& state) {
  Sequential block;
  block.add(Conv2D(64, 64, 3, {.padding = 1, .groups = 64, .bias = false}));
  block.add(BatchNorm2D(64));
  block.add(ReLU());
  block.add(Conv2D(64, 128, 1, {.bias = false}));
  block.add(BatchNorm2D(128));
  block.add(ReLU());
  const Tensor x = uniform({kDwN, 64, kDwH, kDwH}, 1), dy = uniform({kDwN, 128, kDwH, kDwH}, 2);
  step(block, x, dy);
  for (auto _ : state) step(block, x, dy);
}

void BM_SeparableFull(benchmark::State& state) {
  Sequential block;
  block.add(Conv2D(64, 128, 3, {.padding = 1, .bias = false}));
  block.add(BatchNorm2D(128));
  block.add(ReLU());
  const Tensor x = uniform({kDwN, 64, kDwH, kDwH}, 1), dy = uniform({kDwN, 128, kDwH, kDwH}, 2);
  step(block, x, dy);
  for (auto _ : state) step(block, x, dy);
}

}  // namespace

int main(int argc, char** argv) {
  for (const StageShape& s : kStages) {
    benchmark::RegisterBenchmark((std::string("Residual/") + s.name).c_str(), BM_Residual, s)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("Depthwise", BM_Depthwise)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("Separable/block", BM_SeparableBlock)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("Separable/full3x3", BM_SeparableFull)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
