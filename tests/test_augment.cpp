#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <minicnn/minicnn.hpp>
#include <numeric>
#include <set>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

using Bytes = std::vector<std::uint8_t>;

// C planes of H×W bytes numbered 1, 2, 3, ... (distinct and non-zero, so that a moved
// pixel can be told from the zero fill).
Bytes numbered(std::size_t C, std::size_t H, std::size_t W) {
  Bytes b(C * H * W);
  std::iota(b.begin(), b.end(), std::uint8_t(1));
  return b;
}

// The textbook shift: out[c][y][x] = in[c][y − dy][x − dx], 0 outside.
Bytes shifted(const Bytes& in, std::size_t C, std::size_t H, std::size_t W, long dy, long dx) {
  Bytes out(in.size(), 0);
  for (std::size_t c = 0; c < C; ++c)
    for (long y = 0; y < long(H); ++y)
      for (long x = 0; x < long(W); ++x) {
        const long sy = y - dy, sx = x - dx;
        if (sy >= 0 && sy < long(H) && sx >= 0 && sx < long(W))
          out[(c * H + std::size_t(y)) * W + std::size_t(x)] =
              in[(c * H + std::size_t(sy)) * W + std::size_t(sx)];
      }
  return out;
}

Bytes apply(const Transform& t, Bytes img, std::size_t C, std::size_t H, std::size_t W,
            std::uint64_t seed, std::uint64_t epoch = 1, std::uint64_t index = 0) {
  augment_image(t, {img.data(), C, H, W}, seed, epoch, index);
  return img;
}

}  // namespace

TEST(SampleRng, DependsOnlyOnSeedEpochAndIndex) {
  SampleRng a(1, 2, 3), b(1, 2, 3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
  // Each of the three changes the stream.
  const std::uint64_t first = SampleRng(1, 2, 3).next();
  EXPECT_NE(SampleRng(2, 2, 3).next(), first);
  EXPECT_NE(SampleRng(1, 3, 3).next(), first);
  EXPECT_NE(SampleRng(1, 2, 4).next(), first);
  // Swapping epoch and index is another stream too.
  EXPECT_NE(SampleRng(1, 3, 2).next(), first);
}

TEST(SampleRng, DrawsStayInTheirBoundsAndCoverThem) {
  SampleRng rng(5, 1, 0);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t v = rng.between(-2, 2);
    ASSERT_GE(v, -2);
    ASSERT_LE(v, 2);
    seen.insert(v);
    ASSERT_LT(rng.below(7), 7u);
  }
  EXPECT_EQ(seen.size(), 5u);
  int heads = 0;
  for (int i = 0; i < 4000; ++i) heads += rng.chance(0.25f);
  EXPECT_GT(heads, 850);
  EXPECT_LT(heads, 1150);
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(rng.chance(0.0f));
    EXPECT_TRUE(rng.chance(1.0f));
  }
}

TEST(RandomCrop, MovesALonePixelByAtMostThePaddingAndReachesEveryOffset) {
  // A 5×5 image, 9 at the centre: padding 2 keeps it inside, at (2 + dy, 2 + dx).
  Bytes img(25, 0);
  img[12] = 9;
  const RandomCrop crop(2);
  std::set<std::size_t> where;
  for (std::uint64_t i = 0; i < 500; ++i) {
    const Bytes out = apply(crop, img, 1, 5, 5, /*seed=*/3, /*epoch=*/1, /*index=*/i);
    ASSERT_EQ(std::count(out.begin(), out.end(), 9), 1) << "sample " << i;
    ASSERT_EQ(std::count(out.begin(), out.end(), 0), 24) << "sample " << i;
    where.insert(std::size_t(std::find(out.begin(), out.end(), 9) - out.begin()));
  }
  EXPECT_EQ(where.size(), 25u);  // every (dy, dx) in [−2, 2]²
}

TEST(RandomCrop, IsAShiftWithZerosOnEveryChannel) {
  const std::size_t C = 3, H = 4, W = 6;
  const Bytes img = numbered(C, H, W);
  const RandomCrop crop(3);
  for (std::uint64_t i = 0; i < 200; ++i) {
    SampleRng rng(8, 2, i);  // the draws the crop makes: dy, then dx
    const long dy = long(rng.between(-3, 3)), dx = long(rng.between(-3, 3));
    EXPECT_EQ(apply(crop, img, C, H, W, 8, 2, i), shifted(img, C, H, W, dy, dx))
        << "dy " << dy << " dx " << dx;
  }
}

