#include <gtest/gtest.h>

#include "test_util.hpp"

#include <memory>
#include <minicnn/core/random.hpp>
#include <minicnn/core/tensor.hpp>
#include <minicnn/train/loss.hpp>
#include <minicnn/train/optimizer.hpp>
#include <minicnn/layers/dense.hpp>
#include <minicnn/layers/sequential.hpp>
#include <string>

using namespace minicnn;
using minicnn::testing::random_tensor;

namespace {

// y[n,f] = weight[f]·x[n,f] + bias[f] on x (N, F); a "seen" buffer (F) counts forwards.
class ScaleShift : public Layer {
 public:
  explicit ScaleShift(std::size_t F, float w0 = 1.0f)
      : weight_(zeros({F})),
        bias_(zeros({F})),
        dweight_(zeros({F})),
        dbias_(zeros({F})),
        seen_(zeros({F})) {
    for (std::size_t f = 0; f < F; ++f) {
      weight_(f) = w0 + 0.5f * float(f);
      bias_(f) = 0.1f * float(f) - 0.2f;
    }
  }
  Tensor forward_impl(const Tensor& x) override {
    output_shape(shape_of(x));
    ++forwards;
    seen_ += 1.0f;
    if (training_) x_ = x;
    return x * weight_ + bias_;
  }
  // y = w⊙x + b  ⇒  dw += Σ_n dy⊙x,  db += Σ_n dy,  dx = w⊙dy
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    dweight_ += xt::sum(dy * x_, {0});
    dbias_ += xt::sum(dy, {0});
    if (!dx) return;
    ++input_grads;
    *dx = dy * weight_;
  }
  std::vector<Parameter> parameters() override {
    return {{"weight", &weight_, &dweight_}, {"bias", &bias_, &dbias_}};
  }
  std::vector<Parameter> buffers() override { return {{"seen", &seen_, nullptr}}; }
  Shape output_shape(const Shape& x) const override {
    check_shape(x.size() == 2 ? x : Shape{}, {x.size() == 2 ? x[0] : 0, weight_.size()}, name(),
                "input (N, F)");
    return x;
  }
  std::string name() const override { return "ScaleShift(" + std::to_string(weight_.size()) + ")"; }
  double flops(const Shape& x) const override { return 2.0 * double(numel(x)); }

  int forwards = 0, input_grads = 0;

 private:
  Tensor weight_, bias_, dweight_, dbias_, seen_, x_;
};

// y = x², no parameters.
class Square : public Layer {
 public:
  Tensor forward_impl(const Tensor& x) override {
    x_ = x;
    return x * x;
  }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = 2.0f * x_ * dy;
  }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return "Square"; }

 private:
  Tensor x_;
};

std::vector<std::string> names_of(const std::vector<Parameter>& ps) {
  std::vector<std::string> out;
  for (const Parameter& p : ps) out.push_back(p.name);
  return out;
}


void expect_close(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(shape_of(a), shape_of(b));
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_FLOAT_EQ(a.data()[i], b.data()[i]) << i;
}

}  // namespace

