#include <minicnn/core/blas.hpp>
#include <minicnn/core/random.hpp>
#include <minicnn/layers/conv/direct.hpp>
#include <minicnn/layers/conv2d.hpp>
#include <minicnn/layers/gradcheck.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <functional>

using namespace minicnn;
using minicnn::testing::random_tensor;

namespace {


double max_rel_diff(const Tensor& a, const Tensor& b) {
  double diff = 0, scale = 1e-30;
  for (std::size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, double(std::abs(a.data()[i] - b.data()[i])));
    scale = std::max(scale, double(std::abs(b.data()[i])));
  }
  return diff / scale;
}

// The reference result of layer-like arithmetic, through the direct loops.
Tensor direct_forward(Conv2D& conv, const Tensor& x) {
  const ConvGeom g = conv.geometry(shape_of(x));
  Tensor y = zeros({g.N, g.K, g.OH, g.OW});
  conv2d_direct_forward(g, x.data(), conv.weight().data(),
                        conv.options().bias ? conv.bias().data() : nullptr, y.data());
  return y;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no throw)";
}

const ConvAlgo kAlgos[] = {ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT,
                           ConvAlgo::Winograd, ConvAlgo::Auto};

// Whether a layer of this kernel and these options may run algorithm a.
bool runs(ConvAlgo a, Kernel2D k, const Conv2DOptions& o) {
  const bool unit = o.stride == 1 && o.dilation == 1;
  if (a == ConvAlgo::FFT) return unit;
  if (a == ConvAlgo::Winograd) return unit && k.h == k.w && (k.h == 3 || k.h == 5);
  return true;
}

}  // namespace

TEST(Conv2D, HandComputedCase) {
  // One 3x3 input, one 2x2 kernel of ones, bias 1: each output is its window's sum + 1.
  Conv2D conv(1, 1, 2);
  conv.weight().fill(1.0f);
  conv.bias().fill(1.0f);
  Tensor x = zeros({1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) x.data()[i] = float(i);
  for (ConvAlgo a : kAlgos) {
    if (!runs(a, 2, {})) continue;
    conv.set_algo(a);
    const Tensor y = conv.forward(x);
    ASSERT_EQ(shape_of(y), (Shape{1, 1, 2, 2}));
    EXPECT_FLOAT_EQ(y(0, 0, 0, 0), 0 + 1 + 3 + 4 + 1.0f) << to_string(a);
    EXPECT_FLOAT_EQ(y(0, 0, 1, 1), 4 + 5 + 7 + 8 + 1.0f) << to_string(a);
  }
}

TEST(Conv2D, ShapesAndParameters) {
  Conv2D conv(1, 20, 5);
  EXPECT_EQ(shape_of(conv.weight()), (Shape{20, 1, 5, 5}));
  EXPECT_EQ(shape_of(conv.bias()), (Shape{20}));
  EXPECT_EQ(conv.output_shape({7, 1, 28, 28}), (Shape{7, 20, 24, 24}));
  const auto params = conv.parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "weight");
  EXPECT_EQ(params[1].name, "bias");
  Conv2D rect(3, 4, {3, 5}, {.stride = 2, .padding = 1, .bias = false});
  EXPECT_EQ(rect.parameters().size(), 1u);
  EXPECT_EQ(rect.output_shape({1, 3, 9, 10}), (Shape{1, 4, 5, 4}));
  EXPECT_DOUBLE_EQ(conv.flops({1, 1, 28, 28}), 2.0 * 20 * 25 * 24 * 24 + 20 * 24 * 24);
}

TEST(Conv2D, HeInitialisation) {
  manual_seed(3);
  Conv2D conv(50, 64, 3);
  double s2 = 0;
  for (float v : conv.weight()) s2 += double(v) * v;
  EXPECT_NEAR(s2 / double(conv.weight().size()), 2.0 / (50 * 9), 0.1 * 2.0 / (50 * 9));
  for (float v : conv.bias()) EXPECT_EQ(v, 0.0f);
}