TEST(RandomTranslate, ShiftsWithinItsLimitsPerAxis) {
  const std::size_t C = 2, H = 5, W = 3;
  const Bytes img = numbered(C, H, W);
  // Rows only, by up to 7 (past the height: all zero at ±5 and more).
  const RandomTranslate rows(7, 0);
  bool emptied = false;
  for (std::uint64_t i = 0; i < 300; ++i) {
    SampleRng rng(4, 1, i);
    const long dy = long(rng.between(-7, 7)), dx = long(rng.between(0, 0));
    ASSERT_EQ(dx, 0);
    const Bytes out = apply(rows, img, C, H, W, 4, 1, i);
    ASSERT_EQ(out, shifted(img, C, H, W, dy, 0)) << "dy " << dy;
    emptied |= std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0; });
  }
  EXPECT_TRUE(emptied);
  // Columns only: every row keeps its own bytes.
  const RandomTranslate cols(0, 1);
  for (std::uint64_t i = 0; i < 50; ++i) {
    SampleRng rng(4, 1, i);
    rng.between(0, 0);
    const long dx = long(rng.between(-1, 1));
    EXPECT_EQ(apply(cols, img, C, H, W, 4, 1, i), shifted(img, C, H, W, 0, dx));
  }
}

TEST(RandomHorizontalFlip, MirrorsEveryRowOfEveryChannel) {
  // 2 channels of 2×3: rows {1 2 3}, {4 5 6}, {7 8 9}, {10 11 12}.
  const Bytes img = numbered(2, 2, 3);
  EXPECT_EQ(apply(RandomHorizontalFlip(1.0f), img, 2, 2, 3, 1),
            (Bytes{3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10}));
  EXPECT_EQ(apply(RandomHorizontalFlip(0.0f), img, 2, 2, 3, 1), img);
  // p = 0.5: about half of the samples, and the same ones for the same seed.
  const RandomHorizontalFlip half(0.5f);
  int flipped = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const Bytes out = apply(half, img, 2, 2, 3, 6, 1, i);
    EXPECT_EQ(out, apply(half, img, 2, 2, 3, 6, 1, i));
    flipped += out != img;
  }
  EXPECT_GT(flipped, 430);
  EXPECT_LT(flipped, 570);
}

// The bounding box of the pixels where out differs from in, on plane c.
struct Box {
  std::size_t top = SIZE_MAX, left = SIZE_MAX, bottom = 0, right = 0;  // bottom, right past
  bool empty() const { return top == SIZE_MAX; }
};
Box changed_box(const Bytes& in, const Bytes& out, std::size_t c, std::size_t H, std::size_t W) {
  Box b;
  for (std::size_t y = 0; y < H; ++y)
    for (std::size_t x = 0; x < W; ++x)
      if (in[(c * H + y) * W + x] != out[(c * H + y) * W + x]) {
        b.top = std::min(b.top, y), b.left = std::min(b.left, x);
        b.bottom = std::max(b.bottom, y + 1), b.right = std::max(b.right, x + 1);
      }
  return b;
}

