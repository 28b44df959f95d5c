#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <minicnn/minicnn.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>
#include <xtensor/xview.hpp>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

// n images of C×6×5 seeded bytes, 3 classes.
Dataset noise(std::size_t n, std::size_t C = 1, std::uint64_t seed = 2) {
  Rng rng(seed);
  std::vector<std::uint8_t> images(n * C * 30), labels(n);
  for (auto& b : images) b = std::uint8_t(rng.next());
  for (auto& l : labels) l = std::uint8_t(rng.next() % 3);
  return Dataset(std::move(images), std::move(labels), 6, 5, 3, "noise", C);
}

std::shared_ptr<const Transform> crop_and_flip() {
  auto t = std::make_shared<Compose>();
  t->add<RandomCrop>(2);
  t->add<RandomHorizontalFlip>();
  return t;
}

struct Seen {
  Tensor x;
  Labels y;
  std::vector<std::size_t> indices;
};

// Every batch of `epochs` epochs.
std::vector<Seen> all_batches(BatchLoader& loader, int epochs) {
  std::vector<Seen> out;
  for (int e = 0; e < epochs; ++e)
    while (loader.next()) out.push_back({loader.x(), loader.y(), loader.indices()});
  return out;
}

void expect_same(const std::vector<Seen>& a, const std::vector<Seen>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(same_bits(a[i].x, b[i].x)) << "batch " << i;
    EXPECT_EQ(a[i].y, b[i].y) << "batch " << i;
    EXPECT_EQ(a[i].indices, b[i].indices) << "batch " << i;
  }
}

// Throws at the image of dataset index bad (with_ids writes it into the first byte);
// counts the images it saw.
class Failing : public Transform {
 public:
  explicit Failing(std::size_t bad) : bad_(bad) {}
  void apply(ImageBytes image, SampleRng&) const override {
    ++calls;
    if (bad_ != kAny && image.data[0] == bad_) throw std::runtime_error("cannot decode image");
  }
  std::string name() const override { return "Failing"; }
  static constexpr std::size_t kAny = std::size_t(-1);  // never throws
  mutable std::atomic<std::size_t> calls{0};

 private:
  std::size_t bad_;
};

// n images whose first byte is their index (n <= 255).
Dataset with_ids(std::size_t n) {
  std::vector<std::uint8_t> images(n * 30, 7), labels(n, 0);
  for (std::size_t i = 0; i < n; ++i) images[i * 30] = std::uint8_t(i);
  return Dataset(std::move(images), std::move(labels), 6, 5, 3, "ids");
}

Sequential tiny_net(std::size_t C = 1) {
  Sequential net;
  net.add<Flatten>();
  net.add<Dense>(C * 30, 3);
  return net;
}

// A pass-through layer that throws at its `at`-th training forward.
class ThrowAt : public Layer {
 public:
  explicit ThrowAt(std::size_t at) : at_(at) {}
  Tensor forward_impl(const Tensor& x) override {
    if (training_ && ++calls_ == at_) throw Error("ThrowAt: boom");
    return x;
  }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = dy;
  }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return "ThrowAt"; }

 private:
  std::size_t at_, calls_ = 0;
};

}  // namespace

TEST(BatchLoader, WithoutAugmentationGivesBatchIteratorsBatches) {
  for (std::size_t C : {1u, 3u}) {
    const Dataset d = noise(53, C);
    BatchIterator it(d, 8, /*shuffle=*/true, /*seed=*/5);
    BatchLoader loader(d, 8, {.seed = 5, .prefetch = 2});
    EXPECT_EQ(loader.num_batches(), it.num_batches());
    for (int epoch = 0; epoch < 3; ++epoch) {
      std::size_t batches = 0;
      while (it.next()) {
        ASSERT_TRUE(loader.next());
        EXPECT_TRUE(same_bits(loader.x(), it.x()));
        EXPECT_EQ(loader.y(), it.y());
        EXPECT_EQ(loader.indices(), it.indices());
        EXPECT_EQ(loader.batch_index(), batches++);
      }
      EXPECT_FALSE(loader.next());
      EXPECT_EQ(loader.epoch(), std::size_t(epoch + 1));
    }
    // Image 2 of a batch is its dataset image as floats, all C planes of it.
    ASSERT_TRUE(it.next());
    EXPECT_EQ(shape_of(it.x()), (Shape{8, C, 6, 5}));
    EXPECT_TRUE(same_bits(Tensor(xt::view(it.x(), 2)),
                          Tensor(xt::view(d.to_tensor(it.indices()[2], 1), 0))));
  }
  expect_error_naming(
      [] {
        Dataset(std::vector<std::uint8_t>(60), {0, 1}, 6, 5, 3, "rgb", 3);
      },
      {"Dataset(rgb)", "2 labels x 3x6x5 = 180", "60"});
  expect_error_naming([] { Dataset({}, {}, 6, 5, 3, "none", 0); }, {"Dataset(none)", "channels"});
}

