// mnist_lenet: the main job. Trains LeNet on MNIST's 60 000 training images with SGD
// and momentum, tests it on the 10 000 test images after every epoch, and leaves the
// trained model and its pictures in the output folder:
//
//   mnist_lenet                       the defaults below: 99.27% test accuracy, 12 epochs
//                                     in 80 to 120 s on 2 cores
//   mnist_lenet --epochs 3 --algo fft --threads 1 --out /tmp/lenet
//
//   out/lenet/lenet.safetensors   the weights (keys "0.weight", ... as PyTorch's), saved
//                                 after every epoch; examples/predict classifies with them
//   out/lenet/metrics.csv         epoch, train loss, train and test accuracy, seconds
//   out/lenet/loss.png            the training loss per epoch
//   out/lenet/accuracy.png        train and test accuracy per epoch
//   out/lenet/filters.png         the 20 learned 5×5 filters of the first convolution
#include <minicnn/minicnn.hpp>
#include <minicnn/viz/plot.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "lenet.hpp"

namespace {

using namespace minicnn;
namespace fs = std::filesystem;

constexpr std::size_t kEpochs = 12;
constexpr std::size_t kBatch = 64;
constexpr float kLr = 0.02f;  // with momentum: an effective step of lr / (1 − μ)
constexpr float kMomentum = 0.9f;
constexpr float kWeightDecay = 5e-4f;  // Caffe's LeNet value
constexpr float kFinalLr = 5e-4f;      // where the cosine schedule ends, after the last epoch
constexpr std::uint64_t kSeed = 1;
constexpr std::size_t kFilterScale = 12;  // pixels per weight in filters.png

// data/mnist under the working folder, else under the source tree this was built from.
std::string default_data_dir() {
  if (fs::is_directory("data/mnist")) return "data/mnist";
  return std::string(MINICNN_SOURCE_DIR) + "/data/mnist";
}

}  // namespace

int main(int argc, char** argv) try {
  std::size_t epochs = kEpochs, batch = kBatch, limit = 0;
  float lr = kLr;
  std::string algo_name = "auto", data_dir = default_data_dir(), out_dir = "out/lenet";
  int threads = 0;
  std::uint64_t seed = kSeed;

  CLI::App app{"Train LeNet on MNIST"};
  app.add_option("--epochs", epochs, "passes over the training set")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "initial learning rate (cosine-annealed)")->check(CLI::PositiveNumber);
  app.add_option("--algo", algo_name, "convolution algorithm")
      ->check(CLI::IsMember({"auto", "im2col", "fft", "direct"}));
  app.add_option("--threads", threads, "threads (default: MINICNN_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--data", data_dir, "folder with the four MNIST files");
  app.add_option("--out", out_dir, "folder for the checkpoint, metrics and pictures");
  app.add_option("--seed", seed, "seed of the weights and the shuffling");
  app.add_option("--limit", limit, "train on the first N images only (0: all), for quick runs");
  CLI11_PARSE(app, argc, argv);

  if (threads > 0) set_num_threads(threads);
  manual_seed(seed);  // the initial weights draw from default_rng()

  auto [train, test] = load_mnist(data_dir);
  if (limit > 0 && limit < train.size()) train = train.subset(0, limit);
  std::cout << "MNIST: " << train.size() << " training and " << test.size() << " test images from "
            << data_dir << ", " << num_threads() << " threads\n\n";

  Sequential net = lenet::make_model(parse_conv_algo(algo_name));
  SGD opt(net.parameters(), {.lr = lr, .momentum = kMomentum, .weight_decay = kWeightDecay});
  CosineLR schedule(opt, /*t_max=*/epochs, /*eta_min=*/std::min(kFinalLr, lr));

  // The summary shows the algorithm Auto picks for each convolution pass at this batch size.
  std::cout << net.summary({batch, 1, 28, 28}) << '\n' << std::flush;  // before the bar on stderr

  fs::create_directories(out_dir);
  const std::string checkpoint = out_dir + "/lenet.safetensors";
  const std::string metrics = out_dir + "/metrics.csv";
  const std::vector<EpochRecord> history = fit(net, opt, train, test,
                                               {.epochs = epochs,
                                                .batch_size = batch,
                                                .norm = lenet::normalization(),
                                                .seed = seed,
                                                .schedule = &schedule,
                                                .checkpoint_path = checkpoint,
                                                .metrics_path = metrics});

  const Evaluation result = evaluate(net, test, /*batch_size=*/256, lenet::normalization());
  std::printf("\ntest accuracy %.2f%% (%zu / %zu), test loss %.4f\n\n", 100.0 * result.accuracy,
              result.confusion.correct(), result.confusion.total(), result.loss);
  std::cout << result.confusion.table() << '\n';

  std::vector<double> loss, train_acc, test_acc;
  for (const EpochRecord& r : history) {
    loss.push_back(r.train_loss);
    train_acc.push_back(100.0 * r.train_acc);
    test_acc.push_back(100.0 * r.test_acc);
  }
  const std::string loss_png = out_dir + "/loss.png", acc_png = out_dir + "/accuracy.png",
                    filters_png = out_dir + "/filters.png";
  write_png(loss_png, line_plot({{.name = "train loss", .values = loss}},
                                {.title = "LeNet on MNIST: training loss", .y_label = "loss"}));
  write_png(acc_png, line_plot({{.name = "train accuracy", .values = train_acc},
                                {.name = "test accuracy", .values = test_acc}},
                               {.title = "LeNet on MNIST: accuracy", .y_label = "accuracy (%)"}));
  auto& conv1 = dynamic_cast<Conv2D&>(net[0]);
  write_png(filters_png,
            filter_grid(conv1.weight(),
                        {.scale = kFilterScale,
                         .columns = 10,
                         .title = "LeNet on MNIST: the 20 learned 5×5 filters of conv 1"}));

  std::cout << "checkpoint  " << checkpoint << "\nmetrics     " << metrics << "\nloss curve  "
            << loss_png << "\naccuracy    " << acc_png << "\nfilters     " << filters_png << '\n';
  return 0;
} catch (const std::exception& e) {
  std::cerr << "mnist_lenet: " << e.what() << '\n';
  return 1;
}
