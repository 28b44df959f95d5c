// train_lenet: one epoch of LeNet on MNIST's 60 000 training images, batch 64, as
// examples/mnist_lenet trains it, timed end to end; then where the time goes.
//
//   build/bench/train_lenet                    2 threads, the Auto conv algorithms
//   build/bench/train_lenet --threads 1 --algo im2col --profile-batches 200
//
// Prints
//   - the epoch through fit() (no test set): seconds, images/s, and the peak resident
//     memory of the process so far (getrusage's ru_maxrss), the whole dataset included;
//   - a profile: the same loop written out by hand over --profile-batches batches, with
//     every layer's forward and backward and the steps around them (batch conversion,
//     loss, zeroing the gradients, the optimiser) timed one by one, as ms per batch and
//     share of the total.
// A plain timed program rather than a Google Benchmark: one epoch is one measurement.
#include <minicnn/minicnn.hpp>

#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "../examples/lenet.hpp"

namespace {

using namespace minicnn;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBatch = 64;
constexpr float kLr = 0.01f, kMomentum = 0.9f, kWeightDecay = 5e-4f;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

rusage usage() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u;
}
double peak_rss_mib() { return double(usage().ru_maxrss) / 1024.0; }  // ru_maxrss: KiB

std::string default_data_dir() {
  if (std::filesystem::is_directory("data/mnist")) return "data/mnist";
  return std::string(MINICNN_SOURCE_DIR) + "/data/mnist";
}

// Accumulated seconds per named step, in the order first seen.
struct Profile {
  std::vector<std::string> names;
  std::vector<double> seconds;
  void add(const std::string& name, double s) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it != names.end()) {
      seconds[std::size_t(it - names.begin())] += s;
      return;
    }
    names.push_back(name);
    seconds.push_back(s);
  }
};

}  // namespace

int main(int argc, char** argv) try {
  int threads = 2;
  std::size_t batch = kBatch, profile_batches = 300;
  std::string algo_name = "auto", data_dir = default_data_dir();
  CLI::App app{"One epoch of LeNet on MNIST: images/s, peak memory, time per layer"};
  app.add_option("--threads", threads, "threads")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--algo", algo_name, "convolution algorithm")
      ->check(CLI::IsMember({"auto", "im2col", "fft", "direct"}));
  app.add_option("--data", data_dir, "folder with the four MNIST files");
  app.add_option("--profile-batches", profile_batches,
                 "batches in the per-layer profile (0: none)");
  CLI11_PARSE(app, argc, argv);

  set_num_threads(threads);
  manual_seed(1);
  const Dataset train = load_mnist(data_dir).train;
  const Dataset no_test;

  // ---- one epoch through fit -----------------------------------------------------
  Sequential net = lenet::make_model(parse_conv_algo(algo_name));
  SGD opt(net.parameters(), {.lr = kLr, .momentum = kMomentum, .weight_decay = kWeightDecay});
  const long faults0 = usage().ru_minflt;
  const auto t0 = Clock::now();
  const std::vector<EpochRecord> h =
      fit(net, opt, train, no_test,
          {.epochs = 1, .batch_size = batch, .norm = lenet::normalization(), .progress = false});
  const double epoch_s = since(t0);
  const double rss = peak_rss_mib();
  const std::size_t num_batches = (train.size() + batch - 1) / batch;
  const double faults = double(usage().ru_minflt - faults0) / double(num_batches);
  std::printf("LeNet, MNIST train (%zu images), batch %zu, %d threads\n", train.size(), batch,
              num_threads());
  std::printf("epoch: %.2f s, %.0f images/s, train loss %.4f, train acc %.2f%%\n", epoch_s,
              double(train.size()) / epoch_s, h[0].train_loss, 100.0 * h[0].train_acc);
  std::printf("peak RSS: %.1f MiB; %.1f page faults per batch\n", rss, faults);
  Shape shape{batch, 1, 28, 28};
  std::vector<std::string> layer_name(net.size());
  for (std::size_t i = 0; i < net.size(); ++i) {
    layer_name[i] = net[i].name_for(shape);
    shape = net[i].output_shape(shape);
    if (layer_name[i].starts_with("Conv2D"))
      std::printf("  layer %zu: %s\n", i, layer_name[i].c_str());
  }
  if (profile_batches == 0) return 0;

  // ---- the same steps by hand, each timed -------------------------------------------
  BatchIterator batches(train, batch, /*shuffle=*/true, /*seed=*/2,
                        {.norm = lenet::normalization()});
  Profile prof;
  std::vector<std::string> fwd_name(net.size()), bwd_name(net.size());
  for (std::size_t i = 0; i < net.size(); ++i) {
    fwd_name[i] = std::to_string(i) + " " + layer_name[i] + " forward";
    bwd_name[i] = std::to_string(i) + " " + layer_name[i] + " backward";
  }
  std::size_t done = 0;
  const auto p0 = Clock::now();
  while (done < profile_batches) {
    auto t = Clock::now();
    if (!batches.next()) continue;  // the end of an epoch: the next call starts another
    prof.add("batch conversion (bytes to floats)", since(t));
    Tensor y = batches.x();
    for (std::size_t i = 0; i < net.size(); ++i) {
      t = Clock::now();
      y = net[i].forward(y);
      prof.add(fwd_name[i], since(t));
    }
    t = Clock::now();
    LossResult l = softmax_cross_entropy(y, batches.y());
    (void)count_correct(y, batches.y());
    prof.add("loss and accuracy", since(t));
    t = Clock::now();
    opt.zero_grad();  // fit() zeroes the same tensors the same way
    prof.add("zero grad", since(t));
    InputGrad g = std::move(l.grad);
    for (std::size_t i = net.size(); i-- > 0;) {
      t = Clock::now();
      g = net[i].backward(*g);  // the first layer returns none: its input is data
      prof.add(bwd_name[i], since(t));
    }
    t = Clock::now();
    opt.step();
    prof.add("SGD step", since(t));
    ++done;
  }
  const double total = since(p0);
  double measured = 0;
  for (double s : prof.seconds) measured += s;
  std::printf("\nprofile over %zu batches: %.0f images/s; ms per batch and share:\n", done,
              double(done * batch) / total);
  for (std::size_t i = 0; i < prof.names.size(); ++i)
    std::printf("  %8.3f ms  %5.1f%%  %s\n", 1e3 * prof.seconds[i] / double(done),
                100.0 * prof.seconds[i] / total, prof.names[i].c_str());
  std::printf("  %8.3f ms  %5.1f%%  (untimed: the loop, copies of the input)\n",
              1e3 * (total - measured) / double(done), 100.0 * (total - measured) / total);
  std::printf("peak RSS at the end: %.1f MiB\n", peak_rss_mib());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "train_lenet: %s\n", e.what());
  return 1;
}
