// Residual and Concat, named children and PyTorch's state_dict names, nesting.
#include <minicnn/minicnn.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <tuple>
#include <map>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {


std::vector<std::string> names_of(const std::vector<Parameter>& ps) {
  std::vector<std::string> names;
  for (const Parameter& p : ps) names.push_back(p.name);
  return names;
}

// A ReLU of a class derived from minicnn's: a Residual runs it as a layer of its own.
class OwnReLU : public ReLU {};

// torchvision's BasicBlock: conv1, bn1, relu, conv2, bn2 (+ downsample), Act after the sum
// (ReLU, which the block runs itself, or OwnReLU, which it runs as a layer).
template <class Act = ReLU>
Residual basic_block(std::size_t in, std::size_t out, std::size_t stride) {
  Sequential body;
  body.add("conv1", Conv2D(in, out, 3, {.stride = stride, .padding = 1, .bias = false}));
  body.add("bn1", BatchNorm2D(out));
  body.add("relu", ReLU());
  body.add("conv2", Conv2D(out, out, 3, {.padding = 1, .bias = false}));
  body.add("bn2", BatchNorm2D(out));
  if (stride == 1 && in == out) return Residual(own(std::move(body)), nullptr, own(Act()));
  Sequential down;
  down.add(Conv2D(in, out, 1, {.stride = stride, .bias = false}));
  down.add(BatchNorm2D(out));
  return Residual(std::move(body), std::move(down), Act());
}

TEST(Residual, HandComputedIdentityShortcut) {
  Sequential body;
  Dense& d = body.add<Dense>(2, 2, /*bias=*/false);
  d.weight() = Tensor{{1.0f, 2.0f}, {0.0f, -1.0f}};
  Residual r(std::move(body));
  // y = W x + x
  expect_near(r.forward(Tensor{{1.0f, 1.0f}}), Tensor{{4.0f, 0.0f}});
  // dx = Wᵀ dy + dy
  expect_near(r.backward(Tensor{{1.0f, 1.0f}}).value(), Tensor{{2.0f, 2.0f}});
}

TEST(Residual, EmptyBodyIsIdentityPlusShortcut) {
  Dense shortcut(3, 3);
  const Tensor w = shortcut.weight(), b = shortcut.bias();
  Residual r(Sequential{}, std::move(shortcut));
  const Tensor x = random_tensor({2, 3}, 1);
  Dense ref(3, 3);
  ref.weight() = w;
  ref.bias() = b;
  expect_near(r.forward(x), x + ref.forward(x), 1e-5f);
}

TEST(Residual, GradientsOnOddShapes) {
  // Identity shortcut with activation, projection shortcut, batch 1, one channel, non-square.
  Residual identity(own(Conv2D(1, 1, 3, {.padding = 1})), nullptr, own(Tanh()));
  expect_gradcheck(identity, {1, 1, 5, 3});
  Residual proj(Conv2D(2, 3, 3, {.stride = 2, .padding = 1}), Conv2D(2, 3, 1, {.stride = 2}),
                Sigmoid());
  expect_gradcheck(proj, {2, 2, 6, 5});
}

TEST(Residual, NestedBasicBlocksGradientCheck) {
  // The weights as a fresh process draws them, whichever tests ran before in this one
  // (some draws put a ReLU's kink within eps of an input).
  manual_seed(42);
  Sequential net;
  net.set_needs_input_grad(true);
  Sequential layer1;
  layer1.add(basic_block(2, 2, 1));
  layer1.add(basic_block(2, 3, 2));
  net.add("layer1", std::move(layer1));
  // Batch norm in training mode mixes the batch: a smooth function all the same.
  expect_gradcheck(net, {2, 2, 5, 4}, {.eps = 1e-2, .tolerance = 2e-2});
}

// Residual(body, shortcut, ReLU) runs the sum and the ReLU itself; the same block with
// the ReLU as a layer of its own (OwnReLU) must give the same bits: y in training and
// eval mode, dx and every parameter's gradient, over two steps.
void expect_fused_relu_same_bits(Residual& fused, Residual& plain, const Tensor& x,
                                 const Tensor& dy) {
  std::vector<Parameter> pf = fused.parameters(), pp = plain.parameters();
  ASSERT_EQ(pf.size(), pp.size());
  for (std::size_t i = 0; i < pf.size(); ++i) *pp[i].value = *pf[i].value;
  for (int step = 0; step < 2; ++step) {
    fused.zero_grad();
    plain.zero_grad();
    const Tensor yf = fused.forward(x), yp = plain.forward(x);
    EXPECT_TRUE(same_bits(yf, yp)) << "y, step " << step;
    const Tensor dxf = fused.backward(dy).value(), dxp = plain.backward(dy).value();
    EXPECT_TRUE(same_bits(dxf, dxp)) << "dx, step " << step;
    for (std::size_t i = 0; i < pf.size(); ++i)
      EXPECT_TRUE(same_bits(*pf[i].grad, *pp[i].grad)) << pf[i].name << ", step " << step;
  }
  fused.set_training(false);
  plain.set_training(false);
  EXPECT_TRUE(same_bits(fused.forward(x), plain.forward(x))) << "eval";
  fused.set_training(true);
  plain.set_training(true);
}

