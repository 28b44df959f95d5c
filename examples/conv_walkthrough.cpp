// conv_walkthrough: the companion program of docs/walkthrough.md.
//
// Runs the three convolution algorithms of layers/conv/ (the direct loops, im2col +
// GEMM, FFT) on the same single-plane images, prints how far apart their outputs are
// and how long each takes, and shows the two classic FFT mistakes on real numbers:
// circular convolution without zero padding, and a kernel flipped after padding (the
// recipe of the seed article "How can Python NumPy convolution code be optimized?"),
// whose output lands one pixel off. It ends with the
// tables of where FFT overtakes im2col, as kernel and image grow and as channels grow,
// and a check that the three algorithms agree on the backward passes too. Last comes
// Winograd: F(2, 3) by hand, F(2x2, 3x3) on the worked example, its error against the
// tile size, and where it beats im2col and FFT on 3x3 layers.
//
//   conv_walkthrough                        everything, 10 to 20 s on 2 cores
//   conv_walkthrough --quick                the worked examples only, no timing tables
//   conv_walkthrough --out dir --image photo.png --threads 1
//
// Writes PNG files into the output folder (default out/walkthrough): the inputs, the
// outputs of each algorithm, the error maps of the two mistakes, and the crossover plots.
// Exits with status 1 if two algorithms disagree by more than kRelTolerance.
//
// The blocks between "// [walkthrough:NAME]" and "// [end]" are quoted verbatim in
// docs/walkthrough.md; tests/test_walkthrough_docs.cpp fails when the two drift apart.
#include <minicnn/minicnn.hpp>
#include <minicnn/viz/plot.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace minicnn;
namespace fs = std::filesystem;

constexpr float kSobelX[9] = {1, 0, -1, 2, 0, -2, 1, 0, -1};  // Sobel, horizontal gradient
constexpr std::size_t kSeedSize = 100;  // the seed article's 100×100 image
constexpr float kRelTolerance = 1e-4f;  // allowed |difference| / max|y| between algorithms
constexpr double kTimeBudget = 0.04;    // seconds spent timing one algorithm on one shape
constexpr int kMaxReps = 5;

// The crossover table: single-plane images (N = C = K = 1) of these sizes, every odd
// kernel size from 3 to 31 (a kernel of radius r = 1..15).
const std::vector<std::size_t> kCrossSizes = {64, 100, 256, 512};
constexpr std::size_t kMaxRadius = 15;
// The channel table: a batch of kChanN images of kChanHW², kChanK output channels.
constexpr std::size_t kChanN = 8, kChanHW = 64, kChanK = 16;
const std::vector<std::size_t> kChanC = {1, 4, 16, 64};
const std::vector<std::size_t> kChanKernels = {3, 5, 7, 9, 11, 13};  // radius 1..6

// One real plane, row-major, 64-byte aligned so the FFT primitives of core/fft.hpp take it.
struct Plane {
  std::size_t h = 0, w = 0;
  AlignedBuffer<float> buf;

  Plane(std::size_t rows, std::size_t cols) : h(rows), w(cols) {
    std::fill_n(buf.ensure(h * w), h * w, 0.0f);
  }
  float* data() { return buf.data(); }
  const float* data() const { return buf.data(); }
  std::size_t size() const { return h * w; }
  float& operator()(std::size_t i, std::size_t j) { return buf.data()[i * w + j]; }
  float operator()(std::size_t i, std::size_t j) const { return buf.data()[i * w + j]; }
};

Plane from_array(const float* v, std::size_t h, std::size_t w) {
  Plane p(h, w);
  std::copy_n(v, h * w, p.data());
  return p;
}

// ---- inputs and kernels ------------------------------------------------------------

// The picture every run filters: a photo given with --image, resized, or a drawing with
// edges in every direction (a soft ramp, a bright disc, a grey block, a thin diagonal).
struct Source {
  std::optional<Image> photo;

  Plane make(std::size_t h, std::size_t w) const {
    Plane x(h, w);
    if (photo) {
      const Image img = resize_bilinear(*photo, w, h);
      for (std::size_t i = 0; i < h; ++i)
        for (std::size_t j = 0; j < w; ++j) x(i, j) = float(img.at(j, i)[0]) / 255.0f;
      return x;
    }
    const double cy = 0.40 * double(h), cx = 0.36 * double(w);
    const double r = 0.22 * double(std::min(h, w));
    for (std::size_t i = 0; i < h; ++i)
      for (std::size_t j = 0; j < w; ++j) {
        const double u = double(j) / double(w - 1), v = double(i) / double(h - 1);
        double value = 0.15 + 0.25 * u;
        if ((double(i) - cy) * (double(i) - cy) + (double(j) - cx) * (double(j) - cx) < r * r)
          value = 0.9;
        if (v > 0.58 && v < 0.86 && u > 0.55 && u < 0.88) value = 0.55;
        if (std::abs(u + v - 1.0) < 0.012) value = 1.0;
        x(i, j) = float(value);
      }
    return x;
  }
};

// The k × k kernel of the runs: Sobel for k = 3, else its smooth generalisation, the
// horizontal derivative of a Gaussian of σ = k/6, scaled like Sobel (each side sums to 4).
Plane edge_kernel(std::size_t k) {
  if (k == 3) return from_array(kSobelX, 3, 3);
  Plane w(k, k);
  const double c = double(k - 1) / 2, s = double(k) / 6;
  double side = 0;
  for (std::size_t a = 0; a < k; ++a)
    for (std::size_t b = 0; b < k; ++b) {
      const double d2 = (double(a) - c) * (double(a) - c) + (double(b) - c) * (double(b) - c);
      const double v = (c - double(b)) * std::exp(-d2 / (2 * s * s));
      w(a, b) = float(v);
      if (v > 0) side += v;
    }
  for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] = float(w.data()[i] * 4.0 / side);
  return w;
}

// ---- the textbook loop, the library calls, and the two FFT mistakes -----------------

// [walkthrough:direct-loops]
// y(i, j) = Σ_a Σ_b k(a, b) · x(i + a, j + b): the valid cross-correlation of one
// plane, what a CNN layer calls "convolution". Output (H − KH + 1) × (W − KW + 1).
Plane correlate_valid(const Plane& x, const Plane& k) {
  Plane y(x.h - k.h + 1, x.w - k.w + 1);
  for (std::size_t i = 0; i < y.h; ++i)
    for (std::size_t j = 0; j < y.w; ++j) {
      float sum = 0.0f;
      for (std::size_t a = 0; a < k.h; ++a)
        for (std::size_t b = 0; b < k.w; ++b) sum += k(a, b) * x(i + a, j + b);
      y(i, j) = sum;
    }
  return y;
}
// [end]

// [walkthrough:library-calls]
// The three algorithms of layers/conv/ on one plane: N = C = K = 1, no bias.
void run_three(const Plane& x, const Plane& k, Plane& y_direct, Plane& y_im2col, Plane& y_fft) {
  const ConvGeom g = ConvGeom::make(/*N=*/1, /*C=*/1, x.h, x.w, /*K=*/1, k.h, k.w);
  conv2d_direct_forward(g, x.data(), k.data(), /*b=*/nullptr, y_direct.data());
  Im2colWorkspace iws;
  conv2d_im2col_forward(g, x.data(), k.data(), nullptr, y_im2col.data(), iws);
  FftWorkspace fws;
  conv2d_fft_forward(g, x.data(), k.data(), nullptr, y_fft.data(), fws);
}
// [end]

