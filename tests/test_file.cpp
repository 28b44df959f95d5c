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
  // A folder in the way: refused before anything is written; no temporary is left.
  const std::string blocked = tmp.file("folder");
  fs::create_directories(dir / "folder" / "inside");
  expect_error_naming([&] { write_file_atomic(blocked, "new", "test_writer"); },
                      {"test_writer: " + blocked, "is a directory"});
  EXPECT_EQ(as_string(read_file(p)), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  expect_error_naming([&] { read_file(tmp.file("missing"), "reader"); },
                      {"reader: " + tmp.file("missing") + ": cannot open"});
  EXPECT_THROW(read_file(tmp.string()), Error);
  EXPECT_THROW(write_file_atomic(tmp.file("no/such"), "x"), Error);
}

TEST(File, ASymlinkIsFollowedAndStaysALink) {
  const TempDir tmp;
  const std::string target = tmp.file("real.bin"), link = tmp.file("link.bin");
  write_file_atomic(target, "old");
  fs::create_symlink("real.bin", link);  // relative, as users make them
  write_file_atomic(link, "new");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(as_string(read_file(target)), "new");
  // A dangling link: the file it names is created.
  const std::string dangling = tmp.file("dangling.bin");
  fs::create_symlink(tmp.file("made.bin"), dangling);
  write_file_atomic(dangling, "made");
  EXPECT_TRUE(fs::is_symlink(dangling));
  EXPECT_EQ(as_string(read_file(tmp.file("made.bin"))), "made");
  EXPECT_TRUE(tmp.temp_files().empty());
}

TEST(File, TheReplacedFileKeepsItsPermissions) {
  const TempDir tmp;
  const std::string p = tmp.file("private.bin");
  write_file_atomic(p, "v1");
  for (const fs::perms mode : {fs::perms::owner_read | fs::perms::owner_write,
                               fs::perms::owner_read | fs::perms::group_read}) {
    fs::permissions(p, mode);
    write_file_atomic(p, "v2");
    EXPECT_EQ(fs::status(p).permissions() & fs::perms::mask, mode);
    EXPECT_EQ(as_string(read_file(p)), "v2");
  }
}

TEST(File, ADeviceIsRefusedAndLeftAlone) {
  ASSERT_TRUE(fs::is_character_file("/dev/null"));
  expect_error_naming([] { write_file_atomic("/dev/null", "x", "saver"); },
                      {"saver: /dev/null", "is a device"});
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  // Through a link too.
  const TempDir tmp;
  const std::string link = tmp.file("null");
  fs::create_symlink("/dev/null", link);
  expect_error_naming([&] { write_file_atomic(link, "x"); }, {link, "is a device", "/dev/null"});
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
}
