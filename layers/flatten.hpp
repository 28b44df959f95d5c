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
  Tensor forward(const Tensor& x) override;
  // y = reshape(x)  ⇒  dx = reshape(dy) to x's shape
  Tensor backward(const Tensor& dy) override;
  // (N, ...) -> (N, prod); throws Error on an input of rank < 2.
  Shape output_shape(const Shape& x) const override;
  std::string name() const override { return "Flatten"; }

 private:
  Shape x_shape_;  // of the latest forward in training mode; empty when there is none
};

}  // namespace minicnn
