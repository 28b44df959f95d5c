// mnist_digit_png: writes MNIST test image i as a user would draw it, for the predict
// smoke test: dark ink on white paper, upscaled to 3× (84×84), as a PNG. Prints its label.
//
//   mnist_digit_png <mnist dir> <index> <out.png>
#include <cstdio>
#include <exception>
#include <minicnn/minicnn.hpp>
#include <string>

int main(int argc, char** argv) try {
  using namespace minicnn;
  if (argc != 4) {
    std::fprintf(stderr, "usage: mnist_digit_png <mnist dir> <index> <out.png>\n");
    return 2;
  }
  const Dataset test = load_mnist(argv[1]).test;
  const std::size_t i = std::stoul(argv[2]);
  Image digit(test.width(), test.height());
  const std::uint8_t* src = test.image(i);
  for (std::size_t p = 0; p < digit.pixels.size(); ++p)
    digit.pixels[p] = std::uint8_t(255 - src[p]);
  write_png(argv[3], resize_bilinear(digit, 3 * digit.width, 3 * digit.height));
  std::printf("%zu\n", test.label(i));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "mnist_digit_png: %s\n", e.what());
  return 1;
}
