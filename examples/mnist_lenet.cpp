// mnist_lenet: the main job. Trains LeNet on MNIST's 60 000 training images with SGD
// and momentum, tests it on the 10 000 test images after every epoch, and leaves the
// trained model and its pictures in the output folder:
//
//   mnist_lenet                       the defaults below: 99.18% test accuracy, 12 epochs
//                                     in 80 to 120 s on 2 cores
//   mnist_lenet --epochs 3 --algo fft --threads 1 --out /tmp/lenet
//
//   out/lenet/lenet.safetensors   the weights (keys "0.weight", ... as PyTorch's), saved
//                                 after every epoch; examples/predict classifies with them
//   out/lenet/metrics.csv         epoch, train loss and accuracy, validation loss and
//                                 accuracy, test accuracy, seconds, data wait
//   out/lenet/loss.png            the training loss per epoch
//   out/lenet/accuracy.png        train and test accuracy per epoch
//   out/lenet/filters.png         the 20 learned 5×5 filters of the first convolution
//   --export-onnx PATH            the trained model as an ONNX file as well (built with
//                                 MINICNN_BUILD_ONNX, the default)
//   --val 0.1 --patience 3        hold out 10% of the training images, keep the best model
//                                 by validation accuracy in out/lenet/best.safetensors and
//                                 stop after 3 epochs without a better one
//   --label-smoothing 0.1         smoothed targets in the training loss
//   --resume out/lenet/lenet.safetensors   go on where an interrupted run stopped
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
#include "mnist_run.hpp"

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

}  // namespace

int main(int argc, char** argv) try {
  mnist_run::Args args{.epochs = kEpochs,
                       .batch = kBatch,
                       .lr = kLr,
                       .algo = "auto",
                       .data_dir = mnist_run::default_data_dir("mnist"),
                       .out_dir = "out/lenet",
                       .seed = kSeed};
  CLI::App app{"Train LeNet on MNIST"};
  mnist_run::add_options(app, args,
                         {.data = "folder with the four MNIST files",
                          .out = "folder for the checkpoint, metrics and pictures"});
  mnist_run::TrainingArgs training;
  mnist_run::add_training_options(app, training);
  CLI11_PARSE(app, argc, argv);
  auto [train, test] = mnist_run::start(args, load_mnist);
  std::cout << "MNIST: " << train.size() << " training and " << test.size() << " test images from "
            << args.data_dir << ", " << num_threads() << " threads\n\n";

  Sequential net = lenet::make_model(parse_conv_algo(*args.algo));
  SGD opt(net.parameters(), {.lr = args.lr, .momentum = kMomentum, .weight_decay = kWeightDecay});
  CosineLR schedule(opt, /*t_max=*/args.epochs, /*eta_min=*/std::min(kFinalLr, args.lr));

  // The summary shows the algorithm Auto picks for each convolution pass at this batch size;
  // flushed before the progress bar starts on stderr.
  std::cout << net.summary({args.batch, 1, 28, 28}) << '\n' << std::flush;

  fs::create_directories(args.out_dir);
  const std::string checkpoint = args.out_dir + "/lenet.safetensors";
  const std::string metrics = args.out_dir + "/metrics.csv";
  FitOptions options{.epochs = args.epochs,
                     .batch_size = args.batch,
                     .norm = lenet::normalization(),
                     .seed = args.seed,
                     .schedule = &schedule,
                     .checkpoint_path = checkpoint,
                     .metrics_path = metrics};
  mnist_run::apply(training, options);
  const std::vector<EpochRecord> history = fit(net, opt, train, test, options);

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
  const std::string loss_png = args.out_dir + "/loss.png", acc_png = args.out_dir + "/accuracy.png",
                    filters_png = args.out_dir + "/filters.png";
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

  if (training.val > 0)
    mnist_run::print_files({{"best model", args.out_dir + "/best.safetensors"}});
  mnist_run::print_files({{"checkpoint", checkpoint},
                          {"metrics", metrics},
                          {"loss curve", loss_png},
                          {"accuracy", acc_png},
                          {"filters", filters_png}});
  mnist_run::export_if_asked(net, args);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "mnist_lenet: " << e.what() << '\n';
  return 1;
}