// [walkthrough:circular]
// Correlation through the FFT with no padding at all: x and the kernel in planes of
// x's own size, so a window that runs off one edge comes back in at the other.
Plane circular_correlation(const Plane& x, const Plane& k) {
  Plane kp(x.h, x.w), out(x.h, x.w);
  for (std::size_t a = 0; a < k.h; ++a)
    for (std::size_t b = 0; b < k.w; ++b) kp(a, b) = k(a, b);
  const FftPlan2D& plan = fft_plan(x.h, x.w);
  AlignedBuffer<cfloat> X(plan.spectrum_size()), Kf(plan.spectrum_size());
  rfft2(plan, x.data(), X.data());
  rfft2(plan, kp.data(), Kf.data());
  for (std::size_t f = 0; f < plan.spectrum_size(); ++f)
    X.data()[f] *= std::conj(Kf.data()[f]);  // conjugate: correlation, not convolution
  irfft2(plan, X.data(), out.data());        // unnormalised: H·W times the result
  for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] /= float(x.h * x.w);
  return out;  // out(i, j) = Σ_a Σ_b k(a, b) · x((i + a) mod H, (j + b) mod W)
}
// [end]

// [walkthrough:seed-recipe]
// The seed article's recipe, step for step: pad x and the kernel to L = H + KH − 1,
// rotate the whole padded kernel by 180°, multiply the spectra, transform back.
Plane seed_fft_recipe(const Plane& x, const Plane& k) {
  const std::size_t Lh = x.h + k.h - 1, Lw = x.w + k.w - 1;
  Plane xp(Lh, Lw), kp(Lh, Lw), rot(Lh, Lw), out(Lh, Lw);
  for (std::size_t i = 0; i < x.h; ++i)
    for (std::size_t j = 0; j < x.w; ++j) xp(i, j) = x(i, j);
  for (std::size_t a = 0; a < k.h; ++a)
    for (std::size_t b = 0; b < k.w; ++b) kp(a, b) = k(a, b);
  for (std::size_t i = 0; i < Lh; ++i)  // np.rot90(padded_kernel, k=2)
    for (std::size_t j = 0; j < Lw; ++j) rot(i, j) = kp(Lh - 1 - i, Lw - 1 - j);
  const FftPlan2D& plan = fft_plan(Lh, Lw);
  AlignedBuffer<cfloat> X(plan.spectrum_size()), R(plan.spectrum_size());
  rfft2(plan, xp.data(), X.data());
  rfft2(plan, rot.data(), R.data());
  for (std::size_t f = 0; f < plan.spectrum_size(); ++f) X.data()[f] *= R.data()[f];
  irfft2(plan, X.data(), out.data());
  for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] /= float(Lh * Lw);
  return out;  // the seed keeps out[0:OH, 0:OW]
}
// [end]

// ---- measuring ---------------------------------------------------------------------

// Largest |a − b| over the top-left rows × cols of two planes, and where it is.
struct Diff {
  float max = 0.0f;
  std::size_t i = 0, j = 0;
};

Diff max_diff(const Plane& a, const Plane& b, std::size_t rows, std::size_t cols) {
  Diff d;
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      const float e = std::abs(a(i, j) - b(i, j));
      if (e > d.max) d = {e, i, j};
    }
  return d;
}
Diff max_diff(const Plane& a, const Plane& b) { return max_diff(a, b, a.h, a.w); }

float max_abs(const Plane& p) {
  float m = 0.0f;
  for (std::size_t i = 0; i < p.size(); ++i) m = std::max(m, std::abs(p.data()[i]));
  return m;
}

// Best wall time of fn in milliseconds: an untimed warm-up (it plans FFTs and sizes
// workspaces), then timed runs until kTimeBudget is spent, at least 1, at most kMaxReps.
template <class Fn>
double best_ms(Fn&& fn) {
  using Clock = std::chrono::steady_clock;
  fn();
  double best = std::numeric_limits<double>::infinity(), spent = 0.0;
  for (int rep = 0; rep < kMaxReps && spent < kTimeBudget; ++rep) {
    const auto t0 = Clock::now();
    fn();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, s);
    spent += s;
  }
  return best * 1e3;
}

template <class Fn>
double once_ms(Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// ---- printing and pictures ---------------------------------------------------------

void print_matrix(const char* title, const float* v, std::size_t rows, std::size_t cols) {
  std::printf("%s\n", title);
  for (std::size_t i = 0; i < rows; ++i) {
    std::printf("   ");
    for (std::size_t j = 0; j < cols; ++j) {
      const float e = v[i * cols + j];
      // Whole numbers print as such (the FFT's rounding error hidden), others with decimals.
      if (std::abs(e - std::round(e)) < 1e-3f)
        std::printf(" %5.0f", std::round(e) + 0.0f);
      else
        std::printf(" %5.2f", e);
    }
    std::printf("\n");
  }
}

// Writes a plane as a grey PNG, mapping [lo, hi] to [0, 255]; planes smaller than
// kZoomBelow pixels a side are enlarged kZoom times (nearest neighbour) to be seen.
constexpr std::size_t kZoom = 3, kZoomBelow = 200;
void write_plane(const fs::path& path, const Plane& p, float lo, float hi) {
  const std::size_t z = std::max(p.h, p.w) < kZoomBelow ? kZoom : 1;
  Image img(p.w * z, p.h * z, 1);
  const float scale = hi > lo ? 255.0f / (hi - lo) : 0.0f;
  for (std::size_t i = 0; i < img.height; ++i)
    for (std::size_t j = 0; j < img.width; ++j) {
      const float v = (p(i / z, j / z) - lo) * scale;
      img.pixels[i * img.width + j] = std::uint8_t(std::lround(std::clamp(v, 0.0f, 255.0f)));
    }
  write_png(path.string(), img);
}
// A signed filter response: zero mid-grey, ±max|y| black and white.
void write_signed(const fs::path& path, const Plane& p) {
  const float m = std::max(max_abs(p), 1e-30f);
  write_plane(path, p, -m, m);
}
// sqrt(|a − b|) over the shape of a, black for 0 and white for the largest error: the
// square root lifts small errors into sight.
void write_error(const fs::path& path, const Plane& a, const Plane& b) {
  Plane e(a.h, a.w);
  for (std::size_t i = 0; i < a.h; ++i)
    for (std::size_t j = 0; j < a.w; ++j) e(i, j) = std::sqrt(std::abs(a(i, j) - b(i, j)));
  write_plane(path, e, 0.0f, std::max(max_abs(e), 1e-30f));
}

// ---- the sections ------------------------------------------------------------------

struct Report {
  bool ok = true;
  void agree(const char* what, float diff, float scale) {
    if (!(diff <= kRelTolerance * std::max(scale, 1e-30f))) {
      std::printf("  !! %s: difference %.3g exceeds %.0e of %.3g\n", what, double(diff),
                  double(kRelTolerance), double(scale));
      ok = false;
    }
  }
};

void section_worked_example(Report& report) {
  std::printf("== 1. The worked example: a 4x4 input, the 3x3 Sobel kernel ==\n\n");
  const float xv[16] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};  // digits of pi
  const Plane x4 = from_array(xv, 4, 4), sobel = from_array(kSobelX, 3, 3);
  const float* x = x4.data();
  const float* w = kSobelX;
  print_matrix("x (4 x 4):", x, 4, 4);
  print_matrix("k (3 x 3), Sobel-x:", w, 3, 3);

  const Plane y_loop = correlate_valid(x4, sobel);
  print_matrix("y = correlate_valid(x, k), the textbook loops (2 x 2):", y_loop.data(), 2, 2);

  // [walkthrough:im2col-gemm]
  const ConvGeom g =
      ConvGeom::make(/*N=*/1, /*C=*/1, /*H=*/4, /*W=*/4, /*K=*/1, /*KH=*/3, /*KW=*/3);
  const std::size_t R = g.col_rows(), P = g.out_plane();  // 9 rows, 2·2 = 4 columns
  std::vector<float> cols(R * P), y(P);
  im2col(x, g, /*o0=*/0, /*o1=*/P, cols.data(), /*ld=*/P);
  // y (1 × 4) = w (1 × 9) · cols (9 × 4): one output position per column
  sgemm(Op::N, Op::N, /*M=*/1, /*N=*/P, /*K=*/R, 1.0f, w, /*lda=*/R, cols.data(), /*ldb=*/P, 0.0f,
        y.data(), /*ldc=*/P);
  // [end]
  print_matrix("cols = im2col(x) (9 x 4): row r = kh*3 + kw, column o = oh*2 + ow:", cols.data(), R,
               P);
  print_matrix("y = w . cols (1 x 4), one sgemm:", y.data(), 1, P);
  float d = 0.0f;
  for (std::size_t o = 0; o < P; ++o) d = std::max(d, std::abs(y[o] - y_loop.data()[o]));
  report.agree("im2col+sgemm vs loops, 4x4", d, max_abs(y_loop));

  // [walkthrough:col2im]
  // col2im adds every entry of a column matrix back onto the pixel it was copied from;
  // applied to a matrix of ones it counts the windows that cover each pixel.
  std::vector<float> ones(R * P, 1.0f), cover(g.in_plane(), 0.0f);
  col2im(ones.data(), g, /*o0=*/0, /*o1=*/P, /*ld=*/P, cover.data());
  // [end]
  print_matrix("col2im(ones (9 x 4)) (4 x 4): windows covering each pixel:", cover.data(), 4, 4);
  // The adjoint identity <im2col(x), c> = <x, col2im(c)> for a c that is not all ones.
  std::vector<float> c(R * P), back(g.in_plane(), 0.0f);
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = float(i % 7) - 3.0f;
  col2im(c.data(), g, 0, P, P, back.data());
  double lhs = 0, rhs = 0;
  for (std::size_t i = 0; i < c.size(); ++i) lhs += double(cols[i]) * c[i];
  for (std::size_t i = 0; i < back.size(); ++i) rhs += double(x[i]) * back[i];
  std::printf("adjoint check: <im2col(x), c> = %g, <x, col2im(c)> = %g\n\n", lhs, rhs);
  report.agree("im2col/col2im adjoint", float(std::abs(lhs - rhs)), float(std::abs(lhs)));

  const Plane s = seed_fft_recipe(x4, sobel);
  print_matrix("the seed's FFT recipe before its crop (6 x 6, L = 4 + 3 - 1):", s.data(), 6, 6);
  const float crop[4] = {s(0, 0), s(0, 1), s(1, 0), s(1, 1)};
  print_matrix("the seed's crop out[0:2, 0:2]:", crop, 2, 2);
  std::printf(
      "the right answer y(0,0) = %g sits at (5, 5), y(1,1) = %g at (0, 0):\n"
      "out(i, j) = y(i + 1, j + 1), indices mod 6; the crop is off by one.\n\n",
      double(y_loop(0, 0)), double(y_loop(1, 1)));
}

