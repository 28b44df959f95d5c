#include <minicnn/core/random.hpp>

#include <gtest/gtest.h>

#include <cmath>

using namespace minicnn;

TEST(Random, SameSeedSameNumbers) {
  Rng a(123), b(123), c(124);
  Tensor x = zeros({100}), y = zeros({100}), z = zeros({100});
  fill_normal(x, 0, 1, a);
  fill_normal(y, 0, 1, b);
  fill_normal(z, 0, 1, c);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
}

TEST(Random, HeNormalHasTheRightSpread) {
  Rng rng(5);
  Tensor w = zeros({200, 50});
  he_normal(w, 50, rng);
  double s = 0, s2 = 0;
  for (float v : w) { s += v; s2 += double(v) * v; }
  const double n = double(w.size()), mean = s / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 2.0 / 50.0, 0.004);
}

TEST(Random, GlorotUniformStaysInItsBound) {
  Rng rng(6);
  Tensor w = zeros({30, 20});
  glorot_uniform(w, 20, 30, rng);
  const float a = std::sqrt(6.0f / 50.0f);
  float lo = 1, hi = -1;
  for (float v : w) { lo = std::min(lo, v); hi = std::max(hi, v); }
  EXPECT_GE(lo, -a);
  EXPECT_LT(hi, a);
  EXPECT_LT(lo, -0.8f * a);
  EXPECT_GT(hi, 0.8f * a);
}

TEST(Random, BadArgumentsThrow) {
  Tensor w = zeros({3});
  EXPECT_THROW(he_normal(w, 0), Error);
  EXPECT_THROW(fill_uniform(w, 1.0f, 0.0f), Error);
  EXPECT_THROW(fill_normal(w, 0.0f, -1.0f), Error);
}
