#include "image.hpp"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>

#include "file.hpp"

namespace minicnn {

namespace {

[[noreturn]] void fail(const char* who, const std::string& path, const std::string& fault) {
  throw Error(std::string(who) + ": " + path + ": " + fault);
}

std::string size_str(std::size_t w, std::size_t h) {
  return std::to_string(w) + "x" + std::to_string(h);
}

// ---- PGM -------------------------------------------------------------------------------

// A cursor over a PGM file's bytes: whitespace and # comments between tokens.
class PgmReader {
 public:
  PgmReader(const std::vector<std::uint8_t>& bytes, const std::string& path)
      : b_(bytes), path_(path) {}

  [[noreturn]] void fail(const std::string& fault) const {
    ::minicnn::fail("read_image", path_, fault);
  }

  void skip_space_and_comments() {
    while (pos_ < b_.size()) {
      if (b_[pos_] == '#') {
        while (pos_ < b_.size() && b_[pos_] != '\n' && b_[pos_] != '\r') ++pos_;
      } else if (std::isspace(b_[pos_])) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  // A decimal number; what names it in a message.
  std::size_t number(const char* what) {
    skip_space_and_comments();
    if (pos_ >= b_.size())
      fail(std::string("truncated PGM: the file ends where the ") + what + " should be");
    if (!std::isdigit(b_[pos_]))
      fail(std::string("bad PGM: expected the ") + what + ", found '" + char(b_[pos_]) + "'");
    std::size_t v = 0;
    while (pos_ < b_.size() && std::isdigit(b_[pos_])) {
      v = v * 10 + std::size_t(b_[pos_++] - '0');
      if (v > (std::size_t(1) << 31)) fail(std::string("bad PGM: the ") + what + " is too large");
    }
    return v;
  }

  std::size_t pos() const { return pos_; }
  void advance(std::size_t n) { pos_ += n; }
  bool at_end() const { return pos_ >= b_.size(); }
  std::uint8_t peek() const { return b_[pos_]; }

 private:
  const std::vector<std::uint8_t>& b_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

Image parse_pgm(const std::vector<std::uint8_t>& bytes, const std::string& path) {
  PgmReader in(bytes, path);
  const bool binary = bytes[1] == '5';
  in.advance(2);
  const std::size_t w = in.number("width");
  const std::size_t h = in.number("height");
  const std::size_t maxval = in.number("maxval");
  if (w == 0 || h == 0) in.fail("bad PGM: image size " + size_str(w, h));
  if (maxval == 0 || maxval > 65535)
    in.fail("bad PGM: maxval " + std::to_string(maxval) + " is not in [1, 65535]");
  const std::size_t n = w * h;  // each < 2^31, so no overflow on 64 bits
  const std::size_t sample_bytes = maxval < 256 ? 1 : 2;
  // Each sample takes at least one byte in either form: check before allocating.
  if (n > bytes.size())
    in.fail("truncated PGM: " + size_str(w, h) + " = " + std::to_string(n) +
            " samples, more than the file's " + std::to_string(bytes.size()) + " bytes");

  Image img(w, h, 1);
  auto store = [&](std::size_t i, std::size_t v) {
    if (v > maxval)
      in.fail("bad PGM: sample " + std::to_string(v) + " at pixel " + std::to_string(i) +
              " exceeds maxval " + std::to_string(maxval));
    img.pixels[i] = std::uint8_t((v * 255 + maxval / 2) / maxval);
  };
  if (binary) {
    // Exactly one whitespace byte separates the header from the raster.
    if (in.at_end() || !std::isspace(in.peek()))
      in.fail("bad PGM: expected one whitespace byte after maxval");
    in.advance(1);
    const std::size_t have = bytes.size() - in.pos();
    if (have < n * sample_bytes)
      in.fail("truncated PGM: " + size_str(w, h) + " needs " + std::to_string(n * sample_bytes) +
              " bytes of pixels, the file holds " + std::to_string(have));
    const std::uint8_t* p = bytes.data() + in.pos();
    for (std::size_t i = 0; i < n; ++i)
      store(i, sample_bytes == 1 ? p[i] : std::size_t(p[2 * i]) << 8 | p[2 * i + 1]);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      in.skip_space_and_comments();
      if (in.at_end())
        in.fail("truncated PGM: " + size_str(w, h) + " needs " + std::to_string(n) +
                " samples, the file holds " + std::to_string(i));
      store(i, in.number("sample"));
    }
  }
  return img;
}

}  // namespace

// ---- Image, files ----------------------------------------------------------------------

Image::Image(std::size_t w, std::size_t h, std::size_t c, std::uint8_t fill)
    : width(w), height(h), channels(c) {
  check_arg(w > 0 && h > 0, "Image", "the size", "at least 1x1", size_str(w, h));
  check_arg(c >= 1 && c <= 4, "Image", "channels", "in [1, 4]", std::to_string(c));
  pixels.assign(w * h * c, fill);
}

void write_png(const std::string& path, const std::uint8_t* pixels, std::size_t width,
               std::size_t height, std::size_t channels) {
  if (width == 0 || height == 0 || width > INT_MAX / 4 || height > INT_MAX / 4)
    fail("write_png", path, "bad image size " + size_str(width, height));
  if (channels < 1 || channels > 4)
    fail("write_png", path, "channels must be in [1, 4], got " + std::to_string(channels));
  if (pixels == nullptr) fail("write_png", path, "no pixels");
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), std::size_t(size));
  };
  if (!stbi_write_png_to_func(append, &png, int(width), int(height), int(channels), pixels,
                              int(width * channels)))
    fail("write_png", path, "stb_image_write could not encode the image");
  write_file_atomic(path, png, "write_png");
}

