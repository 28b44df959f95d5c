// Dense (fully connected): y = x·Wᵀ + b.
//
//   x (N, in) -> y (N, out)
//   weight W (out, in), PyTorch's nn.Linear layout; bias b (out), unless bias = false.
//   Dense(in, out, bias = true, rng = default_rng()): W drawn He-normal, N(0, 2 / in),
//   for a layer followed by ReLU; b zero. parameters(): "weight", then "bias".
//
// Forward and both backward products are single sgemm calls over the whole batch.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "../core/random.hpp"
#include "layer.hpp"

namespace minicnn {

class Dense : public Layer {
 public:
  // in, out > 0; throws Error otherwise.
  Dense(std::size_t in, std::size_t out, bool bias = true, Rng& rng = default_rng());

  std::vector<Parameter> parameters() override;
  Shape output_shape(const Shape& x) const override;
  // "Dense(784->10)", or "Dense(784->10, no bias)"
  std::string name() const override;
  // 2·N·in·out for the product, N·out for the bias.
  double flops(const Shape& x) const override;

  std::size_t in_features() const { return in_; }
  std::size_t out_features() const { return out_; }
  bool has_bias() const { return has_bias_; }
  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }  // empty without a bias
  Tensor& weight_grad() { return dweight_; }
  Tensor& bias_grad() { return dbias_; }

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y = x·Wᵀ + b  ⇒  dW += dyᵀ·x,  db += Σ_n dy,  dx = dy·W
  void backward_impl(const Tensor& dy, Tensor* dx) override;

 private:
  // Throws Error when weight or bias were replaced by tensors of another shape.
  void check_parameters() const;

  std::size_t in_, out_;
  bool has_bias_;
  Tensor weight_, bias_, dweight_, dbias_;
};

}  // namespace minicnn
