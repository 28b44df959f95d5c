#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <minicnn/data/mnist.hpp>
#include <numeric>
#include <set>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

// n images of h×w whose every pixel is its image's index (mod 256), label index % 10:
// easy to recognise in a batch.
Dataset indexed(std::size_t n, std::size_t h = 3, std::size_t w = 2) {
  std::vector<std::uint8_t> images(n * h * w), labels(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::fill_n(images.begin() + std::ptrdiff_t(i * h * w), h * w, std::uint8_t(i % 256));
    labels[i] = std::uint8_t(i % 10);
  }
  return Dataset(std::move(images), std::move(labels), h, w, 10, "indexed");
}

// All dataset indices one epoch yields, in order.
std::vector<std::size_t> one_epoch(BatchIterator& it) {
  std::vector<std::size_t> seen;
  while (it.next()) seen.insert(seen.end(), it.indices().begin(), it.indices().end());
  return seen;
}

}  // namespace

TEST(Dataset, HoldsBytesAndChecksThem) {
  const Dataset d = indexed(5);
  EXPECT_EQ(d.size(), 5u);
  EXPECT_EQ(d.shape(), (Shape{5, 1, 3, 2}));
  EXPECT_EQ(d.pixels(), 6u);
  EXPECT_EQ(d.image(3)[5], 3u);
  EXPECT_EQ(d.label(4), 4u);
  EXPECT_THROW(d.image(5), Error);
  EXPECT_THROW(d.label(5), Error);
  // Byte count and label range are checked, naming the dataset.
  expect_error_naming(
      [&] { Dataset(std::vector<std::uint8_t>(11), std::vector<std::uint8_t>(2), 3, 2, 10, "odd"); },
      {"Dataset(odd)", "11"});
  EXPECT_THROW(Dataset(std::vector<std::uint8_t>(6), {10}, 3, 2, 10), Error);
  EXPECT_THROW(Dataset({}, {}, 0, 2), Error);
}

TEST(Dataset, SubsetCopiesARange) {
  const Dataset d = indexed(20);
  const Dataset s = d.subset(5, 4);
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s.image(0)[0], 5u);
  EXPECT_EQ(s.image(3)[2], 8u);
  EXPECT_EQ(s.label(3), 8u);
  EXPECT_EQ(d.subset(20, 0).size(), 0u);
  EXPECT_THROW(d.subset(18, 3), Error);
  EXPECT_THROW(d.subset(21, 0), Error);
}

TEST(Dataset, NormalisationToFloats) {
  std::vector<std::uint8_t> px = {0, 51, 255, 102};
  const Dataset d(px, {1}, 2, 2);
  const Tensor unit = d.to_tensor(0, 1);
  EXPECT_EQ(shape_of(unit), (Shape{1, 1, 2, 2}));
  EXPECT_FLOAT_EQ(unit(0, 0, 0, 0), 0.0f);
  EXPECT_FLOAT_EQ(unit(0, 0, 0, 1), 0.2f);
  EXPECT_FLOAT_EQ(unit(0, 0, 1, 0), 1.0f);
  const Tensor z = d.to_tensor(0, 1, Normalization::mnist());
  EXPECT_FLOAT_EQ(z(0, 0, 0, 0), -0.1307f / 0.3081f);
  EXPECT_FLOAT_EQ(z(0, 0, 1, 1), (0.4f - 0.1307f) / 0.3081f);
  EXPECT_EQ(d.labels_of(0, 1), Labels{1});
  // fit_normalization: bytes 0 and 255 in equal numbers have mean 0.5, std 0.5.
  const Dataset half({0, 255, 0, 255}, {0}, 2, 2);
  const Normalization n = half.fit_normalization();
  EXPECT_NEAR(n.mean, 0.5f, 1e-6f);
  EXPECT_NEAR(n.stddev, 0.5f, 1e-6f);
}

TEST(Dataset, RealMnistStatisticsMatchTheDocumentedConstants) {
  const std::string dir = MINICNN_SOURCE_DIR "/data/mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte"))
    GTEST_SKIP() << "MNIST absent: run scripts/fetch-data.sh";
  const auto [train, test] = load_mnist(dir);
  EXPECT_EQ(train.size(), 60000u);
  EXPECT_EQ(test.size(), 10000u);
  const Normalization n = train.fit_normalization();
  EXPECT_NEAR(n.mean, Normalization::mnist().mean, 5e-5f);
  EXPECT_NEAR(n.stddev, Normalization::mnist().stddev, 5e-5f);
}