struct Timed {
  Plane direct, im2col, fft;
  double ms_direct = 0, ms_im2col = 0, ms_fft = 0;
};

// The three algorithms on x and k: outputs, and their best times (direct timed once
// when `time_direct_once`, as it runs for up to a second on the large shapes).
Timed run_and_time(const Plane& x, const Plane& k, bool time_direct_once) {
  const std::size_t OH = x.h - k.h + 1, OW = x.w - k.w + 1;
  Timed t{Plane(OH, OW), Plane(OH, OW), Plane(OH, OW)};
  run_three(x, k, t.direct, t.im2col, t.fft);
  const ConvGeom g = ConvGeom::make(1, 1, x.h, x.w, 1, k.h, k.w);
  Im2colWorkspace iws;
  FftWorkspace fws;
  auto direct = [&] { conv2d_direct_forward(g, x.data(), k.data(), nullptr, t.direct.data()); };
  t.ms_direct = time_direct_once ? once_ms(direct) : best_ms(direct);
  t.ms_im2col =
      best_ms([&] { conv2d_im2col_forward(g, x.data(), k.data(), nullptr, t.im2col.data(), iws); });
  t.ms_fft =
      best_ms([&] { conv2d_fft_forward(g, x.data(), k.data(), nullptr, t.fft.data(), fws); });
  return t;
}

void print_timed(const Timed& t, std::size_t size, std::size_t k, Report& report) {
  const float scale = max_abs(t.direct);
  const Diff di = max_diff(t.direct, t.im2col), df = max_diff(t.direct, t.fft);
  // Rates as GFLOP/s of the direct algorithm's 2·KH·KW·OH·OW operations, for all three.
  const double gflop = 2.0 * double(k * k * t.direct.size()) / 1e9;
  std::printf("  %4zu  %3zu   %9.2e  %9.2e   %9.3f  %9.3f  %9.3f   %6.2f %6.2f %6.2f\n", size, k,
              double(di.max / scale), double(df.max / scale), t.ms_direct, t.ms_im2col, t.ms_fft,
              gflop / t.ms_direct * 1e3, gflop / t.ms_im2col * 1e3, gflop / t.ms_fft * 1e3);
  report.agree("im2col vs direct", di.max, scale);
  report.agree("fft vs direct", df.max, scale);
}

void section_three_algorithms(const Source& src, const fs::path& out, bool quick, Report& report) {
  std::printf("== 2. Direct, im2col+GEMM and FFT on the same plane (layers/conv/) ==\n\n");
  const Plane x = src.make(kSeedSize, kSeedSize);
  const Plane sobel = from_array(kSobelX, 3, 3);
  const Timed t = run_and_time(x, sobel, false);
  const Plane loops = correlate_valid(x, sobel);
  const Diff dl = max_diff(t.direct, loops);
  std::printf("100x100 image, Sobel 3x3, output 98x98; max|y| = %.4f\n", double(max_abs(t.direct)));
  std::printf("  max |direct - correlate_valid| = %.3g at (%zu, %zu)\n", double(dl.max), dl.i,
              dl.j);
  report.agree("direct vs correlate_valid", dl.max, max_abs(t.direct));
  std::printf("\n  %4s  %3s   %-20s   %-31s   %s\n", "", "", "|difference| / max|y|",
              "milliseconds", "GFLOP/s");
  std::printf("  %4s  %3s   %9s  %9s   %9s  %9s  %9s   %6s %6s %6s\n", "size", "k", "im2col",
              "fft", "direct", "im2col", "fft", "direct", "im2col", "fft");
  print_timed(t, kSeedSize, 3, report);
  write_plane(out / "input_100.png", x, 0.0f, 1.0f);
  write_signed(out / "sobel_direct.png", t.direct);
  write_signed(out / "sobel_im2col.png", t.im2col);
  write_signed(out / "sobel_fft.png", t.fft);
  if (quick) {
    std::printf("\n");
    return;
  }

  struct Case {
    std::size_t size, k;
  };
  for (const Case c : {Case{256, 3}, Case{256, 15}, Case{512, 15}, Case{512, 31}}) {
    const Plane xl = src.make(c.size, c.size);
    const Timed tl = run_and_time(xl, edge_kernel(c.k), true);
    print_timed(tl, c.size, c.k, report);
    if (c.size == 512 && c.k == 31) {
      write_plane(out / "input_512.png", xl, 0.0f, 1.0f);
      write_signed(out / "edges31_direct.png", tl.direct);
      write_signed(out / "edges31_im2col.png", tl.im2col);
      write_signed(out / "edges31_fft.png", tl.fft);
    }
  }
  std::printf(
      "(k > 3: the k x k derivative-of-Gaussian kernel of edge_kernel(); direct timed once)\n\n");
}

