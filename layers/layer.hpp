// The Layer interface and Parameter: the contract every module of minicnn keeps.
//
// A layer maps x to y = f(x; θ) in forward and, given dL/dy, returns dL/dx from
// backward while adding dL/dθ into the gradients of its parameters. The contract:
//   - backward refers to the latest forward call: a layer in training mode keeps
//     from forward what backward needs; in eval mode it keeps nothing, and backward
//     then throws Error.
//   - parameter gradients accumulate over backward calls until zero_grad().
//   - the returned input gradient is a fresh tensor of the input's shape, unless the
//     layer was told (set_needs_input_grad(false)) that nobody needs it: then backward
//     returns empty_tensor() (shape (0,)) and saves the work.
//   - every misuse throws minicnn::Error naming the layer and the shapes or values.
// A new layer overrides forward, backward, output_shape and name, and parameters()
// if it has any (see examples/custom_layer).
#pragma once

#include <string>
#include <vector>

#include "../core/tensor.hpp"

namespace minicnn {

class Layer {
 public:
  virtual ~Layer() = default;

  // Keeps what backward needs when training.
  virtual Tensor forward(const Tensor& x) = 0;
  // Returns dL/dx; adds dL/dθ into the parameter gradients.
  virtual Tensor backward(const Tensor& dy) = 0;

  // Trainable tensors with their gradients; empty for parameter-free layers.
  virtual std::vector<Parameter> parameters() { return {}; }
  // State saved in checkpoints but not trained (grad == nullptr).
  virtual std::vector<Parameter> buffers() { return {}; }

  // The output shape for an input of shape x; throws Error on a shape that does not fit.
  virtual Shape output_shape(const Shape& x) const = 0;
  // Human-readable, with the layer's sizes: "Conv2D(1->20, 5x5, im2col)".
  virtual std::string name() const = 0;
  // Floating-point operations of one forward pass for an input of shape x (0 if negligible).
  virtual double flops(const Shape& x) const;

  virtual void set_training(bool on) { training_ = on; }
  bool training() const { return training_; }
  virtual void set_needs_input_grad(bool on) { needs_input_grad_ = on; }
  bool needs_input_grad() const { return needs_input_grad_; }

  // Sets every parameter gradient to zero.
  void zero_grad();

 protected:
  bool training_ = true;
  bool needs_input_grad_ = true;
};

}  // namespace minicnn
