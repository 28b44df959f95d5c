// Every algorithm and pass against the direct reference on a grid of odd shapes.
#include <minicnn/core/blas.hpp>
#include <minicnn/core/random.hpp>
#include <minicnn/layers/conv/direct.hpp>
#include <minicnn/layers/conv/fft.hpp>
#include <minicnn/layers/conv/im2col_gemm.hpp>
#include <minicnn/layers/conv/one_channel.hpp>
#include <minicnn/layers/conv/pointwise.hpp>
#include <minicnn/layers/conv/strided.hpp>
#include <minicnn/layers/conv/select.hpp>
#include <minicnn/layers/conv/winograd.hpp>
#include <minicnn/layers/conv/winograd5.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

using namespace minicnn;

namespace {

struct Case {
  std::size_t N, C, H, W, K, KH, KW, stride, pad, dil;
};

// batch 1 and one channel, non-square images and kernels, 1x1 kernels, a kernel as
// large as the padded input, padding of at least half the kernel (and larger than the
// kernel), strides 2 and 3, dilation 2, FFT lengths that are not powers of two; and one
// input channel with kernels other than 3×3 and 5×5 (im2col's one-channel path: rows
// wider and narrower than its 16-column blocks, a pass large enough for two threads).
const Case kCases[] = {
    {1, 1, 5, 5, 1, 3, 3, 1, 0, 1},     {2, 3, 7, 10, 4, 3, 2, 1, 1, 1},
    {2, 4, 5, 6, 3, 1, 1, 1, 0, 1},     {1, 2, 4, 5, 3, 6, 7, 1, 1, 1},
    {2, 2, 5, 4, 3, 3, 3, 1, 2, 1},     {1, 1, 3, 3, 2, 3, 3, 1, 4, 1},
    {2, 3, 9, 8, 4, 3, 3, 2, 1, 1},     {1, 2, 11, 10, 3, 3, 2, 3, 0, 1},
    {2, 2, 9, 9, 3, 3, 3, 1, 2, 2},     {3, 3, 13, 11, 5, 4, 3, 1, 0, 1},
    {4, 20, 12, 12, 50, 5, 5, 1, 0, 1}, {5, 1, 28, 28, 6, 5, 5, 1, 2, 1},
    {1, 1, 17, 17, 1, 9, 9, 1, 0, 1},   {3, 2, 6, 6, 2, 1, 1, 2, 1, 1},
    {8, 1, 20, 23, 12, 4, 3, 1, 2, 1},  {3, 1, 9, 5, 4, 1, 7, 1, 4, 1},
};

// Winograd's own grid (3x3, stride 1): an output of one pixel, batch 1 and one channel,
// non-square planes, padding 0 to 4 (backward-data reads dy "padded by 2 − p": a crop
// for p > 2), planes that are no multiple of any tile, 256 input channels, enough
// tiles for blocks that span rows of tiles and images, and 192 channels in and out (over
// a million transformed kernel values: that transform runs in parallel); with eight
// channels or more on both sides (lanes over channels), channel counts no multiple of
// eight and padding past the kernel's reach.
const Case kWinogradCases[] = {
    {1, 1, 3, 3, 1, 3, 3, 1, 0, 1},     {1, 1, 7, 13, 1, 3, 3, 1, 0, 1},
    {2, 3, 11, 6, 5, 3, 3, 1, 1, 1},    {2, 2, 9, 14, 3, 3, 3, 1, 2, 1},
    {1, 3, 5, 7, 2, 3, 3, 1, 3, 1},     {2, 2, 4, 5, 3, 3, 3, 1, 4, 1},
    {2, 256, 9, 10, 8, 3, 3, 1, 1, 1},  {1, 7, 13, 9, 256, 3, 3, 1, 1, 1},
    {5, 4, 31, 29, 6, 3, 3, 1, 1, 1},   {3, 17, 19, 23, 11, 3, 3, 1, 0, 1},
    {1, 192, 6, 7, 192, 3, 3, 1, 1, 1},  {3, 16, 15, 17, 24, 3, 3, 1, 1, 1},
    {2, 9, 8, 7, 10, 3, 3, 1, 2, 1},     {2, 12, 10, 9, 8, 3, 3, 1, 4, 1},
};

// The 5×5 branch, F(4×4, 5×5): an output of one pixel, batch 1 and one channel,
// non-square planes, padding 0 to 6 (backward-data reads dy "padded by 4 − p": a crop
// for p > 4; with 6 a plane smaller than the kernel), channel counts below, at and past
// one run of 16 lanes on both sides (17 and 19, 33 and 40), and LeNet's second layer.
const Case kWinograd5Cases[] = {
    {1, 1, 5, 5, 1, 5, 5, 1, 0, 1},     {1, 1, 7, 13, 1, 5, 5, 1, 0, 1},
    {2, 3, 11, 6, 5, 5, 5, 1, 2, 1},    {2, 2, 9, 14, 3, 5, 5, 1, 3, 1},
    {1, 3, 5, 7, 2, 5, 5, 1, 4, 1},     {2, 2, 4, 5, 3, 5, 5, 1, 6, 1},
    {3, 17, 13, 10, 19, 5, 5, 1, 4, 1}, {1, 33, 9, 14, 40, 5, 5, 1, 1, 1},
    {2, 16, 8, 8, 16, 5, 5, 1, 2, 1},   {4, 20, 12, 12, 50, 5, 5, 1, 0, 1},
};

ConvGeom geom(const Case& c) {
  return ConvGeom::make(c.N, c.C, c.H, c.W, c.K, c.KH, c.KW, c.stride, c.pad, c.dil);
}

std::vector<float> random_vec(std::size_t n, Rng& rng, float scale = 1.0f) {
  std::vector<float> v(n);
  for (auto& e : v) e = scale * rng.uniform(-1, 1);
  return v;
}

// max |got − want| / max |want|: the relative error the algorithms must keep under 1e-4.
double rel_error(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, scale = 1e-30;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, double(std::abs(got[i] - want[i])));
    scale = std::max(scale, double(std::abs(want[i])));
  }
  return diff / scale;
}

std::string describe(const ConvGeom& g) {
  return "N" + std::to_string(g.N) + " C" + std::to_string(g.C) + " " + std::to_string(g.H) +
         "x" + std::to_string(g.W) + " K" + std::to_string(g.K) + " k" + std::to_string(g.KH) +
         "x" + std::to_string(g.KW) + " s" + std::to_string(g.stride) + " p" +
         std::to_string(g.padding) + " d" + std::to_string(g.dilation);
}

struct Data {
  std::vector<float> x, w, b, dy;
  std::vector<float> y, dx, dw, db;  // reference results
};

