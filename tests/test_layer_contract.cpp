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


// One of every built-in layer, with an input it takes.
std::vector<Made> every_layer() {
  return {
      {"Conv2D im2col", [] { return std::make_unique<Conv2D>(2, 3, 3, Conv2DOptions{.padding = 1, .algo = ConvAlgo::Im2colGemm}); }, {2, 2, 5, 4}},
      {"Conv2D fft", [] { return std::make_unique<Conv2D>(2, 3, 3, Conv2DOptions{.algo = ConvAlgo::FFT}); }, {2, 2, 5, 4}},
      {"Conv2D winograd", [] { return std::make_unique<Conv2D>(2, 3, 3, Conv2DOptions{.padding = 1, .algo = ConvAlgo::Winograd}); }, {2, 2, 5, 4}},
      {"Conv2D auto", [] { return std::make_unique<Conv2D>(2, 3, 3); }, {2, 2, 5, 4}},
      {"ConvTranspose2D fft", [] { return std::make_unique<ConvTranspose2D>(2, 3, 3, ConvTranspose2DOptions{.padding = 1, .algo = ConvAlgo::FFT}); }, {2, 2, 4, 5}},
      {"ConvTranspose2D auto", [] { return std::make_unique<ConvTranspose2D>(2, 3, 2, ConvTranspose2DOptions{.stride = 2}); }, {1, 2, 3, 3}},
      {"Residual", [] { return std::make_unique<Residual>(Dense(4, 4), Dense(4, 4), ReLU()); }, {2, 4}},
      {"Concat", [] {
         auto c = std::make_unique<Concat>();
         c->add(Dense(4, 2));
         c->add(Dense(4, 3));
         return c;
       }, {2, 4}},
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
  Tensor x = random_tensor(m.x, 1);
  Tensor dy() const { return random_tensor(layer->output_shape(m.x), 2); }
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
  const InputGrad dx = layer->backward(dy());
  ASSERT_TRUE(dx.has_value());
  EXPECT_EQ(shape_of(*dx), m.x);
  layer->set_needs_input_grad(false);
  layer->forward(x);
  EXPECT_FALSE(layer->backward(dy()).has_value());
}

// forward(Tensor&&) keeps the input it is given instead of a copy; what the layer
// computes from it must not change: the same output, input gradient and parameter
// gradients, bit for bit, in training and in eval mode.
TEST_P(LayerContract, AnInputGivenUpGivesWhatACopyGives) {
  std::unique_ptr<Layer> twin = m.make();
  auto same_state = [](Layer& from, Layer& to) {
    std::vector<Parameter> a = from.parameters(), b = to.parameters();
    const std::vector<Parameter> ab = from.buffers(), bb = to.buffers();
    a.insert(a.end(), ab.begin(), ab.end());
    b.insert(b.end(), bb.begin(), bb.end());
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i].value) *b[i].value = *a[i].value;
      if (a[i].int64) *b[i].int64 = *a[i].int64;
    }
  };
  same_state(*layer, *twin);
  layer->set_needs_input_grad(true);
  twin->set_needs_input_grad(true);
  for (int step = 0; step < 2; ++step) {  // the second step reuses what the first kept
    manual_seed(5);
    const Tensor y = layer->forward(x);
    manual_seed(5);
    Tensor given = x;
    const Tensor y_given = twin->forward(std::move(given));
    EXPECT_TRUE(same_bits(y, y_given)) << m.what;
    const Tensor g = dy();
    const Tensor dx = layer->backward(g), dx_given = twin->backward(g);
    EXPECT_TRUE(same_bits(dx, dx_given)) << m.what;
    const std::vector<Parameter> p = layer->parameters(), q = twin->parameters();
    for (std::size_t i = 0; i < p.size(); ++i)
      EXPECT_TRUE(same_bits(*p[i].grad, *q[i].grad)) << m.what << " " << p[i].name;
  }
  layer->set_training(false);
  twin->set_training(false);
  EXPECT_TRUE(same_bits(layer->forward(x), twin->forward(Tensor(x)))) << m.what;
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
  const Tensor x = random_tensor({2, 2, 6, 5}, 3);
  for (ConvAlgo from : algos)
    for (ConvAlgo to : algos) {
      Conv2D conv(2, 3, 3, {.algo = from});
      const Tensor y = conv.forward(x);
      conv.set_algo(to);
      const std::string msg = error_message([&] { conv.backward(random_tensor(shape_of(y), 4)); });
      EXPECT_TRUE(contains(msg, "set_algo")) << to_string(from) << " -> " << to_string(to) << ": " << msg;
      conv.forward(x);
      EXPECT_NO_THROW(conv.backward(random_tensor(shape_of(y), 4)));
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
  conv.forward(random_tensor(x, 5));
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
    const Tensor x = random_tensor(s, 6);
    Conv2D ref(3, 4, 3, {.algo = ConvAlgo::Direct});
    ref.weight() = conv.weight();
    ref.bias() = conv.bias();
    const Tensor y = conv.forward(x), y_ref = ref.forward(x);
    EXPECT_LT(xt::amax(xt::abs(y - y_ref))(), 1e-4f);
  }
}

