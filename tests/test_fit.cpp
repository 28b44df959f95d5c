#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <minicnn/minicnn.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;
namespace fs = std::filesystem;

namespace {

// n images of 8×8 bytes, four classes: the label is the quadrant that is bright, with
// a little seeded noise everywhere. Linearly separable; a Dense layer learns it at once.
Dataset quadrants(std::size_t n, std::uint64_t seed = 3) {
  Rng rng(seed);
  std::vector<std::uint8_t> images(n * 64), labels(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t q = rng.next() % 4;
    labels[i] = std::uint8_t(q);
    for (std::size_t y = 0; y < 8; ++y)
      for (std::size_t x = 0; x < 8; ++x) {
        const bool bright = (y / 4) * 2 + x / 4 == q;
        images[i * 64 + y * 8 + x] = std::uint8_t((bright ? 180 : 20) + rng.next() % 40);
      }
  }
  return Dataset(std::move(images), std::move(labels), 8, 8, 4, "quadrants");
}

Sequential small_dense() {
  Sequential net;
  net.add<Flatten>();
  net.add<Dense>(64, 16);
  net.add<ReLU>();
  net.add<Dense>(16, 4);
  return net;
}

// Convolution (Auto: its algorithms differ per pass), pooling, dense: every kind of
// kernel a LeNet step runs. K filters of kernel×kernel on side×side images.
Sequential small_cnn(std::size_t K = 4, std::size_t kernel = 3, std::size_t side = 8,
                     std::size_t classes = 4) {
  const std::size_t pooled = (side - kernel + 1) / 2;
  Sequential net;
  net.add<Conv2D>(1, K, kernel);
  net.add<MaxPool2D>(2);
  net.add<ReLU>();
  net.add<Flatten>();
  net.add<Dense>(K * pooled * pooled, classes);
  return net;
}

// A pass-through layer that turns its output (or, with in_backward, its input gradient)
// into NaN from its `after`-th training forward on; it records the mode of each forward.
class Poison : public Layer {
 public:
  Poison(std::size_t after, bool in_backward) : after_(after), in_backward_(in_backward) {}
  Tensor forward_impl(const Tensor& x) override {
    modes.push_back(training_);
    if (training_) ++calls_;
    Tensor y = x;
    if (!in_backward_ && training_ && calls_ >= after_) y.fill(std::nanf(""));
    return y;
  }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (!dx) return;
    *dx = dy;
    if (in_backward_ && calls_ >= after_) dx->fill(std::numeric_limits<float>::infinity());
  }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return "Poison"; }
  std::vector<bool> modes;

 private:
  std::size_t after_, calls_ = 0;
  bool in_backward_;
};

std::vector<Tensor> values_of(Layer& model) {
  std::vector<Tensor> v;
  for (const Parameter& p : model.parameters()) v.push_back(*p.value);
  return v;
}

// Restores the thread count a test changed.
struct ThreadsGuard {
  int before = num_threads();
  ~ThreadsGuard() { set_num_threads(before); }
};

}  // namespace

