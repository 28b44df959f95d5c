// Images in and out: PNG and PGM files, bilinear resizing, and the two pictures the
// MNIST examples draw — training curves and a grid of learned filters.
//
//   Image digit = resize_bilinear(read_image("seven.png"), 28, 28);   // grey, 28x28
//   write_png("curves.png", line_plot({{"train loss", losses}, {"test loss", test_losses}}));
//   write_png("filters.png", filter_grid(conv.weight()));             // (20,1,5,5) → tiles
//
// PNG goes through stb_image / stb_image_write (Debian's libstb); PGM is parsed here.
// Every file is written through a temporary name and a rename, and every bad file
// throws Error naming the file and the fault.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../core/tensor.hpp"

namespace minicnn {

// 8-bit pixels, row-major, channels interleaved: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
struct Image {
  std::size_t width = 0, height = 0, channels = 1;
  std::vector<std::uint8_t> pixels;  // height × width × channels

  Image() = default;
  // A width × height image with every byte set to fill; throws Error on a size of 0 or
  // channels outside [1, 4].
  Image(std::size_t width, std::size_t height, std::size_t channels = 1, std::uint8_t fill = 0);
  std::uint8_t* at(std::size_t x, std::size_t y) { return &pixels[(y * width + x) * channels]; }
  const std::uint8_t* at(std::size_t x, std::size_t y) const {
    return &pixels[(y * width + x) * channels];
  }
};

// Writes pixels (height × width × channels bytes, channels in [1, 4]) as a PNG.
void write_png(const std::string& path, const std::uint8_t* pixels, std::size_t width,
               std::size_t height, std::size_t channels);
void write_png(const std::string& path, const Image& image);
// Writes a grey image (channels == 1) as a binary PGM (P5).
void write_pgm(const std::string& path, const Image& image);

// Reads a PNG (or any other format stb_image knows: JPEG, BMP, GIF, TGA, PPM) or a PGM
// (P2 ASCII or P5 binary, maxval up to 65535) as a grey image, 8 bits, channels == 1.
// Colour is turned to grey by stb_image's luma weights; 16-bit PGM samples are scaled.
Image read_image(const std::string& path);

// Resamples to width × height by bilinear interpolation between pixel centres (the
// convention of OpenCV's INTER_LINEAR). Downscaling by much more than 2 skips pixels;
// it is meant for bringing a digit drawing to 28×28, not for photographs.
Image resize_bilinear(const Image& image, std::size_t width, std::size_t height);

// ---- pictures ------------------------------------------------------------------------

struct PlotSeries {
  std::string name = {};                                  // in the legend
  std::vector<double> values = {};                        // y at x = 1, 2, ... (epochs); NaN: a gap
  std::optional<std::array<std::uint8_t, 3>> color = {};  // unset: the palette's next colour
};

struct PlotOptions {
  std::size_t width = 640, height = 400;
  std::string title = {};
  std::string x_label = "epoch";
  std::optional<double> y_min = {}, y_max = {};  // unset: fitted to the values
};

// Line curves over x = 1..n with axes, tick labels, grid lines and a legend, as RGB.
Image line_plot(const std::vector<PlotSeries>& series, const PlotOptions& opt = {});

struct FilterGridOptions {
  std::size_t scale = 8;    // each weight becomes a scale × scale block
  std::size_t columns = 0;  // tiles per row; 0: C when C > 1, else about √K
  std::size_t gap = 2;      // pixels between tiles
  std::uint8_t background = 255;
};

// The planes of conv weights (K, C, KH, KW) — or (K, KH, KW) — as grey tiles, plane
// k·C + c at row-major position k·C + c; each tile scaled to its own min (black) and
// max (white), a constant plane mid-grey.
Image filter_grid(const Tensor& w, const FilterGridOptions& opt = {});

}  // namespace minicnn
