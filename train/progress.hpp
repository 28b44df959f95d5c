// Training progress on the terminal, and a per-epoch metrics file.
//
//   ProgressBar bar(batches.num_batches(), {.label = "epoch 3/10"});
//   while (batches.next()) { ...; bar.step(batch_images, loss); }
//   bar.finish("test acc 98.91%");
//
// On a terminal the bar redraws in place (at most every redraw_seconds):
//   epoch 3/10 [###########.........] 512/938  23104 img/s  loss 0.0412  ETA 0:02
// Elsewhere (a log file, a pipe, CI) it prints only the line finish() draws:
//   epoch 3/10 938/938  23104 img/s  loss 0.0398  2.6 s  test acc 98.91%
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "../core/tensor.hpp"

namespace minicnn {

struct ProgressOptions {
  std::string label = {};                // first on the line, such as "epoch 3/10"
  std::ostream* out = nullptr;           // nullptr: std::cerr
  std::optional<bool> interactive = {};  // redraw in place; unset: whether stderr is a
                                         // terminal when out is std::cerr, else false
  std::size_t width = 24;                // of the bar, in characters
  double redraw_seconds = 0.1;           // the least time between two redraws, >= 0
};

class ProgressBar {
 public:
  // total: the number of batches in the epoch (0 when unknown: no bar, no ETA).
  explicit ProgressBar(std::size_t total, ProgressOptions opt = {});
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();  // ends a bar left unfinished with a newline, so it is not overwritten

  // After each batch: how many images it held and its mean loss.
  void step(std::size_t images, double loss);
  // Draws the final line, with extra (such as test accuracy) appended. Once only.
  void finish(const std::string& extra = "");

  std::size_t done() const { return done_; }
  std::size_t images() const { return images_; }
  double mean_loss() const;  // over the images so far
  double seconds() const;
  double images_per_second() const;
  bool interactive() const { return interactive_; }

 private:
  std::string line(bool final, const std::string& extra) const;

  std::size_t total_;
  ProgressOptions opt_;
  std::ostream* out_;
  bool interactive_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::size_t done_ = 0, images_ = 0;
  double loss_sum_ = 0;  // Σ batch loss × batch images
  bool drawn_ = false, finished_ = false;
};

// "1:05", "1:02:03": a duration for a human.
std::string format_duration(double seconds);

struct EpochRecord {
  std::size_t epoch = 0;
  double train_loss = 0, train_acc = 0, test_acc = 0;  // accuracies as fractions in [0, 1]
  double seconds = 0;
  double val_loss = std::nan(""), val_acc = std::nan("");  // NaN without a validation split
  double data_wait_seconds = 0;  // of seconds, waiting for training batches (not in the CSV)
};

// A CSV file with a header and one row per epoch:
//   epoch,train_loss,train_acc,val_loss,val_acc,test_acc,seconds,data_wait_seconds
//   1,0.215623,0.934117,,,0.974300,12.413,0.151
// Each add() rewrites the whole file through a temporary and a rename, so the file is
// always complete, even when a run is killed mid-epoch. A NaN value is an empty cell
// (val_loss and val_acc without a validation split).
class MetricsCsv {
 public:
  // Writes the file now (a bad path fails before training starts): the header alone, or,
  // when keep_through > 0 (a resumed run), the rows of epochs 1 .. keep_through that the
  // file at `path` already holds, read by their column names (an older file without the
  // validation columns included; a column it lacks is empty). A file that is not such a
  // CSV is an Error naming it and the line; a missing one starts empty.
  explicit MetricsCsv(std::string path, std::size_t keep_through = 0);
  void add(const EpochRecord& row);
  // The rows added by add(), without those kept from the file.
  const std::vector<EpochRecord>& rows() const { return rows_; }
  const std::vector<EpochRecord>& kept() const { return kept_; }
  const std::string& path() const { return path_; }
  // The file's content for the kept rows and the rows so far.
  std::string to_string() const;

 private:
  std::string path_;
  std::vector<EpochRecord> kept_, rows_;
};

}  // namespace minicnn
