// The plots of minicnn::viz (viz/plot.hpp): sizes, argument errors, and that curves,
// text and the legend land where they belong. Font rendering differs between machines,
// so text is checked by where dark pixels are, never pixel for pixel.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <minicnn/viz/plot.hpp>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;

namespace {

using Rgb = std::array<std::uint8_t, 3>;
constexpr Rgb kBlue{31, 119, 180};  // the palette's first colour

// Whether a pixel is within tol of a colour in every channel (curves are antialiased).
bool near(const std::uint8_t* p, Rgb c, int tol = 40) {
  for (int i = 0; i < 3; ++i)
    if (std::abs(int(p[i]) - int(c[i])) > tol) return false;
  return true;
}
bool dark(const std::uint8_t* p) { return p[0] < 96 && p[1] < 96 && p[2] < 96; }

// How many pixels of the rectangle [x0, x1) × [y0, y1) pass the test.
std::size_t count(const Image& img, std::size_t x0, std::size_t y0, std::size_t x1, std::size_t y1,
                  const std::function<bool(const std::uint8_t*)>& test) {
  std::size_t n = 0;
  for (std::size_t y = y0; y < std::min(y1, img.height); ++y)
    for (std::size_t x = x0; x < std::min(x1, img.width); ++x) n += test(img.at(x, y));
  return n;
}
std::size_t count(const Image& img, const std::function<bool(const std::uint8_t*)>& test) {
  return count(img, 0, 0, img.width, img.height, test);
}

// cairo and fontconfig keep their font caches until the process ends, which LeakSanitizer
// (scripts/sanitize.sh) would report: they are freed once the tests are done.
class FontCaches : public ::testing::Environment {
 public:
  void TearDown() override { release_font_caches(); }
};
const ::testing::Environment* const kFontCaches =
    ::testing::AddGlobalTestEnvironment(new FontCaches);

// The Error of call names the function and the value.
#define EXPECT_ERROR_NAMES(call, who, what)                                       \
  do {                                                                            \
    const std::string m = minicnn::testing::error_message([&] { (void)(call); }); \
    EXPECT_TRUE(minicnn::testing::contains(m, who)) << #call << ": " << m;        \
    EXPECT_TRUE(minicnn::testing::contains(m, what)) << #call << ": " << m;       \
  } while (0)

}  // namespace

TEST(LinePlot, DrawsAxesCurvesAndText) {
  const Image img =
      line_plot({{"train", {1.0, 0.5, 0.3, 0.2}, std::nullopt},
                 {"test", {0.9, 0.6, NAN, 0.25}, std::array<std::uint8_t, 3>{200, 0, 0}}},
                {.title = "loss", .y_label = "loss"});
  EXPECT_EQ(img.width, 640u);
  EXPECT_EQ(img.height, 400u);
  EXPECT_EQ(img.channels, 3u);
  EXPECT_GT(count(img, [](auto p) { return near(p, kBlue); }), 500u);  // curve, marks, swatch
  EXPECT_GT(count(img, [](auto p) { return near(p, {200, 0, 0}); }), 200u);
  EXPECT_GT(count(img, dark), 1000u);  // axes, ticks and text
}