// Inputs uniform in [−scale, scale].
Data make_data(const ConvGeom& g, Rng& rng, float scale = 1.0f) {
  Data d;
  d.x = random_vec(g.N * g.C * g.H * g.W, rng, scale);
  d.w = random_vec(g.K * g.C * g.KH * g.KW, rng, scale);
  d.b = random_vec(g.K, rng, scale);
  d.dy = random_vec(g.N * g.K * g.OH * g.OW, rng, scale);
  d.y.resize(d.dy.size());
  d.dx.resize(d.x.size());
  d.dw.assign(d.w.size(), 0.0f);
  d.db.assign(g.K, 0.0f);
  conv2d_direct_forward(g, d.x.data(), d.w.data(), d.b.data(), d.y.data());
  conv2d_direct_backward_data(g, d.dy.data(), d.w.data(), d.dx.data());
  conv2d_direct_backward_weights(g, d.x.data(), d.dy.data(), d.dw.data(), d.db.data());
  return d;
}

// Runs one algorithm's three passes and compares each with the reference. The weight
// gradients start from a non-zero value to check that they are added, not written.
template <class Fwd, class Bd, class Bw>
void check_algorithm(const ConvGeom& g, const Data& d, Fwd fwd, Bd bd, Bw bw) {
  std::vector<float> y(d.y.size(), 99.0f), dx(d.dx.size(), 99.0f);
  std::vector<float> dw(d.dw.size(), 0.5f), db(d.db.size(), 0.5f);
  fwd(y.data());
  bd(dx.data());
  bw(dw.data(), db.data());
  for (auto& v : dw) v -= 0.5f;
  for (auto& v : db) v -= 0.5f;
  EXPECT_LT(rel_error(y, d.y), 1e-4) << "forward " << describe(g);
  EXPECT_LT(rel_error(dx, d.dx), 1e-4) << "backward-data " << describe(g);
  EXPECT_LT(rel_error(dw, d.dw), 1e-4) << "backward-weights dw " << describe(g);
  EXPECT_LT(rel_error(db, d.db), 1e-4) << "backward-weights db " << describe(g);
}

void check_im2col(const ConvGeom& g, const Data& d, std::size_t limit) {
  Im2colWorkspace ws;
  ws.limit_bytes = limit;
  check_algorithm(
      g, d,
      [&](float* y) { conv2d_im2col_forward(g, d.x.data(), d.w.data(), d.b.data(), y, ws); },
      [&](float* dx) { conv2d_im2col_backward_data(g, d.dy.data(), d.w.data(), dx, ws); },
      [&](float* dw, float* db) {
        conv2d_im2col_backward_weights(g, d.x.data(), d.dy.data(), dw, db, ws);
      });
  // A limit below the minimum (per thread: one column, one staged column and, for
  // backward-weights, a K × C·KH·KW partial sum) is raised to that minimum.
  const std::size_t T = std::size_t(num_threads()), R = g.col_rows();
  const std::size_t minimum = T * (2 * (R + g.K) + g.K * R + g.K + 64) * sizeof(float);
  EXPECT_LE(ws.buffer.bytes(), std::max(limit, minimum)) << describe(g);
}

// FFT's three passes on the workspace ws (its tiling as set there), in a training step's
// order, so that the backward passes find forward's spectra.
void check_fft(const ConvGeom& g, const Data& d, FftWorkspace& ws) {
  check_algorithm(
      g, d, [&](float* y) { conv2d_fft_forward(g, d.x.data(), d.w.data(), d.b.data(), y, ws); },
      [&](float* dx) { conv2d_fft_backward_data(g, d.dy.data(), d.w.data(), dx, ws); },
      [&](float* dw, float* db) {
        conv2d_fft_backward_weights(g, d.x.data(), d.dy.data(), dw, db, ws);
      });
}

// Winograd with tile m (0: chosen by geometry); returns the largest relative error of
// the three passes, each also held to 1e-4 by check_algorithm.
double check_winograd(const ConvGeom& g, const Data& d, std::size_t m,
                      std::size_t limit = WinogradWorkspace::kDefaultLimit) {
  WinogradWorkspace ws;
  ws.tile = m;
  ws.limit_bytes = limit;
  std::vector<float> y(d.y.size()), dx(d.dx.size()), dw(d.dw.size(), 0.0f);
  check_algorithm(
      g, d,
      [&](float* out) {
        conv2d_winograd_forward(g, d.x.data(), d.w.data(), d.b.data(), out, ws);
        std::copy(out, out + y.size(), y.begin());
      },
      [&](float* out) {
        conv2d_winograd_backward_data(g, d.dy.data(), d.w.data(), out, ws);
        std::copy(out, out + dx.size(), dx.begin());
      },
      [&](float* out_w, float* out_b) {
        conv2d_winograd_backward_weights(g, d.x.data(), d.dy.data(), out_w, out_b, ws);
      });
  conv2d_winograd_backward_weights(g, d.x.data(), d.dy.data(), dw.data(), nullptr, ws);
  // Within the limit, or the minimum (one tile per block) where that is larger.
  std::size_t bound = limit;
  for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights})
    bound = std::max(bound, conv2d_winograd_workspace_bytes(g, pass, num_threads(), 0, m));
  EXPECT_LE(ws.buffer.bytes(), bound) << describe(g);
  return std::max({rel_error(y, d.y), rel_error(dx, d.dx), rel_error(dw, d.dw)});
}

// call() throws Error whose message names `who` (a path's function run on a geometry it
// is not written for).
template <class F>
void expect_error_naming(const ConvGeom& g, const char* who, F&& call) {
  try {
    call();
    ADD_FAILURE() << "no throw for " << describe(g) << " in " << who;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(who), std::string::npos) << e.what();
  }
}

class ConvThreads : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    saved_ = num_threads();
    set_num_threads(GetParam());
  }
  void TearDown() override { set_num_threads(saved_); }
  int saved_ = 1;
};

}  // namespace

TEST(ConvDirect, HandComputedForward) {
  // 1x1x3x3 input 1..9, 2x2 kernel [[1, 0], [0, -1]], bias 0.5: y = x[i,j] − x[i+1,j+1] + 0.5.
  const ConvGeom g = ConvGeom::make(1, 1, 3, 3, 1, 2, 2);
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 0, 0, -1}, b[1] = {0.5f};
  float y[4];
  conv2d_direct_forward(g, x, w, b, y);
  for (float v : y) EXPECT_FLOAT_EQ(v, -3.5f);
}

TEST_P(ConvThreads, Im2colMatchesDirect) {
  Rng rng(11);
  for (const Case& c : kCases) {
    const ConvGeom g = geom(c);
    const Data d = make_data(g, rng);
    check_im2col(g, d, Im2colWorkspace::kDefaultLimit);
  }
}

