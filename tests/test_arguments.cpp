// Every public constructor and function given a nonsensical argument throws
// minicnn::Error whose message names the one who complained and the argument: zero
// sizes, rates that are negative, NaN or infinite, probabilities and betas out of range,
// counts that do not match. One place that walks through them all, so a new option
// without a check stands out.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <minicnn/minicnn.hpp>
#include <new>
#include <string>
#include <vector>

using namespace minicnn;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// `call` must throw Error whose message holds every one of `parts`.
void expect_names(const char* what, const std::function<void()>& call,
                  const std::vector<std::string>& parts) {
  try {
    call();
    ADD_FAILURE() << what << ": no throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(m.find(p), std::string::npos) << what << ": '" << p << "' not in: " << m;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": threw another exception than Error: " << e.what();
  }
}
#define EXPECT_ARG_ERROR(call, ...) expect_names(#call, [&] { (void)(call); }, {__VA_ARGS__})

// A parameter and its gradient, for the optimisers.
struct Param {
  Tensor value = zeros({3}), grad = zeros({3});
  std::vector<Parameter> list() { return {{"w", &value, &grad}}; }
};

}  // namespace

TEST(Arguments, Threads) {
  const int before = num_threads();
  EXPECT_ARG_ERROR(set_num_threads(0), "set_num_threads", "n");
  EXPECT_ARG_ERROR(set_num_threads(-3), "set_num_threads", "n");
  EXPECT_ARG_ERROR(set_num_threads(1 << 20), "set_num_threads", "n");
  EXPECT_EQ(num_threads(), before);
}

TEST(Arguments, Conv2D) {
  EXPECT_ARG_ERROR(Conv2D(0, 4, 3), "Conv2D", "in_channels");
  EXPECT_ARG_ERROR(Conv2D(1, 0, 3), "Conv2D", "out_channels");
  EXPECT_ARG_ERROR(Conv2D(1, 4, 0), "Conv2D", "kernel");
  EXPECT_ARG_ERROR(Conv2D(1, 4, {3, 0}), "Conv2D", "kernel");
  EXPECT_ARG_ERROR(Conv2D(1, 4, 3, {.stride = 0}), "Conv2D", "stride");
  EXPECT_ARG_ERROR(Conv2D(1, 4, 3, {.dilation = 0}), "Conv2D", "dilation");
  EXPECT_ARG_ERROR(Conv2D(1, 4, 3, {.workspace_limit = 0}), "Conv2D", "workspace_limit");
  EXPECT_ARG_ERROR(Conv2D(1, 4, 3, {.stride = 2, .algo = ConvAlgo::FFT}), "Conv2D", "stride");
  EXPECT_ARG_ERROR(parse_conv_algo("fastest"), "conv algorithm", "fastest");
  // The plain geometry behind the algorithms.
  EXPECT_ARG_ERROR(conv_out_size(0, 3, 1, 0, 1), "input size");
  EXPECT_ARG_ERROR(conv_out_size(5, 0, 1, 0, 1), "kernel size");
  EXPECT_ARG_ERROR(conv_out_size(5, 3, 0, 0, 1), "stride");
  EXPECT_ARG_ERROR(conv_out_size(5, 3, 1, 0, 0), "dilation");
  EXPECT_ARG_ERROR(conv_out_size(2, 3, 1, 0, 1), "kernel");
  EXPECT_ARG_ERROR(ConvGeom::make(0, 1, 5, 5, 1, 3, 3), "batch size N");
  EXPECT_ARG_ERROR(ConvGeom::make(1, 0, 5, 5, 1, 3, 3), "in-channels C");
  EXPECT_ARG_ERROR(ConvGeom::make(1, 1, 5, 5, 0, 3, 3), "out-channels K");
}