void section_circular(const Source& src, const fs::path& out, Report& report) {
  std::printf("== 3. Circular correlation: the FFT without zero padding ==\n\n");
  const Plane x = src.make(kSeedSize, kSeedSize);
  const Plane sobel = from_array(kSobelX, 3, 3);
  const std::size_t H = x.h, W = x.w, p = 1;  // 'same' output: padding 1 keeps 100x100
  const Plane c = circular_correlation(x, sobel);

  // Valid outputs never read past the image, so they come out exact even unpadded.
  const Plane valid = correlate_valid(x, sobel);
  const Diff dv = max_diff(c, valid, valid.h, valid.w);
  std::printf("valid part (98x98, c(i,j) for i,j < 98): max |c - direct| = %.2g (no wrap)\n",
              double(dv.max));
  report.agree("circular, valid part", dv.max, max_abs(valid));

  // Same-size output, padding 1: y(i, j) = c(i − 1, j − 1); the direct loops read zeros
  // outside the image, the circular one the far side of the image.
  const ConvGeom g = ConvGeom::make(1, 1, H, W, 1, 3, 3, /*stride=*/1, /*padding=*/p);
  Plane ref(H, W), same(H, W);
  conv2d_direct_forward(g, x.data(), sobel.data(), nullptr, ref.data());
  for (std::size_t i = 0; i < H; ++i)
    for (std::size_t j = 0; j < W; ++j) same(i, j) = c((i + H - p) % H, (j + W - p) % W);
  const float tol = kRelTolerance * max_abs(ref);
  std::size_t wrong = 0, wrong_border = 0;
  for (std::size_t i = 0; i < H; ++i)
    for (std::size_t j = 0; j < W; ++j)
      if (std::abs(same(i, j) - ref(i, j)) > tol) {
        ++wrong;
        if (i == 0 || j == 0 || i == H - 1 || j == W - 1) ++wrong_border;
      }
  const Diff ds = max_diff(same, ref);
  std::printf(
      "same-size output (padding 1, 100x100), circular vs direct:\n"
      "  %zu of %zu pixels differ, %zu of them on the 1-pixel border (%zu border pixels)\n"
      "  largest difference %.4f at (%zu, %zu): direct %.4f, circular %.4f (max|y| = %.4f)\n",
      wrong, H * W, wrong_border, 2 * (H + W) - 4, double(ds.max), ds.i, ds.j,
      double(ref(ds.i, ds.j)), double(same(ds.i, ds.j)), double(max_abs(ref)));
  double worst_interior = 0;
  for (std::size_t i = 1; i + 1 < H; ++i)
    for (std::size_t j = 1; j + 1 < W; ++j)
      worst_interior = std::max(worst_interior, double(std::abs(same(i, j) - ref(i, j))));
  std::printf("  interior (rows and columns 1..98): max difference %.2g\n", worst_interior);

  // The fix: pad to L >= H + 2p, as layers/conv/fft.cpp does.
  Plane fixed(H, W);
  FftWorkspace fws;
  conv2d_fft_forward(g, x.data(), sobel.data(), nullptr, fixed.data(), fws);
  const Diff dfix = max_diff(fixed, ref);
  std::printf(
      "  conv2d_fft_forward (pads to H + 2p = 102, rounded up to L = %zu): max difference %.2g\n\n",
      fft_conv_size(H, p), double(dfix.max));
  report.agree("fft with padding vs direct", dfix.max, max_abs(ref));
  write_signed(out / "circular_same.png", same);
  write_error(out / "circular_error.png", same, ref);
}

// The (di, dj) in [-3, 3]² for which s((i + di) mod L, (j + dj) mod L) = y(i, j) for all
// of y, if there is one.
std::optional<std::pair<int, int>> landing(const Plane& s, const Plane& y, float tol) {
  for (int di = -3; di <= 3; ++di)
    for (int dj = -3; dj <= 3; ++dj) {
      bool all = true;
      for (std::size_t i = 0; i < y.h && all; ++i)
        for (std::size_t j = 0; j < y.w && all; ++j) {
          const std::size_t si = std::size_t((long(i) + di + long(s.h)) % long(s.h));
          const std::size_t sj = std::size_t((long(j) + dj + long(s.w)) % long(s.w));
          all = std::abs(s(si, sj) - y(i, j)) <= tol;
        }
      if (all) return std::make_pair(di, dj);
    }
  return std::nullopt;
}

void section_seed_recipe(const Source& src, const fs::path& out, Report& report) {
  std::printf("== 4. The seed article's FFT recipe (kernel rotated after padding) ==\n\n");
  const Plane x = src.make(kSeedSize, kSeedSize);
  const Plane sobel = from_array(kSobelX, 3, 3);
  const Plane y = correlate_valid(x, sobel);
  const Plane s = seed_fft_recipe(x, sobel);
  const float tol = kRelTolerance * max_abs(y);
  const Diff crop = max_diff(s, y, y.h, y.w);
  std::printf(
      "L = 100 + 3 - 1 = %zu; the recipe's crop out[0:98, 0:98] vs the direct result:\n"
      "  max difference %.4f at (%zu, %zu) (max|y| = %.4f)\n",
      s.h, double(crop.max), crop.i, crop.j, double(max_abs(y)));
  if (const auto at = landing(s, y, tol)) {
    std::printf(
        "  y(i, j) is found at out(i %+d, j %+d) mod %zu: y(0, 0) = %.4f sits at (%zu, %zu)\n",
        at->first, at->second, s.h, double(y(0, 0)),
        std::size_t((at->first + long(s.h)) % long(s.h)),
        std::size_t((at->second + long(s.w)) % long(s.w)));
  } else {
    std::printf("  y is at no shift within 3 pixels\n");
  }
  // Within the crop, out(i, j) = y(i + 1, j + 1) except its last row and column, which
  // read one row or column of the zero padding.
  const std::size_t OH = y.h, OW = y.w;
  float inner = 0, edge = 0;
  for (std::size_t i = 0; i < OH; ++i)
    for (std::size_t j = 0; j < OW; ++j) {
      if (i + 1 < OH && j + 1 < OW)
        inner = std::max(inner, std::abs(s(i, j) - y(i + 1, j + 1)));
      else
        edge =
            std::max(edge, std::abs(s(i, j) - y(std::min(i + 1, OH - 1), std::min(j + 1, OW - 1))));
    }
  std::printf("  crop(i, j) vs y(i + 1, j + 1) for i, j < 97: max difference %.2g\n",
              double(inner));
  std::printf(
      "  its last row and column hold partial sums over the zero padding (off by up to %.4f)\n",
      double(edge));

  // Two right ways: crop from L − 1 with wrap-around (undo the one-pixel shift), or
  // flip the small kernel before padding, which puts the valid part at KH − 1.
  Plane wrapped(OH, OW);
  for (std::size_t i = 0; i < OH; ++i)
    for (std::size_t j = 0; j < OW; ++j)
      wrapped(i, j) = s((i + s.h - 1) % s.h, (j + s.w - 1) % s.w);
  Plane flipped_k(3, 3);
  for (std::size_t a = 0; a < 3; ++a)
    for (std::size_t b = 0; b < 3; ++b) flipped_k(a, b) = sobel(2 - a, 2 - b);
  // A plain product of spectra is a convolution; with the flipped 3x3 kernel it is the
  // correlation again, its valid part starting at (KH − 1, KW − 1).
  const std::size_t L = s.h;
  Plane xp(L, L), kp(L, L), full(L, L);
  for (std::size_t i = 0; i < x.h; ++i)
    for (std::size_t j = 0; j < x.w; ++j) xp(i, j) = x(i, j);
  for (std::size_t a = 0; a < 3; ++a)
    for (std::size_t b = 0; b < 3; ++b) kp(a, b) = flipped_k(a, b);
  const FftPlan2D& plan = fft_plan(L, L);
  AlignedBuffer<cfloat> X(plan.spectrum_size()), K(plan.spectrum_size());
  rfft2(plan, xp.data(), X.data());
  rfft2(plan, kp.data(), K.data());
  for (std::size_t f = 0; f < plan.spectrum_size(); ++f) X.data()[f] *= K.data()[f];
  irfft2(plan, X.data(), full.data());
  Plane shifted(OH, OW);
  for (std::size_t i = 0; i < OH; ++i)
    for (std::size_t j = 0; j < OW; ++j) shifted(i, j) = full(i + 2, j + 2) / float(L * L);
  const Diff dw = max_diff(wrapped, y), df = max_diff(shifted, y);
  std::printf(
      "  fix 1, crop rows and columns L-1, 0, 1, ..., 96 (wrap-around): max difference %.2g\n",
      double(dw.max));
  std::printf(
      "  fix 2, flip the 3x3 kernel before padding, crop out[2:100, 2:100]: max difference %.2g\n",
      double(df.max));
  std::printf("  (our code multiplies by the conjugate spectrum instead and crops at 0)\n\n");
  report.agree("seed recipe, wrapped crop", dw.max, max_abs(y));
  report.agree("flipped kernel, crop at KH-1", df.max, max_abs(y));
  Plane seed_crop(OH, OW);
  for (std::size_t i = 0; i < OH; ++i)
    for (std::size_t j = 0; j < OW; ++j) seed_crop(i, j) = s(i, j);
  write_signed(out / "seed_recipe_crop.png", seed_crop);
  write_error(out / "seed_recipe_error.png", seed_crop, y);
}