TEST(Conv2D, ForwardMatchesDirectForEveryAlgorithm) {
  struct S { std::size_t N, C, H, W, K, kh, kw; Conv2DOptions o; };
  const S shapes[] = {
      {1, 1, 9, 7, 2, 3, 3, {}},
      {3, 2, 10, 12, 4, 5, 3, {.padding = 3}},
      {2, 3, 8, 8, 5, 1, 1, {}},
      {2, 2, 6, 5, 3, 3, 3, {.stride = 2, .padding = 1}},
      {1, 2, 11, 9, 2, 3, 3, {.stride = 3}},
      {2, 2, 9, 9, 3, 3, 3, {.padding = 2, .dilation = 2}},
  };
  for (const S& s : shapes) {
    for (ConvAlgo a : kAlgos) {
      Conv2DOptions o = s.o;
      o.algo = a;
      if (!runs(a, {s.kh, s.kw}, o)) continue;
      Conv2D conv(s.C, s.K, {s.kh, s.kw}, o);
      fill_uniform(conv.bias(), -1, 1);
      const Tensor x = random_tensor({s.N, s.C, s.H, s.W}, 5);
      EXPECT_LT(max_rel_diff(conv.forward(x), direct_forward(conv, x)), 1e-4)
          << conv.name();
    }
  }
}

TEST(Conv2D, GradientCheckEveryAlgorithmOnOddShapes) {
  struct S { Shape x; std::size_t K; Kernel2D k; Conv2DOptions o; };
  const S shapes[] = {
      {{1, 1, 6, 5}, 1, 3, {}},                                   // batch 1, one channel
      {{2, 3, 7, 5}, 2, {3, 2}, {.padding = 2}},                  // non-square, padding > half
      {{2, 2, 5, 6}, 3, 1, {}},                                   // 1x1 kernel
      {{1, 2, 4, 4}, 2, 6, {.padding = 1}},                       // kernel = padded input
      {{2, 2, 7, 8}, 2, 3, {.stride = 2, .padding = 1}},          // stride 2
      {{1, 1, 10, 9}, 2, 3, {.stride = 3}},                       // stride 3
      {{2, 1, 9, 9}, 2, 3, {.padding = 1, .dilation = 2}},        // dilation 2
  };
  for (const S& s : shapes) {
    for (ConvAlgo a : kAlgos) {
      Conv2DOptions o = s.o;
      o.algo = a;
      if (!runs(a, s.k, o)) continue;
      Conv2D conv(s.x[1], s.K, s.k, o);
      fill_uniform(conv.bias(), -1, 1);
      const GradCheckResult r = check_gradients(conv, s.x);
      EXPECT_TRUE(r.ok) << conv.name() << " on " << to_string(s.x) << "\n" << r.summary();
      ASSERT_EQ(r.tensors.size(), 3u);  // input, weight, bias
    }
  }
}

TEST(Conv2D, GradientCheckWinogradOnOddShapes) {
  // All three passes through the layer, 3×3 and 5×5 kernels: batch 1 and one channel,
  // non-square planes that are no multiple of a tile, padding 0 to 3 and 6 (past the
  // 5×5 kernel's reach), enough tiles for several blocks.
  struct S { Shape x; std::size_t K; Conv2DOptions o; };
  const S shapes[] = {
      {{1, 1, 6, 5}, 1, {}},
      {{2, 3, 7, 5}, 2, {.padding = 2}},
      {{2, 2, 9, 11}, 3, {.padding = 1}},
      {{1, 2, 4, 6}, 2, {.padding = 3, .bias = false}},
      {{3, 2, 13, 10}, 2, {.padding = 1}},
      {{1, 2, 3, 4}, 2, {.padding = 6}},
  };
  for (std::size_t kernel : {3, 5})
    for (const S& s : shapes) {
      Conv2DOptions o = s.o;
      o.algo = ConvAlgo::Winograd;
      Conv2D conv(s.x[1], s.K, kernel, o);
      if (o.bias) fill_uniform(conv.bias(), -1, 1);
      const GradCheckResult r = check_gradients(conv, s.x);
      EXPECT_TRUE(r.ok) << conv.name() << " on " << to_string(s.x) << "\n" << r.summary();
      ASSERT_EQ(r.tensors.size(), o.bias ? 3u : 2u);  // input, weight (, bias)
    }
}