TEST(Residual, ReluAfterTheSumGivesTheSameBitsAsTheLayer) {
  // An empty body and the identity: the sum is 2x, so x picks what the ReLU meets: a
  // NaN, an Inf of each sign, zero at the kink, -0, the smallest subnormal, 1, -1.
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = Tensor{{std::nanf(""), inf, -inf, 0.0f, -0.0f,
                     std::numeric_limits<float>::denorm_min(), 1.0f, -1.0f}};
  const Tensor dy = random_tensor({1, 8}, 3);
  Residual fused(Sequential{}, Sequential{}, ReLU());
  Residual plain(Sequential{}, Sequential{}, OwnReLU());
  fused.set_needs_input_grad(true);
  plain.set_needs_input_grad(true);
  expect_fused_relu_same_bits(fused, plain, x, dy);
  // BasicBlocks with the identity (batch 1, odd planes) and with a projection.
  for (const auto& [in, out, stride, shape] :
       std::vector<std::tuple<std::size_t, std::size_t, std::size_t, Shape>>{
           {3, 3, 1, {1, 3, 7, 5}}, {2, 4, 2, {3, 2, 9, 6}}}) {
    SCOPED_TRACE(to_string(shape));
    Residual a = basic_block(in, out, stride);
    Residual plain_block = basic_block<OwnReLU>(in, out, stride);
    a.set_needs_input_grad(true);
    plain_block.set_needs_input_grad(true);
    const Tensor xb = random_tensor(shape, 4);
    const Tensor dyb = random_tensor(a.output_shape(shape), 5);
    expect_fused_relu_same_bits(a, plain_block, xb, dyb);
  }
}

TEST(Residual, KeysAreTorchvisions) {
  Sequential net;
  Sequential layer1, layer2;
  layer1.add(basic_block(4, 4, 1));
  layer2.add(basic_block(4, 8, 2));
  net.add("layer1", std::move(layer1));
  net.add("layer2", std::move(layer2));
  const std::vector<std::string> params = names_of(net.parameters());
  const std::vector<std::string> expected = {
      "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
      "layer1.0.conv2.weight", "layer1.0.bn2.weight", "layer1.0.bn2.bias",
      "layer2.0.conv1.weight", "layer2.0.bn1.weight", "layer2.0.bn1.bias",
      "layer2.0.conv2.weight", "layer2.0.bn2.weight", "layer2.0.bn2.bias",
      "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
      "layer2.0.downsample.1.bias"};
  EXPECT_EQ(params, expected);
  const std::vector<std::string> buffers = names_of(net.buffers());
  EXPECT_NE(std::find(buffers.begin(), buffers.end(), "layer2.0.downsample.1.running_mean"),
            buffers.end());
  EXPECT_NE(std::find(buffers.begin(), buffers.end(), "layer1.0.bn2.running_var"),
            buffers.end());
}

TEST(Residual, BranchesThatDisagreeNameBothShapes) {
  Residual r(Conv2D(2, 3, 3), Conv2D(2, 3, 1));
  const std::string msg = error_message([&] { r.output_shape({1, 2, 6, 6}); });
  EXPECT_TRUE(contains(msg, "Residual")) << msg;
  EXPECT_TRUE(contains(msg, "(1, 3, 4, 4)")) << msg;
  EXPECT_TRUE(contains(msg, "(1, 3, 6, 6)")) << msg;
  EXPECT_TRUE(contains(msg, "downsample")) << msg;
  EXPECT_THROW(r.forward(random_tensor({1, 2, 6, 6}, 1)), Error);
  EXPECT_THROW(Residual(nullptr), Error);
}

TEST(Residual, TrainingModeAndInputGradientPropagate) {
  Sequential net;
  Residual& r = net.add(basic_block(2, 3, 2));
  net.set_training(false);
  EXPECT_FALSE(r.body().training());
  EXPECT_FALSE(r.shortcut()->training());
  net.set_training(true);
  // First in a model: neither branch computes an input gradient.
  EXPECT_FALSE(r.body().needs_input_grad());
  EXPECT_FALSE(r.shortcut()->needs_input_grad());
  EXPECT_TRUE(r.activation()->needs_input_grad());
  net.forward(random_tensor({2, 2, 5, 5}, 2));
  EXPECT_FALSE(net.backward(random_tensor({2, 3, 3, 3}, 3)).has_value());
  net.zero_grad();
  for (const Parameter& p : net.parameters()) EXPECT_EQ(xt::amax(xt::abs(*p.grad))(), 0.0f);
}

