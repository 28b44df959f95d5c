// Inputs kept from the fuzzers (fuzz/, scripts/fuzz.sh) in
// tests/data/fuzz-regressions/<reader>/: each one once crashed, hung or over-allocated
// a reader (the fuzzer's artifact, as it was), and each must now make its reader throw
// minicnn::Error naming the file: no crash, no other exception.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <minicnn/data/idx.hpp>
#include <minicnn/io/image.hpp>
#include <minicnn/io/safetensors.hpp>
#include <string>
#include <vector>

using namespace minicnn;
namespace fs = std::filesystem;

namespace {

// Every file in the reader's folder, in name order (none when there is no folder: git
// keeps no empty one).
std::vector<std::string> kept_inputs(const char* reader) {
  const fs::path dir = fs::path(MINICNN_SOURCE_DIR) / "tests/data/fuzz-regressions" / reader;
  std::vector<std::string> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// Runs read on each kept input of reader, which must throw Error naming the file; returns
// how many there were.
std::size_t expect_each_throws(const char* reader,
                               const std::function<void(const std::string&)>& read) {
  const std::vector<std::string> files = kept_inputs(reader);
  for (const std::string& f : files) {
    try {
      read(f);
      ADD_FAILURE() << f << ": read without an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
  }
  return files.size();
}

}  // namespace

TEST(FuzzRegressions, EveryKeptInputThrowsError) {
  std::size_t kept = 0;
  kept += expect_each_throws("idx", [](const std::string& f) { read_idx(f); });
  kept += expect_each_throws("safetensors", [](const std::string& f) { read_safetensors(f); });
  kept += expect_each_throws("image", [](const std::string& f) { read_image(f); });
  EXPECT_GT(kept, 0u) << "tests/data/fuzz-regressions/ holds no input";
}
