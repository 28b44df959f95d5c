#include <minicnn/core/tensor.hpp>
#include <minicnn/layers/activation.hpp>
#include <minicnn/layers/batchnorm.hpp>
#include <minicnn/layers/dense.hpp>
#include <minicnn/layers/gradcheck.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"
#include <xtensor/xmath.hpp>

#include <string>
#include <vector>

using namespace minicnn;
using namespace minicnn::testing;

namespace {

// y = x², with a backward that can be made wrong by a factor.
class Square : public Layer {
 public:
  explicit Square(float factor = 1.0f) : factor_(factor) {}
  Tensor forward_impl(const Tensor& x) override {
    x_ = x;
    return x * x;
  }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = factor_ * 2.0f * x_ * dy;
  }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return "Square"; }

 private:
  float factor_;
  Tensor x_;
};

// y = s⊙x with a parameter s of x's shape (minus the batch). Its gradient can be made
// wrong: scaled, overwritten instead of accumulated, or never written.
class Scale : public Layer {
 public:
  enum class Bug { None, WrongSign, Overwrite, NeverWritten };
  explicit Scale(std::size_t F, Bug bug = Bug::None) : bug_(bug) {
    s_ = Tensor::from_shape(Shape{F});
    for (std::size_t i = 0; i < F; ++i) s_(i) = 0.5f + 0.1f * float(i);
    ds_ = zeros({F});
  }
  Tensor forward_impl(const Tensor& x) override {
    x_ = x;
    return x * s_;  // broadcast over the batch
  }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    Tensor g = xt::sum(dy * x_, {0});
    if (bug_ == Bug::WrongSign) ds_ -= g;
    if (bug_ == Bug::Overwrite) ds_ = g;
    if (bug_ == Bug::None) ds_ += g;
    if (dx) *dx = dy * s_;
  }
  std::vector<Parameter> parameters() override { return {{"scale", &s_, &ds_}}; }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return "Scale"; }

 private:
  Bug bug_;
  Tensor s_, ds_, x_;
};

// Ignores its input: y = 0, so every gradient is zero and a check proves nothing.
class Constant : public Layer {
 public:
  Tensor forward_impl(const Tensor& x) override { return zeros(shape_of(x)); }
  void backward_impl(const Tensor&, Tensor* dx) override {
    if (dx) dx->fill(0.0f);
  }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return "Constant"; }
};

// Accumulates dx into a member and returns it: not a fresh gradient.
class StaleDx : public Layer {
 public:
  Tensor forward_impl(const Tensor& x) override { return x; }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx_.size() != dy.size()) dx_ = zeros(shape_of(dy));
    dx_ += dy;
    if (dx) *dx = dx_;
  }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return "StaleDx"; }

 private:
  Tensor dx_;
};

const GradCheckTensor* find(const GradCheckResult& r, const std::string& name) {
  for (const auto& t : r.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace

TEST(GradCheck, PassesOnACorrectLayerAndReportsEveryTensor) {
  Rng rng(5);
  Dense dense(30, 20, true, rng);
  const GradCheckResult r = check_gradients(dense, {3, 30});
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_TRUE(r.reason.empty());
  ASSERT_EQ(r.tensors.size(), 3u);
  EXPECT_EQ(r.tensors[0].name, "input");
  EXPECT_EQ(r.tensors[1].name, "weight");
  EXPECT_EQ(r.tensors[2].name, "bias");
  EXPECT_EQ(r.tensors[0].checked + r.tensors[0].skipped, 90u);
  // 600 weights, capped at max_checks.
  EXPECT_EQ(r.tensors[1].checked + r.tensors[1].skipped, 200u);
  EXPECT_EQ(r.tensors[1].shape, (Shape{20, 30}));
  EXPECT_EQ(r.tensors[2].checked, 20u);  // a linear layer has no kinks
  for (const auto& t : r.tensors) {
    EXPECT_LT(t.max_rel_error, 1e-3) << t.name;
    EXPECT_GT(t.max_abs_analytic, 0.1) << t.name;
  }
  EXPECT_TRUE(contains(r.summary(), "weight (20, 30): checked"));
}

TEST(GradCheck, MaxChecksCapsTheElementsPerTensor) {
  Square sq;
  const GradCheckResult r = check_gradients(sq, {4, 50}, {.max_checks = 17});
  EXPECT_TRUE(r.ok) << r.summary();
  ASSERT_EQ(r.tensors.size(), 1u);
  EXPECT_EQ(r.tensors[0].checked + r.tensors[0].skipped, 17u);
}

TEST(GradCheck, FailsOnAnInputGradientOffByAFactor) {
  Square wrong(1.1f);
  const GradCheckResult r = check_gradients(wrong, {2, 3, 4});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.reason, "input")) << r.reason;
  EXPECT_TRUE(contains(r.reason, "tolerance")) << r.reason;
  EXPECT_GT(r.tensors.at(0).max_rel_error, 0.01);
  EXPECT_TRUE(contains(r.summary(), "FAILED"));
  // The same layer, right, passes.
  Square right;
  EXPECT_TRUE(check_gradients(right, {2, 3, 4}).ok);
}

TEST(GradCheck, FailsOnAWrongParameterGradient) {
  Scale right(6);
  const GradCheckResult ok = check_gradients(right, {4, 6});
  EXPECT_TRUE(ok.ok) << ok.summary();

  Scale wrong(6, Scale::Bug::WrongSign);
  const GradCheckResult r = check_gradients(wrong, {4, 6});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.reason, "scale")) << r.reason;
  ASSERT_NE(find(r, "input"), nullptr);
  EXPECT_TRUE(find(r, "input")->ok);  // only the parameter is wrong
  EXPECT_FALSE(find(r, "scale")->ok);
}