TEST(RandomErasing, FillsOneRectangleOfTheDrawnAreaAndAspectOnEveryChannel) {
  const std::size_t C = 2, H = 20, W = 30;
  Bytes ones(C * H * W, 1);
  const RandomErasing erase({.p = 1.0f,
                             .min_area = 0.1f,
                             .max_area = 0.3f,
                             .min_aspect = 0.5f,
                             .max_aspect = 2.0f,
                             .value = std::uint8_t(0)});
  EXPECT_EQ(erase.name(), "RandomErasing(p 1, area 0.1-0.3, aspect 0.5-2, value 0)");
  std::set<std::size_t> tops, lefts, bottoms, rights;
  for (std::uint64_t i = 0; i < 300; ++i) {
    const Bytes out = apply(erase, ones, C, H, W, 5, 1, i);
    EXPECT_EQ(out, apply(erase, ones, C, H, W, 5, 1, i));  // the same draws for the same sample
    const Box b = changed_box(ones, out, 0, H, W);
    ASSERT_FALSE(b.empty()) << "sample " << i;
    const std::size_t h = b.bottom - b.top, w = b.right - b.left;
    // A solid rectangle of zeros, the same on both channels, nothing else touched.
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t y = 0; y < H; ++y)
        for (std::size_t x = 0; x < W; ++x) {
          const bool inside = y >= b.top && y < b.bottom && x >= b.left && x < b.right;
          ASSERT_EQ(out[(c * H + y) * W + x], inside ? 0 : 1) << "sample " << i;
        }
    // Area and aspect as drawn, up to the rounding of each side to whole pixels.
    const double area = double(h * w) / double(H * W), aspect = double(h) / double(w);
    EXPECT_GE(area, 0.1 * 0.7) << "sample " << i;
    EXPECT_LE(area, 0.3 * 1.35) << "sample " << i;
    EXPECT_GE(aspect, 0.5 * 0.7) << "sample " << i;
    EXPECT_LE(aspect, 2.0 * 1.4) << "sample " << i;
    tops.insert(b.top);
    lefts.insert(b.left);
    bottoms.insert(b.bottom);
    rights.insert(b.right);
  }
  // The place is drawn too, over every place where the rectangle fits: some touch the
  // top and the left edge, some the bottom and the right.
  EXPECT_TRUE(tops.count(0));
  EXPECT_TRUE(lefts.count(0));
  EXPECT_TRUE(bottoms.count(H));
  EXPECT_TRUE(rights.count(W));
  EXPECT_GT(tops.size(), 8u);
  EXPECT_GT(lefts.size(), 15u);
}

TEST(RandomErasing, AspectIsHeightOverWidth) {
  const std::size_t H = 24, W = 24;
  const Bytes ones(H * W, 1);
  const RandomErasing tall({.p = 1.0f,
                            .min_area = 0.1f,
                            .max_area = 0.2f,
                            .min_aspect = 2.0f,
                            .max_aspect = 3.0f,
                            .value = std::uint8_t(0)});
  for (std::uint64_t i = 0; i < 100; ++i) {
    const Box b = changed_box(ones, apply(tall, ones, 1, H, W, 7, 1, i), 0, H, W);
    ASSERT_FALSE(b.empty()) << "sample " << i;
    EXPECT_GT(b.bottom - b.top, b.right - b.left) << "sample " << i;
  }
}

TEST(RandomErasing, RandomBytesDifferPerChannelAndFollowTheSeed) {
  const std::size_t C = 3, H = 16, W = 16;
  Bytes zeros(C * H * W, 0);
  const RandomErasing erase({.p = 1.0f});
  EXPECT_EQ(erase.name(), "RandomErasing(p 1, area 0.02-0.33, aspect 0.3-3.3, random)");
  std::size_t channels_differ = 0, erased = 0;
  for (std::uint64_t i = 0; i < 100; ++i) {
    const Bytes out = apply(erase, zeros, C, H, W, 8, 2, i);
    EXPECT_EQ(out, apply(erase, zeros, C, H, W, 8, 2, i));
    erased += out != zeros;
    // Random bytes: the channels carry their own.
    const Bytes p0(out.begin(), out.begin() + long(H * W)), p1(out.begin() + long(H * W),
                                                                 out.begin() + long(2 * H * W));
    channels_differ += p0 != p1;
  }
  EXPECT_GT(erased, 95u);  // a few draws may find no rectangle that fits 16×16
  EXPECT_EQ(channels_differ, erased);
  // Another seed, other bytes.
  EXPECT_NE(apply(erase, zeros, C, H, W, 8, 2, 0), apply(erase, zeros, C, H, W, 9, 2, 0));
}

