#include <minicnn/layers/conv/im2col.hpp>
#include <minicnn/core/random.hpp>
#include <minicnn/core/tensor.hpp>

#include <gtest/gtest.h>

#include <vector>

using namespace minicnn;

namespace {

// Reference unfold, one element at a time, straight from the definition.
std::vector<float> im2col_ref(const std::vector<float>& x, const ConvGeom& g) {
  std::vector<float> cols(g.col_rows() * g.out_plane(), 0.0f);
  for (std::size_t c = 0; c < g.C; ++c)
    for (std::size_t kh = 0; kh < g.KH; ++kh)
      for (std::size_t kw = 0; kw < g.KW; ++kw)
        for (std::size_t oh = 0; oh < g.OH; ++oh)
          for (std::size_t ow = 0; ow < g.OW; ++ow) {
            const long ih = long(oh * g.stride + kh * g.dilation) - long(g.padding);
            const long iw = long(ow * g.stride + kw * g.dilation) - long(g.padding);
            float v = 0.0f;
            if (ih >= 0 && ih < long(g.H) && iw >= 0 && iw < long(g.W))
              v = x[(c * g.H + ih) * g.W + iw];
            cols[((c * g.KH + kh) * g.KW + kw) * g.out_plane() + oh * g.OW + ow] = v;
          }
  return cols;
}

std::vector<float> random_vec(std::size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (auto& e : v) e = rng.uniform(-1, 1);
  return v;
}

const ConvGeom kGrid[] = {
    ConvGeom::make(1, 1, 4, 4, 1, 3, 3),
    ConvGeom::make(1, 2, 5, 7, 1, 3, 2, 1, 1),
    ConvGeom::make(1, 3, 9, 8, 1, 3, 3, 2, 1),
    ConvGeom::make(1, 1, 10, 11, 1, 3, 3, 3, 0),
    ConvGeom::make(1, 2, 9, 9, 1, 3, 3, 1, 2, 2),
    ConvGeom::make(1, 1, 3, 5, 1, 5, 5, 1, 4),  // padding larger than the kernel's half
    ConvGeom::make(1, 2, 6, 6, 1, 1, 1, 2, 0),
    ConvGeom::make(1, 1, 4, 4, 1, 6, 6, 1, 1),  // kernel as large as the padded input
    // Strided with padding beyond the kernel's half: taps whose every row or column of
    // outputs falls in the padding.
    ConvGeom::make(1, 2, 3, 5, 1, 5, 5, 2, 4),
    // Stride 2 on wide rows, whose pieces the AVX-512 walk moves sixteen at a time:
    // 16, 17, 31 and 33 outputs a row, the last group partial or not, padding 0 to 2.
    ConvGeom::make(1, 1, 3, 32, 1, 1, 1, 2, 0),
    ConvGeom::make(1, 2, 5, 33, 1, 3, 3, 2, 1),
    ConvGeom::make(1, 1, 4, 64, 1, 3, 3, 2, 0),
    ConvGeom::make(1, 2, 3, 66, 1, 2, 3, 2, 2),
};

}  // namespace

TEST(Im2col, HandComputed4x4With3x3) {
  // x = 0..15 on a 4x4 grid; a 3x3 kernel gives a 2x2 output, so cols is 9 x 4.
  const ConvGeom g = ConvGeom::make(1, 1, 4, 4, 1, 3, 3);
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = float(i);
  std::vector<float> cols(9 * 4);
  im2col(x.data(), g, 0, 4, cols.data(), 4);
  const std::vector<float> want = {0, 1, 4,  5,  1, 2,  5,  6,  2,  3,  6,  7,
                                   4, 5, 8,  9,  5, 6,  9,  10, 6,  7,  10, 11,
                                   8, 9, 12, 13, 9, 10, 13, 14, 10, 11, 14, 15};
  EXPECT_EQ(cols, want);
}

TEST(Im2col, HandComputedStridePaddingDilation) {
  // 3x3 input 1..9, kernel 2x2, stride 2, padding 1: output 2x2.
  ConvGeom g = ConvGeom::make(1, 1, 3, 3, 1, 2, 2, 2, 1);
  ASSERT_EQ(g.OH, 2u);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> cols(4 * 4);
  im2col(x.data(), g, 0, 4, cols.data(), 4);
  // rows: tap (0,0), (0,1), (1,0), (1,1); columns: outputs (0,0), (0,1), (1,0), (1,1)
  EXPECT_EQ(cols, (std::vector<float>{0, 0, 0, 5, 0, 0, 4, 6, 0, 2, 0, 8, 1, 3, 7, 9}));
  // 4x4 input, 2x2 kernel with dilation 2: taps 2 apart, output 2x2.
  g = ConvGeom::make(1, 1, 4, 4, 1, 2, 2, 1, 0, 2);
  std::vector<float> x4(16);
  for (int i = 0; i < 16; ++i) x4[i] = float(i);
  im2col(x4.data(), g, 0, 4, cols.data(), 4);
  EXPECT_EQ(cols, (std::vector<float>{0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15}));
}

