// The Layer contract that the base class enforces for every layer: backward refers to a
// matching forward, and every way of breaking that throws Error naming the layer.
#include <minicnn/minicnn.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

struct Made {
  std::string what;
  std::function<std::unique_ptr<Layer>()> make;
  Shape x;
};

Tensor random_like(const Shape& s, std::uint64_t seed) {
  Rng rng(seed);
  Tensor t = Tensor::from_shape(s);
  for (float& v : t) v = rng.uniform(-1.0f, 1.0f);
  return t;
}

// One of every built-in layer, with an input it takes.
std::vector<Made> every_layer() {
  return {
      {"Conv2D im2col", [] { return std::make_unique<Conv2D>(2, 3, 3, Conv2DOptions{.padding = 1, .algo = ConvAlgo::Im2colGemm}); }, {2, 2, 5, 4}},
      {"Conv2D fft", [] { return std::make_unique<Conv2D>(2, 3, 3, Conv2DOptions{.algo = ConvAlgo::FFT}); }, {2, 2, 5, 4}},
      {"Conv2D winograd", [] { return std::make_unique<Conv2D>(2, 3, 3, Conv2DOptions{.padding = 1, .algo = ConvAlgo::Winograd}); }, {2, 2, 5, 4}},
      {"Conv2D auto", [] { return std::make_unique<Conv2D>(2, 3, 3); }, {2, 2, 5, 4}},
      {"Dense", [] { return std::make_unique<Dense>(4, 3); }, {2, 4}},
      {"ReLU", [] { return std::make_unique<ReLU>(); }, {2, 3}},
      {"LeakyReLU", [] { return std::make_unique<LeakyReLU>(); }, {2, 3}},
      {"Sigmoid", [] { return std::make_unique<Sigmoid>(); }, {2, 3}},
      {"Tanh", [] { return std::make_unique<Tanh>(); }, {2, 3}},
      {"Softmax", [] { return std::make_unique<Softmax>(); }, {2, 3}},
      {"MaxPool2D", [] { return std::make_unique<MaxPool2D>(2); }, {1, 2, 4, 4}},
      {"AvgPool2D", [] { return std::make_unique<AvgPool2D>(2); }, {1, 2, 4, 4}},
      {"GlobalAvgPool2D", [] { return std::make_unique<GlobalAvgPool2D>(); }, {1, 2, 4, 4}},
      {"Flatten", [] { return std::make_unique<Flatten>(); }, {2, 2, 3}},
      {"Dropout", [] { return std::make_unique<Dropout>(0.5f); }, {2, 3}},
      {"BatchNorm2D", [] { return std::make_unique<BatchNorm2D>(2); }, {2, 2, 3, 3}},
      {"Sequential", [] {
         auto net = std::make_unique<Sequential>();
         net->add<Dense>(4, 3);
         net->add<ReLU>();
         net->set_needs_input_grad(true);
         return net;
       }, {2, 4}},
  };
}

class LayerContract : public ::testing::TestWithParam<std::size_t> {
 protected:
  Made m = every_layer()[GetParam()];
  std::unique_ptr<Layer> layer = m.make();
  Tensor x = random_like(m.x, 1);
  Tensor dy() const { return random_like(layer->output_shape(m.x), 2); }
};

TEST_P(LayerContract, BackwardWithoutForwardThrows) {
  const std::string msg = error_message([&] { layer->backward(dy()); });
  EXPECT_TRUE(contains(msg, layer->name())) << msg;
  EXPECT_TRUE(contains(msg, "without a forward")) << msg;
}

TEST_P(LayerContract, BackwardAfterAnEvalForwardThrows) {
  layer->set_training(false);
  layer->forward(x);
  EXPECT_TRUE(contains(error_message([&] { layer->backward(dy()); }), "without a forward"));
}

TEST_P(LayerContract, BackwardAfterSetTrainingFalseThrows) {
  layer->forward(x);
  layer->set_training(false);
  const std::string msg = error_message([&] { layer->backward(dy()); });
  EXPECT_TRUE(contains(msg, layer->name())) << msg;
  EXPECT_TRUE(contains(msg, "set_training(false)")) << msg;
  // Back in training mode a new forward makes backward work again.
  layer->set_training(true);
  layer->forward(x);
  EXPECT_NO_THROW(layer->backward(dy()));
}

TEST_P(LayerContract, BackwardAfterSetNeedsInputGradThrows) {
  layer->forward(x);
  layer->set_needs_input_grad(!layer->needs_input_grad());
  const std::string msg = error_message([&] { layer->backward(dy()); });
  EXPECT_TRUE(contains(msg, "set_needs_input_grad")) << msg;
  layer->forward(x);
  EXPECT_NO_THROW(layer->backward(dy()));
}

TEST_P(LayerContract, BackwardWithAnotherDyShapeThrows) {
  layer->forward(x);
  Shape wrong = layer->output_shape(m.x);
  wrong[0] += 1;
  const std::string msg = error_message([&] { layer->backward(Tensor(wrong, 1.0f)); });
  EXPECT_TRUE(contains(msg, layer->name())) << msg;
  EXPECT_TRUE(contains(msg, "dy")) << msg;
  EXPECT_TRUE(contains(msg, to_string(wrong))) << msg;
}

