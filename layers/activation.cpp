#include "activation.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "../core/blas.hpp"

namespace minicnn {
namespace {

// Below this many elements a loop runs on the calling thread: starting the team costs
// more than the work.
constexpr std::size_t kParallelMin = std::size_t{1} << 15;

// f(i) for i in [0, n), split across threads when the work (in elements touched) is
// large. Each i is independent, so the result does not depend on the thread count.
template <class F>
void parallel_for(std::size_t n, F f, std::size_t work = 0) {
  const int threads = (work ? work : n) >= kParallelMin ? num_threads() : 1;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::size_t i = 0; i < n; ++i) f(i);
}

Tensor empty_like_shape(const Tensor& t) { return Tensor::from_shape(t.shape()); }

}  // namespace

void ElementwiseActivation::keep(const Tensor& t) {
  has_kept_ = training_;
  if (!training_) return;
  if (kept_.shape() != t.shape()) kept_.resize(t.shape());
  std::copy(t.data(), t.data() + t.size(), kept_.data());
}

const Tensor& ElementwiseActivation::kept_for(const Tensor& dy) const {
  if (!has_kept_)
    throw Error(name() + ": backward called without a forward in training mode before it");
  check_shape(shape_of(dy), shape_of(kept_), name(), "dy");
  return kept_;
}

// ---- ReLU -------------------------------------------------------------------------

Tensor ReLU::forward(const Tensor& x) {
  Tensor y = empty_like_shape(x);
  const float* px = x.data();
  float* py = y.data();
  // std::max(v, 0) keeps a NaN input as NaN.
  parallel_for(x.size(), [&](std::size_t i) { py[i] = std::max(px[i], 0.0f); });
  keep(y);
  return y;
}

Tensor ReLU::backward(const Tensor& dy) {
  const Tensor& y = kept_for(dy);
  if (!needs_input_grad_) return empty_tensor();
  Tensor dx = empty_like_shape(dy);
  const float* py = y.data();
  const float* pdy = dy.data();
  float* pdx = dx.data();
  // dy is loaded whatever the sign, so that the select compiles to a blend: with the
  // load inside the ?: the compiler branches, and the branch mispredicts on half the
  // elements (twenty times slower than forward on LeNet's first ReLU).
  parallel_for(dy.size(), [&](std::size_t i) {
    const float g = pdy[i];
    pdx[i] = py[i] > 0.0f ? g : 0.0f;
  });
  return dx;
}

double ReLU::flops(const Shape& x) const { return static_cast<double>(numel(x)); }

// ---- LeakyReLU --------------------------------------------------------------------

LeakyReLU::LeakyReLU(float slope) : slope_(slope) {
  std::ostringstream v;
  v << slope;
  check_arg(std::isfinite(slope), "LeakyReLU", "slope", "finite", v.str());
}

std::string LeakyReLU::name() const {
  std::ostringstream out;
  out << "LeakyReLU(" << slope_ << ')';
  return out.str();
}

Tensor LeakyReLU::forward(const Tensor& x) {
  Tensor y = empty_like_shape(x);
  const float* px = x.data();
  float* py = y.data();
  const float a = slope_;
  parallel_for(x.size(), [&](std::size_t i) { py[i] = px[i] > 0.0f ? px[i] : a * px[i]; });
  // The input, not the output: with a negative slope the sign of y does not tell x's.
  keep(x);
  return y;
}

Tensor LeakyReLU::backward(const Tensor& dy) {
  const Tensor& x = kept_for(dy);
  if (!needs_input_grad_) return empty_tensor();
  Tensor dx = empty_like_shape(dy);
  const float* px = x.data();
  const float* pdy = dy.data();
  float* pdx = dx.data();
  const float a = slope_;
  parallel_for(dy.size(), [&](std::size_t i) { pdx[i] = px[i] > 0.0f ? pdy[i] : a * pdy[i]; });
  return dx;
}

double LeakyReLU::flops(const Shape& x) const { return static_cast<double>(numel(x)); }

// ---- Sigmoid ----------------------------------------------------------------------

Tensor Sigmoid::forward(const Tensor& x) {
  Tensor y = empty_like_shape(x);
  const float* px = x.data();
  float* py = y.data();
  // exp of a non-positive argument only, so that neither branch overflows.
  parallel_for(x.size(), [&](std::size_t i) {
    const float v = px[i];
    if (v >= 0.0f) {
      py[i] = 1.0f / (1.0f + std::exp(-v));
    } else {
      const float e = std::exp(v);
      py[i] = e / (1.0f + e);
    }
  });
  keep(y);
  return y;
}