// Times of im2col and FFT forward for one geometry, and what Auto's cost model picks.
struct Cell {
  double im2col_ms = 0, fft_ms = 0;
  ConvAlgo model = ConvAlgo::Auto;
};

Cell time_cell(const ConvGeom& g) {
  Rng rng(7);
  std::vector<float> x(g.N * g.C * g.H * g.W), w(g.K * g.C * g.KH * g.KW),
      y(g.N * g.K * g.OH * g.OW);
  for (float& v : x) v = rng.uniform(-1, 1);
  for (float& v : w) v = rng.uniform(-1, 1);
  Im2colWorkspace iws;
  FftWorkspace fws;
  Cell c;
  c.im2col_ms =
      best_ms([&] { conv2d_im2col_forward(g, x.data(), w.data(), nullptr, y.data(), iws); });
  c.fft_ms = best_ms([&] { conv2d_fft_forward(g, x.data(), w.data(), nullptr, y.data(), fws); });
  c.model = conv_select(g, ConvPass::Forward, num_threads(), Im2colWorkspace::kDefaultLimit).algo;
  return c;
}

// The time of one forward real transform of an h × w plane (FFTW's plan of core/fft.hpp).
double transform_ms(std::size_t h, std::size_t w) {
  const FftPlan2D& plan = fft_plan(h, w);
  AlignedBuffer<float> real(plan.real_size());
  AlignedBuffer<cfloat> spec(plan.spectrum_size());
  std::fill_n(real.data(), plan.real_size(), 0.5f);
  return best_ms([&] { rfft2(plan, real.data(), spec.data()); });
}

// The smallest kernel in `kernels` from which FFT wins at every larger one, or 0.
std::size_t crossover(const std::vector<Cell>& column, const std::vector<std::size_t>& kernels) {
  std::size_t k = 0;
  for (std::size_t i = column.size(); i-- > 0;) {
    if (column[i].fft_ms < column[i].im2col_ms)
      k = kernels[i];
    else
      break;
  }
  return k;
}

// A table with a row per kernel size and a column per variant (image size or channel
// count): im2col ms, fft ms and their ratio; a ratio above 1 means FFT is faster, and
// a * marks a cell where Auto's cost model (layers/conv/select.cpp) picks the slower.
void print_grid(const char* column_name, const std::vector<std::size_t>& variants,
                const std::vector<std::size_t>& kernels,
                const std::vector<std::vector<Cell>>& columns) {
  std::printf("%6s", "");
  for (std::size_t v : variants) std::printf("  %s = %-18zu", column_name, v);
  std::printf("\n%6s", "k");
  for (std::size_t c = 0; c < variants.size(); ++c)
    std::printf("  %8s %8s %6s", "im2col", "fft", "ratio");
  std::printf("\n");
  for (std::size_t r = 0; r < kernels.size(); ++r) {
    std::printf("%6zu", kernels[r]);
    for (const auto& column : columns) {
      const Cell& c = column[r];
      const bool fft_wins = c.fft_ms < c.im2col_ms;
      const bool model_fft = c.model == ConvAlgo::FFT;
      std::printf("  %8.3f %8.3f %5.2f%c", c.im2col_ms, c.fft_ms, c.im2col_ms / c.fft_ms,
                  fft_wins == model_fft ? ' ' : '*');
    }
    std::printf("\n");
  }
  std::printf("%-6s", "fft>=");
  for (const auto& column : columns) {
    const std::size_t k = crossover(column, kernels);
    if (k)
      std::printf("  %-24s", ("k >= " + std::to_string(k)).c_str());
    else
      std::printf("  %-24s", "never");
  }
  std::printf("\n");
}

// The plot of a timing table: log2(im2col time / fft time) against the kernel radius r,
// a curve per column; above 0, FFT is faster.
void write_ratio_plot(const fs::path& path, const std::vector<PlotSeries>& series,
                      const std::string& title) {
  write_png(path.string(), line_plot(series, {.width = 720,
                                              .height = 420,
                                              .title = title,
                                              .x_label = "kernel radius r (kernel 2r+1 × 2r+1)",
                                              .y_label = "log2(im2col time / fft time)"}));
}

void section_crossover(const fs::path& out) {
  std::printf("== 5. Where FFT overtakes im2col: one plane (N = C = K = 1), valid output ==\n\n");
  std::printf("forward pass, milliseconds, best of up to %d runs, threads: %d\n", kMaxReps,
              num_threads());
  std::vector<std::size_t> kernels;
  for (std::size_t r = 1; r <= kMaxRadius; ++r) kernels.push_back(2 * r + 1);
  std::vector<std::vector<Cell>> columns;
  std::vector<PlotSeries> series;
  for (std::size_t size : kCrossSizes) {
    std::vector<Cell> column;
    PlotSeries s;
    s.name = std::to_string(size) + "×" + std::to_string(size);
    for (std::size_t k : kernels) {
      column.push_back(time_cell(ConvGeom::make(1, 1, size, size, 1, k, k)));
      // The plot: log2(im2col time / fft time) at x = r; above 0, FFT is faster.
      s.values.push_back(std::log2(column.back().im2col_ms / column.back().fft_ms));
    }
    columns.push_back(std::move(column));
    series.push_back(std::move(s));
  }
  print_grid("size", kCrossSizes, kernels, columns);
  write_ratio_plot(out / "crossover.png", series,
                   "im2col against FFT on one plane (N = C = K = 1): above 0, FFT is faster");
  std::printf("\n");
}

void section_channels(const fs::path& out) {
  std::printf(
      "== 6. Channels: N = %zu images of %zux%zu, K = %zu output channels, valid output ==\n\n",
      kChanN, kChanHW, kChanHW, kChanK);
  std::vector<std::vector<Cell>> columns;
  std::vector<PlotSeries> series;
  for (std::size_t C : kChanC) {
    std::vector<Cell> column;
    PlotSeries s;
    s.name = "C = " + std::to_string(C);
    for (std::size_t k : kChanKernels) {
      column.push_back(time_cell(ConvGeom::make(kChanN, C, kChanHW, kChanHW, kChanK, k, k)));
      s.values.push_back(std::log2(column.back().im2col_ms / column.back().fft_ms));
    }
    columns.push_back(std::move(column));
    series.push_back(std::move(s));
  }
  print_grid("C", kChanC, kChanKernels, columns);
  // How much of FFT's time the transforms alone take: N·C + K·C + N·K planes of L × L.
  const std::size_t L = fft_conv_size(kChanHW, 0);
  const double per = transform_ms(L, L);
  std::printf("\none real %zux%zu transform: %.4f ms; FFT's transforms at k = %zu:\n", L, L, per,
              kChanKernels.front());
  for (std::size_t i = 0; i < kChanC.size(); ++i) {
    const std::size_t C = kChanC[i], planes = kChanN * C + kChanK * C + kChanN * kChanK;
    std::printf("  C = %2zu: %4zu transforms x %.4f ms = %6.2f ms of its %6.2f ms\n", C, planes,
                per, double(planes) * per, columns[i].front().fft_ms);
  }
  write_ratio_plot(out / "channels.png", series,
                   "im2col against FFT, N = 8, 64×64, K = 16: above 0, FFT is faster");
  std::printf("\n");
}