TEST(Arguments, DensePoolingActivations) {
  EXPECT_ARG_ERROR(Dense(0, 3), "Dense", "in");
  EXPECT_ARG_ERROR(Dense(3, 0), "Dense", "out");
  for (const char* kind : {"MaxPool2D", "AvgPool2D"}) {
    const bool max = std::string(kind) == "MaxPool2D";
    auto make = [&](std::size_t k, PoolOptions o) {
      if (max) {
        MaxPool2D pool(k, o);
      } else {
        AvgPool2D pool(k, o);
      }
    };
    EXPECT_ARG_ERROR(make(0, {}), kind, "kernel");
    EXPECT_ARG_ERROR(make(2, {.stride = 0}), kind, "stride");
    EXPECT_ARG_ERROR(make(2, {.padding = 2}), kind, "padding");
  }
  EXPECT_ARG_ERROR(LeakyReLU(kNaN), "LeakyReLU", "slope");
  EXPECT_ARG_ERROR(LeakyReLU(kInf), "LeakyReLU", "slope");
}

TEST(Arguments, Dropout) {
  for (float p : {-0.1f, 1.0f, 1.5f, kNaN, kInf, -kInf})
    EXPECT_ARG_ERROR(Dropout(p), "Dropout", "p");
  Rng rng(1);
  EXPECT_ARG_ERROR(Dropout(kNaN, rng), "Dropout", "p");
}

TEST(Arguments, BatchNorm) {
  EXPECT_ARG_ERROR(BatchNorm2D(0), "BatchNorm2D", "C");
  for (float eps : {0.0f, -1e-5f, kNaN, kInf})
    EXPECT_ARG_ERROR(BatchNorm2D(3, {.eps = eps}), "BatchNorm2D", "eps");
  for (float m : {-0.1f, 1.5f, kNaN})
    EXPECT_ARG_ERROR(BatchNorm2D(3, {.momentum = m}), "BatchNorm2D", "momentum");
}

TEST(Arguments, Optimisers) {
  Param p;
  for (float lr : {-0.1f, kNaN, kInf}) {
    EXPECT_ARG_ERROR(SGD(p.list(), {.lr = lr}), "SGD", "lr");
    EXPECT_ARG_ERROR(Adam(p.list(), {.lr = lr}), "Adam", "lr");
  }
  for (float m : {-0.1f, 1.0f, kNaN})
    EXPECT_ARG_ERROR(SGD(p.list(), {.momentum = m}), "SGD", "momentum");
  EXPECT_ARG_ERROR(SGD(p.list(), {.nesterov = true}), "SGD", "momentum", "nesterov");
  for (float wd : {-1.0f, kNaN, kInf}) {
    EXPECT_ARG_ERROR(SGD(p.list(), {.weight_decay = wd}), "SGD", "weight_decay");
    EXPECT_ARG_ERROR(Adam(p.list(), {.weight_decay = wd}), "Adam", "weight_decay");
  }
  for (float b : {-0.1f, 1.0f, kNaN}) {
    EXPECT_ARG_ERROR(Adam(p.list(), {.beta1 = b}), "Adam", "beta1");
    EXPECT_ARG_ERROR(Adam(p.list(), {.beta2 = b}), "Adam", "beta2");
  }
  for (float eps : {0.0f, -1e-8f, kNaN, kInf})
    EXPECT_ARG_ERROR(Adam(p.list(), {.eps = eps}), "Adam", "eps");

  SGD sgd(p.list(), {.lr = 0.1f});
  EXPECT_ARG_ERROR(sgd.set_lr(kNaN), "SGD", "lr");
  EXPECT_ARG_ERROR(sgd.set_lr(-1.0f), "SGD", "lr");
  EXPECT_EQ(sgd.lr(), 0.1f);
  // A parameter without a gradient, or listed twice.
  Tensor lonely = zeros({2});
  EXPECT_ARG_ERROR(SGD({{"lonely", &lonely, nullptr}}), "SGD", "lonely");
  EXPECT_ARG_ERROR(SGD({p.list()[0], p.list()[0]}), "SGD", "w");

  EXPECT_ARG_ERROR(StepLR(sgd, 0), "StepLR", "step_size");
  EXPECT_ARG_ERROR(StepLR(sgd, 2, kNaN), "StepLR", "gamma");
  EXPECT_ARG_ERROR(StepLR(sgd, 2, -0.5f), "StepLR", "gamma");
  EXPECT_ARG_ERROR(CosineLR(sgd, 0), "CosineLR", "t_max");
  EXPECT_ARG_ERROR(CosineLR(sgd, 5, -1.0f), "CosineLR", "eta_min");
  EXPECT_ARG_ERROR(CosineLR(sgd, 5, kNaN), "CosineLR", "eta_min");
}

