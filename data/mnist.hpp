// MNIST-like datasets kept as bytes, and batches of them as float tensors.
//
//   auto [train, test] = load_mnist("data/mnist");     // 60000 and 10000 images
//   BatchIterator batches(train, /*batch_size=*/64, /*shuffle=*/true, /*seed=*/1,
//                         {.norm = Normalization::mnist()});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     while (batches.next()) train_step(batches.x(), batches.y());   // (B,1,28,28), B labels
//
// A Dataset holds its images as N·H·W bytes (47 MB for MNIST's training set, a quarter
// of what floats would take); only one batch at a time is turned into floats, in a
// buffer the iterator reuses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/random.hpp"
#include "../core/tensor.hpp"

namespace minicnn {

// How bytes become floats: x = (byte / 255 − mean) / stddev. The default, {0, 1}, is
// byte / 255, in [0, 1].
struct Normalization {
  float mean = 0.0f;
  float stddev = 1.0f;

  // The mean and standard deviation of MNIST's training pixels on the [0, 1] scale,
  // the values every MNIST example uses: inputs then have mean ≈ 0 and std ≈ 1.
  static Normalization mnist() { return {0.1307f, 0.3081f}; }
  // The same for Fashion-MNIST's training set.
  static Normalization fashion_mnist() { return {0.2860f, 0.3530f}; }

  float operator()(std::uint8_t byte) const { return (float(byte) / 255.0f - mean) / stddev; }
};

// Images (N, C, H, W) as bytes, planar (each image its C planes of H·W bytes one after
// another), with N labels in [0, num_classes). C is 1 (grey) unless given.
class Dataset {
 public:
  Dataset() = default;
  // images must hold N·channels·height·width bytes for N = labels.size(), and every label
  // must be < num_classes; otherwise throws Error naming the dataset.
  Dataset(std::vector<std::uint8_t> images, std::vector<std::uint8_t> labels, std::size_t height,
          std::size_t width, std::size_t num_classes = 10, std::string name = "dataset",
          std::size_t channels = 1);

  std::size_t size() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }
  std::size_t height() const { return height_; }
  std::size_t width() const { return width_; }
  std::size_t channels() const { return channels_; }
  std::size_t pixels() const { return channels_ * height_ * width_; }  // bytes per image
  std::size_t num_classes() const { return num_classes_; }
  const std::string& name() const { return name_; }
  Shape shape() const { return {size(), channels_, height_, width_}; }

  // The C·H·W bytes of image i, and its label; i is checked.
  const std::uint8_t* image(std::size_t i) const;
  std::size_t label(std::size_t i) const;
  const std::vector<std::uint8_t>& images() const { return images_; }
  const std::vector<std::uint8_t>& labels() const { return labels_; }

  // Images [begin, begin + count) as a dataset of their own (a copy), for quick runs.
  Dataset subset(std::size_t begin, std::size_t count) const;
  // Images [begin, begin + count) as floats (count, C, H, W), and their labels.
  Tensor to_tensor(std::size_t begin, std::size_t count, Normalization norm = {}) const;
  Labels labels_of(std::size_t begin, std::size_t count) const;
  // The pixel mean and standard deviation of this dataset on the [0, 1] scale.
  Normalization fit_normalization() const;

 private:
  void check_range(std::size_t begin, std::size_t count, const char* who) const;

  std::vector<std::uint8_t> images_;
  std::vector<std::uint8_t> labels_;
  std::size_t height_ = 0, width_ = 0, num_classes_ = 0, channels_ = 1;
  std::string name_;
};

struct TrainTest {
  Dataset train;
  Dataset test;
};

// An image file (rank 3, N×H×W) and a label file (rank 1, N) in IDX format, raw or .gz.
// Throws Error naming the files when the counts differ or a label is >= num_classes.
Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         std::size_t num_classes = 10, std::string name = "");

// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte in dir, each raw or with ".gz" appended (whichever exists).
TrainTest load_mnist(const std::string& dir);
// The same four names, as Fashion-MNIST ships them.
TrainTest load_fashion_mnist(const std::string& dir);
// "T-shirt/top", "Trouser", ... "Ankle boot": the names of Fashion-MNIST's ten labels.
const std::vector<std::string>& fashion_mnist_classes();

// n bytes to n floats through norm; the conversion behind the iterator.
void bytes_to_floats(const std::uint8_t* bytes, std::size_t n, Normalization norm, float* out);

// Fisher–Yates over order, drawing from rng: every permutation equally likely, and the
// same draws with every standard library. The shuffle of BatchIterator and BatchLoader.
void shuffle_order(std::vector<std::size_t>& order, Rng& rng);

struct BatchOptions {
  bool drop_last = false;  // drop the last batch of an epoch when it is short
  Normalization norm = {};
};

// Batches of a dataset, one epoch after another, in a fresh seeded permutation per
// epoch when shuffling (in order otherwise). It keeps a reference to the dataset, which
// must outlive it, and copies nothing but one batch at a time into a reused buffer.
//
//   while (it.next()) use(it.x(), it.y());   // one epoch; the next loop is the next epoch
class BatchIterator {
 public:
  // Shuffles with its own generator seeded with seed: the same seed, the same orders.
  BatchIterator(const Dataset& data, std::size_t batch_size, bool shuffle, std::uint64_t seed,
                BatchOptions opt = {});
  // Shuffles with rng (such as default_rng()), which must outlive the iterator.
  BatchIterator(const Dataset& data, std::size_t batch_size, bool shuffle, Rng& rng,
                BatchOptions opt = {});
  BatchIterator(Dataset&&, std::size_t, bool, std::uint64_t, BatchOptions = {}) = delete;
  BatchIterator(Dataset&&, std::size_t, bool, Rng&, BatchOptions = {}) = delete;

  // Fills x() and y() with the next batch and returns true, or returns false at the
  // end of an epoch; the call after that starts the next epoch.
  bool next();
  // Ends the current epoch early: the next call to next() starts a new one.
  void restart() { pos_ = kNotStarted; }

  // The current batch: (B, C, H, W) floats and B labels; B = batch_size except perhaps
  // for the last batch of an epoch. Valid until the next call to next().
  const Tensor& x() const { return *current_; }
  const Labels& y() const { return y_; }
  // Dataset indices of the current batch.
  const std::vector<std::size_t>& indices() const { return batch_indices_; }

  std::size_t batch_size() const { return batch_size_; }
  std::size_t num_batches() const;                          // per epoch
  std::size_t batch_index() const { return batch_index_; }  // 0-based, of the current batch
  std::size_t epoch() const { return epoch_; }              // epochs started so far

 private:
  static constexpr std::size_t kNotStarted = static_cast<std::size_t>(-1);
  BatchIterator(const Dataset& data, std::size_t batch_size, bool shuffle, Rng* rng,
                std::uint64_t seed, BatchOptions opt);
  void start_epoch();

  const Dataset& data_;
  std::size_t batch_size_;
  bool shuffle_;
  BatchOptions opt_;
  Rng own_rng_;
  Rng* rng_;
  std::vector<std::size_t> order_;
  std::size_t pos_ = kNotStarted;
  std::size_t batch_index_ = 0;
  std::size_t epoch_ = 0;
  Tensor full_, last_;  // the buffers for full batches and for a short last one
  const Tensor* current_ = &full_;
  Labels y_;
  std::vector<std::size_t> batch_indices_;
  float lut_[256];
};

}  // namespace minicnn