void section_backward(Report& report) {
  std::printf("== 7. The backward passes agree too (N=2, C=3, 12x12, K=4, 3x3, padding 1) ==\n\n");
  const ConvGeom g = ConvGeom::make(2, 3, 12, 12, 4, 3, 3, /*stride=*/1, /*padding=*/1);
  Rng rng(3);
  auto random = [&](std::size_t n) {
    std::vector<float> v(n);
    for (float& e : v) e = rng.uniform(-1, 1);
    return v;
  };
  const std::vector<float> x = random(g.N * g.C * g.H * g.W), w = random(g.K * g.C * g.KH * g.KW),
                           b = random(g.K), dy = random(g.N * g.K * g.OH * g.OW);
  struct Grads {
    std::vector<float> y, dx, dw, db;
  };
  auto fresh = [&] {
    return Grads{std::vector<float>(dy.size()), std::vector<float>(x.size()),
                 std::vector<float>(w.size(), 0.0f), std::vector<float>(g.K, 0.0f)};
  };
  Grads d = fresh(), i = fresh(), f = fresh();
  conv2d_direct_forward(g, x.data(), w.data(), b.data(), d.y.data());
  conv2d_direct_backward_data(g, dy.data(), w.data(), d.dx.data());
  conv2d_direct_backward_weights(g, x.data(), dy.data(), d.dw.data(), d.db.data());
  Im2colWorkspace iws;
  FftWorkspace fws;
  // [walkthrough:backward]
  // im2col: y = W·col(x) + b, dx = col2im(Wᵀ·dy), dW += dy·col(x)ᵀ, db += Σ dy
  conv2d_im2col_forward(g, x.data(), w.data(), b.data(), i.y.data(), iws);
  conv2d_im2col_backward_data(g, dy.data(), w.data(), i.dx.data(), iws);
  conv2d_im2col_backward_weights(g, x.data(), dy.data(), i.dw.data(), i.db.data(), iws);
  // FFT: forward leaves the spectra of x and w in fws; backward-data transforms dy and
  // reuses w's, backward-weights reuses x's and dy's.
  conv2d_fft_forward(g, x.data(), w.data(), b.data(), f.y.data(), fws);
  conv2d_fft_backward_data(g, dy.data(), w.data(), f.dx.data(), fws);
  conv2d_fft_backward_weights(g, x.data(), dy.data(), f.dw.data(), f.db.data(), fws);
  // [end]
  auto diff = [](const std::vector<float>& a, const std::vector<float>& c) {
    float m = 0.0f, s = 0.0f;
    for (std::size_t k = 0; k < a.size(); ++k) {
      m = std::max(m, std::abs(a[k] - c[k]));
      s = std::max(s, std::abs(a[k]));
    }
    return std::make_pair(m, s);
  };
  std::printf("  pass               |im2col - direct|   |fft - direct|   (max|direct|)\n");
  const std::pair<const char*, std::vector<float> Grads::*> passes[] = {
      {"forward y", &Grads::y},
      {"backward-data dx", &Grads::dx},
      {"backward-weights dW", &Grads::dw},
      {"backward-weights db", &Grads::db}};
  for (const auto& [name, member] : passes) {
    const auto [di, si] = diff(d.*member, i.*member);
    const auto [df, sf] = diff(d.*member, f.*member);
    std::printf("  %-19s %14.2e %16.2e   (%.3f)\n", name, double(di), double(df), double(si));
    report.agree(name, di, si);
    report.agree(name, df, sf);
  }
  std::printf("\n");
}


// ---- FFT over tiles (section 11 of the doc, its end) -----------------------------------

// Overlap-save against whole planes and the direct loops on an odd layer, all three
// passes; then (not with --quick) the time of each pass on a 7×7 layer of 56×56 planes.
void section_tiles(Report& report, bool quick) {
  std::printf("== 8. FFT over tiles: overlap-save (N=2, C=3, 40x37, K=4, 7x7, padding 3) ==\n\n");
  Rng rng(5);
  auto random = [&](std::size_t n) {
    std::vector<float> v(n);
    for (float& e : v) e = rng.uniform(-1, 1);
    return v;
  };
  const ConvGeom g = ConvGeom::make(2, 3, 40, 37, 4, 7, 7, /*stride=*/1, /*padding=*/3);
  const std::vector<float> x = random(g.N * g.C * g.H * g.W), w = random(g.weight_numel()),
                           b = random(g.K), dy = random(g.N * g.K * g.OH * g.OW);
  struct Out {
    std::vector<float> y, dx, dw, db;
  };
  auto run = [&](auto&& pass) {
    Out o{std::vector<float>(dy.size()), std::vector<float>(x.size()),
          std::vector<float>(w.size(), 0.0f), std::vector<float>(g.K, 0.0f)};
    pass(o);
    return o;
  };
  const Out direct = run([&](Out& o) {
    conv2d_direct_forward(g, x.data(), w.data(), b.data(), o.y.data());
    conv2d_direct_backward_data(g, dy.data(), w.data(), o.dx.data());
    conv2d_direct_backward_weights(g, x.data(), dy.data(), o.dw.data(), o.db.data());
  });
  std::printf("  tiling          blocks per image   |y - direct|  |dx - direct|  |dW - direct|\n");
  for (std::size_t tile : {FftWorkspace::kWholePlanes, std::size_t{16}, std::size_t{8}}) {
    // [walkthrough:fft-tiles]
    // Whole planes, or T × T tiles: each tile gives a (T − 6) × (T − 6) block of the
    // 7×7 layer's output, the part of its circular correlation that does not wrap.
    FftWorkspace fws;
    fws.tile = tile;  // 0 (the default) lets fft_tile_size choose
    const Out f = run([&](Out& o) {
      conv2d_fft_forward(g, x.data(), w.data(), b.data(), o.y.data(), fws);
      conv2d_fft_backward_data(g, dy.data(), w.data(), o.dx.data(), fws);
      conv2d_fft_backward_weights(g, x.data(), dy.data(), o.dw.data(), o.db.data(), fws);
    });
    // [end]
    const std::size_t S = tile == FftWorkspace::kWholePlanes ? 0 : tile - g.KH + 1;
    const std::size_t blocks = S ? ((g.OH + S - 1) / S) * ((g.OW + S - 1) / S) : 1;
    float worst[3] = {0, 0, 0}, scale[3] = {0, 0, 0};
    const std::vector<float> Out::*members[3] = {&Out::y, &Out::dx, &Out::dw};
    for (int m = 0; m < 3; ++m) {
      const std::vector<float>& a = direct.*members[m];
      const std::vector<float>& c = f.*members[m];
      for (std::size_t i = 0; i < a.size(); ++i) {
        worst[m] = std::max(worst[m], std::abs(a[i] - c[i]));
        scale[m] = std::max(scale[m], std::abs(a[i]));
      }
      report.agree("fft tiles", worst[m], scale[m]);
    }
    const std::string name = S ? std::to_string(tile) + "x" + std::to_string(tile) : "whole planes";
    std::printf("  %-15s %17zu %13.2e %14.2e %14.2e\n", name.c_str(), blocks, double(worst[0]),
                double(worst[1]), double(worst[2]));
  }
  std::printf("\n");
  if (quick) return;

  const ConvGeom lg = ConvGeom::make(8, 32, 56, 56, 32, 7, 7, 1, 3);
  std::vector<float> lx = random(lg.N * lg.C * lg.H * lg.W), lw = random(lg.weight_numel()),
                     ldy = random(lg.N * lg.K * lg.OH * lg.OW);
  std::vector<float> ly(ldy.size()), ldx(lx.size()), ldw(lw.size(), 0.0f), ldb(lg.K, 0.0f);
  const ConvTensors t{.x = lx.data(), .w = lw.data(), .dy = ldy.data(), .y = ly.data(),
                      .dx = ldx.data(), .dw = ldw.data(), .db = ldb.data()};
  std::printf("milliseconds per pass on (8, 32, 56, 56) -> 32, 7x7, padding 3, best of up to %d runs,"
              " threads: %d; fft_tile_size picks %zu\n", kMaxReps, num_threads(),
              fft_tile_size(lg));
  std::printf("  %-16s %8s %8s %8s %8s %8s\n", "pass", "im2col", "whole", "16x16", "32x32", "8x8");
  for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
    auto timed = [&](ConvAlgo a, std::size_t tile) {
      ConvWorkspace ws;
      ws.fft.tile = tile;
      return best_ms([&] {
        ws.fft.forget();  // each pass transforms all its inputs
        conv2d_run(a, pass, lg, t, ws);
      });
    };
    std::printf("  %-16s %8.2f %8.2f %8.2f %8.2f %8.2f\n", to_string(pass).c_str(),
                timed(ConvAlgo::Im2colGemm, 0), timed(ConvAlgo::FFT, FftWorkspace::kWholePlanes),
                timed(ConvAlgo::FFT, 16), timed(ConvAlgo::FFT, 32), timed(ConvAlgo::FFT, 8));
  }
  std::printf("\n");
}