TEST(Fit, LearnsMnistFromAFewThousandImages) {
  const std::string dir = std::string(MINICNN_SOURCE_DIR) + "/data/mnist";
  if (!fs::exists(dir + "/train-images-idx3-ubyte") &&
      !fs::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "MNIST is missing in " << dir << " (scripts/fetch-data.sh)";
  auto [train, test] = load_mnist(dir);
  train = train.subset(0, 5000);
  test = test.subset(0, 2000);

  manual_seed(1);
  Sequential net = small_cnn(/*K=*/8, /*kernel=*/5, /*side=*/28, /*classes=*/10);
  SGD opt(net.parameters(), {.lr = 0.02f, .momentum = 0.9f});
  const TempDir tmp;
  const std::string out = tmp.string();
  std::ostringstream log;
  const std::vector<EpochRecord> h = fit(net, opt, train, test,
                                         {.epochs = 2,
                                          .batch_size = 32,
                                          .checkpoint_path = out + "/net.safetensors",
                                          .metrics_path = out + "/metrics.csv",
                                          .progress_out = &log});

  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[1].epoch, 2u);
  EXPECT_GT(h[1].test_acc, 0.90);
  EXPECT_LT(h[1].train_loss, h[0].train_loss);
  EXPECT_GT(h[1].seconds, 0.0);
  // One line per epoch (the log is not a terminal), with both accuracies.
  EXPECT_NE(log.str().find("epoch 2/2 157/157"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("test acc"), std::string::npos) << log.str();
  // The CSV holds both epochs; the checkpoint loads into a fresh model that then scores
  // what the last epoch measured.
  const std::string csv = read_bytes(out + "/metrics.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3) << csv;
  Sequential again = small_cnn(8, 5, 28, 10);
  load_safetensors(again, out + "/net.safetensors");
  const Evaluation e = evaluate(again, test);
  EXPECT_DOUBLE_EQ(e.accuracy, h[1].test_acc);
  EXPECT_EQ(e.confusion.total(), 2000u);
  EXPECT_EQ(e.confusion.correct(), std::size_t(std::lround(h[1].test_acc * 2000)));
}

TEST(Fit, SameSeedOneThreadGivesTheSameRunBitForBit) {
  ThreadsGuard threads;
  set_num_threads(1);
  const Dataset train = quadrants(600), test = quadrants(200, 4);
  const auto run = [&] {
    manual_seed(7);
    Sequential net = small_cnn();
    SGD opt(net.parameters(), {.lr = 0.05f, .momentum = 0.9f});
    const auto h =
        fit(net, opt, train, test, {.epochs = 3, .batch_size = 16, .seed = 11, .progress = false});
    return std::make_pair(h, values_of(net));
  };
  const auto [h1, w1] = run();
  const auto [h2, w2] = run();
  ASSERT_EQ(h1.size(), 3u);
  ASSERT_EQ(h2.size(), 3u);
  for (std::size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(std::memcmp(&h1[e].train_loss, &h2[e].train_loss, sizeof(double)), 0)
        << "epoch " << e + 1;
    EXPECT_EQ(h1[e].train_acc, h2[e].train_acc);
    EXPECT_EQ(h1[e].test_acc, h2[e].test_acc);
  }
  ASSERT_EQ(w1.size(), w2.size());
  for (std::size_t i = 0; i < w1.size(); ++i)
    EXPECT_TRUE(same_bits(w1[i], w2[i])) << "parameter " << i;
  EXPECT_GT(h1.back().test_acc, 0.95);  // and it did learn

  // Another shuffle seed gives another run.
  manual_seed(7);
  Sequential net = small_cnn();
  SGD opt(net.parameters(), {.lr = 0.05f, .momentum = 0.9f});
  const auto h3 =
      fit(net, opt, train, test, {.epochs = 1, .batch_size = 16, .seed = 12, .progress = false});
  EXPECT_NE(h3[0].train_loss, h1[0].train_loss);
}

TEST(Fit, StopsAtANonFiniteLossNamingEpochAndBatchAndKeepsTheCheckpoint) {
  const Dataset train = quadrants(64), test = quadrants(32, 4);  // 4 batches of 16
  const TempDir tmp;
  const std::string out = tmp.string();
  const std::string ckpt = out + "/net.safetensors", csv = out + "/metrics.csv";
  manual_seed(5);
  Sequential net = small_dense();
  net.add<Poison>(/*after=*/4 + 3, /*in_backward=*/false);  // epoch 2, batch 3
  SGD opt(net.parameters(), {.lr = 0.05f, .momentum = 0.9f});
  std::vector<Tensor> after_epoch1;
  expect_error_naming(
      [&] {
        fit(net, opt, train, test,
            {.epochs = 3,
             .batch_size = 16,
             .checkpoint_path = ckpt,
             .metrics_path = csv,
             .progress = false,
             .on_epoch = [&](const EpochRecord&) { after_epoch1 = values_of(net); }});
      },
      {"non-finite loss (nan)", "epoch 2, batch 3 of 4", "keeps epoch 1", ckpt});
  EXPECT_TRUE(net.training());  // the mode the model had before fit
  // The checkpoint is the model after epoch 1 and loads; the CSV holds epoch 1 only.
  Sequential reloaded = small_dense();
  reloaded.add<Poison>(1000, false);
  load_safetensors(reloaded, ckpt);
  const std::vector<Tensor> loaded = values_of(reloaded);
  ASSERT_EQ(loaded.size(), after_epoch1.size());
  for (std::size_t i = 0; i < loaded.size(); ++i)
    EXPECT_TRUE(same_bits(loaded[i], after_epoch1[i]));
  const std::string rows = read_bytes(csv);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), 2) << rows;
  for (const fs::directory_entry& f : fs::directory_iterator(out))  // no temporary left behind
    EXPECT_TRUE(f.path() == ckpt || f.path() == csv) << f.path();
}

TEST(Fit, StopsAtANonFiniteGradientBeforeTheStep) {
  const Dataset train = quadrants(64), test;
  manual_seed(5);
  // Poison's backward turns dL/dlogits into inf from the second batch on; the Dense
  // before it makes its weight gradient from that.
  Sequential model;
  model.add<Flatten>();
  model.add<Dense>(64, 4);
  model.add<Poison>(/*after=*/2, /*in_backward=*/true);
  SGD opt(model.parameters(), {.lr = 0.05f});
  expect_error_naming(
      [&] { fit(model, opt, train, test, {.epochs = 1, .batch_size = 16, .progress = false}); },
      {"non-finite gradient of '1.weight'", "epoch 1, batch 2 of 4", "no checkpoint was written"});
  // The poisoned step was not taken: every value is finite.
  for (const Parameter& p : model.parameters())
    for (float v : *p.value) ASSERT_TRUE(std::isfinite(v)) << p.name;
}

TEST(Fit, StopsWhenAHugeLearningRateDiverges) {
  const Dataset train = quadrants(256), test;
  manual_seed(5);
  Sequential net = small_dense();
  SGD opt(net.parameters(), {.lr = 1e30f});
  expect_error_naming(
      [&] { fit(net, opt, train, test, {.epochs = 5, .batch_size = 16, .progress = false}); },
      {"fit: non-finite", "at epoch 1, batch "});
}

