// A crash while saving never corrupts the previous file. Every writer of minicnn goes
// through write_file_atomic, whose test hook runs between the complete temporary and
// the rename: it throws here (the failure path must remove the temporary) or kills a
// child process (the temporary stays behind, and must be harmless).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <functional>
#include <minicnn/io/file.hpp>
#include <minicnn/io/image.hpp>
#include <minicnn/io/safetensors.hpp>
#include <minicnn/core/random.hpp>
#include <minicnn/train/progress.hpp>
#include <minicnn/layers/activation.hpp>
#include <minicnn/train/checkpoint.hpp>
#include <minicnn/layers/dense.hpp>
#include <minicnn/layers/sequential.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;
namespace fs = std::filesystem;

namespace {

class CrashSafety : public TempDirTest {
 protected:
  void TearDown() override { set_atomic_write_hook_for_testing(nullptr); }

  // Runs save, which must fail with the injected crash, and checks that path still
  // holds exactly `old` and that no temporary is left.
  void expect_crash_keeps(const std::function<void()>& save, const std::string& path,
                          const std::string& old) {
    hook_calls_ = 0;
    set_atomic_write_hook_for_testing(&crash_before_rename);
    try {
      save();
      ADD_FAILURE() << "the save of " << path << " did not fail";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "injected crash before the rename") << path;
    }
    set_atomic_write_hook_for_testing(nullptr);
    EXPECT_EQ(hook_calls_, 1) << path;
    EXPECT_EQ(read_bytes(path), old) << path;
    EXPECT_TRUE(dir_.temp_files().empty()) << path;
  }

  // The hook: the temporary must be complete and beside the target when it runs.
  static void crash_before_rename(const std::string& temp, const std::string& target) {
    ++hook_calls_;
    EXPECT_TRUE(fs::is_regular_file(temp)) << temp;
    EXPECT_EQ(fs::path(temp).parent_path(), fs::path(target).parent_path());
    throw std::runtime_error("injected crash before the rename");
  }

  static inline int hook_calls_ = 0;
};

// Two Dense layers with weights from a seeded generator of their own, so that any
// process (the test's or its child) makes the same model.
void make_net(Sequential& net, std::uint64_t seed) {
  Rng rng(seed);
  net.add<Dense>(4, 3, true, rng);
  net.add<ReLU>();
  net.add<Dense>(3, 2, true, rng);
  for (const Parameter& p : net.parameters())  // non-zero biases, so that each save differs
    for (std::size_t i = 0; i < p.value->size(); ++i) p.value->data()[i] += float(seed) + i;
}

// The bits of every parameter, in order.
std::vector<std::uint32_t> bits_of(Sequential& net) {
  std::vector<std::uint32_t> out;
  for (const Parameter& p : net.parameters())
    for (std::size_t i = 0; i < p.value->size(); ++i) {
      std::uint32_t u;
      std::memcpy(&u, p.value->data() + i, 4);
      out.push_back(u);
    }
  return out;
}

// Two models, the first saved at path: the file a crash while saving the second must keep.
struct OldAndNew {
  explicit OldAndNew(std::string at) : path(std::move(at)) {
    make_net(old_net, 1);
    make_net(new_net, 2);
    save_safetensors(old_net, path);
    old_bytes = read_bytes(path);
  }

  // path still loads as old_net, and a save that runs to the end replaces it with new_net.
  void expect_old_then_new() {
    Sequential back;
    make_net(back, 3);
    load_safetensors(back, path);
    EXPECT_EQ(bits_of(back), bits_of(old_net));
    save_safetensors(new_net, path);
    load_safetensors(back, path);
    EXPECT_EQ(bits_of(back), bits_of(new_net));
  }

  std::string path;
  Sequential old_net, new_net;
  std::string old_bytes;
};

}  // namespace

TEST_F(CrashSafety, FailureBeforeRenameKeepsTheOldCheckpoint) {
  OldAndNew m(file("model.safetensors"));
  expect_crash_keeps([&] { save_safetensors(m.new_net, m.path); }, m.path, m.old_bytes);
  // Without the hook the same save goes through.
  m.expect_old_then_new();
}

TEST_F(CrashSafety, EveryWriterKeepsTheOldFile) {
  const std::string raw = file("raw.bin");
  write_file_atomic(raw, "old bytes");
  expect_crash_keeps([&] { write_file_atomic(raw, "new bytes"); }, raw, "old bytes");

  const Tensor a = zeros({2, 3}), b = Tensor({1.0f, 2.0f});
  const std::string st = file("tensors.safetensors");
  save_safetensors({{"a", &a}}, st);
  expect_crash_keeps([&] { save_safetensors({{"b", &b}}, st); }, st, read_bytes(st));

  const Image grey(3, 2, 1, 7), other(4, 4, 1, 200);
  const std::string png = file("image.png"), pgm = file("image.pgm");
  write_png(png, grey);
  write_pgm(pgm, grey);
  expect_crash_keeps([&] { write_png(png, other); }, png, read_bytes(png));
  expect_crash_keeps([&] { write_pgm(pgm, other); }, pgm, read_bytes(pgm));

  const std::string csv = file("metrics.csv");
  MetricsCsv metrics(csv);
  metrics.add({.epoch = 1, .train_loss = 0.5});
  const std::string one_row = read_bytes(csv);
  expect_crash_keeps([&] { metrics.add({.epoch = 2, .train_loss = 0.25}); }, csv, one_row);
  EXPECT_EQ(metrics.rows().size(), 1u);  // rows() stays in step with the file
}

TEST_F(CrashSafety, AThrowingWriterKeepsTheOldFile) {
  const std::string path = file("streamed.bin");
  write_file_atomic(path, "old");
  try {
    write_file_atomic(path, [](FileSink& out) {
      out.write("half of the new content");
      throw Error("the writer gave up");
    });
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "the writer gave up");
  }
  EXPECT_EQ(read_bytes(path), "old");
  EXPECT_TRUE(dir_.temp_files().empty());

  write_file_atomic(path, [](FileSink& out) {
    out.write("new ");
    out.write("content", 7);
    EXPECT_EQ(out.written(), 11u);
  });
  EXPECT_EQ(read_bytes(path), "new content");
}

// A process killed between the temporary and the rename: the old checkpoint still loads
// bit for bit, the stale temporary is ignored by readers, and the next save works.
TEST_F(CrashSafety, KilledProcessLeavesTheOldCheckpoint) {
  OldAndNew m(file("model.safetensors"));
  const pid_t child = ::fork();
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    set_atomic_write_hook_for_testing(
        [](const std::string&, const std::string&) { ::raise(SIGKILL); });
    try {
      save_safetensors(m.new_net, m.path);
    } catch (...) {
    }
    ::_exit(3);  // not reached unless the hook did not run
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  EXPECT_EQ(read_bytes(m.path), m.old_bytes);
  const std::vector<std::string> stale = dir_.temp_files();
  ASSERT_EQ(stale.size(), 1u);  // the dead process's complete temporary
  m.expect_old_then_new();
  EXPECT_EQ(dir_.temp_files(), stale);  // the stale one is left alone, and no other is added
}
