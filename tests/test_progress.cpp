#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <minicnn/train/progress.hpp>
#include <sstream>
#include <string>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;
namespace fs = std::filesystem;

TEST(ProgressBar, NotATerminalPrintsOneLineAtTheEnd) {
  std::ostringstream out;
  ProgressBar bar(3, {.label = "epoch 2/5", .out = &out});
  EXPECT_FALSE(bar.interactive());
  bar.step(64, 1.0);
  bar.step(64, 0.5);
  EXPECT_EQ(out.str(), "");  // nothing until the end
  bar.step(32, 0.25);
  EXPECT_EQ(bar.images(), 160u);
  // The running loss weighs each batch by its images: (64 + 32 + 8) / 160.
  EXPECT_DOUBLE_EQ(bar.mean_loss(), 104.0 / 160.0);
  bar.finish("test acc 97.50%");
  bar.finish("twice");  // only the first counts
  const std::string s = out.str();
  EXPECT_EQ(s.find('\r'), std::string::npos) << s;
  EXPECT_EQ(s.find("\x1b"), std::string::npos) << s;
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1) << s;
  EXPECT_EQ(s.rfind("epoch 2/5 3/3  ", 0), 0u) << s;
  EXPECT_NE(s.find(" img/s  loss 0.6500  "), std::string::npos) << s;
  EXPECT_NE(s.find(" s  test acc 97.50%\n"), std::string::npos) << s;
}

TEST(ProgressBar, TerminalRedrawsInPlace) {
  std::ostringstream out;
  {
    ProgressBar bar(
        4, {.label = "e1", .out = &out, .interactive = true, .width = 8, .redraw_seconds = 0.0});
    bar.step(10, 2.0);
    bar.step(10, 2.0);
    const std::string mid = out.str();
    EXPECT_NE(mid.find("\re1 [##......] 1/4"), std::string::npos) << mid;
    EXPECT_NE(mid.find("\re1 [####....] 2/4"), std::string::npos) << mid;
    EXPECT_NE(mid.find("ETA "), std::string::npos) << mid;
    EXPECT_EQ(mid.find('\n'), std::string::npos) << mid;
    bar.step(10, 2.0);
    bar.step(10, 2.0);
    bar.finish();
  }
  const std::string s = out.str();
  EXPECT_NE(s.find("\re1 4/4  "), std::string::npos) << s;
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1) << s;
  // A bar left unfinished still ends its line, so the next output does not overwrite it.
  std::ostringstream out2;
  {
    ProgressBar bar(4, {.out = &out2, .interactive = true, .redraw_seconds = 0.0});
    bar.step(1, 0.1);
  }
  EXPECT_EQ(out2.str().back(), '\n');
}

TEST(ProgressBar, FormatDuration) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(65.4), "1:05");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::infinity()), "?");
}

TEST(MetricsCsv, WritesEveryRowThroughARename) {
  const TempDir dir;
  const std::string file = dir.file("metrics.csv");
  MetricsCsv csv(file);
  const std::string header =
      "epoch,train_loss,train_acc,val_loss,val_acc,test_acc,seconds,data_wait_seconds\n";
  EXPECT_EQ(read_bytes(file), header);
  csv.add({.epoch = 1, .train_loss = 0.25, .train_acc = 0.9, .test_acc = 0.95, .seconds = 12.5});
  csv.add({.epoch = 2,
           .train_loss = 0.125,
           .train_acc = 0.96,
           .test_acc = std::numeric_limits<double>::quiet_NaN(),
           .seconds = 11.0,
           .val_loss = 0.5,
           .val_acc = 0.875,
           .data_wait_seconds = 0.25});
  EXPECT_EQ(read_bytes(file), header +
                                  "1,0.250000,0.900000,,,0.950000,12.500,0.000\n"
                                  "2,0.125000,0.960000,0.500000,0.875000,,11.000,0.250\n");
  EXPECT_EQ(csv.rows().size(), 2u);
  // Only the file itself is left: the temporaries were renamed away.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);

  expect_error_naming([&] { MetricsCsv bad(dir.file("missing-folder/m.csv")); },
                      {"missing-folder/m.csv"});
}

TEST(MetricsCsv, AResumedRunKeepsTheEarlierEpochsRows) {
  const TempDir dir;
  const std::string file = dir.file("metrics.csv");
  {
    MetricsCsv first(file);
    for (std::size_t e = 1; e <= 3; ++e)
      first.add({.epoch = e, .train_loss = 1.0 / double(e), .train_acc = 0.5, .test_acc = 0.75,
                 .seconds = 2.0, .val_loss = 0.5, .val_acc = 0.625});
  }
  const std::string three = read_bytes(file);
  // Resumed after epoch 2: epoch 3's row (trained again) goes, 1 and 2 stay as they were.
  MetricsCsv resumed(file, 2);
  EXPECT_EQ(resumed.kept().size(), 2u);
  EXPECT_TRUE(resumed.rows().empty());
  resumed.add({.epoch = 3, .train_loss = 0.25, .train_acc = 0.5, .test_acc = 0.75, .seconds = 3.0});
  const std::string now = read_bytes(file);
  const std::string upto2 = three.substr(0, three.find("\n3,") + 1);
  EXPECT_EQ(now.substr(0, upto2.size()), upto2);
  EXPECT_TRUE(contains(now, "\n3,0.250000,0.500000,,,0.750000,3.000,0.000\n")) << now;

  // An older file (without the validation columns) is read by its column names.
  write_bytes(file, "epoch,train_loss,train_acc,test_acc,seconds\n1,0.5,0.8,0.9,10\n2,0.25,0.9,0.95,11\n");
  MetricsCsv old(file, 1);
  ASSERT_EQ(old.kept().size(), 1u);
  EXPECT_EQ(read_bytes(file),
            "epoch,train_loss,train_acc,val_loss,val_acc,test_acc,seconds,data_wait_seconds\n"
            "1,0.500000,0.800000,,,0.900000,10.000,0.000\n");

  // No file yet: it starts empty. A damaged one is an Error naming it and the line.
  EXPECT_TRUE(MetricsCsv(dir.file("new.csv"), 4).kept().empty());
  write_bytes(file, "epoch,train_loss\n1,0.5\n2,zero\n");
  expect_error_naming([&] { MetricsCsv bad(file, 2); }, {file, "line 3", "zero"});
  write_bytes(file, "loss\n1\n");
  expect_error_naming([&] { MetricsCsv bad(file, 2); }, {file, "line 1"});
  write_bytes(file, "epoch,train_loss\n1,0.5,7\n");
  expect_error_naming([&] { MetricsCsv bad(file, 2); }, {file, "line 2"});
}
