#include "plot.hpp"

#include <cairo.h>
#include <fontconfig/fontconfig.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <numbers>

namespace minicnn {

namespace {

using Rgb = std::array<std::uint8_t, 3>;

constexpr std::size_t kMaxSide = 8192;  // either side of any picture, in pixels
constexpr const char* kFontFace = "sans-serif";
constexpr Rgb kBlack{0, 0, 0}, kWhite{255, 255, 255}, kGrid{225, 225, 225}, kBorder{160, 160, 160};
// The curves' colours when a series names none (the first six of matplotlib's "tab10").
constexpr Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},
                            {214, 39, 40},  {148, 103, 189}, {140, 86, 75}};
constexpr std::size_t kMaxMarkedValues = 60;  // longer curves are drawn without point marks

std::string size_str(std::size_t w, std::size_t h) {
  return std::to_string(w) + "x" + std::to_string(h);
}

// ---- cairo ---------------------------------------------------------------------------

void check_cairo(const char* who, cairo_status_t status) {
  if (status != CAIRO_STATUS_SUCCESS)
    throw Error(std::string(who) + ": cairo failed: " + cairo_status_to_string(status));
}

// An RGB image surface and its drawing context, owned together. cairo records its first
// error in the context and ignores what follows; to_image turns it into an Error.
class Canvas {
 public:
  Canvas(const char* who, std::size_t width, std::size_t height, Rgb background)
      : who_(who),
        surface_(cairo_image_surface_create(CAIRO_FORMAT_RGB24, int(width), int(height)),
                 cairo_surface_destroy),
        cr_(cairo_create(surface_.get()), cairo_destroy) {
    check_cairo(who_, cairo_surface_status(surface_.get()));
    set_color(background);
    cairo_paint(cr_.get());
  }