TEST_P(ConvThreads, Im2colMatchesDirectWithATinyWorkspace) {
  // A workspace too small for one image's columns: images are split into parts.
  Rng rng(12);
  for (const Case& c : kCases) {
    const ConvGeom g = geom(c);
    const Data d = make_data(g, rng);
    check_im2col(g, d, 2048);
  }
}

TEST_P(ConvThreads, FftMatchesDirect) {
  Rng rng(13);
  for (const Case& c : kCases) {
    const ConvGeom g = geom(c);
    if (!conv_algo_eligible(ConvAlgo::FFT, g)) continue;
    const Data d = make_data(g, rng);
    FftWorkspace ws;
    check_fft(g, d, ws);
  }
}

// Overlap-save tiles against the direct loops on every FFT case: tiles one larger than
// the kernel (blocks of one or two outputs, many per plane, the last cropped), a few
// larger, and 16 (one block, or a few, per plane); and whole planes forced.
TEST_P(ConvThreads, FftTilesMatchDirect) {
  Rng rng(23);
  for (const Case& c : kCases) {
    const ConvGeom g = geom(c);
    if (!conv_algo_eligible(ConvAlgo::FFT, g)) continue;
    const Data d = make_data(g, rng);
    const std::size_t k = std::max(g.KH, g.KW);
    for (std::size_t tile : {k + 1, k + 3, std::size_t{16}, FftWorkspace::kWholePlanes}) {
      if (tile != FftWorkspace::kWholePlanes && tile <= k) continue;
      SCOPED_TRACE("tile " + std::to_string(tile));
      FftWorkspace ws;
      ws.tile = tile;
      check_fft(g, d, ws);
      EXPECT_EQ(ws.tiled, tile == FftWorkspace::kWholePlanes ? 0 : tile);
    }
  }
}

// With tiles, backward-weights still reuses forward's x spectrum (by address), but the
// two backward passes cut dy differently: each transforms its own.
TEST_P(ConvThreads, FftTilesReuseXButNotDyAcrossBackwardPasses) {
  Rng rng(24);
  const ConvGeom g = ConvGeom::make(2, 3, 19, 17, 4, 5, 4, 1, 3);
  const Data d = make_data(g, rng);
  FftWorkspace ws;
  ws.tile = 8;
  std::vector<float> x = d.x, dy = d.dy;
  std::vector<float> y(d.y.size()), dx(d.dx.size()), dw(d.dw.size(), 0.0f), db(g.K, 0.0f);
  conv2d_fft_forward(g, x.data(), d.w.data(), d.b.data(), y.data(), ws);
  std::fill(x.begin(), x.end(), std::nanf(""));
  conv2d_fft_backward_weights(g, x.data(), dy.data(), dw.data(), db.data(), ws);
  EXPECT_LT(rel_error(dw, d.dw), 1e-4);
  // Whole planes would hand this pass the dy spectrum above; tiles read dy again.
  std::vector<float> dy2 = d.dy;
  for (float& v : dy2) v *= 2.0f;
  std::copy(dy2.begin(), dy2.end(), dy.begin());
  conv2d_fft_backward_data(g, dy.data(), d.w.data(), dx.data(), ws);
  std::vector<float> twice = d.dx;
  for (float& v : twice) v *= 2.0f;
  EXPECT_LT(rel_error(dx, twice), 1e-4);
}

TEST_P(ConvThreads, FftBackwardReusesTheSpectraOfForward) {
  Rng rng(14);
  const ConvGeom g = ConvGeom::make(3, 4, 10, 9, 5, 3, 4, 1, 1);
  const Data d = make_data(g, rng);
  FftWorkspace ws;
  std::vector<float> x = d.x, w = d.w, dy = d.dy;
  std::vector<float> y(d.y.size()), dx(d.dx.size()), dw(d.dw.size(), 0.0f), db(g.K, 0.0f);
  conv2d_fft_forward(g, x.data(), w.data(), d.b.data(), y.data(), ws);
  // Reuse goes by address: overwrite x and w where they were, and the backward passes
  // still see the values forward transformed.
  std::fill(x.begin(), x.end(), std::nanf(""));
  std::fill(w.begin(), w.end(), std::nanf(""));
  conv2d_fft_backward_weights(g, x.data(), dy.data(), dw.data(), db.data(), ws);
  // The dy spectrum serves the next backward pass too, and only that one.
  std::fill(dy.begin(), dy.end(), std::nanf(""));
  conv2d_fft_backward_data(g, dy.data(), w.data(), dx.data(), ws);
  EXPECT_LT(rel_error(dx, d.dx), 1e-4);
  EXPECT_LT(rel_error(dw, d.dw), 1e-4);
  EXPECT_LT(rel_error(db, d.db), 1e-4);
  conv2d_fft_backward_data(g, dy.data(), w.data(), dx.data(), ws);
  EXPECT_TRUE(std::isnan(dx[0]));  // dy transformed anew, NaN and all
  // forget() drops every spectrum: x and w are read again.
  ws.forget();
  std::fill(dw.begin(), dw.end(), 0.0f);
  conv2d_fft_backward_weights(g, x.data(), d.dy.data(), dw.data(), nullptr, ws);
  EXPECT_TRUE(std::isnan(dw[0]));
  // A second call of the same pass transforms dy anew, even at the same address.
  std::vector<float> dy2 = d.dy;
  std::fill(dw.begin(), dw.end(), 0.0f);
  conv2d_fft_backward_weights(g, d.x.data(), dy2.data(), dw.data(), nullptr, ws);
  for (float& v : dy2) v *= 2.0f;
  std::vector<float> dw2(dw.size(), 0.0f), twice(d.dw);
  for (float& v : twice) v *= 2.0f;
  conv2d_fft_backward_weights(g, d.x.data(), dy2.data(), dw2.data(), nullptr, ws);
  EXPECT_LT(rel_error(dw2, twice), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Threads, ConvThreads, ::testing::Values(1, 2));

TEST(ConvFft, RejectsStrideAndDilation) {
  FftWorkspace ws;
  std::vector<float> buf(1000);
  const ConvGeom strided = ConvGeom::make(1, 1, 8, 8, 1, 3, 3, 2);
  try {
    conv2d_fft_forward(strided, buf.data(), buf.data(), nullptr, buf.data(), ws);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stride 2"), std::string::npos) << e.what();
  }
  const ConvGeom dilated = ConvGeom::make(1, 1, 8, 8, 1, 3, 3, 1, 0, 2);
  EXPECT_THROW(conv2d_fft_forward(dilated, buf.data(), buf.data(), nullptr, buf.data(), ws),
               Error);
}

// The tiling by geometry: tiles where the model prices them lower (7×7 and 9×9 kernels
// on large planes, bench_conv's F1 and F2), whole planes for an 11×11 kernel on 64²
// (S4), for planes no larger than a tile, and for a kernel too large for any tile.
TEST(ConvFft, TileSizeByGeometry) {
  EXPECT_EQ(fft_tile_size(ConvGeom::make(16, 64, 56, 56, 64, 7, 7, 1, 3)), 16u);
  EXPECT_EQ(fft_tile_size(ConvGeom::make(8, 32, 96, 96, 32, 9, 9, 1, 4)), 32u);
  EXPECT_EQ(fft_tile_size(ConvGeom::make(16, 16, 64, 64, 16, 11, 11, 1, 0)), 0u);
  EXPECT_EQ(fft_tile_size(ConvGeom::make(64, 20, 12, 12, 50, 5, 5, 1, 0)), 0u);
  EXPECT_EQ(fft_tile_size(ConvGeom::make(1, 1, 512, 512, 1, 65, 65, 1, 0)), 0u);
  // A tile no larger than the kernel is an Error naming both.
  const ConvGeom g = ConvGeom::make(1, 1, 20, 20, 1, 5, 3, 1, 0);
  std::vector<float> x(400), w(15), y(g.N * g.K * g.OH * g.OW);
  FftWorkspace ws;
  ws.tile = 5;
  try {
    conv2d_fft_forward(g, x.data(), w.data(), nullptr, y.data(), ws);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tiles of 5x5 are too small for a 5x3 kernel"),
              std::string::npos)
        << e.what();
  }
}

