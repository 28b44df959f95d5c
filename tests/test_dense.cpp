#include <minicnn/core/random.hpp>
#include <minicnn/core/tensor.hpp>
#include <minicnn/layers/dense.hpp>
#include <minicnn/layers/gradcheck.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <string>

using namespace minicnn;
using namespace minicnn::testing;

namespace {

void expect_close(const Tensor& actual, const Tensor& expected, float tol = 1e-5f) {
  expect_near(actual, expected, tol);
}

// The 2x3 example: W = [[1, 0, -1], [0.5, 0.5, 0.5]], b = [0.1, -0.2].
Dense example_layer() {
  Dense d(3, 2);
  d.weight() = Tensor{{1.0f, 0.0f, -1.0f}, {0.5f, 0.5f, 0.5f}};
  d.bias() = Tensor{0.1f, -0.2f};
  return d;
}

}  // namespace

TEST(Dense, HandComputed2x3) {
  Dense d = example_layer();
  const Tensor x = {{1, 2, 3}, {4, 5, 6}};
  // y = x·Wᵀ + b: row 1: 1 − 3 + 0.1, 3 − 0.2; row 2: 4 − 6 + 0.1, 7.5 − 0.2
  expect_close(d.forward(x), Tensor{{-1.9f, 2.8f}, {-1.9f, 7.3f}});
  const Tensor dy = {{1, 2}, {3, -1}};
  // dx = dy·W
  expect_close(d.backward(dy).value(), Tensor{{2.0f, 1.0f, 0.0f}, {2.5f, -0.5f, -3.5f}});
  // dW = dyᵀ·x, db = column sums of dy
  expect_close(d.weight_grad(), Tensor{{13, 17, 21}, {-2, -1, 0}});
  expect_close(d.bias_grad(), Tensor{4, 1});
}

TEST(Dense, GradientsAccumulateUntilZeroGrad) {
  Dense d = example_layer();
  const Tensor x = {{1, 2, 3}, {4, 5, 6}};
  const Tensor dy = {{1, 2}, {3, -1}};
  d.forward(x);
  d.backward(dy);
  d.backward(dy);
  expect_close(d.weight_grad(), Tensor{{26, 34, 42}, {-4, -2, 0}});
  expect_close(d.bias_grad(), Tensor{8, 2});
  d.zero_grad();
  expect_close(d.weight_grad(), zeros({2, 3}));
  expect_close(d.bias_grad(), zeros({2}));
  d.forward(x);
  d.backward(dy);
  expect_close(d.bias_grad(), Tensor{4, 1});
}

TEST(Dense, GradientsCheckOnOddShapes) {
  Rng rng(2);
  Dense a(7, 5, true, rng);
  GradCheckResult r = check_gradients(a, {1, 7});
  EXPECT_TRUE(r.ok) << r.summary();
  Dense b(3, 4, /*bias=*/false, rng);
  r = check_gradients(b, {5, 3});
  EXPECT_TRUE(r.ok) << r.summary();
  ASSERT_EQ(r.tensors.size(), 2u);  // input and weight only
  Dense c(1, 1, true, rng);
  r = check_gradients(c, {3, 1});
  EXPECT_TRUE(r.ok) << r.summary();
}

TEST(Dense, ParametersAreNamedAsInPyTorch) {
  Dense d(4, 3);
  auto p = d.parameters();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "weight");
  EXPECT_EQ(p[0].value, &d.weight());
  EXPECT_EQ(p[0].grad, &d.weight_grad());
  EXPECT_EQ(p[1].name, "bias");
  EXPECT_EQ(shape_of(*p[0].value), (Shape{3, 4}));
  EXPECT_EQ(shape_of(*p[1].value), (Shape{3}));
  EXPECT_TRUE(d.buffers().empty());
  Dense nb(4, 3, false);
  ASSERT_EQ(nb.parameters().size(), 1u);
  EXPECT_FALSE(nb.has_bias());
  EXPECT_EQ(nb.name(), "Dense(4->3, no bias)");
  EXPECT_EQ(d.name(), "Dense(4->3)");
}