TEST(GradCheck, FailsOnAGradientNeverWritten) {
  // zero_grad clears the NaN sentinel, backward adds nothing: numeric != 0 = analytic.
  Scale lazy(5, Scale::Bug::NeverWritten);
  const GradCheckResult r = check_gradients(lazy, {3, 5});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.reason, "scale")) << r.reason;
}

TEST(GradCheck, FailsOnAGradientThatDoesNotAccumulate) {
  Scale overwrite(5, Scale::Bug::Overwrite);
  const GradCheckResult r = check_gradients(overwrite, {3, 5});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.reason, "did not accumulate")) << r.reason;
  EXPECT_TRUE(contains(r.reason, "scale")) << r.reason;
}

TEST(GradCheck, FailsOnAnInputGradientThatIsNotFresh) {
  StaleDx stale;
  const GradCheckResult r = check_gradients(stale, {2, 3});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.reason, "fresh")) << r.reason;
}

TEST(GradCheck, FailsWhenAllGradientsAreZero) {
  Constant c;
  const GradCheckResult r = check_gradients(c, {2, 5});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.reason, "both zero")) << r.reason;
  EXPECT_TRUE(contains(r.reason, "proves nothing")) << r.reason;
  EXPECT_EQ(r.tensors.at(0).max_rel_error, 0.0);  // errors alone would have passed
}

TEST(GradCheck, SkipsKinksAndCountsThem) {
  // Inputs within ±0.02 of ReLU's kink: with eps = 0.01 about half straddle it.
  ReLU relu;
  const GradCheckResult r =
      check_gradients(relu, {4, 50}, {.input_lo = -0.02f, .input_hi = 0.02f});
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_GT(r.tensors.at(0).skipped, 40u);
  EXPECT_GT(r.tensors.at(0).checked, 40u);
  // Without the kink test the straddling points fail.
  const GradCheckResult strict = check_gradients(
      relu, {4, 50}, {.kink_threshold = 1e9, .input_lo = -0.02f, .input_hi = 0.02f});
  EXPECT_FALSE(strict.ok);
  EXPECT_EQ(strict.tensors.at(0).skipped, 0u);
}

TEST(GradCheck, FailsWhenEveryPointIsAKink) {
  ReLU relu;
  const GradCheckResult r =
      check_gradients(relu, {1, 8}, {.input_lo = -0.001f, .input_hi = 0.001f});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.reason, "kink")) << r.reason;
  EXPECT_EQ(r.tensors.at(0).checked, 0u);
}

TEST(GradCheck, SameOptionsGiveTheSameResult) {
  Rng rng(1);
  Dense dense(6, 4, true, rng);
  const GradCheckResult a = check_gradients(dense, {2, 6}, {.max_checks = 5, .seed = 9});
  const GradCheckResult b = check_gradients(dense, {2, 6}, {.max_checks = 5, .seed = 9});
  EXPECT_EQ(a.summary(), b.summary());
}

TEST(GradCheck, LeavesParametersBuffersGradientsAndFlagsAsTheyWere) {
  BatchNorm2D bn(2);
  bn.weight() = Tensor{1.5f, -0.5f};
  bn.running_mean() = Tensor{0.25f, 0.5f};
  bn.weight_grad() = Tensor{7.0f, 8.0f};
  bn.set_needs_input_grad(false);
  const Tensor w = bn.weight(), b = bn.bias(), rm = bn.running_mean(),
               rv = bn.running_var(), dw = bn.weight_grad(), db = bn.bias_grad();
  const GradCheckResult r = check_gradients(bn, {3, 2, 2, 2});
  EXPECT_TRUE(r.ok) << r.summary();
  EXPECT_EQ(bn.weight(), w);
  EXPECT_EQ(bn.bias(), b);
  EXPECT_EQ(bn.running_mean(), rm);
  EXPECT_EQ(bn.running_var(), rv);
  EXPECT_EQ(bn.weight_grad(), dw);
  EXPECT_EQ(bn.bias_grad(), db);
  EXPECT_FALSE(bn.needs_input_grad());
  EXPECT_TRUE(bn.training());
}

TEST(GradCheck, ThrowsOnAnEvalModeLayerAndOnBadOptions) {
  Dense dense(3, 2);
  dense.set_training(false);
  EXPECT_THROW(check_gradients(dense, {1, 3}), Error);
  std::string m = error_message([&] { check_gradients(dense, {1, 3}); });
  EXPECT_TRUE(contains(m, "Dense(3->2)")) << m;
  EXPECT_TRUE(contains(m, "training mode")) << m;

  dense.set_training(true);
  EXPECT_THROW(check_gradients(dense, {1, 3}, {.eps = 0}), Error);
  m = error_message([&] { check_gradients(dense, {1, 3}, {.eps = -1e-3}); });
  EXPECT_TRUE(contains(m, "eps")) << m;
  EXPECT_TRUE(contains(m, "-0.001")) << m;
  EXPECT_THROW(check_gradients(dense, {1, 3}, {.max_checks = 0}), Error);
  EXPECT_THROW(check_gradients(dense, {1, 3}, {.input_lo = 1.0f, .input_hi = 1.0f}), Error);
  // A shape the layer does not take: the layer's own error.
  m = error_message([&] { check_gradients(dense, {1, 4}); });
  EXPECT_TRUE(contains(m, "Dense(3->2)")) << m;
  EXPECT_TRUE(contains(m, "(1, 4)")) << m;
}
