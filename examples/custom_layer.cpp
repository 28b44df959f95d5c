// custom_layer: a layer of your own, checked and trained like the built-in ones.
//
// ChannelSwish is Swish (Ramachandran, Zoph, Le 2017) with a learnable sharpness β per
// channel:
//
//   y[n,c,i] = x[n,c,i] · σ(β[c] · x[n,c,i])        σ(t) = 1 / (1 + exp(−t))
//
// β = 0 makes it x/2, a line; as β grows it turns into ReLU. A layer needs
// forward_impl, backward_impl, output_shape and name, and parameters() when it has some;
// the Layer base class (layers/layer.hpp states the contract) keeps the bookkeeping:
// what forward saved, the checks that backward follows a matching forward, dx's shape. The program
//   1. checks the layer's backward against central differences of its forward with the
//      public check_gradients, and stops if they disagree;
//   2. puts it into a small CNN after each pooling layer and trains the CNN on MNIST
//      for a few hundred steps with a loop written out by hand (forward, loss,
//      zero_grad, backward, step: what fit() does for the other examples);
//   3. prints the test accuracy and the β the channels learnt.
//
//   custom_layer              300 steps, then the 10 000 test images (about 10 s on 2 cores)
//   custom_layer --quick      30 steps and 1 000 test images, for the test suite
#include <minicnn/minicnn.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

using namespace minicnn;

constexpr std::size_t kSteps = 300, kQuickSteps = 30;
constexpr std::size_t kQuickTestImages = 1000;
constexpr std::size_t kBatch = 64;
constexpr float kLr = 0.02f, kMomentum = 0.9f;
constexpr float kInitialBeta = 1.0f;  // Swish-1, also called SiLU
constexpr std::size_t kPrintEvery = 50;

class ChannelSwish : public Layer {
 public:
  // x (N, C, ...) -> y of the same shape; parameter "beta" (C), every entry kInitialBeta.
  explicit ChannelSwish(std::size_t channels)
      : C_(channels), beta_(Tensor::from_shape({channels})), dbeta_(zeros({channels})) {
    check_arg(channels > 0, "ChannelSwish", "channels", "> 0", std::to_string(channels));
    beta_.fill(kInitialBeta);
  }

  std::vector<Parameter> parameters() override { return {{"beta", &beta_, &dbeta_}}; }

  Shape output_shape(const Shape& x) const override {
    if (x.size() < 2 || x[1] != C_ || x[0] == 0)
      throw Error(name() + ": expected input (N, " + std::to_string(C_) + ", ...), got " +
                  to_string(x));
    return x;
  }
  std::string name() const override { return "ChannelSwish(" + std::to_string(C_) + ")"; }
  double flops(const Shape& x) const override { return 5.0 * double(numel(x)); }

  const Tensor& beta() const { return beta_; }

 protected:
  // Layer::forward calls this, after which backward refers to it; keeps x for backward.
  Tensor forward_impl(const Tensor& x) override {
    output_shape(shape_of(x));
    Tensor y = Tensor::from_shape(x.shape());
    const std::size_t N = x.shape()[0], plane = x.size() / (N * C_);
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t c = 0; c < C_; ++c) {
        const float b = beta_(c);
        const std::size_t at = (n * C_ + c) * plane;
        for (std::size_t i = at; i < at + plane; ++i)
          y.data()[i] = x.data()[i] * sigmoid(b * x.data()[i]);
      }
    if (training_) keep(saved().x, x);
    return y;
  }

  // s = σ(β·x), y = x·s  ⇒  dβ[c] += Σ dy·x²·s(1 − s),
  //                         dx = dy·(s + β·x·s(1 − s))
  // Layer::backward has checked dy against the last forward and sized dx (null when
  // nobody needs the input gradient).
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    const Tensor& x = saved().x;
    const std::size_t N = x.shape()[0], plane = x.size() / (N * C_);
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t c = 0; c < C_; ++c) {
        const float b = beta_(c);
        const std::size_t at = (n * C_ + c) * plane;
        double db = 0;  // summed in double: a plane of many small terms
        for (std::size_t i = at; i < at + plane; ++i) {
          const float xi = x.data()[i], g = dy.data()[i], s = sigmoid(b * xi);
          const float ds = s * (1.0f - s);  // σ'(β·x)
          db += double(g * xi * xi * ds);
          if (dx) dx->data()[i] = g * (s + b * xi * ds);
        }
        dbeta_(c) += float(db);
      }
  }

 private:
  static float sigmoid(float t) {
    return t >= 0 ? 1.0f / (1.0f + std::exp(-t)) : std::exp(t) / (1.0f + std::exp(t));
  }

  std::size_t C_;
  Tensor beta_, dbeta_;
};