TEST(Arguments, LossesAndMetrics) {
  const Tensor logits = zeros({2, 3});
  EXPECT_ARG_ERROR(softmax_cross_entropy(logits, {0, 1, 2}), "softmax_cross_entropy", "3 labels");
  EXPECT_ARG_ERROR(softmax_cross_entropy(logits, {0, 3}), "softmax_cross_entropy", "label 3");
  EXPECT_ARG_ERROR(softmax_cross_entropy(zeros({0, 3}), {}), "softmax_cross_entropy", "N");
  EXPECT_ARG_ERROR(mse(zeros({2, 3}), zeros({3, 2})), "mse", "(2, 3)", "(3, 2)");
  EXPECT_ARG_ERROR(accuracy(Labels{1, 2}, Labels{1}), "accuracy", "2 predictions");
  EXPECT_ARG_ERROR(accuracy(logits, Labels{1}), "2 labels", "got 1");
  EXPECT_ARG_ERROR(count_correct(logits, Labels{1, 2, 0}), "count_correct");
  EXPECT_ARG_ERROR(ConfusionMatrix(0), "ConfusionMatrix", "num_classes");
  ConfusionMatrix cm(3);
  EXPECT_ARG_ERROR(cm.add(3, 0), "ConfusionMatrix", "predicted 3");
  EXPECT_ARG_ERROR(cm.add(0, 7), "ConfusionMatrix", "label 7");
  EXPECT_ARG_ERROR(cm.add(Labels{0, 1}, Labels{0}), "ConfusionMatrix", "2 predictions");
}

TEST(Arguments, DataAndBatches) {
  EXPECT_ARG_ERROR(Dataset(std::vector<std::uint8_t>(8), {1, 2}, 0, 4), "Dataset", "image size");
  EXPECT_ARG_ERROR(Dataset(std::vector<std::uint8_t>(8), {1, 2}, 2, 2, 0), "Dataset",
                   "num_classes");
  EXPECT_ARG_ERROR(Dataset(std::vector<std::uint8_t>(8), {1, 2, 3}, 2, 2), "Dataset",
                   "image bytes", "3 labels");
  EXPECT_ARG_ERROR(Dataset(std::vector<std::uint8_t>(8), {1, 12}, 2, 2), "Dataset", "label 12");
  const Dataset data(std::vector<std::uint8_t>(8), {1, 2}, 2, 2, 10, "tiny");
  EXPECT_ARG_ERROR(BatchIterator(data, 0, false, 1), "BatchIterator(tiny)", "batch_size");
  EXPECT_ARG_ERROR(BatchIterator(data, 2, false, 1, {.norm = {0.0f, 0.0f}}), "BatchIterator(tiny)",
                   "stddev");
  EXPECT_ARG_ERROR(BatchIterator(data, 2, false, 1, {.norm = {kNaN, 1.0f}}), "BatchIterator(tiny)",
                   "mean");
  EXPECT_ARG_ERROR(data.subset(1, 5), "Dataset(tiny)", "subset", "range");
  EXPECT_ARG_ERROR(data.to_tensor(3, 1), "Dataset(tiny)", "to_tensor", "range");
  EXPECT_ARG_ERROR(data.image(2), "Dataset(tiny)", "2");
}

