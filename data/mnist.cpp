#include "mnist.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <utility>

#include <xtensor/xadapt.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmath.hpp>

#include "idx.hpp"

namespace minicnn {

namespace {

// A uniform draw from [0, n), unbiased: values of the 64-bit draw below 2^64 mod n are
// rejected so that the rest divide evenly into n classes. Written out (rather than
// std::uniform_int_distribution) so that shuffles are the same with every library.
std::size_t draw_below(Rng& rng, std::size_t n) {
  const std::uint64_t reject_below = (0 - std::uint64_t(n)) % n;
  std::uint64_t r;
  do r = rng.next();
  while (r < reject_below);
  return std::size_t(r % n);
}

void fill_lut(Normalization norm, float* lut) {
  for (int b = 0; b < 256; ++b) lut[b] = norm(std::uint8_t(b));
}

// out[i] = lut[bytes[i]]: bytes to floats through the table of all 256 values.
void lookup(const float* lut, const std::uint8_t* bytes, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = lut[bytes[i]];
}

// "label L at index I is out of range [0, K)" for the first label >= K; "" if none is.
std::string bad_label(const std::vector<std::uint8_t>& labels, std::size_t k) {
  const auto bad = std::ranges::find_if(labels, [&](std::uint8_t l) { return l >= k; });
  if (bad == labels.end()) return "";
  return "label " + std::to_string(*bad) + " at index " + std::to_string(bad - labels.begin()) +
         " is out of range [0, " + std::to_string(k) + ")";
}

// dir/name if it exists, else dir/name.gz if that exists; else Error naming both.
std::string find_file(const std::string& dir, const std::string& name, const char* who) {
  const std::filesystem::path raw = std::filesystem::path(dir) / name;
  std::filesystem::path gz = raw;
  gz += ".gz";
  std::error_code ec;
  if (std::filesystem::is_regular_file(raw, ec)) return raw.string();
  if (std::filesystem::is_regular_file(gz, ec)) return gz.string();
  throw Error(std::string(who) + ": neither " + raw.string() + " nor " + gz.string() +
              " exists (scripts/fetch-data.sh puts the datasets under data/)");
}

TrainTest load_four(const std::string& dir, const char* who, const std::string& title) {
  TrainTest out;
  out.train =
      load_idx_dataset(find_file(dir, "train-images-idx3-ubyte", who),
                       find_file(dir, "train-labels-idx1-ubyte", who), 10, title + " train");
  out.test = load_idx_dataset(find_file(dir, "t10k-images-idx3-ubyte", who),
                              find_file(dir, "t10k-labels-idx1-ubyte", who), 10, title + " test");
  return out;
}

}  // namespace

// ---- Dataset --------------------------------------------------------------------

Dataset::Dataset(std::vector<std::uint8_t> images, std::vector<std::uint8_t> labels,
                 std::size_t height, std::size_t width, std::size_t num_classes, std::string name,
                 std::size_t channels)
    : images_(std::move(images)),
      labels_(std::move(labels)),
      height_(height),
      width_(width),
      num_classes_(num_classes),
      channels_(channels),
      name_(std::move(name)) {
  const std::string who = "Dataset(" + name_ + ")";
  check_arg(height_ > 0 && width_ > 0, who, "the image size", "at least 1x1",
            std::to_string(height_) + "x" + std::to_string(width_));
  check_arg(channels_ > 0, who, "channels", ">= 1", std::to_string(channels_));
  check_arg(num_classes_ > 0 && num_classes_ <= 256, who, "num_classes", "in [1, 256]",
            std::to_string(num_classes_));
  check_arg(images_.size() == labels_.size() * pixels(), who, "the image bytes",
            std::to_string(labels_.size()) + " labels x " + std::to_string(channels_) + "x" +
                std::to_string(height_) + "x" + std::to_string(width_) + " = " +
                std::to_string(labels_.size() * pixels()),
            std::to_string(images_.size()));
  if (const std::string bad = bad_label(labels_, num_classes_); !bad.empty())
    throw Error(who + ": " + bad);
}

void Dataset::check_range(std::size_t begin, std::size_t count, const char* who) const {
  if (begin <= size() && count <= size() - begin) return;
  throw Error("Dataset(" + name_ + ")::" + who + ": range [" + std::to_string(begin) + ", " +
              std::to_string(begin) + " + " + std::to_string(count) + ") exceeds the " +
              std::to_string(size()) + " images");
}

const std::uint8_t* Dataset::image(std::size_t i) const {
  check_range(i, 1, "image");
  return images_.data() + i * pixels();
}

std::size_t Dataset::label(std::size_t i) const {
  check_range(i, 1, "label");
  return labels_[i];
}

Dataset Dataset::subset(std::size_t begin, std::size_t count) const {
  check_range(begin, count, "subset");
  const auto px = images_.begin() + std::ptrdiff_t(begin * pixels());
  const auto lb = labels_.begin() + std::ptrdiff_t(begin);
  return Dataset({px, px + std::ptrdiff_t(count * pixels())}, {lb, lb + std::ptrdiff_t(count)},
                 height_, width_, num_classes_,
                 name_ + "[" + std::to_string(begin) + ":" + std::to_string(begin + count) + "]",
                 channels_);
}

Tensor Dataset::to_tensor(std::size_t begin, std::size_t count, Normalization norm) const {
  check_range(begin, count, "to_tensor");
  Tensor x = Tensor::from_shape(Shape{count, channels_, height_, width_});
  bytes_to_floats(images_.data() + begin * pixels(), count * pixels(), norm, x.data());
  return x;
}

Labels Dataset::labels_of(std::size_t begin, std::size_t count) const {
  check_range(begin, count, "labels_of");
  return Labels(labels_.begin() + std::ptrdiff_t(begin),
                labels_.begin() + std::ptrdiff_t(begin + count));
}

Normalization Dataset::fit_normalization() const {
  if (images_.empty()) throw Error("Dataset(" + name_ + ")::fit_normalization: no images");
  // A histogram makes the sums exact whatever the dataset's size.
  std::array<std::uint64_t, 256> hist{};
  for (std::uint8_t b : images_) ++hist[b];
  const auto count = xt::cast<double>(xt::adapt(hist));
  const auto v = xt::arange(256.0) / 255.0;  // the value of each byte
  const double n = double(images_.size());
  const double mean = xt::sum(count * v)() / n;
  const double var = std::max(0.0, xt::sum(count * v * v)() / n - mean * mean);
  return {float(mean), float(var > 0 ? std::sqrt(var) : 1.0)};
}

// ---- loading ---------------------------------------------------------------------

Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         std::size_t num_classes, std::string name) {
  IdxArray images = read_idx(images_path, 3);
  IdxArray labels = read_idx(labels_path, 1);
  if (images.dims[0] != labels.dims[0])
    throw Error("load_idx_dataset: " + labels_path + " holds " + std::to_string(labels.dims[0]) +
                " labels but " + images_path + " holds " + std::to_string(images.dims[0]) +
                " images");
  if (images.dims[1] == 0 || images.dims[2] == 0)
    throw Error("load_idx_dataset: " + images_path + ": images of size " +
                std::to_string(images.dims[1]) + "x" + std::to_string(images.dims[2]));
  if (const std::string bad = bad_label(labels.data, num_classes); !bad.empty())
    throw Error("load_idx_dataset: " + labels_path + ": " + bad);
  if (name.empty()) name = images_path;
  return Dataset(std::move(images.data), std::move(labels.data), images.dims[1], images.dims[2],
                 num_classes, std::move(name));
}