TEST(LinePlot, CurvesRunWhereTheirValuesAre) {
  // Two flat lines on a fixed range: the higher value is drawn higher up, at heights in
  // the ratio of the values; a NaN leaves a gap in the line between its neighbours.
  const Image img = line_plot({{.values = {0.75, 0.75, 0.75, 0.75, 0.75}, .color = Rgb{0, 0, 255}},
                               {.values = {0.25, 0.25, NAN, 0.25, 0.25}, .color = Rgb{255, 0, 0}}},
                              {.x_label = "", .y_min = 0, .y_max = 1});
  auto rows_of = [&](Rgb c, std::size_t& first, std::size_t& last, std::size_t& x_lo,
                     std::size_t& x_hi) {
    first = img.height, last = 0, x_lo = img.width, x_hi = 0;
    for (std::size_t y = 0; y < img.height; ++y)
      for (std::size_t x = 0; x < img.width; ++x)
        if (near(img.at(x, y), c, 10))
          first = std::min(first, y), last = std::max(last, y), x_lo = std::min(x_lo, x),
          x_hi = std::max(x_hi, x);
  };
  std::size_t b0, b1, bx0, bx1, r0, r1, rx0, rx1;
  rows_of({0, 0, 255}, b0, b1, bx0, bx1);
  rows_of({255, 0, 0}, r0, r1, rx0, rx1);
  ASSERT_LT(b1, img.height);
  ASSERT_LT(r1, img.height);
  EXPECT_LT(b1 - b0, 12u);  // a flat line with its point marks
  EXPECT_LT(r1 - r0, 12u);
  EXPECT_LT(b1, r0);  // 0.75 above 0.25
  // Both span x = 1..5; the red line is broken around x = 3 (only its mark is missing too).
  EXPECT_NEAR(double(bx0), double(rx0), 2);
  EXPECT_NEAR(double(bx1), double(rx1), 2);
  const std::size_t x3 = (bx0 + bx1) / 2, quarter = (bx1 - bx0) / 4;
  EXPECT_GT(count(img, x3 - 2, b0, x3 + 3, b1 + 1,
                  [](auto p) {
                    return near(p, {0, 0, 255});
                  }),
            0u);
  EXPECT_EQ(count(img, x3 - quarter / 2, r0, x3 + quarter / 2, r1 + 1,
                  [](auto p) {
                    return near(p, {255, 0, 0}, 120);
                  }),
            0u);
  // The y axis: its range maps 0 to the bottom and 1 to the top, so the lines' heights
  // above the x axis are in the ratio 3 : 1.
  std::size_t axis = img.height;
  for (std::size_t y = img.height; y-- > 0;)
    if (dark(img.at(bx0 + 10, y))) {
      axis = y;
      break;
    }
  ASSERT_LT(axis, img.height);
  const double up_blue = double(axis) - double(b0 + b1) / 2,
               up_red = double(axis) - double(r0 + r1) / 2;
  EXPECT_NEAR(up_blue / up_red, 3.0, 0.1);
}

TEST(LinePlot, TitleAndAxisLabelsDrawText) {
  const std::vector<PlotSeries> s = {{.values = {3, 2, 1}}};
  const Image labelled =
      line_plot(s, {.title = "Training loss of a model", .x_label = "training epoch of the model"});
  const Image bare = line_plot(s, {.x_label = ""});
  // The title: dark pixels in the top band, over the middle of the picture; none there
  // without a title.
  EXPECT_GT(count(labelled, 220, 0, 420, 28, dark), 50u);
  EXPECT_EQ(count(bare, 220, 0, 420, 28, dark), 0u);
  // The x label, centred under the plot: dark pixels along the bottom edge left of the
  // middle tick label ("2"); none there without it.
  EXPECT_GT(count(labelled, 260, 370, 320, 400, dark), 20u);
  EXPECT_EQ(count(bare, 260, 370, 320, 400, dark), 0u);
}

TEST(LinePlot, LegendGoesWhereTheCurvesAreNot) {
  // A curve rising from bottom left to top right leaves the bottom right corner free
  // (the top right, the first choice, is where the curve ends).
  const Rgb border{160, 160, 160};
  auto border_pixel = [&](const std::uint8_t* p) { return near(p, border, 0); };
  const Image rising = line_plot({{.name = "accuracy", .values = {0, 1, 2, 3, 4, 5, 6, 7}}});
  EXPECT_EQ(count(rising, 320, 0, 640, 200, border_pixel), 0u);
  EXPECT_GT(count(rising, 320, 200, 640, 400, border_pixel), 100u);
  // A falling one leaves the top right corner free.
  const Image falling = line_plot({{.name = "loss", .values = {7, 6, 5, 4, 3, 2, 1, 0}}});
  EXPECT_GT(count(falling, 320, 0, 640, 200, border_pixel), 100u);
  EXPECT_EQ(count(falling, 0, 200, 640, 400, border_pixel), 0u);
  // Series without a name are not listed: no legend at all.
  const Image unnamed = line_plot({{.values = {0, 1, 2}}});
  EXPECT_EQ(count(unnamed, border_pixel), 0u);
}

TEST(LinePlot, EdgeCasesStillDraw) {
  // No data, a single point, a flat line, a huge size: still a picture, never a throw.
  EXPECT_NO_THROW(line_plot({}));
  EXPECT_NO_THROW(line_plot({{"one", {0.5}, std::nullopt}}));
  EXPECT_NO_THROW(line_plot({{"flat", {2, 2, 2}, std::nullopt}}));
  EXPECT_NO_THROW(line_plot({{"gaps", {NAN, 1, NAN, INFINITY, 2}, std::nullopt}}));
  const Image small = line_plot({{"one", {0.5}, std::nullopt}}, {.width = 160, .height = 120});
  EXPECT_EQ(small.width, 160u);
  EXPECT_EQ(small.height, 120u);
  // Values huge next to their spread used to loop for ever drawing ticks (v += step did
  // not move v); the plot must finish.
  EXPECT_EQ(line_plot({{.name = "loss", .values = {1e17, 1e17 + 16, 1e17}}}).width, 640u);
}