// A forced tile past 16384 (whose T × T floats could overflow a size) is an Error naming
// it, before anything is allocated.
TEST(ConvFft, AHugeTileIsAnError) {
  const ConvGeom g = ConvGeom::make(1, 1, 20, 20, 1, 3, 3, 1, 1);
  std::vector<float> x(400), w(9), y(400);
  FftWorkspace ws;
  ws.tile = std::size_t{1} << 33;
  try {
    conv2d_fft_forward(g, x.data(), w.data(), nullptr, y.data(), ws);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tiles of 8589934592x8589934592 are larger"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(ws.bytes(), 0u);
}

TEST(ConvFft, TransformSizeIsFastAndCoversThePaddedInput) {
  EXPECT_EQ(fft_conv_size(28, 0), 28u);
  EXPECT_EQ(fft_conv_size(12, 0), 12u);
  EXPECT_EQ(fft_conv_size(56, 1), 60u);
  EXPECT_EQ(fft_conv_size(13, 0), 14u);
  EXPECT_EQ(fft_conv_size(100, 0), 100u);
}

TEST(ConvIm2col, WorkspaceStaysWithinItsBound) {
  // The benchmark shapes, from LeNet to AlexNet's first layer, at the default limit.
  const ConvGeom shapes[] = {
      ConvGeom::make(64, 1, 28, 28, 20, 5, 5),        ConvGeom::make(64, 20, 12, 12, 50, 5, 5),
      ConvGeom::make(32, 64, 56, 56, 64, 3, 3, 1, 1), ConvGeom::make(16, 16, 64, 64, 16, 11, 11),
      ConvGeom::make(1, 1, 512, 512, 1, 15, 15),      ConvGeom::make(8, 3, 227, 227, 64, 11, 11, 4),
      ConvGeom::make(32, 32, 32, 32, 64, 5, 5, 1, 2),
  };
  for (const ConvGeom& g : shapes)
    for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights})
      for (int t : {1, 2, 8})
        EXPECT_LE(conv2d_im2col_workspace_bytes(g, pass, t), Im2colWorkspace::kDefaultLimit)
            << describe(g) << " " << to_string(pass) << " threads " << t;
}

TEST(ConvSelect, ChoosesOnlyEligibleAlgorithms) {
  const ConvGeom strided = ConvGeom::make(8, 3, 227, 227, 64, 11, 11, 4);
  for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights})
    EXPECT_NE(conv_select(strided, pass, 2, Im2colWorkspace::kDefaultLimit).algo, ConvAlgo::FFT);
  EXPECT_FALSE(conv_algo_eligible(ConvAlgo::FFT, strided));
  EXPECT_TRUE(conv_algo_eligible(ConvAlgo::Im2colGemm, strided));
}

TEST(ConvSelect, WinogradForThreeByThreeLayersWithChannels) {
  // bench_conv's S3 and R3: Winograd ran every pass 2 to 3 times faster than im2col; with
  // stride 2 (R5) it is not eligible.
  for (const ConvGeom& g : {ConvGeom::make(32, 64, 56, 56, 64, 3, 3, 1, 1),
                            ConvGeom::make(64, 32, 14, 14, 32, 3, 3, 1, 1)})
    for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
      const ConvChoice c = conv_select(g, pass, 2, Im2colWorkspace::kDefaultLimit);
      EXPECT_EQ(c.algo, ConvAlgo::Winograd) << describe(g) << " " << to_string(pass);
      EXPECT_EQ(c.workspace_bytes, conv_workspace_bytes(ConvAlgo::Winograd, g, pass, 2));
    }
  const ConvGeom strided = ConvGeom::make(64, 16, 28, 28, 32, 3, 3, 2, 1);
  EXPECT_NE(conv_select(strided, ConvPass::Forward, 2, Im2colWorkspace::kDefaultLimit).algo,
            ConvAlgo::Winograd);
}

TEST(ConvSelect, AutotuneTimesAndCachesTheWinner) {
  const ConvGeom g = ConvGeom::make(2, 3, 12, 12, 4, 5, 5, 1, 2);
  const ConvChoice a = conv_autotune(g, ConvPass::Forward, 1, Im2colWorkspace::kDefaultLimit);
  EXPECT_TRUE(a.measured);
  EXPECT_GT(a.seconds, 0.0);
  EXPECT_NE(a.algo, ConvAlgo::Auto);
  const ConvChoice b = conv_autotune(g, ConvPass::Forward, 1, Im2colWorkspace::kDefaultLimit);
  EXPECT_EQ(a.algo, b.algo);
  EXPECT_EQ(a.seconds, b.seconds);  // from the cache, not timed again
}

TEST(ConvTypes, NamesRoundTrip) {
  for (ConvAlgo a : {ConvAlgo::Auto, ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT,
                     ConvAlgo::Winograd})
    EXPECT_EQ(parse_conv_algo(to_string(a)), a);
  EXPECT_EQ(to_string(ConvAlgo::Winograd), "winograd");
  EXPECT_THROW(parse_conv_algo("wino"), Error);
  EXPECT_EQ(to_string(ConvPass::BackwardData), "backward-data");
}

TEST(ConvFft, OneLargePlaneSplitOverThreadsMatchesDirect) {
  // One 256x256 plane: fewer planes than threads, so FFTW splits each transform.
  const int saved = num_threads();
  set_num_threads(2);
  Rng rng(15);
  const ConvGeom g = ConvGeom::make(1, 1, 250, 252, 1, 7, 5, 1, 3);
  const Data d = make_data(g, rng);
  FftWorkspace ws;
  check_fft(g, d, ws);
  set_num_threads(saved);
}

