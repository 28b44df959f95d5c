#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <minicnn/core/tensor.hpp>
#include <minicnn/train/optimizer.hpp>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

// One parameter θ = (1, −2) with a gradient slot.
struct OneParam {
  Tensor value = {1.0f, -2.0f};
  Tensor grad = {0.0f, 0.0f};
  std::vector<Parameter> params() { return {{"w", &value, &grad}}; }
};

void expect_values(const Tensor& t, std::initializer_list<double> want, double tol = 1e-6) {
  ASSERT_EQ(t.size(), want.size());
  std::size_t i = 0;
  for (double w : want) EXPECT_NEAR(t.data()[i++], w, tol) << "element " << i - 1;
}

// θ after each step of an optimiser made with options o on θ = (1, −2), the gradient of
// step i being grads[i].
template <class Opt, class Options>
std::vector<Tensor> steps_of(const Options& o, const std::vector<Tensor>& grads) {
  OneParam p;
  Opt opt(p.params(), o);
  std::vector<Tensor> theta;
  for (const Tensor& g : grads) {
    p.grad = g;
    opt.step();
    theta.push_back(p.value);
  }
  return theta;
}
std::vector<Tensor> steps(const SGDOptions& o, const std::vector<Tensor>& grads) {
  return steps_of<SGD>(o, grads);
}
std::vector<Tensor> steps(const AdamOptions& o, const std::vector<Tensor>& grads) {
  return steps_of<Adam>(o, grads);
}

const Tensor kG1 = {0.5f, 1.0f}, kG2 = {-0.25f, 2.0f};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

}  // namespace

TEST(SGD, PlainStepIsLrTimesGradient) {
  expect_values(steps(SGDOptions{.lr = 0.1f}, {kG1})[0], {0.95, -2.1});
}

TEST(SGD, MomentumTwoSteps) {
  // g = (0.5, 1) twice, lr 0.1, momentum 0.9:
  //   step 1: v = g = (0.5, 1),               θ = (1, −2) − 0.1·v     = (0.95, −2.1)
  //   step 2: v = 0.9·v + g = (0.95, 1.9),    θ = (0.95, −2.1) − 0.1·v = (0.855, −2.29)
  const auto theta = steps(SGDOptions{.lr = 0.1f, .momentum = 0.9f}, {kG1, kG1});
  expect_values(theta[0], {0.95, -2.1});
  expect_values(theta[1], {0.855, -2.29});
}

TEST(SGD, Nesterov) {
  // step 1: v = g,                 θ −= 0.1·(g + 0.9·v) = 0.1·1.9·g  ->  (0.905, −2.19)
  // step 2: v = (0.95, 1.9),       θ −= 0.1·(g + 0.9·v) = (0.1355, 0.271)  ->  (0.7695, −2.461)
  const auto theta =
      steps(SGDOptions{.lr = 0.1f, .momentum = 0.9f, .nesterov = true}, {kG1, kG1});
  expect_values(theta[0], {0.905, -2.19});
  expect_values(theta[1], {0.7695, -2.461});
}

TEST(SGD, WeightDecayIsAddedToTheGradient) {
  // g' = g + 0.01·θ = (0.51, 0.98); θ −= 0.1·g' -> (0.949, −2.098)
  expect_values(steps(SGDOptions{.lr = 0.1f, .weight_decay = 0.01f}, {kG1})[0], {0.949, -2.098});
  // With momentum the decayed gradient is what enters v: v = g' on the first step.
  expect_values(
      steps(SGDOptions{.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f}, {kG1})[0],
      {0.949, -2.098});
}

TEST(Adam, TwoStepsHandComputed) {
  // lr 0.1, β = (0.9, 0.999), eps 1e-8; g1 = (0.5, 1), g2 = (−0.25, 2).
  //   step 1: m̂ = g1, v̂ = g1², so θ −= 0.1·sign(g1)          -> (0.9, −2.1)
  //   step 2: m = 0.9·0.1·g1 + 0.1·g2 = (0.02, 0.29),  m̂ = m / 0.19
  //           v = 0.999·0.001·g1² + 0.001·g2² = (0.00031225, 0.004999),  v̂ = v / 0.001999
  //           θ −= 0.1·m̂ / (sqrt(v̂) + eps) = (0.0266337, 0.0965182)  -> (0.8733663, −2.1965182)
  const auto theta = steps(AdamOptions{.lr = 0.1f}, {kG1, kG2});
  expect_values(theta[0], {0.9, -2.1});
  expect_values(theta[1], {0.8733663, -2.1965182}, 2e-6);
}

TEST(Adam, WeightDecayCoupledAndDecoupled) {
  // Coupled (Adam, L2): g' = g + 0.5·θ enters the moments.
  const auto adam = steps(AdamOptions{.lr = 0.1f, .weight_decay = 0.5f}, {kG1, kG2});
  // g' = (1, 0): the second coordinate's step is 0 / (0 + eps) = 0.
  expect_values(adam[0], {0.9, -2.0});
  expect_values(adam[1], {0.8196959, -2.0744137}, 2e-6);

  // Decoupled (AdamW): θ ·= 1 − lr·wd = 0.95 before each step; the moments see g alone,
  // so the steps are those of plain Adam: (0.1, 0.1) then (0.0266337, 0.0965182).
  //   step 1: (0.95, −1.9) − (0.1, −0.1) = (0.85, −2.0)
  //   step 2: (0.8075, −1.9) − (0.0266337, −0.0965182) = (0.7808663, −1.9965182)
  const auto adamw =
      steps(AdamOptions{.lr = 0.1f, .weight_decay = 0.5f, .decoupled = true}, {kG1, kG2});
  expect_values(adamw[0], {0.85, -2.0});
  expect_values(adamw[1], {0.7808663, -1.9965182}, 2e-6);
}

