#include <gtest/gtest.h>

#include <filesystem>
#include <minicnn/minicnn.hpp>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes resized(const Bytes& in, std::size_t C, std::size_t H, std::size_t W, std::size_t OH,
              std::size_t OW) {
  Bytes out(C * OH * OW);
  resize_area(in.data(), C, H, W, out.data(), OH, OW);
  return out;
}

Image grey(std::size_t w, std::size_t h, const Bytes& px) {
  Image im(w, h, 1);
  im.pixels = px;
  return im;
}

}  // namespace

TEST(ResizeArea, AveragesTheAreaEachOutputPixelCovers) {
  // 4×4 to 2×2: the mean of each 2×2 block (rounded to nearest).
  const Bytes in = {0,  10, 100, 100,  //
                    20, 30, 100, 101,  //
                    0,  0,  255, 255,  //
                    0,  1,  255, 255};
  EXPECT_EQ(resized(in, 1, 4, 4, 2, 2), (Bytes{15, 100, 0, 255}));
  // 3 to 2 columns: output 0 covers input [0, 1.5), weights 2/3 and 1/3.
  EXPECT_EQ(resized({30, 60, 90}, 1, 1, 3, 1, 2), (Bytes{40, 80}));
  // 2×2 to 4×4: each pixel becomes a 2×2 block; the same size is the identity.
  EXPECT_EQ(resized({1, 2, 3, 4}, 1, 2, 2, 4, 4),
            (Bytes{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  EXPECT_EQ(resized(in, 1, 4, 4, 4, 4), in);
  // Channels are resized apart.
  EXPECT_EQ(resized({10, 20, 200, 220}, 2, 1, 2, 1, 1), (Bytes{15, 210}));
  expect_error_naming([&] { resized(in, 1, 4, 4, 0, 2); }, {"resize_area", "4x4 to 0x2"});
}

class ImageFolderTest : public TempDirTest {
 protected:
  fs::path make_class(const std::string& name) {
    const fs::path p = dir_.path() / name;
    fs::create_directories(p);
    return p;
  }
};

TEST_F(ImageFolderTest, TrainsOnAFolderWrittenFromFashionMnist) {
  const std::string dir = std::string(MINICNN_SOURCE_DIR) + "/data/fashion-mnist";
  if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz") &&
      !fs::exists(dir + "/t10k-images-idx3-ubyte"))
    GTEST_SKIP() << "Fashion-MNIST is missing in " << dir << " (scripts/fetch-data.sh)";
  const Dataset test = load_fashion_mnist(dir).test.subset(0, 300);
  // Class folders named so that name order differs from label order: "c9_ankle" ... ;
  // even images as PNG, odd ones as PGM, and a stray text file that must be skipped.
  const std::vector<std::string> names = {"t0_top",  "s1_trouser", "r2_pullover", "q3_dress",
                                          "p4_coat", "o5_sandal",  "n6_shirt",    "m7_sneaker",
                                          "l8_bag",  "k9_boot"};
  for (const auto& n : names) make_class(n);
  write_bytes(file("t0_top/notes.txt"), "not an image");
  for (std::size_t i = 0; i < test.size(); ++i) {
    const Image im = grey(28, 28, Bytes(test.image(i), test.image(i) + 784));
    const fs::path base = dir_.path() / names[test.label(i)] / ("img" + std::to_string(1000 + i));
    if (i % 2 == 0)
      write_png(base.string() + ".png", im);
    else
      write_pgm(base.string() + ".pgm", im);
  }

  const ImageFolder f = load_image_folder(dir_.string(), {.height = 28, .width = 28});
  ASSERT_EQ(f.classes.size(), 10u);
  EXPECT_EQ(f.classes.front(), "k9_boot");  // sorted by name
  EXPECT_EQ(f.classes.back(), "t0_top");
  ASSERT_EQ(f.data.size(), 300u);
  EXPECT_EQ(f.data.shape(), (Shape{300, 1, 28, 28}));
  EXPECT_EQ(f.files.size(), 300u);
  // Every image comes back with its bytes, under the class of its folder; within a
  // class the files are in name order, that is in the test set's order.
  std::size_t prev = 0;
  for (std::size_t i = 0; i < f.data.size(); ++i) {
    const std::string stem = fs::path(f.files[i]).stem().string();
    const std::size_t k = std::stoul(stem.substr(3)) - 1000;
    EXPECT_EQ(f.classes[f.data.label(i)], names[test.label(k)]) << f.files[i];
    EXPECT_TRUE(std::equal(f.data.image(i), f.data.image(i) + 784, test.image(k))) << f.files[i];
    if (i > 0 && f.data.label(i) == f.data.label(i - 1)) {
      EXPECT_GT(k, prev);
    }
    prev = k;
  }

  // A few steps of training on it, with augmentation and prefetch.
  manual_seed(2);
  Sequential net;
  net.add<Conv2D>(1, 8, 3, Conv2DOptions{.stride = 2});
  net.add<ReLU>();
  net.add<Flatten>();
  net.add<Dense>(8 * 13 * 13, 10);
  SGD opt(net.parameters(), {.lr = 0.02f, .momentum = 0.9f});
  auto augment = std::make_shared<Compose>();
  augment->add<RandomCrop>(2);
  const auto h = fit(net, opt, f.data, Dataset(),
                     {.epochs = 3,
                      .batch_size = 25,
                      .norm = Normalization::fashion_mnist(),
                      .augment = augment,
                      .prefetch = 2,
                      .progress = false});
  ASSERT_EQ(h.size(), 3u);
  EXPECT_LT(h[2].train_loss, h[0].train_loss);
  EXPECT_GT(h[2].train_acc, 0.3);  // ten classes: chance is 0.1
}

TEST_F(ImageFolderTest, ReadsColourAndResizes) {
  // A 4×2 RGB image, red on the left half, blue on the right.
  Image rgb(4, 2, 3);
  for (std::size_t y = 0; y < 2; ++y)
    for (std::size_t x = 0; x < 4; ++x) {
      std::uint8_t* p = rgb.at(x, y);
      p[0] = x < 2 ? 200 : 0;
      p[1] = 40;
      p[2] = x < 2 ? 0 : 100;
    }
  write_png(make_class("b").string() + "/x.PNG", rgb);
  write_png(make_class("a").string() + "/y.png", grey(4, 2, Bytes(8, 90)));

  const ImageFolder c = load_image_folder(dir_.string(), {.height = 1, .width = 2, .grey = false});
  EXPECT_EQ(c.classes, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(c.data.shape(), (Shape{2, 3, 1, 2}));
  EXPECT_EQ(c.data.label(1), 1u);
  // Planes R, G, B of the 1×2 image: each half averaged.
  EXPECT_TRUE(
      std::equal(c.data.image(1), c.data.image(1) + 6, Bytes{200, 0, 40, 40, 0, 100}.begin()));
  // A grey image read as RGB has three equal planes.
  EXPECT_TRUE(std::equal(c.data.image(0), c.data.image(0) + 6, Bytes(6, 90).begin()));

  const ImageFolder g = load_image_folder(dir_.string(), {.height = 2, .width = 4});
  ASSERT_EQ(g.data.shape(), (Shape{2, 1, 2, 4}));
  // stb_image's luma of (200, 40, 0) and (0, 40, 100): (77 r + 150 g + 29 b) >> 8.
  EXPECT_EQ(g.data.image(1)[0], std::uint8_t((77 * 200 + 150 * 40) >> 8));
  EXPECT_EQ(g.data.image(1)[3], std::uint8_t((150 * 40 + 29 * 100) >> 8));
}

TEST_F(ImageFolderTest, NamesEveryBadFileOrFolder) {
  expect_error_naming([&] { load_image_folder(file("missing")); },
                      {file("missing"), "not a folder"});
  expect_error_naming([&] { load_image_folder(dir_.string()); }, {"no class folders"});
  make_class("cats");
  expect_error_naming([&] { load_image_folder(dir_.string()); }, {"cats", "holds no .png"});
  write_png(file("cats/good.png"), grey(3, 3, Bytes(9, 1)));
  write_bytes(file("cats/broken.png"), "\x89PNG but not really");
  expect_error_naming([&] { load_image_folder(dir_.string()); },
                      {"load_image_folder", file("cats/broken.png")});
  fs::remove(file("cats/broken.png"));
  write_bytes(file("cats/empty.jpg"), "");
  expect_error_naming([&] { load_image_folder(dir_.string()); }, {file("cats/empty.jpg")});
  fs::remove(file("cats/empty.jpg"));
  EXPECT_EQ(load_image_folder(dir_.string()).data.size(), 1u);
  expect_error_naming([&] { load_image_folder(dir_.string(), {.height = 0}); },
                      {"load_image_folder", "image size"});
}
