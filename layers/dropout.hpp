// Dropout (inverted): in training, each element is zeroed with probability p and the
// kept ones are scaled by 1 / (1 − p), so that the expected output equals the input and
// eval mode needs no rescaling. In eval mode the layer is the identity.
//
//   x any shape -> y the same shape. No parameters.
//   Dropout(p = 0.5): p in [0, 1), else Error. The mask is drawn from default_rng()
//   at each forward; Dropout(p, rng) draws from rng instead (kept by reference, so it
//   must outlive the layer). The mask of the latest training forward is what backward
//   applies.
#pragma once

#include <string>

#include "../core/random.hpp"
#include "layer.hpp"

namespace minicnn {

class Dropout : public Layer {
 public:
  explicit Dropout(float p = 0.5f);
  Dropout(float p, Rng& rng);

  Shape output_shape(const Shape& x) const override { return x; }
  // "Dropout(p=0.5)"
  std::string name() const override;
  double flops(const Shape& x) const override;

  float p() const { return p_; }

 protected:
  // Keeps the mask, 0 or 1 / (1 − p) per element, in saved().aux.
  Tensor forward_impl(const Tensor& x) override;
  // y = x·m with m = 0 or 1 / (1 − p)  ⇒  dx = dy·m
  void backward_impl(const Tensor& dy, Tensor* dx) override;

 private:
  float p_;
  Rng* rng_;
};

}  // namespace minicnn
