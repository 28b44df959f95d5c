#include <minicnn/core/tensor.hpp>
#include <minicnn/core/random.hpp>
#include <minicnn/layers/activation.hpp>
#include <minicnn/layers/batchnorm.hpp>
#include <minicnn/layers/conv2d.hpp>
#include <minicnn/layers/sequential.hpp>
#include <minicnn/layers/gradcheck.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

using namespace minicnn;
using namespace minicnn::testing;

namespace {

void expect_close(const Tensor& actual, const Tensor& expected, float tol = 1e-5f) {
  expect_near(actual, expected, tol);
}

// x (2, 2, 1, 2). Channel 0 holds 1, 3, 5, 7: mean 4, biased variance 5, unbiased 20/3.
// Channel 1 holds 2, 2, 4, 8: mean 4, biased variance 6, unbiased 8.
const Tensor kX = {{{{1, 3}}, {{2, 2}}}, {{{5, 7}}, {{4, 8}}}};
constexpr float kEps = 1e-5f;

// A tensor of the given shape holding the given values in row-major order (nested
// braces cannot spell a tensor whose inner sizes are all 1).
Tensor make(const Shape& s, std::initializer_list<float> values) {
  Tensor t = Tensor::from_shape(s);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

BatchNorm2D example_layer() {
  BatchNorm2D bn(2);
  bn.weight() = Tensor{2.0f, 0.5f};
  bn.bias() = Tensor{1.0f, -1.0f};
  return bn;
}

}  // namespace

TEST(BatchNorm2D, TrainingNormalisesWithBatchStatistics) {
  BatchNorm2D bn = example_layer();
  const Tensor y = bn.forward(kX);
  const float r0 = 1.0f / std::sqrt(5.0f + kEps), r1 = 1.0f / std::sqrt(6.0f + kEps);
  auto f0 = [&](float v) { return 2.0f * (v - 4.0f) * r0 + 1.0f; };
  auto f1 = [&](float v) { return 0.5f * (v - 4.0f) * r1 - 1.0f; };
  expect_close(y, Tensor{{{{f0(1), f0(3)}}, {{f1(2), f1(2)}}},
                        {{{f0(5), f0(7)}}, {{f1(4), f1(8)}}}});
}

TEST(BatchNorm2D, VarianceOfValuesFarFromZeroAndFromTheFirstValue) {
  // Mean 1e4, spread ±1, and a first value 8 from the mean: the variance, summed in one
  // pass from the first value, must still come out as two passes in double give it.
  const std::size_t N = 3, H = 5, W = 7;
  Tensor x = Tensor::from_shape({N, 1, H, W});
  for (std::size_t i = 0; i < x.size(); ++i)
    x.data()[i] = 1e4f + static_cast<float>((i * 37) % 17) / 8.0f - 1.0f;
  x.data()[0] = 1e4f + 8.0f;
  double mean = 0.0, var = 0.0;
  for (float v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (float v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  BatchNorm2D bn(1, {.momentum = 1.0f});  // the running statistics are this batch's
  const Tensor y = bn.forward(x);
  EXPECT_NEAR(bn.running_mean()(0), mean, 1e-3);
  EXPECT_NEAR(bn.running_var()(0), var * static_cast<double>(x.size()) / (x.size() - 1),
              1e-5 * var);
  const auto r = static_cast<float>(1.0 / std::sqrt(var + kEps));
  for (std::size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(y.data()[i], (x.data()[i] - static_cast<float>(mean)) * r, 2e-3) << i;
}

TEST(BatchNorm2D, RunningStatisticsAfterEachStep) {
  BatchNorm2D bn = example_layer();
  bn.forward(kX);
  // mean ← 0.9·0 + 0.1·4;  var ← 0.9·1 + 0.1·(unbiased variance)
  expect_close(bn.running_mean(), Tensor{0.4f, 0.4f});
  expect_close(bn.running_var(), Tensor{0.9f + 0.1f * 20.0f / 3.0f, 0.9f + 0.1f * 8.0f});
  bn.forward(kX);
  expect_close(bn.running_mean(), Tensor{0.76f, 0.76f});
  expect_close(bn.running_var(), Tensor{0.9f * (0.9f + 2.0f / 3.0f) + 2.0f / 3.0f,
                                       0.9f * 1.7f + 0.8f});
  BatchNorm2D slow(2, {.momentum = 0.5f});
  slow.forward(kX);
  expect_close(slow.running_mean(), Tensor{2.0f, 2.0f});
  expect_close(slow.running_var(), Tensor{0.5f + 0.5f * 20.0f / 3.0f, 4.5f});
}

TEST(BatchNorm2D, EvalUsesRunningStatisticsAndLeavesThemAlone) {
  BatchNorm2D bn = example_layer();
  bn.forward(kX);
  bn.set_training(false);
  const Tensor rm = bn.running_mean(), rv = bn.running_var();
  const Tensor x = make({1, 2, 1, 1}, {1.0f, 2.0f});
  const Tensor y = bn.forward(x);
  const float y0 = 2.0f * (1.0f - 0.4f) / std::sqrt(0.9f + 0.1f * 20.0f / 3.0f + kEps) + 1.0f;
  const float y1 = 0.5f * (2.0f - 0.4f) / std::sqrt(1.7f + kEps) - 1.0f;
  expect_close(y, make({1, 2, 1, 1}, {y0, y1}));
  bn.forward(x);
  EXPECT_EQ(bn.running_mean(), rm);
  EXPECT_EQ(bn.running_var(), rv);
  // A batch of one value per channel is fine in eval mode, not in training.
  bn.set_training(true);
  EXPECT_THROW(bn.forward(x), Error);
  const std::string m = error_message([&] { bn.forward(x); });
  EXPECT_TRUE(contains(m, "BatchNorm2D(2)")) << m;
  EXPECT_TRUE(contains(m, "more than one value")) << m;
  EXPECT_TRUE(contains(m, "(1, 2, 1, 1)")) << m;
}

TEST(BatchNorm2D, TrainAndEvalDiffer) {
  BatchNorm2D bn = example_layer();
  const Tensor y_train = bn.forward(kX);
  bn.set_training(false);
  const Tensor y_eval = bn.forward(kX);
  EXPECT_GT(std::abs(y_train(0, 0, 0, 0) - y_eval(0, 0, 0, 0)), 0.1f);
}

TEST(BatchNorm2D, HandComputedBackward) {
  BatchNorm2D bn = example_layer();
  bn.forward(kX);
  // A dy constant per channel only shifts the mean, which normalisation removes: dx = 0,
  // dγ = Σ x̂ · c = 0, dβ = 4·c.
  const Tensor dy = {{{{3, 3}}, {{-1, -1}}}, {{{3, 3}}, {{-1, -1}}}};
  expect_close(bn.backward(dy).value(), zeros({2, 2, 1, 2}));
  expect_close(bn.weight_grad(), Tensor{0.0f, 0.0f});
  expect_close(bn.bias_grad(), Tensor{12.0f, -4.0f});
}

TEST(BatchNorm2D, GradientsAccumulateUntilZeroGrad) {
  BatchNorm2D bn = example_layer();
  bn.forward(kX);
  const Tensor dy = {{{{1, 0}}, {{0, 2}}}, {{{0, 0}}, {{1, 0}}}};
  bn.backward(dy);
  const Tensor dg = bn.weight_grad(), db = bn.bias_grad();
  expect_close(db, Tensor{1.0f, 3.0f});
  bn.backward(dy);
  expect_close(bn.weight_grad(), 2.0f * dg);
  expect_close(bn.bias_grad(), Tensor{2.0f, 6.0f});
  bn.zero_grad();
  expect_close(bn.weight_grad(), zeros({2}));
  expect_close(bn.bias_grad(), zeros({2}));
}

TEST(BatchNorm2D, GradientsCheckOnOddShapes) {
  BatchNorm2D three(3);
  three.weight() = Tensor{1.5f, -0.7f, 0.3f};
  three.bias() = Tensor{0.1f, 0.2f, -0.3f};
  for (const Shape& s : {Shape{2, 3, 2, 3}, Shape{3, 3, 1, 1}}) {
    const GradCheckResult r = check_gradients(three, s);
    EXPECT_TRUE(r.ok) << to_string(s) << '\n' << r.summary();
  }
  BatchNorm2D one(1, {.eps = 1e-3f});
  const GradCheckResult r = check_gradients(one, {1, 1, 3, 4});  // batch 1, one channel
  EXPECT_TRUE(r.ok) << r.summary();
}

TEST(BatchNorm2D, ParametersAndBuffersAreNamedAsInPyTorch) {
  BatchNorm2D bn(4);
  auto p = bn.parameters();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "weight");
  EXPECT_EQ(p[1].name, "bias");
  EXPECT_EQ(p[0].grad, &bn.weight_grad());
  auto b = bn.buffers();
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].name, "running_mean");
  EXPECT_EQ(b[1].name, "running_var");
  EXPECT_EQ(b[2].name, "num_batches_tracked");
  EXPECT_EQ(b[0].grad, nullptr);
  EXPECT_EQ(b[1].value, &bn.running_var());
  EXPECT_EQ(b[0].int64, nullptr);
  EXPECT_EQ(b[2].int64, &bn.num_batches_tracked());
  EXPECT_EQ(b[2].grad, nullptr);
  EXPECT_EQ(shape_of(*b[2].value), Shape{});
  EXPECT_EQ(bn.num_batches_tracked(), 0);
  EXPECT_EQ(bn.weight(), Tensor(Shape{4}, 1.0f));
  EXPECT_EQ(bn.bias(), zeros({4}));
  EXPECT_EQ(bn.running_mean(), zeros({4}));
  EXPECT_EQ(bn.running_var(), Tensor(Shape{4}, 1.0f));
  EXPECT_EQ(bn.name(), "BatchNorm2D(4)");
  EXPECT_EQ(bn.options().eps, 1e-5f);
  EXPECT_EQ(bn.options().momentum, 0.1f);
  EXPECT_EQ(bn.output_shape({8, 4, 5, 5}), (Shape{8, 4, 5, 5}));
  EXPECT_EQ(bn.flops({8, 4, 5, 5}), 4.0 * 8 * 4 * 5 * 5);
}

TEST(BatchNorm2D, NumBatchesTrackedCountsTrainingForwardsExactly) {
  BatchNorm2D bn = example_layer();
  for (int i = 0; i < 3; ++i) bn.forward(kX);
  EXPECT_EQ(bn.num_batches_tracked(), 3);
  bn.set_training(false);
  bn.forward(kX);
  EXPECT_EQ(bn.num_batches_tracked(), 3) << "eval mode counts nothing";

  // A count past 2^24, where floats are 2 apart, still counts one by one.
  bn.set_training(true);
  bn.num_batches_tracked() = (std::int64_t{1} << 24) + 1;
  bn.forward(kX);
  EXPECT_EQ(bn.num_batches_tracked(), (std::int64_t{1} << 24) + 2);
  // buffers() shows it as a float for code that reads every buffer as one.
  EXPECT_EQ((*bn.buffers()[2].value)(), float((std::int64_t{1} << 24) + 2));

  // A forward that throws counts nothing.
  EXPECT_THROW(bn.forward(zeros({1, 3, 2, 2})), Error);
  EXPECT_EQ(bn.num_batches_tracked(), (std::int64_t{1} << 24) + 2);
}

TEST(BatchNorm2D, EvalModeAndBackwardWithoutForward) {
  BatchNorm2D bn = example_layer();
  EXPECT_THROW(bn.backward(kX), Error);
  const std::string m = error_message([&] { bn.backward(kX); });
  EXPECT_TRUE(contains(m, "BatchNorm2D(2)")) << m;
  EXPECT_TRUE(contains(m, "without a forward")) << m;
  bn.forward(kX);
  bn.set_training(false);
  bn.forward(kX);
  EXPECT_THROW(bn.backward(kX), Error);
  bn.set_training(true);
  bn.set_needs_input_grad(false);
  bn.forward(kX);
  EXPECT_FALSE(bn.backward(kX).has_value());
  EXPECT_GT(std::abs(bn.bias_grad()(0)), 0.0f);  // the parameter gradients still come
}

TEST(BatchNorm2D, BadInputAndOptionsThrowNamingTheValues) {
  BatchNorm2D bn(3);
  EXPECT_THROW(bn.forward(zeros({2, 4, 3, 3})), Error);
  std::string m = error_message([&] { bn.forward(zeros({2, 4, 3, 3})); });
  EXPECT_TRUE(contains(m, "BatchNorm2D(3)")) << m;
  EXPECT_TRUE(contains(m, "(2, 3, 3, 3)")) << m;
  EXPECT_TRUE(contains(m, "(2, 4, 3, 3)")) << m;
  m = error_message([&] { bn.forward(zeros({2, 3})); });
  EXPECT_TRUE(contains(m, "rank 4")) << m;
  EXPECT_TRUE(contains(m, "(2, 3)")) << m;
  bn.forward(zeros({2, 3, 2, 2}));
  m = error_message([&] { bn.backward(zeros({2, 3, 2, 1})); });
  EXPECT_TRUE(contains(m, "dy")) << m;
  EXPECT_TRUE(contains(m, "(2, 3, 2, 1)")) << m;
  bn.running_var() = zeros({2});
  m = error_message([&] { bn.forward(zeros({2, 3, 2, 2})); });
  EXPECT_TRUE(contains(m, "running_var")) << m;

  EXPECT_THROW(BatchNorm2D(0), Error);
  EXPECT_THROW((BatchNorm2D(2, {.eps = 0.0f})), Error);
  m = error_message([] { BatchNorm2D(2, {.momentum = 1.5f}); });
  EXPECT_TRUE(contains(m, "BatchNorm2D")) << m;
  EXPECT_TRUE(contains(m, "momentum")) << m;
  EXPECT_TRUE(contains(m, "1.5")) << m;
}

// A gradient check puts back all of the layer's state, the int64 count included.
TEST(BatchNorm2D, GradientCheckLeavesTheCountAsItWas) {
  BatchNorm2D bn(2);
  bn.num_batches_tracked() = 7;
  const GradCheckResult r = check_gradients(bn, {3, 2, 2, 3});
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(bn.num_batches_tracked(), 7);
}

// A Sequential runs a BatchNorm2D and the ReLU after it as one layer: the output, the
// input gradient, the parameter gradients and the running statistics are the same bits
// as the two layers run one after the other, in training and eval mode, batch 1 and
// odd planes included; values at the ReLU's kink (β of 0 on a plane of equal values, y
// exactly 0), a NaN, and β changed between forward and backward get the ReLU's answers.
TEST(BatchNorm2D, FusedWithTheReluAfterItGivesTheSameBits) {
  const auto same = [](const Tensor& a, const Tensor& b) {
    return shape_of(a) == shape_of(b) &&
           std::equal(a.begin(), a.end(), b.begin(), b.end(), [](float u, float v) {
             return u == v || (std::isnan(u) && std::isnan(v));
           });
  };
  for (const Shape& s : {Shape{4, 3, 5, 7}, Shape{1, 2, 3, 1}, Shape{2, 3, 1, 1}}) {
    Rng rng(31);
    Tensor x = zeros(s), dy = zeros(s);
    fill_uniform(x, -2, 2, rng);
    fill_uniform(dy, -1, 1, rng);
    x.data()[1] = std::nanf("");
    const std::size_t HW = s[2] * s[3], C = s[1];
    for (std::size_t n = 0; n < s[0]; ++n)  // the last channel constant: x̂ = 0, y = β = 0
      std::fill_n(x.data() + (n * C + C - 1) * HW, HW, 0.7f);
    Sequential fused;
    BatchNorm2D& bn = fused.add<BatchNorm2D>(s[1]);
    fused.add<ReLU>();
    fused.set_needs_input_grad(true);
    BatchNorm2D alone(s[1]);
    ReLU relu;
    for (BatchNorm2D* b : {&bn, &alone}) {
      b->weight() = Tensor(Shape{s[1]}, 0.8f);
      b->weight().data()[0] = -1.3f;
      b->bias() = Tensor(Shape{s[1]}, 0.25f);
      b->bias().data()[s[1] - 1] = 0.0f;
    }
    for (int step = 0; step < 2; ++step) {
      const Tensor y = fused.forward(x);
      const Tensor y1 = relu.forward(alone.forward(x));
      // β stepped between forward and backward: the mask stays the one forward applied.
      for (BatchNorm2D* b : {&bn, &alone})
        for (float& v : b->bias()) v += 0.3f;
      const Tensor dx = fused.backward(dy);
      const Tensor dx1 = alone.backward(relu.backward(dy));
      EXPECT_TRUE(same(y, y1)) << to_string(s);
      EXPECT_TRUE(same(dx, dx1)) << to_string(s);
      EXPECT_TRUE(same(bn.weight_grad(), alone.weight_grad())) << to_string(s);
      EXPECT_TRUE(same(bn.bias_grad(), alone.bias_grad())) << to_string(s);
      EXPECT_TRUE(same(bn.running_mean(), alone.running_mean())) << to_string(s);
      EXPECT_TRUE(same(bn.running_var(), alone.running_var())) << to_string(s);
      x.data()[1] = 0.5f;  // the second step without the NaN
    }
    fused.set_training(false);
    alone.set_training(false);
    relu.set_training(false);
    // (The first step's NaN went into the running statistics of its channel.)
    const Tensor y = fused.forward(x), y1 = relu.forward(alone.forward(x));
    EXPECT_TRUE(same(y, y1)) << to_string(s);
    for (float v : y) EXPECT_TRUE(std::isnan(v) || v >= 0.0f);
  }
}

// Only a BatchNorm2D right before a ReLU fuses; the check passes through both, nested in
// a Sequential after a convolution, on odd shapes.
TEST(BatchNorm2D, FusedWithTheReluAfterItPassesTheGradientCheck) {
  Sequential net;
  net.add(Conv2D(2, 3, 3, {.padding = 1}));
  net.add(BatchNorm2D(3));
  net.add(ReLU());
  net.add(BatchNorm2D(3));
  net.add(LeakyReLU(0.1f));  // not fused
  net.set_needs_input_grad(true);
  for (const Shape& s : {Shape{3, 2, 4, 5}, Shape{1, 2, 3, 2}}) {
    const GradCheckResult r = check_gradients(net, s);
    EXPECT_TRUE(r.ok) << to_string(s) << '\n' << r.summary();
  }
}