TEST(BatchLoader, PrefetchDepthDoesNotChangeTheBatches) {
  const Dataset d = noise(70, /*C=*/3);
  const auto run = [&](std::size_t depth) {
    BatchLoader loader(d, 16,
                       {.seed = 3,
                        .norm = {0.5f, 0.25f},
                        .augment = crop_and_flip(),
                        .augment_seed = 9,
                        .prefetch = depth});
    return all_batches(loader, 3);
  };
  const std::vector<Seen> sync = run(0);
  ASSERT_EQ(sync.size(), 15u);  // 5 a epoch, the last of 6 images
  EXPECT_EQ(shape_of(sync[4].x), (Shape{6, 3, 6, 5}));
  expect_same(sync, run(1));
  expect_same(sync, run(4));
  // The augmentation did something, and differs from one epoch to the next.
  BatchLoader plain(d, 16, {.seed = 3, .norm = {0.5f, 0.25f}, .prefetch = 0});
  const std::vector<Seen> raw = all_batches(plain, 3);
  EXPECT_FALSE(same_bits(raw[0].x, sync[0].x));
}

TEST(BatchLoader, AugmentsEachImageByItsSeedEpochAndIndex) {
  const Dataset d = noise(20, 2);
  const auto augment = crop_and_flip();
  BatchLoader loader(d, 7, {.seed = 4, .norm = {}, .augment = augment, .augment_seed = 11});
  for (std::size_t epoch = 1; epoch <= 2; ++epoch)
    while (loader.next())
      for (std::size_t i = 0; i < loader.y().size(); ++i) {
        const std::size_t k = loader.indices()[i];
        std::vector<std::uint8_t> img(d.image(k), d.image(k) + d.pixels());
        augment_image(*augment, {img.data(), 2, 6, 5}, 11, epoch, k);
        std::vector<float> want(img.size());
        bytes_to_floats(img.data(), img.size(), {}, want.data());
        ASSERT_EQ(std::memcmp(loader.x().data() + i * d.pixels(), want.data(),
                              want.size() * sizeof(float)),
                  0)
            << "epoch " << epoch << " image " << k;
      }
}

