#include "image.hpp"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>

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

// ---- drawing ---------------------------------------------------------------------------

using Rgb = std::array<std::uint8_t, 3>;

// A 3×5 pixel font of our own for tick labels, legends and titles: five rows of three
// cells per glyph, '#' lit. Lower case is drawn as upper case, anything else as '?'.
constexpr int kGlyphW = 3, kGlyphH = 5;
struct Glyph {
  char c;
  const char* rows[kGlyphH];
};
constexpr Glyph kFont[] = {
    {'0', {"###", "#.#", "#.#", "#.#", "###"}}, {'1', {".#.", "##.", ".#.", ".#.", "###"}},
    {'2', {"###", "..#", "###", "#..", "###"}}, {'3', {"###", "..#", ".##", "..#", "###"}},
    {'4', {"#.#", "#.#", "###", "..#", "..#"}}, {'5', {"###", "#..", "###", "..#", "###"}},
    {'6', {"###", "#..", "###", "#.#", "###"}}, {'7', {"###", "..#", "..#", ".#.", ".#."}},
    {'8', {"###", "#.#", "###", "#.#", "###"}}, {'9', {"###", "#.#", "###", "..#", "###"}},
    {'A', {".#.", "#.#", "###", "#.#", "#.#"}}, {'B', {"##.", "#.#", "##.", "#.#", "##."}},
    {'C', {".##", "#..", "#..", "#..", ".##"}}, {'D', {"##.", "#.#", "#.#", "#.#", "##."}},
    {'E', {"###", "#..", "##.", "#..", "###"}}, {'F', {"###", "#..", "##.", "#..", "#.."}},
    {'G', {".##", "#..", "#.#", "#.#", ".##"}}, {'H', {"#.#", "#.#", "###", "#.#", "#.#"}},
    {'I', {"###", ".#.", ".#.", ".#.", "###"}}, {'J', {"..#", "..#", "..#", "#.#", ".#."}},
    {'K', {"#.#", "#.#", "##.", "#.#", "#.#"}}, {'L', {"#..", "#..", "#..", "#..", "###"}},
    {'M', {"#.#", "###", "###", "#.#", "#.#"}}, {'N', {"##.", "#.#", "#.#", "#.#", "#.#"}},
    {'O', {".#.", "#.#", "#.#", "#.#", ".#."}}, {'P', {"##.", "#.#", "##.", "#..", "#.."}},
    {'Q', {".#.", "#.#", "#.#", "##.", ".##"}}, {'R', {"##.", "#.#", "##.", "#.#", "#.#"}},
    {'S', {".##", "#..", ".#.", "..#", "##."}}, {'T', {"###", ".#.", ".#.", ".#.", ".#."}},
    {'U', {"#.#", "#.#", "#.#", "#.#", "###"}}, {'V', {"#.#", "#.#", "#.#", "#.#", ".#."}},
    {'W', {"#.#", "#.#", "###", "###", "#.#"}}, {'X', {"#.#", "#.#", ".#.", "#.#", "#.#"}},
    {'Y', {"#.#", "#.#", ".#.", ".#.", ".#."}}, {'Z', {"###", "..#", ".#.", "#..", "###"}},
    {'.', {"...", "...", "...", "...", ".#."}}, {',', {"...", "...", "...", ".#.", "#.."}},
    {'-', {"...", "...", "###", "...", "..."}}, {'+', {"...", ".#.", "###", ".#.", "..."}},
    {'%', {"#.#", "..#", ".#.", "#..", "#.#"}}, {':', {"...", ".#.", "...", ".#.", "..."}},
    {'/', {"..#", "..#", ".#.", "#..", "#.."}}, {'(', {".#.", "#..", "#..", "#..", ".#."}},
    {')', {".#.", "..#", "..#", "..#", ".#."}}, {'=', {"...", "###", "...", "###", "..."}},
    {'_', {"...", "...", "...", "...", "###"}}, {' ', {"...", "...", "...", "...", "..."}},
};
constexpr Glyph kUnknownGlyph = {'?', {"###", "..#", ".#.", "...", ".#."}};

