// BatchNorm2D: normalise each channel over the batch and the plane, then scale and shift.
//
//   x (N, C, H, W) -> y (N, C, H, W)
//   y = γ·(x − μ) / sqrt(σ² + eps) + β, per channel c, where
//     training: μ, σ² are the mean and the biased variance of channel c over N·H·W
//               values (N·H·W must be > 1), and the running estimates move toward them:
//               running_mean ← (1 − momentum)·running_mean + momentum·μ
//               running_var  ← (1 − momentum)·running_var  + momentum·σ²·m / (m − 1)
//               (the unbiased variance, m = N·H·W, as PyTorch does);
//     eval:     μ, σ² are running_mean and running_var.
//   parameters(): "weight" γ (C), initially 1; "bias" β (C), initially 0.
//   buffers():    "running_mean" (C), initially 0; "running_var" (C), initially 1;
//                 "num_batches_tracked", an int64 (Parameter::int64), initially 0.
//
// num_batches_tracked counts the training-mode forward passes, as PyTorch's does (eval
// mode leaves it). Only PyTorch's cumulative average (momentum=None) reads it, which is
// not offered here, so it changes no output; it is kept so that a state_dict moves
// between the two with every key, the count exact and saved as I64.
//
// BatchNorm2D(C, {.eps = 1e-5f, .momentum = 0.1f}), the defaults of PyTorch's
// nn.BatchNorm2d: eps > 0, momentum in [0, 1].
//
// With a ReLU: a Sequential runs a BatchNorm2D and a ReLU right after it as one layer
// (forward_relu), which writes max(0, y) in the pass that normalises and takes the ReLU's
// gradient inside its own backward, the mask made again from x: the ReLU's pass over the
// tensor, its backward's and the copy of y it keeps are saved, the results the same bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "layer.hpp"

namespace minicnn {

struct BatchNormOptions {
  float eps = 1e-5f;       // added to the variance, > 0
  float momentum = 0.1f;   // weight of the new batch in the running estimates, in [0, 1]
};

class BatchNorm2D : public Layer {
 public:
  explicit BatchNorm2D(std::size_t C, const BatchNormOptions& opt = {});

  std::vector<Parameter> parameters() override;
  std::vector<Parameter> buffers() override;
  // (N, C, H, W) -> the same; throws Error on another rank or channel count.
  Shape output_shape(const Shape& x) const override;
  // "BatchNorm2D(64)"
  std::string name() const override;
  // Counted as 4 per element: the two statistics passes, the normalisation, the affine.
  double flops(const Shape& x) const override;

  std::size_t channels() const { return C_; }
  const BatchNormOptions& options() const { return opt_; }
  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  Tensor& weight_grad() { return dweight_; }
  Tensor& bias_grad() { return dbias_; }
  Tensor& running_mean() { return running_mean_; }
  Tensor& running_var() { return running_var_; }
  std::int64_t& num_batches_tracked() { return num_batches_tracked_; }

  // forward followed by a ReLU: max(0, y). In training mode the next backward then takes
  // dL/d(max(0, y)) and gives dL/dx through both. (Sequential calls it for a BatchNorm2D
  // followed by a ReLU, and skips that ReLU.)
  Tensor forward_relu(Tensor&& x);
  Tensor forward_relu(const Tensor& x);

 protected:
  // Keeps x in saved().x (lent, not copied, when the caller gives it up) and the mean
  // and r = 1/σ per channel in saved().per_channel (and γ and β after them, with the
  // ReLU of forward_relu, whose mask backward makes again).
  Tensor forward_impl(const Tensor& x) override;
  // x̂ = (x − μ)·r with r = 1 / sqrt(σ² + eps), y = γ·x̂ + β, sums over n, h, w, m = N·H·W:
  //   dγ += Σ dy·x̂,  dβ += Σ dy,  dx = γ·r·(dy − Σ dy / m − x̂·Σ(dy·x̂) / m)
  void backward_impl(const Tensor& dy, Tensor* dx) override;

 private:
  // Throws Error when a parameter or buffer was replaced by a tensor of another shape.
  void check_state() const;

  std::size_t C_;
  BatchNormOptions opt_;
  Tensor weight_, bias_, dweight_, dbias_, running_mean_, running_var_;
  std::int64_t num_batches_tracked_ = 0;
  Tensor count_as_float_;  // 0-d: num_batches_tracked_ as buffers() last listed it
  bool relu_ = false;      // the last training forward applied a ReLU (forward_relu)
};

}  // namespace minicnn
