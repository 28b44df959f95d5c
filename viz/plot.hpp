// minicnn::viz — the pictures the examples draw, rendered by cairo: training curves and
// a grid of learned filters. An optional part of its own (target minicnn::viz, CMake
// option MINICNN_BUILD_VIZ): the core library draws nothing and does not link cairo.
//
//   #include <minicnn/viz/plot.hpp>
//
//   write_png("loss.png", line_plot({{.name = "train", .values = train_loss},
//                                    {.name = "test", .values = test_loss}},
//                                   {.title = "LeNet: loss", .y_label = "loss"}));
//   write_png("filters.png", filter_grid(conv.weight(), {.scale = 12}));  // (20,1,5,5)
//
// Both return an Image (io/image.hpp) and write nothing: write_png then puts the file in
// place through a temporary name and a rename. Text is cairo's "sans-serif" face. A bad
// argument throws Error naming the function and the value; every size is checked before
// anything is allocated.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../core/tensor.hpp"
#include "../io/image.hpp"

namespace minicnn {

struct PlotSeries {
  std::string name = {};                                  // in the legend; empty: not listed
  std::vector<double> values = {};                        // y at x = 1, 2, ... (epochs); NaN: a gap
  std::optional<std::array<std::uint8_t, 3>> color = {};  // unset: the palette's next colour
};

struct PlotOptions {
  std::size_t width = 640, height = 400;         // pixels, from 160x120 to 8192x8192
  std::string title = {};                        // above the plot; empty: none
  std::string x_label = "epoch";                 // under the x axis; empty: none
  std::string y_label = {};                      // beside the y axis, turned; empty: none
  std::optional<double> y_min = {}, y_max = {};  // unset: fitted to the values; y_min < y_max
};

// Curves over x = 1..n as RGB: axes with tick labels, grid lines, the axis labels, the
// title, a point marked at each value (up to 60 values a curve) and a boxed legend in the
// corner of the plot the curves cross least. Values outside [y_min, y_max] are drawn at
// the border; no data, one point or a flat line still give a picture.
Image line_plot(const std::vector<PlotSeries>& series, const PlotOptions& opt = {});

struct FilterGridOptions {
  std::size_t scale = 8;          // each weight becomes a scale × scale block, 1 to 256
  std::size_t columns = 0;        // tiles per row; 0: C when C > 1, else about √K
  std::size_t gap = 2;            // pixels between tiles and around them, up to 256
  std::uint8_t background = 255;  // grey of the gaps
  std::string title = {};         // a line of text above the tiles; empty: none
};

// The planes of conv weights (K, C, KH, KW) — or (K, KH, KW) — as grey tiles, plane
// k·C + c at row-major position k·C + c; each tile scaled to its own min (black) and
// max (white), a constant plane mid-grey. The picture is at most 8192x8192 pixels.
Image filter_grid(const Tensor& w, const FilterGridOptions& opt = {});

// For leak checkers (LeakSanitizer, scripts/sanitize.sh): frees the font caches that cairo
// and fontconfig otherwise keep until the process ends. Call it once at the end of a
// program in which nothing else uses cairo or fontconfig; draw nothing after it.
void release_font_caches();

}  // namespace minicnn