consteval bool font_well_formed() {
  for (const Glyph& g : kFont)
    for (const char* row : g.rows)
      if (std::string_view(row).size() != kGlyphW) return false;
  return true;
}
static_assert(font_well_formed(), "every glyph has 3 x 5 cells");

const Glyph& glyph(char c) {
  if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  for (const Glyph& g : kFont)
    if (g.c == c) return g;
  return kUnknownGlyph;
}

class Canvas {
 public:
  explicit Canvas(Image& img) : img_(img) {}

  void set(long x, long y, Rgb c) {
    if (x < 0 || y < 0 || x >= long(img_.width) || y >= long(img_.height)) return;
    std::uint8_t* p = img_.at(std::size_t(x), std::size_t(y));
    p[0] = c[0], p[1] = c[1], p[2] = c[2];
  }
  void rect(long x0, long y0, long x1, long y1, Rgb c) {  // inclusive
    for (long y = y0; y <= y1; ++y)
      for (long x = x0; x <= x1; ++x) set(x, y, c);
  }
  // Bresenham's line, each point stamped as a thick × thick square.
  void line(long x0, long y0, long x1, long y1, Rgb c, long thick = 1) {
    const long dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const long sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    const long lo = -(thick - 1) / 2, hi = thick / 2;
    long err = dx + dy;
    for (;;) {
      rect(x0 + lo, y0 + lo, x0 + hi, y0 + hi, c);
      if (x0 == x1 && y0 == y1) break;
      const long e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  static long text_width(std::string_view s, long scale) {
    return s.empty() ? 0 : long(s.size()) * (kGlyphW + 1) * scale - scale;
  }
  // Text with its top-left corner at (x, y).
  void text(long x, long y, std::string_view s, Rgb c, long scale) {
    for (char ch : s) {
      const Glyph& g = glyph(ch);
      for (int r = 0; r < kGlyphH; ++r)
        for (int q = 0; q < kGlyphW; ++q)
          if (g.rows[r][q] == '#')
            rect(x + q * scale, y + r * scale, x + (q + 1) * scale - 1, y + (r + 1) * scale - 1, c);
      x += (kGlyphW + 1) * scale;
    }
  }

 private:
  Image& img_;
};

// A step of 1, 2 or 5 × 10^k that cuts range into about `count` intervals.
double nice_step(double range, int count) {
  const double raw = range / count;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

// The multiples of step in [lo, hi], at most 64 of them: where step is below the
// resolution of doubles as large as lo (values 1e17 apart by 16), v += step never moves.
std::vector<double> ticks(double lo, double hi, double step) {
  std::vector<double> out;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9 && out.size() < 64; v += step)
    out.push_back(v);
  return out;
}

std::string tick_label(double v, double step) {
  const int decimals = std::max(0, int(-std::floor(std::log10(step) + 1e-9)));
  char s[32];
  std::snprintf(s, sizeof s, "%.*f", decimals, std::abs(v) < step * 1e-6 ? 0.0 : v);
  return s;
}

constexpr Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},
                            {214, 39, 40},  {148, 103, 189}, {140, 86, 75}};

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

// ---- pictures --------------------------------------------------------------------------