TEST(Sequential, ParametersAndBuffersNamedAsPyTorch) {
  Sequential net;
  net.add<ScaleShift>(3);
  net.add<Square>();
  net.add<ScaleShift>(3);
  EXPECT_EQ(names_of(net.parameters()),
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(names_of(net.buffers()), (std::vector<std::string>{"0.seen", "2.seen"}));
  for (const Parameter& p : net.parameters()) EXPECT_NE(p.grad, nullptr);
  EXPECT_EQ(net.parameters()[2].value, net[2].parameters()[0].value);

  Sequential outer;
  Sequential& inner = outer.add<Sequential>();
  inner.add<Square>();
  inner.add<ScaleShift>(3);
  outer.add<ScaleShift>(3);
  EXPECT_EQ(names_of(outer.parameters()),
            (std::vector<std::string>{"0.1.weight", "0.1.bias", "1.weight", "1.bias"}));
  EXPECT_EQ(names_of(outer.buffers()), (std::vector<std::string>{"0.1.seen", "1.seen"}));
}

TEST(Sequential, ForwardAndBackwardMatchAManualComposition) {
  Sequential net;
  net.add<ScaleShift>(4, 0.5f);
  net.add<Square>();
  net.add<ScaleShift>(4, -1.0f);
  net.set_needs_input_grad(true);
  ScaleShift a(4, 0.5f), c(4, -1.0f);
  Square b;

  const Tensor x = random_tensor({3, 4}, 1), dy = random_tensor({3, 4}, 2);
  const Tensor y = net.forward(x);
  expect_close(y, c.forward(b.forward(a.forward(x))));
  const Tensor dx = net.backward(dy).value();
  expect_close(dx, a.backward(b.backward(c.backward(dy).value()).value()).value());

  const auto mine = net.parameters();
  const std::vector<Parameter> ref = {a.parameters()[0], a.parameters()[1], c.parameters()[0],
                                      c.parameters()[1]};
  for (std::size_t i = 0; i < ref.size(); ++i) expect_close(*mine[i].grad, *ref[i].grad);

  // Gradients accumulate until zero_grad.
  net.forward(x);
  net.backward(dy);
  EXPECT_FLOAT_EQ((*mine[0].grad)(1), 2 * (*ref[0].grad)(1));
  net.zero_grad();
  for (const Parameter& p : net.parameters()) EXPECT_EQ(xt::amax(xt::abs(*p.grad))(), 0.0f);
}

TEST(Sequential, FirstLayerSkipsItsInputGradientUnlessAsked) {
  Sequential net;
  auto& first = net.add<ScaleShift>(2);
  auto& last = net.add<ScaleShift>(2);
  EXPECT_FALSE(net.needs_input_grad());
  EXPECT_FALSE(first.needs_input_grad());
  EXPECT_TRUE(last.needs_input_grad());

  const Tensor x = random_tensor({5, 2}, 3);
  net.forward(x);
  EXPECT_FALSE(net.backward(random_tensor({5, 2}, 4)).has_value());
  EXPECT_EQ(first.input_grads, 0);
  EXPECT_EQ(last.input_grads, 1);
  // The first layer's parameter gradients are still computed.
  EXPECT_NE(xt::amax(xt::abs(*net.parameters()[0].grad))(), 0.0f);

  net.set_needs_input_grad(true);
  EXPECT_TRUE(first.needs_input_grad());
  net.forward(x);
  EXPECT_EQ(shape_of(net.backward(random_tensor({5, 2}, 4)).value()), (Shape{5, 2}));
  EXPECT_EQ(first.input_grads, 1);

  // Nested: at index 0 the flag passes down; at index 1 the inner first layer must compute dx.
  Sequential outer;
  auto& head = outer.add<Sequential>();
  auto& head0 = head.add<ScaleShift>(2);
  auto& tail = outer.add<Sequential>();
  auto& tail0 = tail.add<ScaleShift>(2);
  EXPECT_FALSE(head0.needs_input_grad());
  EXPECT_TRUE(tail.needs_input_grad());
  EXPECT_TRUE(tail0.needs_input_grad());
  outer.forward(x);
  outer.backward(x);
  EXPECT_EQ(head0.input_grads, 0);
  EXPECT_EQ(tail0.input_grads, 1);
}

TEST(Sequential, TrainingModePropagates) {
  Sequential net;
  auto& a = net.add<ScaleShift>(2);
  net.set_training(false);
  EXPECT_FALSE(a.training());
  auto& b = net.add<Square>();
  EXPECT_FALSE(b.training()) << "a layer added later takes the Sequential's mode";
  net.set_training(true);
  EXPECT_TRUE(a.training());
  EXPECT_TRUE(b.training());
}

TEST(Sequential, ShapesChainAndFlopsSum) {
  Sequential net;
  net.add<ScaleShift>(3);
  net.add<Square>();
  net.add<ScaleShift>(3);
  EXPECT_EQ(net.output_shape({7, 3}), (Shape{7, 3}));
  EXPECT_DOUBLE_EQ(net.flops({7, 3}), 2 * 2.0 * 21);
  EXPECT_EQ(net.size(), 3u);
  EXPECT_EQ(net[1].name(), "Square");
  EXPECT_EQ(net.name(), "Sequential(3 layers)");
}

TEST(Sequential, ShapeErrorsNameIndexLayerAndShape) {
  Sequential net;
  auto& a = net.add<ScaleShift>(3);
  net.add<Square>();
  net.add<ScaleShift>(4);
  const auto expect_named = [](auto&& f) {
    try {
      f();
      ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("layer 2"), std::string::npos) << m;
      EXPECT_NE(m.find("ScaleShift(4)"), std::string::npos) << m;
      EXPECT_NE(m.find("(5, 3)"), std::string::npos) << m;
      EXPECT_NE(m.find("expected input (N, F) of shape (5, 4)"), std::string::npos) << m;
    }
  };
  expect_named([&] { net.output_shape({5, 3}); });
  expect_named([&] { net.flops({5, 3}); });
  expect_named([&] { net.summary({5, 3}); });
  expect_named([&] { net.forward(zeros({5, 3})); });
  EXPECT_EQ(a.forwards, 0) << "forward checks the shapes before running any layer";

  // Nested: the outer index, then the inner one.
  Sequential outer;
  outer.add<Square>();
  Sequential& inner = outer.add<Sequential>();
  inner.add<ScaleShift>(2);
  try {
    outer.output_shape({1, 3});
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("layer 1 Sequential(1 layer)"), std::string::npos) << m;
    EXPECT_NE(m.find("layer 0 ScaleShift(2)"), std::string::npos) << m;
  }
}

