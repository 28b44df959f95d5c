#include <minicnn/core/buffer.hpp>
#include <minicnn/core/fft.hpp>
#include <minicnn/core/random.hpp>
#include <minicnn/core/tensor.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

using namespace minicnn;

TEST(Fft, FastSizeHasOnlySmallFactors) {
  EXPECT_EQ(fft_fast_size(1), 1u);
  EXPECT_EQ(fft_fast_size(11), 12u);
  EXPECT_EQ(fft_fast_size(13), 14u);
  EXPECT_EQ(fft_fast_size(17), 18u);
  EXPECT_EQ(fft_fast_size(97), 98u);
  EXPECT_EQ(fft_fast_size(121), 125u);
  EXPECT_EQ(fft_fast_size(512), 512u);
  EXPECT_THROW(fft_fast_size(0), Error);
}

TEST(Fft, ForwardMatchesNaiveDft) {
  for (auto [h, w] : {std::pair{1, 1}, {4, 4}, {5, 7}, {6, 9}, {3, 16}}) {
    const FftPlan2D& plan = fft_plan(h, w);
    AlignedBuffer<float> x(plan.real_size());
    AlignedBuffer<cfloat> X(plan.spectrum_size());
    Rng rng(h * 10 + w);
    for (std::size_t i = 0; i < plan.real_size(); ++i) x.data()[i] = rng.uniform(-1, 1);
    rfft2(plan, x.data(), X.data());
    const std::size_t wc = w / 2 + 1;
    for (int u = 0; u < h; ++u) {
      for (std::size_t v = 0; v < wc; ++v) {
        std::complex<double> ref = 0;
        for (int i = 0; i < h; ++i)
          for (int j = 0; j < w; ++j) {
            const double ang = -2 * std::numbers::pi * (double(u) * i / h + double(v) * j / w);
            ref += double(x.data()[i * w + j]) * std::polar(1.0, ang);
          }
        const cfloat got = X.data()[u * wc + v];
        ASSERT_NEAR(got.real(), ref.real(), 1e-4) << h << "x" << w << " at " << u << "," << v;
        ASSERT_NEAR(got.imag(), ref.imag(), 1e-4) << h << "x" << w << " at " << u << "," << v;
      }
    }
  }
}

TEST(Fft, RoundTripScalesBySize) {
  const std::size_t h = 10, w = 14;
  const FftPlan2D& plan = fft_plan(h, w);
  AlignedBuffer<float> x(plan.real_size()), back(plan.real_size());
  AlignedBuffer<cfloat> X(plan.spectrum_size());
  Rng rng(7);
  for (std::size_t i = 0; i < h * w; ++i) x.data()[i] = rng.uniform(-1, 1);
  rfft2(plan, x.data(), X.data());
  irfft2(plan, X.data(), back.data());
  for (std::size_t i = 0; i < h * w; ++i)
    ASSERT_NEAR(back.data()[i] / float(h * w), x.data()[i], 1e-5);
}

TEST(Fft, PlansAreCachedPerShape) {
  const FftPlan2D& a = fft_plan(8, 6);
  const FftPlan2D& b = fft_plan(8, 6);
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &fft_plan(6, 8));
  EXPECT_EQ(a.spectrum_size(), 8u * 4u);
}

TEST(Fft, RejectsMisalignedBuffersAndZeroSizes) {
  const FftPlan2D& plan = fft_plan(4, 4);
  AlignedBuffer<float> x(32);
  AlignedBuffer<cfloat> X(32);
  EXPECT_THROW(rfft2(plan, x.data() + 1, X.data()), Error);
  EXPECT_THROW(irfft2(plan, X.data(), x.data() + 1), Error);
  EXPECT_THROW(fft_plan(0, 4), Error);
}

TEST(Fft, ThreadedPlanMatchesTheSingleThreadOne) {
  const std::size_t h = 48, w = 30;
  const FftPlan2D& one = fft_plan(h, w);
  const FftPlan2D& two = fft_plan(h, w, 2);
  EXPECT_NE(&one, &two);
  EXPECT_EQ(&two, &fft_plan(h, w, 2));
  AlignedBuffer<float> x(h * w);
  AlignedBuffer<cfloat> a(one.spectrum_size()), b(one.spectrum_size());
  Rng rng(9);
  for (std::size_t i = 0; i < h * w; ++i) x.data()[i] = rng.uniform(-1, 1);
  rfft2(one, x.data(), a.data());
  rfft2(two, x.data(), b.data());
  for (std::size_t i = 0; i < one.spectrum_size(); ++i)
    ASSERT_NEAR(std::abs(a.data()[i] - b.data()[i]), 0.0, 1e-4) << i;
  EXPECT_THROW(fft_plan(h, w, 0), Error);
}
