#include "dense.hpp"

#include <algorithm>

#include "../core/blas.hpp"
#include "../core/ops.hpp"

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

Tensor Dense::forward_impl(const Tensor& x) {
  const Shape ys = output_shape(shape_of(x));
  check_parameters();
  const std::size_t N = ys[0];
  Tensor y = Tensor::from_shape(ys);
  // y (N×out) = x (N×in) · Wᵀ (in×out)
  sgemm(Op::N, Op::T, N, out_, in_, 1.0f, x.data(), in_, weight_.data(), in_, 0.0f, y.data(),
        out_);
  if (has_bias_) add_bias(y.data(), bias_.data(), N, out_, 1);
  if (training_) keep(saved().x, x);
  return y;
}

void Dense::backward_impl(const Tensor& dy, Tensor* dx) {
  const Tensor& x = saved().x;
  const std::size_t N = x.shape()[0];
  check_parameters();
  // dW (out×in) += dyᵀ (out×N) · x (N×in)
  sgemm(Op::T, Op::N, out_, in_, N, 1.0f, dy.data(), out_, x.data(), in_, 1.0f,
        dweight_.data(), in_);
  if (has_bias_) add_bias_grad(dy.data(), dbias_.data(), N, out_, 1);
  if (!dx) return;
  // dx (N×in) = dy (N×out) · W (out×in)
  sgemm(Op::N, Op::N, N, in_, out_, 1.0f, dy.data(), out_, weight_.data(), in_, 0.0f,
        dx->data(), in_);
}

}  // namespace minicnn