TEST(Im2col, MatchesReferenceOnAGridAndAnyColumnRange) {
  Rng rng(3);
  for (const ConvGeom& g : kGrid) {
    const auto x = random_vec(g.C * g.H * g.W, rng);
    const auto ref = im2col_ref(x, g);
    const std::size_t P = g.out_plane();
    std::vector<float> cols(g.col_rows() * P, -7.0f);
    im2col(x.data(), g, 0, P, cols.data(), P);
    ASSERT_EQ(cols, ref);
    // A middle range written into a narrower matrix with its own row stride.
    const std::size_t o0 = P / 3, o1 = P - P / 4, ld = o1 - o0 + 2;
    std::vector<float> part(g.col_rows() * ld, -7.0f);
    im2col(x.data(), g, o0, o1, part.data(), ld);
    for (std::size_t r = 0; r < g.col_rows(); ++r) {
      for (std::size_t o = o0; o < o1; ++o) ASSERT_EQ(part[r * ld + o - o0], ref[r * P + o]);
      for (std::size_t j = o1 - o0; j < ld; ++j) ASSERT_EQ(part[r * ld + j], -7.0f);
    }
  }
}

TEST(Im2col, Col2imIsTheAdjoint) {
  Rng rng(4);
  for (const ConvGeom& g : kGrid) {
    const std::size_t P = g.out_plane();
    const auto x = random_vec(g.C * g.H * g.W, rng);
    const auto y = random_vec(g.col_rows() * P, rng);
    std::vector<float> cols(g.col_rows() * P);
    im2col(x.data(), g, 0, P, cols.data(), P);
    std::vector<float> back(x.size(), 0.0f);
    // Fold in two ranges to check that col2im accumulates.
    col2im(y.data(), g, 0, P / 2, P, back.data());
    col2im(y.data() + P / 2, g, P / 2, P, P, back.data());
    // In one call over whole rows (the strided layers' own walk) the same.
    std::vector<float> once(x.size(), 0.0f);
    col2im(y.data(), g, 0, P, P, once.data());
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(once[i], back[i], 1e-5f) << i;
    double lhs = 0, rhs = 0;
    for (std::size_t i = 0; i < cols.size(); ++i) lhs += double(cols[i]) * y[i];
    for (std::size_t i = 0; i < x.size(); ++i) rhs += double(x[i]) * back[i];
    EXPECT_NEAR(lhs, rhs, 1e-4 * (1 + std::abs(lhs)));
  }
}

TEST(Im2col, ConvOutSize) {
  EXPECT_EQ(conv_out_size(28, 5, 1, 0, 1), 24u);
  EXPECT_EQ(conv_out_size(227, 11, 4, 0, 1), 55u);
  EXPECT_EQ(conv_out_size(56, 3, 1, 1, 1), 56u);
  EXPECT_EQ(conv_out_size(9, 3, 1, 0, 2), 5u);
  EXPECT_EQ(conv_out_size(4, 6, 1, 1, 1), 1u);
}

TEST(Im2col, BadGeometryThrowsWithTheValues) {
  EXPECT_THROW(conv_out_size(0, 3, 1, 0, 1), Error);
  EXPECT_THROW(conv_out_size(5, 0, 1, 0, 1), Error);
  EXPECT_THROW(conv_out_size(5, 3, 0, 0, 1), Error);
  EXPECT_THROW(conv_out_size(5, 3, 1, 0, 0), Error);
  EXPECT_THROW(ConvGeom::make(0, 1, 5, 5, 1, 3, 3), Error);
  EXPECT_THROW(ConvGeom::make(1, 0, 5, 5, 1, 3, 3), Error);
  EXPECT_THROW(ConvGeom::make(1, 1, 5, 5, 0, 3, 3), Error);
  try {
    conv_out_size(4, 7, 1, 1, 1, "Conv2D(1->2)");
    FAIL() << "no throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("Conv2D(1->2)"), std::string::npos) << m;
    EXPECT_NE(m.find("7"), std::string::npos) << m;
    EXPECT_NE(m.find("padded input of size 6"), std::string::npos) << m;
  }
}
