// Seeded augmentation of training images, on their bytes before they become floats.
//
//   auto augment = std::make_shared<Compose>();
//   augment->add<RandomCrop>(/*padding=*/2);          // zero-pad by 2, crop back to H×W
//   augment->add<RandomHorizontalFlip>(/*p=*/0.5f);
//   fit(net, opt, train, test, {.augment = augment});
//
// A transform changes one image (C, H, W bytes, planar) in place, drawing what it needs
// from a SampleRng. The draws of a sample depend only on (seed, epoch, dataset index):
// the batches are the same bit for bit whatever the thread count, the prefetch depth or
// the order in which the images are made. A transform holds only its options, so one
// may serve several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace minicnn {

// The random draws for one image: SplitMix64 (Steele, Lea, Flood 2014) started from a
// hash of (seed, epoch, index). Small and cheap to seed, unlike a Mersenne twister.
class SampleRng {
 public:
  SampleRng(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index);
  std::uint64_t next();
  // Uniform in [0, n), unbiased (rejection of the low remainder); n > 0.
  std::uint64_t below(std::uint64_t n);
  // Uniform in [lo, hi], lo <= hi.
  std::int64_t between(std::int64_t lo, std::int64_t hi);
  // True with probability p.
  bool chance(float p);
  // Uniform in [lo, hi] (hi itself only by rounding), 24 bits of resolution; lo <= hi.
  float uniform(float lo, float hi);

 private:
  std::uint64_t state_;
};

// One image's bytes, planar: channels planes of height × width.
struct ImageBytes {
  std::uint8_t* data;
  std::size_t channels, height, width;
};

class Transform {
 public:
  virtual ~Transform() = default;
  virtual void apply(ImageBytes image, SampleRng& rng) const = 0;
  // "RandomCrop(padding 2)"
  virtual std::string name() const = 0;
};

// The largest shift RandomCrop and RandomTranslate take (2^30 pixels): any larger is a
// mistake (a negative count wrapped around), and the draws stay within 64-bit integers.
inline constexpr std::size_t kMaxShift = std::size_t{1} << 30;

// torchvision's RandomCrop(size, padding) with size the image's own: the image padded
// with padding zeros on every side, and an H×W window of it at a uniform offset. That is
// a shift by (dy, dx), each uniform in [−padding, padding], the uncovered border zero.
// padding in [1, kMaxShift].
class RandomCrop : public Transform {
 public:
  explicit RandomCrop(std::size_t padding);  // padding >= 1
  void apply(ImageBytes image, SampleRng& rng) const override;
  std::string name() const override;

 private:
  std::size_t padding_;
};

// Mirrors the image left to right with probability p (in [0, 1]).
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(float p = 0.5f);
  void apply(ImageBytes image, SampleRng& rng) const override;
  std::string name() const override;

 private:
  float p_;
};

// Shifts the image by dy uniform in [−max_dy, max_dy] rows and dx in [−max_dx, max_dx]
// columns, the uncovered border zero; what leaves the frame is lost. Unlike RandomCrop
// the two limits may differ (0 keeps that axis). Not both 0, neither above kMaxShift.
class RandomTranslate : public Transform {
 public:
  RandomTranslate(std::size_t max_dy, std::size_t max_dx);
  void apply(ImageBytes image, SampleRng& rng) const override;
  std::string name() const override;

 private:
  std::size_t max_dy_, max_dx_;
};

// Random erasing (Zhong et al. 2017, "Random Erasing Data Augmentation"), drawn as
// torchvision's RandomErasing draws it: with probability p, a rectangle of the image is
// overwritten on every channel. Its area is a fraction of the image's, uniform in
// [min_area, max_area]; its aspect (height over width) is log-uniform in [min_aspect,
// max_aspect]; its sides are rounded to whole pixels and its place is uniform among
// those where it fits. Up to 10 draws are made for a rectangle that fits with no side
// of 0; when none does the image stays as it is. Unlike torchvision's, which works on
// normalised floats (value 0 there is the mean, "random" a normal draw), this one works
// on the bytes: the rectangle is filled with the byte `value` (0 is black), or by
// default with uniform random bytes, one per pixel and channel.
struct RandomErasingOptions {
  float p = 0.5f;
  float min_area = 0.02f, max_area = 0.33f;
  float min_aspect = 0.3f, max_aspect = 3.3f;
  std::optional<std::uint8_t> value = std::nullopt;  // none: random bytes
};

class RandomErasing : public Transform {
 public:
  explicit RandomErasing(RandomErasingOptions options = {});
  void apply(ImageBytes image, SampleRng& rng) const override;
  // "RandomErasing(p 0.5, area 0.02-0.33, aspect 0.3-3.3, random)"
  std::string name() const override;

 private:
  RandomErasingOptions o_;
};

// Transforms one after another, each with the same generator (so each draws after the
// ones before it).
class Compose : public Transform {
 public:
  Compose() = default;
  template <class T, class... Args>
  T& add(Args&&... args) {
    auto t = std::make_shared<T>(std::forward<Args>(args)...);
    T& ref = *t;
    steps_.push_back(std::move(t));
    return ref;
  }
  Compose& add(std::shared_ptr<const Transform> t);  // throws Error when null
  std::size_t size() const { return steps_.size(); }
  void apply(ImageBytes image, SampleRng& rng) const override;
  // "Compose(RandomCrop(padding 2), RandomHorizontalFlip(p 0.5))"
  std::string name() const override;

 private:
  std::vector<std::shared_ptr<const Transform>> steps_;
};

// Applies t to image `index` of an epoch: the one way fit and the tests draw a sample's
// generator, so that both see the same images.
void augment_image(const Transform& t, ImageBytes image, std::uint64_t seed, std::uint64_t epoch,
                   std::uint64_t index);

}  // namespace minicnn
