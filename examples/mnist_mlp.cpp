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
// (default out/mlp); with --export-onnx PATH the trained model as an ONNX file too.
#include <minicnn/minicnn.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "mnist_run.hpp"

namespace {

using namespace minicnn;
namespace fs = std::filesystem;

constexpr std::size_t kEpochs = 10;
constexpr std::size_t kBatch = 64;
constexpr float kLr = 0.05f;
constexpr float kMomentum = 0.9f;
constexpr float kWeightDecay = 1e-4f;
constexpr std::size_t kHidden1 = 256, kHidden2 = 128;

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
  mnist_run::Args args{.epochs = kEpochs,
                       .batch = kBatch,
                       .lr = kLr,
                       .data_dir = mnist_run::default_data_dir("mnist"),
                       .out_dir = "out/mlp"};
  CLI::App app{"Train a multilayer perceptron on MNIST (the baseline)"};
  mnist_run::add_options(app, args,
                         {.data = "folder with the four MNIST files",
                          .out = "folder for the checkpoint and the metrics"});
  CLI11_PARSE(app, argc, argv);
  auto [train, test] = mnist_run::start(args, load_mnist);
  const std::string checkpoint = args.out_dir + "/mlp.safetensors",
                    metrics = args.out_dir + "/metrics.csv";

  Sequential net = make_mlp();
  std::cout << net.summary({args.batch, 1, 28, 28}) << '\n';
  SGD opt(net.parameters(), {.lr = args.lr, .momentum = kMomentum, .weight_decay = kWeightDecay});
  CosineLR schedule(opt, /*t_max=*/args.epochs);

  fs::create_directories(args.out_dir);
  fit(net, opt, train, test,
      {.epochs = args.epochs,
       .batch_size = args.batch,
       .norm = Normalization::mnist(),
       .seed = args.seed,
       .schedule = &schedule,
       .checkpoint_path = checkpoint,
       .metrics_path = metrics});

  const Evaluation result = evaluate(net, test, /*batch_size=*/256, Normalization::mnist());
  std::printf("\ntest accuracy %.2f%% (%zu / %zu)\n\n", 100.0 * result.accuracy,
              result.confusion.correct(), result.confusion.total());
  std::cout << result.confusion.table() << '\n';
  mnist_run::print_files({{"checkpoint", checkpoint}, {"metrics", metrics}});
  mnist_run::export_if_asked(net, args);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "mnist_mlp: " << e.what() << '\n';
  return 1;
}
