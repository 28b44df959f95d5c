// Losses: each returns the mean loss over the batch and its gradient dL/d(input).
#pragma once

#include <cstddef>
#include <vector>

#include "../tensor.hpp"

namespace minicnn {

using Labels = std::vector<std::size_t>;

struct LossResult {
  float loss = 0.0f;  // mean over the batch
  Tensor grad;        // dL/d(input), same shape as the input
};

// logits (N, K), labels N values in [0, K). Softmax then cross-entropy, through
// log-sum-exp so that logits of any size stay finite. grad = (softmax − onehot) / N.
LossResult softmax_cross_entropy(const Tensor& logits, const Labels& labels);

// Mean squared error over all elements: L = Σ (y − t)² / numel, grad = 2 (y − t) / numel.
LossResult mse(const Tensor& y, const Tensor& target);

}  // namespace minicnn
