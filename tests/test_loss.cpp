#include <gtest/gtest.h>

#include <cmath>
#include <minicnn/core/random.hpp>
#include <minicnn/core/tensor.hpp>
#include <minicnn/train/loss.hpp>
#include <string>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

TEST(SoftmaxCrossEntropy, HandComputed) {
  // Row 0: logits (1, 2, 3), label 2: lse = log(e + e² + e³) = 3.4076059644,
  //        loss 0.4076059644, softmax (0.0900306, 0.2447285, 0.6652410).
  // Row 1: logits (0, 0, 0), label 0: loss log 3 = 1.0986122887, softmax 1/3 each.
  const Tensor z = {{1.0f, 2.0f, 3.0f}, {0.0f, 0.0f, 0.0f}};
  const auto [loss, grad] = softmax_cross_entropy(z, {2, 0});
  EXPECT_NEAR(loss, (0.4076059644 + 1.0986122887) / 2, 1e-6);
  const Tensor want = {{0.0900306f / 2, 0.2447285f / 2, (0.6652410f - 1) / 2},
                       {(1.0f / 3 - 1) / 2, 1.0f / 6, 1.0f / 6}};
  ASSERT_EQ(shape_of(grad), (Shape{2, 3}));
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(grad.data()[i], want.data()[i], 1e-6);
}

TEST(SoftmaxCrossEntropy, HugeLogitsStayFinite) {
  const Tensor z = {{1e4f, 0.0f, -1e4f}, {-1e4f, 1e4f, 1e4f}};
  const auto [loss, grad] = softmax_cross_entropy(z, {1, 0});
  // Row 0 loses 1e4 (label 1 at 0 against 1e4); row 1 loses 2e4 + log 2.
  ASSERT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, (1e4 + 2e4 + std::log(2.0)) / 2, 1e-2);
  for (float g : grad) ASSERT_TRUE(std::isfinite(g));
  EXPECT_NEAR(grad(0, 0), 0.5f, 1e-6);
  EXPECT_NEAR(grad(0, 1), -0.5f, 1e-6);
  EXPECT_NEAR(grad(1, 0), -0.5f, 1e-6);
  EXPECT_NEAR(grad(1, 1), 0.25f, 1e-6);
  EXPECT_NEAR(grad(1, 2), 0.25f, 1e-6);
  // A confident right answer costs nothing.
  EXPECT_EQ(softmax_cross_entropy(Tensor{{1e4f, 0.0f}}, {0}).loss, 0.0f);
}

TEST(SoftmaxCrossEntropy, GradientMatchesCentralDifferences) {
  Rng rng(7);
  Tensor z = zeros({4, 5});
  fill_uniform(z, -3, 3, rng);
  const Labels y = {0, 4, 2, 2};
  const Tensor grad = softmax_cross_entropy(z, y).grad;
  const float eps = 1e-2f;
  for (std::size_t i = 0; i < z.size(); ++i) {
    const float keep = z.data()[i];
    z.data()[i] = keep + eps;
    const double up = softmax_cross_entropy(z, y).loss;
    z.data()[i] = keep - eps;
    const double down = softmax_cross_entropy(z, y).loss;
    z.data()[i] = keep;
    const double numeric = (up - down) / (2 * eps);
    const double scale = std::max({std::abs(numeric), std::abs(double(grad.data()[i])), 1.0});
    EXPECT_NEAR(grad.data()[i], numeric, 1e-3 * scale) << "element " << i;
  }
}

TEST(SoftmaxCrossEntropy, BadLabelsThrowNamingThem) {
  const Tensor z = zeros({2, 3});
  expect_error_naming([&] { softmax_cross_entropy(z, {0, 3}); },
                      {"softmax_cross_entropy", "label 3", "index 1", "[0, 3)", "(2, 3)"});
  expect_error_naming([&] { softmax_cross_entropy(z, {0, 1, 2}); },
                      {"3 labels", "(2, 3)", "N = 2"});
  EXPECT_THROW(softmax_cross_entropy(z, {0}), Error);
  EXPECT_THROW(softmax_cross_entropy(zeros({2, 3, 1}), {0, 0}), Error);
  EXPECT_THROW(softmax_cross_entropy(zeros({0, 3}), {}), Error);
}

