// Activations: elementwise ReLU, LeakyReLU, Sigmoid, Tanh, and Softmax over features.
//
//   ReLU          y = max(x, 0)                       any shape; dy/dx = 1 where x > 0, else 0
//   LeakyReLU(a)  y = x if x > 0, else a·x             any shape; a = slope, default 0.01
//   Sigmoid       y = 1 / (1 + exp(−x))                any shape
//   Tanh          y = tanh(x)                          any shape
//   Softmax       y[n,k] = exp(x[n,k]) / Σ_j exp(x[n,j])   x (N, K) -> y (N, K)
//
// No parameters. y has x's shape. In training mode each keeps what its backward needs
// (the output, or the input for ReLU and LeakyReLU); in eval mode nothing, and backward throws.
// Softmax is for inference (class probabilities); to train a classifier feed the raw
// logits to softmax_cross_entropy, which is cheaper and more stable than Softmax
// followed by a log. Softmax still has an exact backward, for models that need one.
#pragma once

#include <string>

#include "layer.hpp"

namespace minicnn {

// What the elementwise activations share: the output shape is the input shape.
class ElementwiseActivation : public Layer {
 public:
  Shape output_shape(const Shape& x) const override { return x; }
};

class ReLU : public ElementwiseActivation {
 public:
  std::string name() const override { return "ReLU"; }
  double flops(const Shape& x) const override;

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y = max(x, 0)  ⇒  dx = dy where y > 0, else 0
  void backward_impl(const Tensor& dy, Tensor* dx) override;
};

class LeakyReLU : public ElementwiseActivation {
 public:
  // slope must be finite; throws Error otherwise.
  explicit LeakyReLU(float slope = 0.01f);
  std::string name() const override;
  double flops(const Shape& x) const override;
  float slope() const { return slope_; }

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y = x (x > 0), a·x (x <= 0)  ⇒  dx = dy (x > 0), a·dy (x <= 0)
  void backward_impl(const Tensor& dy, Tensor* dx) override;

 private:
  float slope_;
};

class Sigmoid : public ElementwiseActivation {
 public:
  std::string name() const override { return "Sigmoid"; }
  double flops(const Shape& x) const override;

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y = σ(x)  ⇒  dx = dy·y·(1 − y)
  void backward_impl(const Tensor& dy, Tensor* dx) override;
};

class Tanh : public ElementwiseActivation {
 public:
  std::string name() const override { return "Tanh"; }
  double flops(const Shape& x) const override;

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y = tanh(x)  ⇒  dx = dy·(1 − y²)
  void backward_impl(const Tensor& dy, Tensor* dx) override;
};

class Softmax : public Layer {
 public:
  Shape output_shape(const Shape& x) const override;  // (N, K) only
  std::string name() const override { return "Softmax"; }
  double flops(const Shape& x) const override;

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y = softmax(x) per row  ⇒  dx[n,k] = y[n,k]·(dy[n,k] − Σ_j dy[n,j]·y[n,j])
  void backward_impl(const Tensor& dy, Tensor* dx) override;
};

}  // namespace minicnn
