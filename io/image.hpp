// Images in and out: PNG and PGM files, and bilinear resizing.
//
//   Image digit = resize_bilinear(read_image("seven.png"), 28, 28);   // grey, 28x28
//   write_png("digit.png", digit);
//
// PNG goes through stb_image / stb_image_write (Debian's libstb); PGM is parsed here.
// Every file is written through a temporary name and a rename, and every bad file
// throws Error naming the file and the fault. Pictures (training curves, filter grids)
// are drawn by the optional part viz/ (viz/plot.hpp, target minicnn::viz), which returns
// them as an Image for write_png.
#pragma once

#include <cstddef>
#include <cstdint>
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

}  // namespace minicnn
