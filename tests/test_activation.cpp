#include <minicnn/core/tensor.hpp>
#include <minicnn/layers/activation.hpp>
#include <minicnn/layers/gradcheck.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <limits>
#include <string>

using namespace minicnn;
using namespace minicnn::testing;

TEST(ReLU, HandComputed) {
  ReLU relu;
  const Tensor x = {-2.0f, -0.5f, 0.0f, 1.5f, 3.0f};
  expect_near(relu.forward(x), Tensor{0.0f, 0.0f, 0.0f, 1.5f, 3.0f});
  // The gradient at 0 is taken as 0, as PyTorch does.
  expect_near(relu.backward(Tensor{1.0f, 2.0f, 3.0f, 4.0f, 5.0f}).value(),
              Tensor{0.0f, 0.0f, 0.0f, 4.0f, 5.0f});
}

TEST(LeakyReLU, HandComputed) {
  LeakyReLU leaky(0.1f);
  EXPECT_EQ(leaky.name(), "LeakyReLU(0.1)");
  EXPECT_EQ(LeakyReLU().slope(), 0.01f);
  const Tensor x = {{-2.0f, 0.0f}, {3.0f, -0.5f}};
  expect_near(leaky.forward(x), Tensor{{-0.2f, 0.0f}, {3.0f, -0.05f}});
  expect_near(leaky.backward(Tensor{{1.0f, 2.0f}, {3.0f, 4.0f}}).value(),
              Tensor{{0.1f, 0.2f}, {3.0f, 0.4f}});
}

TEST(Sigmoid, HandComputedAndFiniteAtTheExtremes) {
  Sigmoid sig;
  const Tensor x = {0.0f, std::log(3.0f), -100.0f, 100.0f};
  expect_near(sig.forward(x), Tensor{0.5f, 0.75f, 0.0f, 1.0f});
  // dx = dy·y·(1 − y)
  expect_near(sig.backward(Tensor{1.0f, 2.0f, 1.0f, 1.0f}).value(), Tensor{0.25f, 0.375f, 0.0f, 0.0f});
}

TEST(Tanh, HandComputed) {
  Tanh tanh_layer;
  const Tensor x = {0.0f, std::atanh(0.5f), -std::atanh(0.5f)};
  expect_near(tanh_layer.forward(x), Tensor{0.0f, 0.5f, -0.5f});
  expect_near(tanh_layer.backward(Tensor{1.0f, 1.0f, 2.0f}).value(), Tensor{1.0f, 0.75f, 1.5f});
}

TEST(Softmax, HandComputedAndStableForLargeLogits) {
  Softmax sm;
  // exp gives 1, 2, 5 over a sum of 8; a row of huge equal logits stays finite.
  const Tensor x = {{0.0f, std::log(2.0f), std::log(5.0f)}, {1000.0f, 1000.0f, -1000.0f}};
  const Tensor y = sm.forward(x);
  expect_near(y, Tensor{{0.125f, 0.25f, 0.625f}, {0.5f, 0.5f, 0.0f}});
  // dx[k] = y[k]·(dy[k] − Σ dy·y); dy = e0 on the first row, a constant on the second.
  const Tensor dx = sm.backward(Tensor{{1.0f, 0.0f, 0.0f}, {3.0f, 3.0f, 3.0f}}).value();
  expect_near(dx, Tensor{{0.109375f, -0.03125f, -0.078125f}, {0.0f, 0.0f, 0.0f}});
}

TEST(Activations, GradientsCheckOnOddShapes) {
  ReLU relu;
  expect_gradcheck(relu, {2, 3, 5});
  expect_gradcheck(relu, {1, 1, 1, 7});
  LeakyReLU leaky(0.2f);
  expect_gradcheck(leaky, {3, 1, 4, 5});
  LeakyReLU negative(-0.5f);  // a negative slope is allowed and still differentiable
  expect_gradcheck(negative, {2, 9});
  Sigmoid sig;
  expect_gradcheck(sig, {1, 7}, {.input_lo = -4.0f, .input_hi = 4.0f});
  expect_gradcheck(sig, {2, 3, 5, 1});
  Tanh tanh_layer;
  expect_gradcheck(tanh_layer, {2, 3, 5, 1}, {.input_lo = -2.0f, .input_hi = 2.0f});
  expect_gradcheck(tanh_layer, {1, 1});
  Softmax sm;
  expect_gradcheck(sm, {5, 3}, {.input_lo = -3.0f, .input_hi = 3.0f});
  expect_gradcheck(sm, {1, 10});
}

TEST(Activations, EvalModeKeepsNothingAndBackwardThrows) {
  Sigmoid sig;
  const Tensor x = {{0.5f, -1.0f}};
  const Tensor y_train = sig.forward(x);
  sig.set_training(false);
  expect_near(sig.forward(x), y_train);  // same output in eval mode
  EXPECT_THROW(sig.backward(y_train), Error);
  // A training forward before an eval one does not count: backward refers to the latest.
  sig.set_training(true);
  sig.forward(x);
  sig.set_training(false);
  sig.forward(x);
  const std::string m = error_message([&] { sig.backward(y_train); });
  EXPECT_TRUE(contains(m, "Sigmoid")) << m;
  EXPECT_TRUE(contains(m, "without a forward")) << m;

  Softmax sm;
  EXPECT_THROW(sm.backward(x), Error);
  sm.set_training(false);
  sm.forward(x);
  EXPECT_THROW(sm.backward(x), Error);
}