// Called from inside a caller's own OpenMP loop, where OpenMP runs the library's regions
// on one thread, every algorithm still does all of its work (loops that share work out
// by thread index once did only the first thread's share: Winograd's 3×3 passes were
// 58% to 91% off). Two threads asked for, shapes that give each a share.
TEST(ConvDispatch, EveryAlgorithmInsideACallersParallelRegion) {
  const int saved = num_threads();
  set_num_threads(2);
  const ConvGeom shapes[] = {
      ConvGeom::make(8, 16, 20, 20, 16, 3, 3, 1, 1),  // Winograd 3×3 (lanes over channels)
      ConvGeom::make(8, 3, 20, 20, 5, 3, 3, 1, 1),    // Winograd 3×3 (lanes over tiles)
      ConvGeom::make(8, 16, 20, 20, 16, 5, 5, 1, 2),  // Winograd 5×5
      ConvGeom::make(8, 1, 30, 30, 8, 5, 5, 1, 0),    // im2col's one-channel path
      ConvGeom::make(8, 6, 15, 15, 8, 3, 3, 2, 1),    // im2col's chunks, stride 2
  };
  Rng rng(22);
  for (const ConvGeom& g : shapes) {
    const Data d = make_data(g, rng);
    for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd, ConvAlgo::Depthwise}) {
      if (!conv_algo_eligible(a, g)) continue;
      SCOPED_TRACE(to_string(a) + " " + describe(g));
      ConvWorkspace ws;
      std::vector<float> y(d.y.size()), dx(d.dx.size()), dw(d.dw.size(), 0.0f), db(g.K, 0.0f);
      const ConvTensors t{.x = d.x.data(), .w = d.w.data(), .b = d.b.data(), .dy = d.dy.data(),
                          .y = y.data(), .dx = dx.data(), .dw = dw.data(), .db = db.data()};
#pragma omp parallel num_threads(2)
      {
#pragma omp single
        {
          conv2d_run(a, ConvPass::Forward, g, t, ws);
          conv2d_run(a, ConvPass::BackwardData, g, t, ws);
          conv2d_run(a, ConvPass::BackwardWeights, g, t, ws);
        }
      }
      EXPECT_LT(rel_error(y, d.y), 1e-4);
      EXPECT_LT(rel_error(dx, d.dx), 1e-4);
      EXPECT_LT(rel_error(dw, d.dw), 1e-4);
      EXPECT_LT(rel_error(db, d.db), 1e-4);
    }
  }
  set_num_threads(saved);
}

// One NaN pixel reaches the same outputs, those it touches, in every algorithm.
TEST(ConvDispatch, NanAndInfReachTheSameOutputsInEveryAlgorithm) {
  const ConvGeom g = ConvGeom::make(2, 2, 9, 8, 3, 3, 3, 1, 1);
  Rng rng(21);
  const Data d = make_data(g, rng);
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = d.x, dy = d.dy;
    x[1 * g.C * g.H * g.W + 0 * g.H * g.W + 4 * g.W + 3] = bad;  // image 1, channel 0, (4, 3)
    dy[5] = bad;
    std::vector<std::vector<float>> ys, dxs, dws;
    for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd}) {
      ConvWorkspace ws;
      std::vector<float> y(d.y.size()), dx(d.dx.size()), dw(d.dw.size(), 0.0f);
      const ConvTensors t{.x = x.data(), .w = d.w.data(), .b = d.b.data(), .dy = dy.data(),
                          .y = y.data(), .dx = dx.data(), .dw = dw.data()};
      conv2d_run(a, ConvPass::Forward, g, t, ws);
      conv2d_run(a, ConvPass::BackwardData, g, t, ws);
      conv2d_run(a, ConvPass::BackwardWeights, g, t, ws);
      ys.push_back(y), dxs.push_back(dx), dws.push_back(dw);
    }
    const auto finite_mask = [](const std::vector<float>& v) {
      std::vector<bool> m;
      for (float e : v) m.push_back(std::isfinite(e));
      return m;
    };
    std::size_t touched = 0;
    for (bool f : finite_mask(ys[0])) touched += !f;
    EXPECT_EQ(touched, 3u * 3u * 3u);  // the 3×3 window around the pixel in each of K = 3 planes
    for (std::size_t i = 1; i < ys.size(); ++i) {
      EXPECT_EQ(finite_mask(ys[i]), finite_mask(ys[0])) << "forward, algorithm " << i;
      EXPECT_EQ(finite_mask(dxs[i]), finite_mask(dxs[0])) << "backward-data, algorithm " << i;
      EXPECT_EQ(finite_mask(dws[i]), finite_mask(dws[0])) << "backward-weights, algorithm " << i;
    }
  }
}

// The scan for NaN and Inf runs in pieces over the threads: a bad value in the last
// piece of a large input, or in a middle one, is found as well as in the first.
TEST(ConvDispatch, NanAnywhereInALargeInputIsFound) {
  const ConvGeom g = ConvGeom::make(2, 4, 64, 66, 2, 3, 3, 1, 1);
  Rng rng(22);
  const Data d = make_data(g, rng);
  ASSERT_GT(d.x.size(), std::size_t{2} << 14);  // several pieces
  for (std::size_t at : {d.x.size() - 1, d.x.size() / 2 + 7}) {
    std::vector<float> x = d.x;
    x[at] = std::nanf("");
    std::vector<std::vector<bool>> masks;
    for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::FFT, ConvAlgo::Winograd}) {
      ConvWorkspace ws;
      std::vector<float> y(d.y.size());
      const ConvTensors t{.x = x.data(), .w = d.w.data(), .b = d.b.data(), .y = y.data()};
      conv2d_run(a, ConvPass::Forward, g, t, ws);
      std::vector<bool> bad;
      for (float e : y) bad.push_back(!std::isfinite(e));
      masks.push_back(bad);
    }
    std::size_t touched = 0;
    for (bool b : masks[0]) touched += b;
    EXPECT_GE(touched, 2u * 2u * 2u) << at;  // at least a corner's 2×2 window in K = 2 planes
    EXPECT_LE(touched, 3u * 3u * 2u) << at;
    EXPECT_EQ(masks[1], masks[0]) << "FFT, NaN at " << at;
    EXPECT_EQ(masks[2], masks[0]) << "Winograd, NaN at " << at;
  }
}