TEST(Conv2D, GradientsAccumulateUntilZeroGrad) {
  for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd}) {
    Conv2D conv(2, 3, 3, {.padding = 1, .algo = a});
    const Tensor x = random_tensor({2, 2, 5, 5}, 7), dy = random_tensor({2, 3, 5, 5}, 8);
    conv.forward(x);
    const Tensor dx1 = conv.backward(dy).value();
    const Tensor dw1 = conv.weight_grad(), db1 = conv.bias_grad();
    conv.forward(x);
    const Tensor dx2 = conv.backward(dy).value();
    EXPECT_LT(max_rel_diff(dx2, dx1), 1e-6) << to_string(a);  // dx is fresh, not summed
    EXPECT_LT(max_rel_diff(conv.weight_grad(), Tensor(2.0f * dw1)), 1e-5) << to_string(a);
    EXPECT_LT(max_rel_diff(conv.bias_grad(), Tensor(2.0f * db1)), 1e-5) << to_string(a);
    conv.zero_grad();
    for (float v : conv.weight_grad()) ASSERT_EQ(v, 0.0f);
    for (float v : conv.bias_grad()) ASSERT_EQ(v, 0.0f);
  }
}

TEST(Conv2D, FftStepsWithChangingWeightsMatchDirect) {
  // The FFT layer reuses forward's spectra in backward; after a weight update the next
  // step must use the new weights everywhere.
  Conv2D fft(3, 4, 3, {.padding = 1, .algo = ConvAlgo::FFT});
  Conv2D ref(3, 4, 3, {.padding = 1, .algo = ConvAlgo::Direct});
  ref.weight() = fft.weight();
  for (int step = 0; step < 3; ++step) {
    const Tensor x = random_tensor({2, 3, 6, 7}, 20 + step), dy = random_tensor({2, 4, 6, 7}, 30 + step);
    fft.zero_grad();
    ref.zero_grad();
    EXPECT_LT(max_rel_diff(fft.forward(x), ref.forward(x)), 1e-4);
    EXPECT_LT(max_rel_diff(fft.backward(dy).value(), ref.backward(dy).value()), 1e-4);
    EXPECT_LT(max_rel_diff(fft.weight_grad(), ref.weight_grad()), 1e-4);
    const Tensor w = fft.weight() - 0.1f * fft.weight_grad();
    fft.weight() = w;
    ref.weight() = w;
  }
}

TEST(Conv2D, SkipsInputGradientWhenNotNeeded) {
  Conv2D conv(1, 2, 3);
  conv.set_needs_input_grad(false);
  conv.forward(random_tensor({2, 1, 5, 5}, 1));
  EXPECT_FALSE(conv.backward(random_tensor({2, 2, 3, 3}, 2)).has_value());
  double s = 0;
  for (float v : conv.weight_grad()) s += std::abs(v);
  EXPECT_GT(s, 0.0);
}

TEST(Conv2D, EvalModeKeepsNothingForBackward) {
  Conv2D conv(1, 2, 3);
  conv.set_training(false);
  conv.forward(random_tensor({1, 1, 5, 5}, 1));
  EXPECT_THROW(conv.backward(random_tensor({1, 2, 3, 3}, 2)), Error);
  Conv2D fresh(1, 2, 3);
  EXPECT_THROW(fresh.backward(random_tensor({1, 2, 3, 3}, 2)), Error);
}