TEST(SoftmaxCrossEntropy, LabelSmoothingHandComputed) {
  // ε = 0.3, K = 3: targets 0.1 off the label and 0.7 + 0.1 = 0.8 on it.
  // Row 0: logits (1, 2, 3), label 2: loss = lse − 0.8·3 − 0.1·(1 + 2) = 3.4076059644 − 2.7
  //        = 0.7076059644; softmax (0.0900306, 0.2447285, 0.6652410) minus (0.1, 0.1, 0.8).
  // Row 1: logits (0, 0, 0), label 0: loss log 3 whatever the target; 1/3 minus (0.8, 0.1, 0.1).
  const Tensor z = {{1.0f, 2.0f, 3.0f}, {0.0f, 0.0f, 0.0f}};
  const auto [loss, grad] = softmax_cross_entropy(z, {2, 0}, /*label_smoothing=*/0.3f);
  EXPECT_NEAR(loss, (0.7076059644 + 1.0986122887) / 2, 1e-6);
  const Tensor want = {{(0.0900306f - 0.1f) / 2, (0.2447285f - 0.1f) / 2, (0.6652410f - 0.8f) / 2},
                       {(1.0f / 3 - 0.8f) / 2, (1.0f / 3 - 0.1f) / 2, (1.0f / 3 - 0.1f) / 2}};
  ASSERT_EQ(shape_of(grad), (Shape{2, 3}));
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(grad.data()[i], want.data()[i], 1e-6);
  // Each row's gradient sums to zero, as softmax and target both sum to one.
  EXPECT_NEAR(grad(0, 0) + grad(0, 1) + grad(0, 2), 0.0f, 1e-7);
}

TEST(SoftmaxCrossEntropy, LabelSmoothingZeroIsThePlainLossBitForBit) {
  Rng rng(3);
  Tensor z = zeros({6, 10});
  fill_uniform(z, -4, 4, rng);
  const Labels y = {0, 9, 3, 3, 7, 1};
  const LossResult plain = softmax_cross_entropy(z, y);
  const LossResult zero = softmax_cross_entropy(z, y, 0.0f);
  EXPECT_EQ(plain.loss, zero.loss);
  for (std::size_t i = 0; i < z.size(); ++i) ASSERT_EQ(plain.grad.data()[i], zero.grad.data()[i]);
  // Full smoothing: the target is uniform, so the loss is lse − mean(z).
  const LossResult full = softmax_cross_entropy(Tensor{{1.0f, 2.0f, 3.0f}}, {0}, 1.0f);
  EXPECT_NEAR(full.loss, 3.4076059644 - 2.0, 1e-6);
}

TEST(SoftmaxCrossEntropy, LabelSmoothingGradientMatchesCentralDifferences) {
  Rng rng(11);
  Tensor z = zeros({4, 5});
  fill_uniform(z, -3, 3, rng);
  const Labels y = {1, 4, 0, 1};
  for (const float eps : {0.1f, 0.5f}) {
    const Tensor grad = softmax_cross_entropy(z, y, eps).grad;
    const float h = 1e-2f;
    for (std::size_t i = 0; i < z.size(); ++i) {
      const float keep = z.data()[i];
      z.data()[i] = keep + h;
      const double up = softmax_cross_entropy(z, y, eps).loss;
      z.data()[i] = keep - h;
      const double down = softmax_cross_entropy(z, y, eps).loss;
      z.data()[i] = keep;
      const double numeric = (up - down) / (2 * h);
      const double scale = std::max({std::abs(numeric), std::abs(double(grad.data()[i])), 1.0});
      EXPECT_NEAR(grad.data()[i], numeric, 1e-3 * scale) << "ε " << eps << ", element " << i;
    }
  }
}

TEST(SoftmaxCrossEntropy, BadLabelSmoothingThrowsNamingIt) {
  const Tensor z = zeros({2, 3});
  expect_error_naming([&] { softmax_cross_entropy(z, {0, 1}, 1.5f); },
                      {"softmax_cross_entropy", "label_smoothing", "[0, 1]", "1.5"});
  EXPECT_THROW(softmax_cross_entropy(z, {0, 1}, -0.1f), Error);
  EXPECT_THROW(softmax_cross_entropy(z, {0, 1}, std::nanf("")), Error);
}

TEST(Mse, HandComputed) {
  // Differences (0, 2, 3): loss (0 + 4 + 9) / 3, grad 2·(0, 2, 3) / 3.
  const Tensor y = {{1.0f, 2.0f, 3.0f}};
  const Tensor t = {{1.0f, 0.0f, 0.0f}};
  const auto [loss, grad] = mse(y, t);
  EXPECT_NEAR(loss, 13.0f / 3, 1e-6);
  EXPECT_NEAR(grad(0, 0), 0.0f, 1e-7);
  EXPECT_NEAR(grad(0, 1), 4.0f / 3, 1e-6);
  EXPECT_NEAR(grad(0, 2), 2.0f, 1e-6);
}

TEST(Mse, ShapeMismatchThrowsNamingBoth) {
  expect_error_naming([&] { mse(zeros({2, 3}), zeros({3, 2})); }, {"mse", "(2, 3)", "(3, 2)"});
}
