#include <minicnn/core/tensor.hpp>

#include <gtest/gtest.h>

using namespace minicnn;

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
  try {
    check_rank(t, 4, "Conv2D");
    FAIL() << "no throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("Conv2D"), std::string::npos) << m;
    EXPECT_NE(m.find("rank 4"), std::string::npos) << m;
    EXPECT_NE(m.find("(2, 3)"), std::string::npos) << m;
  }
}

TEST(Tensor, CheckShapeNamesBothShapes) {
  try {
    check_shape({1, 2}, {1, 3}, "Dense", "weight");
    FAIL() << "no throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("Dense"), std::string::npos) << m;
    EXPECT_NE(m.find("weight"), std::string::npos) << m;
    EXPECT_NE(m.find("(1, 3)"), std::string::npos) << m;
    EXPECT_NE(m.find("(1, 2)"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(check_shape({4}, {4}, "x"));
}

TEST(Tensor, CheckArgNamesArgumentAndValue) {
  try {
    check_arg(false, "Dropout", "p", "in [0, 1)", "1.5");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Dropout: p must be in [0, 1), got 1.5");
  }
}
