#include "dropout.hpp"

namespace minicnn {

Dropout::Dropout(float p) : Dropout(p, default_rng()) {}

Dropout::Dropout(float p, Rng& rng) : p_(p), rng_(&rng) {
  // Written so that a NaN p fails too.
  check_arg(p >= 0.0f && p < 1.0f, "Dropout", "p", "in [0, 1)", format_float(p));
}

std::string Dropout::name() const { return "Dropout(p=" + format_float(p_) + ')'; }

double Dropout::flops(const Shape& x) const { return static_cast<double>(numel(x)); }

Tensor Dropout::forward_impl(const Tensor& x) {
  if (!training_) return x;
  Tensor& mask = saved().aux;
  if (mask.shape() != x.shape()) mask.resize(x.shape());
  Tensor y = Tensor::from_shape(x.shape());
  const float scale = 1.0f / (1.0f - p_);
  const float* px = x.data();
  float* py = y.data();
  float* m = mask.data();
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

void Dropout::backward_impl(const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  const float* pdy = dy.data();
  const float* m = saved().aux.data();
  float* pdx = dx->data();
  for (std::size_t i = 0, n = dy.size(); i < n; ++i) pdx[i] = pdy[i] * m[i];
}

}  // namespace minicnn