TEST(Arguments, RandomAndInitialisers) {
  Rng rng(1);
  Tensor t = zeros({4});
  EXPECT_ARG_ERROR(rng.uniform(1.0f, 0.0f), "Rng::uniform", "range");
  EXPECT_ARG_ERROR(rng.uniform(kNaN, 1.0f), "Rng::uniform", "range");
  EXPECT_ARG_ERROR(rng.normal(0.0f, -1.0f), "Rng::normal", "stddev");
  EXPECT_ARG_ERROR(rng.normal(kNaN, 1.0f), "Rng::normal", "mean");
  EXPECT_ARG_ERROR(fill_uniform(t, 1.0f, 0.0f, rng), "fill_uniform", "range");
  EXPECT_ARG_ERROR(fill_uniform(t, -kInf, 0.0f, rng), "fill_uniform", "range");
  EXPECT_ARG_ERROR(fill_normal(t, 0.0f, kNaN, rng), "fill_normal", "stddev");
  EXPECT_ARG_ERROR(fill_normal(t, 0.0f, -1.0f, rng), "fill_normal", "stddev");
  EXPECT_ARG_ERROR(fill_normal(t, kInf, 1.0f, rng), "fill_normal", "mean");
  EXPECT_ARG_ERROR(he_normal(t, 0, rng), "he_normal", "fan_in");
  EXPECT_ARG_ERROR(glorot_uniform(t, 0, 0, rng), "glorot_uniform", "fan_in");
  // A zero spread is not nonsense: every value is the mean (the standard distribution
  // itself may not be asked for it).
  fill_normal(t, 0.5f, 0.0f, rng);
  for (float v : t) EXPECT_EQ(v, 0.5f);
  EXPECT_EQ(rng.normal(2.0f, 0.0f), 2.0f);
  // A workspace whose byte count would wrap around is refused, not allocated short.
  AlignedBuffer<float> buf;
  EXPECT_THROW(buf.ensure(std::numeric_limits<std::size_t>::max() / 2), std::bad_alloc);
  EXPECT_EQ(buf.capacity(), 0u);
}

TEST(Arguments, CoreKernels) {
  EXPECT_ARG_ERROR(fft_plan(0, 4), "fft_plan", "plane size");
  EXPECT_ARG_ERROR(fft_plan(std::size_t(1) << 40, 4), "fft_plan", "plane size");
  EXPECT_ARG_ERROR(fft_fast_size(0), "fft_fast_size", "n");
  const float a[6] = {}, b[6] = {};
  float c[4] = {};
  EXPECT_ARG_ERROR(sgemm(Op::N, Op::N, 2, 2, 3, 1.0f, a, 2, b, 2, 0.0f, c, 2), "row stride of A");
}

TEST(Arguments, ModelsAndGradientChecks) {
  Sequential net;
  EXPECT_ARG_ERROR(net.add(std::unique_ptr<Layer>()), "Sequential::add", "null");
  EXPECT_ARG_ERROR(net[0], "index 0");
  ReLU relu;
  EXPECT_ARG_ERROR(check_gradients(relu, {2, 3}, {.eps = 0}), "eps");
  EXPECT_ARG_ERROR(check_gradients(relu, {2, 3}, {.tolerance = std::nan("")}), "tolerance");
  EXPECT_ARG_ERROR(check_gradients(relu, {2, 3}, {.max_checks = 0}), "max_checks");
  EXPECT_ARG_ERROR(check_gradients(relu, {2, 3}, {.input_lo = 1, .input_hi = 0}), "input range");
}

TEST(Arguments, ImagesAndProgress) {
  EXPECT_ARG_ERROR(Image(0, 4), "Image", "size");
  EXPECT_ARG_ERROR(Image(4, 4, 5), "Image", "channels");
  const Image img(4, 4);
  EXPECT_ARG_ERROR(resize_bilinear(img, 0, 28), "size");
  EXPECT_ARG_ERROR(resize_bilinear(Image(), 28, 28), "resize_bilinear", "source image");
  const std::uint8_t px[4] = {};
  EXPECT_ARG_ERROR(write_png("/tmp/minicnn-never-written.png", px, 2, 2, 5), "write_png",
                   "channels");
  EXPECT_ARG_ERROR(write_png("/tmp/minicnn-never-written.png", px, 0, 2, 1), "write_png", "size");
  EXPECT_ARG_ERROR(ProgressBar(10, {.redraw_seconds = -1.0}), "ProgressBar", "redraw_seconds");
  EXPECT_ARG_ERROR(ProgressBar(10, {.redraw_seconds = std::nan("")}), "ProgressBar",
                   "redraw_seconds");
}