// Finite inputs whose transforms overflow: FFT's sums over a plane and Winograd's over
// a tile pass 3.4e38 where the nine products of each output do not. The pass whose
// output is not finite runs again by im2col and gives im2col's finite values, and
// backward-weights adds into dw and db as they were before it (1 and 2 here, not 0).
TEST(ConvDispatch, TransformsThatOverflowGiveWayToIm2col) {
  const ConvGeom g = ConvGeom::make(2, 3, 8, 8, 2, 3, 3, 1, 1);
  Rng rng(23);
  const auto big = [&](std::size_t n) {  // 1e37..3.5e37: nine of them times w ≤ 1 stay finite
    std::vector<float> v(n);
    for (auto& e : v) e = 1e37f + 2.5e37f * rng.uniform(0, 1);
    return v;
  };
  const auto in = [&](std::size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (auto& e : v) e = lo + (hi - lo) * rng.uniform(0, 1);
    return v;
  };
  const std::size_t xs = g.N * g.C * g.H * g.W, ys = g.N * g.K * g.OH * g.OW;
  // Forward and backward-data: the large values in x and dy, w / 3 so that the three
  // channels' sums stay finite. Backward-weights: x large, dy 1e-3 small.
  const std::vector<float> x = big(xs), dy = big(ys), w = in(g.weight_numel(), 0.1f, 0.33f),
                           dy_small = in(ys, 1e-4f, 1e-3f);
  const auto run = [&](ConvAlgo a, std::vector<float>& y, std::vector<float>& dx,
                       std::vector<float>& dw, std::vector<float>& db) {
    ConvWorkspace ws;
    y.assign(ys, 0.0f), dx.assign(xs, 0.0f), dw.assign(g.weight_numel(), 1.0f), db.assign(g.K, 2.0f);
    const ConvTensors t{.x = x.data(), .w = w.data(), .dy = dy.data(), .y = y.data(),
                        .dx = dx.data()};
    conv2d_run(a, ConvPass::Forward, g, t, ws);
    conv2d_run(a, ConvPass::BackwardData, g, t, ws);
    const ConvTensors tw{.x = x.data(), .dy = dy_small.data(), .dw = dw.data(), .db = db.data()};
    conv2d_run(a, ConvPass::BackwardWeights, g, tw, ws);
  };
  std::vector<float> y0, dx0, dw0, db0;
  run(ConvAlgo::Im2colGemm, y0, dx0, dw0, db0);
  const auto finite = [](const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float e) { return std::isfinite(e); });
  };
  ASSERT_TRUE(finite(y0) && finite(dx0) && finite(dw0) && finite(db0));
  // The transforms do overflow: called on their own, FFT and Winograd write an Inf or NaN.
  {
    std::vector<float> y(ys);
    WinogradWorkspace ww;
    conv2d_winograd_forward(g, x.data(), w.data(), nullptr, y.data(), ww);
    EXPECT_FALSE(finite(y));
    FftWorkspace fw;
    conv2d_fft_forward(g, x.data(), w.data(), nullptr, y.data(), fw);
    EXPECT_FALSE(finite(y));
  }
  for (ConvAlgo a : {ConvAlgo::FFT, ConvAlgo::Winograd}) {
    std::vector<float> y, dx, dw, db;
    run(a, y, dx, dw, db);
    EXPECT_EQ(y, y0) << to_string(a);
    EXPECT_EQ(dx, dx0) << to_string(a);
    EXPECT_EQ(dw, dw0) << to_string(a);
    EXPECT_EQ(db, db0) << to_string(a);
  }
}

TEST_P(ConvThreads, WinogradMatchesDirect) {
  // Every tile size on the shared grid (where eligible) and on Winograd's own, inputs of
  // scale 1 and 1e3; the largest error per tile size is printed, to compare with the
  // table of docs/walkthrough.md.
  Rng rng(16);
  std::vector<const Case*> cases;
  for (const Case& c : kCases)
    if (c.KH == 3 && conv_algo_eligible(ConvAlgo::Winograd, geom(c))) cases.push_back(&c);
  for (const Case& c : kWinogradCases) cases.push_back(&c);
  EXPECT_EQ(cases.size(), 17u);
  std::vector<double> worst(winograd_tile_sizes().size(), 0.0);
  for (const Case* c : cases) {
    const ConvGeom g = geom(*c);
    for (float scale : {1.0f, 1e3f}) {
      const Data d = make_data(g, rng, scale);
      for (std::size_t i = 0; i < winograd_tile_sizes().size(); ++i)
        worst[i] = std::max(worst[i], check_winograd(g, d, winograd_tile_sizes()[i]));
      check_winograd(g, d, 0);
    }
  }
  for (std::size_t i = 0; i < worst.size(); ++i)
    std::printf("F(%zux%zu, 3x3): largest relative error %.2e\n", winograd_tile_sizes()[i],
                winograd_tile_sizes()[i], worst[i]);
}

TEST_P(ConvThreads, Winograd5x5MatchesDirect) {
  // F(4×4, 5×5) on its own grid and on the shared one's 5×5 cases, inputs of scale 1
  // and 1e3; the tile setting (for 3×3 kernels) leaves it alone. Backward-data takes
  // both of its forms: the scatter of dy's tiles (padding 0 and 1, five cases) and the
  // correlation with the turned kernels. The largest error is printed, to compare with
  // the table of the README.
  Rng rng(18);
  std::vector<const Case*> cases;
  for (const Case& c : kCases)
    if (c.KH == 5 && conv_algo_eligible(ConvAlgo::Winograd, geom(c))) cases.push_back(&c);
  EXPECT_EQ(cases.size(), 2u);
  for (const Case& c : kWinograd5Cases) cases.push_back(&c);
  double worst = 0.0;
  std::size_t scattered = 0;
  for (const Case* c : cases) {
    const ConvGeom g = geom(*c);
    ASSERT_TRUE(conv_algo_eligible(ConvAlgo::Winograd, g)) << describe(g);
    const std::size_t dx_tiles = g.N * ((g.H + 3) / 4) * ((g.W + 3) / 4);
    scattered += winograd5_backward_data_tiles(g) < dx_tiles;
    EXPECT_EQ(winograd_tile_size(g, ConvPass::BackwardData), 4u);
    for (float scale : {1.0f, 1e3f}) {
      const Data d = make_data(g, rng, scale);
      worst = std::max(worst, check_winograd(g, d, 0));
      const double with_tile = check_winograd(g, d, 2);
      EXPECT_EQ(with_tile, check_winograd(g, d, 0)) << describe(g);
    }
  }
  EXPECT_EQ(scattered, 5u);
  std::printf("F(4x4, 5x5): largest relative error %.2e\n", worst);
}

TEST_P(ConvThreads, WinogradMatchesDirectWithATinyWorkspace) {
  // A limit below the minimum: one tile per block, blocks end mid-row.
  Rng rng(17);
  for (const Case& c : kWinogradCases) {
    const ConvGeom g = geom(c);
    const Data d = make_data(g, rng);
    for (std::size_t m : winograd_tile_sizes()) check_winograd(g, d, m, 1024);
  }
  // 5×5: one image per group of copies, blocks of one tile.
  for (const Case& c : kWinograd5Cases) {
    const ConvGeom g = geom(c);
    check_winograd(g, make_data(g, rng), 0, 1024);
  }
}

