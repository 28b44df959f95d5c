// Flatten: x (N, d1, d2, ...) -> y (N, d1·d2·...), the same values in the same
// (row-major) order, as between the convolutional and the dense part of a model.
//
// Input of rank >= 2; no parameters, no options. Backward reshapes dy back to the
// input's shape.
#pragma once

#include <string>

#include "layer.hpp"

namespace minicnn {

class Flatten : public Layer {
 public:
  // (N, ...) -> (N, prod); throws Error on an input of rank < 2.
  Shape output_shape(const Shape& x) const override;
  std::string name() const override { return "Flatten"; }

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y = reshape(x)  ⇒  dx = reshape(dy) to x's shape
  void backward_impl(const Tensor& dy, Tensor* dx) override;
};

}  // namespace minicnn
