#include "dense.hpp"

#include <algorithm>

#include "../core/blas.hpp"

namespace minicnn {

Dense::Dense(std::size_t in, std::size_t out, bool bias, Rng& rng)
    : in_(in), out_(out), has_bias_(bias) {
  check_arg(in > 0, "Dense", "in (input features)", "> 0", std::to_string(in));
  check_arg(out > 0, "Dense", "out (output features)", "> 0", std::to_string(out));
  weight_ = Tensor::from_shape(Shape{out, in});
  he_normal(weight_, in, rng);
  dweight_ = zeros({out, in});
  if (has_bias_) {
    bias_ = zeros({out});
    dbias_ = zeros({out});
  }
}

std::string Dense::name() const {
  return "Dense(" + std::to_string(in_) + "->" + std::to_string(out_) +
         (has_bias_ ? ")" : ", no bias)");
}

Shape Dense::output_shape(const Shape& x) const {
  if (x.size() != 2)
    throw Error(name() + ": expected input of rank 2 (N, " + std::to_string(in_) +
                "), got shape " + to_string(x));
  check_shape(x, {x[0], in_}, name());
  return {x[0], out_};
}

double Dense::flops(const Shape& x) const {
  const Shape y = output_shape(x);
  return 2.0 * static_cast<double>(y[0] * in_ * out_) +
         (has_bias_ ? static_cast<double>(numel(y)) : 0.0);
}

std::vector<Parameter> Dense::parameters() {
  std::vector<Parameter> p{{"weight", &weight_, &dweight_}};
  if (has_bias_) p.push_back({"bias", &bias_, &dbias_});
  return p;
}

void Dense::check_parameters() const {
  check_shape(shape_of(weight_), {out_, in_}, name(), "weight");
  check_shape(shape_of(dweight_), {out_, in_}, name(), "weight gradient");
  if (has_bias_) {
    check_shape(shape_of(bias_), {out_}, name(), "bias");
    check_shape(shape_of(dbias_), {out_}, name(), "bias gradient");
  }
}

Tensor Dense::forward(const Tensor& x) {
  const Shape ys = output_shape(shape_of(x));
  check_parameters();
  const std::size_t N = ys[0];
  Tensor y = Tensor::from_shape(ys);
  // y (N×out) = x (N×in) · Wᵀ (in×out)
  sgemm(Op::N, Op::T, N, out_, in_, 1.0f, x.data(), in_, weight_.data(), in_, 0.0f, y.data(),
        out_);
  if (has_bias_) {
    const float* b = bias_.data();
    float* py = y.data();
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t o = 0; o < out_; ++o) py[n * out_ + o] += b[o];
  }
  has_x_ = training_;
  if (training_) {
    if (x_.shape() != x.shape()) x_.resize(x.shape());
    std::copy(x.data(), x.data() + x.size(), x_.data());
  }
  return y;
}

Tensor Dense::backward(const Tensor& dy) {
  if (!has_x_)
    throw Error(name() + ": backward called without a forward in training mode before it");
  const std::size_t N = x_.shape()[0];
  check_shape(shape_of(dy), {N, out_}, name(), "dy");
  check_parameters();
  // dW (out×in) += dyᵀ (out×N) · x (N×in)
  sgemm(Op::T, Op::N, out_, in_, N, 1.0f, dy.data(), out_, x_.data(), in_, 1.0f,
        dweight_.data(), in_);
  if (has_bias_) {
    const float* pdy = dy.data();
    float* db = dbias_.data();
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t o = 0; o < out_; ++o) db[o] += pdy[n * out_ + o];
  }
  if (!needs_input_grad_) return empty_tensor();
  // dx (N×in) = dy (N×out) · W (out×in)
  Tensor dx = Tensor::from_shape(Shape{N, in_});
  sgemm(Op::N, Op::N, N, in_, out_, 1.0f, dy.data(), out_, weight_.data(), in_, 0.0f,
        dx.data(), in_);
  return dx;
}

}  // namespace minicnn