// ---- Winograd (section 12 of the doc) -----------------------------------------------

// A small matrix of doubles, row-major, for the worked Winograd example.
struct Mat {
  std::size_t r = 0, c = 0;
  std::vector<double> v;
  double operator()(std::size_t i, std::size_t j) const { return v[i * c + j]; }
};

Mat mat(const float* v, std::size_t r, std::size_t c) { return {r, c, std::vector<double>(v, v + r * c)}; }

Mat operator*(const Mat& a, const Mat& b) {
  Mat p{a.r, b.c, std::vector<double>(a.r * b.c, 0.0)};
  for (std::size_t i = 0; i < a.r; ++i)
    for (std::size_t k = 0; k < a.c; ++k)
      for (std::size_t j = 0; j < b.c; ++j) p.v[i * b.c + j] += a(i, k) * b(k, j);
  return p;
}

Mat tr(const Mat& a) {
  Mat t{a.c, a.r, std::vector<double>(a.v.size())};
  for (std::size_t i = 0; i < a.r; ++i)
    for (std::size_t j = 0; j < a.c; ++j) t.v[j * a.r + i] = a(i, j);
  return t;
}

Mat hadamard(const Mat& a, const Mat& b) {
  Mat p = a;
  for (std::size_t i = 0; i < p.v.size(); ++i) p.v[i] *= b.v[i];
  return p;
}

void print_mat(const char* title, const Mat& m) {
  const std::vector<float> f(m.v.begin(), m.v.end());
  print_matrix(title, f.data(), m.r, m.c);
}

double max_entry(const std::vector<float>& v) {
  double m = 0;
  for (float e : v) m = std::max(m, double(std::abs(e)));
  return m;
}

double min_nonzero_entry(const std::vector<float>& v) {
  double m = std::numeric_limits<double>::infinity();
  for (float e : v)
    if (e != 0.0f) m = std::min(m, double(std::abs(e)));
  return m;
}

// The layer of the accuracy table and the shapes of the timing table.
constexpr std::size_t kWinoN = 2, kWinoC = 64, kWinoHW = 20, kWinoK = 32;
struct WinoShape {
  const char* name;
  std::size_t N, C, HW, K, padding;
};
const WinoShape kWinoShapes[] = {
    {"one plane 100x100", 1, 1, 100, 1, 0}, {"R1 28x28, 1->16", 64, 1, 28, 16, 1},
    {"R2 28x28, 16->16", 64, 16, 28, 16, 1}, {"R3 14x14, 32->32", 64, 32, 14, 32, 1},
    {"R4 7x7, 64->64", 64, 64, 7, 64, 1},    {"S3 56x56, 64->64", 32, 64, 56, 64, 1},
};

// max |a − b| / max |b|
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, s = 1e-30;
  for (std::size_t i = 0; i < b.size(); ++i) {
    d = std::max(d, double(std::abs(a[i] - b[i])));
    s = std::max(s, double(std::abs(b[i])));
  }
  return d / s;
}