TEST_P(LayerContract, InputGradientIsFreshAndOnlyWhenWanted) {
  layer->set_needs_input_grad(true);
  layer->forward(x);
  const std::optional<Tensor> dx = layer->backward(dy());
  ASSERT_TRUE(dx.has_value());
  EXPECT_EQ(shape_of(*dx), m.x);
  layer->set_needs_input_grad(false);
  layer->forward(x);
  EXPECT_FALSE(layer->backward(dy()).has_value());
}

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) {
  std::string s = every_layer()[info.param].what;
  for (char& c : s)
    if (c == ' ') c = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(EveryLayer, LayerContract,
                         ::testing::Range(std::size_t{0}, every_layer().size()), case_name);

// The crash of the first version: FFT forward, another algorithm, then backward.
TEST(Conv2DContract, BackwardAfterSetAlgoThrowsForEveryPair) {
  const ConvAlgo algos[] = {ConvAlgo::FFT, ConvAlgo::Im2colGemm, ConvAlgo::Direct,
                            ConvAlgo::Winograd, ConvAlgo::Auto};
  const Tensor x = random_like({2, 2, 6, 5}, 3);
  for (ConvAlgo from : algos)
    for (ConvAlgo to : algos) {
      Conv2D conv(2, 3, 3, {.algo = from});
      const Tensor y = conv.forward(x);
      conv.set_algo(to);
      const std::string msg = error_message([&] { conv.backward(random_like(shape_of(y), 4)); });
      EXPECT_TRUE(contains(msg, "set_algo")) << to_string(from) << " -> " << to_string(to) << ": " << msg;
      conv.forward(x);
      EXPECT_NO_THROW(conv.backward(random_like(shape_of(y), 4)));
    }
}

TEST(Conv2DContract, NameIsPureAndNameForShowsThePlan) {
  Conv2D conv(20, 50, 5);
  const std::string before = conv.name();
  EXPECT_EQ(before, "Conv2D(20->50, 5x5, auto)");
  const Shape x{64, 20, 12, 12};
  const ConvPlan p = conv.plan(x);
  const std::string expected = "Conv2D(20->50, 5x5, auto: " + to_string(p[0].algo) + "/" +
                               to_string(p[1].algo) + "/" + to_string(p[2].algo) + ")";
  EXPECT_EQ(conv.name_for(x), expected);  // without a forward
  conv.forward(random_like(x, 5));
  EXPECT_EQ(conv.name(), before);
  Conv2D fixed(1, 2, 3, {.algo = ConvAlgo::Im2colGemm});
  EXPECT_EQ(fixed.name_for({1, 1, 5, 5}), "Conv2D(1->2, 3x3, im2col)");
}

TEST(Conv2DContract, SummaryShowsTheAlgorithmsWithoutAForward) {
  Sequential net;
  net.add<Conv2D>(1, 4, 3);
  const std::string s = net.summary({8, 1, 10, 10});
  EXPECT_TRUE(contains(s, "auto: ")) << s;
}

TEST(Conv2DContract, PlansAreCachedByTheWholeGeometry) {
  Conv2D conv(3, 4, 3, {.algo = ConvAlgo::FFT});
  // Same batch size, other planes: each plan has its own workspace.
  const ConvPlan small = conv.plan({2, 3, 8, 8});
  const ConvPlan large = conv.plan({2, 3, 40, 40});
  EXPECT_LT(small[0].workspace_bytes, large[0].workspace_bytes);
  EXPECT_EQ(conv.plan({2, 3, 8, 8})[0].workspace_bytes, small[0].workspace_bytes);
  // And each runs right after the other.
  for (const Shape& s : {Shape{2, 3, 8, 8}, Shape{2, 3, 40, 40}, Shape{2, 3, 8, 8}}) {
    const Tensor x = random_like(s, 6);
    Conv2D ref(3, 4, 3, {.algo = ConvAlgo::Direct});
    ref.weight() = conv.weight();
    ref.bias() = conv.bias();
    const Tensor y = conv.forward(x), y_ref = ref.forward(x);
    EXPECT_LT(xt::amax(xt::abs(y - y_ref))(), 1e-4f);
  }
}

TEST(SequentialContract, AMiddleLayerWithoutInputGradientIsAnError) {
  Sequential net;
  net.add<Dense>(3, 3);
  Layer& middle = net.add<ReLU>();
  net.add<Dense>(3, 2);
  middle.set_needs_input_grad(false);
  net.forward(random_like({2, 3}, 7));
  const std::string msg = error_message([&] { net.backward(random_like({2, 2}, 8)); });
  EXPECT_TRUE(contains(msg, "layer 1")) << msg;
  EXPECT_TRUE(contains(msg, "input gradient")) << msg;
}

}  // namespace
