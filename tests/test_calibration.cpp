// The cost model's calibration: measured on the probes, written and read back, chosen by
// MINICNN_CONV_CALIBRATION and the cache file, and what it does to the estimates.
#include <minicnn/minicnn.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.hpp"

namespace {

using namespace minicnn;
using namespace minicnn::testing;

constexpr ConvAlgo kAlgos[] = {ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT,
                               ConvAlgo::Winograd, ConvAlgo::Depthwise};
constexpr ConvPass kPasses[] = {ConvPass::Forward, ConvPass::BackwardData,
                                ConvPass::BackwardWeights};

int ai(ConvAlgo a) { return static_cast<int>(a); }
int pi(ConvPass p) { return static_cast<int>(p); }

std::string text_of(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(Calibration, MeasuredHoldsAPlausibleCostForEveryAlgorithmAndPass) {
  const ConvCalibration c = conv_measure_calibration();
  EXPECT_EQ(c.source, "measured");
  EXPECT_EQ(c.threads, num_threads());
  for (ConvAlgo a : kAlgos)
    for (ConvPass p : kPasses) {
      const double fixed = c.fixed_seconds[ai(a)][pi(p)], factor = c.factor[ai(a)][pi(p)];
      EXPECT_TRUE(std::isfinite(fixed) && fixed > 0 && fixed < 0.1)
          << to_string(a) << " " << to_string(p) << " fixed " << fixed;
      EXPECT_TRUE(std::isfinite(factor) && factor >= 0.02 && factor <= 50)
          << to_string(a) << " " << to_string(p) << " factor " << factor;
    }
}

TEST(Calibration, EstimateIsFixedCostPlusFactorTimesTheModel) {
  const ConvGeom g = ConvGeom::make(8, 16, 28, 28, 16, 3, 3, 1, 1);
  const ConvCalibration builtin;
  ConvCalibration c;
  c.fixed_seconds[ai(ConvAlgo::Winograd)][pi(ConvPass::Forward)] = 1e-3;
  c.factor[ai(ConvAlgo::Winograd)][pi(ConvPass::Forward)] = 3.0;
  const double model = conv_estimate_seconds(ConvAlgo::Winograd, g, ConvPass::Forward, 2, builtin);
  EXPECT_GT(model, 0.0);
  EXPECT_DOUBLE_EQ(conv_estimate_seconds(ConvAlgo::Winograd, g, ConvPass::Forward, 2, c),
                   1e-3 + 3.0 * model);
  // The other entries are untouched.
  EXPECT_DOUBLE_EQ(conv_estimate_seconds(ConvAlgo::Im2colGemm, g, ConvPass::Forward, 2, c),
                   conv_estimate_seconds(ConvAlgo::Im2colGemm, g, ConvPass::Forward, 2, builtin));
}

TEST(Calibration, TheTestsRunOnTheBuiltInConstants) {
  // tests/CMakeLists.txt sets MINICNN_CONV_CALIBRATION=builtin, so that the tests of the
  // model's choices do not depend on the machine.
  const char* env = std::getenv("MINICNN_CONV_CALIBRATION");
  if (env == nullptr || std::string(env) != "builtin") GTEST_SKIP() << "run outside ctest";
  const ConvCalibration& c = conv_calibration(num_threads());
  EXPECT_EQ(c.source, "builtin");
  const ConvGeom g = ConvGeom::make(4, 3, 12, 12, 5, 3, 3, 1, 1);
  EXPECT_EQ(conv_estimate_seconds(ConvAlgo::FFT, g, ConvPass::Forward, num_threads()),
            conv_estimate_seconds(ConvAlgo::FFT, g, ConvPass::Forward, num_threads(),
                                  ConvCalibration()));
}

TEST(Calibration, WrittenAndReadBack) {
  TempDir dir;
  ConvCalibration c;
  c.threads = 3;
  for (ConvAlgo a : kAlgos)
    for (ConvPass p : kPasses) {
      c.fixed_seconds[ai(a)][pi(p)] = 1e-6 * (ai(a) + 1) + 1e-7 * pi(p);
      c.factor[ai(a)][pi(p)] = 0.5 + 0.25 * ai(a) + 0.01 * pi(p);
    }
  const std::string path = dir.file("cal.txt");
  write_conv_calibration(path, c);
  EXPECT_TRUE(dir.temp_files().empty());
  const ConvCalibration r = read_conv_calibration(path);
  EXPECT_EQ(r.threads, 3);
  EXPECT_EQ(r.source, path);
  for (ConvAlgo a : kAlgos)
    for (ConvPass p : kPasses) {
      EXPECT_NEAR(r.fixed_seconds[ai(a)][pi(p)], c.fixed_seconds[ai(a)][pi(p)], 1e-12);
      EXPECT_NEAR(r.factor[ai(a)][pi(p)], c.factor[ai(a)][pi(p)], 1e-6);
    }
  // It says what it was measured on.
  EXPECT_TRUE(contains(text_of(path), "blas " + blas_core_name())) << text_of(path);
}

TEST(Calibration, BadFilesAreErrorsNamingTheFileAndTheFault) {
  TempDir dir;
  const std::string good = dir.file("good.txt");
  write_conv_calibration(good, ConvCalibration());
  const std::string text = text_of(good);

  const std::string other = dir.file("other.txt");
  write_text(other, "something else\n");
  std::string m = error_message([&] { read_conv_calibration(other); });
  EXPECT_TRUE(contains(m, other) && contains(m, "not a calibration file")) << m;

  const std::string cut = dir.file("cut.txt");
  write_text(cut, text.substr(0, text.rfind('\n', text.size() / 2) + 1));  // whole lines
  m = error_message([&] { read_conv_calibration(cut); });
  EXPECT_TRUE(contains(m, cut) && contains(m, "truncated")) << m;

  const std::string bad = dir.file("bad.txt");
  std::string t = text;
  const std::size_t at = t.find("fft forward ");
  t.replace(at, t.find('\n', at) - at, "fft forward 1e-6 -2");
  write_text(bad, t);
  m = error_message([&] { read_conv_calibration(bad); });
  EXPECT_TRUE(contains(m, bad) && contains(m, "line ") && contains(m, "fft forward 1e-6 -2")) << m;

  // Cut inside its last number: still a number, but no 'end' after it.
  const std::string last = dir.file("last.txt");
  write_text(last, text.substr(0, text.rfind("end\n") - 6));
  m = error_message([&] { read_conv_calibration(last); });
  EXPECT_TRUE(contains(m, last) && contains(m, "truncated")) << m;

  m = error_message([&] { read_conv_calibration(dir.file("missing.txt")); });
  EXPECT_TRUE(contains(m, dir.file("missing.txt"))) << m;
}

TEST(Calibration, ChoiceByModeAndCacheFile) {
  TempDir dir;
  const int T = num_threads();
  const std::string cache = dir.file("cache/conv.txt");  // its folder made when written

  EXPECT_EQ(conv_calibration_for(T, "builtin", cache).source, "builtin");
  EXPECT_FALSE(std::filesystem::exists(cache));

  // No cache file: measured and written; then read from it.
  const ConvCalibration first = conv_calibration_for(T, "", cache);
  EXPECT_EQ(first.source, "measured");
  ASSERT_TRUE(std::filesystem::exists(cache));
  ConvCalibration edited = read_conv_calibration(cache);
  edited.factor[ai(ConvAlgo::FFT)][pi(ConvPass::Forward)] = 7.0;
  write_conv_calibration(cache, edited);
  const ConvCalibration second = conv_calibration_for(T, "", cache);
  EXPECT_EQ(second.source, cache);
  EXPECT_DOUBLE_EQ(second.factor[ai(ConvAlgo::FFT)][pi(ConvPass::Forward)], 7.0);

  // "measure" measures again and rewrites the cache.
  EXPECT_EQ(conv_calibration_for(T, "measure", cache).source, "measured");
  EXPECT_NE(read_conv_calibration(cache).factor[ai(ConvAlgo::FFT)][pi(ConvPass::Forward)], 7.0);

  // A damaged cache file is measured again and replaced.
  write_text(cache, "minicnn conv calibration 1\nthreads 2\n");
  EXPECT_EQ(conv_calibration_for(T, "", cache).source, "measured");
  EXPECT_NO_THROW(read_conv_calibration(cache));

  // A file named by the environment is read, and a bad one is an Error.
  EXPECT_DOUBLE_EQ(conv_calibration_for(T, cache, "").factor[ai(ConvAlgo::FFT)][pi(ConvPass::Forward)],
                   read_conv_calibration(cache).factor[ai(ConvAlgo::FFT)][pi(ConvPass::Forward)]);
  const std::string m = error_message([&] { conv_calibration_for(T, dir.file("nope.txt"), ""); });
  EXPECT_TRUE(contains(m, "nope.txt")) << m;

  // Another thread count than the current one cannot be measured here: the built-in one.
  EXPECT_EQ(conv_calibration_for(T + 1, "", dir.file("t.txt")).source, "builtin");
  EXPECT_FALSE(std::filesystem::exists(dir.file("t.txt")));
}

TEST(Calibration, CachePathIsPerMachineAndThreadCountUnderTheCacheHome) {
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  ::setenv("XDG_CACHE_HOME", "/some/cache", 1);
  const std::string p2 = conv_calibration_cache_path(2), p1 = conv_calibration_cache_path(1);
  if (old) ::setenv("XDG_CACHE_HOME", saved.c_str(), 1); else ::unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(p2.rfind("/some/cache/minicnn/conv-calibration-", 0), 0u) << p2;
  EXPECT_TRUE(contains(p2, "-t2.txt")) << p2;
  EXPECT_NE(p1, p2);
}

}  // namespace
