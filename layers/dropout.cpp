#include "dropout.hpp"

#include <sstream>

namespace minicnn {
namespace {

std::string format(float v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

Dropout::Dropout(float p) : Dropout(p, default_rng()) {}

Dropout::Dropout(float p, Rng& rng) : p_(p), rng_(&rng) {
  // Written so that a NaN p fails too.
  check_arg(p >= 0.0f && p < 1.0f, "Dropout", "p", "in [0, 1)", format(p));
}

std::string Dropout::name() const { return "Dropout(p=" + format(p_) + ')'; }

double Dropout::flops(const Shape& x) const { return static_cast<double>(numel(x)); }

Tensor Dropout::forward(const Tensor& x) {
  has_mask_ = training_;
  if (!training_) return x;
  if (mask_.shape() != x.shape()) mask_.resize(x.shape());
  Tensor y = Tensor::from_shape(x.shape());
  const float scale = 1.0f / (1.0f - p_);
  const float* px = x.data();
  float* py = y.data();
  float* m = mask_.data();
  // 24 random bits give a uniform u in [0, 1) on the float grid; u < p drops. Drawn in
  // order on one thread, so a seed gives the same mask at any thread count.
  constexpr float kToUnit = 1.0f / 16777216.0f;  // 2^-24
  for (std::size_t i = 0, n = x.size(); i < n; ++i) {
    const float u = static_cast<float>(rng_->next() >> 40) * kToUnit;
    m[i] = u < p_ ? 0.0f : scale;
    py[i] = px[i] * m[i];
  }
  return y;
}

Tensor Dropout::backward(const Tensor& dy) {
  if (!has_mask_)
    throw Error(name() + ": backward called without a forward in training mode before it");
  check_shape(shape_of(dy), shape_of(mask_), name(), "dy");
  if (!needs_input_grad_) return empty_tensor();
  Tensor dx = Tensor::from_shape(dy.shape());
  const float* pdy = dy.data();
  const float* m = mask_.data();
  float* pdx = dx.data();
  for (std::size_t i = 0, n = dy.size(); i < n; ++i) pdx[i] = pdy[i] * m[i];
  return dx;
}

}  // namespace minicnn