void section_winograd(Report& report, bool quick) {
  std::printf("== 9. Winograd: F(2, 3) by hand, then F(m x m, 3 x 3) ==\n\n");
  // [walkthrough:winograd-1d]
  // F(2, 3): two outputs of a 3-tap correlation, y_i = Σ_j g_j · d_(i+j), from 4 inputs.
  const float d[4] = {5, 9, 2, 6}, g[3] = {2, -1, 3};
  // u = G g, once per kernel (in a layer it serves every tile of every image)
  const float u[4] = {g[0], (g[0] + g[1] + g[2]) / 2, (g[0] - g[1] + g[2]) / 2, g[2]};
  // v = Bᵀ d: additions only
  const float v[4] = {d[0] - d[2], d[1] + d[2], d[2] - d[1], d[3] - d[1]};
  // the four multiplications
  const float m[4] = {u[0] * v[0], u[1] * v[1], u[2] * v[2], u[3] * v[3]};
  // y = Aᵀ m: additions only
  const float y[2] = {m[0] + m[1] + m[2], m[1] - m[2] + m[3]};
  // [end]
  const float direct[2] = {d[0] * g[0] + d[1] * g[1] + d[2] * g[2],
                           d[1] * g[0] + d[2] * g[1] + d[3] * g[2]};
  std::printf("d = (%g, %g, %g, %g), g = (%g, %g, %g)\n", double(d[0]), double(d[1]), double(d[2]),
              double(d[3]), double(g[0]), double(g[1]), double(g[2]));
  std::printf("u = G g = (%g, %g, %g, %g), v = Bt d = (%g, %g, %g, %g)\n", double(u[0]),
              double(u[1]), double(u[2]), double(u[3]), double(v[0]), double(v[1]), double(v[2]),
              double(v[3]));
  std::printf("m = u . v = (%g, %g, %g, %g)\n", double(m[0]), double(m[1]), double(m[2]),
              double(m[3]));
  std::printf("y = At m = (%g, %g); the direct sums (6 multiplications): (%g, %g)\n\n",
              double(y[0]), double(y[1]), double(direct[0]), double(direct[1]));
  report.agree("F(2, 3) by hand vs direct", std::max(std::abs(y[0] - direct[0]), std::abs(y[1] - direct[1])),
               std::max(std::abs(direct[0]), std::abs(direct[1])));

  for (std::size_t tile : {2, 4}) {
    const WinogradMatrices t = winograd_matrices(tile);
    std::printf("F(%zu, 3), points 0, 1, -1%s and infinity:\n", tile, tile == 4 ? ", 2, -2" : "");
    print_matrix("  Bt:", t.Bt.data(), t.alpha, t.alpha);
    print_matrix("  G:", t.G.data(), t.alpha, 3);
    print_matrix("  At:", t.At.data(), tile, t.alpha);
  }
  std::printf("\n");

  // The 4x4 example of section 3 is one tile of F(2x2, 3x3).
  const float xv[16] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};
  const WinogradMatrices t2 = winograd_matrices(2);
  const Mat x = mat(xv, 4, 4), k = mat(kSobelX, 3, 3);
  // [walkthrough:winograd-2d]
  // F(2×2, 3×3) nests F(2, 3): rows first, then columns. α = 4: the 4×4 input is one tile.
  const Mat Bt = mat(t2.Bt.data(), 4, 4), G = mat(t2.G.data(), 4, 3), At = mat(t2.At.data(), 2, 4);
  const Mat V = Bt * x * tr(Bt);                  // the input tile, transformed: Bᵀ d B
  const Mat U = G * k * tr(G);                    // the kernel, transformed: G g Gᵀ
  const Mat Y = At * hadamard(U, V) * tr(At);     // 16 multiplications, then Aᵀ (U ⊙ V) A
  // [end]
  print_mat("V = Bt x B (4 x 4):", V);
  print_mat("U = G k Gt (4 x 4):", U);
  print_mat("U . V (4 x 4), the 16 multiplications:", hadamard(U, V));
  print_mat("Y = At (U . V) A (2 x 2), the output of section 3:", Y);
  const Plane y_loop = correlate_valid(from_array(xv, 4, 4), from_array(kSobelX, 3, 3));
  float dd = 0.0f;
  for (std::size_t i = 0; i < 4; ++i) dd = std::max(dd, float(std::abs(Y.v[i] - y_loop.data()[i])));
  report.agree("F(2x2, 3x3) on the 4x4 example vs loops", dd, max_abs(y_loop));
  std::printf("\n");

  // Multiplications per output against the 9 of the direct sum, and the matrices' size.
  std::printf("  m  alpha  mult/tile  direct/tile  mult/output  saving   max|Bt|  max|At|  min|G|\n");
  for (std::size_t tile : winograd_tile_sizes()) {
    const WinogradMatrices t = winograd_matrices(tile);
    const double mults = double(t.alpha * t.alpha), dir = 9.0 * double(tile * tile);
    std::printf("  %zu  %5zu  %9.0f  %11.0f  %11.2f  %5.2fx  %7.3g  %7.3g  %6.3g\n", tile, t.alpha,
                mults, dir, mults / double(tile * tile), dir / mults, max_entry(t.Bt),
                max_entry(t.At), min_nonzero_entry(t.G));
  }
  std::printf("\n");

  // Accuracy: each pass against the direct loops (which sum in double), on one layer.
  const ConvGeom lg = ConvGeom::make(kWinoN, kWinoC, kWinoHW, kWinoHW, kWinoK, 3, 3, 1, 1);
  Rng rng(12);
  auto random = [&](std::size_t n, float lo) {
    std::vector<float> r(n);
    for (float& e : r) e = rng.uniform(lo, 1);
    return r;
  };
  const std::vector<float> lx = random(lg.N * lg.C * lg.H * lg.W, -1), lw = random(lg.K * lg.C * 9, -1),
                           ldy = random(lg.N * lg.K * lg.OH * lg.OW, -1),
                           lx_pos = random(lx.size(), 0);  // x ≥ 0, as after a ReLU
  std::vector<float> ry(ldy.size()), ry_pos(ldy.size()), rdx(lx.size()), rdw(lw.size(), 0.0f);
  conv2d_direct_forward(lg, lx.data(), lw.data(), nullptr, ry.data());
  conv2d_direct_forward(lg, lx_pos.data(), lw.data(), nullptr, ry_pos.data());
  conv2d_direct_backward_data(lg, ldy.data(), lw.data(), rdx.data());
  conv2d_direct_backward_weights(lg, lx.data(), ldy.data(), rdw.data(), nullptr);
  std::printf("relative error against the direct loops, N=%zu, C=%zu, %zux%zu, K=%zu, padding 1:\n",
              kWinoN, kWinoC, kWinoHW, kWinoHW, kWinoK);
  std::printf("  algorithm      forward  backward-data  backward-weights  forward, x >= 0\n");
  auto row = [&](const char* name, ConvAlgo a, std::size_t tile) {
    ConvWorkspace ws;
    ws.winograd.tile = tile;
    std::vector<float> y1(ry.size()), y2(ry.size()), dx(rdx.size()), dw(rdw.size(), 0.0f);
    const ConvTensors t{.x = lx.data(), .w = lw.data(), .dy = ldy.data(), .y = y1.data(),
                        .dx = dx.data(), .dw = dw.data()};
    conv2d_run(a, ConvPass::Forward, lg, t, ws);
    conv2d_run(a, ConvPass::BackwardData, lg, t, ws);
    conv2d_run(a, ConvPass::BackwardWeights, lg, t, ws);
    ConvTensors tp = t;
    tp.x = lx_pos.data();
    tp.y = y2.data();
    ws.fft.forget();
    conv2d_run(a, ConvPass::Forward, lg, tp, ws);
    const double e[4] = {rel_diff(y1, ry), rel_diff(dx, rdx), rel_diff(dw, rdw), rel_diff(y2, ry_pos)};
    std::printf("  %-12s %9.2e  %13.2e  %16.2e  %15.2e\n", name, e[0], e[1], e[2], e[3]);
    for (double v : e) report.agree(name, float(v), 1.0f);
  };
  row("im2col", ConvAlgo::Im2colGemm, 0);
  row("fft", ConvAlgo::FFT, 0);
  for (std::size_t tile : winograd_tile_sizes()) {
    const std::string name = "F(" + std::to_string(tile) + "x" + std::to_string(tile) + ",3x3)";
    row(name.c_str(), ConvAlgo::Winograd, tile);
  }
  std::printf("\n");
  if (quick) return;

  // [walkthrough:winograd-library]
  // The library's Winograd on a layer, through the one dispatch: conv2d_run runs
  // conv2d_winograd_forward, _backward_data or _backward_weights (layers/conv/winograd.hpp).
  auto time_pass = [](ConvAlgo a, ConvPass pass, const ConvGeom& g, const ConvTensors& t) {
    ConvWorkspace ws;  // ws.winograd.tile = 0: the tile size follows the plane
    return best_ms([&] {
      ws.fft.forget();  // each pass transforms all its inputs, as a lone call does
      conv2d_run(a, pass, g, t, ws);
    });
  };
  // [end]
  std::printf("milliseconds per pass, best of up to %d runs, threads: %d; auto = the cost model's pick\n",
              kMaxReps, num_threads());
  std::printf("  %-18s %-16s %8s %8s %8s  %-9s %s\n", "layer", "pass", "im2col", "fft", "winograd",
              "auto", "winograd/im2col");
  for (const WinoShape& s : kWinoShapes) {
    const ConvGeom sg = ConvGeom::make(s.N, s.C, s.HW, s.HW, s.K, 3, 3, 1, s.padding);
    std::vector<float> sx = random(sg.N * sg.C * sg.H * sg.W, -1), sw = random(sg.K * sg.C * 9, -1),
                       sdy = random(sg.N * sg.K * sg.OH * sg.OW, -1);
    std::vector<float> sy(sdy.size()), sdx(sx.size()), sdw(sw.size(), 0.0f), sdb(sg.K, 0.0f);
    const ConvTensors t{.x = sx.data(), .w = sw.data(), .dy = sdy.data(), .y = sy.data(),
                        .dx = sdx.data(), .dw = sdw.data(), .db = sdb.data()};
    for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
      const double ti = time_pass(ConvAlgo::Im2colGemm, pass, sg, t);
      const double tf = time_pass(ConvAlgo::FFT, pass, sg, t);
      const double tw = time_pass(ConvAlgo::Winograd, pass, sg, t);
      const ConvAlgo pick = conv_select(sg, pass, num_threads(), Im2colWorkspace::kDefaultLimit).algo;
      std::printf("  %-18s %-16s %8.3f %8.3f %8.3f  %-9s %6.2f\n", s.name, to_string(pass).c_str(),
                  ti, tf, tw, to_string(pick).c_str(), tw / ti);
    }
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The convolution walkthrough: direct, im2col+GEMM and FFT side by side"};
  std::string out_dir = "out/walkthrough", image_path;
  bool quick = false;
  int threads = 0;
  app.add_option("-o,--out", out_dir, "folder for the PNG images")->capture_default_str();
  app.add_option("--image", image_path, "a picture to filter instead of the built-in drawing");
  app.add_flag("--quick", quick, "only the worked examples: no timing tables");
  app.add_option("--threads", threads, "threads (default: MINICNN_NUM_THREADS or all cores)")
      ->check(CLI::Range(1, 1024));
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) set_num_threads(threads);
    const fs::path out(out_dir);
    fs::create_directories(out);
    Source src;
    if (!image_path.empty()) src.photo = read_image(image_path);

    Report report;
    section_worked_example(report);
    section_three_algorithms(src, out, quick, report);
    section_circular(src, out, report);
    section_seed_recipe(src, out, report);
    if (!quick) {
      section_crossover(out);
      section_channels(out);
    }
    section_backward(report);
    section_tiles(report, quick);
    section_winograd(report, quick);
    std::printf("PNG images written to %s\n", out.string().c_str());
    if (!report.ok) {
      std::printf("FAILED: the algorithms disagree (see the lines marked !!)\n");
      return 1;
    }
    std::printf("all algorithms agree within %.0e of the output's magnitude\n",
                double(kRelTolerance));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "conv_walkthrough: %s\n", e.what());
    return 2;
  }
}