TEST(Fit, RejectsAnEmptyTrainingSetAndMismatchedClasses) {
  Sequential net = small_dense();
  SGD opt(net.parameters());
  expect_error_naming([&] { fit(net, opt, Dataset(), Dataset(), {.progress = false}); },
                      {"training set"});
  EXPECT_THROW(fit(net, opt, quadrants(8), quadrants(8), {.batch_size = 0, .progress = false}),
               Error);
  const Dataset ten(std::vector<std::uint8_t>(64), {9}, 8, 8, 10, "ten");
  EXPECT_THROW(fit(net, opt, quadrants(8), ten, {.progress = false}), Error);
  // A model whose output is not (N, classes) fails with the evaluation named.
  Sequential wrong;
  wrong.add<Flatten>();
  wrong.add<Dense>(64, 3);
  EXPECT_THROW(evaluate(wrong, quadrants(8)), Error);
}

TEST(Evaluate, RunsInEvalModeAndRestoresTheMode) {
  const Dataset data = quadrants(50);
  Sequential net = small_dense();
  auto& probe = net.add<Poison>(1000000, false);
  ASSERT_TRUE(net.training());
  const Evaluation e = evaluate(net, data, /*batch_size=*/20);
  EXPECT_EQ(probe.modes, (std::vector<bool>{false, false, false}));  // 20 + 20 + 10
  EXPECT_TRUE(net.training());
  EXPECT_EQ(e.confusion.total(), 50u);
  EXPECT_EQ(e.confusion.num_classes(), 4u);
  EXPECT_DOUBLE_EQ(e.accuracy, e.confusion.accuracy());
  EXPECT_GT(e.loss, 0.0);

  net.set_training(false);
  evaluate(net, data);
  EXPECT_FALSE(net.training());

  // An empty dataset: nothing to count, accuracy 0.
  EXPECT_EQ(evaluate(net, Dataset()).confusion.total(), 0u);
}

TEST(Fit, SchedulesTheLearningRateAndReportsEachEpoch) {
  const Dataset train = quadrants(64), test = quadrants(16, 4);
  manual_seed(2);
  Sequential net = small_dense();
  SGD opt(net.parameters(), {.lr = 0.1f});
  StepLR sched(opt, /*step_size=*/1, /*gamma=*/0.5f);
  std::vector<float> lrs;
  std::vector<std::size_t> epochs;
  fit(net, opt, train, test,
      {.epochs = 3,
       .batch_size = 16,
       .schedule = &sched,
       .progress = false,
       .on_epoch = [&](const EpochRecord& r) {
         lrs.push_back(opt.lr());
         epochs.push_back(r.epoch);
       }});
  EXPECT_EQ(epochs, (std::vector<std::size_t>{1, 2, 3}));
  EXPECT_EQ(lrs, (std::vector<float>{0.05f, 0.025f, 0.0125f}));
  // No test set: test_acc is NaN, an empty cell in the CSV.
  const auto h =
      fit(net, opt, train, Dataset(), {.epochs = 1, .batch_size = 16, .progress = false});
  EXPECT_TRUE(std::isnan(h[0].test_acc));
}

namespace {

// What fit can know before its first batch, it checks then: no epoch of work is lost.
TEST(Fit, ChecksModelDataOptimiserAndPathsBeforeTheFirstBatch) {
  const Dataset train = quadrants(64);
  Sequential net = small_dense();
  SGD opt(net.parameters(), {.lr = 0.1f});
  // A model with the wrong number of outputs.
  Sequential five = small_dense();
  five.add<Dense>(4, 5);
  SGD opt5(five.parameters(), {.lr = 0.1f});
  expect_error_naming([&] { fit(five, opt5, train, Dataset(), {.progress = false}); },
                      {"fit", "(64, 5)", "(N, 4)"});
  // Test images of another size.
  std::vector<std::uint8_t> img(2 * 100, 0), lab{0, 1};
  const Dataset wrong(std::move(img), std::move(lab), 10, 10, 4, "ten");
  expect_error_naming([&] { fit(net, opt, train, wrong, {.progress = false}); },
                      {"fit", "10x10", "8x8"});
  // An optimiser built for another model.
  Sequential other = small_dense();
  SGD stranger(other.parameters(), {.lr = 0.1f});
  expect_error_naming([&] { fit(net, stranger, train, Dataset(), {.progress = false}); },
                      {"fit", "optimiser", "another model"});
  // A checkpoint in a folder that does not exist.
  expect_error_naming(
      [&] {
        fit(net, opt, train, Dataset(),
            {.checkpoint_path = "/nonexistent-minicnn/dir/c.safetensors", .progress = false});
      },
      {"fit", "/nonexistent-minicnn/dir", "does not exist"});
  // None of that trained anything.
  for (const Parameter& p : net.parameters()) EXPECT_EQ(xt::amax(xt::abs(*p.grad))(), 0.0f);
}

}  // namespace