Tensor Sigmoid::backward(const Tensor& dy) {
  const Tensor& y = kept_for(dy);
  if (!needs_input_grad_) return empty_tensor();
  Tensor dx = empty_like_shape(dy);
  const float* py = y.data();
  const float* pdy = dy.data();
  float* pdx = dx.data();
  parallel_for(dy.size(), [&](std::size_t i) { pdx[i] = pdy[i] * py[i] * (1.0f - py[i]); });
  return dx;
}

// exp, add, divide and a negation per element.
double Sigmoid::flops(const Shape& x) const { return 4.0 * static_cast<double>(numel(x)); }

// ---- Tanh -------------------------------------------------------------------------

Tensor Tanh::forward(const Tensor& x) {
  Tensor y = empty_like_shape(x);
  const float* px = x.data();
  float* py = y.data();
  parallel_for(x.size(), [&](std::size_t i) { py[i] = std::tanh(px[i]); });
  keep(y);
  return y;
}

Tensor Tanh::backward(const Tensor& dy) {
  const Tensor& y = kept_for(dy);
  if (!needs_input_grad_) return empty_tensor();
  Tensor dx = empty_like_shape(dy);
  const float* py = y.data();
  const float* pdy = dy.data();
  float* pdx = dx.data();
  parallel_for(dy.size(), [&](std::size_t i) { pdx[i] = pdy[i] * (1.0f - py[i] * py[i]); });
  return dx;
}

// Counted as two exps, an add, a subtract and a divide.
double Tanh::flops(const Shape& x) const { return 5.0 * static_cast<double>(numel(x)); }

// ---- Softmax ----------------------------------------------------------------------

Shape Softmax::output_shape(const Shape& x) const {
  if (x.size() != 2)
    throw Error(name() + ": expected input of rank 2 (N, K), got shape " + to_string(x));
  check_arg(x[1] > 0, name(), "the number of classes K", "> 0", to_string(x));
  return x;
}

Tensor Softmax::forward(const Tensor& x) {
  const Shape s = output_shape(shape_of(x));
  const std::size_t N = s[0], K = s[1];
  Tensor y = Tensor::from_shape(s);
  const float* px = x.data();
  float* py = y.data();
  // Subtract the row maximum first: the largest exponent is then exp(0) = 1, so no
  // row overflows, whatever the size of its logits.
  parallel_for(N, [&](std::size_t n) {
    const float* xr = px + n * K;
    float* yr = py + n * K;
    const float m = *std::max_element(xr, xr + K);
    double sum = 0.0;
    for (std::size_t k = 0; k < K; ++k) {
      yr[k] = std::exp(xr[k] - m);
      sum += yr[k];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (std::size_t k = 0; k < K; ++k) yr[k] *= inv;
  }, N * K);
  has_y_ = training_;
  if (training_) {
    if (y_.shape() != y.shape()) y_.resize(y.shape());
    std::copy(y.data(), y.data() + y.size(), y_.data());
  }
  return y;
}

Tensor Softmax::backward(const Tensor& dy) {
  if (!has_y_)
    throw Error(name() + ": backward called without a forward in training mode before it");
  check_shape(shape_of(dy), shape_of(y_), name(), "dy");
  if (!needs_input_grad_) return empty_tensor();
  const std::size_t N = y_.shape()[0], K = y_.shape()[1];
  Tensor dx = Tensor::from_shape(y_.shape());
  const float* py = y_.data();
  const float* pdy = dy.data();
  float* pdx = dx.data();
  parallel_for(N, [&](std::size_t n) {
    const float* yr = py + n * K;
    const float* dyr = pdy + n * K;
    float* dxr = pdx + n * K;
    double dot = 0.0;
    for (std::size_t k = 0; k < K; ++k) dot += static_cast<double>(dyr[k]) * yr[k];
    const float d = static_cast<float>(dot);
    for (std::size_t k = 0; k < K; ++k) dxr[k] = yr[k] * (dyr[k] - d);
  }, N * K);
  return dx;
}

// Per element: the max pass, a subtract, an exp, the sum and the scale.
double Softmax::flops(const Shape& x) const { return 5.0 * static_cast<double>(numel(x)); }

}  // namespace minicnn
