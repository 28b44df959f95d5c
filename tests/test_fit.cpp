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

TEST(Evaluate, FlipAveragesTheSoftmaxOfEachImageAndItsMirror) {
  const Dataset data = quadrants(37);
  manual_seed(5);
  Sequential net = small_cnn(3, 3, 8, 4);
  const Normalization norm{.mean = 0.2f, .stddev = 0.3f};
  // By hand: the two softmax outputs averaged, the loss −log of the label's share.
  std::size_t correct = 0;
  double loss = 0.0;
  net.set_training(false);
  BatchIterator it(data, 37, false, 0, {.norm = norm});
  ASSERT_TRUE(it.next());
  const Tensor x = it.x();
  const Tensor mirrored = xt::eval(xt::flip(x, 3));
  const Tensor a = net.forward(x), b = net.forward(mirrored);
  for (std::size_t i = 0; i < 37; ++i) {
    double sa = 0, sb = 0, best = -1;
    std::size_t arg = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      sa += std::exp(double(a(i, k)));
      sb += std::exp(double(b(i, k)));
    }
    for (std::size_t k = 0; k < 4; ++k) {
      const double p = 0.5 * (std::exp(double(a(i, k))) / sa + std::exp(double(b(i, k))) / sb);
      if (p > best) {
        best = p;
        arg = k;
      }
      if (k == it.y()[i]) loss -= std::log(p);
    }
    correct += arg == it.y()[i];
  }
  net.set_training(true);
  // In batches that do not divide the set, the same figures; the mode is put back.
  const Evaluation e = evaluate(net, data, {.batch_size = 10, .norm = norm, .flip = true});
  EXPECT_TRUE(net.training());
  EXPECT_EQ(e.confusion.total(), 37u);
  EXPECT_EQ(e.confusion.correct(), correct);
  EXPECT_NEAR(e.loss, loss / 37, 1e-5);
  // The mirror changes these images' class (a bright quadrant moves to the other side),
  // so the average differs from the single view.
  const Evaluation plain = evaluate(net, data, {.batch_size = 10, .norm = norm});
  EXPECT_NE(plain.loss, e.loss);

  // A model blind to left and right (global average over the plane) gives the single
  // view's figures with or without its mirror.
  Sequential blind;
  blind.add<GlobalAvgPool2D>();
  blind.add<Flatten>();
  blind.add<Dense>(1, 4);
  const Evaluation once = evaluate(blind, data, {.batch_size = 8, .norm = norm});
  const Evaluation twice = evaluate(blind, data, {.batch_size = 8, .norm = norm, .flip = true});
  EXPECT_EQ(once.confusion.correct(), twice.confusion.correct());
  EXPECT_NEAR(once.loss, twice.loss, 1e-6);
  expect_error_naming([&] { evaluate(blind, data, {.batch_size = 0}); }, {"evaluate", "batch"});
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

namespace {

// Image i of n carries its index in its first two bytes (i mod 256, i / 256) and its
// label i mod 4 nowhere else; all other bytes 0.
Dataset numbered(std::size_t n) {
  std::vector<std::uint8_t> images(n * 64, 0), labels(n);
  for (std::size_t i = 0; i < n; ++i) {
    images[i * 64] = std::uint8_t(i % 256);
    images[i * 64 + 1] = std::uint8_t(i / 256);
    labels[i] = std::uint8_t(i % 4);
  }
  return Dataset(std::move(images), std::move(labels), 8, 8, 4, "numbered");
}

// A pass-through layer that, in training mode, records the index of each image it sees
// (read back from the bytes numbered() wrote, normalised with Normalization{0, 1}).
class IndexProbe : public Layer {
 public:
  Tensor forward_impl(const Tensor& x) override {
    if (training_) {
      const std::size_t N = x.shape()[0], P = x.size() / N;
      for (std::size_t n = 0; n < N; ++n)
        trained.push_back(std::size_t(std::lround(x.data()[n * P] * 255.0f)) +
                          256 * std::size_t(std::lround(x.data()[n * P + 1] * 255.0f)));
    }
    return x;
  }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = dy;
  }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return "IndexProbe"; }
  std::vector<std::size_t> trained;
};

// In eval mode, logits that pick class *pick for every image; in training, the input.
class Picker : public Layer {
 public:
  explicit Picker(const std::size_t* pick) : pick_(pick) {}
  Tensor forward_impl(const Tensor& x) override {
    if (training_) return x;
    Tensor y = zeros(shape_of(x));
    for (std::size_t n = 0; n < x.shape()[0]; ++n) y(n, *pick_) = 10.0f;
    return y;
  }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = dy;
  }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return "Picker"; }

 private:
  const std::size_t* pick_;
};

}  // namespace

