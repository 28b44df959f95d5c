#include <gtest/gtest.h>

#include <filesystem>
#include <minicnn/io/file.hpp>
#include <minicnn/core/tensor.hpp>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;
namespace fs = std::filesystem;

namespace {

std::string as_string(const std::vector<std::uint8_t>& v) {
  return std::string(v.begin(), v.end());
}

}  // namespace

TEST(File, WriteAtomicThenReadBack) {
  const TempDir tmp;
  const fs::path& dir = tmp.path();
  const std::string p = tmp.file("f.bin");
  write_file_atomic(p, std::string("first\0version", 13));
  EXPECT_EQ(as_string(read_file(p)), std::string("first\0version", 13));
  write_file_atomic(p, "second");  // replaces the old content whole
  EXPECT_EQ(as_string(read_file(p)), "second");
  write_file_atomic(p, "");
  EXPECT_TRUE(read_file(p).empty());
  // Only the target is left: every temporary was renamed.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(File, FailuresNameTheFileAndLeaveTheOldOneAlone) {
  const TempDir tmp;
  const fs::path& dir = tmp.path();
  const std::string p = tmp.file("kept.txt");
  write_file_atomic(p, "old");
  // A folder in the way of the rename: the old content stays, no temporary is left.
  const std::string blocked = tmp.file("folder");
  fs::create_directories(dir / "folder" / "inside");
  expect_error_naming([&] { write_file_atomic(blocked, "new", "test_writer"); },
                      {"test_writer: " + blocked, "cannot rename"});
  EXPECT_EQ(as_string(read_file(p)), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  expect_error_naming([&] { read_file(tmp.file("missing"), "reader"); },
                      {"reader: " + tmp.file("missing") + ": cannot open"});
  EXPECT_THROW(read_file(tmp.string()), Error);
  EXPECT_THROW(write_file_atomic(tmp.file("no/such"), "x"), Error);
}