Image line_plot(const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  check_arg(opt.width >= 160 && opt.height >= 120 && opt.width <= 8192 && opt.height <= 8192,
            "line_plot", "the size", "between 160x120 and 8192x8192",
            size_str(opt.width, opt.height));
  check_arg(!opt.y_min || std::isfinite(*opt.y_min), "line_plot", "y_min", "finite",
            opt.y_min ? std::to_string(*opt.y_min) : "");
  check_arg(!opt.y_max || std::isfinite(*opt.y_max), "line_plot", "y_max", "finite",
            opt.y_max ? std::to_string(*opt.y_max) : "");
  const Rgb black{0, 0, 0}, grid{225, 225, 225}, white{255, 255, 255};
  const long scale = 2;                 // font pixels per glyph cell
  const long line_h = kGlyphH * scale;  // one text line's height
  Image img(opt.width, opt.height, 3, 255);
  Canvas cv(img);

  // The data's extent: x = 1..n, y over every finite value (or as given).
  std::size_t n = 0;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const PlotSeries& s : series) {
    n = std::max(n, s.values.size());
    for (double v : s.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (!(lo <= hi)) lo = 0, hi = 1;  // nothing to plot: an empty frame
  if (opt.y_min) lo = *opt.y_min;
  if (opt.y_max) hi = *opt.y_max;
  if (!(lo < hi)) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad, hi += pad;
  } else if (!opt.y_min || !opt.y_max) {
    const double pad = (hi - lo) * 0.05;
    if (!opt.y_min) lo -= pad;
    if (!opt.y_max) hi += pad;
  }
  const double x_lo = n > 1 ? 1.0 : 0.5, x_hi = n > 1 ? double(n) : 1.5;
  const double y_step = nice_step(hi - lo, 5);

  // The plot area: room on the left for tick labels, at the bottom for the x axis.
  std::size_t label_chars = 1;
  for (double v : ticks(lo, hi, y_step))
    label_chars = std::max(label_chars, tick_label(v, y_step).size());
  const long left = Canvas::text_width(std::string(label_chars, '0'), scale) + 16;
  const long right = long(opt.width) - 16;
  const long top = opt.title.empty() ? 16 : 16 + line_h + 10;
  const long bottom = long(opt.height) - 2 * line_h - 22;
  auto px = [&](double x) {
    return left + std::lround((x - x_lo) / (x_hi - x_lo) * double(right - left));
  };
  auto py = [&](double y) {
    return bottom - std::lround((y - lo) / (hi - lo) * double(bottom - top));
  };

  // Grid, ticks and labels.
  for (double v : ticks(lo, hi, y_step)) {
    const long y = py(v);
    cv.line(left, y, right, y, grid);
    cv.line(left - 4, y, left, y, black);
    const std::string s = tick_label(v, y_step);
    cv.text(left - 8 - Canvas::text_width(s, scale), y - line_h / 2, s, black, scale);
  }
  const double x_step = std::max(1.0, nice_step(x_hi - x_lo, 8));
  for (double v = std::ceil(x_lo / x_step) * x_step; v <= x_hi + 1e-9; v += x_step) {
    const long x = px(v);
    cv.line(x, top, x, bottom, grid);
    cv.line(x, bottom, x, bottom + 4, black);
    const std::string s = tick_label(v, 1.0);
    cv.text(x - Canvas::text_width(s, scale) / 2, bottom + 8, s, black, scale);
  }
  cv.line(left, top, left, bottom, black);
  cv.line(left, bottom, right, bottom, black);
  cv.text((left + right - Canvas::text_width(opt.x_label, scale)) / 2, bottom + 14 + line_h,
          opt.x_label, black, scale);
  if (!opt.title.empty())
    cv.text((long(opt.width) - Canvas::text_width(opt.title, scale)) / 2, 10, opt.title, black,
            scale);

  // The curves, each point marked, a NaN breaking the line.
  std::vector<Rgb> colors;
  for (std::size_t k = 0; k < series.size(); ++k) {
    const PlotSeries& s = series[k];
    const Rgb c = s.color.value_or(kPalette[k % std::size(kPalette)]);
    colors.push_back(c);
    bool have_prev = false;
    long x_prev = 0, y_prev = 0;
    for (std::size_t i = 0; i < s.values.size(); ++i) {
      const double v = s.values[i];
      if (!std::isfinite(v)) {
        have_prev = false;
        continue;
      }
      const long x = px(double(i + 1));
      const long y = py(std::clamp(v, lo, hi));
      if (have_prev) cv.line(x_prev, y_prev, x, y, c, 2);
      if (s.values.size() <= 60) cv.rect(x - 2, y - 2, x + 2, y + 2, c);
      have_prev = true, x_prev = x, y_prev = y;
    }
  }

  // The legend, boxed, in the corner of the plot area that the curves cross least.
  long legend_w = 0, entries = 0;
  for (const PlotSeries& s : series)
    if (!s.name.empty())
      legend_w = std::max(legend_w, Canvas::text_width(s.name, scale)), ++entries;
  if (entries == 0) return img;
  const long box_w = legend_w + 36, box_h = entries * (line_h + 6) + 8;
  auto covered = [&](long x0, long y0) {
    std::size_t n = 0;
    for (long y = std::max(y0, 0L); y < std::min(y0 + box_h, long(opt.height)); ++y)
      for (long x = std::max(x0, 0L); x < std::min(x0 + box_w, long(opt.width)); ++x) {
        const std::uint8_t* p = img.at(std::size_t(x), std::size_t(y));
        n += !(p[0] == p[1] && p[1] == p[2]);  // coloured: a curve
      }
    return n;
  };
  const long corners[4][2] = {{right - box_w - 6, top + 6},
                              {right - box_w - 6, bottom - box_h - 6},
                              {left + 6, top + 6},
                              {left + 6, bottom - box_h - 6}};
  long bx = corners[0][0], by = corners[0][1];
  std::size_t best = covered(bx, by);
  for (const auto& c : corners)
    if (const std::size_t n = covered(c[0], c[1]); n < best) best = n, bx = c[0], by = c[1];
  const Rgb border{160, 160, 160};
  cv.rect(bx, by, bx + box_w - 1, by + box_h - 1, border);
  cv.rect(bx + 1, by + 1, bx + box_w - 2, by + box_h - 2, white);
  long y = by + 6;
  for (std::size_t k = 0; k < series.size(); ++k) {
    if (series[k].name.empty()) continue;
    cv.rect(bx + 6, y + line_h / 2 - 1, bx + 22, y + line_h / 2 + 1, colors[k]);
    cv.text(bx + 28, y, series[k].name, black, scale);
    y += line_h + 6;
  }
  return img;
}