TEST(BatchLoader, KeepsAtMostDepthPlusOneBatchesMade) {
  const Dataset d = with_ids(200);
  auto counter = std::make_shared<Failing>(Failing::kAny);
  BatchLoader loader(d, 10, {.shuffle = false, .augment = counter, .prefetch = 3});
  ASSERT_TRUE(loader.next());
  // The producer fills the 3 free slots and stops: 4 batches of 10 made, no more.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (counter->calls < 40 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(counter->calls.load(), 40u);
  ASSERT_TRUE(loader.next());  // frees one slot
  while (counter->calls < 50 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(counter->calls.load(), 50u);
  // Restart and destruction stop the producer blocked on a full pool.
  loader.restart();
  ASSERT_TRUE(loader.next());
  EXPECT_EQ(loader.batch_index(), 0u);
  EXPECT_EQ(loader.indices()[0], 0u);
}

TEST(BatchLoader, AnErrorMakingABatchSurfacesAsErrorNamingIt) {
  const Dataset d = with_ids(40);
  for (std::size_t depth : {0u, 2u}) {
    // Index 25 is in the third batch of 10 (no shuffling).
    BatchLoader loader(
        d, 10, {.shuffle = false, .augment = std::make_shared<Failing>(25), .prefetch = depth});
    ASSERT_TRUE(loader.next());
    ASSERT_TRUE(loader.next());
    expect_error_naming([&] { loader.next(); },
                        {"BatchLoader(ids)", "batch 3 of 4", "epoch 1", "cannot decode image"});
    // The next call starts a new epoch, which fails at the same place.
    ASSERT_TRUE(loader.next());
    EXPECT_EQ(loader.epoch(), 2u);
  }
}

TEST(BatchLoader, RejectsBadOptions) {
  const Dataset d = noise(4);
  expect_error_naming([&] { BatchLoader(d, 0); }, {"BatchLoader(noise)", "batch_size"});
  expect_error_naming(
      [&] {
        BatchLoader(d, 2, {.norm = {0.0f, 0.0f}});
      },
      {"BatchLoader(noise)", "normalisation"});
}

TEST(Fit, PrefetchAndAugmentationGiveTheSameRunAsBatchesMadeInPlace) {
  const Dataset train = noise(90), test = noise(30, 1, 5);
  const auto run = [&](std::size_t depth) {
    manual_seed(3);
    Sequential net = tiny_net();
    SGD opt(net.parameters(), {.lr = 0.05f, .momentum = 0.9f});
    const auto h = fit(net, opt, train, test,
                       {.epochs = 3,
                        .batch_size = 16,
                        .norm = {},
                        .seed = 8,
                        .augment = crop_and_flip(),
                        .prefetch = depth,
                        .progress = false});
    std::vector<Tensor> w;
    for (const Parameter& p : net.parameters()) w.push_back(*p.value);
    return std::make_pair(h, w);
  };
  const auto [h0, w0] = run(0);
  const auto [h3, w3] = run(3);
  ASSERT_EQ(h0.size(), 3u);
  ASSERT_EQ(h3.size(), 3u);
  for (std::size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(h0[e].train_loss, h3[e].train_loss);
    EXPECT_GE(h3[e].data_wait_seconds, 0.0);
    EXPECT_LE(h3[e].data_wait_seconds, h3[e].seconds);
  }
  ASSERT_EQ(w0.size(), w3.size());
  for (std::size_t i = 0; i < w0.size(); ++i) EXPECT_TRUE(same_bits(w0[i], w3[i]));
}

TEST(Fit, PrintsTheShareOfTimeSpentWaitingForData) {
  const Dataset train = noise(64);
  Sequential net = tiny_net();
  SGD opt(net.parameters(), {.lr = 0.01f});
  std::ostringstream log;
  fit(net, opt, train, Dataset(), {.epochs = 1, .batch_size = 16, .progress_out = &log});
  EXPECT_TRUE(contains(log.str(), "data wait ")) << log.str();
}

TEST(Fit, AnAugmentationErrorStopsFitWithAnError) {
  const Dataset train = with_ids(64);
  Sequential net = tiny_net();
  SGD opt(net.parameters(), {.lr = 0.01f});
  for (std::size_t depth : {0u, 2u})
    expect_error_naming(
        [&] {
          fit(net, opt, train, Dataset(),
              {.epochs = 2,
               .batch_size = 16,
               .shuffle = false,
               .augment = std::make_shared<Failing>(40),
               .prefetch = depth,
               .progress = false});
        },
        {"batch 3 of 4", "cannot decode image"});
}

TEST(Fit, AModelErrorMidEpochLeavesNoProducerBehind) {
  // The model throws at its 3rd batch while the producer waits on a full pool; fit must
  // return the error (not hang), and the next fit must run as usual.
  const Dataset train = noise(400);
  for (std::size_t depth : {1u, 4u}) {
    Sequential net;
    net.add<ThrowAt>(3);
    net.add<Flatten>();
    net.add<Dense>(30, 3);
    SGD opt(net.parameters(), {.lr = 0.01f});
    expect_error_naming(
        [&] {
          fit(net, opt, train, Dataset(),
              {.epochs = 2,
               .batch_size = 8,
               .augment = crop_and_flip(),
               .prefetch = depth,
               .progress = false});
        },
        {"ThrowAt: boom"});
    const auto h = fit(net, opt, train, Dataset(),
                       {.epochs = 1, .batch_size = 8, .prefetch = depth, .progress = false});
    EXPECT_EQ(h.size(), 1u);
  }
}
