// Activations: elementwise ReLU, LeakyReLU, Sigmoid, Tanh, and Softmax over features.
//
//   ReLU          y = max(x, 0)                       any shape; dy/dx = 1 where x > 0, else 0
//   LeakyReLU(a)  y = x if x > 0, else a·x             any shape; a = slope, default 0.01
//   Sigmoid       y = 1 / (1 + exp(−x))                any shape
//   Tanh          y = tanh(x)                          any shape
//   Softmax       y[n,k] = exp(x[n,k]) / Σ_j exp(x[n,j])   x (N, K) -> y (N, K)
//
// No parameters. y has x's shape. In training mode each keeps what its backward needs
// (the output, or the input for LeakyReLU); in eval mode nothing, and backward throws.
// Softmax is for inference (class probabilities); to train a classifier feed the raw
// logits to softmax_cross_entropy, which is cheaper and more stable than Softmax
// followed by a log. Softmax still has an exact backward, for models that need one.
#pragma once

#include <string>

#include "layer.hpp"

namespace minicnn {

// What the elementwise activations share: the output shape is the input shape, and
// backward needs one tensor kept from forward.
class ElementwiseActivation : public Layer {
 public:
  Shape output_shape(const Shape& x) const override { return x; }

 protected:
  // Keeps a copy of t for backward when training; forgets any earlier one otherwise.
  void keep(const Tensor& t);
  // The kept tensor; throws Error naming the layer when there is none, or when dy's
  // shape is not the shape of the kept tensor.
  const Tensor& kept_for(const Tensor& dy) const;

 private:
  Tensor kept_;
  bool has_kept_ = false;
};

class ReLU : public ElementwiseActivation {
 public:
  Tensor forward(const Tensor& x) override;
  // y = max(x, 0)  ⇒  dx = dy where y > 0, else 0
  Tensor backward(const Tensor& dy) override;
  std::string name() const override { return "ReLU"; }
  double flops(const Shape& x) const override;
};

class LeakyReLU : public ElementwiseActivation {
 public:
  // slope must be finite; throws Error otherwise.
  explicit LeakyReLU(float slope = 0.01f);
  Tensor forward(const Tensor& x) override;
  // y = x (x > 0), a·x (x <= 0)  ⇒  dx = dy (x > 0), a·dy (x <= 0)
  Tensor backward(const Tensor& dy) override;
  std::string name() const override;
  double flops(const Shape& x) const override;
  float slope() const { return slope_; }

 private:
  float slope_;
};

class Sigmoid : public ElementwiseActivation {
 public:
  Tensor forward(const Tensor& x) override;
  // y = σ(x)  ⇒  dx = dy·y·(1 − y)
  Tensor backward(const Tensor& dy) override;
  std::string name() const override { return "Sigmoid"; }
  double flops(const Shape& x) const override;
};

class Tanh : public ElementwiseActivation {
 public:
  Tensor forward(const Tensor& x) override;
  // y = tanh(x)  ⇒  dx = dy·(1 − y²)
  Tensor backward(const Tensor& dy) override;
  std::string name() const override { return "Tanh"; }
  double flops(const Shape& x) const override;
};

class Softmax : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
  // y = softmax(x) per row  ⇒  dx[n,k] = y[n,k]·(dy[n,k] − Σ_j dy[n,j]·y[n,j])
  Tensor backward(const Tensor& dy) override;
  Shape output_shape(const Shape& x) const override;  // (N, K) only
  std::string name() const override { return "Softmax"; }
  double flops(const Shape& x) const override;

 private:
  Tensor y_;
  bool has_y_ = false;
};

}  // namespace minicnn
