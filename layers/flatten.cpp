#include "flatten.hpp"

#include <algorithm>

namespace minicnn {

Shape Flatten::output_shape(const Shape& x) const {
  if (x.size() < 2)
    throw Error(name() + ": expected input of rank >= 2 (N, ...), got shape " + to_string(x));
  return {x[0], numel(Shape(x.begin() + 1, x.end()))};
}

Tensor Flatten::forward(const Tensor& x) {
  const Shape xs = shape_of(x);
  Tensor y = Tensor::from_shape(output_shape(xs));
  std::copy(x.data(), x.data() + x.size(), y.data());
  x_shape_ = training_ ? xs : Shape{};
  return y;
}

Tensor Flatten::backward(const Tensor& dy) {
  if (x_shape_.empty())
    throw Error(name() + ": backward called without a forward in training mode before it");
  check_shape(shape_of(dy), output_shape(x_shape_), name(), "dy");
  if (!needs_input_grad_) return empty_tensor();
  Tensor dx = Tensor::from_shape(x_shape_);
  std::copy(dy.data(), dy.data() + dy.size(), dx.data());
  return dx;
}

}  // namespace minicnn