TEST(Dense, HeNormalInitAndZeroBias) {
  Rng rng(3);
  Dense d(400, 50, true, rng);
  const Tensor& w = d.weight();
  double sum = 0, sq = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    sum += w.data()[i];
    sq += double(w.data()[i]) * w.data()[i];
  }
  const double n = double(w.size()), mean = sum / n, std = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(std, std::sqrt(2.0 / 400.0), 0.05 * std::sqrt(2.0 / 400.0));
  for (std::size_t i = 0; i < d.bias().size(); ++i) EXPECT_EQ(d.bias().data()[i], 0.0f);
  // The same seed gives the same weights.
  Rng again(3);
  Dense e(400, 50, true, again);
  EXPECT_EQ(d.weight(), e.weight());
}

TEST(Dense, WithoutInputGradStillFillsParameterGradients) {
  Dense d = example_layer();
  d.set_needs_input_grad(false);
  d.forward(Tensor{{1, 2, 3}, {4, 5, 6}});
  EXPECT_FALSE(d.backward(Tensor{{1, 2}, {3, -1}}).has_value());
  expect_close(d.bias_grad(), Tensor{4, 1});
}

TEST(Dense, EvalModeAndBackwardWithoutForward) {
  Dense d = example_layer();
  const Tensor dy = {{1, 2}};
  EXPECT_THROW(d.backward(dy), Error);
  const std::string m = error_message([&] { d.backward(dy); });
  EXPECT_TRUE(contains(m, "Dense(3->2)")) << m;
  EXPECT_TRUE(contains(m, "without a forward")) << m;
  d.set_training(false);
  expect_close(d.forward(Tensor{{1, 2, 3}}), Tensor{{-1.9f, 2.8f}});
  EXPECT_THROW(d.backward(dy), Error);
  expect_close(d.weight_grad(), zeros({2, 3}));  // nothing was added
}

TEST(Dense, BadInputThrowsNamingLayerAndShapes) {
  Dense d(3, 2);
  EXPECT_THROW(d.forward(zeros({2, 4})), Error);
  std::string m = error_message([&] { d.forward(zeros({2, 4})); });
  EXPECT_TRUE(contains(m, "Dense(3->2)")) << m;
  EXPECT_TRUE(contains(m, "(2, 3)")) << m;
  EXPECT_TRUE(contains(m, "(2, 4)")) << m;

  m = error_message([&] { d.forward(zeros({2, 3, 1, 1})); });
  EXPECT_TRUE(contains(m, "rank 2")) << m;
  EXPECT_TRUE(contains(m, "(2, 3, 1, 1)")) << m;

  d.forward(zeros({2, 3}));
  m = error_message([&] { d.backward(zeros({3, 2})); });
  EXPECT_TRUE(contains(m, "dy")) << m;
  EXPECT_TRUE(contains(m, "(2, 2)")) << m;
  EXPECT_TRUE(contains(m, "(3, 2)")) << m;

  // A weight replaced by one of another shape is caught before any product reads it.
  d.weight() = zeros({3, 3});
  m = error_message([&] { d.forward(zeros({2, 3})); });
  EXPECT_TRUE(contains(m, "weight")) << m;
  EXPECT_TRUE(contains(m, "(3, 3)")) << m;

  EXPECT_THROW(Dense(0, 2), Error);
  m = error_message([] { Dense(4, 0); });
  EXPECT_TRUE(contains(m, "Dense")) << m;
  EXPECT_TRUE(contains(m, "out")) << m;
  EXPECT_TRUE(contains(m, "got 0")) << m;
}

TEST(Dense, ShapesAndFlops) {
  Dense d(784, 10);
  EXPECT_EQ(d.output_shape({64, 784}), (Shape{64, 10}));
  EXPECT_EQ(d.flops({64, 784}), 2.0 * 64 * 784 * 10 + 64 * 10);
  EXPECT_EQ(d.in_features(), 784u);
  EXPECT_EQ(d.out_features(), 10u);
}