  cairo_t* cr() const { return cr_.get(); }
  void set_color(Rgb c) const {
    cairo_set_source_rgb(cr(), c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
  }

  // The pixels as RGB (channels 3) or grey (channels 1, by the luma weights; exact for
  // grey pixels).
  Image to_image(std::size_t channels) const {
    check_cairo(who_, cairo_status(cr()));
    cairo_surface_flush(surface_.get());
    const unsigned char* data = cairo_image_surface_get_data(surface_.get());
    const std::size_t stride = std::size_t(cairo_image_surface_get_stride(surface_.get()));
    Image img(std::size_t(cairo_image_surface_get_width(surface_.get())),
              std::size_t(cairo_image_surface_get_height(surface_.get())), channels);
    for (std::size_t y = 0; y < img.height; ++y)
      for (std::size_t x = 0; x < img.width; ++x) {
        std::uint32_t px;  // RGB24: 0x00RRGGBB in the machine's byte order
        std::memcpy(&px, data + y * stride + 4 * x, 4);
        const std::uint32_t r = px >> 16 & 0xff, g = px >> 8 & 0xff, b = px & 0xff;
        std::uint8_t* out = img.at(x, y);
        if (channels == 1) {
          out[0] = std::uint8_t((r * 299 + g * 587 + b * 114 + 500) / 1000);
        } else {
          out[0] = std::uint8_t(r), out[1] = std::uint8_t(g), out[2] = std::uint8_t(b);
        }
      }
    return img;
  }

 private:
  const char* who_;
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface_;
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> cr_;
};

struct Font {
  double size;  // pixels
  bool bold = false;
};

void use_font(cairo_t* cr, Font f) {
  cairo_select_font_face(cr, kFontFace, CAIRO_FONT_SLANT_NORMAL,
                         f.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, f.size);
}

double text_width(cairo_t* cr, Font f, const std::string& s) {
  use_font(cr, f);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

// The height of a line of text: the font's ascent and descent, whatever the letters.
double line_height(cairo_t* cr, Font f) {
  use_font(cr, f);
  cairo_font_extents_t e;
  cairo_font_extents(cr, &e);
  return e.ascent + e.descent;
}

enum class Align { Left, Centre, Right };

// Black text whose line box has its top at y and its left edge, centre or right edge at x.
void draw_text(const Canvas& cv, Font f, const std::string& s, double x, double y, Align align) {
  if (s.empty()) return;
  cairo_t* cr = cv.cr();
  const double w = text_width(cr, f, s);
  cairo_font_extents_t e;
  cairo_font_extents(cr, &e);
  cv.set_color(kBlack);
  const double x0 = align == Align::Left ? x : align == Align::Centre ? x - w / 2 : x - w;
  cairo_move_to(cr, x0, y + e.ascent);
  cairo_show_text(cr, s.c_str());
}

// A line one pixel wide between pixel centres: sharp, not smeared over two rows.
void hairline(const Canvas& cv, double x0, double y0, double x1, double y1, Rgb color) {
  cairo_t* cr = cv.cr();
  cv.set_color(color);
  cairo_set_line_width(cr, 1.0);
  cairo_move_to(cr, std::round(x0) + 0.5, std::round(y0) + 0.5);
  cairo_line_to(cr, std::round(x1) + 0.5, std::round(y1) + 0.5);
  cairo_stroke(cr);
}

// ---- axes ----------------------------------------------------------------------------

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

// ---- curves and legend ---------------------------------------------------------------

struct Box {
  double x, y, w, h;
  bool contains(double px, double py) const {
    return px >= x && px <= x + w && py >= y && py <= y + h;
  }
};

// A series as drawn: its points in pixels, kGap where a value is missing.
constexpr double kGap = std::numeric_limits<double>::quiet_NaN();
struct Curve {
  std::string name;
  Rgb color;
  bool marked;  // each point marked by a dot
  std::vector<std::pair<double, double>> points;
};

// The line through the points, broken at each gap, and the point marks. A point alone
// between gaps becomes a round dot of the line's width.
void draw_curve(const Canvas& cv, const Curve& c, double line_w, double mark_r) {
  cairo_t* cr = cv.cr();
  cv.set_color(c.color);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  bool have_prev = false;
  for (const auto& [x, y] : c.points) {
    if (std::isnan(x)) {
      have_prev = false;
      continue;
    }
    if (!have_prev) cairo_move_to(cr, x, y);
    cairo_line_to(cr, x, y);
    have_prev = true;
  }
  cairo_set_line_width(cr, line_w);
  cairo_stroke(cr);
  if (!c.marked) return;
  for (const auto& [x, y] : c.points) {
    if (std::isnan(x)) continue;
    cairo_new_sub_path(cr);
    cairo_arc(cr, x, y, mark_r, 0, 2 * std::numbers::pi);
  }
  cairo_fill(cr);
}

// How much of the curves runs through a box: points a pixel apart along each segment.
std::size_t crossings(const std::vector<Curve>& curves, const Box& b) {
  std::size_t n = 0;
  for (const Curve& c : curves)
    for (std::size_t i = 0; i < c.points.size(); ++i) {
      const auto [x1, y1] = c.points[i];
      if (std::isnan(x1)) continue;
      const bool joined = i > 0 && !std::isnan(c.points[i - 1].first);
      const auto [x0, y0] = joined ? c.points[i - 1] : c.points[i];
      const int steps = 1 + int(std::min(4096.0, std::hypot(x1 - x0, y1 - y0)));
      for (int t = 0; t <= steps; ++t)
        n += b.contains(x0 + (x1 - x0) * t / steps, y0 + (y1 - y0) * t / steps);
    }
  return n;
}

// The named curves, boxed, in the corner of the plot area the curves cross least (the
// first of top right, bottom right, top left, bottom left on a tie). u: the type scale.
void draw_legend(const Canvas& cv, const std::vector<Curve>& curves, const Box& area, double u,
                 double line_w, double mark_r) {
  cairo_t* cr = cv.cr();
  const Font font{11.5 * u};
  const double text_h = line_height(cr, font), entry_h = text_h + 4 * u;
  const double swatch_w = 18 * u, m = 8 * u;  // a short piece of the curve; the margin
  double names_w = 0;
  std::size_t entries = 0;
  for (const Curve& c : curves)
    if (!c.name.empty()) names_w = std::max(names_w, text_width(cr, font, c.name)), ++entries;
  if (entries == 0) return;
  const double w = std::round(swatch_w + names_w + 28 * u);
  const double h = std::round(double(entries) * entry_h + 8 * u);
  const double right = area.x + area.w - m - w, bottom = area.y + area.h - m - h;
  const Box corners[] = {{right, area.y + m, w, h},
                         {right, bottom, w, h},
                         {area.x + m, area.y + m, w, h},
                         {area.x + m, bottom, w, h}};
  Box box = corners[0];
  std::size_t least = std::numeric_limits<std::size_t>::max();
  for (const Box& b : corners) {
    // A curve just outside the box still runs into its border.
    const Box near{b.x - line_w, b.y - line_w, b.w + 2 * line_w, b.h + 2 * line_w};
    if (const std::size_t n = crossings(curves, near); n < least) least = n, box = b;
  }

  const double x0 = std::round(box.x), y0 = std::round(box.y);
  cairo_rectangle(cr, x0 + 0.5, y0 + 0.5, w, h);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
  cairo_fill_preserve(cr);
  cv.set_color(kBorder);
  cairo_set_line_width(cr, 1.0);
  cairo_stroke(cr);
  double y = y0 + 4 * u;
  for (const Curve& c : curves) {
    if (c.name.empty()) continue;
    const double x = x0 + 8 * u, mid = y + entry_h / 2;
    draw_curve(cv, {"", c.color, c.marked, {{x, mid}, {x + swatch_w, mid}}}, line_w, mark_r);
    draw_text(cv, font, c.name, x + swatch_w + 8 * u, mid - text_h / 2, Align::Left);
    y += entry_h;
  }
}

}  // namespace

// ---- line_plot -----------------------------------------------------------------------

Image line_plot(const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  check_arg(
      opt.width >= 160 && opt.height >= 120 && opt.width <= kMaxSide && opt.height <= kMaxSide,
      "line_plot", "the size", "between 160x120 and 8192x8192", size_str(opt.width, opt.height));
  check_arg(!opt.y_min || std::isfinite(*opt.y_min), "line_plot", "y_min", "finite",
            opt.y_min ? std::to_string(*opt.y_min) : "");
  check_arg(!opt.y_max || std::isfinite(*opt.y_max), "line_plot", "y_max", "finite",
            opt.y_max ? std::to_string(*opt.y_max) : "");
  if (opt.y_min && opt.y_max)
    check_arg(*opt.y_min < *opt.y_max, "line_plot", "y_min",
              "below y_max (" + std::to_string(*opt.y_max) + ")", std::to_string(*opt.y_min));

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
  const double y_step = nice_step(hi - lo, 6);
  const double x_step = std::max(1.0, nice_step(x_hi - x_lo, 8));
  const std::vector<double> y_ticks = ticks(lo, hi, y_step), x_ticks = ticks(x_lo, x_hi, x_step);

  Canvas cv("line_plot", opt.width, opt.height, kWhite);
  cairo_t* cr = cv.cr();
  // Type and spacing grow with the picture, from a 640x400 plot's sizes.
  const double u = std::clamp(std::min(opt.width / 640.0, opt.height / 400.0), 0.75, 3.0);
  const Font tick_font{11 * u}, label_font{12.5 * u}, title_font{14 * u, true};
  const double pad = 10 * u, tick_len = 4 * u, gap = 3 * u;
  const double tick_h = line_height(cr, tick_font), label_h = line_height(cr, label_font);

  // The plot area: room on the left for the y label and tick labels, below for the x
  // axis, on the right for half the last x tick label.
  double y_labels_w = 0;
  for (double v : y_ticks)
    y_labels_w = std::max(y_labels_w, text_width(cr, tick_font, tick_label(v, y_step)));
  const double last_x_label_w =
      x_ticks.empty() ? 0 : text_width(cr, tick_font, tick_label(x_ticks.back(), 1.0));
  const double left =
      std::round(pad + (opt.y_label.empty() ? 0 : label_h + gap) + y_labels_w + gap + tick_len);
  const double right =
      std::round(double(opt.width) - std::max(pad, last_x_label_w / 2 + gap - 6 * u));
  const double top =
      std::round(opt.title.empty() ? pad + tick_h / 2 : pad + line_height(cr, title_font) + pad);
  const double bottom =
      std::round(double(opt.height) - pad - (opt.x_label.empty() ? 0 : label_h + gap) - tick_h -
                 gap - tick_len);
  const double inset = 6 * u;  // keeps the first and last points off the frame
  auto px = [&](double x) {
    return left + inset + (x - x_lo) / (x_hi - x_lo) * (right - left - 2 * inset);
  };
  auto py = [&](double y) { return bottom - (y - lo) / (hi - lo) * (bottom - top); };

  // Grid, ticks, tick labels, axes, axis labels, title.
  for (double v : y_ticks) {
    const double y = std::round(py(v));
    hairline(cv, left, y, right, y, kGrid);
    hairline(cv, left - tick_len, y, left, y, kBlack);
    draw_text(cv, tick_font, tick_label(v, y_step), left - tick_len - gap, y + 0.5 - tick_h / 2,
              Align::Right);
  }
  for (double v : x_ticks) {
    const double x = std::round(px(v));
    hairline(cv, x, top, x, bottom, kGrid);
    hairline(cv, x, bottom, x, bottom + tick_len, kBlack);
    draw_text(cv, tick_font, tick_label(v, 1.0), x + 0.5, bottom + tick_len + gap, Align::Centre);
  }
  hairline(cv, left, top, left, bottom, kBlack);
  hairline(cv, left, bottom, right, bottom, kBlack);
  draw_text(cv, label_font, opt.x_label, (left + right) / 2, bottom + tick_len + gap + tick_h + gap,
            Align::Centre);
  if (!opt.y_label.empty()) {
    cairo_save(cr);  // turned a quarter to the left: reads upwards, centred on the axis
    cairo_translate(cr, pad, (top + bottom) / 2);
    cairo_rotate(cr, -std::numbers::pi / 2);
    draw_text(cv, label_font, opt.y_label, 0, 0, Align::Centre);
    cairo_restore(cr);
  }
  if (!opt.title.empty()) {
    const double w = text_width(cr, title_font, opt.title);
    const double x = w <= double(opt.width) - 2 * pad ? (double(opt.width) - w) / 2 : pad;
    draw_text(cv, title_font, opt.title, x, pad, Align::Left);
  }

  // The curves, each value's point clamped into the plot, and the legend.
  std::vector<Curve> curves;
  for (std::size_t k = 0; k < series.size(); ++k) {
    const PlotSeries& s = series[k];
    Curve& c =
        curves.emplace_back(Curve{.name = s.name,
                                  .color = s.color.value_or(kPalette[k % std::size(kPalette)]),
                                  .marked = s.values.size() <= kMaxMarkedValues,
                                  .points = {}});
    for (std::size_t i = 0; i < s.values.size(); ++i) {
      const double v = s.values[i];
      if (std::isfinite(v))
        c.points.emplace_back(px(double(i + 1)), py(std::clamp(v, lo, hi)));
      else
        c.points.emplace_back(kGap, kGap);
    }
  }
  const double line_w = 2 * u, mark_r = 2.5 * u;
  for (const Curve& c : curves) draw_curve(cv, c, line_w, mark_r);
  draw_legend(cv, curves, {left, top, right - left, bottom - top}, u, line_w, mark_r);
  return cv.to_image(3);
}

// ---- filter_grid ---------------------------------------------------------------------

Image filter_grid(const Tensor& w, const FilterGridOptions& opt) {
  if (w.dimension() != 3 && w.dimension() != 4)
    throw Error("filter_grid: expected weights (K, C, KH, KW) or (K, KH, KW), got shape " +
                to_string(shape_of(w)));
  check_arg(opt.scale >= 1 && opt.scale <= 256, "filter_grid", "scale", "in [1, 256]",
            std::to_string(opt.scale));
  check_arg(opt.gap <= 256, "filter_grid", "gap", "at most 256", std::to_string(opt.gap));
  const std::size_t r = w.dimension();
  const std::size_t K = w.shape()[0], C = r == 4 ? w.shape()[1] : 1;
  const std::size_t KH = w.shape()[r - 2], KW = w.shape()[r - 1];
  if (K * C * KH * KW == 0) throw Error("filter_grid: empty weights " + to_string(shape_of(w)));
  const std::size_t planes = K * C;
  std::size_t cols = opt.columns;
  if (cols == 0) cols = C > 1 ? C : std::size_t(std::ceil(std::sqrt(double(K))));
  cols = std::min(cols, planes);
  const std::size_t rows = (planes + cols - 1) / cols;

  // The title's band: the text's line and room around it. Measured on a scratch surface,
  // since the picture's size depends on it.
  const Font title_font{13};
  const double text_pad = 6;
  double band_h = 0, title_w = 0;
  if (!opt.title.empty()) {
    const Canvas scratch("filter_grid", 1, 1, kWhite);
    band_h = std::ceil(line_height(scratch.cr(), title_font) + 2 * text_pad);
    title_w = std::ceil(text_width(scratch.cr(), title_font, opt.title) + 2 * text_pad);
  }
  // The size in doubles, which cannot overflow, checked before anything is allocated.
  const double tile_w = double(KW * opt.scale), tile_h = double(KH * opt.scale);
  const double grid_w = double(opt.gap) + double(cols) * (tile_w + double(opt.gap));
  const double grid_h = double(opt.gap) + double(rows) * (tile_h + double(opt.gap));
  const double width = std::max(grid_w, title_w), height = band_h + grid_h;
  char got[128];
  std::snprintf(got, sizeof got, "%.0fx%.0f (%zu x %zu tiles of %.0fx%.0f)", width, height, rows,
                cols, tile_w, tile_h);
  check_arg(width <= double(kMaxSide) && height <= double(kMaxSide), "filter_grid", "the picture",
            "at most 8192x8192 pixels", got);

  const Rgb background{opt.background, opt.background, opt.background};
  Canvas cv("filter_grid", std::size_t(width), std::size_t(height), background);
  cairo_t* cr = cv.cr();
  draw_text(cv, title_font, opt.title, width / 2, text_pad, Align::Centre);

  // Each plane becomes a KW × KH grey surface, painted scale times larger with the
  // nearest-neighbour filter: sharp blocks, each exactly the plane's grey.
  const std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> tile(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, int(KW), int(KH)), cairo_surface_destroy);
  check_cairo("filter_grid", cairo_surface_status(tile.get()));
  const std::size_t stride = std::size_t(cairo_image_surface_get_stride(tile.get()));
  const double x_origin = std::floor((width - grid_w) / 2);
  const float* p = w.data();
  for (std::size_t t = 0; t < planes; ++t) {
    const float* plane = p + t * KH * KW;
    const auto [mn, mx] = std::minmax_element(plane, plane + KH * KW);
    const float range = *mx - *mn;
    cairo_surface_flush(tile.get());
    unsigned char* data = cairo_image_surface_get_data(tile.get());
    for (std::size_t i = 0; i < KH; ++i)
      for (std::size_t j = 0; j < KW; ++j) {
        float g =
            range > 0 && std::isfinite(range) ? (plane[i * KW + j] - *mn) / range * 255.0f : 128.0f;
        if (!std::isfinite(g)) g = 128.0f;
        const auto byte = std::uint32_t(std::lround(std::clamp(g, 0.0f, 255.0f)));
        const std::uint32_t px = byte << 16 | byte << 8 | byte;
        std::memcpy(data + i * stride + 4 * j, &px, 4);
      }
    cairo_surface_mark_dirty(tile.get());
    const double x0 = x_origin + double(opt.gap + (t % cols) * (KW * opt.scale + opt.gap));
    const double y0 = band_h + double(opt.gap + (t / cols) * (KH * opt.scale + opt.gap));
    cairo_save(cr);
    cairo_translate(cr, x0, y0);
    cairo_scale(cr, double(opt.scale), double(opt.scale));
    cairo_set_source_surface(cr, tile.get(), 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, double(KW), double(KH));
    cairo_fill(cr);
    cairo_restore(cr);
  }
  return cv.to_image(1);
}

void release_font_caches() {
  cairo_debug_reset_static_data();
  FcFini();
}

}  // namespace minicnn
