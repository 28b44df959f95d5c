// mnist_mlp: the baseline without convolutions. A multilayer perceptron sees each image
// as 784 unrelated numbers: nothing tells it that neighbouring pixels belong together,
// or that a stroke means the same wherever it lies, which LeNet's shared 5×5 filters
// build in (examples/mnist_lenet).
//
//   x (N, 1, 28, 28) → Flatten (N, 784) → Dense(784→256) → ReLU → Dense(256→128) → ReLU
//                    → Dense(128→10) logits
//
//   mnist_mlp                         the defaults below: 98.42% test accuracy
//   mnist_mlp --epochs 3 --out /tmp/mlp
//
// Writes the checkpoint (mlp.safetensors) and the metrics (metrics.csv) into --out
// (default out/mlp).
#include <minicnn/minicnn.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

namespace {

using namespace minicnn;
namespace fs = std::filesystem;

constexpr std::size_t kEpochs = 10;
constexpr std::size_t kBatch = 64;
constexpr float kLr = 0.05f;
constexpr float kMomentum = 0.9f;
constexpr float kWeightDecay = 1e-4f;
constexpr std::size_t kHidden1 = 256, kHidden2 = 128;

std::string default_data_dir() {
  if (fs::is_directory("data/mnist")) return "data/mnist";
  return std::string(MINICNN_SOURCE_DIR) + "/data/mnist";
}

Sequential make_mlp() {
  Sequential net;
  net.add<Flatten>();
  net.add<Dense>(/*in=*/28 * 28, /*out=*/kHidden1);
  net.add<ReLU>();
  net.add<Dense>(/*in=*/kHidden1, /*out=*/kHidden2);
  net.add<ReLU>();
  net.add<Dense>(/*in=*/kHidden2, /*out=*/10);
  return net;
}

}  // namespace

int main(int argc, char** argv) try {
  std::size_t epochs = kEpochs, batch = kBatch, limit = 0;
  float lr = kLr;
  std::string data_dir = default_data_dir(), out_dir = "out/mlp";
  int threads = 0;
  std::uint64_t seed = 1;

  CLI::App app{"Train a multilayer perceptron on MNIST (the baseline)"};
  app.add_option("--epochs", epochs, "passes over the training set")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "initial learning rate (cosine-annealed)")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads (default: MINICNN_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--data", data_dir, "folder with the four MNIST files");
  app.add_option("--out", out_dir, "folder for the checkpoint and the metrics");
  app.add_option("--seed", seed, "seed of the weights and the shuffling");
  app.add_option("--limit", limit, "train on the first N images only (0: all), for quick runs");
  CLI11_PARSE(app, argc, argv);

  if (threads > 0) set_num_threads(threads);
  manual_seed(seed);
  auto [train, test] = load_mnist(data_dir);
  if (limit > 0 && limit < train.size()) train = train.subset(0, limit);

  Sequential net = make_mlp();
  std::cout << net.summary({batch, 1, 28, 28}) << '\n';
  SGD opt(net.parameters(), {.lr = lr, .momentum = kMomentum, .weight_decay = kWeightDecay});
  CosineLR schedule(opt, /*t_max=*/epochs);

  fs::create_directories(out_dir);
  fit(net, opt, train, test,
      {.epochs = epochs,
       .batch_size = batch,
       .norm = Normalization::mnist(),
       .seed = seed,
       .schedule = &schedule,
       .checkpoint_path = out_dir + "/mlp.safetensors",
       .metrics_path = out_dir + "/metrics.csv"});

  const Evaluation result = evaluate(net, test, /*batch_size=*/256, Normalization::mnist());
  std::printf("\ntest accuracy %.2f%% (%zu / %zu)\n\n", 100.0 * result.accuracy,
              result.confusion.correct(), result.confusion.total());
  std::cout << result.confusion.table() << "\ncheckpoint  " << out_dir
            << "/mlp.safetensors\nmetrics     " << out_dir << "/metrics.csv\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "mnist_mlp: " << e.what() << '\n';
  return 1;
}
