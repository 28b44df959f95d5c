#include <minicnn/core/random.hpp>
#include <minicnn/core/tensor.hpp>
#include <minicnn/layers/dropout.hpp>
#include <minicnn/layers/gradcheck.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <limits>
#include <string>

using namespace minicnn;
using namespace minicnn::testing;

namespace {

// Dropout whose generator is seeded anew before each forward, so that every forward
// draws the same mask: the function a gradient check needs.
class FixedMaskDropout : public Layer {
 public:
  explicit FixedMaskDropout(float p) : dropout_(p, rng_) {}
  Tensor forward_impl(const Tensor& x) override {
    rng_.seed(7);
    return dropout_.forward(x);
  }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = dropout_.backward(dy).value();
  }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return dropout_.name(); }

 private:
  Rng rng_;
  Dropout dropout_;
};

}  // namespace

TEST(Dropout, HandComputedMaskAndScale) {
  // With p = 0.5, kept units are doubled and dx = dy·mask with the same mask.
  Rng rng(3);
  Dropout drop(0.5f, rng);
  const Tensor x = {{1, 2, 3, 4, 5, 6, 7, 8}};
  const Tensor y = drop.forward(x);
  const Tensor dy = {{1, 1, 1, 1, 1, 1, 1, 1}};
  const Tensor dx = drop.backward(dy).value();
  int kept = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float v = y.data()[i];
    ASSERT_TRUE(v == 0.0f || v == 2.0f * x.data()[i]) << i;
    EXPECT_EQ(dx.data()[i], v == 0.0f ? 0.0f : 2.0f) << i;
    kept += v != 0.0f;
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 8);
}

TEST(Dropout, DropsAboutPAndKeepsTheMean) {
  Rng rng(4);
  Dropout drop(0.3f, rng);
  const Tensor x = Tensor(Shape{200, 500}, 1.0f);
  const Tensor y = drop.forward(x);
  std::size_t dropped = 0;
  double sum = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    dropped += y.data()[i] == 0.0f;
    sum += y.data()[i];
    ASSERT_TRUE(y.data()[i] == 0.0f || std::abs(y.data()[i] - 1.0f / 0.7f) < 1e-6f);
  }
  EXPECT_NEAR(double(dropped) / double(y.size()), 0.3, 0.01);
  EXPECT_NEAR(sum / double(y.size()), 1.0, 0.01);
}

TEST(Dropout, ZeroPIsTheIdentity) {
  Dropout drop(0.0f);
  const Tensor x = {1.5f, -2.0f, 0.25f};
  EXPECT_EQ(drop.forward(x), x);
  EXPECT_EQ(drop.backward(x).value(), x);
}

TEST(Dropout, SameSeedSameMaskAndTheGivenRngOnly) {
  Rng a(9), b(9);
  Dropout da(0.5f, a), db(0.5f, b);
  const Tensor x = Tensor(Shape{3, 40}, 1.0f);
  const Rng before = default_rng();
  const Tensor ya = da.forward(x);
  EXPECT_EQ(ya, db.forward(x));
  EXPECT_NE(ya, da.forward(x));  // the next forward draws a new mask
  Rng copy = before;
  EXPECT_EQ(copy.next(), default_rng().next());  // default_rng() was not touched
  // Without an Rng the layer draws from default_rng(), so manual_seed repeats a mask.
  Dropout dd(0.5f);
  manual_seed(21);
  const Tensor y1 = dd.forward(x);
  manual_seed(21);
  EXPECT_EQ(y1, dd.forward(x));
}

TEST(Dropout, GradientsCheckWithAFixedMask) {
  FixedMaskDropout drop(0.4f);
  for (const Shape& s : {Shape{2, 3, 4, 5}, Shape{1, 7}}) {
    const GradCheckResult r = check_gradients(drop, s);
    EXPECT_TRUE(r.ok) << to_string(s) << '\n' << r.summary();
  }
}

TEST(Dropout, EvalModeIsTheIdentityAndBackwardThrows) {
  Dropout drop(0.9f);
  EXPECT_THROW(drop.backward(Tensor{1.0f}), Error);
  drop.set_training(false);
  const Tensor x = {{1, 2}, {3, 4}};
  EXPECT_EQ(drop.forward(x), x);
  EXPECT_THROW(drop.backward(x), Error);
  const std::string m = error_message([&] { drop.backward(x); });
  EXPECT_TRUE(contains(m, "Dropout(p=0.9)")) << m;
  EXPECT_TRUE(contains(m, "without a forward")) << m;
}

TEST(Dropout, BadPThrowsNamingTheValue) {
  EXPECT_THROW(Dropout{1.0f}, Error);
  EXPECT_THROW(Dropout{-0.1f}, Error);
  EXPECT_THROW(Dropout{std::numeric_limits<float>::quiet_NaN()}, Error);
  const std::string m = error_message([] { Dropout{1.5f}; });
  EXPECT_TRUE(contains(m, "Dropout")) << m;
  EXPECT_TRUE(contains(m, "[0, 1)")) << m;
  EXPECT_TRUE(contains(m, "1.5")) << m;
}

TEST(Dropout, BadDyThrowsNamingShapes) {
  Dropout drop(0.5f);
  drop.forward(zeros({2, 3}));
  EXPECT_THROW(drop.backward(zeros({3, 2})), Error);
  const std::string m = error_message([&] { drop.backward(zeros({3, 2})); });
  EXPECT_TRUE(contains(m, "Dropout(p=0.5)")) << m;
  EXPECT_TRUE(contains(m, "(2, 3)")) << m;
  EXPECT_TRUE(contains(m, "(3, 2)")) << m;
}

TEST(Dropout, ShapesNameAndNoParameters) {
  Dropout drop(0.25f);
  EXPECT_EQ(drop.name(), "Dropout(p=0.25)");
  EXPECT_EQ(drop.p(), 0.25f);
  EXPECT_EQ(drop.output_shape({4, 5, 6}), (Shape{4, 5, 6}));
  EXPECT_TRUE(drop.parameters().empty());
}
