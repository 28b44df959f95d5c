#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <minicnn/io/image.hpp>
#include <string>
#include <vector>

using namespace minicnn;
namespace fs = std::filesystem;

namespace {

class ImageIo : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("minicnn_test_image_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::size_t files() const {
    return std::size_t(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  fs::path dir_;
};

Image gradient(std::size_t w, std::size_t h) {
  Image img(w, h, 1);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) *img.at(x, y) = std::uint8_t((x * 37 + y * 11) % 256);
  return img;
}

template <class F>
void expect_error(F f, const std::string& file, const std::string& fault) {
  try {
    f();
    ADD_FAILURE() << "no Error for " << file;
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(file), std::string::npos) << m;
    EXPECT_NE(m.find(fault), std::string::npos) << m;
  }
}

}  // namespace

TEST_F(ImageIo, PngRoundTripGreyAndRgb) {
  const Image g = gradient(13, 7);
  write_png(path("g.png"), g);
  EXPECT_EQ(read("g.png").substr(1, 3), "PNG");
  const Image back = read_image(path("g.png"));
  EXPECT_EQ(back.width, 13u);
  EXPECT_EQ(back.height, 7u);
  EXPECT_EQ(back.channels, 1u);
  EXPECT_EQ(back.pixels, g.pixels);
  // RGB comes back as grey: pure grey stays, colours get stb_image's luma weights.
  Image rgb(3, 1, 3);
  const std::uint8_t px[9] = {200, 200, 200, 255, 0, 0, 0, 255, 0};
  std::copy(px, px + 9, rgb.pixels.begin());
  write_png(path("rgb.png"), rgb);
  const Image grey = read_image(path("rgb.png"));
  ASSERT_EQ(grey.pixels.size(), 3u);
  EXPECT_EQ(grey.pixels[0], 200);
  EXPECT_NEAR(grey.pixels[1], 255 * 0.299, 2);
  EXPECT_NEAR(grey.pixels[2], 255 * 0.587, 2);
  EXPECT_EQ(files(), 2u);  // no temporaries left behind
}

TEST_F(ImageIo, PgmBinaryAsciiAndSixteenBit) {
  const Image g = gradient(9, 4);
  write_pgm(path("g.pgm"), g);
  EXPECT_EQ(read("g.pgm").substr(0, 11), "P5\n9 4\n255\n");
  EXPECT_EQ(read_image(path("g.pgm")).pixels, g.pixels);
  // ASCII, with comments and a maxval of 15 scaled to 8 bits.
  write("a.pgm", "P2\n# a comment\n3 2 # width height\n15\n0 15 5\n 10\n1 # late\n 14\n");
  const Image a = read_image(path("a.pgm"));
  EXPECT_EQ(a.width, 3u);
  EXPECT_EQ(a.height, 2u);
  EXPECT_EQ(a.pixels, (std::vector<std::uint8_t>{0, 255, 85, 170, 17, 238}));
  // 16 bits, big-endian.
  write("w.pgm", std::string("P5 2 1 65535\n\xff\xff\x80\x00", 17));
  EXPECT_EQ(read_image(path("w.pgm")).pixels, (std::vector<std::uint8_t>{255, 128}));
}

TEST_F(ImageIo, BadFilesNameTheFileAndTheFault) {
  expect_error([&] { read_image(path("missing.png")); }, path("missing.png"), "cannot open");
  write("empty.png", "");
  expect_error([&] { read_image(path("empty.png")); }, path("empty.png"), "empty file");
  write("junk.png", "this is not an image at all");
  expect_error([&] { read_image(path("junk.png")); }, path("junk.png"), "not a PNG or PGM");
  write_png(path("g.png"), gradient(16, 16));
  write("cut.png", read("g.png").substr(0, 40));
  expect_error([&] { read_image(path("cut.png")); }, path("cut.png"), "stb_image");
  write("maxval.pgm", "P5 2 2 0\n\0\0\0\0");
  expect_error([&] { read_image(path("maxval.pgm")); }, path("maxval.pgm"), "maxval 0");
  write("short.pgm", "P5 4 4 255\nabc");
  expect_error([&] { read_image(path("short.pgm")); }, path("short.pgm"), "truncated PGM");
  write("huge.pgm", "P5 100000 100000 255\nabc");
  expect_error([&] { read_image(path("huge.pgm")); }, path("huge.pgm"), "truncated PGM");
  write("few.pgm", "P2 2 2 255\n1 2 3");
  expect_error([&] { read_image(path("few.pgm")); }, path("few.pgm"), "holds 3");
  write("over.pgm", "P2 2 1 10\n3 11");
  expect_error([&] { read_image(path("over.pgm")); }, path("over.pgm"), "sample 11 at pixel 1");
  write("nodims.pgm", "P2 x");
  expect_error([&] { read_image(path("nodims.pgm")); }, path("nodims.pgm"), "expected the width");
  // Writing into a folder that does not exist, or an inconsistent image.
  expect_error([&] { write_png(path("no/such/dir.png"), gradient(2, 2)); }, "no/such/dir.png",
               "cannot create");
  Image broken = gradient(4, 4);
  broken.pixels.resize(3);
  expect_error([&] { write_png(path("b.png"), broken); }, path("b.png"), "holds 3 bytes");
  expect_error([&] { write_pgm(path("c.pgm"), Image(2, 2, 3)); }, path("c.pgm"), "1 channel");
}

TEST(Image, ResizeBilinear) {
  // Constant stays constant, whatever the scale.
  const Image flat(40, 30, 1, 77);
  const Image small = resize_bilinear(flat, 28, 28);
  EXPECT_EQ(small.width, 28u);
  EXPECT_EQ(small.height, 28u);
  EXPECT_TRUE(
      std::all_of(small.pixels.begin(), small.pixels.end(), [](auto v) { return v == 77; }));
  // Same size: unchanged.
  Image g(5, 3, 1);
  for (std::size_t i = 0; i < g.pixels.size(); ++i) g.pixels[i] = std::uint8_t(i * 17);
  EXPECT_EQ(resize_bilinear(g, 5, 3).pixels, g.pixels);
  // 2 → 4 between pixel centres: 0, 255 becomes 0, 64, 191, 255.
  Image two(2, 1, 1);
  two.pixels = {0, 255};
  EXPECT_EQ(resize_bilinear(two, 4, 1).pixels, (std::vector<std::uint8_t>{0, 64, 191, 255}));
  // 4 → 2 averages neighbour pairs; channels are kept.
  Image rgb(4, 1, 3);
  rgb.pixels = {0, 10, 20, 100, 110, 120, 200, 210, 220, 40, 50, 60};
  EXPECT_EQ(resize_bilinear(rgb, 2, 1).pixels,
            (std::vector<std::uint8_t>{50, 60, 70, 120, 130, 140}));
  EXPECT_THROW(resize_bilinear(Image{}, 28, 28), Error);
  EXPECT_THROW(resize_bilinear(flat, 0, 28), Error);
}