TEST(Sequential, SummaryListsEveryLayerAndTotals) {
  Sequential net;
  net.add<ScaleShift>(4);
  net.add<Square>();
  Sequential& block = net.add<Sequential>();
  block.add<ScaleShift>(4);
  block.add<Square>();
  const std::string s = net.summary({2, 4});
  for (const char* part : {"#", "Layer", "Output shape", "Params", "FLOPs", "Input", "(2, 4)",
                           "ScaleShift(4)", "Square", "2.0", "2.1", "Total", "Buffers"}) {
    EXPECT_NE(s.find(part), std::string::npos) << "'" << part << "' not in:\n" << s;
  }
  // One line per layer: index, name, shape, params (8 for a ScaleShift(4)), FLOPs (2·2·4).
  EXPECT_NE(s.find("\n  0  ScaleShift(4)  (2, 4)             8     16\n"), std::string::npos) << s;
  EXPECT_NE(s.find("\n2.0  ScaleShift(4)  (2, 4)             8     16\n"), std::string::npos) << s;
  EXPECT_NE(s.find("\n     Total                            16     32\n"), std::string::npos) << s;
  EXPECT_NE(s.find("Buffers (saved, not trained): 8 values"), std::string::npos) << s;
}

TEST(Sequential, AddAndIndexing) {
  Sequential net;
  EXPECT_TRUE(net.empty());
  const Tensor x = random_tensor({2, 3}, 5);
  expect_close(net.forward(x), x);  // empty: the identity
  Layer& added = net.add(std::make_unique<Square>());
  EXPECT_EQ(&added, &net[0]);
  EXPECT_THROW(net.add(nullptr), Error);
  try {
    net[1];
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("index 1"), std::string::npos) << e.what();
  }
}

TEST(Sequential, DenseStackHasPyTorchNamesAndLearns) {
  Rng rng(11);
  Sequential net;
  net.add<Dense>(4, 8, true, rng);
  net.add<Square>();
  net.add<Dense>(8, 3, true, rng);
  const auto params = net.parameters();
  ASSERT_EQ(names_of(params),
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(shape_of(*params[0].value), (Shape{8, 4}));
  EXPECT_EQ(shape_of(*params[3].value), (Shape{3}));
  const std::string s = net.summary({5, 4});
  EXPECT_NE(s.find("Dense(4->8)"), std::string::npos) << s;
  EXPECT_NE(s.find("(5, 3)"), std::string::npos) << s;

  // Three points, three classes: a few SGD steps bring the loss down.
  const Tensor x = random_tensor({3, 4}, 12);
  const Labels y = {0, 1, 2};
  SGD opt(net.parameters(), {.lr = 0.05f, .momentum = 0.9f});
  const float first = softmax_cross_entropy(net.forward(x), y).loss;
  float loss = first;
  for (int step = 0; step < 30; ++step) {
    const auto [l, dlogits] = softmax_cross_entropy(net.forward(x), y);
    loss = l;
    net.zero_grad();
    net.backward(dlogits);
    opt.step();
  }
  EXPECT_LT(loss, 0.5f * first);
}
