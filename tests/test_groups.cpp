// Grouped and depthwise convolutions: every algorithm that takes groups against a
// reference built from one ungrouped direct convolution per group, on odd shapes; the
// layers' gradients, shapes, names, Auto's choice and the errors.
#include <minicnn/minicnn.hpp>
#include <minicnn/layers/conv/direct.hpp>
#include <minicnn/layers/conv/dispatch.hpp>

#include <gtest/gtest.h>
#include <xtensor/xview.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

struct Case {
  std::size_t N, C, H, W, K, KH, KW, stride, pad, dil, groups;
};

// Two and three groups, depthwise with one and with two outputs per channel, batch 1,
// one group of one channel, non-square planes and kernels, padding larger than half the
// kernel (and than the kernel), strides 2 and 3, dilation 2, 64 channels depthwise.
// The depthwise "same" 3×3 (stride 1, padding 1) also with two outputs per channel,
// planes one column wide and one row high, and planes wide enough to be done a few rows
// at a time (the last band shorter).
const Case kCases[] = {
    {2, 4, 7, 6, 6, 3, 3, 1, 1, 1, 2},    {1, 6, 9, 5, 3, 3, 2, 2, 2, 1, 3},
    {2, 3, 8, 7, 3, 3, 3, 1, 1, 1, 3},    {1, 3, 6, 9, 6, 3, 3, 1, 2, 1, 3},
    {2, 4, 11, 10, 8, 5, 3, 2, 4, 1, 4},  {1, 1, 5, 5, 1, 3, 3, 1, 1, 1, 1},
    {3, 2, 9, 9, 4, 3, 3, 1, 2, 2, 2},    {1, 5, 13, 11, 5, 3, 3, 3, 0, 1, 5},
    {2, 64, 10, 9, 64, 3, 3, 1, 1, 1, 64}, {1, 2, 4, 4, 2, 1, 1, 1, 0, 1, 2},
    {2, 3, 6, 7, 3, 3, 3, 1, 5, 1, 3},    {1, 4, 12, 3, 8, 3, 1, 1, 1, 1, 4},
    {2, 3, 5, 8, 6, 3, 3, 1, 1, 1, 3},    {2, 2, 6, 1, 4, 3, 3, 1, 1, 1, 2},
    {1, 2, 1, 5, 2, 3, 3, 1, 1, 1, 2},    {1, 2, 9, 700, 4, 3, 3, 1, 1, 1, 2},
    // One input channel, several outputs of it ("same" 3×3, a stem): backward-weights
    // splits the channel's kernels among the threads, 5 = 3 + 2 unevenly.
    {2, 1, 40, 37, 5, 3, 3, 1, 1, 1, 1},
};

ConvGeom geom(const Case& c) {
  return ConvGeom::make(c.N, c.C, c.H, c.W, c.K, c.KH, c.KW, c.stride, c.pad, c.dil)
      .grouped(c.groups);
}

std::string describe(const ConvGeom& g) {
  // (From a std::string on: "N" + a temporary string set off a false -Wrestrict in GCC 12.)
  return std::string("N") + std::to_string(g.N) + " C" + std::to_string(g.C) + " " +
         std::to_string(g.H) + "x" + std::to_string(g.W) + " K" + std::to_string(g.K) + " k" +
         std::to_string(g.KH) + "x" + std::to_string(g.KW) + " s" + std::to_string(g.stride) +
         " p" + std::to_string(g.padding) + " d" + std::to_string(g.dilation) + " groups " +
         std::to_string(g.groups);
}

std::vector<float> random_vec(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& e : v) e = rng.uniform(-1, 1);
  return v;
}

// Channels [c0, c0 + count) of every image of an (N, channels, plane) tensor, and back.
std::vector<float> take(const std::vector<float>& t, std::size_t N, std::size_t channels,
                        std::size_t plane, std::size_t c0, std::size_t count) {
  std::vector<float> out(N * count * plane);
  for (std::size_t n = 0; n < N; ++n)
    std::copy_n(t.begin() + std::ptrdiff_t((n * channels + c0) * plane), count * plane,
                out.begin() + std::ptrdiff_t(n * count * plane));
  return out;
}
void put(const std::vector<float>& part, std::size_t N, std::size_t channels, std::size_t plane,
         std::size_t c0, std::size_t count, std::vector<float>& t) {
  for (std::size_t n = 0; n < N; ++n)
    std::copy_n(part.begin() + std::ptrdiff_t(n * count * plane), count * plane,
                t.begin() + std::ptrdiff_t((n * channels + c0) * plane));
}