TEST(Conv2D, PlanTellsAlgorithmTimeAndWorkspacePerPass) {
  Conv2D conv(20, 50, 5);
  const ConvPlan p = conv.plan({64, 20, 12, 12});
  for (const ConvChoice& c : p) {
    EXPECT_NE(c.algo, ConvAlgo::Auto);
    EXPECT_GT(c.seconds, 0.0);
  }
  EXPECT_NE(conv.name_for({64, 20, 12, 12}).find("auto: "), std::string::npos)
      << conv.name_for({64, 20, 12, 12});
  Conv2D strided(3, 8, 11, {.stride = 4});
  for (const ConvChoice& c : strided.plan({2, 3, 64, 64})) EXPECT_NE(c.algo, ConvAlgo::FFT);
  Conv2D fixed(3, 8, 3, {.algo = ConvAlgo::Im2colGemm});
  const ConvPlan q = fixed.plan({2, 3, 16, 16});
  EXPECT_EQ(q[1].algo, ConvAlgo::Im2colGemm);
  EXPECT_GT(q[0].workspace_bytes, 0u);
  EXPECT_NE(fixed.name().find("im2col"), std::string::npos);
}

TEST(Conv2D, PlanAndNameShowWinograd) {
  Conv2D conv(64, 64, 3, {.padding = 1});
  EXPECT_EQ(conv.name_for({32, 64, 56, 56}), "Conv2D(64->64, 3x3, padding 1, auto: "
                                             "winograd/winograd/winograd)");
  Conv2D fixed(3, 4, 3, {.padding = 1, .algo = ConvAlgo::Winograd});
  for (const ConvChoice& c : fixed.plan({2, 3, 9, 9})) {
    EXPECT_EQ(c.algo, ConvAlgo::Winograd);
    EXPECT_GT(c.workspace_bytes, 0u);
  }
  EXPECT_NE(fixed.name().find("winograd"), std::string::npos);
}

TEST(Conv2D, FftBackwardAfterAnotherForwardSeesWeightsChangedInPlace) {
  // A one-channel 7×7 layer: Auto runs im2col forward and FFT backward-data (FFT's lead
  // there is more than 1.5×). Forward must drop the FFT spectra of the step before, or
  // backward-data would reuse the spectrum of weights an optimiser has changed in place.
  struct Threads {  // the plan below is the model's for two threads
    int before = num_threads();
    Threads() { set_num_threads(2); }
    ~Threads() { set_num_threads(before); }
  } two;
  Conv2D conv(1, 4, 7);
  Conv2D ref(1, 4, 7, {.algo = ConvAlgo::Direct});
  const Shape xs{4, 1, 12, 12};
  const ConvPlan p = conv.plan(xs);
  ASSERT_NE(p[0].algo, ConvAlgo::FFT) << conv.name_for(xs);
  ASSERT_EQ(p[1].algo, ConvAlgo::FFT) << conv.name_for(xs);
  ref.weight() = conv.weight();
  ref.bias() = conv.bias();
  for (int step = 0; step < 3; ++step) {
    const Tensor x = random_tensor(xs, 40 + step), dy = random_tensor({4, 4, 6, 6}, 50 + step);
    conv.zero_grad();
    ref.zero_grad();
    EXPECT_LT(max_rel_diff(conv.forward(x), ref.forward(x)), 1e-4) << "step " << step;
    EXPECT_LT(max_rel_diff(conv.backward(dy).value(), ref.backward(dy).value()), 1e-4)
        << "step " << step;
    EXPECT_LT(max_rel_diff(conv.weight_grad(), ref.weight_grad()), 1e-4) << "step " << step;
    // In place, at the same address, as the optimisers step (an xtensor expression
    // assigned to the weight would make a new buffer).
    for (Conv2D* c : {&conv, &ref})
      for (std::size_t i = 0; i < c->weight().size(); ++i)
        c->weight().data()[i] -= 0.5f * c->weight_grad().data()[i];
  }
}