TEST(ConvWinograd, MatricesCorrelateExactlyIn1D) {
  // y = Aᵀ [(G g) ⊙ (Bᵀ d)] must be y_i = Σ_j g_j d_(i+j), in double on small integers.
  for (std::size_t m : winograd_tile_sizes()) {
    const WinogradMatrices t = winograd_matrices(m);
    ASSERT_EQ(t.alpha, m + 2);
    ASSERT_EQ(t.Bt.size(), t.alpha * t.alpha);
    const double g[3] = {2, -1, 3};
    std::vector<double> d(t.alpha), u(t.alpha), v(t.alpha);
    for (std::size_t i = 0; i < t.alpha; ++i) d[i] = double(i * i % 7) - 3.0;
    for (std::size_t p = 0; p < t.alpha; ++p) {
      u[p] = v[p] = 0;
      for (std::size_t j = 0; j < 3; ++j) u[p] += t.G[p * 3 + j] * g[j];
      for (std::size_t i = 0; i < t.alpha; ++i) v[p] += t.Bt[p * t.alpha + i] * d[i];
    }
    for (std::size_t i = 0; i < m; ++i) {
      double y = 0, want = 0;
      for (std::size_t p = 0; p < t.alpha; ++p) y += t.At[i * t.alpha + p] * u[p] * v[p];
      for (std::size_t j = 0; j < 3; ++j) want += g[j] * d[i + j];
      EXPECT_NEAR(y, want, 1e-5 * 30) << "F(" << m << ", 3) output " << i;
    }
  }
  // F(2, 3) by hand: 4 multiplications for 2 outputs of a 3-tap filter.
  const WinogradMatrices f2 = winograd_matrices(2);
  const std::vector<float> bt = {1, 0, -1, 0, 0, 1, 1, 0, 0, -1, 1, 0, 0, -1, 0, 1};
  EXPECT_EQ(f2.Bt, bt);
  EXPECT_THROW(winograd_matrices(3), Error);
}

TEST_P(ConvThreads, PointwiseMatchesDirect) {
  // im2col's pointwise path (1×1, padding 0): batch 1 (small, and large enough that its
  // GEMMs take OpenBLAS's threads), strides 1, 2 and 3 on odd planes, images shared
  // among the threads, a ResNet projection's shape; and with a limit too small for a
  // strided pass's scratch, the chunked path instead.
  Rng rng(23);
  const Case cases[] = {
      {1, 3, 7, 5, 4, 1, 1, 1, 0, 1},     {1, 64, 20, 20, 32, 1, 1, 1, 0, 1},
      {5, 16, 9, 11, 24, 1, 1, 2, 0, 1},  {3, 8, 10, 7, 6, 1, 1, 3, 0, 1},
      {6, 16, 12, 12, 16, 1, 1, 1, 0, 1}, {4, 32, 14, 14, 64, 1, 1, 2, 0, 1},
      {2, 4, 5, 6, 3, 1, 1, 1, 0, 2},
  };
  const int T = num_threads();
  for (const Case& c : cases) {
    const ConvGeom g = geom(c);
    for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights})
      ASSERT_TRUE(pointwise_eligible(g, pass, T, Im2colWorkspace::kDefaultLimit)) << describe(g);
    const Data d = make_data(g, rng);
    check_im2col(g, d, Im2colWorkspace::kDefaultLimit);
    if (g.stride > 1) {
      EXPECT_FALSE(pointwise_eligible(g, ConvPass::Forward, T, 64)) << describe(g);
      check_im2col(g, d, 64);
    }
  }
}

TEST_P(ConvThreads, StridedMatchesDirect) {
  // im2col's strided path (stride 2 or more, AVX-512): R5 of bench_conv cut to six images,
  // batch 1 with rows and (image, channel) pairs shared within one image, output channels
  // no multiple of 16 (17, 40, 80: vector pairs and a last single vector), non-square
  // planes and kernels, strides 2, 3 and 4 (a stride above the kernel: dx rows and
  // columns no tap reaches), padding past the kernel, rows of several register blocks,
  // a 7×7 kernel (taps in several blocks), one input channel (forward and
  // backward-weights only); and with a limit too small for its scratch, the chunked
  // path instead.
  Rng rng(29);
  const Case cases[] = {
      {6, 16, 28, 28, 32, 3, 3, 2, 1, 1},  {1, 16, 64, 64, 64, 3, 3, 2, 1, 1},
      {1, 16, 9, 13, 17, 3, 3, 2, 1, 1},   {2, 20, 11, 10, 16, 3, 3, 3, 3, 1},
      {3, 33, 12, 9, 48, 5, 5, 2, 2, 1},   {2, 16, 8, 15, 40, 2, 3, 2, 0, 1},
      {2, 16, 14, 14, 80, 3, 3, 2, 1, 1},  {1, 16, 40, 61, 32, 3, 3, 2, 1, 1},
      {2, 16, 23, 21, 16, 7, 7, 2, 3, 1},  {2, 1, 15, 15, 16, 3, 3, 2, 1, 1},
      {1, 16, 6, 7, 16, 3, 3, 2, 4, 1},    {2, 16, 9, 9, 16, 2, 2, 4, 0, 1},
  };
  const int T = num_threads();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512) std::printf("no AVX-512: the strided path is off, im2col's chunks checked\n");
  for (const Case& c : cases) {
    const ConvGeom g = geom(c);
    for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
      const bool wide = (pass == ConvPass::BackwardData ? g.C : g.K) >= 16;
      EXPECT_EQ(strided_eligible(g, pass, T, Im2colWorkspace::kDefaultLimit), avx512 && wide)
          << describe(g) << " " << to_string(pass);
    }
    const Data d = make_data(g, rng);
    check_im2col(g, d, Im2colWorkspace::kDefaultLimit);
    EXPECT_FALSE(strided_eligible(g, ConvPass::Forward, T, 1024)) << describe(g);
    check_im2col(g, d, 1024);
  }
}