std::string default_data_dir() {
  if (std::filesystem::is_directory("data/mnist")) return "data/mnist";
  return std::string(MINICNN_SOURCE_DIR) + "/data/mnist";
}

}  // namespace

int main(int argc, char** argv) try {
  bool quick = false;
  std::string data_dir = default_data_dir();
  CLI::App app{
      "A user-written layer (Swish with a learnable beta per channel), checked and trained"};
  app.add_flag("--quick", quick, "30 steps and 1000 test images");
  app.add_option("--data", data_dir, "folder with the four MNIST files");
  CLI11_PARSE(app, argc, argv);
  manual_seed(1);

  // 1. The gradient check: on (2, 3, 4, 5) inputs in [-3, 3), where σ(β·x) still bends.
  ChannelSwish probe(3);
  const GradCheckResult check =
      check_gradients(probe, {2, 3, 4, 5}, {.input_lo = -3.0f, .input_hi = 3.0f});
  std::cout << "check_gradients(" << probe.name() << "):\n" << check.summary() << '\n';
  if (!check.ok) return 1;

  // 2. The layer in a model, trained by hand.
  Sequential net;
  net.add<Conv2D>(/*in=*/1, /*out=*/16, /*kernel=*/5);
  net.add<MaxPool2D>(/*kernel=*/2);
  auto& swish1 = net.add<ChannelSwish>(/*channels=*/16);
  net.add<Conv2D>(/*in=*/16, /*out=*/32, /*kernel=*/5);
  net.add<MaxPool2D>(/*kernel=*/2);
  auto& swish2 = net.add<ChannelSwish>(/*channels=*/32);
  net.add<Flatten>();
  net.add<Dense>(/*in=*/32 * 4 * 4, /*out=*/10);
  std::cout << net.summary({kBatch, 1, 28, 28}) << '\n';

  auto [train, test] = load_mnist(data_dir);
  if (quick) test = test.subset(0, kQuickTestImages);
  SGD opt(net.parameters(), {.lr = kLr, .momentum = kMomentum});
  BatchIterator batches(train, kBatch, /*shuffle=*/true, /*seed=*/1,
                        {.norm = Normalization::mnist()});
  const std::size_t steps = quick ? kQuickSteps : kSteps;
  double loss_sum = 0;  // since the last line printed
  std::size_t loss_count = 0;
  for (std::size_t step = 1; step <= steps; ++step) {
    if (!batches.next()) batches.next();  // past an epoch's end: start the next one
    const LossResult l = softmax_cross_entropy(net.forward(batches.x()), batches.y());
    net.zero_grad();
    net.backward(l.grad);
    opt.step();
    loss_sum += l.loss;
    ++loss_count;
    if (step % kPrintEvery == 0 || step == steps) {
      std::printf("step %4zu  loss %.4f\n", step, loss_sum / double(loss_count));
      loss_sum = 0;
      loss_count = 0;
    }
  }

  // 3. What it learnt.
  const Evaluation result = evaluate(net, test, /*batch_size=*/256, Normalization::mnist());
  std::printf("\ntest accuracy after %zu steps: %.2f%% (%zu images)\n", steps,
              100.0 * result.accuracy, test.size());
  for (const ChannelSwish* s : {&swish1, &swish2}) {
    const auto [lo, hi] = std::minmax_element(s->beta().begin(), s->beta().end());
    std::printf("%s: beta from %.3f to %.3f (started at %.1f)\n", s->name().c_str(), *lo, *hi,
                kInitialBeta);
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "custom_layer: " << e.what() << '\n';
  return 1;
}