// The three passes as G ungrouped direct convolutions on each group's channels.
struct Reference {
  std::vector<float> y, dx, dw, db;
};
Reference reference(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& w,
                    const std::vector<float>& b, const std::vector<float>& dy) {
  const ConvGeom one = g.group();
  const std::size_t Cg = one.C, Kg = one.K, HW = g.H * g.W, P = g.OH * g.OW;
  const std::size_t wg = Kg * one.col_rows();
  Reference r{std::vector<float>(g.N * g.K * P), std::vector<float>(g.N * g.C * HW),
              std::vector<float>(g.weight_numel(), 0.0f), std::vector<float>(g.K, 0.0f)};
  for (std::size_t gi = 0; gi < g.groups; ++gi) {
    const std::vector<float> xg = take(x, g.N, g.C, HW, gi * Cg, Cg);
    const std::vector<float> dyg = take(dy, g.N, g.K, P, gi * Kg, Kg);
    const float* wg_ptr = w.data() + gi * wg;
    std::vector<float> yg(g.N * Kg * P), dxg(g.N * Cg * HW);
    conv2d_direct_forward(one, xg.data(), wg_ptr, b.data() + gi * Kg, yg.data());
    conv2d_direct_backward_data(one, dyg.data(), wg_ptr, dxg.data());
    conv2d_direct_backward_weights(one, xg.data(), dyg.data(), r.dw.data() + gi * wg,
                                   r.db.data() + gi * Kg);
    put(yg, g.N, g.K, P, gi * Kg, Kg, r.y);
    put(dxg, g.N, g.C, HW, gi * Cg, Cg, r.dx);
  }
  return r;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  float scale = 0.0f;
  for (float v : want) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5f * std::max(1.0f, scale)) << what << " at " << i;
}

TEST(GroupedConv, EveryAlgorithmMatchesPerGroupReference) {
  int checked = 0;
  for (const Case& c : kCases) {
    const ConvGeom g = geom(c);
    const auto x = random_vec(g.N * g.C * g.H * g.W, 1);
    const auto w = random_vec(g.weight_numel(), 2);
    const auto b = random_vec(g.K, 3);
    const auto dy = random_vec(g.N * g.K * g.OH * g.OW, 4);
    const Reference want = reference(g, x, w, b, dy);
    for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::Depthwise}) {
      if (!conv_algo_eligible(a, g)) continue;
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        const std::string what = to_string(a) + " " + describe(g) + " threads " +
                                 std::to_string(threads);
        std::vector<float> y(want.y.size()), dx(want.dx.size()), dw(want.dw.size(), 0.0f),
            db(g.K, 0.0f);
        ConvWorkspace ws;
        const ConvTensors t{.x = x.data(), .w = w.data(), .b = b.data(), .dy = dy.data(),
                            .y = y.data(), .dx = dx.data(), .dw = dw.data(), .db = db.data()};
        conv2d_run(a, ConvPass::Forward, g, t, ws);
        conv2d_run(a, ConvPass::BackwardData, g, t, ws);
        conv2d_run(a, ConvPass::BackwardWeights, g, t, ws);
        expect_close(y, want.y, what + " forward");
        expect_close(dx, want.dx, what + " backward-data");
        expect_close(dw, want.dw, what + " backward-weights");
        expect_close(db, want.db, what + " bias gradient");
        ++checked;
      }
    }
  }
  set_num_threads(2);
  EXPECT_GE(checked, 2 * 16 * 2);  // direct and im2col on every case, depthwise on some
}

TEST(GroupedConv, EligibilityAndAutoTakesDepthwise) {
  const ConvGeom dw = ConvGeom::make(2, 8, 9, 9, 16, 3, 3, 1, 1).grouped(8);
  const ConvGeom two = ConvGeom::make(2, 8, 9, 9, 16, 3, 3, 1, 1).grouped(2);
  EXPECT_TRUE(conv_algo_eligible(ConvAlgo::Depthwise, dw));
  EXPECT_FALSE(conv_algo_eligible(ConvAlgo::Depthwise, two));
  for (ConvAlgo a : {ConvAlgo::FFT, ConvAlgo::Winograd}) {
    EXPECT_FALSE(conv_algo_eligible(a, dw));
    EXPECT_FALSE(conv_algo_eligible(a, two));
  }
  for (ConvPass p : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
    EXPECT_EQ(conv_select(dw, p, 2, Im2colWorkspace::kDefaultLimit).algo, ConvAlgo::Depthwise);
    EXPECT_NE(conv_select(two, p, 2, Im2colWorkspace::kDefaultLimit).algo, ConvAlgo::Depthwise);
  }
  EXPECT_EQ(dw.flops(), 2.0 * 2 * 16 * 1 * 9 * 81);
  EXPECT_EQ(dw.weight_numel(), 16u * 9u);
}

