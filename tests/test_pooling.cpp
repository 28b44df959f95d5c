#include <minicnn/core/random.hpp>
#include <minicnn/core/tensor.hpp>
#include <minicnn/layers/gradcheck.hpp>
#include <minicnn/layers/pooling.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>

using namespace minicnn;
using namespace minicnn::testing;

namespace {

// A tensor of the given shape holding the given values in row-major order (nested
// braces cannot spell a tensor whose inner sizes are all 1).
Tensor make(const Shape& s, std::initializer_list<float> values) {
  Tensor t = Tensor::from_shape(s);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

// Reference max pooling, straight from the definition, padding as −inf.
Tensor max_pool_ref(const Tensor& x, std::size_t k, std::size_t s, std::size_t p) {
  const std::size_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const std::size_t OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
  Tensor y = zeros({N, C, OH, OW});
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t oh = 0; oh < OH; ++oh)
        for (std::size_t ow = 0; ow < OW; ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          for (std::size_t i = 0; i < k; ++i)
            for (std::size_t j = 0; j < k; ++j) {
              const long h = long(oh * s + i) - long(p), w = long(ow * s + j) - long(p);
              if (h >= 0 && h < long(H) && w >= 0 && w < long(W))
                best = std::max(best, x(n, c, h, w));
            }
          y(n, c, oh, ow) = best;
        }
  return y;
}

}  // namespace

TEST(MaxPool2D, HandComputedRoutesToTheFirstOfATie) {
  MaxPool2D pool(2);
  const Tensor x = {{{{1, 3, 2, 2},    //
                      {3, 0, 2, 1},    //
                      {5, 6, 7, 8},    //
                      {4, 6, 9, 9}}}};
  // Windows: {1,3,3,0} -> 3 (tie: the first, at (0,1)); {2,2,2,1} -> 2 at (0,2);
  // {5,6,4,6} -> 6 at (2,1); {7,8,9,9} -> 9 at (3,2).
  expect_near(pool.forward(x), Tensor{{{{3, 2}, {6, 9}}}});
  const Tensor dx = pool.backward(Tensor{{{{1, 2}, {3, 4}}}}).value();
  expect_near(dx, Tensor{{{{0, 1, 2, 0},  //
                           {0, 0, 0, 0},  //
                           {0, 3, 0, 0},  //
                           {0, 0, 4, 0}}}});
}

TEST(MaxPool2D, TwoByTwoKeepsTheRulesOfTheGeneralLoop) {
  // The branch-free 2×2 path (the one MNIST models take): a NaN wins its window
  // wherever it lies, a tie goes to the first, −inf loses to anything but −inf.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  MaxPool2D pool(2);
  const Tensor x = {{{{1, 9, 5, 5, -inf, -inf},  //
                      {nan, 3, 5, 5, -inf, -inf},  //
                      {2, 2, 0, -1, -inf, 4},      //
                      {2, nan, 7, -2, -inf, -inf}}}};
  const Tensor y = pool.forward(x);
  EXPECT_TRUE(std::isnan(y(0, 0, 0, 0)));
  EXPECT_EQ(y(0, 0, 0, 1), 5.0f);
  EXPECT_EQ(y(0, 0, 0, 2), -inf);
  EXPECT_TRUE(std::isnan(y(0, 0, 1, 0)));
  EXPECT_EQ(y(0, 0, 1, 1), 7.0f);
  EXPECT_EQ(y(0, 0, 1, 2), 4.0f);
  expect_near(pool.backward(Tensor{{{{1, 2, 3}, {4, 5, 6}}}}).value(),
              Tensor{{{{0, 0, 2, 0, 3, 0},  //
                       {1, 0, 0, 0, 0, 0},  //
                       {0, 0, 0, 0, 0, 6},  //
                       {0, 4, 5, 0, 0, 0}}}});
}

TEST(MaxPool2D, PaddingIsMinusInfinity) {
  // Every value negative: zero padding would win every window; −inf padding never does.
  MaxPool2D pool(3, {.stride = 2, .padding = 1});
  const Tensor x = {{{{-1, -2, -3}, {-4, -5, -6}, {-7, -8, -9}}}};
  expect_near(pool.forward(x), Tensor{{{{-1, -2}, {-4, -5}}}});
  expect_near(pool.backward(Tensor{{{{1, 2}, {3, 4}}}}).value(),
              Tensor{{{{1, 2, 0}, {3, 4, 0}, {0, 0, 0}}}});
}

TEST(MaxPool2D, OverlappingWindowsAccumulateIntoOneInput) {
  // Kernel 3, stride 1: both windows of the row hold the 9, which gets both gradients.
  MaxPool2D pool(3, {.stride = 1});
  const Tensor x = {{{{1, 2, 3, 4}, {5, 9, 6, 7}, {0, 1, 2, 3}}}};
  expect_near(pool.forward(x), Tensor{{{{9, 9}}}});
  expect_near(pool.backward(Tensor{{{{1, 10}}}}).value(),
              Tensor{{{{0, 0, 0, 0}, {0, 11, 0, 0}, {0, 0, 0, 0}}}});
}