Image filter_grid(const Tensor& w, const FilterGridOptions& opt) {
  if (w.dimension() != 3 && w.dimension() != 4)
    throw Error("filter_grid: expected weights (K, C, KH, KW) or (K, KH, KW), got shape " +
                to_string(shape_of(w)));
  check_arg(opt.scale > 0, "filter_grid", "scale", "> 0", std::to_string(opt.scale));
  const std::size_t r = w.dimension();
  const std::size_t K = w.shape()[0], C = r == 4 ? w.shape()[1] : 1;
  const std::size_t KH = w.shape()[r - 2], KW = w.shape()[r - 1];
  if (K * C * KH * KW == 0) throw Error("filter_grid: empty weights " + to_string(shape_of(w)));
  const std::size_t planes = K * C;
  std::size_t cols = opt.columns;
  if (cols == 0) cols = C > 1 ? C : std::size_t(std::ceil(std::sqrt(double(K))));
  cols = std::min(cols, planes);
  const std::size_t rows = (planes + cols - 1) / cols;
  const std::size_t tw = KW * opt.scale, th = KH * opt.scale;
  Image img(opt.gap + cols * (tw + opt.gap), opt.gap + rows * (th + opt.gap), 1, opt.background);

  const float* p = w.data();
  for (std::size_t t = 0; t < planes; ++t) {
    const float* plane = p + t * KH * KW;
    const auto [mn, mx] = std::minmax_element(plane, plane + KH * KW);
    const float range = *mx - *mn;
    const std::size_t x0 = opt.gap + (t % cols) * (tw + opt.gap);
    const std::size_t y0 = opt.gap + (t / cols) * (th + opt.gap);
    for (std::size_t i = 0; i < KH; ++i)
      for (std::size_t j = 0; j < KW; ++j) {
        const float v = plane[i * KW + j];
        const float g = range > 0 && std::isfinite(range) ? (v - *mn) / range * 255.0f : 128.0f;
        const auto byte = std::uint8_t(std::lround(std::clamp(g, 0.0f, 255.0f)));
        for (std::size_t dy = 0; dy < opt.scale; ++dy)
          std::memset(img.at(x0 + j * opt.scale, y0 + i * opt.scale + dy), byte, opt.scale);
      }
  }
  return img;
}

}  // namespace minicnn