TrainTest load_mnist(const std::string& dir) { return load_four(dir, "load_mnist", "MNIST"); }

TrainTest load_fashion_mnist(const std::string& dir) {
  return load_four(dir, "load_fashion_mnist", "Fashion-MNIST");
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

void bytes_to_floats(const std::uint8_t* bytes, std::size_t n, Normalization norm, float* out) {
  float lut[256];
  fill_lut(norm, lut);
  lookup(lut, bytes, n, out);
}

void shuffle_order(std::vector<std::size_t>& order, Rng& rng) {
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[draw_below(rng, i)]);
}

// ---- BatchIterator ---------------------------------------------------------------

BatchIterator::BatchIterator(const Dataset& data, std::size_t batch_size, bool shuffle,
                             std::uint64_t seed, BatchOptions opt)
    : BatchIterator(data, batch_size, shuffle, nullptr, seed, opt) {}

BatchIterator::BatchIterator(const Dataset& data, std::size_t batch_size, bool shuffle, Rng& rng,
                             BatchOptions opt)
    : BatchIterator(data, batch_size, shuffle, &rng, 0, opt) {}

BatchIterator::BatchIterator(const Dataset& data, std::size_t batch_size, bool shuffle, Rng* rng,
                             std::uint64_t seed, BatchOptions opt)
    : data_(data),
      batch_size_(batch_size),
      shuffle_(shuffle),
      opt_(opt),
      own_rng_(seed),
      rng_(rng ? rng : &own_rng_) {
  const std::string who = "BatchIterator(" + data.name() + ")";
  check_arg(batch_size > 0, who, "batch_size", "> 0", std::to_string(batch_size));
  check_arg(
      std::isfinite(opt.norm.mean) && std::isfinite(opt.norm.stddev) && opt.norm.stddev > 0, who,
      "the normalisation", "finite with stddev > 0",
      "mean " + std::to_string(opt.norm.mean) + ", stddev " + std::to_string(opt.norm.stddev));
  order_.resize(data.size());
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  fill_lut(opt.norm, lut_);
  y_.reserve(batch_size);
  batch_indices_.reserve(batch_size);
}

std::size_t BatchIterator::num_batches() const {
  const std::size_t n = data_.size();
  return opt_.drop_last ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

void BatchIterator::start_epoch() {
  // Over the previous epoch's order.
  if (shuffle_) shuffle_order(order_, *rng_);
  pos_ = 0;
  batch_index_ = 0;
  ++epoch_;
}

bool BatchIterator::next() {
  if (pos_ == kNotStarted) {
    start_epoch();
  } else {
    pos_ += y_.size();
    ++batch_index_;
  }
  const std::size_t n = order_.size();
  const std::size_t b = std::min(batch_size_, n - pos_);
  if (b == 0 || (b < batch_size_ && opt_.drop_last)) {
    pos_ = kNotStarted;
    y_.clear();
    batch_indices_.clear();
    return false;
  }
  Tensor& x = b == batch_size_ ? full_ : last_;
  const std::size_t C = data_.channels(), H = data_.height(), W = data_.width(), P = C * H * W;
  if (x.dimension() != 4 || x.shape()[0] != b) x.resize(Shape{b, C, H, W});
  current_ = &x;
  y_.resize(b);
  batch_indices_.resize(b);
  float* out = x.data();
  const std::uint8_t* images = data_.images().data();
  for (std::size_t i = 0; i < b; ++i) {
    const std::size_t k = order_[pos_ + i];
    batch_indices_[i] = k;
    y_[i] = data_.labels()[k];
    lookup(lut_, images + k * P, P, out + i * P);
  }
  return true;
}

}  // namespace minicnn
