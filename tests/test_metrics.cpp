#include <gtest/gtest.h>

#include <minicnn/train/metrics.hpp>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

TEST(Metrics, ArgmaxPerRowFirstOnTies) {
  const Tensor scores = {{0.1f, 0.7f, 0.2f}, {3.0f, -1.0f, 3.0f}, {-5.0f, -4.0f, -6.0f}};
  EXPECT_EQ(argmax_rows(scores), (Labels{1, 0, 1}));
  EXPECT_THROW(argmax_rows(Tensor{1.0f, 2.0f}), Error);
}

TEST(Metrics, Accuracy) {
  EXPECT_DOUBLE_EQ(accuracy(Labels{1, 2, 3, 4}, Labels{1, 2, 0, 4}), 0.75);
  EXPECT_DOUBLE_EQ(accuracy(Labels{}, Labels{}), 0.0);
  const Tensor scores = {{0.1f, 0.9f}, {0.8f, 0.2f}, {0.3f, 0.7f}};
  EXPECT_EQ(count_correct(scores, Labels{1, 0, 0}), 2u);
  EXPECT_DOUBLE_EQ(accuracy(scores, Labels{1, 0, 0}), 2.0 / 3.0);
  expect_error_naming([&] { accuracy(scores, Labels{1, 0}); }, {"(3, 2)", "got 2"});
  EXPECT_THROW(accuracy(Labels{1}, Labels{1, 2}), Error);
}

TEST(ConfusionMatrix, CountsRecallPrecision) {
  ConfusionMatrix cm(3);
  // label 0: predicted 0, 0, 1; label 1: predicted 1; label 2: predicted 0, 2.
  cm.add(Labels{0, 0, 1, 1, 0, 2}, Labels{0, 0, 0, 1, 2, 2});
  EXPECT_EQ(cm.total(), 6u);
  EXPECT_EQ(cm.count(0, 0), 2u);
  EXPECT_EQ(cm.count(0, 1), 1u);
  EXPECT_EQ(cm.count(2, 0), 1u);
  EXPECT_EQ(cm.correct(), 4u);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 4.0 / 6.0);
  const auto r = cm.recall();
  EXPECT_DOUBLE_EQ(r[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r[1], 1.0);
  EXPECT_DOUBLE_EQ(r[2], 0.5);
  const auto p = cm.precision();
  EXPECT_DOUBLE_EQ(p[0], 2.0 / 3.0);  // predicted 0 three times, right twice
  EXPECT_DOUBLE_EQ(p[1], 0.5);
  EXPECT_DOUBLE_EQ(p[2], 1.0);
  // From scores, one at a time, and reset.
  cm.add(Tensor{{0.0f, 0.0f, 1.0f}}, Labels{2});
  cm.add(1, 2);
  EXPECT_EQ(cm.count(2, 2), 2u);
  EXPECT_EQ(cm.count(2, 1), 1u);
  cm.reset();
  EXPECT_EQ(cm.total(), 0u);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 0.0);
  EXPECT_EQ(cm.recall(), (std::vector<double>{0, 0, 0}));
}

TEST(ConfusionMatrix, TableShowsCountsAndRecall) {
  ConfusionMatrix cm(3);
  cm.add(Labels{0, 0, 1, 1, 0, 2}, Labels{0, 0, 0, 1, 2, 2});
  const std::string t = cm.table({"cat", "dog", "bird"});
  EXPECT_NE(t.find("label | 0 1 2 | recall"), std::string::npos) << t;
  EXPECT_NE(t.find("cat   | 2 1 0 |  66.67%"), std::string::npos) << t;
  EXPECT_NE(t.find("dog   | 0 1 0 | 100.00%"), std::string::npos) << t;
  EXPECT_NE(t.find("bird  | 1 0 1 |  50.00%"), std::string::npos) << t;
  EXPECT_NE(t.find("accuracy 66.67% (4 / 6)"), std::string::npos) << t;
  EXPECT_NE(cm.table().find("0     |"), std::string::npos);
  EXPECT_THROW(cm.table({"one"}), Error);
}

TEST(ConfusionMatrix, BadInput) {
  EXPECT_THROW(ConfusionMatrix(0), Error);
  ConfusionMatrix cm(10);
  expect_error_naming([&] { cm.add(3, 10); }, {"label 10"});
  EXPECT_THROW(cm.add(Tensor{{1.0f, 2.0f}}, Labels{0}), Error);  // 2 classes, not 10
  EXPECT_THROW(cm.add(Labels{1, 2}, Labels{1}), Error);
  EXPECT_THROW(cm.count(10, 0), Error);
}
