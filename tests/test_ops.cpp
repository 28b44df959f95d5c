// The shared loops of core/ops, which run in a clone for the widest instruction set the
// CPU has (core/simd.hpp): each must give the very bits of the plain loop it stands
// for, compiled here for the baseline, on every length (the vector loops' tails) and on
// NaN, Inf and −0.
#include <minicnn/core/ops.hpp>
#include <minicnn/core/random.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

using namespace minicnn;

namespace {

std::vector<float> values(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& e : v) e = rng.uniform(-3.0f, 3.0f);
  return v;
}

// The reference: eight partial sums, part j taking i ≡ j (mod 8), added last.
template <class Term>
double parts(std::size_t n, Term term) {
  double part[8] = {};
  for (std::size_t i = 0; i < n; ++i) part[i % 8] += term(i);
  double s = 0.0;
  for (double p : part) s += p;
  return s;
}

bool same(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }
bool same(float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); }

constexpr std::size_t kLengths[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 257, 1000, 4099};

}  // namespace

TEST(Ops, SumsAreThePlainLoopsBitForBit) {
  for (std::size_t n : kLengths) {
    const std::vector<float> a = values(n, 1 + n), b = values(n, 2 + n);
    const double mean = 0.25;
    EXPECT_TRUE(same(sum_to_double(a.data(), n),
                     parts(n, [&](std::size_t i) { return static_cast<double>(a[i]); })))
        << n;
    double s = 0.0, t = 0.0;
    moments_to_double(a.data(), n, mean, &s, &t);
    EXPECT_TRUE(same(s, parts(n, [&](std::size_t i) { return static_cast<double>(a[i]) - mean; })))
        << n;
    EXPECT_TRUE(same(t, parts(n, [&](std::size_t i) {
                       const double d = static_cast<double>(a[i]) - mean;
                       return d * d;
                     })))
        << n;
    sum_and_dev_dot_to_double(a.data(), b.data(), n, mean, &s, &t);
    EXPECT_TRUE(same(s, parts(n, [&](std::size_t i) { return static_cast<double>(a[i]); }))) << n;
    EXPECT_TRUE(same(t, parts(n, [&](std::size_t i) {
                       return static_cast<double>(a[i]) * (static_cast<double>(b[i]) - mean);
                     })))
        << n;
  }
}

TEST(Ops, ElementwiseRunsAreThePlainLoopsBitForBit) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (std::size_t n : kLengths) {
    std::vector<float> x = values(n, 3 + n), dy = values(n, 4 + n);
    if (n > 2) x[n / 2] = nan, x[n - 1] = -0.0f, x[0] = -inf;
    std::vector<float> y(n), dx(n), sum = x;
    relu_run(x.data(), y.data(), n);
    relu_grad_run(dy.data(), x.data(), dx.data(), n);
    add_run(sum.data(), dy.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_TRUE(same(y[i], std::max(x[i], 0.0f))) << n << " " << i;
      EXPECT_TRUE(same(dx[i], x[i] > 0.0f ? dy[i] : 0.0f)) << n << " " << i;
      EXPECT_TRUE(same(sum[i], x[i] + dy[i]) || (std::isnan(sum[i]) && std::isnan(x[i]))) << n << " " << i;
    }
    if (n > 2) {
      EXPECT_TRUE(std::isnan(y[n / 2]));  // a NaN stays NaN
    }
  }
}

// The sum and the ReLU in one pass (Residual's) give add_run's then relu_run's bits, and
// its mask gives relu_grad_run's gradient of that sum.
TEST(Ops, AddReluRunIsAddThenReluBitForBit) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (std::size_t n : kLengths) {
    std::vector<float> a = values(n, 5 + n), b = values(n, 6 + n), dy = values(n, 7 + n);
    if (n > 3) a[n / 2] = nan, a[n - 1] = -0.0f, b[n - 1] = -0.0f, a[0] = inf, b[0] = -inf,
               b[1] = -a[1];  // NaN from Inf − Inf; -0 + -0; an exact zero at the kink
    std::vector<float> fused = a, sum = a, y(n), want(n), got(n);
    std::vector<unsigned char> on(n, 7);
    add_relu_run(fused.data(), b.data(), on.data(), n);
    add_run(sum.data(), b.data(), n);
    relu_run(sum.data(), y.data(), n);
    relu_grad_run(dy.data(), sum.data(), want.data(), n);
    mask_grad_run(dy.data(), on.data(), got.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_TRUE(same(fused[i], y[i]) || (std::isnan(fused[i]) && std::isnan(y[i]))) << n << " " << i;
      EXPECT_EQ(on[i], sum[i] > 0.0f ? 1 : 0) << n << " " << i;
      EXPECT_TRUE(same(got[i], want[i])) << n << " " << i;
    }
  }
}

TEST(Ops, AllFiniteFindsNaNAndInfAnywhere) {
  for (std::size_t n : kLengths) {
    if (n == 0) {
      EXPECT_TRUE(all_finite_run(nullptr, 0));
      continue;
    }
    std::vector<float> v = values(n, 5 + n);
    v[n - 1] = std::numeric_limits<float>::max();
    EXPECT_TRUE(all_finite_run(v.data(), n)) << n;
    for (std::size_t at : {std::size_t{0}, n / 2, n - 1}) {
      for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::infinity()}) {
        std::vector<float> w = v;
        w[at] = bad;
        EXPECT_FALSE(all_finite_run(w.data(), n)) << n << " " << at << " " << bad;
      }
    }
  }
}

TEST(Ops, AllFiniteOverManyRunsFindsNaNAndInfAnywhere) {
  // The threads' version, over runs of parallel_runs (and a tail).
  const std::size_t n = 3 * (std::size_t{1} << 14) + 123;
  std::vector<float> v = values(n, 17);
  EXPECT_TRUE(all_finite(v.data(), n));
  EXPECT_TRUE(all_finite(nullptr, 0));
  for (std::size_t at : {std::size_t{0}, std::size_t{1} << 14, n - 1}) {
    std::vector<float> w = v;
    w[at] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_FALSE(all_finite(w.data(), n)) << at;
    w[at] = -std::numeric_limits<float>::infinity();
    EXPECT_FALSE(all_finite(w.data(), n)) << at;
  }
}

TEST(Ops, BiasAndItsGradientOfDenseRowsAreThePlainLoopsBitForBit) {
  // P = 1 (a Dense layer's (N, K) rows), K past one run of 512 columns: y[n,k] += b[k];
  // db[k] += Σ_n dy[n,k] in double, n in order.
  for (std::size_t K : {std::size_t{1}, std::size_t{10}, std::size_t{1300}}) {
    const std::size_t N = 7;
    const std::vector<float> b = values(K, 3), dy = values(N * K, 4);
    std::vector<float> y = values(N * K, 5), want = y;
    add_bias(y.data(), b.data(), N, K, 1);
    for (std::size_t i = 0; i < N * K; ++i) want[i] += b[i % K];
    for (std::size_t i = 0; i < N * K; ++i) EXPECT_TRUE(same(y[i], want[i])) << K << " " << i;
    std::vector<float> db(K, 0.25f), want_db(K);
    add_bias_grad(dy.data(), db.data(), N, K, 1);
    for (std::size_t k = 0; k < K; ++k) {
      double s = 0.0;
      for (std::size_t n = 0; n < N; ++n) s += static_cast<double>(dy[n * K + k]);
      want_db[k] = 0.25f + static_cast<float>(s);
      EXPECT_TRUE(same(db[k], want_db[k])) << K << " " << k;
    }
  }
}