TEST(Concat, HandComputed) {
  Concat c;
  Dense& a = c.add(Dense(2, 1, /*bias=*/false));
  Dense& b = c.add("b", Dense(2, 2, /*bias=*/false));
  a.weight() = Tensor{{1.0f, 1.0f}};
  b.weight() = Tensor{{1.0f, 0.0f}, {0.0f, 2.0f}};
  expect_near(c.forward(Tensor{{1.0f, 3.0f}}), Tensor{{4.0f, 1.0f, 6.0f}});
  // dx = aᵀ dy[0] + bᵀ dy[1:3]
  expect_near(c.backward(Tensor{{1.0f, 1.0f, 1.0f}}).value(), Tensor{{2.0f, 3.0f}});
  EXPECT_EQ(names_of(c.parameters()), (std::vector<std::string>{"0.weight", "b.weight"}));
  EXPECT_EQ(c.output_shape({5, 2}), (Shape{5, 3}));
}

TEST(Concat, GradientsOfBranchesSharingTheInput) {
  Concat c;
  c.add(Conv2D(2, 3, 3, {.padding = 1}));
  c.add(Conv2D(2, 1, 1));
  Sequential deep;
  deep.add(Conv2D(2, 2, 3, {.padding = 1}));
  deep.add(Tanh());
  c.add("deep", std::move(deep));
  expect_gradcheck(c, {1, 2, 4, 5});
  EXPECT_EQ(c.output_shape({1, 2, 4, 5}), (Shape{1, 6, 4, 5}));
}

TEST(Concat, DifferentSpatialSizesNameTheBranchAndBothShapes) {
  Concat c;
  c.add(Conv2D(2, 3, 3, {.padding = 1}));
  c.add(Conv2D(2, 3, 3));
  const std::string msg = error_message([&] { c.output_shape({1, 2, 6, 6}); });
  EXPECT_TRUE(contains(msg, "branch 1")) << msg;
  EXPECT_TRUE(contains(msg, "(1, 3, 4, 4)")) << msg;
  EXPECT_TRUE(contains(msg, "(1, 3, 6, 6)")) << msg;
  EXPECT_THROW(Concat().output_shape({1, 2}), Error);
}

TEST(Containers, SummaryListsNestedLeavesByPath) {
  Sequential net;
  Sequential layer1;
  layer1.add(basic_block(2, 4, 2));
  net.add("layer1", std::move(layer1));
  net.add("pool", GlobalAvgPool2D());
  const std::string s = net.summary({8, 2, 8, 8});
  EXPECT_TRUE(contains(s, "layer1.0.conv1")) << s;
  EXPECT_TRUE(contains(s, "layer1.0.downsample.1")) << s;
  EXPECT_TRUE(contains(s, "layer1.0.act")) << s;
  EXPECT_TRUE(contains(s, "(8, 4, 4, 4)")) << s;
}

TEST(Containers, NestedCheckpointRoundTripsBitForBit) {
  const auto make = [] {
    Sequential net;
    Sequential layer1;
    layer1.add(basic_block(2, 3, 2));
    net.add("layer1", std::move(layer1));
    Concat heads;
    heads.add(Conv2D(3, 2, 1));
    heads.add("wide", Conv2D(3, 1, 3, {.padding = 1}));
    net.add("heads", std::move(heads));
    return net;
  };
  Sequential a = make();
  a.forward(random_tensor({2, 2, 6, 6}, 4));  // running statistics move away from 0 and 1
  const std::string path =
      (std::filesystem::temp_directory_path() / "minicnn_containers.safetensors").string();
  save_safetensors(a, path);
  manual_seed(99);
  Sequential b = make();
  load_safetensors(b, path);
  std::vector<Parameter> pa = a.parameters(), pb = b.parameters();
  for (Parameter& p : a.buffers()) pa.push_back(p);
  for (Parameter& p : b.buffers()) pb.push_back(p);
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].name, pb[i].name);
    EXPECT_EQ(*pa[i].value, *pb[i].value) << pa[i].name;
  }
  std::filesystem::remove(path);
}

TEST(Containers, NamesMustBeUniqueAndChildrenFoundByName) {
  Sequential net;
  net.add("conv", Conv2D(1, 2, 3));
  EXPECT_THROW(net.add("conv", Conv2D(1, 2, 3)), Error);
  EXPECT_EQ(net.child("conv").name(), "Conv2D(1->2, 3x3, auto)");
  const std::string msg = error_message([&] { net.child("fc"); });
  EXPECT_TRUE(contains(msg, "'conv'")) << msg;
  EXPECT_EQ(net.child_name(0), "conv");
}

}  // namespace