TEST(Activations, BackwardWithoutForwardThrows) {
  ReLU relu;
  LeakyReLU leaky;
  Tanh tanh_layer;
  const Tensor dy = {1.0f};
  EXPECT_THROW(relu.backward(dy), Error);
  EXPECT_THROW(leaky.backward(dy), Error);
  EXPECT_THROW(tanh_layer.backward(dy), Error);
  const std::string m = error_message([&] { leaky.backward(dy); });
  EXPECT_TRUE(contains(m, "LeakyReLU(0.01)")) << m;
}

TEST(Activations, WithoutInputGradBackwardReturnsEmpty) {
  Tanh tanh_layer;
  tanh_layer.set_needs_input_grad(false);
  const Tensor x = {0.1f, 0.2f};
  tanh_layer.forward(x);
  EXPECT_FALSE(tanh_layer.backward(x).has_value());
  // It still checks dy.
  EXPECT_THROW(tanh_layer.backward(Tensor{1.0f}), Error);
}

TEST(Activations, ReturnedGradientIsFresh) {
  ReLU relu;
  const Tensor x = {1.0f, -1.0f, 2.0f};
  relu.forward(x);
  Tensor dx1 = relu.backward(Tensor{1.0f, 1.0f, 1.0f}).value();
  const Tensor dx2 = relu.backward(Tensor{1.0f, 1.0f, 1.0f}).value();
  expect_near(dx1, dx2);
  dx1(0) = 42.0f;  // writing to one does not touch the layer or the other
  expect_near(relu.backward(Tensor{1.0f, 1.0f, 1.0f}).value(), Tensor{1.0f, 0.0f, 1.0f});
}

TEST(Activations, NaNPropagates) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ReLU relu;
  EXPECT_TRUE(std::isnan(relu.forward(Tensor{nan})(0)));
  Softmax sm;
  const Tensor y = sm.forward(Tensor{{nan, 1.0f}});
  EXPECT_TRUE(std::isnan(y(0, 0)));
}

TEST(Activations, BadInputThrowsNamingLayerAndShapes) {
  ReLU relu;
  relu.forward(zeros({2, 3}));
  EXPECT_THROW(relu.backward(zeros({3, 2})), Error);
  std::string m = error_message([&] { relu.backward(zeros({3, 2})); });
  EXPECT_TRUE(contains(m, "ReLU")) << m;
  EXPECT_TRUE(contains(m, "dy")) << m;
  EXPECT_TRUE(contains(m, "(2, 3)")) << m;
  EXPECT_TRUE(contains(m, "(3, 2)")) << m;

  Softmax sm;
  EXPECT_THROW(sm.forward(zeros({2, 3, 4})), Error);
  m = error_message([&] { sm.forward(zeros({2, 3, 4})); });
  EXPECT_TRUE(contains(m, "Softmax")) << m;
  EXPECT_TRUE(contains(m, "rank 2")) << m;
  EXPECT_TRUE(contains(m, "(2, 3, 4)")) << m;
  EXPECT_THROW(sm.forward(zeros({2, 0})), Error);
  EXPECT_THROW(sm.output_shape({7}), Error);

  EXPECT_THROW(LeakyReLU{std::numeric_limits<float>::infinity()}, Error);
  m = error_message([] { LeakyReLU{std::numeric_limits<float>::quiet_NaN()}; });
  EXPECT_TRUE(contains(m, "LeakyReLU")) << m;
  EXPECT_TRUE(contains(m, "slope")) << m;
  EXPECT_TRUE(contains(m, "nan")) << m;
}

TEST(Activations, ShapesNamesAndFlops) {
  ReLU relu;
  EXPECT_EQ(relu.output_shape({4, 3, 2, 1}), (Shape{4, 3, 2, 1}));
  EXPECT_EQ(relu.flops({4, 3, 2, 1}), 24.0);
  EXPECT_TRUE(relu.parameters().empty());
  EXPECT_EQ(Sigmoid().name(), "Sigmoid");
  EXPECT_EQ(Tanh().name(), "Tanh");
  EXPECT_EQ(Softmax().output_shape({8, 10}), (Shape{8, 10}));
  EXPECT_GT(Softmax().flops({8, 10}), 0.0);
}

TEST(Activations, LargeInputsUseEveryThreadAndMatchSmallOnes) {
  // Past the parallel threshold the result is the same, element by element.
  Tanh tanh_layer;
  Tensor x = Tensor::from_shape(Shape{3, 100000});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::sin(0.001f * float(i));
  const Tensor y = tanh_layer.forward(x);
  for (std::size_t i = 0; i < x.size(); i += 997)
    ASSERT_EQ(y.data()[i], std::tanh(x.data()[i])) << i;
}
