// ConvTranspose2D: hand-computed, the adjoint of Conv2D, every algorithm against direct,
// gradient checks on odd shapes, errors.
#include <minicnn/minicnn.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {


double max_rel_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(shape_of(a), shape_of(b));
  double m = 0, scale = 1e-12;
  for (std::size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, double(std::abs(a.data()[i] - b.data()[i])));
    scale = std::max(scale, double(std::abs(b.data()[i])));
  }
  return m / scale;
}

double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += double(a.data()[i]) * b.data()[i];
  return s;
}

struct Case {
  std::size_t N, C_in, C_out, H, W, KH, KW, stride, padding, output_padding, dilation;
};

// Batch 1, one channel, non-square, padding larger than the kernel's half, stride > 1.
const Case kCases[] = {
    {1, 1, 1, 3, 3, 3, 3, 1, 0, 0, 1},  {2, 3, 2, 4, 5, 3, 3, 2, 1, 1, 1},
    {1, 2, 3, 5, 3, 4, 2, 2, 1, 0, 1},  {2, 2, 2, 3, 4, 3, 3, 1, 2, 0, 1},
    {1, 1, 2, 4, 4, 3, 3, 3, 0, 2, 2},  {3, 4, 1, 6, 5, 5, 5, 1, 2, 0, 1},
};

ConvTranspose2D make(const Case& c, ConvAlgo algo) {
  return ConvTranspose2D(c.C_in, c.C_out, {c.KH, c.KW},
                         {.stride = c.stride, .padding = c.padding,
                          .output_padding = c.output_padding, .dilation = c.dilation,
                          .algo = algo});
}

// Whether algorithm a can run case c: FFT needs stride and dilation 1, Winograd those
// and a 3×3 or 5×5 kernel (the three cases that have them: 3×3 with padding 0 and 2,
// 5×5 with padding 2).
bool runs(ConvAlgo a, const Case& c) {
  const bool unit = c.stride == 1 && c.dilation == 1;
  if (a == ConvAlgo::FFT) return unit;
  if (a == ConvAlgo::Winograd) return unit && c.KH == c.KW && (c.KH == 3 || c.KH == 5);
  return true;
}

TEST(ConvTranspose2D, HandComputedStride2StampsTheKernel) {
  ConvTranspose2D up(1, 1, 2, {.stride = 2, .bias = false});
  up.weight() = Tensor{{{{1.0f, 2.0f}, {3.0f, 4.0f}}}};
  const Tensor y = up.forward(Tensor{{{{1.0f, 10.0f}, {100.0f, 0.0f}}}});
  const Tensor expected = {{{{1, 2, 10, 20}, {3, 4, 30, 40}, {100, 200, 0, 0}, {300, 400, 0, 0}}}};
  expect_near(y, expected);
  EXPECT_EQ(up.output_shape({1, 1, 2, 2}), (Shape{1, 1, 4, 4}));
}

TEST(ConvTranspose2D, IsTheAdjointOfConv2D) {
  for (const Case& c : kCases) {
    ConvTranspose2D t = make(c, ConvAlgo::Direct);
    Conv2D conv(c.C_out, c.C_in, {c.KH, c.KW},
                {.stride = c.stride, .padding = c.padding, .dilation = c.dilation,
                 .bias = false, .algo = ConvAlgo::Direct});
    conv.weight() = t.weight();
    t.bias().fill(0.0f);
    const Tensor x = random_tensor({c.N, c.C_in, c.H, c.W}, 1);
    const Tensor y = t.forward(x);
    const Tensor z = random_tensor(shape_of(y), 2);
    // <Cᵀ x, z> = <x, C z>
    EXPECT_NEAR(dot(y, z), dot(x, conv.forward(z)), 1e-4 * (1 + std::abs(dot(y, z))));
  }
}

