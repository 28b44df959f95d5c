#include "metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace minicnn {

namespace {

void check_scores(const Tensor& scores, const Labels* labels, const char* who) {
  check_rank(scores, 2, who, "scores (N, K)");
  check_arg(scores.shape()[1] > 0, who, "the number of classes K", "> 0", "0");
  if (labels && labels->size() != scores.shape()[0])
    throw Error(std::string(who) + ": expected " + std::to_string(scores.shape()[0]) +
                " labels for scores " + to_string(shape_of(scores)) + ", got " +
                std::to_string(labels->size()));
}

std::size_t argmax_row(const float* row, std::size_t k) {
  std::size_t best = 0;
  for (std::size_t j = 1; j < k; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

}  // namespace

Labels argmax_rows(const Tensor& scores) {
  check_scores(scores, nullptr, "argmax_rows");
  const std::size_t n = scores.shape()[0], k = scores.shape()[1];
  Labels out(n);
  const float* p = scores.data();
  for (std::size_t i = 0; i < n; ++i) out[i] = argmax_row(p + i * k, k);
  return out;
}

std::size_t count_correct(const Tensor& scores, const Labels& labels) {
  check_scores(scores, &labels, "count_correct");
  const std::size_t n = scores.shape()[0], k = scores.shape()[1];
  const float* p = scores.data();
  std::size_t correct = 0;
  for (std::size_t i = 0; i < n; ++i) correct += argmax_row(p + i * k, k) == labels[i];
  return correct;
}

double accuracy(const Labels& predicted, const Labels& labels) {
  if (predicted.size() != labels.size())
    throw Error("accuracy: " + std::to_string(predicted.size()) + " predictions but " +
                std::to_string(labels.size()) + " labels");
  if (labels.empty()) return 0.0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) correct += predicted[i] == labels[i];
  return double(correct) / double(labels.size());
}

double accuracy(const Tensor& scores, const Labels& labels) {
  const std::size_t correct = count_correct(scores, labels);
  return labels.empty() ? 0.0 : double(correct) / double(labels.size());
}

// ---- ConfusionMatrix -------------------------------------------------------------

ConfusionMatrix::ConfusionMatrix(std::size_t num_classes) : k_(num_classes) {
  check_arg(k_ > 0, "ConfusionMatrix", "num_classes", "> 0", std::to_string(k_));
  counts_.assign(k_ * k_, 0);
}

void ConfusionMatrix::add(std::size_t predicted, std::size_t label) {
  if (predicted >= k_ || label >= k_)
    throw Error("ConfusionMatrix(" + std::to_string(k_) + "): predicted " +
                std::to_string(predicted) + ", label " + std::to_string(label) +
                ": both must be < " + std::to_string(k_));
  ++counts_[label * k_ + predicted];
  ++total_;
}

void ConfusionMatrix::add(const Labels& predicted, const Labels& labels) {
  if (predicted.size() != labels.size())
    throw Error("ConfusionMatrix::add: " + std::to_string(predicted.size()) + " predictions but " +
                std::to_string(labels.size()) + " labels");
  for (std::size_t i = 0; i < labels.size(); ++i) add(predicted[i], labels[i]);
}

void ConfusionMatrix::add(const Tensor& scores, const Labels& labels) {
  check_scores(scores, &labels, "ConfusionMatrix::add");
  if (scores.shape()[1] != k_)
    throw Error("ConfusionMatrix(" + std::to_string(k_) + ")::add: expected scores (N, " +
                std::to_string(k_) + "), got " + to_string(shape_of(scores)));
  add(argmax_rows(scores), labels);
}

void ConfusionMatrix::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
}

std::size_t ConfusionMatrix::count(std::size_t label, std::size_t predicted) const {
  if (predicted >= k_ || label >= k_)
    throw Error("ConfusionMatrix(" + std::to_string(k_) + ")::count: label " +
                std::to_string(label) + ", predicted " + std::to_string(predicted) +
                ": both must be < " + std::to_string(k_));
  return counts_[label * k_ + predicted];
}

std::size_t ConfusionMatrix::correct() const {
  std::size_t c = 0;
  for (std::size_t i = 0; i < k_; ++i) c += counts_[i * k_ + i];
  return c;
}

double ConfusionMatrix::accuracy() const {
  return total_ ? double(correct()) / double(total_) : 0.0;
}

std::vector<double> ConfusionMatrix::recall() const {
  std::vector<double> r(k_, 0.0);
  for (std::size_t i = 0; i < k_; ++i) {
    std::size_t row = 0;
    for (std::size_t j = 0; j < k_; ++j) row += counts_[i * k_ + j];
    if (row) r[i] = double(counts_[i * k_ + i]) / double(row);
  }
  return r;
}

std::vector<double> ConfusionMatrix::precision() const {
  std::vector<double> p(k_, 0.0);
  for (std::size_t j = 0; j < k_; ++j) {
    std::size_t col = 0;
    for (std::size_t i = 0; i < k_; ++i) col += counts_[i * k_ + j];
    if (col) p[j] = double(counts_[j * k_ + j]) / double(col);
  }
  return p;
}

std::string ConfusionMatrix::table(const std::vector<std::string>& names) const {
  if (!names.empty() && names.size() != k_)
    throw Error("ConfusionMatrix(" + std::to_string(k_) + ")::table: expected " +
                std::to_string(k_) + " class names, got " + std::to_string(names.size()));
  auto name = [&](std::size_t i) { return names.empty() ? std::to_string(i) : names[i]; };
  std::size_t name_w = 5;  // "label"
  for (std::size_t i = 0; i < k_; ++i) name_w = std::max(name_w, name(i).size());
  std::size_t cell_w = 1;
  for (std::size_t c : counts_) cell_w = std::max(cell_w, std::to_string(c).size());
  cell_w = std::max(cell_w, std::to_string(k_ - 1).size()) + 1;

  std::ostringstream out;
  auto pad = [&](const std::string& s, std::size_t w, bool left) {
    const std::string fill(w > s.size() ? w - s.size() : 0, ' ');
    out << (left ? s + fill : fill + s);
  };
  // Header: the predicted class indices, then recall.
  pad("label", name_w, true);
  out << " |";
  for (std::size_t j = 0; j < k_; ++j) pad(std::to_string(j), cell_w, false);
  out << " | recall\n";
  out << std::string(name_w, '-') << "-+" << std::string(cell_w * k_, '-') << "-+-------\n";
  const auto rec = recall();
  char pct[16];
  for (std::size_t i = 0; i < k_; ++i) {
    pad(name(i), name_w, true);
    out << " |";
    for (std::size_t j = 0; j < k_; ++j) pad(std::to_string(counts_[i * k_ + j]), cell_w, false);
    std::snprintf(pct, sizeof pct, "%6.2f%%", 100.0 * rec[i]);
    out << " | " << pct << "\n";
  }
  std::snprintf(pct, sizeof pct, "%.2f%%", 100.0 * accuracy());
  out << "rows: true label, columns: predicted; accuracy " << pct << " (" << correct() << " / "
      << total_ << ")\n";
  return out.str();
}

}  // namespace minicnn
