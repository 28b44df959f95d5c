// Classification metrics: predicted classes, accuracy and a confusion matrix.
//
//   ConfusionMatrix cm(10);
//   cm.add(net.forward(x), y);               // logits (N, 10) and N labels
//   std::cout << cm.table() << "accuracy " << cm.accuracy() << "\n";
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../core/tensor.hpp"

namespace minicnn {

// The index of the largest value of each row of scores (N, K); the first one on a tie.
Labels argmax_rows(const Tensor& scores);
// How many rows of scores (N, K) have their largest value at the row's label.
std::size_t count_correct(const Tensor& scores, const Labels& labels);
// The fraction of predictions equal to their label, in [0, 1]; 0 for no predictions.
double accuracy(const Labels& predicted, const Labels& labels);
double accuracy(const Tensor& scores, const Labels& labels);

// K×K counts: row = true label, column = predicted class.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(std::size_t num_classes);

  // Counts one prediction; both must be < num_classes (Error otherwise).
  void add(std::size_t predicted, std::size_t label);
  void add(const Labels& predicted, const Labels& labels);
  // The argmax of each row of scores (N, K) against its label.
  void add(const Tensor& scores, const Labels& labels);
  void reset();

  std::size_t num_classes() const { return k_; }
  std::size_t count(std::size_t label, std::size_t predicted) const;
  std::size_t total() const { return total_; }
  std::size_t correct() const;

  // The fraction on the diagonal; 0 before any add.
  double accuracy() const;
  // Per class: correct / images of that label (recall), and correct / predictions of that
  // class (precision); 0 for a class with no images or no predictions.
  std::vector<double> recall() const;
  std::vector<double> precision() const;

  // The counts as a table, one row per true label, with each row's recall and a last
  // line of overall accuracy. names (optional, K of them) label the rows.
  std::string table(const std::vector<std::string>& names = {}) const;

 private:
  std::size_t k_;
  xt::xtensor<std::size_t, 2> counts_;  // (k_, k_): [true label, predicted class]
  std::size_t total_ = 0;
};

}  // namespace minicnn