void write_png(const std::string& path, const Image& image) {
  if (image.pixels.size() != image.width * image.height * image.channels || image.pixels.empty())
    fail("write_png", path,
         "the image holds " + std::to_string(image.pixels.size()) + " bytes, not " +
             size_str(image.width, image.height) + "x" + std::to_string(image.channels));
  write_png(path, image.pixels.data(), image.width, image.height, image.channels);
}

void write_pgm(const std::string& path, const Image& image) {
  if (image.channels != 1)
    fail("write_pgm", path,
         "a PGM is grey: expected 1 channel, got " + std::to_string(image.channels));
  if (image.width == 0 || image.height == 0 || image.pixels.size() != image.width * image.height)
    fail("write_pgm", path,
         "the image holds " + std::to_string(image.pixels.size()) + " bytes, not " +
             size_str(image.width, image.height));
  std::string out =
      "P5\n" + std::to_string(image.width) + " " + std::to_string(image.height) + "\n255\n";
  out.append(reinterpret_cast<const char*>(image.pixels.data()), image.pixels.size());
  write_file_atomic(path, out, "write_pgm");
}

Image read_image(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file(path, "read_image");
  if (bytes.empty()) fail("read_image", path, "empty file");
  if (bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '2' || bytes[1] == '5'))
    return parse_pgm(bytes, path);
  if (bytes.size() > std::size_t(INT_MAX)) fail("read_image", path, "file too large");
  int w = 0, h = 0, channels_in_file = 0;
  stbi_uc* px =
      stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &channels_in_file, 1);
  if (!px) {
    const char* why = stbi_failure_reason();
    fail("read_image", path,
         std::string("not a PNG or PGM image, or a damaged one (stb_image: ") +
             (why ? why : "unknown") + ")");
  }
  Image img;
  img.width = std::size_t(w);
  img.height = std::size_t(h);
  img.channels = 1;
  img.pixels.assign(px, px + std::size_t(w) * std::size_t(h));
  stbi_image_free(px);
  return img;
}

Image resize_bilinear(const Image& src, std::size_t width, std::size_t height) {
  check_arg(
      src.width > 0 && src.height > 0 && src.pixels.size() == src.width * src.height * src.channels,
      "resize_bilinear", "the source image", "non-empty and consistent",
      size_str(src.width, src.height) + "x" + std::to_string(src.channels) + " with " +
          std::to_string(src.pixels.size()) + " bytes");
  Image dst(width, height, src.channels);
  const std::size_t C = src.channels;
  // Destination pixel centre x + 0.5 maps to source coordinate (x + 0.5)·sw/dw − 0.5.
  auto taps = [](std::size_t i, std::size_t dst_n, std::size_t src_n, std::size_t& i0,
                 std::size_t& i1, float& t) {
    float s = (float(i) + 0.5f) * float(src_n) / float(dst_n) - 0.5f;
    s = std::clamp(s, 0.0f, float(src_n - 1));
    i0 = std::size_t(s);
    i1 = std::min(i0 + 1, src_n - 1);
    t = s - float(i0);
  };
  for (std::size_t y = 0; y < height; ++y) {
    std::size_t y0, y1;
    float ty;
    taps(y, height, src.height, y0, y1, ty);
    for (std::size_t x = 0; x < width; ++x) {
      std::size_t x0, x1;
      float tx;
      taps(x, width, src.width, x0, x1, tx);
      for (std::size_t c = 0; c < C; ++c) {
        const float top = src.at(x0, y0)[c] * (1 - tx) + src.at(x1, y0)[c] * tx;
        const float bottom = src.at(x0, y1)[c] * (1 - tx) + src.at(x1, y1)[c] * tx;
        dst.at(x, y)[c] =
            std::uint8_t(std::lround(std::clamp(top * (1 - ty) + bottom * ty, 0.0f, 255.0f)));
      }
    }
  }
  return dst;
}

}  // namespace minicnn