TEST(MaxPool2D, MatchesTheReferenceOnAGrid) {
  Rng rng(11);
  struct Case {
    Shape x;
    std::size_t k, s, p;
  };
  const Case cases[] = {{{2, 3, 7, 6}, 3, 2, 1}, {{1, 1, 5, 7}, 2, 2, 0}, {{1, 2, 4, 5}, 2, 1, 0},
                        {{3, 1, 9, 4}, 4, 3, 2}, {{1, 1, 1, 1}, 1, 1, 0}};
  for (const Case& c : cases) {
    Tensor x = Tensor::from_shape(c.x);
    fill_uniform(x, -1, 1, rng);
    MaxPool2D pool(c.k, {.stride = c.s, .padding = c.p});
    expect_near(pool.forward(x), max_pool_ref(x, c.k, c.s, c.p), 0.0f);
  }
}

TEST(AvgPool2D, HandComputedWithPaddingCountedInTheDivisor) {
  // 3x3 input 1..9, kernel 2, stride 2, padding 1: every window divides by 4.
  AvgPool2D pool(2, {.padding = 1});
  const Tensor x = {{{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}}};
  // (0,0): {1}/4; (0,1): {2,3}/4; (1,0): {4,7}/4; (1,1): {5,6,8,9}/4
  expect_near(pool.forward(x), Tensor{{{{0.25f, 1.25f}, {2.75f, 7.0f}}}});
  // Each input takes dy/4 of the one window it is in.
  expect_near(pool.backward(Tensor{{{{4, 8}, {12, 16}}}}).value(),
              Tensor{{{{1, 2, 2}, {3, 4, 4}, {3, 4, 4}}}});
}

TEST(AvgPool2D, HandComputedWithoutPadding) {
  AvgPool2D pool(2);
  const Tensor x = {{{{1, 2, 3, 4}, {5, 6, 7, 8}}}, {{{0, 0, 4, 4}, {0, 0, 4, 4}}}};
  expect_near(pool.forward(x), Tensor{{{{3.5f, 5.5f}}}, {{{0.0f, 4.0f}}}});
}

TEST(GlobalAvgPool2D, HandComputed) {
  GlobalAvgPool2D gap;
  const Tensor x = {{{{1, 2}, {3, 4}}, {{-1, 1}, {0, 4}}}};
  expect_near(gap.forward(x), make({1, 2, 1, 1}, {2.5f, 1.0f}));
  expect_near(gap.backward(make({1, 2, 1, 1}, {4, 8})).value(),
              Tensor{{{{1, 1}, {1, 1}}, {{2, 2}, {2, 2}}}});
}

TEST(Pooling, GradientsCheckOnOddShapes) {
  MaxPool2D max2(2);
  expect_gradcheck(max2, {1, 1, 5, 7});
  MaxPool2D max3(3, {.stride = 2, .padding = 1});
  expect_gradcheck(max3, {2, 3, 7, 6});
  MaxPool2D overlap(2, {.stride = 1});
  expect_gradcheck(overlap, {1, 2, 4, 5});
  MaxPool2D wide(3, {.stride = 4});  // stride larger than the kernel: gaps between windows
  expect_gradcheck(wide, {1, 2, 9, 8});
  AvgPool2D avg3(3, {.stride = 2, .padding = 1});
  expect_gradcheck(avg3, {2, 3, 7, 6});
  AvgPool2D avg2(2);
  expect_gradcheck(avg2, {1, 1, 5, 7});
  AvgPool2D avg_overlap(3, {.stride = 1, .padding = 1});
  expect_gradcheck(avg_overlap, {1, 1, 4, 3});
  GlobalAvgPool2D gap;
  expect_gradcheck(gap, {2, 3, 5, 7});
  expect_gradcheck(gap, {1, 1, 1, 1});
}

TEST(Pooling, EvalModeAndBackwardWithoutForward) {
  const Tensor x = {{{{1, 2}, {3, 4}}}};
  const Tensor dy = make({1, 1, 1, 1}, {1});
  MaxPool2D max2(2);
  AvgPool2D avg2(2);
  GlobalAvgPool2D gap;
  for (Layer* layer : std::initializer_list<Layer*>{&max2, &avg2, &gap}) {
    EXPECT_THROW(layer->backward(dy), Error) << layer->name();
    const std::string m = error_message([&] { layer->backward(dy); });
    EXPECT_TRUE(contains(m, layer->name())) << m;
    EXPECT_TRUE(contains(m, "without a forward")) << m;
    layer->forward(x);
    EXPECT_NO_THROW(layer->backward(dy)) << layer->name();
    layer->set_training(false);
    const Tensor y = layer->forward(x);
    EXPECT_EQ(y.size(), 1u);
    EXPECT_THROW(layer->backward(dy), Error) << layer->name();
  }
  max2.set_training(false);
  EXPECT_EQ(max2.forward(x)(0), 4.0f);
}