// y = 2x, keeping x as Conv2D and Dense do; it tells where the kept input and the
// output it made live.
class Keeper : public ElementwiseActivation {
 public:
  std::string name() const override { return "Keeper"; }
  const float* kept() const { return saved().x.data(); }
  const float* made = nullptr;

 protected:
  Tensor forward_impl(const Tensor& x) override {
    if (training()) keep(saved().x, x);
    Tensor y = 2.0f * x;
    made = y.data();
    return y;
  }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = 2.0f * dy;
  }
};

TEST(KeptInput, AnInputGivenUpIsKeptWithoutACopy) {
  Keeper k;
  const Tensor x = random_tensor({2, 3}, 1);
  k.forward(x);
  EXPECT_NE(k.kept(), x.data());  // the caller keeps its own: copied
  Tensor given = x;
  const float* at = given.data();
  k.forward(std::move(given));
  EXPECT_EQ(k.kept(), at);
  EXPECT_TRUE(same_bits(k.backward(Tensor(random_tensor({2, 3}, 2))), 2.0f * random_tensor({2, 3}, 2)));
}

TEST(KeptInput, SequentialAndResidualHandOutputsOnWithoutCopies) {
  Sequential net;
  Keeper& first = net.add<Keeper>();
  Keeper& second = net.add<Keeper>();
  Sequential shortcut;
  Keeper& projection = shortcut.add<Keeper>();
  net.add(Residual(Keeper(), std::move(shortcut), Keeper()));
  const Tensor x = random_tensor({2, 3}, 1);
  Tensor given = x;
  const float* at = given.data();
  const Tensor y = net.forward(std::move(given));
  EXPECT_EQ(first.kept(), at);            // Sequential's input went on to its first child
  EXPECT_EQ(second.kept(), first.made);   // each output to the next
  EXPECT_EQ(projection.kept(), second.made);  // the Residual's input to its shortcut
  EXPECT_TRUE(same_bits(y, 2.0f * (8.0f * x + 8.0f * x)));
}

// A given-up input of the wrong shape is an Error naming the layer and the shape, as a
// copied one is; the layer keeps nothing of it and works again with a good input.
TEST(KeptInput, AWrongShapeGivenUpIsAnErrorAndLeavesTheLayerUsable) {
  Conv2D conv(2, 3, 3, {.padding = 1});
  const std::string msg = error_message([&] { conv.forward(random_tensor({1, 5, 4, 4}, 1)); });
  EXPECT_TRUE(contains(msg, "Conv2D")) << msg;
  EXPECT_TRUE(contains(msg, "(1, 5, 4, 4)")) << msg;
  EXPECT_TRUE(contains(error_message([&] { conv.backward(random_tensor({1, 3, 4, 4}, 2)); }),
                       "without a forward"));
  const Tensor x = random_tensor({1, 2, 4, 4}, 3);
  const Tensor y = conv.forward(Tensor(x));
  EXPECT_TRUE(same_bits(y, conv.forward(x)));
  EXPECT_NO_THROW(conv.backward(random_tensor({1, 3, 4, 4}, 2)));
}

TEST(SequentialContract, AMiddleLayerWithoutInputGradientIsAnError) {
  Sequential net;
  net.add<Dense>(3, 3);
  Layer& middle = net.add<ReLU>();
  net.add<Dense>(3, 2);
  middle.set_needs_input_grad(false);
  net.forward(random_tensor({2, 3}, 7));
  const std::string msg = error_message([&] { net.backward(random_tensor({2, 2}, 8)); });
  EXPECT_TRUE(contains(msg, "layer 1")) << msg;
  EXPECT_TRUE(contains(msg, "input gradient")) << msg;
}

}  // namespace

