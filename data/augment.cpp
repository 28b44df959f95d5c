#include "augment.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "../core/tensor.hpp"

namespace minicnn {
namespace {

// SplitMix64's output function: a bijection of 64-bit words that mixes every input bit
// into every output bit.
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ull;  // SplitMix64's increment

// Moves every plane of image by dy rows and dx columns (out[y][x] = in[y − dy][x − dx],
// zero where that is outside), in place. Rows are visited in the order that reads each
// source row before it is overwritten; memmove handles a row moved onto itself.
void shift(ImageBytes image, std::int64_t dy, std::int64_t dx) {
  const auto H = std::int64_t(image.height), W = std::int64_t(image.width);
  const std::int64_t keep = std::max<std::int64_t>(0, W - std::abs(dx));  // columns kept
  const std::int64_t to = std::max<std::int64_t>(0, dx), from = std::max<std::int64_t>(0, -dx);
  for (std::size_t c = 0; c < image.channels; ++c) {
    std::uint8_t* plane = image.data + c * image.height * image.width;
    for (std::int64_t i = 0; i < H; ++i) {
      const std::int64_t y = dy > 0 ? H - 1 - i : i;
      std::uint8_t* out = plane + y * W;
      const std::int64_t src = y - dy;
      if (src < 0 || src >= H || keep == 0) {
        std::memset(out, 0, std::size_t(W));
        continue;
      }
      std::memmove(out + to, plane + src * W + from, std::size_t(keep));
      if (dx > 0) std::memset(out, 0, std::size_t(std::min(dx, W)));
      if (dx < 0) std::memset(out + keep, 0, std::size_t(W - keep));
    }
  }
}

}  // namespace

// ---- SampleRng -----------------------------------------------------------------------

SampleRng::SampleRng(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index)
    : state_(mix64(mix64(mix64(seed + kGolden) ^ (epoch + kGolden)) ^ (index + kGolden))) {}

std::uint64_t SampleRng::next() {
  state_ += kGolden;
  return mix64(state_);
}

std::uint64_t SampleRng::below(std::uint64_t n) {
  const std::uint64_t reject_below = (0 - n) % n;
  std::uint64_t r;
  do r = next();
  while (r < reject_below);
  return r % n;
}

std::int64_t SampleRng::between(std::int64_t lo, std::int64_t hi) {
  return lo + std::int64_t(below(std::uint64_t(hi - lo) + 1));
}

bool SampleRng::chance(float p) {
  // 24 bits: every float in [0, 1) of the form k / 2^24 equally likely.
  return float(next() >> 40) * 0x1p-24f < p;
}

float SampleRng::uniform(float lo, float hi) {
  return lo + (hi - lo) * (float(next() >> 40) * 0x1p-24f);
}

// ---- transforms ----------------------------------------------------------------------

RandomCrop::RandomCrop(std::size_t padding) : padding_(padding) {
  check_arg(padding > 0 && padding <= kMaxShift, "RandomCrop", "padding",
            "in [1, " + std::to_string(kMaxShift) + "]", std::to_string(padding));
}

void RandomCrop::apply(ImageBytes image, SampleRng& rng) const {
  const auto p = std::int64_t(padding_);
  const std::int64_t dy = rng.between(-p, p);
  const std::int64_t dx = rng.between(-p, p);
  shift(image, dy, dx);
}

std::string RandomCrop::name() const {
  return "RandomCrop(padding " + std::to_string(padding_) + ")";
}

RandomHorizontalFlip::RandomHorizontalFlip(float p) : p_(p) {
  check_arg(p >= 0.0f && p <= 1.0f, "RandomHorizontalFlip", "p", "in [0, 1]", std::to_string(p));
}

void RandomHorizontalFlip::apply(ImageBytes image, SampleRng& rng) const {
  if (!rng.chance(p_)) return;
  const std::size_t rows = image.channels * image.height;
  for (std::size_t r = 0; r < rows; ++r) {
    std::uint8_t* row = image.data + r * image.width;
    std::reverse(row, row + image.width);
  }
}

std::string RandomHorizontalFlip::name() const {
  char s[48];
  std::snprintf(s, sizeof s, "RandomHorizontalFlip(p %g)", double(p_));
  return s;
}

RandomTranslate::RandomTranslate(std::size_t max_dy, std::size_t max_dx)
    : max_dy_(max_dy), max_dx_(max_dx) {
  check_arg(max_dy > 0 || max_dx > 0, "RandomTranslate", "the largest shifts", "not both 0",
            "0 and 0");
  check_arg(max_dy <= kMaxShift && max_dx <= kMaxShift, "RandomTranslate", "the largest shifts",
            "at most " + std::to_string(kMaxShift),
            std::to_string(max_dy) + " and " + std::to_string(max_dx));
}

void RandomTranslate::apply(ImageBytes image, SampleRng& rng) const {
  const std::int64_t dy = rng.between(-std::int64_t(max_dy_), std::int64_t(max_dy_));
  const std::int64_t dx = rng.between(-std::int64_t(max_dx_), std::int64_t(max_dx_));
  shift(image, dy, dx);
}

std::string RandomTranslate::name() const {
  return "RandomTranslate(rows ±" + std::to_string(max_dy_) + ", columns ±" +
         std::to_string(max_dx_) + ")";
}

RandomErasing::RandomErasing(RandomErasingOptions options) : o_(options) {
  check_arg(o_.p >= 0.0f && o_.p <= 1.0f, "RandomErasing", "p", "in [0, 1]", std::to_string(o_.p));
  check_arg(std::isfinite(o_.min_aspect) && std::isfinite(o_.max_aspect), "RandomErasing",
            "aspect", "finite",
            std::to_string(o_.min_aspect) + " to " + std::to_string(o_.max_aspect));
  check_arg(o_.min_area > 0.0f && o_.min_area <= o_.max_area && o_.max_area <= 1.0f,
            "RandomErasing", "area", "0 < min_area <= max_area <= 1",
            std::to_string(o_.min_area) + " to " + std::to_string(o_.max_area));
  check_arg(o_.min_aspect > 0.0f && o_.min_aspect <= o_.max_aspect, "RandomErasing", "aspect",
            "0 < min_aspect <= max_aspect",
            std::to_string(o_.min_aspect) + " to " + std::to_string(o_.max_aspect));
}

void RandomErasing::apply(ImageBytes image, SampleRng& rng) const {
  if (!rng.chance(o_.p)) return;
  const std::size_t H = image.height, W = image.width;
  const float area = float(H * W);
  const float log_lo = std::log(o_.min_aspect), log_hi = std::log(o_.max_aspect);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const float target = area * rng.uniform(o_.min_area, o_.max_area);
    const float aspect = std::exp(rng.uniform(log_lo, log_hi));
    const float hf = std::sqrt(target * aspect), wf = std::sqrt(target / aspect);
    // Sides that would round to H or W or more are drawn again before rounding, so
    // that no side too large for a long is ever rounded.
    if (!(hf < float(H) - 0.5f) || !(wf < float(W) - 0.5f)) continue;
    const auto h = std::size_t(std::lround(hf)), w = std::size_t(std::lround(wf));
    if (h == 0 || w == 0) continue;
    const std::size_t top = std::size_t(rng.below(H - h + 1)),
                      left = std::size_t(rng.below(W - w + 1));
    for (std::size_t c = 0; c < image.channels; ++c)
      for (std::size_t y = top; y < top + h; ++y) {
        std::uint8_t* row = image.data + (c * H + y) * W + left;
        if (o_.value) {
          std::memset(row, *o_.value, w);
          continue;
        }
        // Eight bytes from each draw.
        for (std::size_t x = 0; x < w; x += 8) {
          const std::uint64_t r = rng.next();
          std::memcpy(row + x, &r, std::min<std::size_t>(8, w - x));
        }
      }
    return;
  }
}

std::string RandomErasing::name() const {
  char fill[16] = "random";
  if (o_.value) std::snprintf(fill, sizeof fill, "value %u", unsigned(*o_.value));
  char s[160];
  std::snprintf(s, sizeof s, "RandomErasing(p %g, area %g-%g, aspect %g-%g, %s)", double(o_.p),
                double(o_.min_area), double(o_.max_area), double(o_.min_aspect),
                double(o_.max_aspect), fill);
  return s;
}

Compose& Compose::add(std::shared_ptr<const Transform> t) {
  if (!t) throw Error("Compose::add: a null transform");
  steps_.push_back(std::move(t));
  return *this;
}

void Compose::apply(ImageBytes image, SampleRng& rng) const {
  for (const auto& t : steps_) t->apply(image, rng);
}

std::string Compose::name() const {
  std::string s = "Compose(";
  for (std::size_t i = 0; i < steps_.size(); ++i) s += (i ? ", " : "") + steps_[i]->name();
  return s + ")";
}

void augment_image(const Transform& t, ImageBytes image, std::uint64_t seed, std::uint64_t epoch,
                   std::uint64_t index) {
  SampleRng rng(seed, epoch, index);
  t.apply(image, rng);
}

}  // namespace minicnn
