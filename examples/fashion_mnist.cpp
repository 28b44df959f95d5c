// fashion_mnist: a small CNN on Fashion-MNIST, MNIST's harder drop-in replacement
// (28×28 grey photos of ten kinds of clothing; the same file format and sizes).
//
//   x (N, 1, 28, 28)
//   Conv2D(1→32, 3×3, padding 1)    (N, 32, 28, 28)   ReLU   MaxPool2D(2)  (N, 32, 14, 14)
//   Conv2D(32→64, 3×3, padding 1)   (N, 64, 14, 14)   ReLU   MaxPool2D(2)  (N, 64, 7, 7)
//   Flatten (N, 3136) → Dense(3136→128) → ReLU → Dropout(0.3) → Dense(128→10) logits
//
//   fashion_mnist                      the defaults below: 91.56% test accuracy, 8 epochs
//   fashion_mnist --epochs 2 --out /tmp/fashion
//
// Prints the confusion matrix with the class names, so that one sees which clothes the
// model mixes up (shirts with T-shirts and coats, above all). Writes the checkpoint and
// the metrics into --out (default out/fashion); with --export-onnx PATH the trained model
// as an ONNX file too (its Dropout becomes an Identity). --val, --patience,
// --label-smoothing and --resume as in mnist_lenet (its Dropout's masks resume too).
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

constexpr std::size_t kEpochs = 8;
constexpr std::size_t kBatch = 64;
constexpr float kLr = 0.02f;
constexpr float kMomentum = 0.9f;
constexpr float kWeightDecay = 5e-4f;
constexpr float kDropout = 0.3f;

Sequential make_model() {
  Sequential net;
  net.add<Conv2D>(/*in=*/1, /*out=*/32, /*kernel=*/3, Conv2DOptions{.padding = 1});
  net.add<ReLU>();
  net.add<MaxPool2D>(/*kernel=*/2);
  net.add<Conv2D>(/*in=*/32, /*out=*/64, /*kernel=*/3, Conv2DOptions{.padding = 1});
  net.add<ReLU>();
  net.add<MaxPool2D>(/*kernel=*/2);
  net.add<Flatten>();
  net.add<Dense>(/*in=*/64 * 7 * 7, /*out=*/128);
  net.add<ReLU>();
  net.add<Dropout>(kDropout);
  net.add<Dense>(/*in=*/128, /*out=*/10);
  return net;
}

}  // namespace

int main(int argc, char** argv) try {
  mnist_run::Args args{.epochs = kEpochs,
                       .batch = kBatch,
                       .lr = kLr,
                       .data_dir = mnist_run::default_data_dir("fashion-mnist"),
                       .out_dir = "out/fashion"};
  CLI::App app{"Train a small CNN on Fashion-MNIST"};
  mnist_run::add_options(app, args,
                         {.data = "folder with the four Fashion-MNIST files",
                          .out = "folder for the checkpoint and the metrics",
                          .seed = "seed of the weights, dropout and the shuffling"});
  mnist_run::TrainingArgs training;
  mnist_run::add_training_options(app, training);
  CLI11_PARSE(app, argc, argv);
  auto [train, test] = mnist_run::start(args, load_fashion_mnist);
  const Normalization norm = Normalization::fashion_mnist();
  const std::string checkpoint = args.out_dir + "/fashion.safetensors",
                    metrics = args.out_dir + "/metrics.csv";

  Sequential net = make_model();
  SGD opt(net.parameters(), {.lr = args.lr, .momentum = kMomentum, .weight_decay = kWeightDecay});
  CosineLR schedule(opt, /*t_max=*/args.epochs);

  fs::create_directories(args.out_dir);
  FitOptions options{.epochs = args.epochs,
                     .batch_size = args.batch,
                     .norm = norm,
                     .seed = args.seed,
                     .schedule = &schedule,
                     .checkpoint_path = checkpoint,
                     .metrics_path = metrics};
  mnist_run::apply(training, options);
  fit(net, opt, train, test, options);
  std::cout << net.summary({args.batch, 1, 28, 28}) << '\n';

  const Evaluation result = evaluate(net, test, /*batch_size=*/256, norm);
  std::printf("test accuracy %.2f%% (%zu / %zu)\n\n", 100.0 * result.accuracy,
              result.confusion.correct(), result.confusion.total());
  std::cout << result.confusion.table(fashion_mnist_classes()) << '\n';
  if (training.val > 0)
    mnist_run::print_files({{"best model", args.out_dir + "/best.safetensors"}});
  mnist_run::print_files({{"checkpoint", checkpoint}, {"metrics", metrics}});
  mnist_run::export_if_asked(net, args);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "fashion_mnist: " << e.what() << '\n';
  return 1;
}