TEST(ConvTranspose2D, EveryAlgorithmMatchesDirectInEveryPass) {
  for (const Case& c : kCases) {
    ConvTranspose2D ref = make(c, ConvAlgo::Direct);
    ref.bias() = random_tensor({c.C_out}, 3);
    ref.set_needs_input_grad(true);
    const Tensor x = random_tensor({c.N, c.C_in, c.H, c.W}, 4);
    const Tensor y_ref = ref.forward(x);
    const Tensor dy = random_tensor(shape_of(y_ref), 5);
    const Tensor dx_ref = ref.backward(dy).value();
    for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd, ConvAlgo::Auto}) {
      if (!runs(a, c)) continue;
      ConvTranspose2D t = make(c, a);
      t.weight() = ref.weight();
      t.bias() = ref.bias();
      const std::string what = t.name() + " on " + to_string({c.N, c.C_in, c.H, c.W});
      EXPECT_LT(max_rel_diff(t.forward(x), y_ref), 1e-4) << what;
      EXPECT_LT(max_rel_diff(t.backward(dy).value(), dx_ref), 1e-4) << what;
      EXPECT_LT(max_rel_diff(t.weight_grad(), ref.weight_grad()), 1e-4) << what;
      EXPECT_LT(max_rel_diff(t.bias_grad(), ref.bias_grad()), 1e-4) << what;
    }
  }
}

TEST(ConvTranspose2D, GradientChecksOnOddShapes) {
  for (const Case& c : kCases) {
    for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd}) {
      if (!runs(a, c)) continue;
      ConvTranspose2D t = make(c, a);
      expect_gradcheck(t, {c.N, c.C_in, c.H, c.W});
    }
  }
}

// Weights stepped in place between two training steps, and two dy at one address: the
// FFT spectra of the earlier step must not be reused.
TEST(ConvTranspose2D, FftSeesWeightsAndGradientsChangedInPlace) {
  ConvTranspose2D fft(2, 3, 3, {.padding = 1, .algo = ConvAlgo::FFT});
  ConvTranspose2D ref(2, 3, 3, {.padding = 1, .algo = ConvAlgo::Direct});
  fft.set_needs_input_grad(false);
  ref.set_needs_input_grad(false);
  ref.weight() = fft.weight();
  const Tensor x = random_tensor({2, 2, 5, 4}, 6);
  Tensor dy = random_tensor({2, 3, 5, 4}, 7);
  for (int step = 0; step < 2; ++step) {
    EXPECT_LT(max_rel_diff(fft.forward(x), ref.forward(x)), 1e-4);
    fft.backward(dy);
    ref.backward(dy);
    dy *= -2.0f;  // in place
    fft.backward(dy);
    ref.backward(dy);
    EXPECT_LT(max_rel_diff(fft.weight_grad(), ref.weight_grad()), 1e-4);
    fft.weight() += 0.5f * fft.weight_grad();  // an optimiser's step, in place
    ref.weight() += 0.5f * ref.weight_grad();
  }
}

TEST(ConvTranspose2D, SizesAndOptionsThatDoNotFitThrowNamingThem) {
  ConvTranspose2D t(2, 3, 3, {.padding = 3});
  const std::string msg = error_message([&] { t.output_shape({1, 2, 2, 2}); });
  EXPECT_TRUE(contains(msg, "ConvTranspose2D")) << msg;
  EXPECT_TRUE(contains(msg, "(1, 2, 2, 2)")) << msg;
  EXPECT_TRUE(contains(msg, "-2x-2")) << msg;
  EXPECT_TRUE(contains(error_message([&] { t.output_shape({1, 3, 4, 4}); }), "(N, 2, H, W)"));
  const std::string op = error_message([] { ConvTranspose2D(1, 1, 3, {.stride = 2, .output_padding = 2}); });
  EXPECT_TRUE(contains(op, "output_padding")) << op;
  EXPECT_THROW(ConvTranspose2D(1, 1, 3, {.stride = 2, .algo = ConvAlgo::FFT}), Error);
  EXPECT_THROW(ConvTranspose2D(0, 1, 3), Error);
}

TEST(ConvTranspose2D, NamesPlansAndPyTorchLayout) {
  ConvTranspose2D t(32, 16, 4, {.stride = 2, .padding = 1});
  EXPECT_EQ(t.name(), "ConvTranspose2D(32->16, 4x4, stride 2, padding 1, auto)");
  EXPECT_EQ(shape_of(t.weight()), (Shape{32, 16, 4, 4}));
  EXPECT_EQ(t.output_shape({8, 32, 7, 7}), (Shape{8, 16, 14, 14}));
  EXPECT_TRUE(contains(t.name_for({8, 32, 7, 7}), "auto: ")) << t.name_for({8, 32, 7, 7});
  std::vector<std::string> names;
  for (const Parameter& p : t.parameters()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"weight", "bias"}));
}

}  // namespace