namespace {

// A layer's own tensors replaced through its references: checked before use.
TEST(Conv2DContract, ReplacedTensorsOfAnotherShapeThrowNamingThem) {
  const Tensor x = random_tensor({2, 3, 6, 6}, 9);
  for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT}) {
    Conv2D conv(3, 4, 3, {.algo = a});
    conv.weight() = xt::zeros<float>({1});
    std::string msg = error_message([&] { conv.forward(x); });
    EXPECT_TRUE(contains(msg, "weight") && contains(msg, "(4, 3, 3, 3)")) << msg;
    conv.weight() = xt::zeros<float>({4, 27});  // the right count, the wrong shape
    EXPECT_THROW(conv.forward(x), Error);
    conv.weight() = xt::zeros<float>({4, 3, 3, 3});
    conv.bias() = Tensor();
    EXPECT_TRUE(contains(error_message([&] { conv.forward(x); }), "bias"));
    conv.bias() = xt::zeros<float>({4});
    const Tensor y = conv.forward(x);
    conv.weight_grad() = Tensor::from_shape({0});
    msg = error_message([&] { conv.backward(y); });
    EXPECT_TRUE(contains(msg, "weight gradient")) << msg;
  }
  ConvTranspose2D t(3, 4, 3);
  t.weight() = xt::zeros<float>({4, 3, 3, 3});  // Conv2D's layout, not the transpose's
  EXPECT_TRUE(contains(error_message([&] { t.forward(x); }), "(3, 4, 3, 3)"));
}

// Sizes that overflow or could never be allocated: Error, before any allocation or plan.
TEST(Conv2DContract, HugeSizesThrowInsteadOfOverflowing) {
  const std::size_t huge_paddings[] = {(std::size_t{1} << 31) - 1, std::size_t{1} << 36,
                                       std::size_t{1} << 62, std::size_t{1} << 63};
  for (std::size_t p : huge_paddings) {
    Conv2D conv(1, 1, 3, {.padding = p});
    EXPECT_THROW(conv.output_shape({1, 1, 4, 4}), Error) << p;
    EXPECT_THROW(conv.plan({1, 1, 4, 4}), Error) << p;
    EXPECT_THROW(conv.forward(random_tensor({1, 1, 4, 4}, 10)), Error) << p;
  }
  const std::string msg =
      error_message([] { Conv2D(std::size_t{1} << 32, std::size_t{1} << 32, 1); });
  EXPECT_TRUE(contains(msg, "Conv2D") && contains(msg, "too large")) << msg;
  EXPECT_THROW(Conv2D(1, 1, 3, {.dilation = std::size_t{1} << 62}).output_shape({1, 1, 8, 8}),
               Error);
  EXPECT_THROW(ConvTranspose2D(1, 1, 3, {.padding = std::size_t{1} << 62}).output_shape({1, 1, 4, 4}),
               Error);
}

// Weights stepped in place between forward and backward: every algorithm's backward
// uses them as they are then (FFT does not keep the old spectrum).
TEST(Conv2DContract, WeightsChangedBeforeBackwardAreHonouredByEveryAlgorithm) {
  const Tensor x = random_tensor({2, 2, 7, 6}, 11), dy = random_tensor({2, 3, 7, 6}, 12);
  std::vector<Tensor> dxs;
  for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT}) {
    Conv2D conv(2, 3, 3, {.padding = 1, .algo = a});
    conv.weight() = random_tensor({3, 2, 3, 3}, 13);
    conv.set_needs_input_grad(true);
    conv.forward(x);
    conv.weight() *= -3.0f;  // in place
    dxs.push_back(conv.backward(dy).value());
  }
  for (const Tensor& dx : dxs) EXPECT_LT(xt::amax(xt::abs(dx - dxs[0]))(), 1e-4f);
}

}  // namespace

namespace {

TEST(InputGrad, ReadsAsTheTensorAndRefusesToBeOneWhenEmpty) {
  Dense d(3, 2);
  const Tensor x = random_tensor({4, 3}, 14), dy = random_tensor({4, 2}, 15);
  d.forward(x);
  Tensor dx = d.backward(dy);  // a gradient converts to its tensor
  EXPECT_EQ(shape_of(dx), (Shape{4, 3}));
  d.set_needs_input_grad(false);
  d.forward(x);
  InputGrad none = d.backward(dy);
  EXPECT_FALSE(none.has_value());
  EXPECT_FALSE(bool(none));
  const std::string msg = error_message([&] { Tensor t = std::move(none); });
  EXPECT_TRUE(contains(msg, "set_needs_input_grad(false)")) << msg;
  EXPECT_THROW(*none, Error);
}

}  // namespace