TEST(ConvStrided, OtherGeometriesAreErrorsNamingTheFunction) {
  // Stride 1, two groups, dilation 2, 8 output channels (8 input channels for
  // backward-data), a 7×8 kernel, a stride past the plane (whose classes of columns the
  // path would have walked one by one): never taken by im2col, an Error when called
  // directly.
  // More channels than the path pays for: left to the chunks, though it would run.
  for (const ConvGeom& g : {ConvGeom::make(1, 16, 8, 8, 144, 3, 3, 2, 1),
                            ConvGeom::make(1, 80, 8, 8, 16, 3, 3, 2, 1)}) {
    const bool wide_out = g.K > 128, avx512 = __builtin_cpu_supports("avx512f");
    const std::size_t limit = std::size_t{1} << 30;
    EXPECT_EQ(strided_eligible(g, ConvPass::Forward, 1, limit), avx512 && !wide_out);
    EXPECT_EQ(strided_eligible(g, ConvPass::BackwardWeights, 1, limit), avx512 && !wide_out);
    EXPECT_EQ(strided_eligible(g, ConvPass::BackwardData, 1, limit), avx512 && wide_out);
  }
  std::vector<float> buf(1 << 16);
  const ConvGeom cases[] = {
      ConvGeom::make(1, 16, 8, 8, 16, 3, 3),
      ConvGeom::make(1, 32, 8, 8, 32, 3, 3, 2, 1).grouped(2),
      ConvGeom::make(1, 16, 12, 12, 16, 3, 3, 2, 1, 2),
      ConvGeom::make(1, 8, 8, 8, 8, 3, 3, 2, 1),
      ConvGeom::make(1, 16, 20, 20, 16, 7, 8, 2, 1),
      ConvGeom::make(1, 16, 3, 3, 16, 3, 3, 1000000000, 0),
  };
  for (const ConvGeom& g : cases) {
    for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights})
      EXPECT_FALSE(strided_eligible(g, pass, 1, std::size_t{1} << 30)) << describe(g);
    const auto expect_named = [&](const char* who, auto&& call) { expect_error_naming(g, who, call); };
    float* p = buf.data();
    expect_named("strided_forward", [&] { strided_forward(g, p, p, nullptr, p, p, 1); });
    expect_named("strided_backward_data", [&] { strided_backward_data(g, p, p, p, p, 1); });
    expect_named("strided_backward_weights",
                 [&] { strided_backward_weights(g, p, p, p, nullptr, p, 1); });
  }
  // Through im2col the stride past the plane takes the chunks, at once.
  Rng rng(31);
  const ConvGeom far = cases[5];
  check_im2col(far, make_data(far, rng), Im2colWorkspace::kDefaultLimit);
}

TEST(ConvPointwise, OtherGeometriesAreErrorsNamingTheFunction) {
  std::vector<float> buf(4096);
  for (const ConvGeom& g : {ConvGeom::make(1, 2, 8, 8, 1, 3, 3), ConvGeom::make(1, 2, 8, 8, 2, 1, 1, 1, 1),
                            ConvGeom::make(1, 2, 8, 8, 2, 1, 1).grouped(2)}) {
    EXPECT_FALSE(pointwise_eligible(g, ConvPass::Forward, 1, std::size_t{1} << 30)) << describe(g);
    const auto expect_named = [&](const char* who, auto&& call) { expect_error_naming(g, who, call); };
    float* p = buf.data();
    expect_named("pointwise_forward", [&] { pointwise_forward(g, p, p, nullptr, p, p, 1); });
    expect_named("pointwise_backward_data", [&] { pointwise_backward_data(g, p, p, p, p, 1); });
    expect_named("pointwise_backward_weights",
                 [&] { pointwise_backward_weights(g, p, p, p, nullptr, p, 1); });
  }
}

TEST(ConvOneChannel, OtherGeometriesAreErrorsNamingTheFunction) {
  // im2col takes this path by itself only where one_channel_eligible says so; called
  // directly on anything else, each pass names itself instead of reading past the planes.
  std::vector<float> buf(20000);
  for (const ConvGeom& g : {ConvGeom::make(1, 2, 8, 8, 1, 3, 3), ConvGeom::make(1, 1, 8, 8, 1, 3, 3, 2),
                            ConvGeom::make(1, 1, 8, 8, 1, 3, 3, 1, 0, 2),
                            ConvGeom::make(1, 1, 12, 12, 1, 8, 8)}) {
    EXPECT_FALSE(one_channel_eligible(g, ConvPass::Forward, 1, std::size_t{1} << 30)) << describe(g);
    const auto expect_named = [&](const char* who, auto&& call) { expect_error_naming(g, who, call); };
    float* p = buf.data();
    expect_named("one_channel_forward", [&] { one_channel_forward(g, p, p, nullptr, p, p, 1); });
    expect_named("one_channel_backward_data",
                 [&] { one_channel_backward_data(g, p, p, p, p, 1); });
    expect_named("one_channel_backward_weights",
                 [&] { one_channel_backward_weights(g, p, p, p, nullptr, p, 1); });
  }
  EXPECT_TRUE(one_channel_eligible(ConvGeom::make(2, 1, 8, 8, 3, 3, 3, 1, 1), ConvPass::Forward, 2,
                                   std::size_t{1} << 30));
}

TEST(ConvWinograd, RejectsOtherKernelsStridesAndDilations) {
  WinogradWorkspace ws;
  std::vector<float> buf(4000);
  for (const ConvGeom& g : {ConvGeom::make(1, 1, 8, 8, 1, 3, 3, 2), ConvGeom::make(1, 1, 8, 8, 1, 3, 3, 1, 0, 2),
                            ConvGeom::make(1, 1, 8, 8, 1, 7, 7), ConvGeom::make(1, 1, 8, 8, 1, 3, 2),
                            ConvGeom::make(1, 1, 8, 8, 1, 5, 5, 2), ConvGeom::make(1, 1, 8, 8, 1, 5, 3)}) {
    EXPECT_FALSE(conv_algo_eligible(ConvAlgo::Winograd, g)) << describe(g);
    try {
      conv2d_winograd_forward(g, buf.data(), buf.data(), nullptr, buf.data(), ws);
      ADD_FAILURE() << "no throw for " << describe(g);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("3x3 or 5x5 kernel, stride 1 and dilation 1"), std::string::npos)
          << e.what();
    }
  }
  const ConvGeom ok = ConvGeom::make(1, 1, 8, 8, 1, 3, 3, 1, 1);
  ws.tile = 3;
  EXPECT_THROW(conv2d_winograd_forward(ok, buf.data(), buf.data(), nullptr, buf.data(), ws), Error);
}

TEST(ConvWinograd, TileSizeFollowsTheOutputPlane) {
  // The fewest transformed points: 4x4 tiles on 56x56 (14² tiles of 36 points against
  // 28² of 16), 2x2 on a 2x2 output (one tile of 16 points against 36).
  EXPECT_EQ(winograd_tile_size(ConvGeom::make(1, 1, 56, 56, 1, 3, 3, 1, 1), ConvPass::Forward), 4u);
  EXPECT_EQ(winograd_tile_size(ConvGeom::make(1, 1, 4, 4, 1, 3, 3), ConvPass::Forward), 2u);
  // backward-data tiles the input plane (4x4 here), not the 2x2 output.
  EXPECT_EQ(winograd_tile_size(ConvGeom::make(1, 1, 4, 4, 1, 3, 3), ConvPass::BackwardData), 4u);
}