// Called directly, the depthwise loops refuse a geometry that is not depthwise.
TEST(GroupedConv, DepthwiseLoopsRefuseOtherGeometries) {
  const ConvGeom two = ConvGeom::make(1, 4, 5, 5, 4, 3, 3).grouped(2);
  std::vector<float> x(100), w(two.weight_numel()), y(100);
  expect_error_naming([&] { conv2d_depthwise_forward(two, x.data(), w.data(), nullptr, y.data()); },
                      {"conv2d_depthwise_forward", "groups 2"});
  expect_error_naming([&] { conv2d_depthwise_backward_data(two, y.data(), w.data(), x.data()); },
                      {"conv2d_depthwise_backward_data", "groups 2"});
  expect_error_naming(
      [&] { conv2d_depthwise_backward_weights(two, x.data(), y.data(), w.data(), nullptr); },
      {"conv2d_depthwise_backward_weights", "groups 2"});
}

TEST(GroupedConv, GeometryRefusesGroupsThatDoNotDivide) {
  expect_error_naming([] { ConvGeom::make(1, 6, 5, 5, 4, 3, 3).grouped(4, "test"); },
                      {"test", "groups 4", "6 in-channels", "4 out-channels"});
  expect_error_naming([] { ConvGeom::make(1, 6, 5, 5, 4, 3, 3).grouped(0, "test"); },
                      {"test", "groups"});
}

// ---- the layers ----

TEST(Conv2DGroups, WeightShapeNameAndParameters) {
  Conv2D c(6, 9, 3, {.padding = 1, .groups = 3});
  EXPECT_EQ(shape_of(c.weight()), (Shape{9, 2, 3, 3}));
  EXPECT_TRUE(contains(c.name(), "groups 3")) << c.name();
  EXPECT_EQ(c.output_shape({2, 6, 5, 4}), (Shape{2, 9, 5, 4}));
  Conv2D dw(4, 8, 3, {.padding = 1, .groups = 4});
  EXPECT_EQ(shape_of(dw.weight()), (Shape{8, 1, 3, 3}));
  // A "same" layer large enough for the depthwise loops to use every thread: there they
  // took 75 µs a training step against im2col's 171. (On a layer of a few microseconds
  // the choice is a toss-up, and without padding the generic loops lost to im2col,
  // 185 against 161 µs.)
  const ConvPlan p = dw.plan({8, 4, 28, 28});
  for (const ConvChoice& ch : p) EXPECT_EQ(ch.algo, ConvAlgo::Depthwise);
  EXPECT_TRUE(contains(dw.name_for({8, 4, 28, 28}), "depthwise/depthwise/depthwise"))
      << dw.name_for({8, 4, 28, 28});
}

TEST(Conv2DGroups, ErrorsNameTheLayerAndValues) {
  expect_error_naming([] { Conv2D(6, 4, 3, {.groups = 4}); },
                      {"Conv2D", "groups 4", "6->4"});
  expect_error_naming([] { Conv2D(6, 6, 3, {.groups = 0}); }, {"Conv2D", "groups"});
  expect_error_naming([] { Conv2D(4, 4, 3, {.groups = 2, .algo = ConvAlgo::FFT}); },
                      {"Conv2D(4->4", "fft", "groups = 1", "groups 2"});
  expect_error_naming([] { Conv2D(4, 4, 3, {.groups = 2}).set_algo(ConvAlgo::Winograd); },
                      {"Conv2D(4->4", "winograd", "groups 2"});
  expect_error_naming([] { Conv2D(4, 4, 3, {.groups = 2, .algo = ConvAlgo::Depthwise}); },
                      {"Conv2D(4->4", "depthwise", "one input channel per group", "got 2"});
  Conv2D c(4, 4, 3, {.groups = 2});
  expect_error_naming([&] { c.forward(random_tensor({1, 2, 5, 5}, 1)); },
                      {"Conv2D(4->4", "(N, 4, H, W)", "(1, 2, 5, 5)"});
  c.weight() = random_tensor({4, 4, 3, 3}, 2);  // the ungrouped shape
  expect_error_naming([&] { c.forward(random_tensor({1, 4, 5, 5}, 1)); },
                      {"Conv2D(4->4", "weight", "(4, 2, 3, 3)", "(4, 4, 3, 3)"});
}

