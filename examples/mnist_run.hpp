// What the examples that train on MNIST or Fashion-MNIST (mnist_lenet, mnist_mlp,
// fashion_mnist) share: their command line, the start of a run, and the closing list of
// the files a run wrote. Each example keeps its model, its defaults and its report.
//
//   mnist_run::Args args{.epochs = kEpochs, .lr = kLr,
//                        .data_dir = mnist_run::default_data_dir("mnist"), .out_dir = "out/mlp"};
//   CLI::App app{"Train a multilayer perceptron on MNIST"};
//   mnist_run::add_options(app, args, {.data = "folder with the four MNIST files",
//                                      .out = "folder for the checkpoint and the metrics"});
//   CLI11_PARSE(app, argc, argv);
//   auto [train, test] = mnist_run::start(args, load_mnist);
#pragma once

#include <minicnn/minicnn.hpp>

#include <CLI/CLI.hpp>
#if MINICNN_WITH_ONNX
#include <minicnn/onnx/export.hpp>
#endif

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

namespace mnist_run {

// data/<name> under the working folder, else under the source tree the example was built
// from (MINICNN_SOURCE_DIR, set by examples/CMakeLists.txt).
inline std::string default_data_dir(const std::string& name) {
  const std::string local = "data/" + name;
  if (std::filesystem::is_directory(local)) return local;
  return std::string(MINICNN_SOURCE_DIR) + "/" + local;
}

// The command line; what an example sets before add_options is its default.
struct Args {
  std::size_t epochs = 1, batch = 64;
  float lr = 0.01f;
  std::optional<std::string> algo = {};  // set: the example takes --algo, this its default
  int threads = 0;                       // 0: MINICNN_NUM_THREADS or all cores
  std::string data_dir = {}, out_dir = {};
  std::uint64_t seed = 1;
  std::size_t limit = 0;  // 0: every training image
  std::string onnx_path = {};  // --export-onnx (examples built with minicnn::onnx); "": none
};

// The help texts that differ from one example to the next.
struct Help {
  const char* data;
  const char* out;
  const char* seed = "seed of the weights and the shuffling";
};

inline void add_options(CLI::App& app, Args& a, const Help& help) {
  app.add_option("--epochs", a.epochs, "passes over the training set")->check(CLI::PositiveNumber);
  app.add_option("--batch", a.batch, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", a.lr, "initial learning rate (cosine-annealed)")
      ->check(CLI::PositiveNumber);
  if (a.algo)
    app.add_option("--algo", *a.algo, "convolution algorithm")
        ->check(CLI::IsMember({"auto", "im2col", "fft", "direct"}));
  app.add_option("--threads", a.threads, "threads (default: MINICNN_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--data", a.data_dir, help.data);
  app.add_option("--out", a.out_dir, help.out);
  app.add_option("--seed", a.seed, help.seed);
  app.add_option("--limit", a.limit, "train on the first N images only (0: all), for quick runs");
#if MINICNN_WITH_ONNX
  app.add_option("--export-onnx", a.onnx_path,
                 "also write the trained model as an ONNX file (its input: images normalised as "
                 "in training, (N, 1, 28, 28))");
#endif
}

// What mnist_lenet and fashion_mnist add of fit's options; the defaults leave fit as it
// was: no validation split, no early stopping, no label smoothing, a fresh start.
struct TrainingArgs {
  double val = 0.0;              // --val: the share of training images held out
  std::size_t patience = 0;      // --patience: epochs without a better validation accuracy
  float label_smoothing = 0.0f;  // --label-smoothing
  std::string resume = {};       // --resume: a checkpoint of an earlier run with these options
};

inline void add_training_options(CLI::App& app, TrainingArgs& t) {
  app.add_option("--val", t.val,
                 "hold out this share of the training images for validation; the best model "
                 "by validation accuracy goes to best.safetensors")
      ->check(CLI::Range(0.0, 0.99));
  app.add_option("--patience", t.patience,
                 "stop after this many epochs without a better validation accuracy (needs --val)");
  app.add_option("--label-smoothing", t.label_smoothing, "label smoothing of the training loss")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--resume", t.resume,
                 "go on from this checkpoint of a run with the same options (the run's own "
                 "checkpoint after its last finished epoch)")
      ->check(CLI::ExistingFile);
}

inline void apply(const TrainingArgs& t, minicnn::FitOptions& o) {
  o.validation_fraction = t.val;
  o.patience = t.patience;
  o.label_smoothing = t.label_smoothing;
  o.resume_from = t.resume;
}

// Applies --threads and --seed (initial weights and dropout draw from default_rng()),
// loads the data from --data and keeps the first --limit training images.
inline minicnn::TrainTest start(const Args& a, minicnn::TrainTest (*load)(const std::string&)) {
  if (a.threads > 0) minicnn::set_num_threads(a.threads);
  minicnn::manual_seed(a.seed);
  minicnn::TrainTest sets = load(a.data_dir);
  if (a.limit > 0 && a.limit < sets.train.size()) sets.train = sets.train.subset(0, a.limit);
  return sets;
}

// The files a run wrote, one "what  path" line each, the paths aligned.
inline void print_files(std::initializer_list<std::pair<const char*, std::string>> files) {
  for (const auto& [what, path] : files) std::printf("%-11s %s\n", what, path.c_str());
}

// With --export-onnx, writes the trained model as ONNX (its input (N, 1, 28, 28)) and
// lists the file.
inline void export_if_asked([[maybe_unused]] minicnn::Layer& net, const Args& a) {
  if (a.onnx_path.empty()) return;
#if MINICNN_WITH_ONNX
  minicnn::export_onnx(net, /*input_shape=*/{1, 1, 28, 28}, a.onnx_path);
  print_files({{"onnx model", a.onnx_path}});
#endif
}

}  // namespace mnist_run
