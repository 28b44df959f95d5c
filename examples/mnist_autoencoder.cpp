// mnist_autoencoder: a convolutional autoencoder on MNIST. The encoder squeezes a
// 28×28 digit into 32 planes of 7×7 with two strided convolutions; the decoder grows it
// back with two transposed convolutions; the loss is the mean squared error between the
// input and its reconstruction, pixels in [0, 1].
//
//   x (N, 1, 28, 28) → Conv2D(1→16, 3×3, stride 2, pad 1) → ReLU        (N, 16, 14, 14)
//                    → Conv2D(16→32, 3×3, stride 2, pad 1) → ReLU       (N, 32, 7, 7)
//                    → ConvTranspose2D(32→16, 4×4, stride 2, pad 1) → ReLU  (N, 16, 14, 14)
//                    → ConvTranspose2D(16→1, 4×4, stride 2, pad 1) → Sigmoid (N, 1, 28, 28)
//
//   mnist_autoencoder                   the defaults below
//   mnist_autoencoder --quick           120 steps and 1 000 test images, for the test suite:
//                                       exits with 3 unless the test loss at least halved
//
// Prints the test loss after each epoch and writes into --out (default out/autoencoder):
// reconstructions.png (the first 16 test digits, each above its reconstruction) and the
// weights (autoencoder.safetensors; keys "encoder.0.weight", ..., "decoder.2.bias").
#include <minicnn/minicnn.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

using namespace minicnn;
namespace fs = std::filesystem;

constexpr std::size_t kEpochs = 3;
constexpr std::size_t kQuickSteps = 120, kQuickTestImages = 1000;
constexpr std::size_t kBatch = 64;
constexpr float kLr = 2e-3f;
constexpr std::size_t kShown = 16;  // digits in reconstructions.png

std::string default_data_dir() {
  if (fs::is_directory("data/mnist")) return "data/mnist";
  return std::string(MINICNN_SOURCE_DIR) + "/data/mnist";
}

Sequential make_autoencoder() {
  Sequential encoder;
  encoder.add(Conv2D(/*in=*/1, /*out=*/16, /*kernel=*/3, {.stride = 2, .padding = 1}));
  encoder.add(ReLU());
  encoder.add(Conv2D(/*in=*/16, /*out=*/32, /*kernel=*/3, {.stride = 2, .padding = 1}));
  encoder.add(ReLU());
  Sequential decoder;
  decoder.add(ConvTranspose2D(/*in=*/32, /*out=*/16, /*kernel=*/4, {.stride = 2, .padding = 1}));
  decoder.add(ReLU());
  decoder.add(ConvTranspose2D(/*in=*/16, /*out=*/1, /*kernel=*/4, {.stride = 2, .padding = 1}));
  decoder.add(Sigmoid());
  Sequential net;
  net.add("encoder", std::move(encoder));
  net.add("decoder", std::move(decoder));
  return net;
}

// Mean squared error over a dataset, in eval mode, batch by batch.
double test_loss(Sequential& net, const Dataset& test) {
  net.set_training(false);
  BatchIterator batches(test, kBatch, /*shuffle=*/false, /*seed=*/0, {.norm = Normalization{}});
  double sum = 0;
  std::size_t seen = 0;
  while (batches.next()) {
    const Tensor& x = batches.x();
    sum += double(mse(net.forward(x), x).loss) * double(x.shape()[0]);
    seen += x.shape()[0];
  }
  net.set_training(true);
  return sum / double(seen);
}

// Two rows of kShown digits: the inputs above, their reconstructions below.
void write_reconstructions(Sequential& net, const Dataset& test, const std::string& path) {
  net.set_training(false);
  const Tensor x = test.to_tensor(0, kShown, Normalization{});
  const Tensor y = net.forward(x);
  net.set_training(true);
  const std::size_t S = 28, pad = 2, W = kShown * (S + pad) + pad, H = 2 * (S + pad) + pad;
  Image img(W, H, /*channels=*/1, /*fill=*/255);
  for (std::size_t row = 0; row < 2; ++row)
    for (std::size_t i = 0; i < kShown; ++i) {
      const float* src = (row == 0 ? x : y).data() + i * S * S;
      for (std::size_t r = 0; r < S; ++r)
        for (std::size_t c = 0; c < S; ++c) {
          const float v = std::clamp(src[r * S + c], 0.0f, 1.0f);  // ink dark on white
          *img.at(pad + i * (S + pad) + c, pad + row * (S + pad) + r) =
              std::uint8_t(255.0f - 255.0f * v + 0.5f);
        }
    }
  write_png(path, img);
}

}  // namespace

int main(int argc, char** argv) try {
  std::size_t epochs = kEpochs;
  bool quick = false;
  std::string data_dir = default_data_dir(), out_dir = "out/autoencoder";
  int threads = 0;
  CLI::App app{"Train a convolutional autoencoder on MNIST"};
  app.add_option("--epochs", epochs, "epochs")->check(CLI::PositiveNumber);
  app.add_flag("--quick", quick, "120 steps and 1000 test images");
  app.add_option("--data", data_dir, "folder with the four MNIST files");
  app.add_option("--out", out_dir, "folder for reconstructions.png and the weights");
  app.add_option("--threads", threads, "threads (default: MINICNN_NUM_THREADS or all cores)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) set_num_threads(threads);
  manual_seed(1);

  auto [train, test] = load_mnist(data_dir);
  if (quick) test = test.subset(0, kQuickTestImages);
  Sequential net = make_autoencoder();
  Adam opt(net.parameters(), {.lr = kLr});
  std::cout << net.summary({kBatch, 1, 28, 28}) << '\n';
  const double loss0 = test_loss(net, test);
  std::cout << "test loss before training " << loss0 << '\n';

  double loss = loss0;
  BatchIterator batches(train, kBatch, /*shuffle=*/true, /*seed=*/2, {.norm = Normalization{}});
  std::size_t steps = 0;
  for (std::size_t epoch = 1; epoch <= epochs && !(quick && steps >= kQuickSteps); ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    double sum = 0;
    std::size_t n = 0;
    while (batches.next()) {
      const Tensor& x = batches.x();
      const LossResult l = mse(net.forward(x), x);  // the target is the input itself
      net.zero_grad();
      net.backward(l.grad);
      opt.step();
      sum += l.loss;
      ++n;
      if (quick && ++steps >= kQuickSteps) {
        batches.restart();
        break;
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    loss = test_loss(net, test);
    std::printf("epoch %zu/%zu  train loss %.5f  test loss %.5f  %.1f s\n", epoch, epochs,
                sum / double(n), loss, secs);
  }

  fs::create_directories(out_dir);
  write_reconstructions(net, test, out_dir + "/reconstructions.png");
  save_safetensors(net, out_dir + "/autoencoder.safetensors");
  std::cout << "wrote " << out_dir << "/reconstructions.png and autoencoder.safetensors\n";
  if (quick && !(loss < 0.5 * loss0)) {
    std::cerr << "mnist_autoencoder: the test loss did not halve (" << loss0 << " -> " << loss
              << ")\n";
    return 3;
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "mnist_autoencoder: " << e.what() << '\n';
  return 1;
}
