// Losses: each returns the mean loss over the batch and its gradient dL/d(input).
#pragma once

#include "../core/tensor.hpp"

namespace minicnn {

struct LossResult {
  float loss = 0.0f;  // mean over the batch
  Tensor grad;        // dL/d(input), same shape as the input
};

// logits (N, K), labels N values in [0, K). Softmax then cross-entropy, through
// log-sum-exp so that logits of any size stay finite. grad = (softmax − target) / N.
// The target is the one-hot label, or with label_smoothing ε in [0, 1] PyTorch's
// smoothed one, (1 − ε)·onehot + ε/K: a share ε of the label's weight spread evenly over
// all K classes. Throws Error naming both when the label count is not N or a label is
// outside [0, K), and naming ε when it is outside [0, 1].
LossResult softmax_cross_entropy(const Tensor& logits, const Labels& labels,
                                 float label_smoothing = 0.0f);

// Mean squared error over all elements: L = Σ (y − t)² / numel, grad = 2 (y − t) / numel.
// Throws Error naming both shapes when they differ.
LossResult mse(const Tensor& y, const Tensor& target);

}  // namespace minicnn