// Forward of a grouped layer equals the layers of its groups run on their channels.
TEST(Conv2DGroups, EqualsOneLayerPerGroup) {
  for (ConvAlgo a : {ConvAlgo::Auto, ConvAlgo::Im2colGemm, ConvAlgo::Direct}) {
    Conv2D grouped(6, 4, 3, {.stride = 2, .padding = 2, .groups = 2, .algo = a});
    const Tensor x = random_tensor({2, 6, 9, 8}, 7);
    const Tensor y = grouped.forward(x);
    for (std::size_t gi = 0; gi < 2; ++gi) {
      Conv2D part(3, 2, 3, {.stride = 2, .padding = 2, .algo = ConvAlgo::Direct});
      part.weight() = xt::view(grouped.weight(), xt::range(2 * gi, 2 * gi + 2));
      part.bias() = xt::view(grouped.bias(), xt::range(2 * gi, 2 * gi + 2));
      const Tensor xg = xt::view(x, xt::all(), xt::range(3 * gi, 3 * gi + 3));
      const Tensor yg = xt::view(y, xt::all(), xt::range(2 * gi, 2 * gi + 2));
      expect_near(yg, part.forward(xg), 1e-5f);
    }
  }
}

TEST(Conv2DGroups, GradientsCheck) {
  {
    Conv2D c(4, 6, 3, {.padding = 1, .groups = 2, .algo = ConvAlgo::Im2colGemm});
    expect_gradcheck(c, {2, 4, 5, 6});
  }
  {
    Conv2D c(3, 6, {3, 2}, {.stride = 2, .padding = 2, .groups = 3, .algo = ConvAlgo::Depthwise});
    expect_gradcheck(c, {1, 3, 7, 6});
  }
  {
    Conv2D c(4, 4, 3, {.padding = 1, .groups = 4});  // Auto: depthwise
    expect_gradcheck(c, {2, 4, 6, 5});
  }
  {
    Conv2D c(2, 2, 3, {.padding = 2, .dilation = 2, .groups = 2, .algo = ConvAlgo::Direct});
    expect_gradcheck(c, {1, 2, 6, 7});
  }
}

TEST(ConvTranspose2DGroups, WeightShapeGradientsAndPerGroupEquality) {
  ConvTranspose2D t(4, 6, 3, {.stride = 2, .padding = 1, .output_padding = 1, .groups = 2});
  EXPECT_EQ(shape_of(t.weight()), (Shape{4, 3, 3, 3}));
  EXPECT_TRUE(contains(t.name(), "groups 2")) << t.name();
  expect_gradcheck(t, {2, 4, 4, 3});
  const Tensor x = random_tensor({2, 4, 4, 3}, 3);
  const Tensor y = t.forward(x);
  for (std::size_t gi = 0; gi < 2; ++gi) {
    ConvTranspose2D part(2, 3, 3, {.stride = 2, .padding = 1, .output_padding = 1});
    part.weight() = xt::view(t.weight(), xt::range(2 * gi, 2 * gi + 2));
    part.bias() = xt::view(t.bias(), xt::range(3 * gi, 3 * gi + 3));
    const Tensor xg = xt::view(x, xt::all(), xt::range(2 * gi, 2 * gi + 2));
    const Tensor yg = xt::view(y, xt::all(), xt::range(3 * gi, 3 * gi + 3));
    expect_near(yg, part.forward(xg), 1e-5f);
  }
  // Depthwise transposed: one output channel per group of the convolution it transposes.
  ConvTranspose2D dt(3, 3, 3, {.padding = 1, .groups = 3});
  for (const ConvChoice& ch : dt.plan({1, 3, 5, 4})) EXPECT_EQ(ch.algo, ConvAlgo::Depthwise);
  expect_gradcheck(dt, {1, 3, 5, 4});
}

// A MobileNet block: depthwise 3×3, batch norm, ReLU, pointwise 1×1, in a Sequential.
TEST(Conv2DGroups, SeparableBlockTrainsAsOneModel) {
  Sequential block;
  block.add(Conv2D(4, 4, 3, {.padding = 1, .groups = 4, .bias = false}));
  block.add(BatchNorm2D(4));
  block.add(ReLU());
  block.add(Conv2D(4, 8, 1));
  EXPECT_EQ(block.output_shape({2, 4, 6, 6}), (Shape{2, 8, 6, 6}));
  expect_gradcheck(block, {2, 4, 6, 6});
  EXPECT_EQ(block.parameters()[0].value->shape()[1], 1u);
}

}  // namespace
