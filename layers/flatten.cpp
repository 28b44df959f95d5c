#include "flatten.hpp"

#include <algorithm>

namespace minicnn {

Shape Flatten::output_shape(const Shape& x) const {
  if (x.size() < 2)
    throw Error(name() + ": expected input of rank >= 2 (N, ...), got shape " + to_string(x));
  return {x[0], numel(Shape(x.begin() + 1, x.end()))};
}

Tensor Flatten::forward_impl(const Tensor& x) {
  Tensor y = Tensor::from_shape(output_shape(shape_of(x)));
  std::copy(x.data(), x.data() + x.size(), y.data());
  return y;
}

void Flatten::backward_impl(const Tensor& dy, Tensor* dx) {
  if (dx) std::copy(dy.data(), dy.data() + dy.size(), dx->data());
}

}  // namespace minicnn