TEST(LinePlot, BadArgumentsNameTheValue) {
  EXPECT_ERROR_NAMES(line_plot({}, {.width = 10}), "line_plot", "10x400");
  EXPECT_ERROR_NAMES(line_plot({}, {.height = 100000}), "line_plot", "640x100000");
  EXPECT_ERROR_NAMES(line_plot({}, {.y_min = std::nan("")}), "line_plot", "y_min");
  EXPECT_ERROR_NAMES(line_plot({}, {.y_max = HUGE_VAL}), "line_plot", "y_max");
  EXPECT_ERROR_NAMES(line_plot({}, {.y_min = 2, .y_max = 1}), "line_plot", "below y_max");
  // Text that is not UTF-8 is cairo's error, reported as the function's.
  EXPECT_ERROR_NAMES(line_plot({}, {.title = "\xff\xfe"}), "line_plot", "cairo");
}

TEST(FilterGrid, TilesEachFilterOnItsOwnScale) {
  // Two 2x2 filters: one ramp, one constant.
  Tensor w = {{{{-1.0f, 0.0f}, {0.0f, 1.0f}}}, {{{5.0f, 5.0f}, {5.0f, 5.0f}}}};
  const Image img = filter_grid(w, {.scale = 3, .columns = 2, .gap = 1, .background = 9});
  EXPECT_EQ(img.width, 15u);  // gap + 2 × (tile 6 + gap)
  EXPECT_EQ(img.height, 8u);
  EXPECT_EQ(img.channels, 1u);
  EXPECT_EQ(*img.at(0, 0), 9);    // the gap
  EXPECT_EQ(*img.at(1, 1), 0);    // the first filter's min is black
  EXPECT_EQ(*img.at(3, 3), 0);    // a whole 3x3 block
  EXPECT_EQ(*img.at(4, 1), 128);  // its middle value mid-grey
  EXPECT_EQ(*img.at(6, 6), 255);  // its max white
  EXPECT_EQ(*img.at(7, 7), 9);    // the gap below
  EXPECT_EQ(*img.at(8, 1), 128);  // a constant filter is mid-grey
  // 20 filters of 5x5, as LeNet's first layer: a 5 x 4 grid by default.
  const Image lenet = filter_grid(zeros({20, 1, 5, 5}));
  EXPECT_EQ(lenet.width, 212u);  // 2 + 5 × (40 + 2)
  EXPECT_EQ(lenet.height, 170u);
  // With channels, a row per filter: (3, 2, 2, 2) is 3 rows of 2 tiles.
  const Image rows = filter_grid(zeros({3, 2, 2, 2}), {.scale = 1, .gap = 0});
  EXPECT_EQ(rows.width, 4u);
  EXPECT_EQ(rows.height, 6u);
}

TEST(FilterGrid, TitleGoesAboveTheTiles) {
  const Tensor w = zeros({4, 1, 3, 3});
  const Image plain = filter_grid(w, {.scale = 10});
  const Image titled = filter_grid(w, {.scale = 10, .title = "the first layer's filters"});
  EXPECT_GT(titled.height, plain.height + 10);
  EXPECT_GE(titled.width, plain.width);
  const std::size_t band = titled.height - plain.height;
  EXPECT_GT(count(titled, 0, 0, titled.width, band, dark), 30u);
  // The tiles below it are those of the untitled grid (mid-grey: constant filters).
  const std::size_t dx = (titled.width - plain.width) / 2;
  for (std::size_t y = 0; y < plain.height; y += 3)
    for (std::size_t x = 0; x < plain.width; x += 3)
      ASSERT_EQ(*titled.at(x + dx, y + band), *plain.at(x, y)) << x << ", " << y;
}

TEST(FilterGrid, BadArgumentsNameTheValue) {
  EXPECT_ERROR_NAMES(filter_grid(Tensor{1.0f, 2.0f}), "filter_grid", "(2,)");
  EXPECT_ERROR_NAMES(filter_grid(zeros({2, 1, 3, 3}), {.scale = 0}), "filter_grid", "scale");
  EXPECT_ERROR_NAMES(filter_grid(zeros({2, 1, 3, 3}), {.scale = 100000}), "filter_grid", "100000");
  EXPECT_ERROR_NAMES(filter_grid(zeros({2, 1, 3, 3}), {.gap = std::size_t(1) << 40}), "filter_grid",
                     "gap");
  // Too large a picture is refused before anything is drawn: 512 x 512 tiles of 24x24.
  EXPECT_ERROR_NAMES(filter_grid(zeros({512, 512, 3, 3})), "filter_grid", "512 x 512 tiles");
}