TEST(Conv2D, PlanKeepsTheBackwardPassesOffFftAfterAnotherForward) {
  // A thin 5×5 "same" layer (3 → 8 on 24×24): pass by pass the model gives FFT the
  // backward-data, by less than the 1.5× lead it needs after a Winograd forward, so the
  // layer runs Winograd for all three (ConvLayer::plan).
  Conv2D conv(3, 8, 5, {.padding = 2});
  const Shape x{64, 3, 24, 24};
  const ConvGeom g = conv.geometry(x);
  const int T = num_threads();
  const std::size_t limit = Im2colWorkspace::kDefaultLimit;
  ASSERT_EQ(conv_select(g, ConvPass::Forward, T, limit).algo, ConvAlgo::Winograd);
  const ConvChoice alone = conv_select(g, ConvPass::BackwardData, T, limit);
  ASSERT_EQ(alone.algo, ConvAlgo::FFT);
  EXPECT_LT(conv_estimate_seconds(ConvAlgo::Winograd, g, ConvPass::BackwardData, T),
            1.5 * alone.seconds);
  for (const ConvChoice& c : conv.plan(x)) EXPECT_EQ(c.algo, ConvAlgo::Winograd);
  // An algorithm asked for is run as asked.
  Conv2D fft(3, 8, 5, {.padding = 2, .algo = ConvAlgo::FFT});
  for (const ConvChoice& c : fft.plan(x)) EXPECT_EQ(c.algo, ConvAlgo::FFT);
}

TEST(Conv2D, AutotuneRunsAndAgreesWithDirect) {
  Conv2D conv(2, 3, 3, {.padding = 1, .autotune = true});
  const Tensor x = random_tensor({2, 2, 8, 8}, 9);
  for (const ConvChoice& c : conv.plan(shape_of(x))) EXPECT_TRUE(c.measured);
  EXPECT_LT(max_rel_diff(conv.forward(x), direct_forward(conv, x)), 1e-4);
}

TEST(Conv2D, ErrorsNameTheLayerAndTheShapes) {
  Conv2D conv(3, 4, 5);
  std::string m = message_of([&] { conv.forward(zeros({2, 1, 28, 28})); });
  EXPECT_NE(m.find("Conv2D(3->4, 5x5"), std::string::npos) << m;
  EXPECT_NE(m.find("(2, 1, 28, 28)"), std::string::npos) << m;
  EXPECT_NE(m.find("(N, 3, H, W)"), std::string::npos) << m;
  m = message_of([&] { conv.forward(zeros({2, 3, 4, 9})); });  // kernel > padded input
  EXPECT_NE(m.find("larger than the padded input"), std::string::npos) << m;
  m = message_of([&] { conv.forward(zeros({2, 3, 28})); });
  EXPECT_NE(m.find("(2, 3, 28)"), std::string::npos) << m;
  EXPECT_THROW(Conv2D(0, 4, 3), Error);
  EXPECT_THROW(Conv2D(3, 0, 3), Error);
  EXPECT_THROW(Conv2D(3, 4, 0), Error);
  EXPECT_THROW(Conv2D(3, 4, 3, {.stride = 0}), Error);
  EXPECT_THROW(Conv2D(3, 4, 3, {.dilation = 0}), Error);
  m = message_of([] { Conv2D(3, 4, 3, {.stride = 2, .algo = ConvAlgo::FFT}); });
  EXPECT_NE(m.find("stride 1 and dilation 1"), std::string::npos) << m;
  EXPECT_THROW(Conv2D(3, 4, 3, {.dilation = 2, .algo = ConvAlgo::FFT}), Error);
  m = message_of([] { Conv2D(3, 4, 7, {.algo = ConvAlgo::Winograd}); });
  EXPECT_NE(m.find("Conv2D(3->4, 7x7"), std::string::npos) << m;
  EXPECT_NE(m.find("3x3 or 5x5 kernel, stride 1 and dilation 1"), std::string::npos) << m;
  EXPECT_NO_THROW(Conv2D(3, 4, 5, {.algo = ConvAlgo::Winograd}));
  m = message_of([] { Conv2D(3, 4, 3, {.stride = 2}).set_algo(ConvAlgo::Winograd); });
  EXPECT_NE(m.find("Conv2D(3->4, 3x3, stride 2"), std::string::npos) << m;
  EXPECT_THROW(Conv2D(3, 4, 3, {.dilation = 2, .algo = ConvAlgo::Winograd}), Error);
  conv.forward(zeros({2, 3, 8, 8}));
  m = message_of([&] { conv.backward(zeros({2, 4, 5, 4})); });
  EXPECT_NE(m.find("(2, 4, 4, 4)"), std::string::npos) << m;
  EXPECT_NE(m.find("(2, 4, 5, 4)"), std::string::npos) << m;
}
