#include <minicnn/core/tensor.hpp>
#include <minicnn/layers/flatten.hpp>
#include <minicnn/layers/gradcheck.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <string>

using namespace minicnn;
using namespace minicnn::testing;

TEST(Flatten, HandComputedKeepsRowMajorOrder) {
  Flatten flat;
  // (2, 2, 1, 3) holding 0..11 becomes (2, 6) holding 0..11.
  Tensor x = Tensor::from_shape(Shape{2, 2, 1, 3});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(i);
  const Tensor y = flat.forward(x);
  ASSERT_EQ(shape_of(y), (Shape{2, 6}));
  EXPECT_EQ(y(1, 0), 6.0f);
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y.data()[i], float(i));
  const Tensor dx = flat.backward(y).value();
  ASSERT_EQ(shape_of(dx), (Shape{2, 2, 1, 3}));
  EXPECT_EQ(dx, x);
}

TEST(Flatten, GradientsCheckOnOddShapes) {
  Flatten flat;
  for (const Shape& s : {Shape{1, 3, 2, 5}, Shape{4, 1}, Shape{2, 1, 1, 1, 3}}) {
    const GradCheckResult r = check_gradients(flat, s);
    EXPECT_TRUE(r.ok) << to_string(s) << '\n' << r.summary();
  }
}

TEST(Flatten, EvalModeAndBackwardWithoutForward) {
  Flatten flat;
  EXPECT_THROW(flat.backward(zeros({2, 6})), Error);
  const std::string m = error_message([&] { flat.backward(zeros({2, 6})); });
  EXPECT_TRUE(contains(m, "Flatten")) << m;
  EXPECT_TRUE(contains(m, "without a forward")) << m;
  flat.set_training(false);
  EXPECT_EQ(shape_of(flat.forward(zeros({2, 3, 2}))), (Shape{2, 6}));
  EXPECT_THROW(flat.backward(zeros({2, 6})), Error);
  flat.set_training(true);
  flat.set_needs_input_grad(false);
  flat.forward(zeros({2, 3, 2}));
  EXPECT_FALSE(flat.backward(zeros({2, 6})).has_value());
}

TEST(Flatten, BadInputThrowsNamingLayerAndShapes) {
  Flatten flat;
  EXPECT_THROW(flat.forward(zeros({5})), Error);
  std::string m = error_message([&] { flat.forward(zeros({5})); });
  EXPECT_TRUE(contains(m, "Flatten")) << m;
  EXPECT_TRUE(contains(m, "(5,)")) << m;
  flat.forward(zeros({2, 3, 4}));
  EXPECT_THROW(flat.backward(zeros({2, 11})), Error);
  m = error_message([&] { flat.backward(zeros({2, 11})); });
  EXPECT_TRUE(contains(m, "(2, 12)")) << m;
  EXPECT_TRUE(contains(m, "(2, 11)")) << m;
}

TEST(Flatten, ShapesAndName) {
  Flatten flat;
  EXPECT_EQ(flat.output_shape({64, 20, 12, 12}), (Shape{64, 2880}));
  EXPECT_EQ(flat.output_shape({3, 7}), (Shape{3, 7}));
  EXPECT_EQ(flat.name(), "Flatten");
  EXPECT_EQ(flat.flops({64, 20, 12, 12}), 0.0);
  EXPECT_TRUE(flat.parameters().empty());
}
