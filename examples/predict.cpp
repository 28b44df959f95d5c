// predict: classify a picture of a handwritten digit with a LeNet checkpoint saved by
// examples/mnist_lenet.
//
//   predict seven.png                                   out/lenet/lenet.safetensors
//   predict seven.pgm --checkpoint /tmp/lenet/lenet.safetensors --save-input seen.png
//
// The picture (PNG, PGM, or anything stb_image reads) is brought to what the network
// saw in training, an MNIST digit:
//   1. grey-scale, 8 bits;
//   2. inverted when its background is light (MNIST digits are white on black): the
//      background is taken to be the mean of the border pixels;
//   3. framed as MNIST's digits were: cropped to the ink, scaled (aspect kept) so that
//      its longer side is 20 pixels, and put on a 28×28 black square with its centre of
//      mass in the middle. --plain skips this and only resizes the whole picture to
//      28×28 (right for a picture that is already MNIST-like);
//   4. normalised with MNIST's mean and standard deviation, as in training.
// Then it prints the ten class probabilities (softmax of the logits) and the answer.
#include <minicnn/minicnn.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "lenet.hpp"

namespace {

using namespace minicnn;

constexpr std::size_t kSide = 28;           // MNIST's image size
constexpr std::size_t kBox = 20;            // MNIST's digits fit a 20×20 box inside it
constexpr std::uint8_t kInk = 64;           // a pixel brighter than this is ink
constexpr double kLightBackground = 127.5;  // border mean above this: dark ink on light paper
constexpr int kBarWidth = 40;

std::string default_checkpoint() {
  const std::string local = "out/lenet/lenet.safetensors";
  if (std::filesystem::exists(local)) return local;
  return std::string(MINICNN_SOURCE_DIR) + "/" + local;
}

double border_mean(const Image& img) {
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t y = 0; y < img.height; ++y)
    for (std::size_t x = 0; x < img.width; ++x)
      if (y == 0 || x == 0 || y + 1 == img.height || x + 1 == img.width) {
        sum += *img.at(x, y);
        ++n;
      }
  return sum / double(n);
}

// Bilinear resizing averages only the two nearest pixels per axis, so shrinking by much
// more than 2 skips pixels: halve first (each halving a 2×2 average) until within 2×.
Image shrink(Image img, std::size_t w, std::size_t h) {
  while (img.width >= 2 * w && img.height >= 2 * h && img.width >= 2 && img.height >= 2)
    img = resize_bilinear(img, img.width / 2, img.height / 2);
  return resize_bilinear(img, w, h);
}

// Crops img (white ink on black) to its ink, scales the crop so that its longer side is
// kBox, and pastes it on a black kSide × kSide square with its centre of mass in the middle.
Image frame_like_mnist(const Image& img) {
  std::size_t x0 = img.width, y0 = img.height, x1 = 0, y1 = 0;
  for (std::size_t y = 0; y < img.height; ++y)
    for (std::size_t x = 0; x < img.width; ++x)
      if (*img.at(x, y) > kInk) {
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
  if (x0 > x1) throw Error("predict: no ink found (no pixel stands out from the background)");
  const std::size_t cw = x1 - x0 + 1, ch = y1 - y0 + 1;
  Image crop(cw, ch);
  for (std::size_t y = 0; y < ch; ++y)
    for (std::size_t x = 0; x < cw; ++x) *crop.at(x, y) = *img.at(x0 + x, y0 + y);

  const double scale = double(kBox) / double(std::max(cw, ch));
  const std::size_t w = std::max<std::size_t>(1, std::lround(double(cw) * scale));
  const std::size_t h = std::max<std::size_t>(1, std::lround(double(ch) * scale));
  const Image digit = shrink(crop, w, h);

  double mass = 0, mx = 0, my = 0;
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) {
      const double v = *digit.at(x, y);
      mass += v;
      mx += v * (double(x) + 0.5);
      my += v * (double(y) + 0.5);
    }
  const auto place = [&](double centre, std::size_t size) {
    const double at = std::round(double(kSide) / 2 - centre);
    return std::size_t(std::clamp(at, 0.0, double(kSide - size)));
  };
  const std::size_t left = place(mass > 0 ? mx / mass : w / 2.0, w);
  const std::size_t top = place(mass > 0 ? my / mass : h / 2.0, h);
  Image out(kSide, kSide);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) *out.at(left + x, top + y) = *digit.at(x, y);
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string image_path, checkpoint = default_checkpoint(), save_input;
  bool plain = false;
  CLI::App app{"Classify a handwritten digit with a trained LeNet"};
  app.add_option("image", image_path, "the picture: PNG, PGM, JPEG, ...")->required();
  app.add_option("--checkpoint", checkpoint, "LeNet weights saved by mnist_lenet");
  app.add_flag("--plain", plain, "only resize to 28x28, without MNIST's cropping and centring");
  app.add_option("--save-input", save_input, "write the 28x28 image the network sees as a PNG");
  CLI11_PARSE(app, argc, argv);

  Sequential net = lenet::make_model();
  load_safetensors(net, checkpoint);

  Image img = read_image(image_path);  // grey, 8 bits
  const bool inverted = border_mean(img) > kLightBackground;
  if (inverted)
    for (std::uint8_t& p : img.pixels) p = std::uint8_t(255 - p);
  const Image seen = plain ? shrink(img, kSide, kSide) : frame_like_mnist(img);
  if (!save_input.empty()) write_png(save_input, seen);

  Tensor x = Tensor::from_shape({1, 1, kSide, kSide});
  bytes_to_floats(seen.pixels.data(), kSide * kSide, lenet::normalization(), x.data());
  net.set_training(false);
  Softmax softmax;
  softmax.set_training(false);
  const Tensor p = softmax.forward(net.forward(x));  // (1, 10)

  std::printf("%s: %zux%zu%s%s\n", image_path.c_str(), img.width, img.height,
              inverted ? ", light background (inverted)" : "",
              plain ? ", resized" : ", cropped and centred like MNIST");
  std::size_t answer = 0;
  for (std::size_t k = 0; k < 10; ++k) {
    if (p(0, k) > p(0, answer)) answer = k;
    const int bar = int(std::lround(p(0, k) * kBarWidth));
    std::printf("  %zu  %6.2f%%  %s\n", k, 100.0 * p(0, k),
                std::string(std::size_t(bar), '#').c_str());
  }
  std::printf("answer: %zu (%.2f%%)\n", answer, 100.0 * p(0, answer));
  return 0;
} catch (const std::exception& e) {
  std::cerr << "predict: " << e.what() << '\n';
  return 1;
}
