// Helpers shared by the layer tests.
#pragma once

#include <minicnn/core/random.hpp>
#include <minicnn/core/tensor.hpp>
#include <minicnn/data/mnist.hpp>
#include <minicnn/layers/gradcheck.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace minicnn::testing {

// The message of the Error that f throws, or "(no Error thrown)".
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no Error thrown)";
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

inline void expect_near(const Tensor& actual, const Tensor& expected, float tol = 1e-6f) {
  ASSERT_EQ(shape_of(actual), shape_of(expected));
  for (std::size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual.data()[i], expected.data()[i], tol) << "at flat index " << i;
}

// A tensor of shape s, uniform in [-1, 1) from a generator seeded with seed.
inline Tensor random_tensor(const Shape& s, std::uint64_t seed) {
  Tensor t = zeros(s);
  Rng rng(seed);
  fill_uniform(t, -1, 1, rng);
  return t;
}

inline void expect_gradcheck(Layer& layer, const Shape& x, const GradCheckOptions& opt = {}) {
  const GradCheckResult r = check_gradients(layer, x, opt);
  EXPECT_TRUE(r.ok) << layer.name() << " on " << to_string(x) << ":\n" << r.summary();
}

// ---- shared by the tests of core/, data/, io/ and train/ ----

// n images of 8×8 bytes in four classes: the label is the quadrant that is bright. A
// bright pixel is bright + noise, a dark one dark + noise, noise seeded in [0, spread).
// Far apart (180 and 20, spread 40) a Dense layer learns it at once; closer (100 and 60,
// spread 90) training takes some epochs.
inline Dataset quadrants(std::size_t n, std::uint64_t seed = 3, unsigned bright = 180,
                         unsigned dark = 20, unsigned spread = 40) {
  Rng rng(seed);
  std::vector<std::uint8_t> images(n * 64), labels(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t q = rng.next() % 4;
    labels[i] = std::uint8_t(q);
    for (std::size_t y = 0; y < 8; ++y)
      for (std::size_t x = 0; x < 8; ++x) {
        const bool lit = (y / 4) * 2 + x / 4 == q;
        images[i * 64 + y * 8 + x] = std::uint8_t((lit ? bright : dark) + rng.next() % spread);
      }
  }
  return Dataset(std::move(images), std::move(labels), 8, 8, 4, "quadrants");
}

// Expects f to throw Error whose message contains every one of parts.
template <class F>
void expect_error_naming(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no Error thrown";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const std::string& p : parts) EXPECT_TRUE(contains(m, p)) << "'" << p << "' not in: " << m;
  }
}

// The same shape and the same bits (NaN payloads and the sign of zero included).
inline bool same_bits(const Tensor& a, const Tensor& b) {
  return shape_of(a) == shape_of(b) &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A fresh, empty folder for the running test, removed with all it holds when the object
// goes: <temp>/minicnn_<suite>_<test>_<pid>, so that tests running at once never share one.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("minicnn_") + info->test_suite_name() + "_" + info->name() +
                       "_" + std::to_string(::getpid());
    std::replace(name.begin(), name.end(), '/', '_');  // parameterised tests
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string string() const { return path_.string(); }
  // The path of name inside the folder.
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // The temporaries of write_file_atomic (".tmp-" in the name) left in the folder.
  std::vector<std::string> temp_files() const {
    std::vector<std::string> found;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      if (contains(e.path().filename().string(), ".tmp-")) found.push_back(e.path().string());
    return found;
  }

 private:
  std::filesystem::path path_;
};

// A fixture whose every test gets a fresh folder, dir_; file(name) is a path in it.
class TempDirTest : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return dir_.file(name); }

  TempDir dir_;
};

// The whole content of a file; "" when it cannot be read.
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replaces the content of a file with bytes.
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace minicnn::testing
