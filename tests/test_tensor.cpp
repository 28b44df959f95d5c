#include <minicnn/core/tensor.hpp>

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

TEST(Tensor, ToStringFormatsShapes) {
  EXPECT_EQ(to_string({64, 1, 28, 28}), "(64, 1, 28, 28)");
  EXPECT_EQ(to_string({10}), "(10,)");
  EXPECT_EQ(to_string({}), "()");
}

TEST(Tensor, ShapeOfAndNumel) {
  Tensor t = zeros({2, 3, 4});
  EXPECT_EQ(shape_of(t), (Shape{2, 3, 4}));
  EXPECT_EQ(numel(shape_of(t)), 24u);
  EXPECT_EQ(t(1, 2, 3), 0.0f);
}

TEST(Tensor, CheckRankNamesWhoAndShape) {
  Tensor t = zeros({2, 3});
  EXPECT_NO_THROW(check_rank(t, 2, "Dense"));
  expect_error_naming([&] { check_rank(t, 4, "Conv2D"); }, {"Conv2D", "rank 4", "(2, 3)"});
}

TEST(Tensor, CheckShapeNamesBothShapes) {
  expect_error_naming([&] { check_shape({1, 2}, {1, 3}, "Dense", "weight"); },
                      {"Dense", "weight", "(1, 3)", "(1, 2)"});
  EXPECT_NO_THROW(check_shape({4}, {4}, "x"));
}

TEST(Tensor, CheckArgNamesArgumentAndValue) {
  EXPECT_EQ(error_message([] { check_arg(false, "Dropout", "p", "in [0, 1)", "1.5"); }),
            "Dropout: p must be in [0, 1), got 1.5");
}

TEST(Tensor, CheckNonNegativeNamesArgumentAndValue) {
  EXPECT_NO_THROW(check_non_negative(0.0, "SGD", "lr"));
  EXPECT_EQ(error_message([] { check_non_negative(-0.5, "SGD", "lr"); }),
            "SGD: lr must be finite and >= 0, got -0.5");
  expect_error_naming([] { check_non_negative(std::nan(""), "StepLR", "gamma"); },
                      {"StepLR: gamma", "nan"});
}