TEST(BatchIterator, EveryIndexOncePerEpochWithAShortLastBatch) {
  const Dataset d = indexed(10);
  BatchIterator it(d, 4, /*shuffle=*/true, /*seed=*/7);
  EXPECT_EQ(it.num_batches(), 3u);
  for (int epoch = 1; epoch <= 3; ++epoch) {
    std::vector<std::size_t> sizes, seen;
    while (it.next()) {
      sizes.push_back(it.y().size());
      EXPECT_EQ(shape_of(it.x()), (Shape{it.y().size(), 1, 3, 2}));
      for (std::size_t i = 0; i < it.y().size(); ++i) {
        const std::size_t k = it.indices()[i];
        seen.push_back(k);
        EXPECT_EQ(it.y()[i], k % 10);
        EXPECT_FLOAT_EQ(it.x()(i, 0, 2, 1), float(k) / 255.0f);  // the image's own pixels
      }
    }
    EXPECT_EQ(sizes, (std::vector<std::size_t>{4, 4, 2}));
    std::sort(seen.begin(), seen.end());
    std::vector<std::size_t> all(10);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(seen, all);
    EXPECT_EQ(it.epoch(), std::size_t(epoch));
  }
}

TEST(BatchIterator, DropLastAndInOrder) {
  const Dataset d = indexed(10);
  BatchIterator it(d, 4, /*shuffle=*/false, 0, {.drop_last = true});
  EXPECT_EQ(it.num_batches(), 2u);
  EXPECT_EQ(one_epoch(it), (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  BatchIterator whole(d, 10, false, 0);
  EXPECT_EQ(whole.num_batches(), 1u);
  EXPECT_EQ(one_epoch(whole).size(), 10u);
}

TEST(BatchIterator, SameSeedSameOrderOtherSeedAnother) {
  const Dataset d = indexed(100);
  BatchIterator a(d, 16, true, 42), b(d, 16, true, 42), c(d, 16, true, 43);
  const auto a1 = one_epoch(a), b1 = one_epoch(b), c1 = one_epoch(c);
  EXPECT_EQ(a1, b1);
  EXPECT_NE(a1, c1);
  std::vector<std::size_t> identity(100);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(a1, identity);
  // Each epoch a new permutation, the same for the same seed.
  const auto a2 = one_epoch(a), b2 = one_epoch(b);
  EXPECT_EQ(a2, b2);
  EXPECT_NE(a1, a2);
  // An external generator: the same seed, the same orders.
  Rng r1(5), r2(5);
  BatchIterator e(d, 16, true, r1), f(d, 16, true, r2);
  EXPECT_EQ(one_epoch(e), one_epoch(f));
}

TEST(BatchIterator, ReusesItsBufferAndNormalises) {
  const Dataset d = indexed(12);
  BatchIterator it(d, 4, false, 0, {.norm = {0.5f, 0.25f}});
  ASSERT_TRUE(it.next());
  const float* first = it.x().data();
  EXPECT_FLOAT_EQ(it.x()(1, 0, 0, 0), (1.0f / 255.0f - 0.5f) / 0.25f);
  ASSERT_TRUE(it.next());
  EXPECT_EQ(it.x().data(), first);
  EXPECT_EQ(it.batch_index(), 1u);
  it.restart();
  ASSERT_TRUE(it.next());
  EXPECT_EQ(it.indices()[0], 0u);
  EXPECT_EQ(it.x().data(), first);
}

TEST(BatchIterator, BadArguments) {
  const Dataset d = indexed(4);
  EXPECT_THROW(BatchIterator(d, 0, true, 1), Error);
  EXPECT_THROW(BatchIterator(d, 2, true, 1, {.norm = {0.0f, 0.0f}}), Error);
  // An empty dataset: no batches, no crash.
  const Dataset empty = d.subset(0, 0);
  BatchIterator it(empty, 4, true, 1);
  EXPECT_EQ(it.num_batches(), 0u);
  EXPECT_FALSE(it.next());
  EXPECT_FALSE(it.next());
}