TEST(RandomErasing, KeepsTheImageWhenNoRectangleFitsOrByChance) {
  const std::size_t H = 12, W = 12;
  const Bytes img = numbered(1, H, W);
  // The whole image's area at aspect 1 is never smaller than the image: ten misses.
  const RandomErasing whole(
      {.p = 1.0f, .min_area = 1.0f, .max_area = 1.0f, .min_aspect = 1.0f, .max_aspect = 1.0f});
  for (std::uint64_t i = 0; i < 20; ++i) EXPECT_EQ(apply(whole, img, 1, H, W, 3, 1, i), img);
  // Nor does a rectangle far taller than any image, whose side is too large to round.
  const RandomErasing needle({.p = 1.0f, .min_aspect = 1e30f, .max_aspect = 1e30f});
  for (std::uint64_t i = 0; i < 20; ++i) EXPECT_EQ(apply(needle, img, 1, H, W, 3, 1, i), img);
  EXPECT_EQ(apply(RandomErasing({.p = 0.0f}), img, 1, H, W, 3), img);
  const RandomErasing half({.p = 0.5f, .value = std::uint8_t(0)});
  int erased = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) erased += apply(half, img, 1, H, W, 4, 1, i) != img;
  EXPECT_GT(erased, 430);
  EXPECT_LT(erased, 570);
}

TEST(Compose, AppliesItsStepsInOrderWithOneGenerator) {
  const std::size_t H = 6, W = 6;
  const Bytes img = numbered(1, H, W);
  Compose both;
  both.add<RandomCrop>(2);
  both.add<RandomHorizontalFlip>(0.5f);
  EXPECT_EQ(both.size(), 2u);
  EXPECT_EQ(both.name(), "Compose(RandomCrop(padding 2), RandomHorizontalFlip(p 0.5))");
  for (std::uint64_t i = 0; i < 100; ++i) {
    Bytes by_hand = img;
    SampleRng rng(9, 3, i);
    RandomCrop(2).apply({by_hand.data(), 1, H, W}, rng);
    RandomHorizontalFlip(0.5f).apply({by_hand.data(), 1, H, W}, rng);
    EXPECT_EQ(apply(both, img, 1, H, W, 9, 3, i), by_hand) << "sample " << i;
  }
  // Another epoch draws anew: some sample differs.
  bool differs = false;
  for (std::uint64_t i = 0; i < 20; ++i)
    differs |= apply(both, img, 1, H, W, 9, 3, i) != apply(both, img, 1, H, W, 9, 4, i);
  EXPECT_TRUE(differs);
}

TEST(Augment, RejectsBadOptions) {
  expect_error_naming([] { RandomCrop(0); }, {"RandomCrop", "padding"});
  // A negative count wrapped around (a command line's -1) is an Error, not a shift.
  expect_error_naming([] { RandomCrop(std::size_t(-1)); },
                      {"RandomCrop", "padding", "18446744073709551615"});
  expect_error_naming([] { RandomTranslate(kMaxShift + 1, 0); },
                      {"RandomTranslate", std::to_string(kMaxShift + 1)});
  // The limit itself is taken, and its shifts (almost surely past the frame) leave zeros.
  const Bytes shifted = apply(RandomCrop(kMaxShift), Bytes(2 * 5 * 4, 7), 2, 5, 4, 3);
  EXPECT_EQ(shifted, Bytes(2 * 5 * 4, 0));
  expect_error_naming([] { RandomHorizontalFlip(1.5f); }, {"RandomHorizontalFlip", "p", "1.5"});
  expect_error_naming([] { RandomHorizontalFlip(-0.1f); }, {"RandomHorizontalFlip"});
  expect_error_naming([] { RandomTranslate(0, 0); }, {"RandomTranslate"});
  expect_error_naming([] { RandomErasing({.p = 2.0f}); }, {"RandomErasing", "p", "2"});
  expect_error_naming([] { RandomErasing({.min_area = 0.5f, .max_area = 0.2f}); },
                      {"RandomErasing", "area", "0.5"});
  expect_error_naming([] { RandomErasing({.max_area = 1.5f}); }, {"RandomErasing", "area"});
  expect_error_naming([] { RandomErasing({.min_aspect = 0.0f}); }, {"RandomErasing", "aspect"});
  expect_error_naming([] { RandomErasing({.max_aspect = std::numeric_limits<float>::infinity()}); },
                      {"RandomErasing", "aspect"});
  Compose c;
  expect_error_naming([&] { c.add(nullptr); }, {"Compose", "null"});
}