TEST(Optimizer, ZeroGradAndSetLr) {
  OneParam p;
  SGD opt(p.params(), {.lr = 0.1f});
  p.grad = {3.0f, 4.0f};
  opt.zero_grad();
  expect_values(p.grad, {0.0, 0.0});
  opt.set_lr(0.5f);
  EXPECT_EQ(opt.lr(), 0.5f);
  expect_error_naming([&] { opt.set_lr(-1.0f); }, {"SGD", "lr", "-1"});
  EXPECT_EQ(opt.lr(), 0.5f);
}

TEST(Optimizer, BadOptionsThrowNamingOptimiserArgumentAndValue) {
  OneParam p;
  expect_error_naming([&] { SGD(p.params(), {.lr = -0.5f}); }, {"SGD", "lr", "-0.5"});
  expect_error_naming([&] { SGD(p.params(), {.lr = kNaN}); }, {"SGD", "lr", "nan"});
  expect_error_naming([&] { SGD(p.params(), {.momentum = 1.0f}); }, {"SGD", "momentum", "1"});
  expect_error_naming([&] { SGD(p.params(), {.momentum = -0.1f}); }, {"SGD", "momentum", "-0.1"});
  expect_error_naming([&] { SGD(p.params(), {.weight_decay = -1e-3f}); },
                      {"SGD", "weight_decay", "-0.001"});
  expect_error_naming([&] { SGD(p.params(), {.nesterov = true}); },
                      {"SGD", "momentum", "nesterov", "0"});
  expect_error_naming([&] { Adam(p.params(), {.lr = kInf}); }, {"Adam", "lr", "inf"});
  expect_error_naming([&] { Adam(p.params(), {.beta1 = 1.0f}); }, {"Adam", "beta1", "1"});
  expect_error_naming([&] { Adam(p.params(), {.beta2 = -0.5f}); }, {"Adam", "beta2", "-0.5"});
  expect_error_naming([&] { Adam(p.params(), {.eps = 0.0f}); }, {"Adam", "eps", "0"});
  expect_error_naming([&] { Adam(p.params(), {.weight_decay = kNaN, .decoupled = true}); },
                      {"AdamW", "weight_decay", "nan"});
}

TEST(Optimizer, BadParametersThrowAtConstruction) {
  Tensor w = {1.0f, 2.0f}, gw = {0.0f, 0.0f, 0.0f};
  expect_error_naming([&] { SGD({{"fc.weight", &w, nullptr}}); }, {"SGD", "fc.weight", "gradient"});
  expect_error_naming(
      [&] {
        Adam({{"fc.weight", &w, &gw}});
      },
      {"Adam", "fc.weight", "(2,)", "(3,)"});
  Tensor g = {0.0f, 0.0f};
  expect_error_naming(
      [&] {
        SGD({{"a", &w, &g}, {"b", &w, &g}});
      },
      {"SGD", "'b'", "more than once"});
  // An empty list is allowed: stepping it does nothing.
  SGD none(std::vector<Parameter>{});
  EXPECT_NO_THROW(none.step());
}

TEST(Optimizer, ParameterResizedAfterConstructionThrowsOnStep) {
  OneParam p;
  Adam opt(p.params());
  p.value = zeros({3});
  p.grad = zeros({3});
  expect_error_naming([&] { opt.step(); }, {"Adam", "'w'", "changed size"});
}

TEST(Optimizer, StateNamesTensorsAndCountsSteps) {
  OneParam p;
  SGD plain(p.params(), {.lr = 0.1f});
  EXPECT_EQ(plain.kind(), "SGD");
  EXPECT_TRUE(plain.state().empty());  // no momentum, no state
  p.grad = {1.0f, 1.0f};
  plain.step();
  EXPECT_EQ(plain.steps(), 1u);

  SGD momentum(p.params(), {.lr = 0.1f, .momentum = 0.9f});
  momentum.step();
  momentum.step();
  const auto s = momentum.state();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].name, "momentum_buffer.w");
  // v = g, then 0.9·g + g
  expect_values(*s[0].value, {1.9, 1.9});
  EXPECT_EQ(momentum.steps(), 2u);

  Adam adamw(p.params(), {.decoupled = true});
  EXPECT_EQ(adamw.kind(), "AdamW");
  const auto a = adamw.state();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].name, "exp_avg.w");
  EXPECT_EQ(a[1].name, "exp_avg_sq.w");
}

TEST(Adam, RestoredStateAndStepCountContinueTheSameSteps) {
  // Three optimisers on copies of θ: the first takes three steps; after two, the others
  // get its θ and state, the second its step count too. The second's third step is the
  // first's, bit for bit; the third's is not: the bias correction needs the count.
  OneParam a, b, c;
  Adam first(a.params(), {.lr = 0.1f});
  Adam second(b.params(), {.lr = 0.1f});
  Adam third(c.params(), {.lr = 0.1f});
  a.grad = b.grad = c.grad = Tensor{0.5f, -1.0f};
  first.step();
  first.step();
  b.value = c.value = a.value;
  const auto from = first.state();
  for (Adam* to : {&second, &third}) {
    const auto into = to->state();
    for (std::size_t i = 0; i < from.size(); ++i) *into[i].value = *from[i].value;
  }
  second.set_steps(first.steps());
  first.step();
  second.step();
  third.step();
  EXPECT_TRUE(same_bits(a.value, b.value));
  EXPECT_FALSE(same_bits(a.value, c.value));
}
