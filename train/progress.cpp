#include "progress.hpp"

#include <unistd.h>

#include <cmath>
#include <vector>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <filesystem>
#include <cstdio>
#include <iostream>

#include "../io/file.hpp"

namespace minicnn {

namespace {

std::string fmt(const char* format, double v) {
  char s[64];
  std::snprintf(s, sizeof s, format, v);
  return s;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  const long long h = total / 3600, m = total / 60 % 60, s = total % 60;
  char out[48];
  if (h > 0)
    std::snprintf(out, sizeof out, "%lld:%02lld:%02lld", h, m, s);
  else
    std::snprintf(out, sizeof out, "%lld:%02lld", m, s);
  return out;
}

// ---- ProgressBar -----------------------------------------------------------------

ProgressBar::ProgressBar(std::size_t total, ProgressOptions opt)
    : total_(total), opt_(std::move(opt)) {
  check_arg(opt_.redraw_seconds >= 0.0, "ProgressBar", "redraw_seconds", ">= 0",
            std::to_string(opt_.redraw_seconds));
  out_ = opt_.out ? opt_.out : &std::cerr;
  interactive_ = opt_.interactive.value_or(out_ == &std::cerr && ::isatty(STDERR_FILENO) == 1);
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() {
  if (interactive_ && drawn_ && !finished_) {
    try {
      *out_ << '\n' << std::flush;
    } catch (...) {  // a destructor must not throw; a lost newline is harmless
    }
  }
}

double ProgressBar::mean_loss() const { return images_ ? loss_sum_ / double(images_) : 0.0; }

double ProgressBar::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double ProgressBar::images_per_second() const {
  const double s = seconds();
  return s > 0 ? double(images_) / s : 0.0;
}

void ProgressBar::step(std::size_t images, double loss) {
  ++done_;
  images_ += images;
  loss_sum_ += loss * double(images);
  if (!interactive_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = total_ > 0 && done_ >= total_;
  if (drawn_ && !last &&
      std::chrono::duration<double>(now - last_draw_).count() < opt_.redraw_seconds)
    return;
  last_draw_ = now;
  drawn_ = true;
  // \r back to the line's start, \x1b[K clears what a longer line left behind.
  *out_ << '\r' << line(false, "") << "\x1b[K" << std::flush;
}

void ProgressBar::finish(const std::string& extra) {
  if (finished_) return;
  finished_ = true;
  if (interactive_) *out_ << '\r';
  *out_ << line(true, extra) << (interactive_ ? "\x1b[K\n" : "\n") << std::flush;
}

std::string ProgressBar::line(bool final, const std::string& extra) const {
  std::string s = opt_.label;
  if (!s.empty()) s += ' ';
  if (!final && total_ > 0 && opt_.width > 0) {
    const std::size_t fill = std::min(opt_.width, done_ * opt_.width / total_);
    s += '[' + std::string(fill, '#') + std::string(opt_.width - fill, '.') + "] ";
  }
  s += std::to_string(done_);
  if (total_ > 0) s += '/' + std::to_string(total_);
  s += "  " + fmt("%.0f", images_per_second()) + " img/s";
  s += "  loss " + fmt("%.4f", mean_loss());
  const double elapsed = seconds();
  if (final) {
    s += "  " + fmt("%.1f", elapsed) + " s";
    if (!extra.empty()) s += "  " + extra;
  } else if (total_ > 0 && done_ > 0 && done_ < total_) {
    s += "  ETA " + format_duration(elapsed / double(done_) * double(total_ - done_));
  }
  return s;
}

// ---- MetricsCsv ------------------------------------------------------------------

namespace {

constexpr const char* kCsvColumns[] = {"epoch",   "train_loss", "train_acc", "val_loss",
                                       "val_acc", "test_acc",   "seconds",   "data_wait_seconds"};

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> cells(1);
  for (char c : line) {
    if (c == ',') cells.emplace_back();
    else cells.back() += c;
  }
  return cells;
}

// The rows of epochs 1 .. keep_through in the metrics CSV at `path`, by column name.
std::vector<EpochRecord> read_metrics_rows(const std::string& path, std::size_t keep_through) {
  std::vector<EpochRecord> rows;
  if (!std::filesystem::exists(path)) return rows;
  const std::vector<std::uint8_t> bytes = read_file(path, "MetricsCsv");
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  const auto bad = [&](std::size_t line, const std::string& what) {
    return Error("MetricsCsv: " + path + ": line " + std::to_string(line) + ": " + what);
  };
  std::string line;
  if (!std::getline(in, line)) throw bad(1, "empty file, expected a header");
  const std::vector<std::string> header = split_commas(line);
  if (header.empty() || header[0] != "epoch") throw bad(1, "not a metrics CSV header: '" + line + "'");
  std::size_t n = 1;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    const std::vector<std::string> cells = split_commas(line);
    if (cells.size() != header.size())
      throw bad(n, std::to_string(cells.size()) + " cells where the header has " +
                       std::to_string(header.size()));
    EpochRecord r;
    r.test_acc = r.train_loss = r.train_acc = r.seconds = std::nan("");
    for (std::size_t i = 0; i < cells.size(); ++i) {
      double v = std::nan("");
      if (!cells[i].empty()) {
        char* end = nullptr;
        v = std::strtod(cells[i].c_str(), &end);
        if (*end != '\0') throw bad(n, "'" + cells[i] + "' is not a number");
      }
      const std::string& h = header[i];
      if (h == "epoch") {
        if (!(v >= 1 && v < 1e9 && v == std::floor(v))) throw bad(n, "bad epoch '" + cells[i] + "'");
        r.epoch = static_cast<std::size_t>(v);
      } else if (h == "train_loss") r.train_loss = v;
      else if (h == "train_acc") r.train_acc = v;
      else if (h == "val_loss") r.val_loss = v;
      else if (h == "val_acc") r.val_acc = v;
      else if (h == "test_acc") r.test_acc = v;
      else if (h == "seconds") r.seconds = v;
      else if (h == "data_wait_seconds") r.data_wait_seconds = std::isnan(v) ? 0.0 : v;
    }
    if (r.epoch <= keep_through) rows.push_back(r);
  }
  return rows;
}

}  // namespace

MetricsCsv::MetricsCsv(std::string path, std::size_t keep_through) : path_(std::move(path)) {
  if (keep_through > 0) kept_ = read_metrics_rows(path_, keep_through);
  write_file_atomic(path_, to_string(), "MetricsCsv");
}

void MetricsCsv::add(const EpochRecord& row) {
  rows_.push_back(row);
  try {
    write_file_atomic(path_, to_string(), "MetricsCsv");
  } catch (...) {
    rows_.pop_back();  // the file and rows() stay in step
    throw;
  }
}

std::string MetricsCsv::to_string() const {
  auto cell = [](const char* format, double v) {
    return std::isnan(v) ? std::string() : fmt(format, v);
  };
  std::string s;
  for (const char* c : kCsvColumns) s += std::string(s.empty() ? "" : ",") + c;
  s += '\n';
  for (const auto* part : {&kept_, &rows_})
    for (const EpochRecord& r : *part) {
      s += std::to_string(r.epoch) + ',' + cell("%.6f", r.train_loss) + ',' +
           cell("%.6f", r.train_acc) + ',' + cell("%.6f", r.val_loss) + ',' +
           cell("%.6f", r.val_acc) + ',' + cell("%.6f", r.test_acc) + ',' +
           cell("%.3f", r.seconds) + ',' + cell("%.3f", r.data_wait_seconds) + '\n';
    }
  return s;
}

}  // namespace minicnn
