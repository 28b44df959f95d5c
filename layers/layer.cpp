#include "layer.hpp"

namespace minicnn {

double Layer::flops(const Shape&) const { return 0.0; }

void Layer::zero_grad() {
  for (Parameter& p : parameters())
    if (p.grad != nullptr) p.grad->fill(0.0f);
}

}  // namespace minicnn
