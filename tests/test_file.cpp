#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <minicnn/io/file.hpp>
#include <minicnn/core/tensor.hpp>
#include <string>
#include <vector>

using namespace minicnn;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const char* name) {
  const fs::path dir =
      fs::temp_directory_path() / ("minicnn_test_file_" + std::to_string(::getpid()) + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string as_string(const std::vector<std::uint8_t>& v) {
  return std::string(v.begin(), v.end());
}

}  // namespace

TEST(File, WriteAtomicThenReadBack) {
  const fs::path dir = fresh_dir("rw");
  const std::string p = (dir / "f.bin").string();
  write_file_atomic(p, std::string("first\0version", 13));
  EXPECT_EQ(as_string(read_file(p)), std::string("first\0version", 13));
  write_file_atomic(p, "second");  // replaces the old content whole
  EXPECT_EQ(as_string(read_file(p)), "second");
  write_file_atomic(p, "");
  EXPECT_TRUE(read_file(p).empty());
  // Only the target is left: every temporary was renamed.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(File, FailuresNameTheFileAndLeaveTheOldOneAlone) {
  const fs::path dir = fresh_dir("fail");
  const std::string p = (dir / "kept.txt").string();
  write_file_atomic(p, "old");
  // A folder in the way of the rename: the old content stays, no temporary is left.
  const std::string blocked = (dir / "folder").string();
  fs::create_directories(dir / "folder" / "inside");
  try {
    write_file_atomic(blocked, "new", "test_writer");
    FAIL() << "no throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("test_writer: " + blocked), std::string::npos) << m;
    EXPECT_NE(m.find("cannot rename"), std::string::npos) << m;
  }
  EXPECT_EQ(as_string(read_file(p)), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  try {
    read_file((dir / "missing").string(), "reader");
    FAIL() << "no throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("reader: " + (dir / "missing").string() + ": cannot open"), std::string::npos)
        << m;
  }
  EXPECT_THROW(read_file(dir.string()), Error);
  EXPECT_THROW(write_file_atomic((dir / "no" / "such").string(), "x"), Error);
  fs::remove_all(dir);
}