TEST(Pooling, WithoutInputGradBackwardReturnsEmpty) {
  MaxPool2D pool(2);
  pool.set_needs_input_grad(false);
  pool.forward(zeros({1, 1, 2, 2}));
  EXPECT_FALSE(pool.backward(zeros({1, 1, 1, 1})).has_value());
}

TEST(Pooling, ShapesNamesAndFlops) {
  MaxPool2D pool(2);
  EXPECT_EQ(pool.name(), "MaxPool2D(2x2, stride 2)");
  EXPECT_EQ(pool.stride(), 2u);
  EXPECT_EQ(pool.output_shape({64, 20, 24, 24}), (Shape{64, 20, 12, 12}));
  EXPECT_EQ(pool.output_shape({1, 1, 5, 7}), (Shape{1, 1, 2, 3}));  // the last row is dropped
  EXPECT_EQ(pool.flops({1, 2, 4, 4}), 2.0 * 4 * 4);
  AvgPool2D avg(3, {.stride = 2, .padding = 1});
  EXPECT_EQ(avg.name(), "AvgPool2D(3x3, stride 2, padding 1)");
  EXPECT_EQ(avg.output_shape({2, 3, 7, 6}), (Shape{2, 3, 4, 3}));
  GlobalAvgPool2D gap;
  EXPECT_EQ(gap.output_shape({8, 16, 7, 5}), (Shape{8, 16, 1, 1}));
  EXPECT_EQ(gap.flops({8, 16, 7, 5}), 8.0 * 16 * 7 * 5);
  EXPECT_TRUE(pool.parameters().empty());
}

TEST(Pooling, BadOptionsThrowNamingTheValue) {
  EXPECT_THROW(MaxPool2D{0}, Error);
  EXPECT_THROW((AvgPool2D{2, {.stride = 0}}), Error);
  EXPECT_THROW((MaxPool2D{2, {.padding = 2}}), Error);
  const std::string m = error_message([] { MaxPool2D(3, {.padding = 2}); });
  EXPECT_TRUE(contains(m, "MaxPool2D")) << m;
  EXPECT_TRUE(contains(m, "padding")) << m;
  EXPECT_TRUE(contains(m, "got 2")) << m;
}

TEST(Pooling, BadInputThrowsNamingLayerAndShapes) {
  MaxPool2D pool(2);
  EXPECT_THROW(pool.forward(zeros({1, 4, 4})), Error);
  std::string m = error_message([&] { pool.forward(zeros({1, 4, 4})); });
  EXPECT_TRUE(contains(m, "MaxPool2D(2x2, stride 2)")) << m;
  EXPECT_TRUE(contains(m, "rank 4")) << m;
  EXPECT_TRUE(contains(m, "(1, 4, 4)")) << m;

  MaxPool2D big(5);
  EXPECT_THROW(big.forward(zeros({1, 1, 3, 8})), Error);
  m = error_message([&] { big.forward(zeros({1, 1, 3, 8})); });
  EXPECT_TRUE(contains(m, "MaxPool2D(5x5, stride 5)")) << m;
  EXPECT_TRUE(contains(m, "size 5")) << m;
  EXPECT_TRUE(contains(m, "input 3")) << m;

  AvgPool2D avg(2);
  avg.forward(zeros({1, 2, 4, 4}));
  EXPECT_THROW(avg.backward(zeros({1, 2, 3, 2})), Error);
  m = error_message([&] { avg.backward(zeros({1, 2, 3, 2})); });
  EXPECT_TRUE(contains(m, "AvgPool2D")) << m;
  EXPECT_TRUE(contains(m, "(1, 2, 2, 2)")) << m;
  EXPECT_TRUE(contains(m, "(1, 2, 3, 2)")) << m;

  GlobalAvgPool2D gap;
  EXPECT_THROW(gap.forward(zeros({2, 3})), Error);
  m = error_message([&] { gap.forward(zeros({2, 3})); });
  EXPECT_TRUE(contains(m, "GlobalAvgPool2D")) << m;
  EXPECT_TRUE(contains(m, "(2, 3)")) << m;
  EXPECT_THROW(gap.forward(zeros({2, 3, 0, 4})), Error);
}

TEST(Pooling, LargeInputsMatchTheReference) {
  // Past the parallel threshold, so the planes go to several threads.
  Rng rng(12);
  Tensor x = Tensor::from_shape(Shape{4, 8, 33, 31});
  fill_uniform(x, -1, 1, rng);
  MaxPool2D pool(3, {.stride = 2, .padding = 1});
  expect_near(pool.forward(x), max_pool_ref(x, 3, 2, 1), 0.0f);
  const Tensor dx = pool.backward(Tensor(pool.output_shape(shape_of(x)), 1.0f)).value();
  double total = 0.0;
  for (std::size_t i = 0; i < dx.size(); ++i) total += dx.data()[i];
  EXPECT_EQ(total, double(numel(pool.output_shape(shape_of(x)))));
}