TEST(Fit, HoldsOutASeededValidationSplitThatNeverTrains) {
  const Dataset data = numbered(300);
  const auto run = [&](std::uint64_t validation_seed, std::vector<EpochRecord>* h) {
    manual_seed(1);
    Sequential net;
    auto& probe = net.add<IndexProbe>();
    net.add<Flatten>();
    net.add<Dense>(64, 4);
    SGD opt(net.parameters(), {.lr = 0.01f});
    *h = fit(net, opt, data, Dataset(),
             {.epochs = 2, .batch_size = 32, .norm = {0.0f, 1.0f}, .progress = false,
              .validation_fraction = 0.2, .validation_seed = validation_seed});
    return probe.trained;
  };
  std::vector<EpochRecord> h;
  const std::vector<std::size_t> trained = run(5, &h);
  // 60 held out, 240 trained twice each, and never one of the held-out ones.
  ASSERT_EQ(trained.size(), 480u);
  std::vector<int> times(300, 0);
  for (std::size_t i : trained) ++times.at(i);
  EXPECT_EQ(std::count(times.begin(), times.end(), 2), 240);
  EXPECT_EQ(std::count(times.begin(), times.end(), 0), 60);
  // Every epoch reports validation loss and accuracy over the 60.
  ASSERT_EQ(h.size(), 2u);
  for (const EpochRecord& r : h) {
    EXPECT_TRUE(std::isfinite(r.val_loss));
    EXPECT_GT(r.val_loss, 0.0);
    EXPECT_NEAR(r.val_acc * 60, std::round(r.val_acc * 60), 1e-9);
  }
  // The same seed holds out the same images; another seed others.
  std::vector<EpochRecord> h2;
  std::vector<int> again(300, 0), other(300, 0);
  for (std::size_t i : run(5, &h2)) ++again.at(i);
  for (std::size_t i : run(6, &h2)) ++other.at(i);
  EXPECT_EQ(again, times);
  EXPECT_NE(other, times);
  // A count instead of a fraction.
  manual_seed(1);
  Sequential net = small_dense();
  SGD opt(net.parameters(), {.lr = 0.01f});
  std::ostringstream log;
  const auto h3 = fit(net, opt, quadrants(100), Dataset(),
                      {.epochs = 1, .batch_size = 10, .progress_out = &log,
                       .validation_count = 25});
  EXPECT_NEAR(h3[0].val_acc * 25, std::round(h3[0].val_acc * 25), 1e-9);
  // 75 images trained, in 8 batches of 10.
  EXPECT_NE(log.str().find("epoch 1/1 8/8"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("val loss "), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("val acc "), std::string::npos) << log.str();
}

TEST(Fit, KeepsTheBestModelByValidationAccuracyAndStopsAfterThePatience) {
  // Labels 0 for half the images, 1 for 30%, 2 for 15%, 3 for 5%: a model that picks
  // one class for every image scores about that share. Picked per epoch 1, 0, 2, 3, 1, ...
  // the best is epoch 2, and a patience of 2 stops after epoch 4.
  std::vector<std::uint8_t> images(400 * 64, 50), labels(400);
  for (std::size_t i = 0; i < 400; ++i)
    labels[i] = std::uint8_t(i % 20 < 10 ? 0 : i % 20 < 16 ? 1 : i % 20 < 19 ? 2 : 3);
  const Dataset data(std::move(images), std::move(labels), 8, 8, 4, "shares");
  const std::size_t picks[] = {1, 0, 2, 3, 1, 1, 1, 1, 1, 1};
  std::size_t pick = picks[0];
  manual_seed(4);
  Sequential net = small_dense();
  net.add<Picker>(&pick);
  SGD opt(net.parameters(), {.lr = 0.01f});
  const TempDir tmp;
  const std::string ckpt = tmp.string() + "/last.safetensors";
  std::vector<std::vector<Tensor>> weights;
  std::ostringstream log;
  const auto h = fit(net, opt, data, Dataset(),
                     {.epochs = 10,
                      .batch_size = 50,
                      .checkpoint_path = ckpt,
                      .progress_out = &log,
                      .on_epoch =
                          [&](const EpochRecord& r) {
                            weights.push_back(values_of(net));
                            pick = picks[r.epoch];
                          },
                      .validation_fraction = 0.25,
                      .patience = 2});
  ASSERT_EQ(h.size(), 4u);
  EXPECT_GT(h[1].val_acc, h[0].val_acc);
  EXPECT_GT(h[1].val_acc, h[2].val_acc);
  EXPECT_GT(h[1].val_acc, h[3].val_acc);
  EXPECT_NE(log.str().find("early stop"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("was epoch 2"), std::string::npos) << log.str();

  const std::string best = tmp.string() + "/best.safetensors";
  ASSERT_TRUE(fs::exists(best));
  Sequential loaded = small_dense();
  loaded.add<Picker>(&pick);
  const LoadReport report = load_safetensors(loaded, best);
  EXPECT_EQ(report.metadata.at("minicnn.epoch"), "2 of 10");
  const std::vector<Tensor> got = values_of(loaded);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(same_bits(got[i], weights[1][i]));
  // The last checkpoint holds epoch 4; a configured path is used instead of best.safetensors.
  EXPECT_EQ(load_safetensors(loaded, ckpt).metadata.at("minicnn.epoch"), "4 of 10");
  // Resumed from there, the run has nothing left to do: patience ran out at epoch 4.
  const auto resumed = fit(net, opt, data, Dataset(),
                           {.epochs = 10,
                            .batch_size = 50,
                            .progress = false,
                            .validation_fraction = 0.25,
                            .patience = 2,
                            .resume_from = ckpt});
  EXPECT_TRUE(resumed.empty());
  const std::string elsewhere = tmp.string() + "/chosen.safetensors";
  pick = picks[0];
  fit(net, opt, data, Dataset(),
      {.epochs = 1, .batch_size = 50, .progress = false, .validation_fraction = 0.25,
       .best_path = elsewhere});
  EXPECT_TRUE(fs::exists(elsewhere));
}

TEST(Fit, StepsAPerBatchScheduleEveryBatchAndAPerEpochOneEachEpoch) {
  const Dataset train = quadrants(64);  // 4 batches of 16
  manual_seed(2);
  Sequential net = small_dense();
  SGD opt(net.parameters(), {.lr = 0.1f, .momentum = 0.9f});
  OneCycleLR cycle(opt, {.max_lr = 0.1f, .total_steps = 12});
  std::vector<std::size_t> steps;
  fit(net, opt, train, Dataset(),
      {.epochs = 3, .batch_size = 16, .schedule = &cycle, .progress = false,
       .on_epoch = [&](const EpochRecord&) { steps.push_back(cycle.steps()); }});
  EXPECT_EQ(steps, (std::vector<std::size_t>{4, 8, 12}));
  EXPECT_FLOAT_EQ(opt.lr(), cycle.lr_at(12));

  SGD opt2(net.parameters(), {.lr = 0.1f});
  WarmupCosineLR warm(opt2, {.warmup = 1, .total = 3, .every = StepEvery::Epoch});
  steps.clear();
  fit(net, opt2, train, Dataset(),
      {.epochs = 3, .batch_size = 16, .schedule = &warm, .progress = false,
       .on_epoch = [&](const EpochRecord&) { steps.push_back(warm.steps()); }});
  EXPECT_EQ(steps, (std::vector<std::size_t>{1, 2, 3}));
  // A schedule of another optimiser is refused.
  SGD opt3(net.parameters(), {.lr = 0.1f});
  expect_error_naming(
      [&] { fit(net, opt3, train, Dataset(), {.schedule = &warm, .progress = false}); },
      {"fit", "schedule", "another optimiser"});
}

TEST(Fit, LabelSmoothingIsTheTrainingLoss) {
  // lr 0: the model never changes, so the epoch's mean loss is the smoothed loss of the
  // whole training set.
  const Dataset train = quadrants(64);
  manual_seed(2);
  Sequential net = small_dense();
  SGD opt(net.parameters(), {.lr = 0.0f});
  const auto h = fit(net, opt, train, Dataset(),
                     {.epochs = 1, .batch_size = 16, .progress = false, .label_smoothing = 0.2f});
  const Tensor logits = net.forward(train.to_tensor(0, 64, Normalization::mnist()));
  const Labels y = train.labels_of(0, 64);
  EXPECT_NEAR(h[0].train_loss, softmax_cross_entropy(logits, y, 0.2f).loss, 1e-5);
  EXPECT_GT(std::abs(h[0].train_loss - softmax_cross_entropy(logits, y).loss), 1e-3);
}

TEST(Fit, RejectsBadValidationPatienceAndSmoothingOptions) {
  const Dataset train = quadrants(20);
  Sequential net = small_dense();
  SGD opt(net.parameters());
  expect_error_naming(
      [&] { fit(net, opt, train, Dataset(), {.progress = false, .validation_count = 20}); },
      {"fit", "validation split of 20 of the 20 images", "quadrants"});
  expect_error_naming(
      [&] { fit(net, opt, train, Dataset(), {.progress = false, .validation_fraction = 1.5}); },
      {"fit", "validation_fraction", "[0, 1)"});
  expect_error_naming(
      [&] { fit(net, opt, train, Dataset(), {.progress = false, .validation_fraction = 0.01}); },
      {"fit", "validation split of 0"});
  expect_error_naming([&] { fit(net, opt, train, Dataset(), {.progress = false, .patience = 3}); },
                      {"fit", "patience 3", "validation split"});
  expect_error_naming(
      [&] { fit(net, opt, train, Dataset(), {.progress = false, .label_smoothing = 2.0f}); },
      {"fit", "label_smoothing", "2"});
  Rng mine(1);
  expect_error_naming(
      [&] {
        fit(net, opt, train, Dataset(), {.progress = false, .generators = {{"default", &mine}}});
      },
      {"fit", "generator 'default'", "a name of its own"});
}
