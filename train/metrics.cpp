#include "metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include <xtensor/xadapt.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xsort.hpp>
#include <xtensor/xview.hpp>

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

// How many positions hold the same label in both (of equal sizes).
std::size_t count_equal(const Labels& a, const Labels& b) {
  return xt::count_nonzero(xt::equal(xt::adapt(a), xt::adapt(b)))();
}

// Per class, the diagonal count over the counts summed along axis (1: the images of
// each true label, 0: the predictions of each class); 0 where that sum is 0.
std::vector<double> diagonal_share(const xt::xtensor<std::size_t, 2>& counts, std::size_t axis) {
  const xt::xtensor<double, 1> diag = xt::cast<double>(xt::diagonal(counts));
  const xt::xtensor<double, 1> totals = xt::cast<double>(xt::sum(counts, {axis}));
  const xt::xtensor<double, 1> share = xt::where(totals > 0.0, diag / totals, 0.0);
  return {share.begin(), share.end()};
}

}  // namespace

Labels argmax_rows(const Tensor& scores) {
  check_scores(scores, nullptr, "argmax_rows");
  Labels best(scores.shape()[0]);
  for (std::size_t i = 0; i < best.size(); ++i) best[i] = xt::argmax(xt::row(scores, i))();
  return best;
}

std::size_t count_correct(const Tensor& scores, const Labels& labels) {
  check_scores(scores, &labels, "count_correct");
  return count_equal(argmax_rows(scores), labels);
}

double accuracy(const Labels& predicted, const Labels& labels) {
  if (predicted.size() != labels.size())
    throw Error("accuracy: " + std::to_string(predicted.size()) + " predictions but " +
                std::to_string(labels.size()) + " labels");
  if (labels.empty()) return 0.0;
  return double(count_equal(predicted, labels)) / double(labels.size());
}

double accuracy(const Tensor& scores, const Labels& labels) {
  const std::size_t correct = count_correct(scores, labels);
  return labels.empty() ? 0.0 : double(correct) / double(labels.size());
}

// ---- ConfusionMatrix -------------------------------------------------------------

ConfusionMatrix::ConfusionMatrix(std::size_t num_classes) : k_(num_classes) {
  check_arg(k_ > 0, "ConfusionMatrix", "num_classes", "> 0", std::to_string(k_));
  counts_ = xt::zeros<std::size_t>({k_, k_});
}

void ConfusionMatrix::add(std::size_t predicted, std::size_t label) {
  if (predicted >= k_ || label >= k_)
    throw Error("ConfusionMatrix(" + std::to_string(k_) + "): predicted " +
                std::to_string(predicted) + ", label " + std::to_string(label) +
                ": both must be < " + std::to_string(k_));
  ++counts_(label, predicted);
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
  counts_.fill(0);
  total_ = 0;
}

std::size_t ConfusionMatrix::count(std::size_t label, std::size_t predicted) const {
  if (predicted >= k_ || label >= k_)
    throw Error("ConfusionMatrix(" + std::to_string(k_) + ")::count: label " +
                std::to_string(label) + ", predicted " + std::to_string(predicted) +
                ": both must be < " + std::to_string(k_));
  return counts_(label, predicted);
}

std::size_t ConfusionMatrix::correct() const { return xt::sum(xt::diagonal(counts_))(); }

double ConfusionMatrix::accuracy() const {
  return total_ ? double(correct()) / double(total_) : 0.0;
}

std::vector<double> ConfusionMatrix::recall() const { return diagonal_share(counts_, 1); }

std::vector<double> ConfusionMatrix::precision() const { return diagonal_share(counts_, 0); }

std::string ConfusionMatrix::table(const std::vector<std::string>& names) const {
  if (!names.empty() && names.size() != k_)
    throw Error("ConfusionMatrix(" + std::to_string(k_) + ")::table: expected " +
                std::to_string(k_) + " class names, got " + std::to_string(names.size()));
  auto name = [&](std::size_t i) { return names.empty() ? std::to_string(i) : names[i]; };
  std::size_t name_w = 5;  // "label"
  for (std::size_t i = 0; i < k_; ++i) name_w = std::max(name_w, name(i).size());
  // The widest count or class index, and a space.
  const std::size_t cell_w =
      std::max(std::to_string(xt::amax(counts_)()).size(), std::to_string(k_ - 1).size()) + 1;

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
    for (std::size_t j = 0; j < k_; ++j) pad(std::to_string(counts_(i, j)), cell_w, false);
    std::snprintf(pct, sizeof pct, "%6.2f%%", 100.0 * rec[i]);
    out << " | " << pct << "\n";
  }
  std::snprintf(pct, sizeof pct, "%.2f%%", 100.0 * accuracy());
  out << "rows: true label, columns: predicted; accuracy " << pct << " (" << correct() << " / "
      << total_ << ")\n";
  return out.str();
}

}  // namespace minicnn
